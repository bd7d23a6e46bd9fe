"""TypiClust selection: k-means the pool, then the most typical row of each uncovered cluster.

Global typicality needs the k nearest neighbours of every row of the pool, an
all-pairs search that dominates the cost on large pools. TypiClust (Hacohen et
al., 2022) does less work: it splits the pool into ``n_labeled + batch_size``
k-means clusters, treats a cluster holding a labeled row as covered, and computes
typicality only inside the clusters it picks from, the largest uncovered first.

Here the k-means is a float32 Lloyd (BLAS GEMM for the distances) from a seeded
k-means++ start on a sample, and each chosen cluster's typicality is exact: a
blocked float32 GEMM of the cluster against itself, then a partition.

Constants follow the authors' code: at most 500 clusters, ``k = 20`` neighbours,
and clusters of 5 rows or fewer used only when no larger one has a candidate left.
When every cluster holds a labeled row or a pick, the cluster with the fewest
labeled rows and picks comes next (the largest first among equals), as there.
"""

from __future__ import annotations

import numpy as np

from labelwise.strategies._neighbors import _one_blas_thread, as_f32

__all__ = ["MAX_CLUSTERS", "MIN_CLUSTER_SIZE", "cluster_typicality", "kmeans_lloyd", "typiclust"]

#: Upper bound on the number of k-means clusters (the authors' ``MAX_NUM_CLUSTERS``).
MAX_CLUSTERS = 500
#: Clusters of at most this many rows come last (the authors' ``MIN_CLUSTER_SIZE``).
MIN_CLUSTER_SIZE = 5
#: Same ``eps`` as :func:`labelwise.strategies.typicality`.
_EPS = 1e-7
#: Distance-matrix entries per block (float32: 4 MB, stays in cache).
_BLOCK = 1 << 20
#: Rows the k-means++ seeding runs on: this many, or 20 per cluster if more.
_SEED_SAMPLE = 8_192
_SEED_PER_CLUSTER = 20
#: Rows the Lloyd iterations run on: this many, or 256 per cluster if more.
_FIT_SAMPLE = 32_768
_FIT_PER_CLUSTER = 256


