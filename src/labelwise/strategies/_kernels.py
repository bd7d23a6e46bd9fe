"""Compiled (numba) kernels for the uncertainty scorers on large inputs.

Private and optional: this module imports numba at import time, so only
:mod:`labelwise.strategies._uncertainty` imports it, lazily, for inputs large
enough to repay the compile (or cache load). Without numba, or when a kernel
cannot run, the numpy path in ``_uncertainty`` is used unchanged.

One parallel pass over the rows validates each row with the rules of
:func:`labelwise._validation.check_proba` and writes its score. The kernel only
*detects* invalid rows; the caller then reruns the numpy path, which raises the
exact error message.
"""

from __future__ import annotations

import os
import threading

import numba
import numpy as np

from labelwise._validation import _SUM_TOL

__all__ = ["KINDS", "uncertainty_scores"]

KINDS = {"least_confidence": 0, "margin": 1, "ratio": 2, "entropy": 3}

_TINY = float(np.finfo(np.float64).tiny)
_LO = -_SUM_TOL
_HI = 1.0 + _SUM_TOL
# The row-sum check is slightly stricter than check_proba's, whose sum runs in a
# different (pairwise) order: a row within rounding of the limit is flagged and
# the numpy path decides, so the kernel never accepts what check_proba rejects.
_SUM_LIMIT = _SUM_TOL - 1e-9


def _plogp(v):  # pragma: no cover - compiled
    return v * np.log(max(v, _TINY))  # 0 log 0 = 0, as in _uncertainty._entropy_rows


def _plogp_block(p, i, lo, n):  # pragma: no cover - compiled, tested via callers
    """Sum of ``p log p`` over ``p[i, lo:lo + n]``, n <= 128, in numpy's order for a block."""
    if n < 8:
        res = 0.0
        for j in range(lo, lo + n):
            res += _plogp_jit(np.float64(p[i, j]))
        return res
    r0 = _plogp_jit(np.float64(p[i, lo]))
    r1 = _plogp_jit(np.float64(p[i, lo + 1]))
    r2 = _plogp_jit(np.float64(p[i, lo + 2]))
    r3 = _plogp_jit(np.float64(p[i, lo + 3]))
    r4 = _plogp_jit(np.float64(p[i, lo + 4]))
    r5 = _plogp_jit(np.float64(p[i, lo + 5]))
    r6 = _plogp_jit(np.float64(p[i, lo + 6]))
    r7 = _plogp_jit(np.float64(p[i, lo + 7]))
    m = n - n % 8
    for j in range(lo + 8, lo + m, 8):
        r0 += _plogp_jit(np.float64(p[i, j]))
        r1 += _plogp_jit(np.float64(p[i, j + 1]))
        r2 += _plogp_jit(np.float64(p[i, j + 2]))
        r3 += _plogp_jit(np.float64(p[i, j + 3]))
        r4 += _plogp_jit(np.float64(p[i, j + 4]))
        r5 += _plogp_jit(np.float64(p[i, j + 5]))
        r6 += _plogp_jit(np.float64(p[i, j + 6]))
        r7 += _plogp_jit(np.float64(p[i, j + 7]))
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for j in range(lo + m, lo + n):
        res += _plogp_jit(np.float64(p[i, j]))
    return res


def _plogp_sum(p, i):  # pragma: no cover - compiled, tested via callers
    """Sum of ``p log p`` over row i in the order of numpy's pairwise ``add.reduce``.

    numpy sums a contiguous axis of at most 128 values with 8 accumulators and
    splits longer ones in halves (multiples of 8) recursively; the same order
    makes entropy equal the numpy path bit for bit wherever numpy's ``log`` is
    the C library's. The halving runs on an explicit stack: a recursive numba
    function crashes when loaded from numba's cache.
    """
    c = p.shape[1]
    if c <= 128:
        return _plogp_block_jit(p, i, 0, c)
    lo_s = np.empty(64, dtype=np.int64)
    n_s = np.empty(64, dtype=np.int64)
    stage_s = np.empty(64, dtype=np.int64)
    left_s = np.empty(64, dtype=np.float64)
    lo_s[0], n_s[0], stage_s[0] = 0, c, 0
    top = 1
    ret = 0.0
    while top > 0:
        f = top - 1
        lo, n = lo_s[f], n_s[f]
        if n <= 128:  # a leaf: its sum goes back to the parent frame
            ret = _plogp_block_jit(p, i, lo, n)
            top -= 1
            continue
        half = n // 2
        half -= half % 8
        if stage_s[f] == 0:  # descend into the left half
            stage_s[f] = 1
            lo_s[top], n_s[top], stage_s[top] = lo, half, 0
            top += 1
        elif stage_s[f] == 1:  # left half done: keep it, descend into the right half
            stage_s[f] = 2
            left_s[f] = ret
            lo_s[top], n_s[top], stage_s[top] = lo + half, n - half, 0
            top += 1
        else:  # both halves done
            ret = left_s[f] + ret
            top -= 1
    return ret


