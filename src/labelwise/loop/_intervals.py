"""Confidence intervals for a model's metric on a random evaluation set.

Pure functions over arrays, no store:

- :func:`wilson_interval`: the Wilson score interval of a proportion (accuracy
  = correct predictions out of the evaluation labels). Unlike the normal
  approximation it stays inside ``[0, 1]`` and keeps its coverage near 0 and 1.
- :func:`bootstrap_interval`: the percentile bootstrap of any statistic of one
  or more aligned arrays, resampling rows (used for macro-F1, which has no
  closed-form interval).
- :func:`paired_gain_interval`: the interval of the accuracy gain between two
  models scored on the same evaluation items. Only the items on which the two
  disagree carry information; the share of them the newer model gets right has
  a Wilson interval, which maps linearly onto the gain.

References
----------
Wilson, E. B. (1927). Probable inference, the law of succession, and
statistical inference. JASA 22(158).
Efron, B. and Tibshirani, R. (1993). An Introduction to the Bootstrap, ch. 13.
Newcombe, R. G. (1998). Improved confidence intervals for the difference
between binomial proportions based on paired data. Statistics in Medicine 17.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import norm

from labelwise.errors import InvalidInputError

__all__ = ["wilson_interval", "bootstrap_interval", "macro_f1", "paired_gain_interval"]


def _check_level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise InvalidInputError(f"level must be within (0, 1), got {level}.")
    return float(level)


def wilson_interval(successes: int, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``successes / n``.

    Parameters
    ----------
    successes : int
        Number of successes (e.g. correct predictions), ``0 <= successes <= n``.
    n : int
        Number of trials (e.g. evaluation labels); with ``n == 0`` nothing is
        known and the interval is ``(0.0, 1.0)``.
    level : float, default=0.95
        Coverage.

    Returns
    -------
    (low, high) : tuple of float

    Examples
    --------
    >>> lo, hi = wilson_interval(45, 50)
    >>> round(lo, 4), round(hi, 4)
    (0.7864, 0.9565)
    """
    level = _check_level(level)
    if n < 0 or not 0 <= successes <= n:
        raise InvalidInputError(f"need 0 <= successes <= n, got {successes} of {n}.")
    if n == 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + level / 2.0))
    p = successes / n
    denom = 1.0 + z * z / n
    center = (p + z * z / (2.0 * n)) / denom
    half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    return max(0.0, float(center - half)), min(1.0, float(center + half))


def bootstrap_interval(
    statistic: Callable[..., np.ndarray],
    *arrays,
    n_boot: int = 1000,
    level: float = 0.95,
    random_state=0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over aligned arrays.

    Parameters
    ----------
    statistic : callable
        ``statistic(*resampled)`` where each resampled array has shape
        ``(n_boot, n_samples)``; returns an array of shape ``(n_boot,)``
        (vectorised: one value per resample).
    *arrays : array-like of shape (n_samples,)
        Resampled together, row by row (paired).
    n_boot : int, default=1000
    level : float, default=0.95
    random_state : int, Generator or None, default=0

    Returns
    -------
    (low, high) : tuple of float
    """
    level = _check_level(level)
    cols = [np.asarray(a) for a in arrays]
    if not cols or cols[0].ndim != 1 or any(c.shape != cols[0].shape for c in cols):
        raise InvalidInputError("bootstrap needs one or more 1-D arrays of the same length.")
    n = cols[0].size
    if n == 0:
        raise InvalidInputError("bootstrap needs at least one sample.")
    if n_boot < 10:
        raise InvalidInputError(f"n_boot must be at least 10, got {n_boot}.")
    rng = np.random.default_rng(random_state)
    idx = rng.integers(0, n, size=(n_boot, n))
    values = np.asarray(statistic(*(c[idx] for c in cols)), dtype=np.float64)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [tail, 1.0 - tail])
    return float(lo), float(hi)


def macro_f1(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Macro-averaged F1 of integer-coded labels, row-wise for 2-D input.

    Parameters
    ----------
    y_true, y_pred : array-like of int of shape (n_samples,) or (n_rows, n_samples)
        Class codes in ``[0, n_classes)``.
    n_classes : int
        Classes to average over: those that occur in ``y_true`` or ``y_pred`` of
        a row (a class absent from both is left out, as scikit-learn does with
        the observed labels).

    Returns
    -------
    f1 : float array of shape () or (n_rows,)
    """
    t = np.atleast_2d(np.asarray(y_true, dtype=np.int64))
    p = np.atleast_2d(np.asarray(y_pred, dtype=np.int64))
    rows = np.arange(t.shape[0])[:, None]
    shape = (t.shape[0], n_classes)
    tp = np.zeros(shape)
    n_true = np.zeros(shape)
    n_pred = np.zeros(shape)
    np.add.at(tp, (np.broadcast_to(rows, t.shape)[t == p], t[t == p]), 1.0)
    np.add.at(n_true, (np.broadcast_to(rows, t.shape), t), 1.0)
    np.add.at(n_pred, (np.broadcast_to(rows, p.shape), p), 1.0)
    present = (n_true + n_pred) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(present, 2.0 * tp / (n_true + n_pred), 0.0)
    out = f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1)
    return out[0] if np.ndim(y_true) == 1 else out


def paired_gain_interval(before, after, *, level: float = 0.95) -> tuple[float, float, float]:
    """Gain in accuracy from ``before`` to ``after`` on the same items, with its interval.

    Parameters
    ----------
    before, after : array-like of bool of shape (n_samples,)
        Whether each of two models got each evaluation item right.
    level : float, default=0.95

    Returns
    -------
    (gain, low, high) : tuple of float
        ``gain = mean(after) - mean(before)``. Of the ``m`` items where the two
        models disagree, ``b`` are won by ``after``; ``gain = (2 b - m) / n``,
        and the Wilson interval of ``b / m`` maps onto the gain's interval. When
        the models agree on every item the gain is exactly 0, interval ``[0, 0]``.

    Examples
    --------
    >>> before = [1, 1, 0, 0, 0, 1, 1, 1, 1, 1]
    >>> after  = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0]
    >>> gain, lo, hi = paired_gain_interval(before, after)
    >>> round(gain, 2)
    0.2
    """
    a = np.asarray(before, dtype=bool)
    b = np.asarray(after, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise InvalidInputError("before and after must be 1-D and of the same length.")
    n = a.size
    if n == 0:
        raise InvalidInputError("a gain needs at least one evaluation item scored by both.")
    won = int(np.sum(b & ~a))
    m = won + int(np.sum(a & ~b))
    gain = (2 * won - m) / n
    if m == 0:
        return 0.0, 0.0, 0.0
    lo, hi = wilson_interval(won, m, level=level)
    return float(gain), (2.0 * lo - 1.0) * m / n, (2.0 * hi - 1.0) * m / n
