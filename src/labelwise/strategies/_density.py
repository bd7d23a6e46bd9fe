"""Density and representativeness scorers: higher score = label this sample first.

Every scorer here works from the k nearest neighbours of each row (faiss, exact,
queried in chunks by :func:`~labelwise.strategies._neighbors.knn_search`) or from
a k-means partition, so memory stays O(n k): no n x n distance or similarity
matrix is ever built.

All distances are Euclidean, computed in float32 like the rest of labelwise. A
row's neighbours never include the row itself. With ``candidates`` given, only
those rows are scored, but density is always measured against every row of
``X`` (the whole pool, labeled rows included).
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.special import logsumexp

from labelwise._validation import check_indices, check_X
from labelwise.errors import InvalidInputError, UnknownNameError, did_you_mean
from labelwise.strategies import _uncertainty as U
from labelwise.strategies._neighbors import kmeans, knn_search

__all__ = [
    "typicality",
    "knn_density",
    "kde_density",
    "information_density",
    "cluster_density",
]

#: Added to the mean kNN distance so that duplicated rows get a finite typicality.
_EPS = 1e-7
#: Rows used to estimate the feature spread for Scott's rule.
_BANDWIDTH_SAMPLE = 10_000

# Not imported from the registry (it imports this module); same names and functions.
_UNCERTAINTY = {
    "least_confidence": U.least_confidence,
    "margin": U.margin,
    "ratio": U.ratio,
    "entropy": U.entropy,
    "variance": U.variance,
}


def _check_k(k, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {k!r}.")
    return int(k)


def _is_real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _pool(X, candidates) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Validated float32 X, candidate rows (None = every row) and the number of rows to score."""
    Xf = check_X(X)
    if candidates is None:
        return Xf, None, Xf.shape[0]
    cand = check_indices(candidates, Xf.shape[0], name="candidates")
    return Xf, cand, cand.size


def _neighbour_distances(Xf: np.ndarray, cand: np.ndarray | None, k: int) -> np.ndarray:
    """Distances from each scored row to its k nearest *other* rows of X, ascending.

    ``k`` is clipped to ``n_samples - 1``; the caller handles a pool of one row.
    Shape (n_scored, min(k, n_samples - 1)), float64.
    """
    k = min(k, Xf.shape[0] - 1)
    if cand is None:
        return knn_search(Xf, Xf, k, exclude_self=True)[0]
    d, i = knn_search(Xf[cand], Xf, k + 1)
    # Drop each row's match with itself; with more than k + 1 exact duplicates the
    # row itself may be missing from the list, then drop the farthest (also at 0).
    is_self = i == cand[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), d.shape[1] - 1)
    keep = np.ones(d.shape, dtype=bool)
    keep[np.arange(d.shape[0]), drop] = False
    return d[keep].reshape(d.shape[0], d.shape[1] - 1)


def _mean_similarity(Xf: np.ndarray, cand: np.ndarray | None, m: int, k: int) -> np.ndarray:
    if m == 0:
        return np.empty(0)
    if Xf.shape[0] == 1:
        return np.ones(m)
    d = _neighbour_distances(Xf, cand, k)
    return (1.0 / (1.0 + d)).mean(axis=1)


def typicality(X, *, k: int = 20, candidates=None) -> np.ndarray:
    """Typicality: the inverse of the mean distance to the k nearest neighbours.

    ``typicality(x) = 1 / (eps + mean_{j in kNN(x)} ||x - x_j||)`` with
    ``eps = 1e-7``, the neighbours taken among the other rows of ``X``. Samples in
    dense regions of the pool are typical; in a low-budget regime they are the
    ones to label first.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features or embeddings of the whole pool.
    k : int, default=20
        Neighbours per sample, clipped to ``n_samples - 1``.
    candidates : array-like of int, default=None
        Rows to score; default every row. Neighbours come from all of ``X``.

    Returns
    -------
    scores : ndarray of shape (n_samples,) or (n_candidates,)
        Positive and finite; a pool of a single row scores 1.

    References
    ----------
    Hacohen, G., Dekel, A. and Weinshall, D. (2022). Active learning on a
    budget: opposite strategies suit high and low budgets. ICML.

    Examples
    --------
    >>> typicality([[0.0], [1.0], [2.0], [10.0]], k=1).round(3)
    array([1.   , 1.   , 1.   , 0.125])
    """
    Xf, cand, m = _pool(X, candidates)
    k = _check_k(k)
    if m == 0:
        return np.empty(0)
    if Xf.shape[0] == 1:
        return np.ones(m)
    d = _neighbour_distances(Xf, cand, k)
    return 1.0 / (_EPS + d.mean(axis=1))


