"""Compiled (numba) kernels for the uncertainty scorers on large inputs.

Private and optional: this module imports numba at import time, so only
:mod:`labelwise.strategies._uncertainty` imports it, lazily, for inputs large
enough to repay the compile (or cache load). Without numba, or when a kernel
cannot run, the numpy path in ``_uncertainty`` is used unchanged.

One parallel pass over the rows validates each row with the rules of
:func:`labelwise._validation.check_proba` and writes its score. Entropy runs in
blocks of rows with fdlibm's log written out as array arithmetic (vectorised,
error below 1 ulp) and sums each row in numpy's pairwise order. The kernel only
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


# fdlibm's log (e_log.c): argument reduction to [sqrt(2)/2, sqrt(2)) on the bits, then a
# degree-14 polynomial in s = f / (2 + f); error below 1 ulp. Pure arithmetic on arrays,
# so LLVM vectorises it, where a call of the C library's log per element does not.
_TINY_BITS = int(np.array([_TINY]).view(np.int64)[0])
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD
_ONE_BITS = 0x3FF0000000000000
_MANTISSA = 0x000FFFFFFFFFFFFF
_LG1, _LG2 = 6.666666666666735130e-01, 3.999999999940941908e-01
_LG3, _LG4 = 2.857142874366239149e-01, 2.222219843214978396e-01
_LG5, _LG6 = 1.818357216161805012e-01, 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
#: Values per block of rows in the entropy kernel (the block's buffers stay in cache).
_BLOCK = 1024


def _plogp_inplace(src, v, kf):  # pragma: no cover - compiled, tested via callers
    """``v[j] <- src[j] * log(max(src[j], tiny))`` (0 log 0 = 0); ``v`` holds ``src`` on entry.

    Three simple loops (bits, then the polynomial) so that LLVM vectorises each.
    """
    bits = v.view(np.int64)
    for j in range(v.size):  # reduce: max(v, tiny) = m * 2**k, m in [sqrt(2)/2, sqrt(2))
        # on the bits, max(v, tiny) for v >= 0; any v < 0 (sign bit set) gives tiny
        u = max(bits[j], _TINY_BITS) + (_ONE_BITS - _SQRT_HALF_BITS)
        kf[j] = np.float64((u >> 52) - 0x3FF)
        bits[j] = (u & _MANTISSA) + _SQRT_HALF_BITS
    for j in range(v.size):
        f = v[j] - 1.0
        hfsq = 0.5 * f * f
        s = f / (2.0 + f)
        z = s * s
        w = z * z
        t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
        t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
        k = kf[j]
        v[j] = np.float64(src[j]) * (s * (hfsq + (t2 + t1)) + k * _LN2_LO - hfsq + f + k * _LN2_HI)


def _block_sum(v, lo, n):  # pragma: no cover - compiled, tested via callers
    """Sum of ``v[lo:lo + n]``, n <= 128, in numpy's order for a block."""
    if n < 8:
        res = 0.0
        for j in range(lo, lo + n):
            res += v[j]
        return res
    r0, r1, r2, r3 = v[lo], v[lo + 1], v[lo + 2], v[lo + 3]
    r4, r5, r6, r7 = v[lo + 4], v[lo + 5], v[lo + 6], v[lo + 7]
    m = n - n % 8
    for j in range(lo + 8, lo + m, 8):
        r0 += v[j]
        r1 += v[j + 1]
        r2 += v[j + 2]
        r3 += v[j + 3]
        r4 += v[j + 4]
        r5 += v[j + 5]
        r6 += v[j + 6]
        r7 += v[j + 7]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for j in range(lo + m, lo + n):
        res += v[j]
    return res


def _pairwise_sum(v, start, c):  # pragma: no cover - compiled, tested via callers
    """Sum of ``v[start:start + c]`` in the order of numpy's pairwise ``add.reduce``.

    numpy sums a contiguous axis of at most 128 values with 8 accumulators and
    splits longer ones in halves (multiples of 8) recursively; the same order
    makes entropy equal the numpy path bit for bit wherever the logs agree. The
    halving runs on an explicit stack: a recursive numba function crashes when
    loaded from numba's cache.
    """
    if c <= 128:
        return _block_sum_jit(v, start, c)
    lo_s = np.empty(64, dtype=np.int64)
    n_s = np.empty(64, dtype=np.int64)
    stage_s = np.empty(64, dtype=np.int64)
    left_s = np.empty(64, dtype=np.float64)
    lo_s[0], n_s[0], stage_s[0] = start, c, 0
    top = 1
    ret = 0.0
    while top > 0:
        f = top - 1
        lo, n = lo_s[f], n_s[f]
        if n <= 128:  # a leaf: its sum goes back to the parent frame
            ret = _block_sum_jit(v, lo, n)
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


def _entropy(p, normalize, log_c, out):  # pragma: no cover - compiled, tested via callers
    """Validate and score entropy in blocks of rows: copy, vectorised ``p log p``, row sums."""
    n, c = p.shape
    rows = max(1, _BLOCK // c)
    n_bad = 0
    for b in numba.prange((n + rows - 1) // rows):
        lo = b * rows
        hi = min(n, lo + rows)
        flat = p[lo:hi].ravel()
        v = np.empty(flat.size, dtype=np.float64)
        kf = np.empty_like(v)
        for j in range(v.size):
            v[j] = flat[j]
        for i in range(hi - lo):
            row_sum = 0.0
            ok = True
            for j in range(i * c, i * c + c):
                ok &= (v[j] >= _LO) & (v[j] <= _HI)  # False for NaN and inf too
                row_sum += v[j]
            if not ok or abs(row_sum - 1.0) > _SUM_LIMIT:
                n_bad += 1
        _plogp_inplace_jit(flat, v, kf)
        for i in range(hi - lo):
            s = max(-_pairwise_sum_jit(v, i * c, c), 0.0)
            out[lo + i] = s / log_c if normalize else s
    return n_bad


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
        else:
            out[i] = p2 / max(p1, _TINY)
    return n_bad


def _compile(fn, **options):
    try:
        return numba.njit(cache=True, nogil=True, error_model="numpy", **options)(fn)
    except RuntimeError:  # no writable cache location (read-only install): compile per process
        return numba.njit(nogil=True, error_model="numpy", **options)(fn)


# inlined into the kernel: as separate calls they made entropy ~1.5x slower
_plogp_inplace_jit = _compile(_plogp_inplace, inline="always")
_block_sum_jit = _compile(_block_sum, inline="always")
_pairwise_sum_jit = _compile(_pairwise_sum, inline="always")
_scores_jit = _compile(_scores, parallel=True)
_entropy_jit = _compile(_entropy, parallel=True)
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
        if kind == "entropy":
            n_bad = _entropy_jit(p, bool(normalize), log_c, out)
        else:
            n_bad = _scores_jit(p, KINDS[kind], bool(normalize), log_c, out)
    return None if n_bad else out
