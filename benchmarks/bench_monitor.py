"""Benchmark of ``labelwise.monitor``: detection power against shift size, false alarms, speed.

Prints one JSON object:

- ``power``: per mean shift (in standard deviations, on 3 of 20 features) the share of
  ``--repeats`` batches of 500 rows whose verdict is drift (shift 0: the false-alarm
  rate), for labelwise's per-feature tests (KS + Benjamini–Hochberg), its whole
  verdict, and the peers that import here;
- ``seconds_per_10k_batch``: the full verdict on a 10,000 x 20 batch (reference 10,000);
- ``seconds_100k_x_50``: the full verdict on a 100,000 x 50 batch (reference 20,000),
  and the per-feature data-drift part alone, next to the peers' data-drift tests.

Peers: Evidently (``DataDriftPreset``) when it imports; alibi-detect is not installed
(its wheel pins numpy 1.26 and would downgrade the project's numpy). A scipy-only
baseline (KS per feature with Bonferroni, what alibi-detect's ``KSDrift`` computes) stands
in for it.

Run: ``python benchmarks/bench_monitor.py [--repeats 20]`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def _data(rng, n, d=20, shift=0.0, k=3):
    X = rng.normal(size=(n, d))
    X[:, :k] += shift
    return X


def _scipy_ks_bonferroni(R, B, alpha=0.05) -> bool:
    from scipy.stats import ks_2samp

    p = [ks_2samp(R[:, j], B[:, j]).pvalue for j in range(R.shape[1])]
    return min(p) <= alpha / len(p)


def _evidently():
    try:
        import pandas as pd
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except Exception as e:  # any import failure: the peer is reported as missing
        return None, f"{type(e).__name__}: {e}"[:200]

    def run(R, B) -> bool:
        cols = [f"f{j}" for j in range(R.shape[1])]
        snap = Report([DataDriftPreset()]).run(
            pd.DataFrame(B, columns=cols), pd.DataFrame(R, columns=cols)
        )
        d = snap.dict()
        for m in d["metrics"]:
            v = m.get("value")
            if isinstance(v, dict) and "share" in v:  # DriftedColumnsCount: share of drifted
                return v["share"] >= 0.5  # Evidently's default dataset-drift rule
        raise RuntimeError("no drifted-columns metric in the Evidently report")

    return run, None


def main() -> None:
    from labelwise.monitor import bh_adjust, detect_drift, feature_tests

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    ev, ev_missing = _evidently()
    R = _data(rng, 5000)
    power = {}
    for shift in (0.0, 0.1, 0.2, 0.3, 0.5):
        hits = {"labelwise_features": 0, "labelwise_verdict": 0, "scipy_ks_bonferroni": 0}
        if ev:
            hits["evidently"] = 0
        for i in range(args.repeats):
            B = _data(rng, 500, shift=shift)
            adj = bh_adjust([t.p_value for t in feature_tests(R, B)])
            hits["labelwise_features"] += bool(adj.min() <= 0.05)
            hits["labelwise_verdict"] += detect_drift(R, B, random_state=i).drift
            hits["scipy_ks_bonferroni"] += _scipy_ks_bonferroni(R, B)
            if ev:
                hits["evidently"] += ev(R, B)
        power[str(shift)] = {k: v / args.repeats for k, v in hits.items()}

    R10, B10 = _data(rng, 10_000), _data(rng, 10_000, shift=0.1)
    t0 = time.perf_counter()
    detect_drift(R10, B10)
    t10k = time.perf_counter() - t0

    R100, B100 = _data(rng, 20_000, d=50), _data(rng, 100_000, d=50, shift=0.05)
    timing = {}
    t0 = time.perf_counter()
    detect_drift(R100, B100)
    timing["labelwise_verdict"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    feature_tests(R100, B100)
    timing["labelwise_feature_tests"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    _scipy_ks_bonferroni(R100, B100)
    timing["scipy_ks_bonferroni"] = time.perf_counter() - t0
    if ev:
        t0 = time.perf_counter()
        ev(R100, B100)
        timing["evidently"] = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "repeats": args.repeats,
                "batch_rows": 500,
                "reference_rows": 5000,
                "shifted_features": "3 of 20",
                "power": power,
                "seconds_per_10k_batch": round(t10k, 3),
                "seconds_100k_x_50": {k: round(v, 3) for k, v in timing.items()},
                "evidently": "used" if ev else f"not importable: {ev_missing}",
                "alibi_detect": "not installed: its wheel pins numpy 1.26 (would downgrade "
                "the project's numpy); scipy_ks_bonferroni computes what its KSDrift does",
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