def knn_density(X, *, k: int = 20, candidates=None) -> np.ndarray:
    """Mean similarity to the k nearest neighbours, similarity ``1 / (1 + distance)``.

    ``knn_density(x) = mean_{j in kNN(x)} 1 / (1 + ||x - x_j||)``: close to 1 in
    dense regions, close to 0 for isolated samples. It is the density term of
    :func:`information_density`, restricted to the k nearest neighbours instead
    of the whole pool (whose far members contribute almost nothing).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features or embeddings of the whole pool.
    k : int, default=20
        Neighbours per sample, clipped to ``n_samples - 1``.
    candidates : array-like of int, default=None
        Rows to score; default every row. Neighbours come from all of ``X``.

    Returns
    -------
    scores : ndarray of shape (n_samples,) or (n_candidates,)
        In ``(0, 1]``; a pool of a single row scores 1 (its similarity to itself).

    References
    ----------
    Settles, B. and Craven, M. (2008). An analysis of active learning strategies
    for sequence labeling tasks. EMNLP.
    Zhu, J., Wang, H., Yao, T. and Tsou, B. K. (2008). Active learning with
    sampling by uncertainty and density for word sense disambiguation and text
    classification. COLING.

    Examples
    --------
    >>> knn_density([[0.0], [1.0], [3.0]], k=1).round(3)
    array([0.5  , 0.5  , 0.333])
    """
    Xf, cand, m = _pool(X, candidates)
    return _mean_similarity(Xf, cand, m, _check_k(k))


def _scott_bandwidth(Xf: np.ndarray) -> float:
    """Scott's rule ``sigma * n ** (-1 / (d + 4))``, sigma the RMS per-feature std.

    sigma is estimated on at most 10,000 evenly spaced rows (deterministic).
    """
    n, d = Xf.shape
    rows = np.unique(np.linspace(0, n - 1, num=min(n, _BANDWIDTH_SAMPLE)).astype(np.intp))
    sample = Xf[rows].astype(np.float64)
    sigma = float(np.sqrt(sample.var(axis=0).mean()))
    if not np.isfinite(sigma) or sigma <= 0:  # every sampled row is the same point
        sigma = 1.0
    return sigma * n ** (-1.0 / (d + 4))


def kde_density(X, *, k: int = 50, bandwidth: float | None = None, candidates=None) -> np.ndarray:
    """Log of a Gaussian kernel density estimate truncated to the k nearest neighbours.

    The leave-one-out kernel density at each sample, summed over its k nearest
    neighbours only::

        log f(x_i) = log( 1 / (n - 1) * sum_{j in kNN(i)} N(x_i; x_j, h**2 I) )

    with ``N`` the isotropic Gaussian density in ``n_features`` dimensions. With
    ``k >= n_samples - 1`` this is the exact leave-one-out KDE; otherwise it
    drops the far neighbours' (positive, vanishing) terms. The log is returned,
    like scikit-learn's ``KernelDensity.score_samples``, because the density
    itself underflows to 0 in high dimension; the ranking is the same.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features or embeddings of the whole pool.
    k : int, default=50
        Neighbours per sample, clipped to ``n_samples - 1``.
    bandwidth : float, default=None
        Kernel width ``h``. Default: Scott's rule ``sigma * n ** (-1 / (d + 4))``
        with ``sigma`` the root-mean-square per-feature standard deviation,
        estimated on at most 10,000 evenly spaced rows (1 if they all coincide).
    candidates : array-like of int, default=None
        Rows to score; default every row. Neighbours come from all of ``X``.

    Returns
    -------
    scores : ndarray of shape (n_samples,) or (n_candidates,)
        Log densities (finite, may be negative); higher = denser. A pool of a
        single row scores 0.

    References
    ----------
    Parzen, E. (1962). On estimation of a probability density function and mode.
    Annals of Mathematical Statistics.
    Scott, D. W. (1992). Multivariate Density Estimation. Wiley.
    Settles, B. (2009). Active Learning Literature Survey, §5.1 (density-weighted
    methods).

    Examples
    --------
    >>> s = kde_density([[0.0], [0.1], [0.2], [3.0]], k=2, bandwidth=0.5)
    >>> s.round(3)
    array([ -0.681,  -0.651,  -0.681, -16.727])
    >>> int(s.argmax())
    1
    """
    Xf, cand, m = _pool(X, candidates)
    k = _check_k(k)
    if bandwidth is None:
        h = _scott_bandwidth(Xf) if Xf.shape[0] else 1.0
    else:
        if not _is_real(bandwidth):
            raise InvalidInputError(f"bandwidth must be a positive number, got {bandwidth!r}.")
        h = float(bandwidth)
        if not np.isfinite(h) or h <= 0:
            raise InvalidInputError(f"bandwidth must be positive and finite, got {bandwidth!r}.")
    if m == 0:
        return np.empty(0)
    n, n_features = Xf.shape
    if n == 1:
        return np.zeros(m)
    d = _neighbour_distances(Xf, cand, k)
    with np.errstate(over="ignore"):  # (d / h)**2 may overflow for a tiny h: clipped below
        log_kernel = -0.5 * (d / h) ** 2
    log_kernel = np.maximum(log_kernel, -np.finfo(np.float64).max)
    log_norm = np.log(n - 1) + n_features * (0.5 * np.log(2.0 * np.pi) + np.log(h))
    out = logsumexp(log_kernel, axis=1) - log_norm
    return np.clip(out, -np.finfo(np.float64).max, np.finfo(np.float64).max)


