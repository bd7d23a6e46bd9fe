"""Benchmark of ``labelwise.monitor`` next to Evidently and alibi-detect, same data, same run.

Every detector runs in a process of its own (``benchmarks/peers/worker.py``) on the
same ``.npy`` files: labelwise and the scipy baseline in this interpreter, the peers in
their virtualenvs (``bash benchmarks/peers/setup.sh`` builds them from exact pins:
evidently 0.7.23 needs pandas < 3, alibi-detect 0.13.0 numpy 1.26; neither is a
dependency of labelwise). A peer whose virtualenv is absent is reported as such and the
rest still runs.

Detectors, at their defaults:

- ``labelwise_features``: per-feature KS (one vectorised pass over all columns) +
  Benjamini–Hochberg, drift when the smallest adjusted p <= 0.05;
- ``labelwise_verdict``: the whole ``detect_drift`` (features, classifier two-sample
  test, outliers; BH over the families);
- ``scipy_ks_bonferroni``: ``scipy.stats.ks_2samp`` per column, Bonferroni;
- ``evidently``: ``Report([DataDriftPreset()])``, its dataset-drift rule (a share of
  drifted columns >= 0.5; per column a Wasserstein distance > 0.1 of the reference's
  spread when the reference has more than 1,000 rows); ``evidently_any_column`` (any
  column drifted) comes from the same run;
- ``alibi_ksdrift``: ``KSDrift(x_ref, p_val=0.05)`` (Bonferroni); extra row
  ``alibi_ksdrift_fdr`` (``correction="fdr"``).

Measured (JSON on stdout; ``--out FILE`` writes it too, only once the run completes):

- ``power``: per mean shift (in standard deviations, on 3 of 20 features) the share of
  batches of 500 rows against a reference of 5,000 whose verdict is drift; shift 0 is
  the false-alarm rate over ``--null-repeats`` i.i.d. batches, the others use
  ``--repeats``;
- ``seconds_per_10k_batch``: a 10,000 x 20 batch against a 10,000-row reference;
- ``seconds_100k_x_50``: a 100,000 x 50 batch against 20,000 reference rows, median of
  ``--timing-runs`` warm runs, with ``peak_rss_growth_mb`` and ``tracemalloc_peak_mb``;
- ``ratios_100k_x_50``: each detector's seconds over labelwise's per-feature tests;
  ``cpu_seconds_100k_x_50`` and ``cpu_ratios_100k_x_50`` the same in CPU seconds of the
  worker process, which a busy machine disturbs less than wall time;
- ``load_average`` before and after (the machine may be shared: rerun it idle).

Run: ``python benchmarks/bench_monitor.py --out benchmarks/results/monitor.json``
(defaults: 20 repeats, 100 null batches, 3 timing runs: about 14 minutes on 2 busy
cores, Evidently's 2 s per 500-row report most of it). A quick check, about 4 minutes:
``--repeats 2 --null-repeats 4 --timing-runs 1``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import emit, log

HERE = Path(__file__).resolve().parent
WORKER = HERE / "peers" / "worker.py"
SHIFTS = (0.0, 0.1, 0.2, 0.3, 0.5)
OURS = ("labelwise_features", "labelwise_verdict", "scipy_ks_bonferroni")
PEERS = {  # detector -> its virtualenv
    "evidently": HERE / "peers" / ".venv" / "evidently",
    "alibi_ksdrift": HERE / "peers" / ".venv" / "alibi",
    "alibi_ksdrift_fdr": HERE / "peers" / ".venv" / "alibi",
}


def _data(rng, n, d=20, shift=0.0, k=3):
    X = rng.normal(size=(n, d))
    X[:, :k] += shift
    return X


def _write_data(d: Path, repeats: int, null_repeats: int) -> None:
    rng = np.random.default_rng(0)
    np.save(d / "ref.npy", _data(rng, 5000))
    for s in SHIFTS:
        n = null_repeats if s == 0 else repeats
        np.save(d / f"shift_{s}.npy", np.stack([_data(rng, 500, shift=s) for _ in range(n)]))
    np.save(d / "ref_10k.npy", _data(rng, 10_000))
    np.save(d / "batch_10k.npy", _data(rng, 10_000, shift=0.1))
    np.save(d / "ref_100k.npy", _data(rng, 20_000, d=50))
    np.save(d / "batch_100k.npy", _data(rng, 100_000, d=50, shift=0.05))


def _run(python: str, detector: str, d: Path, timing_runs: int) -> dict:
    log(f"{detector} ({python})", "monitor")
    p = subprocess.run(
        [python, str(WORKER), detector, str(d), "--timing-runs", str(timing_runs)],
        capture_output=True,
        text=True,
        check=False,
    )
    if p.returncode != 0:
        return {"error": p.stderr.strip().splitlines()[-1][:300] if p.stderr.strip() else "?"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20, help="batches per shift > 0")
    ap.add_argument("--null-repeats", type=int, default=100, help="i.i.d. batches (shift 0)")
    ap.add_argument("--timing-runs", type=int, default=3)
    ap.add_argument("--out", type=Path, help="also write the JSON here, once complete")
    args = ap.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    runs, peers = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        d = Path(tmp)
        _write_data(d, args.repeats, args.null_repeats)
        for det in OURS:
            runs[det] = _run(sys.executable, det, d, args.timing_runs)
        for det, venv in PEERS.items():
            py = venv / "bin" / "python"
            if not py.exists():
                peers[det] = f"not installed: run bash benchmarks/peers/setup.sh ({venv})"
                continue
            runs[det] = _run(str(py), det, d, args.timing_runs)
            peers[det] = (
                f"error: {runs[det]['error']}" if "error" in runs[det] else runs[det]["version"]
            )

    power: dict = {str(s): {} for s in SHIFTS}
    for r in runs.values():
        for name, by_shift in r.get("verdicts", {}).items():
            for s, hits in by_shift.items():
                power[s][name] = round(float(np.mean(hits)), 3)
    ok = {k: r for k, r in runs.items() if "error" not in r}
    t100 = {k: r["seconds_100k_x_50"]["median"] for k, r in ok.items()}
    base = t100.get("labelwise_features")
    cpu100 = {k: r["seconds_100k_x_50"]["cpu_median"] for k, r in ok.items()}
    result = {
        "setup": {
            "power": "reference 5,000 x 20; batches of 500; mean shift on 3 of 20 features",
            "repeats": args.repeats,
            "null_repeats": args.null_repeats,
            "seconds_per_10k_batch": "10,000 x 20 batch, 10,000-row reference",
            "seconds_100k_x_50": "100,000 x 50 batch (shift 0.05 on 3), 20,000-row reference",
            "timing_runs": args.timing_runs,
            "cpus": os.cpu_count(),
        },
        "power": power,
        "seconds_per_10k_batch": {k: r["seconds_per_10k_batch"]["median"] for k, r in ok.items()},
        "seconds_100k_x_50": t100,
        "ratios_100k_x_50": {k: round(v / base, 1) for k, v in t100.items()} if base else None,
        "cpu_seconds_100k_x_50": cpu100,
        "cpu_ratios_100k_x_50": (
            {k: round(v / cpu100["labelwise_features"], 1) for k, v in cpu100.items()}
            if "labelwise_features" in cpu100
            else None
        ),
        "peak_rss_growth_mb_100k_x_50": {k: r["peak_rss_growth_mb"] for k, r in ok.items()},
        "tracemalloc_peak_mb_100k_x_50": {k: r["tracemalloc_peak_mb"] for k, r in ok.items()},
        "peers": peers,
        "errors": {k: r["error"] for k, r in runs.items() if "error" in r},
        "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
        "runs": {k: {n: v for n, v in r.items() if n != "verdicts"} for k, r in runs.items()},
    }
    emit(result)
    if args.out and not result["errors"]:
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