def _assign(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of each row's nearest centre: argmin of ``|c|^2 - 2 x.c`` (GEMM), in row blocks."""
    cc = (centres * centres).sum(axis=1)
    m2 = -2.0 * centres
    out = np.empty(x.shape[0], dtype=np.intp)
    step = max(1, _BLOCK // max(1, centres.shape[0]))
    for s in range(0, x.shape[0], step):
        d = x[s : s + step] @ m2.T
        d += cc
        out[s : s + step] = d.argmin(axis=1)
    return out


def kmeans_lloyd(X, n_clusters: int, rng: np.random.Generator, *, n_iter: int = 10) -> np.ndarray:
    """Cluster of each row: float32 Lloyd iterations from a seeded k-means++ start.

    Lloyd runs for at most ``n_iter`` iterations (stopping early once no row
    changes cluster) on a sample drawn by ``rng`` (32,768 rows, or 256 per
    cluster if more), from a k-means++ start (scikit-learn's greedy variant) on
    8,192 of those rows (or 20 per cluster if more); then every row of ``X`` is
    assigned to its nearest centre. A centre that loses all its rows keeps its
    place. Deterministic for a given ``rng`` state.

    Returns
    -------
    assign : ndarray of shape (n_samples,), int
        Cluster ids in ``[0, n_clusters)``, clipped to ``n_samples`` clusters.
    """
    from scipy.sparse import csr_matrix
    from sklearn.cluster import kmeans_plusplus

    x = as_f32(X)
    n = x.shape[0]
    k = max(1, min(int(n_clusters), n))
    if k == 1:
        return np.zeros(n, dtype=np.intp)
    n_fit = max(_FIT_SAMPLE, _FIT_PER_CLUSTER * k)
    fit = x if n <= n_fit else x[np.sort(rng.choice(n, size=n_fit, replace=False))]
    n_seed = max(_SEED_SAMPLE, _SEED_PER_CLUSTER * k)
    if fit.shape[0] > n_seed:
        seed_rows = fit[np.sort(rng.choice(fit.shape[0], size=n_seed, replace=False))]
    else:
        seed_rows = fit
    seed = int(rng.integers(2**31 - 1))
    with _one_blas_thread():
        centres, _ = kmeans_plusplus(seed_rows, k, random_state=seed)
        centres = np.ascontiguousarray(centres, dtype=np.float32)
        m = fit.shape[0]
        assign = _assign(fit, centres)
        for _ in range(n_iter):
            counts = np.bincount(assign, minlength=k)
            filled = counts > 0
            member = csr_matrix((np.ones(m, dtype=np.float32), assign, np.arange(m + 1)), (m, k))
            sums = np.asarray(member.T @ fit)
            centres[filled] = sums[filled] / counts[filled, None]
            new = _assign(fit, centres)
            if np.array_equal(new, assign):
                break
            assign = new
        if fit is not x:
            assign = _assign(x, centres)
    return assign


def _typicality_blocks(x: np.ndarray, k: int) -> np.ndarray:
    """Mean distance of each row of ``x`` to its ``k`` nearest other rows (exact, float32)."""
    m = x.shape[0]
    xx = (x * x).sum(axis=1)
    m2 = -2.0 * x
    out = np.empty(m)
    step = max(1, min(m, _BLOCK // m))
    for s in range(0, m, step):
        e = min(s + step, m)
        d = x[s:e] @ m2.T  # |x_j|^2 - 2 x_i.x_j: the row's own |x_i|^2 is added after
        d += xx
        r = np.arange(e - s)
        d[r, r + s] = np.inf  # a row is not its own neighbour
        d.partition(k - 1, axis=1)
        near = d[:, :k].astype(np.float64) + xx[s:e, None]
        out[s:e] = np.sqrt(np.maximum(near, 0.0)).mean(axis=1)
    return out


def cluster_typicality(Xc, k: int = 20) -> np.ndarray:
    """Typicality of every row of ``Xc`` among the rows of ``Xc`` only.

    ``1 / (eps + mean distance to the min(k, m - 1) nearest other rows)``, exact:
    float32 GEMM in row blocks, then a partition. A single row scores 1.
    """
    x = as_f32(Xc)
    m = x.shape[0]
    if m == 1:
        return np.ones(1)
    return 1.0 / (_EPS + _typicality_blocks(x, min(int(k), m - 1)))


def typiclust(
    X,
    *,
    labeled,
    candidates,
    batch_size: int,
    k: int = 20,
    random_state=None,
    assign=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """TypiClust: the most typical candidate of each cluster, uncovered clusters first.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The whole pool (labeled rows included).
    labeled, candidates : array-like of int
        Labeled rows (they cover their cluster) and the rows that may be picked.
    batch_size : int
    k : int, default=20
        Neighbours for typicality inside a cluster, clipped to its size - 1.
    random_state : int, Generator or None
        Seeds the k-means.
    assign : array-like of int, default=None
        A cluster id per row, instead of running k-means (for tests and reuse).

    Returns
    -------
    picks : ndarray of int
        Pool indices in pick order, ``min(batch_size, n_candidates)`` of them.
    pick_cluster, pick_size, pick_typicality : ndarray
        For each pick: its cluster, that cluster's size and the pick's typicality
        within it.
    assign : ndarray of int
        The cluster of every row.

    References
    ----------
    Hacohen, G., Dekel, A. and Weinshall, D. (2022). Active learning on a
    budget: opposite strategies suit high and low budgets. ICML.
    """
    x = as_f32(X)
    n = x.shape[0]
    labeled = np.asarray(labeled, dtype=np.intp)
    cand = np.asarray(candidates, dtype=np.intp)
    b = min(int(batch_size), cand.size)
    if assign is None:
        n_clusters = min(labeled.size + b, MAX_CLUSTERS, n)
        assign = kmeans_lloyd(x, n_clusters, np.random.default_rng(random_state))
    assign = np.asarray(assign, dtype=np.intp)
    n_c = int(assign.max()) + 1
    size = np.bincount(assign, minlength=n_c)
    used = np.bincount(assign[labeled], minlength=n_c)  # labeled rows + picks per cluster
    is_cand = np.zeros(n, dtype=bool)
    is_cand[cand] = True
    left = np.bincount(assign[cand], minlength=n_c)  # candidates not yet picked
    members = np.split(np.argsort(assign, kind="stable"), np.cumsum(size)[:-1])
    typ_cache: dict[int, np.ndarray] = {}
    picks, p_cluster, p_size, p_typ = [], [], [], []
    with _one_blas_thread():  # small GEMMs: extra BLAS threads only wait at barriers
        for _ in range(b):
            open_ = left > 0
            big = open_ & (size > MIN_CLUSTER_SIZE)
            pool = big if big.any() else open_
            # fewest labeled rows and picks first, then the largest, then the lowest id
            ids = np.flatnonzero(pool)
            c = int(ids[np.lexsort((ids, -size[ids], used[ids]))[0]])
            rows = members[c]
            if c not in typ_cache:
                typ_cache[c] = cluster_typicality(x[rows], k)
            t = np.where(is_cand[rows], typ_cache[c], -np.inf)
            j = int(np.argmax(t))
            picks.append(int(rows[j]))
            p_cluster.append(c)
            p_size.append(int(size[c]))
            p_typ.append(float(t[j]))
            is_cand[rows[j]] = False
            left[c] -= 1
            used[c] += 1
    return (
        np.asarray(picks, dtype=np.intp),
        np.asarray(p_cluster, dtype=np.intp),
        np.asarray(p_size, dtype=np.intp),
        np.asarray(p_typ, dtype=np.float64),
        assign,
    )
