"""Distributed k-means selection (``kmeans_equal`` on shards): seed per shard, Lloyd on all.

The in-memory ``kmeans_equal`` clusters the pool into K = batch groups and takes from
each the member nearest its centre, largest clusters first. On shards the same
selection runs in passes over the pool, each a :func:`map_shards` call (local or Ray,
the same functions):

1. **Seeding** (one pass). Every shard seeds ``k`` candidate centres with k-means++
   (on a uniform sample of at most ``SEED_SAMPLE`` of its rows) and weighs each by the
   number of the shard's rows nearest it. The driver reduces the ``k x shards``
   weighted candidates to ``k`` centres: weighted k-means++, then weighted Lloyd, on
   the candidates only (Guha et al. 2003, divide and conquer).
2. **Lloyd** (one pass per iteration). Every shard assigns its rows to the nearest
   centre and returns per centre the sum of its rows, their count and their squared
   distances (the inertia), and the member nearest the centre. The driver averages
   the sums into the next centres, and stops when they move less than ``tol`` (times
   the pool's mean feature variance, as scikit-learn does) or after ``max_iter``
   passes. The centres of the last pass are the result, so its nearest members are
   the picks: no extra pass. A centre that lost every row moves to the row farthest
   from its centre (an extra pass, only then).
3. **Picks**. One per cluster, the member nearest its centre (ties: smallest id); the
   per-shard nearest members merged by a global minimum are exactly the pool's.
   Clusters are ranked by size, largest first, and each pick's score is its
   cluster's size (rows). If fewer than ``k`` clusters hold rows (a pool of
   repeated rows), the largest clusters give their next-nearest members, in turns,
   as ``kmeans_equal`` does (one more pass).

The driver holds O(k x features x shards) values, never the pool. Every shard's work
depends only on its rows, its index and the seed, and the driver reduces the shards
in index order, so both engines return the same picks under the same seed.

Quality. k-means++ seeding is an O(log k) approximation of the optimal inertia in
expectation (Arthur and Vassilvitskii 2007); seeding each shard and clustering the
weighted seeds keeps a constant times the product of the two stages' factors (Guha
et al. 2003; Ailon et al. 2009 for k-means), like k-means|| (Bahmani et al. 2012).
Lloyd passes never raise the inertia. The tests check the inertia against
scikit-learn's ``KMeans`` on the whole pool (within 1.1x) and the picks against a
brute-force search of the pool. The seeding bound assumes each shard seeds from all
its rows; a shard of more than ``SEED_SAMPLE`` rows seeds from a uniform sample, which
keeps the bound only in expectation over the sample (the Lloyd passes use every row).

References
----------
Arthur, D. and Vassilvitskii, S. (2007). k-means++: the advantages of careful seeding.
SODA.
Guha, S., Meyerson, A., Mishra, N., Motwani, R. and O'Callaghan, L. (2003).
Clustering data streams: theory and practice. IEEE TKDE 15(3).
Ailon, N., Jaiswal, R. and Monteleoni, C. (2009). Streaming k-means approximation.
NeurIPS.
Bahmani, B., Moseley, B., Vattani, A., Kumar, R. and Vassilvitskii, S. (2012).
Scalable k-means++. PVLDB 5(7).
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from labelwise._validation import check_X
from labelwise.errors import InvalidInputError, LabelwiseError, shorten
from labelwise.scale._engine import map_shards, ray_session
from labelwise.scale._shards import ShardSet, canonical_ids, read_shard
from labelwise.scale._topk import best_rows

__all__ = ["KMeansSelection", "check_kmeans", "kmeans_select", "MAX_ITER", "TOL", "SEED_SAMPLE"]

#: Lloyd passes over the pool at most.
MAX_ITER = 50
#: Stop when the centres move less than this times the pool's mean feature variance.
TOL = 1e-4
#: Rows of a shard its k-means++ seeding runs on (a uniform sample beyond).
SEED_SAMPLE = 50_000
#: Weighted k-means++ starts on the driver's seeds (cheap: k x shards rows); the best is kept.
DRIVER_N_INIT = 3
# distances computed for this many (row, centre) pairs at a time: 16 MB of float64
_PAIRS = 2**21


@dataclass
class KMeansSelection:
    """The picks of a distributed k-means and the clustering they come from.

    Attributes
    ----------
    ids : ndarray of shape (n_picks,)
        Picks, largest cluster first.
    sizes : ndarray of shape (n_picks,)
        Rows in each pick's cluster (its score).
    distances : ndarray of shape (n_picks,)
        Each pick's distance to its cluster's centre.
    centres : ndarray of shape (k, n_features)
        The final centres (those the picks are nearest to).
    counts : ndarray of shape (k,)
        Rows per centre.
    inertia : float
        Sum of squared distances of the rows to their centres.
    info : dict
        ``n_clusters``, ``inertia``, ``n_iter``, ``converged``, ``seed``, ``passes`` (over the
        pool), ``n_seeds`` (candidates the shards sent), ``score_is``.
    """

    ids: np.ndarray
    sizes: np.ndarray
    distances: np.ndarray
    centres: np.ndarray
    counts: np.ndarray
    inertia: float
    info: dict = field(default_factory=dict)


def _one_blas_thread():
    """Shard work on one BLAS thread, with either engine.

    A Ray worker has one core, and locally extra threads on these small products only
    wait at barriers (4x slower on a busy 2-core machine). One thread count also keeps
    the results the same bits on both engines.
    """
    global _CONTROLLER
    if _CONTROLLER is None:  # finding the loaded libraries takes ms: once per process
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


_CONTROLLER = None


def _read(path: str, id_column: str, feature_columns: list[str]):
    cols = read_shard(path, [id_column, *feature_columns])
    ids = canonical_ids(cols[id_column])
    try:
        X = check_X(np.column_stack([cols[c] for c in feature_columns]))
    except LabelwiseError as e:
        raise type(e)(f"{path}: {e}") from None
    return ids, X


def _assign(X: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre of every row and the squared distance to it (float64).

    The nearest centre by one GEMM per chunk of rows; the distance to it then again by
    the difference, so that it is exact to the last bits whatever the BLAS.
    """
    n, k = X.shape[0], C.shape[0]
    labels = np.empty(n, dtype=np.intp)
    d2 = np.empty(n, dtype=np.float64)
    cc = np.einsum("ij,ij->i", C, C)
    step = max(1, _PAIRS // max(k, 1))
    for lo in range(0, n, step):
        x = X[lo : lo + step].astype(np.float64)
        lab = np.argmin(cc[None, :] - 2.0 * (x @ C.T), axis=1)
        diff = x - C[lab]
        labels[lo : lo + step] = lab
        d2[lo : lo + step] = np.einsum("ij,ij->i", diff, diff)
    return labels, d2


def _nearest_members(ids, labels, d2, k):
    """Per centre: the member with the smallest (distance, id), or none (-1)."""
    best = np.full(k, np.inf)
    np.minimum.at(best, labels, d2)
    tied = np.flatnonzero(d2 == best[labels])  # about one row per centre
    tied = tied[np.argsort(ids[tied], kind="stable")]  # ids may be strings: no lexsort
    tied = tied[np.argsort(labels[tied], kind="stable")]
    first = np.ones(tied.size, dtype=bool)
    first[1:] = labels[tied][1:] != labels[tied][:-1]
    rows = tied[first]
    pos = np.full(k, -1, dtype=np.intp)
    pos[labels[rows]] = rows
    return pos


class _ShardPass(ABC):
    """A function of one shard path run on one BLAS thread (the same sums on both engines)."""

    def __call__(self, path: str) -> dict:
        with _one_blas_thread():
            return self._run(path)

    @abstractmethod
    def _run(self, path: str) -> dict:
        """The pass's result for one shard."""


class _Seed(_ShardPass):
    """One shard's k-means++ seeds weighted by the rows nearest each, and its moments."""

    def __init__(self, *, k, seed, index, id_column, feature_columns):
        self.k, self.seed, self.index = k, seed, dict(index)
        self.id_column, self.feature_columns = id_column, list(feature_columns)

    def _run(self, path: str) -> dict:
        from sklearn.cluster import kmeans_plusplus

        ids, X = _read(path, self.id_column, self.feature_columns)
        n, d = X.shape
        if n == 0:
            return {"seeds": np.empty((0, d)), "weights": np.empty(0), "n": 0,
                    "sum": np.zeros(d), "sumsq": np.zeros(d)}  # fmt: skip
        rng = np.random.default_rng([self.seed, self.index[path]])
        m = max(SEED_SAMPLE, self.k)
        sample = X if n <= m else X[np.sort(rng.choice(n, size=m, replace=False))]
        seeds, _ = kmeans_plusplus(
            sample.astype(np.float64),
            n_clusters=min(self.k, sample.shape[0]),
            random_state=int(rng.integers(2**31 - 1)),
        )
        labels, _ = _assign(X, seeds)
        return {
            "seeds": seeds,
            "weights": np.bincount(labels, minlength=seeds.shape[0]).astype(np.float64),
            "n": n,
            "sum": X.sum(axis=0, dtype=np.float64),
            "sumsq": np.einsum("ij,ij->j", X, X, dtype=np.float64),
        }


class _Lloyd(_ShardPass):
    """One shard's Lloyd statistics for the given centres (and its farthest rows if asked)."""

    def __init__(self, *, centres, far, id_column, feature_columns):
        self.centres, self.far = centres, far
        self.id_column, self.feature_columns = id_column, list(feature_columns)

    def _run(self, path: str) -> dict:
        ids, X = _read(path, self.id_column, self.feature_columns)
        k, d = self.centres.shape
        labels, d2 = _assign(X, self.centres)
        sums = np.zeros((k, d))
        step = max(1, _PAIRS // max(d, 1))
        for lo in range(0, X.shape[0], step):
            x, lab = X[lo : lo + step].astype(np.float64), labels[lo : lo + step]
            for j in range(d):
                sums[:, j] += np.bincount(lab, weights=x[:, j], minlength=k)
        pos = _nearest_members(ids, labels, d2, k)
        has = pos >= 0
        out = {
            "sums": sums,
            "counts": np.bincount(labels, minlength=k),
            "inertia": float(d2.sum()),
            "near_id": ids[pos[has]],
            "near_d2": d2[pos[has]],
            "near_centre": np.flatnonzero(has),
        }
        if self.far:  # rows farthest from their centres: (distance desc, id asc)
            f = best_rows(ids, d2, self.far)
            out.update(far_id=ids[f], far_d2=d2[f], far_x=X[f].astype(np.float64))
        return out


class _Members(_ShardPass):
    """One shard's ``quota[c]`` members nearest centre ``c``, for every centre with a quota."""

    def __init__(self, *, centres, quota, id_column, feature_columns):
        self.centres, self.quota = centres, quota
        self.id_column, self.feature_columns = id_column, list(feature_columns)

    def _run(self, path: str) -> dict:
        ids, X = _read(path, self.id_column, self.feature_columns)
        labels, d2 = _assign(X, self.centres)
        out_id, out_d2, out_c = [ids[:0]], [np.empty(0)], [np.empty(0, dtype=np.intp)]
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(self.centres.shape[0] + 1))
        for c in np.flatnonzero(self.quota):
            rows = order[bounds[c] : bounds[c + 1]]
            keep = rows[best_rows(ids[rows], -d2[rows], int(self.quota[c]))]
            out_id.append(ids[keep])
            out_d2.append(d2[keep])
            out_c.append(np.full(keep.size, c, dtype=np.intp))
        return {"id": np.concatenate(out_id), "d2": np.concatenate(out_d2),
                "centre": np.concatenate(out_c)}  # fmt: skip


def _round_robin_quota(sizes: np.ndarray, order: np.ndarray, b: int) -> np.ndarray:
    """Picks per cluster when clusters take turns (in ``order``) until ``b`` are taken."""
    quota = np.zeros(sizes.size, dtype=np.int64)
    left = min(b, int(sizes.sum()))
    while left:
        for c in order:
            if left and quota[c] < sizes[c]:
                quota[c] += 1
                left -= 1
    return quota


def _reduce_seeds(parts: list[dict], k: int, rng: np.random.Generator) -> np.ndarray:
    """The k centres from the shards' weighted seeds: weighted k-means++, then weighted Lloyd."""
    from sklearn.cluster import KMeans

    seeds = np.concatenate([p["seeds"] for p in parts])
    w = np.concatenate([p["weights"] for p in parts])
    seeds, w = seeds[w > 0], w[w > 0]
    if seeds.shape[0] <= k:  # a pool of repeated rows: fewer seeds than centres
        return seeds[np.arange(k) % seeds.shape[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "fewer distinct clusters than n_clusters"
        km = KMeans(k, n_init=DRIVER_N_INIT, max_iter=100, tol=TOL,
                    random_state=int(rng.integers(2**31 - 1)))  # fmt: skip
        km.fit(seeds, sample_weight=w)
    return np.asarray(km.cluster_centers_, dtype=np.float64)


def check_kmeans(shards: ShardSet, k: int) -> None:
    """Refuse, from the footers alone, a pool without features or with fewer rows than ``k``."""
    if not shards.feature_columns:
        raise InvalidInputError(
            f"{shards.paths[0]}: kmeans_equal needs numeric feature columns besides the id."
        )
    if k > shards.n_rows:
        raise InvalidInputError(
            f"--batch {k:,} is more than the {shards.n_rows:,} rows of the shards; kmeans_equal "
            f"makes one cluster per pick, so give --batch {shards.n_rows:,} or less."
        )


def kmeans_select(
    shards: ShardSet,
    k: int,
    *,
    engine: str = "local",
    address: str | None = None,
    random_state: int | None = None,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
    progress=None,
) -> KMeansSelection:
    """Cluster the sharded pool into ``k`` groups and pick each group's member nearest its centre.

    Parameters
    ----------
    shards : ShardSet
        From :func:`open_shards`; the feature columns are clustered.
    k : int
        Clusters, and picks (``--batch``); at most the pool's rows.
    engine : {"local", "ray"}
    address : str, optional
        Ray cluster address.
    random_state : int, optional
        Seed of the k-means++ seeding; without it a fresh one (reported in ``info``).
    max_iter : int, default=50
        Lloyd passes over the pool at most.
    tol : float, default=1e-4
        Stop when the squared centre shift falls under ``tol`` x the mean feature variance.
    progress : object with ``update(rows, shards_done, pass_no)``, optional
        Rows and shards done in the current pass, and its number (1 = seeding; then
        one per Lloyd iteration, at most ``max_iter``, and at most two more).

    Returns
    -------
    KMeansSelection
    """
    check_kmeans(shards, k)
    if random_state is None:
        seed = int(np.random.default_rng().integers(2**31 - 1))
    elif isinstance(random_state, int | np.integer) and random_state >= 0:
        seed = int(random_state)
    else:
        raise InvalidInputError(f"--seed must be an integer >= 0, got {random_state!r}.")
    # the shards seed from [seed, shard index]; the driver from a key no shard has
    rng = np.random.default_rng([seed, len(shards.paths)])
    cols = dict(id_column=shards.id_column, feature_columns=shards.feature_columns)
    state = {"passes": 0}

    def run(fn) -> list:
        parts: dict[int, object] = {}
        state["passes"] += 1
        rows = 0
        for i, part in map_shards(shards, fn, engine=engine, address=address):
            parts[i] = part
            rows += shards.rows[i]
            if progress is not None:
                progress.update(rows, len(parts), pass_no=state["passes"])
        return [parts[i] for i in range(len(shards.paths))]  # in shard order: deterministic

    session = ray_session(address) if engine == "ray" else nullcontext()
    with session:  # one Ray cluster for every pass
        index = {p: i for i, p in enumerate(shards.paths)}
        seeded = run(_Seed(k=k, seed=seed, index=index, **cols))
        n = sum(p["n"] for p in seeded)
        mean = sum(p["sum"] for p in seeded) / n
        variance = max(float(np.mean(sum(p["sumsq"] for p in seeded) / n - mean**2)), 0.0)
        C = _reduce_seeds(seeded, k, rng)
        converged = False
        for n_iter in range(1, max_iter + 1):
            stats = _reduce_lloyd(run(_Lloyd(centres=C, far=0, **cols)), k)
            empty = np.flatnonzero(stats["counts"] == 0)
            new = C.copy()
            full = stats["counts"] > 0
            new[full] = stats["sums"][full] / stats["counts"][full, None]
            if empty.size and n_iter < max_iter:
                far = _reduce_far(run(_Lloyd(centres=C, far=empty.size, **cols)), empty.size)
                new[empty[: far.shape[0]]] = far
            if float(((new - C) ** 2).sum()) <= tol * variance:
                converged = True
                break
            if n_iter == max_iter:
                break
            C = new
        sel = _picks(stats, C, k, run, cols)
    ids, sizes, dist = sel
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise InvalidInputError(
            f"id {shorten(uniq[counts > 1][0].item())} appears in more than one row of the "
            "shards; ids must be unique over the whole pool."
        )
    info = {
        "n_clusters": k,
        "inertia": stats["inertia"],
        "n_iter": n_iter,
        "converged": converged,
        "seed": seed,
        "passes": state["passes"],
        "n_seeds": int(sum(p["seeds"].shape[0] for p in seeded)),
        "score_is": "rows in the pick's cluster",
    }
    return KMeansSelection(ids, sizes, dist, C, stats["counts"], stats["inertia"], info)


def _reduce_lloyd(parts: list[dict], k: int) -> dict:
    """Sum the shards' statistics; the nearest member of each centre over all shards."""
    sums = sum(p["sums"] for p in parts)
    counts = sum(p["counts"] for p in parts)
    inertia = float(sum(p["inertia"] for p in parts))
    near_id = np.concatenate([p["near_id"] for p in parts])
    near_d2 = np.concatenate([p["near_d2"] for p in parts])
    near_c = np.concatenate([p["near_centre"] for p in parts])
    pos = _nearest_members(near_id, near_c, near_d2, k)
    return {"sums": sums, "counts": counts, "inertia": inertia,
            "near_id": near_id[pos[pos >= 0]], "near_d2": near_d2[pos[pos >= 0]],
            "near_centre": np.flatnonzero(pos >= 0)}  # fmt: skip


def _reduce_far(parts: list[dict], m: int) -> np.ndarray:
    """The ``m`` rows farthest from their centres over all shards, skipping those at 0."""
    ids = np.concatenate([p["far_id"] for p in parts])
    d2 = np.concatenate([p["far_d2"] for p in parts])
    x = np.concatenate([p["far_x"] for p in parts])
    pos = best_rows(ids, d2, m)
    return x[pos[d2[pos] > 0]]


def _picks(stats: dict, C: np.ndarray, k: int, run, cols: dict):
    """(ids, cluster sizes, distances) of the picks, largest cluster first, in turns."""
    counts = stats["counts"]
    order = np.argsort(-counts, kind="stable")  # ties: the seeding's order
    quota = _round_robin_quota(counts, order, k)
    if quota.max() <= 1:
        by_centre = {c: i for i, c in enumerate(stats["near_centre"].tolist())}
        pick = [by_centre[c] for c in order if quota[c]]
        return (
            stats["near_id"][pick],
            counts[stats["near_centre"][pick]].astype(np.float64),
            np.sqrt(stats["near_d2"][pick]),
        )
    # fewer non-empty clusters than picks: the next-nearest members too, in turns
    parts = run(_Members(centres=C, quota=quota, **cols))
    ids = np.concatenate([p["id"] for p in parts])
    d2 = np.concatenate([p["d2"] for p in parts])
    centre = np.concatenate([p["centre"] for p in parts])
    groups = []
    for c in order:
        rows = np.flatnonzero(centre == c)
        groups.append(rows[best_rows(ids[rows], -d2[rows], int(quota[c]))])
    turns = [g[t] for t in range(int(quota.max())) for g in groups if t < g.size]
    pick = np.asarray(turns, dtype=np.intp)
    return ids[pick], counts[centre[pick]].astype(np.float64), np.sqrt(d2[pick])