def information_density(
    proba,
    X,
    *,
    beta: float = 1.0,
    k: int = 20,
    uncertainty: str = "entropy",
    candidates=None,
) -> np.ndarray:
    """Uncertainty weighted by representativeness: ``u(x) * knn_density(x) ** beta``.

    Settles and Craven's information density multiplies an uncertainty score by
    the mean similarity of the sample to the pool, raised to ``beta``. Here the
    mean runs over the k nearest neighbours only (see :func:`knn_density`,
    similarity ``1 / (1 + distance)``), which keeps memory O(n k) instead of
    O(n**2) and drops far members that add almost nothing to the mean.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class probabilities, one row per row of ``X`` (or per
        candidate when ``candidates`` is given).
    X : array-like of shape (n_samples, n_features)
        Features or embeddings of the pool.
    beta : float, default=1.0
        Weight of the density term, ``>= 0``; 0 gives plain uncertainty.
    k : int, default=20
        Neighbours per sample, clipped to ``n_samples - 1``.
    uncertainty : {"entropy", "least_confidence", "margin", "ratio", "variance"}, \
default="entropy"
        Uncertainty scorer applied to ``proba``.
    candidates : array-like of int, default=None
        Rows of ``X`` that ``proba`` belongs to; default every row. Density is
        measured against all of ``X``.

    Returns
    -------
    scores : ndarray of shape (n_samples,) or (n_candidates,)
        Finite and non-negative.

    References
    ----------
    Settles, B. and Craven, M. (2008). An analysis of active learning strategies
    for sequence labeling tasks. EMNLP.

    Examples
    --------
    >>> proba = [[0.5, 0.5], [0.5, 0.5], [0.9, 0.1]]
    >>> X = [[0.0], [10.0], [1.0]]
    >>> information_density(proba, X, k=1, uncertainty="margin").round(3)
    array([0.5, 0.1, 0.1])
    """
    if uncertainty not in _UNCERTAINTY:
        raise UnknownNameError(
            f"unknown uncertainty scorer {uncertainty!r}; choose one of {sorted(_UNCERTAINTY)}."
            + did_you_mean(str(uncertainty), _UNCERTAINTY)
        )
    if not _is_real(beta) or not np.isfinite(beta) or beta < 0:
        raise InvalidInputError(f"beta must be a finite number >= 0, got {beta!r}.")
    u = _UNCERTAINTY[uncertainty](proba)
    Xf, cand, m = _pool(X, candidates)
    k = _check_k(k)
    if u.shape[0] != m:
        what = "candidates" if cand is not None else "rows of X"
        raise InvalidInputError(
            f"proba has {u.shape[0]} rows but there are {m} {what}; pass one probability "
            "row per sample, in the same order."
        )
    sim = _mean_similarity(Xf, cand, m, k)
    return u * sim ** float(beta)


def cluster_density(X, *, n_clusters: int = 10, random_state=None, candidates=None) -> np.ndarray:
    """k-means cluster density: the cluster's share of the pool times closeness to its centroid.

    The pool is split into ``n_clusters`` groups by k-means (k-means++ seeding,
    Lloyd iterations, faiss); each sample ``x`` in cluster ``c`` with centroid
    ``mu_c`` scores::

        cluster_density(x) = (n_c / n_samples) * 1 / (1 + ||x - mu_c||)

    so samples near the centre of a large cluster come first, outliers and
    members of small clusters last.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features or embeddings of the whole pool.
    n_clusters : int, default=10
        Clipped to ``n_samples``.
    random_state : int, Generator or None
        Seeds the k-means initialisation.
    candidates : array-like of int, default=None
        Rows to score; default every row. The clustering uses all of ``X``.

    Returns
    -------
    scores : ndarray of shape (n_samples,) or (n_candidates,)
        In ``(0, 1]``.

    References
    ----------
    Nguyen, H. T. and Smeulders, A. (2004). Active learning using pre-clustering.
    ICML.
    Zhdanov, F. (2019). Diverse mini-batch active learning. arXiv:1901.05954.

    Examples
    --------
    >>> X = [[0.0], [0.2], [0.4], [9.0], [9.2]]
    >>> cluster_density(X, n_clusters=2, random_state=0).round(3)
    array([0.5  , 0.6  , 0.5  , 0.364, 0.364])
    """
    Xf, cand, m = _pool(X, candidates)
    k = _check_k(n_clusters, "n_clusters")
    if m == 0:
        return np.empty(0)
    assign, dist = kmeans(Xf, k, np.random.default_rng(random_state))
    share = np.bincount(assign).astype(np.float64) / Xf.shape[0]
    scores = share[assign] / (1.0 + dist)
    return scores if cand is None else scores[cand]
