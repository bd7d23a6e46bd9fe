"""Single-model uncertainty scorers: higher score = label this sample first."""

from __future__ import annotations

import functools

import numpy as np

from labelwise._validation import check_proba
from labelwise.errors import InvalidInputError

__all__ = ["least_confidence", "margin", "ratio", "entropy", "variance", "random"]

# n_samples * n_classes from which the compiled kernel (numba, optional) scores a
# float32/float64 array: below it the numpy path is fast enough, and small calls
# (and the CLI on small pools) never import numba nor pay its compile or cache load.
_KERNEL_MIN_SIZE = 1_000_000


@functools.cache
def _load_kernels():
    try:
        from labelwise.strategies import _kernels
    except ImportError:  # numba is optional (the `fast` extra)
        return None
    if _kernels.numba.config.DISABLE_JIT:  # pure-Python prange loops: far slower than numpy
        return None
    return _kernels


def _kernel_scores(proba, kind: str, *, normalize: bool = False) -> np.ndarray | None:
    """Scores from the fused validate-and-score kernel, or None to take the numpy path.

    None when the input is small, not a float32/float64 ndarray, numba is missing,
    or a row is invalid (the numpy path then raises check_proba's exact message).
    Equal to the numpy path: bit for bit for least_confidence, margin and ratio;
    entropy sums ``p log p`` in numpy's order, but its log (fdlibm's, vectorised)
    may differ from numpy's SIMD one in the last place, so it agrees to a few units
    in the last place. Either path is deterministic, so ties break the same way
    from call to call.
    """
    if not (
        isinstance(proba, np.ndarray)
        and proba.ndim == 2
        and proba.dtype in (np.float32, np.float64)
        and proba.shape[1] >= 2
        and proba.size >= _KERNEL_MIN_SIZE
    ):
        return None
    kernels = _load_kernels()
    if kernels is None:
        return None
    p = np.ascontiguousarray(proba)
    return kernels.uncertainty_scores(p, kind, normalize=normalize)


def _top2(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest and second-largest probability of each row."""
    if p.shape[1] == 2:  # element-wise on the two columns: ~10x faster than max(axis=1)
        a, b = p[:, 0], p[:, 1]
        return np.maximum(a, b), np.minimum(a, b)
    part = np.partition(p, p.shape[1] - 2, axis=1)
    return part[:, -1], part[:, -2]


def least_confidence(proba, *, normalize: bool = False) -> np.ndarray:
    """Least-confidence score ``1 - p1``.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class probabilities; each row sums to 1.
    normalize : bool, default=False
        Multiply by ``C / (C - 1)`` so that the uniform distribution scores 1.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        In ``[0, (C - 1) / C]`` (``[0, 1]`` when normalised); higher = less confident.

    References
    ----------
    Culotta, A. and McCallum, A. (2005). Reducing labeling effort for structured
    prediction tasks. AAAI.

    Examples
    --------
    >>> least_confidence([[0.7, 0.2, 0.1], [1/3, 1/3, 1/3]]).round(3)
    array([0.3  , 0.667])
    """
    s = _kernel_scores(proba, "least_confidence", normalize=normalize)
    if s is not None:
        return s
    p = check_proba(proba)
    s = 1.0 - _top2(p)[0]
    if normalize:
        c = p.shape[1]
        s = s * c / (c - 1)
    return s


def margin(proba) -> np.ndarray:
    """Margin score ``1 - (p1 - p2)``: a small gap between the top two classes scores high.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class probabilities; each row sums to 1.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        In ``[0, 1]``; 1 when the two most likely classes tie.

    References
    ----------
    Scheffer, T., Decomain, C. and Wrobel, S. (2001). Active hidden Markov models
    for information extraction. IDA.

    Examples
    --------
    >>> margin([[0.7, 0.2, 0.1], [0.45, 0.45, 0.1]]).round(3)
    array([0.5, 1. ])
    """
    s = _kernel_scores(proba, "margin")
    if s is not None:
        return s
    p = check_proba(proba)
    p1, p2 = _top2(p)
    return 1.0 - (p1 - p2)


def ratio(proba) -> np.ndarray:
    """Ratio score ``p2 / p1`` (the inverse of the confidence ratio).

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class probabilities; each row sums to 1.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        In ``[0, 1]``; 1 when the two most likely classes tie.

    References
    ----------
    Munro, R. (2021). Human-in-the-Loop Machine Learning, ch. 3. Manning.

    Examples
    --------
    >>> ratio([[0.7, 0.2, 0.1]]).round(4)
    array([0.2857])
    """
    s = _kernel_scores(proba, "ratio")
    if s is not None:
        return s
    p = check_proba(proba)
    p1, p2 = _top2(p)
    return p2 / np.maximum(p1, np.finfo(np.float64).tiny)


def _entropy_rows(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats with ``0 log 0 = 0`` (two temporaries, no masks)."""
    logp = np.log(np.maximum(p, np.finfo(np.float64).tiny))
    logp *= p  # p = 0 gives 0 * log(tiny) = 0
    return -logp.sum(axis=axis)


def entropy(proba, *, normalize: bool = False) -> np.ndarray:
    """Entropy score ``-sum(p log p)`` (natural log).

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class probabilities; each row sums to 1.
    normalize : bool, default=False
        Divide by ``log C`` so that the uniform distribution scores 1.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        In ``[0, log C]`` (``[0, 1]`` when normalised).

    References
    ----------
    Shannon, C. E. (1948). A mathematical theory of communication.
    Settles, B. (2009). Active Learning Literature Survey, §3.1.

    Examples
    --------
    >>> entropy([[0.5, 0.5], [1.0, 0.0]]).round(4)
    array([0.6931, 0.    ])
    """
    s = _kernel_scores(proba, "entropy", normalize=normalize)
    if s is not None:
        return s
    p = check_proba(proba)
    s = np.maximum(_entropy_rows(p), 0.0)
    if normalize:
        s = s / np.log(p.shape[1])
    return s


def variance(proba) -> np.ndarray:
    """Variance score ``1 - var(p) / var_onehot`` with ``var_onehot = (C - 1) / C**2``.

    A probability vector with little spread (close to uniform) is uncertain and
    scores near 1; a one-hot vector scores 0.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class probabilities; each row sums to 1.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        In ``[0, 1]``.

    References
    ----------
    Schröder, C., Niekler, A. and Potthast, M. (2022). Revisiting uncertainty-based
    query strategies for active learning with transformers. Findings of ACL.

    Examples
    --------
    >>> variance([[0.5, 0.5], [1.0, 0.0]]).round(3)
    array([1., 0.])
    """
    p = check_proba(proba)
    c = p.shape[1]
    var = p.var(axis=1)
    return np.clip(1.0 - var / ((c - 1) / c**2), 0.0, 1.0)


def random(X, *, random_state=None) -> np.ndarray:
    """Uniform random scores in ``[0, 1)``: the baseline every report compares with.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...) or int
        Anything with one row per candidate (or the number of candidates).
    random_state : int, numpy.random.Generator or None
        Seed; the same seed gives the same scores.

    Returns
    -------
    scores : ndarray of shape (n_samples,)

    Examples
    --------
    >>> random(3, random_state=0).shape
    (3,)
    """
    n = int(X) if np.isscalar(X) else len(X)
    if n < 0:
        raise InvalidInputError("random needs a non-negative number of samples.")
    return np.random.default_rng(random_state).random(n)
