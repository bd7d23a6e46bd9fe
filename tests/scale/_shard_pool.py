"""Pools written as Parquet shards inside the test, and their in-memory twin to check against."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def write_pool(
    folder, *, n_rows, n_shards, n_classes=4, n_features=0, seed=0, ties=False, proba=True
):
    """Shards of ``id`` (int64, shuffled), ``p_0..`` (float32 probabilities) and ``f_0..``.

    Returns (ids, proba, X) of the whole pool, in shard order, as the test's reference.
    With ``ties`` the probabilities are rounded to a coarse grid: many equal scores.
    Without ``proba`` the shards hold no probability columns (a model computes them).
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ids = rng.permutation(n_rows).astype(np.int64) * 7 + 3
    p = rng.dirichlet(np.full(n_classes, 0.7), size=n_rows).astype(np.float32)
    if ties:
        p = np.round(p * 8) / 8
        p[:, -1] = 1.0 - p[:, :-1].sum(axis=1)
        p = np.clip(p, 0, 1)
        p /= p.sum(axis=1, keepdims=True)
        p = p.astype(np.float32)
    X = rng.normal(size=(n_rows, n_features)).astype(np.float32)
    bounds = np.linspace(0, n_rows, n_shards + 1).astype(int)
    for s in range(n_shards):
        lo, hi = bounds[s], bounds[s + 1]
        cols = {"id": ids[lo:hi]}
        if proba is not False:
            cols.update({f"p_{j}": p[lo:hi, j] for j in range(n_classes)})
        cols.update({f"f_{j}": X[lo:hi, j] for j in range(n_features)})
        pq.write_table(pa.table(cols), folder / f"part-{s:02d}.parquet", row_group_size=50_000)
    return ids, p, X


def reference_top_k(ids, scores, k):
    """The pool's top k by (score desc, id asc), by one full lexsort: no partition, no merge."""
    order = np.lexsort((ids, -scores))[:k]
    return ids[order], scores[order]
