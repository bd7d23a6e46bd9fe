"""labelwise score on Parquet shards: margin top-1,000, --engine local vs --engine ray.

Writes a pool of N rows x 32 float32 probability columns in S shards (issue 15 asks
for 10M x 32 in 16 shards; --rows scales it down on a busy machine), then measures
on the same cores: rows/s for each engine (warm: one run first, then the median of
--repeat), the driver's peak memory (tracemalloc, local engine) and Ray's overhead
(ray time / local time). Checks that both engines pick the same ids. JSON on stdout.

A second row, ``kmeans_equal`` (distributed k-means, --kmeans-k clusters), runs on a
smaller pool of Gaussian blobs (--kmeans-rows x --kmeans-features float32, same
shards): every Lloyd iteration reads the pool once, so it reports seconds, passes
and rows/s (pool rows / seconds), local vs Ray under one seed, and the inertia
against scikit-learn's KMeans at its defaults on the whole pool.

    python benchmarks/bench_score.py --rows 10000000 --shards 16 --cpus 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _common import json_default, log, version

from labelwise.scale import score_shards


def write_pool(folder: Path, n_rows: int, n_shards: int, n_classes: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    bounds = np.linspace(0, n_rows, n_shards + 1).astype(np.int64)
    for s in range(n_shards):
        lo, hi = int(bounds[s]), int(bounds[s + 1])
        # softmax of Gumbel-ish logits: valid probabilities, rows sum to 1 in float32
        z = rng.standard_normal((hi - lo, n_classes), dtype=np.float32) * 2
        e = np.exp(z - z.max(axis=1, keepdims=True))
        p = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        cols = {"id": np.arange(lo, hi, dtype=np.int64)}
        cols.update({f"p_{j}": p[:, j] for j in range(n_classes)})
        pq.write_table(pa.table(cols), folder / f"part-{s:03d}.parquet", row_group_size=131_072)


def write_blobs(folder: Path, n_rows: int, n_shards: int, n_features: int, seed: int = 0):
    """Gaussian blobs around 4 x sqrt(rows) centres, ids shuffled over the shards."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    centres = rng.normal(scale=4, size=(int(4 * n_rows**0.5), n_features))
    X = centres[rng.integers(len(centres), size=n_rows)]
    X = (X + rng.standard_normal((n_rows, n_features))).astype(np.float32)
    ids = rng.permutation(n_rows).astype(np.int64)
    for s, rows in enumerate(np.array_split(np.arange(n_rows), n_shards)):
        cols = {"id": ids[rows], **{f"f_{j}": X[rows, j] for j in range(n_features)}}
        pq.write_table(pa.table(cols), folder / f"part-{s:03d}.parquet")
    return X


def timed(fn, repeat: int) -> tuple[float, object]:
    fn()  # warm: imports, Ray's workers, the page cache
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def kmeans_row(km: dict, X: np.ndarray, args) -> dict:
    """The kmeans_equal row: both engines, and the inertia against scikit-learn's."""
    from sklearn.cluster import KMeans

    (t_local, local), (t_ray, remote) = km["local"], km["ray"]
    t = time.perf_counter()
    sk = KMeans(args.kmeans_k, random_state=0).fit(X.astype(np.float64))
    t_sk = time.perf_counter() - t
    info = local.info
    return {
        "pool": {"rows": args.kmeans_rows, "features": args.kmeans_features, "k": args.kmeans_k},
        "passes": info["passes"],
        "n_iter": info["n_iter"],
        "local": {"seconds": round(t_local, 3), "rows_per_s": round(args.kmeans_rows / t_local)},
        "ray": {"seconds": round(t_ray, 3), "rows_per_s": round(args.kmeans_rows / t_ray)},
        "ray_overhead": round(t_ray / t_local, 2),
        "same_picks": bool(np.array_equal(local.ids, remote.ids)),
        "inertia": round(info["inertia"], 1),
        "sklearn_kmeans_in_memory": {"seconds": round(t_sk, 3), "inertia": round(sk.inertia_, 1)},
        "inertia_ratio": round(info["inertia"] / sk.inertia_, 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--classes", type=int, default=32)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--cpus", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kmeans-rows", type=int, default=200_000, help="0: no kmeans row")
    ap.add_argument("--kmeans-features", type=int, default=16)
    ap.add_argument("--kmeans-k", type=int, default=100)
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        write_pool(folder, args.rows, args.shards, args.classes)
        log(
            f"wrote {args.rows:,} x {args.classes} in {args.shards} shards "
            f"({time.perf_counter() - t:.1f} s)"
        )
        pool_mb = args.rows * (8 + 4 * args.classes) / 1e6
        kw = dict(strategy="margin", batch_size=args.batch, proba_prefix="p_")

        t_local, local = timed(lambda: score_shards(folder, **kw), args.repeat)
        log(f"local: {t_local:.2f} s")
        tracemalloc.start()
        score_shards(folder, **kw)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        km = {}
        if args.kmeans_rows:
            blobs = folder / "blobs"
            X = write_blobs(blobs, args.kmeans_rows, args.shards, args.kmeans_features)
            kmkw = dict(strategy="kmeans_equal", batch_size=args.kmeans_k, random_state=0)
            km["local"] = timed(lambda: score_shards(blobs, **kmkw), 1)
            log(f"kmeans_equal local: {km['local'][0]:.2f} s")

        import ray

        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        t = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        t_init = time.perf_counter() - t
        try:
            t_ray, remote = timed(lambda: score_shards(folder, engine="ray", **kw), args.repeat)
            if km:
                km["ray"] = timed(lambda: score_shards(blobs, engine="ray", **kmkw), 1)
                log(f"kmeans_equal ray: {km['ray'][0]:.2f} s")
        finally:
            ray.shutdown()
        log(f"ray: {t_ray:.2f} s (+ {t_init:.1f} s to start the cluster)")

    same = bool(
        np.array_equal(local.ids, remote.ids) and np.array_equal(local.scores, remote.scores)
    )
    # core-microseconds per row on Ray, which keeps every core busy (local runs on one)
    per_row_us = t_ray * args.cpus / args.rows * 1e6
    result = {
        "pool": {
            "rows": args.rows,
            "columns": args.classes,
            "dtype": "float32",
            "shards": args.shards,
            "size_mb": round(pool_mb, 1),
        },
        "strategy": f"margin top-{args.batch}",
        "cpus": args.cpus,
        "local": {"seconds": round(t_local, 3), "rows_per_s": round(args.rows / t_local)},
        "ray": {
            "seconds": round(t_ray, 3),
            "rows_per_s": round(args.rows / t_ray),
            "cluster_start_s": round(t_init, 1),
        },
        "ray_overhead": round(t_ray / t_local, 2),
        "driver_peak_mb_local": round(peak / 1e6, 1),
        "same_picks": bool(same),
        "core_us_per_row_ray": round(per_row_us, 3),
        "versions": {
            "ray": version("ray"),
            "pyarrow": version("pyarrow"),
            "numpy": version("numpy"),
        },
    }
    if km:
        result["kmeans_equal"] = kmeans_row(km, X, args)
    # a 100M / 1B pool from the measured per-row cost, linear in cores
    for n in (100_000_000, 1_000_000_000):
        core_s = per_row_us * n / 1e6
        result[f"estimate_{n:.0e}"] = {
            "core_hours": round(core_s / 3600, 2),
            "hours_on_64_cores": round(core_s / 64 / 3600, 3),
            "pool_gb": round(n * (8 + 4 * args.classes) / 1e9, 1),
        }
    text = json.dumps(result, indent=2, default=json_default)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
