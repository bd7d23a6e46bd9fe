#!/usr/bin/env python
"""Typicality selection: labelwise vs scikit-activeml ``TypiClust()`` at its defaults.

Usage::

    python benchmarks/bench_typicality.py            # 100,000 x 50 float64, batch 100
    python benchmarks/bench_typicality.py --quick    # 5,000 x 20, batch 20 (smoke test)
    python benchmarks/bench_typicality.py --skip-exact   # leave out the slow global mode

Prints ONE JSON object on stdout (progress and a table on stderr). Everything runs in one
process on the data of ``bench_density.py`` (10 Gaussian blobs, same seed) as float64, no
labeled rows, every row a candidate. Each call runs once to warm up, then ``--rounds`` times;
``seconds`` is the median, ``min_s`` the fastest; rounds interleave the libraries so that
load swings hit them alike. The load average is recorded before and after.

Rows:

- labelwise ``typicality`` at its defaults (clustered on pools over 20,000 rows: k-means
  into ``n_labeled + batch`` clusters, typicality with k = 20 inside the largest uncovered
  clusters only, as TypiClust) and with ``method="exact"`` (global kNN typicality, top-k);
- scikit-activeml ``TypiClust()`` at its defaults (sklearn ``KMeans``, k = 5), the peer as a
  user calls it, and ``TypiClust(k=20)`` as an extra row.

Agreement: the Spearman correlation of within-cluster typicality (k = 20, labelwise's
clusters) with global typicality over every row; how many of the clustered picks are in the
exact global top-``batch``; how many of labelwise's picks are TypiClust's picks, and in how
many of labelwise's clusters both pick (``cluster_overlap``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
from _common import emit, log, version  # noqa: E402  (benchmarks/ is on sys.path)
from bench_density import SEED, make_data  # noqa: E402

FULL = {"n": 100_000, "d": 50, "batch_size": 100, "rounds": 3}
QUICK = {"n": 5_000, "d": 20, "batch_size": 20, "rounds": 2}


def _calls(X, b, exact: bool):
    from skactiveml.pool import TypiClust

    from labelwise.strategies import get_strategy
    from labelwise.strategies._registry import QueryContext

    ctx = QueryContext(candidates=np.arange(X.shape[0]), X=X)
    y = np.full(X.shape[0], np.nan)
    strat = get_strategy("typicality")
    cluster = strat.with_params(method="cluster")
    calls = {
        # method="cluster" is the default over 20,000 rows; spelled out for --quick
        "labelwise_typicality": lambda: cluster.query(ctx, b, SEED).indices,
        "skactiveml_TypiClust()": lambda: TypiClust(random_state=SEED).query(X, y, batch_size=b),
        "skactiveml_TypiClust(k=20)": lambda: TypiClust(random_state=SEED, k=20).query(
            X, y, batch_size=b
        ),
    }
    if exact:
        exact_strat = strat.with_params(method="exact")
        calls["labelwise_typicality_exact"] = lambda: exact_strat.query(ctx, b, SEED).indices
    return calls


def _agreement(X, b, picks: dict) -> dict:
    from scipy.stats import spearmanr

    from labelwise.strategies._density import typicality
    from labelwise.strategies._typiclust import cluster_typicality, typiclust

    lw, _, _, _, assign = typiclust(
        X, labeled=[], candidates=np.arange(X.shape[0]), batch_size=b, random_state=SEED
    )
    assert lw.tolist() == picks["labelwise_typicality"].tolist()
    t0 = time.perf_counter()
    within = np.empty(X.shape[0])
    for c in np.unique(assign):
        rows = np.flatnonzero(assign == c)
        within[rows] = cluster_typicality(X[rows], 20)
    within_s = time.perf_counter() - t0
    glob = typicality(X, k=20)
    top = set(np.argsort(-glob, kind="stable")[:b].tolist())
    out = {
        "spearman_within_cluster_vs_global": float(spearmanr(within, glob).statistic),
        "within_cluster_typicality_all_rows_s": within_s,
        "picks_in_global_top_b": len(top & set(lw.tolist())),
    }
    for name in ("skactiveml_TypiClust()", "skactiveml_TypiClust(k=20)"):
        tc = picks[name]
        out[f"picks_shared_with_{name}"] = len(set(tc.tolist()) & set(lw.tolist()))
        out[f"cluster_overlap_with_{name}"] = len(set(assign[tc].tolist()) & set(assign[lw]))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--quick", action="store_true", help="5,000 x 20, batch 20")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds per call")
    p.add_argument("--skip-exact", action="store_true", help="leave out method='exact'")
    args = p.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.rounds:
        cfg["rounds"] = args.rounds
    n, d, b = cfg["n"], cfg["d"], cfg["batch_size"]
    X = make_data(n, d)[0].astype(np.float64)
    load_before = os.getloadavg()
    calls = _calls(X, b, exact=not args.skip_exact)
    times: dict[str, list[float]] = {k: [] for k in calls}
    picks = {}
    for name, fn in calls.items():
        log(f"warm-up {name}")
        picks[name] = np.asarray(fn())
    for r in range(cfg["rounds"]):
        for name, fn in calls.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
            log(f"round {r + 1} {name}: {times[name][-1]:.3f} s")
    rows = {
        k: {"seconds": statistics.median(v), "min_s": min(v), "runs": v} for k, v in times.items()
    }
    peer = rows["skactiveml_TypiClust()"]["seconds"]
    for v in rows.values():
        v["speedup_vs_TypiClust_defaults"] = peer / v["seconds"]
    result = {
        "benchmark": "typicality",
        "config": cfg,
        "versions": {"scikit-activeml": version("scikit-activeml"), "numpy": np.__version__},
        "cpus": os.cpu_count(),
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "results": rows,
        "agreement": _agreement(X, b, picks),
    }
    print(f"{'call':32s} {'median s':>9s} {'min s':>7s} {'vs TypiClust()':>15s}", file=sys.stderr)
    for k, v in rows.items():
        print(
            f"{k:32s} {v['seconds']:9.3f} {v['min_s']:7.3f} "
            f"{v['speedup_vs_TypiClust_defaults']:14.2f}x",
            file=sys.stderr,
        )
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
