"""Run one data-drift detector on the arrays ``bench_monitor.py`` saved; print JSON.

Runs in the interpreter that has the detector: the project's own for labelwise and the
scipy baseline, a peer's virtualenv (``setup.sh``) for Evidently and alibi-detect. It
imports nothing but numpy, the standard library and the detector, so that every
detector is timed the same way, in a process of its own, on the same ``.npy`` files::

    python benchmarks/peers/worker.py DETECTOR DATA_DIR [--timing-runs 3]

DETECTOR is one of ``labelwise_features``, ``labelwise_verdict``, ``scipy_ks_bonferroni``,
``evidently``, ``alibi_ksdrift``, ``alibi_ksdrift_fdr``. Output (one JSON object):
``verdicts`` (per verdict name and shift, one 0/1 per batch), ``seconds_per_10k_batch``
and ``seconds_100k_x_50`` (medians of ``--timing-runs`` warm runs, with every run, and
the median CPU seconds of the process),
``peak_rss_growth_mb`` (growth of the process's peak resident memory over the first
100k x 50 run) and ``tracemalloc_peak_mb`` (peak of the allocations Python and numpy
report during one more run), ``version``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ALPHA = 0.05


def _labelwise_features():
    from labelwise.monitor import bh_adjust, feature_tests

    def run(R, B, i):
        adj = bh_adjust([t.p_value for t in feature_tests(R, B)])
        return {"labelwise_features": bool(adj.min() <= ALPHA)}

    return run, "labelwise"


def _labelwise_verdict():
    from labelwise.monitor import detect_drift

    def run(R, B, i):
        return {"labelwise_verdict": bool(detect_drift(R, B, alpha=ALPHA, random_state=i).drift)}

    return run, "labelwise"


def _scipy_ks_bonferroni():
    from scipy.stats import ks_2samp

    def run(R, B, i):
        p = [ks_2samp(R[:, j], B[:, j]).pvalue for j in range(R.shape[1])]
        return {"scipy_ks_bonferroni": bool(min(p) <= ALPHA / len(p))}

    return run, "scipy"


def _evidently():
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    def run(R, B, i):
        cols = [f"f{j}" for j in range(R.shape[1])]
        snap = Report([DataDriftPreset()]).run(
            pd.DataFrame(B, columns=cols), pd.DataFrame(R, columns=cols)
        )
        for m in snap.dict()["metrics"]:
            if m["config"].get("type", "").endswith("DriftedColumnsCount"):
                share, count = m["value"]["share"], m["value"]["count"]
                return {
                    # the preset's dataset drift: a share of drifted columns >= drift_share
                    "evidently": bool(share >= m["config"]["drift_share"]),
                    "evidently_any_column": bool(count > 0),
                }
        raise RuntimeError("no DriftedColumnsCount metric in the Evidently report")

    return run, "evidently"


def _alibi(correction: str):
    def make():
        from alibi_detect.cd import KSDrift

        def run(R, B, i):
            cd = KSDrift(R, p_val=ALPHA, correction=correction)  # all else at its defaults
            name = "alibi_ksdrift" if correction == "bonferroni" else "alibi_ksdrift_fdr"
            return {name: bool(cd.predict(B)["data"]["is_drift"])}

        return run, "alibi-detect"

    return make


DETECTORS = {
    "labelwise_features": _labelwise_features,
    "labelwise_verdict": _labelwise_verdict,
    "scipy_ks_bonferroni": _scipy_ks_bonferroni,
    "evidently": _evidently,
    "alibi_ksdrift": _alibi("bonferroni"),
    "alibi_ksdrift_fdr": _alibi("fdr"),
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _timed(run, R, B, runs: int) -> dict:
    """Wall seconds (median and each run) and CPU seconds (median: steadier on a busy machine)."""
    ts, cpu = [], []
    for i in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        run(R, B, i)
        ts.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        "median": round(statistics.median(ts), 4),
        "runs": [round(t, 4) for t in ts],
        "cpu_median": round(statistics.median(cpu), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("detector", choices=sorted(DETECTORS))
    ap.add_argument("data", type=Path)
    ap.add_argument("--timing-runs", type=int, default=3)
    args = ap.parse_args()
    from importlib import metadata

    run, dist = DETECTORS[args.detector]()
    d = args.data
    out: dict = {"detector": args.detector, "python": sys.version.split()[0]}
    out["version"] = metadata.version(dist)
    out["numpy"] = np.__version__

    R = np.load(d / "ref.npy")
    run(R[:300], R[300:400], 0)  # imports and first-call costs, not timed
    verdicts: dict = {}
    for f in sorted(d.glob("shift_*.npy")):
        shift = f.stem.removeprefix("shift_")
        for i, B in enumerate(np.load(f)):
            for name, v in run(R, B, i).items():
                verdicts.setdefault(name, {}).setdefault(shift, []).append(int(v))
    out["verdicts"] = verdicts

    R10, B10 = np.load(d / "ref_10k.npy"), np.load(d / "batch_10k.npy")
    out["seconds_per_10k_batch"] = _timed(run, R10, B10, args.timing_runs)

    R100, B100 = np.load(d / "ref_100k.npy"), np.load(d / "batch_100k.npy")
    before = _rss_mb()
    out["seconds_100k_x_50"] = _timed(run, R100, B100, args.timing_runs)
    out["peak_rss_growth_mb"] = round(_rss_mb() - before, 1)
    tracemalloc.start()
    run(R100, B100, 0)
    out["tracemalloc_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    tracemalloc.stop()
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
