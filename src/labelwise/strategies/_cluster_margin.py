"""Cluster-margin: the most uncertain candidates, spread round-robin over k-means clusters.

Citovsky et al. (2021) cluster the pool once, take the ``top_factor * batch_size``
candidates with the highest scores (smallest margins), group them by cluster and
fill the batch round-robin, smallest group first, so a batch does not spend labels
on near-duplicates inside one dense region of uncertainty. Here the clusters are
k-means groups of about ``cluster_size`` pool rows (Citovsky use agglomerative
clustering) and each group gives its candidates best score first (Citovsky draw
at random inside a group; the best-first order measured better on optdigits).
"""

from __future__ import annotations

import numpy as np

from labelwise._validation import check_batch_size, check_indices, check_scores, check_X
from labelwise.errors import InvalidInputError
from labelwise.strategies._neighbors import kmeans
from labelwise.strategies._selectors import top_positions

__all__ = [
    "CLUSTER_ROWS",
    "CLUSTER_SIZE",
    "cluster_margin",
    "clusters_of",
    "interleave",
    "pool_sample",
    "round_robin",
]

#: Most pool rows k-means runs on; a larger pool is clustered on a random sample of this
#: many rows and the candidates join the nearest centre (k-means cost ~ rows**2 / cluster_size).
CLUSTER_ROWS = 10_000
#: Pool rows per k-means cluster (``n_clusters = rows // CLUSTER_SIZE``).
CLUSTER_SIZE = 20


def cluster_margin(
    scores,
    X,
    *,
    batch_size: int,
    candidates=None,
    top_factor: int = 2,
    cluster_size: int = CLUSTER_SIZE,
    random_state=None,
) -> np.ndarray:
    """Pick a batch round-robin over the k-means clusters of the highest-scoring candidates.

    Parameters
    ----------
    scores : array-like of shape (n_candidates,)
        Uncertainty of each candidate, higher = label first (e.g. ``margin``).
    X : array-like of shape (n_samples, n_features)
        Features of the whole pool (labeled rows included): what is clustered.
    batch_size : int
    candidates : array-like of int, default=None
        Rows of ``X`` aligned with ``scores``; default every row.
    top_factor : int, default=2
        The batch is chosen among the ``top_factor * batch_size`` highest scores.
    cluster_size : int, default=20
        Pool rows per k-means cluster (``n_clusters = rows // cluster_size``).
    random_state : int, Generator or None
        Seeds k-means and breaks score ties.

    Returns
    -------
    positions : ndarray of shape (min(batch_size, n_candidates),)
        Positions into ``candidates`` (and ``scores``), in pick order.

    References
    ----------
    Citovsky, G. et al. (2021). Batch active learning at scale. NeurIPS.

    Examples
    --------
    The group at 9 holds one of the four best scores, the group at 0 three: the
    smaller group gives the first pick.

    >>> X = [[0.0], [0.1], [0.2], [9.0], [9.1], [9.2]]
    >>> cluster_margin([0.9, 0.8, 0.7, 0.6, 0.5, 0.1], X, batch_size=2,
    ...                cluster_size=3, random_state=0).tolist()
    [3, 0]
    """
    Xf = check_X(X)
    n = Xf.shape[0]
    cand = np.arange(n, dtype=np.intp) if candidates is None else candidates
    cand = check_indices(cand, n, name="candidates")
    s = check_scores(scores, cand.size)
    b = min(check_batch_size(batch_size), cand.size)
    for value, name in ((top_factor, "top_factor"), (cluster_size, "cluster_size")):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise InvalidInputError(f"{name} must be a positive integer, got {value!r}.")
    rng = np.random.default_rng(random_state)
    top = top_positions(s, min(cand.size, int(top_factor) * b), rng)  # best score first
    rows = cand[top]
    fit = pool_sample(n, rng)
    whole = rows if fit.size == n else None
    group = clusters_of(Xf[fit], Xf[rows], int(cluster_size), rng, rows_in_fit=whole)
    return round_robin(top, group, b)


def round_robin(top: np.ndarray, group: np.ndarray, batch_size: int) -> np.ndarray:
    """``batch_size`` of ``top`` (best first) round-robin over their groups, fewest first.

    Groups are ordered by how many of ``top`` they hold (fewest first), ties by their
    best member; each gives its members in ``top`` order.
    """
    uniq, first, count = np.unique(group, return_index=True, return_counts=True)
    members = [top[group == g] for g in uniq[np.lexsort((first, count))]]
    return interleave(members, batch_size)


def interleave(members: list[np.ndarray], batch_size: int) -> np.ndarray:
    """The first member of every group in turn, then every second one, ...: ``batch_size`` in all.

    Examples
    --------
    >>> interleave([np.array([5, 6, 7]), np.array([1])], 3).tolist()
    [5, 1, 6]
    """
    b = min(int(batch_size), sum(m.size for m in members))
    picks: list[int] = []
    depth = 0
    while len(picks) < b:
        for mem in members:
            if depth < mem.size and len(picks) < b:
                picks.append(int(mem[depth]))
        depth += 1
    return np.asarray(picks, dtype=np.intp)


def pool_sample(n_samples: int, rng) -> np.ndarray:
    """Pool positions k-means runs on: all, or a sorted random :data:`CLUSTER_ROWS` of them."""
    if n_samples <= CLUSTER_ROWS:
        return np.arange(n_samples)
    return np.sort(rng.choice(n_samples, CLUSTER_ROWS, replace=False))


def clusters_of(
    X_fit: np.ndarray, X_rows: np.ndarray, cluster_size: int, rng, *, rows_in_fit=None
) -> np.ndarray:
    """The k-means cluster of each row of ``X_rows``, k-means fitted on ``X_fit``.

    ``X_fit`` is the pool's rows at :func:`pool_sample`. When that is the whole pool,
    ``rows_in_fit`` (the positions of ``X_rows`` in it) reads each row's k-means
    assignment; otherwise each row joins the nearest centre. Only ``X_fit`` and
    ``X_rows`` are needed, so a sharded pool fetches just those rows.
    """
    assign, _ = kmeans(X_fit, max(1, X_fit.shape[0] // cluster_size), rng)
    if rows_in_fit is not None:
        return assign[rows_in_fit]
    k = int(assign.max()) + 1
    centres = np.zeros((k, X_fit.shape[1]))
    np.add.at(centres, assign, X_fit)
    centres /= np.maximum(np.bincount(assign, minlength=k), 1)[:, None]
    x = X_rows
    d2 = (x**2).sum(1)[:, None] - 2.0 * x @ centres.T + (centres**2).sum(1)[None, :]
    return np.argmin(d2, axis=1)
