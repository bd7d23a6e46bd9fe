"""Nearest-neighbour and k-means building blocks on faiss (exact, float32, bounded memory).

Nothing here builds an n x n matrix: queries run in chunks against a flat index.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

_CHUNK = 65_536
_SMALL = 2_000_000  # array elements below which faiss runs on one thread
_EXACT_PAIRS = 2_000_000_000  # query x reference pairs up to which kNN is exact
N_INIT = 3  # k-means restarts; the lowest inertia wins


def _faiss():
    import faiss  # deferred: importing faiss costs ~0.2 s and most commands never need it

    return faiss


@contextmanager
def _threads_for(n_values: int):
    """Run faiss on one thread for small inputs.

    On tiny arrays OpenMP threads spend their time at barriers (hundreds of ms on a
    busy 2-core machine instead of well under 1 ms); results do not depend on the
    thread count.
    """
    faiss = _faiss()
    if n_values >= _SMALL:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def as_f32(X) -> np.ndarray:
    """Return X as a C-contiguous float32 array (no copy when it already is one)."""
    return np.ascontiguousarray(X, dtype=np.float32)


def knn_search(
    query, ref, k: int, *, exclude_self: bool = False, exact: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distances and indices of the k nearest rows of ``ref`` for each query row.

    Parameters
    ----------
    query : array-like of shape (n_query, n_features)
    ref : array-like of shape (n_ref, n_features)
    k : int
        Neighbours per query row (clipped to the number of reference rows).
    exclude_self : bool, default=False
        ``query`` is ``ref``: drop each row's match with itself.
    exact : bool or None, default=None
        Exact search (a flat index) or approximate (an inverted-file index with
        ``sqrt(n_ref)`` lists, 8 probed). ``None``: exact up to 2e9 query x
        reference pairs (about 45,000 x 45,000), approximate beyond, where exact
        search would take minutes; rows the approximate index cannot fill are
        searched exactly.

    Returns
    -------
    dist : ndarray of shape (n_query, k), float64, ascending
    idx : ndarray of shape (n_query, k)
    """
    faiss = _faiss()
    q, r = as_f32(query), as_f32(ref)
    extra = 1 if exclude_self else 0
    k_eff = min(k + extra, r.shape[0])
    if exact is None:
        exact = q.shape[0] * r.shape[0] <= _EXACT_PAIRS
    flat = faiss.IndexFlatL2(r.shape[1])
    flat.add(r)
    index = flat if exact else _ivf(r)
    dists, idxs = [], []
    for start in range(0, q.shape[0], _CHUNK):
        # faiss' OpenMP threads and OpenBLAS' threads would fight over the same cores
        with _threads_for(min(q.shape[0] - start, _CHUNK) * r.shape[0]), _one_blas_thread():
            d, i = index.search(q[start : start + _CHUNK], k_eff)
            short = np.flatnonzero((i < 0).any(axis=1))
            if short.size:  # too few candidates in the probed lists: search those exactly
                d[short], i[short] = flat.search(q[start + short], k_eff)
        if exclude_self:
            rows = np.arange(start, start + d.shape[0])[:, None]
            is_self = i == rows
            # Drop the self match where found, else the farthest of the k + 1.
            drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k_eff - 1)
            keep = np.ones_like(i, dtype=bool)
            keep[np.arange(i.shape[0]), drop] = False
            d = d[keep].reshape(d.shape[0], k_eff - 1)
            i = i[keep].reshape(i.shape[0], k_eff - 1)
        dists.append(d)
        idxs.append(i)
    d = np.sqrt(np.maximum(np.concatenate(dists).astype(np.float64), 0.0))
    return d, np.concatenate(idxs)


def _ivf(r: np.ndarray):
    """An inverted-file index over ``r`` (trained on a fixed sample: deterministic)."""
    faiss = _faiss()
    n, d = r.shape
    nlist = int(np.clip(np.sqrt(n), 16, 4096))
    quantizer = faiss.IndexFlatL2(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist)
    n_train = min(n, 40 * nlist)
    sample = np.random.default_rng(0).choice(n, size=n_train, replace=False)
    index.cp.min_points_per_centroid = 1
    index.train(r[np.sort(sample)])
    index.add(r)
    index.nprobe = min(8, nlist)
    return index


def nearest_distance(query, ref) -> np.ndarray:
    """Distance from each query row to its nearest row of ``ref``, shape (n_query,)."""
    return knn_search(query, ref, 1)[0][:, 0]


def kmeans(
    X, n_clusters: int, rng: np.random.Generator, *, n_init: int = N_INIT
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd k-means (faiss) from ``n_init`` k-means++ starts; the lowest inertia wins.

    Each start is seeded by scikit-learn's greedy k-means++ (several candidate
    centres per step, the one that lowers the potential most is kept). A single
    start still seeds two centres in one group now and then, and Lloyd then merges
    two well-separated groups and splits a third; restarts make that vanishingly
    rare at little cost (Lloyd runs on at most 512 rows per centre).

    Returns
    -------
    assign : ndarray of shape (n_samples,)
        The cluster of each row.
    dist : ndarray of shape (n_samples,)
        Each row's distance to its centroid.

    References
    ----------
    Arthur, D. and Vassilvitskii, S. (2007). k-means++: the advantages of careful
    seeding. SODA.
    """
    faiss = _faiss()
    x = as_f32(X)
    k = max(1, min(int(n_clusters), x.shape[0]))
    if k == 1:
        centre = x.mean(axis=0, keepdims=True)
        return np.zeros(x.shape[0], dtype=np.intp), np.linalg.norm(x - centre, axis=1)
    best = None
    for _ in range(max(1, int(n_init))):
        seed = int(rng.integers(2**31 - 1))
        km = faiss.Kmeans(
            x.shape[1],
            k,
            niter=25,
            seed=seed,
            min_points_per_centroid=1,
            max_points_per_centroid=512,
            verbose=False,
        )
        init = _kmeans_plus_plus(x, k, rng)
        with _threads_for(x.size * k):
            km.train(x, init_centroids=init)
            d2, assign = km.index.search(x, 1)
        inertia = float(d2.sum(dtype=np.float64))
        if best is None or inertia < best[0]:
            best = (inertia, assign, d2)
    _, assign, d2 = best
    return assign[:, 0].astype(np.intp), np.sqrt(np.maximum(d2[:, 0].astype(np.float64), 0.0))


def _kmeans_plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-means++ initial centres (scikit-learn's ``kmeans_plusplus``).

    On more than 50,000 rows the seeding runs on a random sample of 50,000.
    """
    from sklearn.cluster import kmeans_plusplus

    if x.shape[0] > 50_000:
        x = x[np.sort(rng.choice(x.shape[0], size=50_000, replace=False))]
    centres, _ = kmeans_plusplus(x, k, random_state=int(rng.integers(2**31 - 1)))
    return np.ascontiguousarray(centres, dtype=np.float32)
