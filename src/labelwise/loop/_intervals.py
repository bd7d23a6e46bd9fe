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
- :func:`unlabeled_accuracy_interval`: the accuracy on the rows still
  unlabeled. Active learning takes the hard rows out of the pool, so the pool
  left is easier than the population the evaluation set estimates. The
  population total (from the evaluation set) minus what the selected rows
  contribute (from their out-of-fold accuracy) leaves the pool's; the two
  Wilson intervals combine by MOVER.

References
----------
Wilson, E. B. (1927). Probable inference, the law of succession, and
statistical inference. JASA 22(158).
Zou, G. Y. and Donner, A. (2008). Construction of confidence limits about
effect measures: a general approach. Statistics in Medicine 27(10).
Efron, B. and Tibshirani, R. (1993). An Introduction to the Bootstrap, ch. 13.
Newcombe, R. G. (1998). Improved confidence intervals for the difference
between binomial proportions based on paired data. Statistics in Medicine 17.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import norm

from labelwise.errors import InvalidInputError

__all__ = [
    "wilson_interval",
    "bootstrap_interval",
    "macro_f1",
    "paired_gain_interval",
    "unlabeled_accuracy_interval",
]


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


def unlabeled_accuracy_interval(
    eval_correct: int,
    n_eval: int,
    cv_correct: int,
    n_labeled: int,
    n_total: int,
    *,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """Estimated accuracy on the rows still unlabeled, with its interval.

    The evaluation set is a uniform sample of all ``n_total`` rows, so its
    accuracy ``a`` estimates the accuracy of a model on rows it was not fit on,
    over the whole population. The ``n_labeled`` selected rows were fit on; what
    the model gets right on them as unseen rows is estimated by their
    out-of-fold (cross-validated) accuracy ``c``. The ``n_eval`` evaluation rows
    are known exactly. What is left is the pool of ``u = n_total - n_eval -
    n_labeled`` unlabeled rows::

        pool = ((n_total - n_eval) * a - n_labeled * c) / u

    Under active learning the selected rows are the hard ones (``c < a``) and the
    pool's accuracy is above ``a``; this says by how much.

    Parameters
    ----------
    eval_correct, n_eval : int
        Right predictions on the labeled evaluation rows, and their number (> 0).
    cv_correct, n_labeled : int
        Right out-of-fold predictions on the selected (training) labels, and
        their number (``n_labeled == 0`` before any selected label).
    n_total : int
        Rows in the project: pool, selected and evaluation.
    level : float, default=0.95

    Returns
    -------
    (estimate, low, high) : tuple of float
        ``estimate`` clipped to ``[0, 1]``; the interval combines the Wilson
        intervals of ``a`` and ``c`` by MOVER (Zou & Donner 2008), which keeps
        their asymmetry near 0 and 1, and is clipped to ``[0, 1]``.

    Examples
    --------
    No selected label yet: the pool is the population less the evaluation rows.

    >>> est, lo, hi = unlabeled_accuracy_interval(90, 100, 0, 0, 1000)
    >>> round(est, 3)
    0.9

    The 100 hardest rows were selected (half of them right out of fold), so the
    800 left are easier than the evaluation set says of the population:

    >>> est, lo, hi = unlabeled_accuracy_interval(80, 100, 50, 100, 1000)
    >>> round(est, 4)
    0.8375
    """
    level = _check_level(level)
    u = n_total - n_eval - n_labeled
    if n_eval <= 0 or u <= 0 or n_labeled < 0:
        raise InvalidInputError(
            f"an unlabeled-row estimate needs evaluation labels and unlabeled rows; got "
            f"{n_eval} evaluation, {n_labeled} selected of {n_total} rows."
        )
    if not (0 <= eval_correct <= n_eval and 0 <= cv_correct <= max(n_labeled, 0)):
        raise InvalidInputError("correct counts must lie between 0 and their totals.")
    w_eval = (n_total - n_eval) / u
    w_cv = n_labeled / u
    a = eval_correct / n_eval
    a_lo, a_hi = wilson_interval(eval_correct, n_eval, level=level)
    if n_labeled:
        c = cv_correct / n_labeled
        c_lo, c_hi = wilson_interval(cv_correct, n_labeled, level=level)
    else:
        c = c_lo = c_hi = 0.0
    est = w_eval * a - w_cv * c
    # MOVER: the pool estimate rises with a and falls with c
    low = est - np.hypot(w_eval * (a - a_lo), w_cv * (c_hi - c))
    high = est + np.hypot(w_eval * (a_hi - a), w_cv * (c - c_lo))
    clip = lambda v: float(min(1.0, max(0.0, v)))  # noqa: E731
    return clip(est), clip(low), clip(high)