def _scores(p, kind, normalize, log_c, out):  # pragma: no cover - compiled, tested via callers
    n, c = p.shape
    n_bad = 0
    for i in numba.prange(n):
        row_sum = 0.0
        ok = True
        p1 = -np.inf
        p2 = -np.inf
        # branch-free inner loop (min/max, no short-circuit): a data-dependent branch per
        # element mispredicts on real probabilities and costs more than the arithmetic
        for j in range(c):
            v = np.float64(p[i, j])
            ok &= (v >= _LO) & (v <= _HI)  # False for NaN and inf too
            row_sum += v
            if kind != 3:
                p2 = max(p2, min(p1, v))
                p1 = max(p1, v)
        if not ok or abs(row_sum - 1.0) > _SUM_LIMIT:
            n_bad += 1
            out[i] = 0.0
        elif kind == 0:
            s = 1.0 - p1
            out[i] = s * c / (c - 1) if normalize else s
        elif kind == 1:
            out[i] = 1.0 - (p1 - p2)
        elif kind == 2:
            out[i] = p2 / max(p1, _TINY)
        else:
            s = max(-_plogp_sum_jit(p, i), 0.0)
            out[i] = s / log_c if normalize else s
    return n_bad


def _compile(fn, **options):
    try:
        return numba.njit(cache=True, nogil=True, error_model="numpy", **options)(fn)
    except RuntimeError:  # no writable cache location (read-only install): compile per process
        return numba.njit(nogil=True, error_model="numpy", **options)(fn)


# inlined into the kernel: as separate calls they made entropy ~1.5x slower
_plogp_jit = _compile(_plogp, inline="always")
_plogp_block_jit = _compile(_plogp_block, inline="always")
_plogp_sum_jit = _compile(_plogp_sum, inline="always")
_scores_jit = _compile(_scores, parallel=True)
# numba's workqueue threading layer aborts on concurrent parallel launches from several
# Python threads (e.g. a web server's worker threads): one kernel call at a time.
_LOCK = threading.Lock()
# GNU OpenMP (numba's omp layer) aborts a forked child that launches a parallel region
# after its parent did: such a child takes the numpy path instead.
_state = {"launched": False, "usable": True}


def _after_fork_in_child() -> None:
    if _state["launched"]:
        _state["usable"] = False


os.register_at_fork(after_in_child=_after_fork_in_child)


def uncertainty_scores(p: np.ndarray, kind: str, *, normalize: bool = False) -> np.ndarray | None:
    """Scores of a C-contiguous float32/float64 matrix, or None to take the numpy path.

    Parameters
    ----------
    p : ndarray of shape (n_samples, n_classes), float32 or float64, C-contiguous
    kind : {"least_confidence", "margin", "ratio", "entropy"}
    normalize : bool, default=False
        As in the scorers (``least_confidence`` and ``entropy`` only).

    Returns
    -------
    scores : ndarray of shape (n_samples,) or None
        None when a row fails a check of ``check_proba`` (or sums to within
        rounding of the tolerance), so that the numpy path gives the verdict and
        its message; also None in a child forked after a kernel call.
    """
    if not _state["usable"]:
        return None
    out = np.empty(p.shape[0], dtype=np.float64)
    log_c = float(np.log(p.shape[1]))
    with _LOCK:
        _state["launched"] = True
        n_bad = _scores_jit(p, KINDS[kind], bool(normalize), log_c, out)
    return None if n_bad else out
