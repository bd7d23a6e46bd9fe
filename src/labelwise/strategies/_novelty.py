"""Novelty and cluster representativeness: scores computed from features alone."""

from __future__ import annotations

import numpy as np

from labelwise._validation import check_X, resolve_candidates
from labelwise.strategies._neighbors import kmeans, nearest_distance

__all__ = ["novelty", "representativeness"]


def novelty(X, *, labeled, candidates=None) -> np.ndarray:
    """Distance from each candidate to its nearest labeled sample (Euclidean).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features or embeddings of the whole pool.
    labeled : array-like of int
        Indices of labeled rows. With none labeled every candidate is equally
        novel and scores 1.
    candidates : array-like of int, default=None
        Rows to score; default every row not labeled.

    Returns
    -------
    scores : ndarray of shape (n_candidates,)
        Higher = farther from anything labeled.

    References
    ----------
    Sener, O. and Savarese, S. (2018). Active learning for convolutional neural
    networks: a core-set approach. ICLR.

    Examples
    --------
    >>> novelty([[0.0], [3.0], [1.0]], labeled=[0])
    array([3., 1.])
    """
    Xf = check_X(X)
    lab, cand = resolve_candidates(Xf.shape[0], labeled, candidates)
    if lab.size == 0:
        return np.ones(cand.size)
    return nearest_distance(Xf[cand], Xf[lab])


def representativeness(X, *, candidates=None, n_clusters: int = 10, random_state=None):
    """Closeness of each candidate to its k-means centroid, ranked within its cluster.

    A sample nearest its cluster's centre scores 1, the farthest in that cluster
    close to 0, so the top of the ranking spans every cluster: a diversity
    criterion for :func:`~labelwise.strategies.intersection` and
    :func:`~labelwise.strategies.weighted`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    candidates : array-like of int, default=None
        Rows to cluster and score; default every row.
    n_clusters : int, default=10
    random_state : int, Generator or None

    Returns
    -------
    scores : ndarray of shape (n_candidates,)
        In (0, 1].

    References
    ----------
    Zhdanov, F. (2019). Diverse mini-batch active learning. arXiv:1901.05954.

    Examples
    --------
    >>> representativeness([[0.0], [0.1], [5.0], [5.5], [5.2]], n_clusters=2,
    ...                    random_state=0).round(2)
    array([1.  , 0.5 , 0.67, 0.33, 1.  ])
    """
    Xf = check_X(X)
    _, cand = resolve_candidates(Xf.shape[0], None, candidates)
    assign, dist = kmeans(Xf[cand], n_clusters, np.random.default_rng(random_state))
    scores = np.empty(cand.size)
    for c in np.unique(assign):
        members = np.flatnonzero(assign == c)
        order = np.argsort(dist[members], kind="stable")
        scores[members[order]] = (members.size - np.arange(members.size)) / members.size
    return scores
