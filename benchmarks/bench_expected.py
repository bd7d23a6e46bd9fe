#!/usr/bin/env python
"""Benchmark: labelwise expected error reduction / expected gradient length vs scikit-activeml.

Usage::

    python benchmarks/bench_expected.py            # full run (~8-10 min on 2 shared cores)
    python benchmarks/bench_expected.py --quick    # small sizes, well under a minute

Prints ONE JSON object on stdout; progress goes to stderr. Save it with::

    python benchmarks/bench_expected.py > benchmarks/results/expected.json

What is measured (one process, the same arrays for both libraries):

1. Expected error reduction (EER) on a ``make_classification`` pool of 100,000 x 50
   with 4 classes, a ``LogisticRegression(max_iter=1000)`` fitted on 200 labeled rows,
   200 candidates (pre-filtered by margin) and 2,000 evaluation rows. labelwise
   ``expected_error_reduction`` (log and 0/1 loss) against scikit-activeml
   ``MonteCarloEER`` (``log_loss``) given exactly the same 200 candidates
   (``candidates=`` indices) and the same 2,000 evaluation rows (``X_eval=``), so both
   do the same 800 (candidate, label) refits. The peer refits with ``fit`` from scratch
   (its default ``ignore_partial_fit=True``); labelwise with its warm-started solver.
   A pilot with 10 candidates projects the peer's full time; if the projection is over
   ``peer_limit_s`` (5 min) the peer runs on a smaller pool instead, and the JSON says so.
2. Agreement: Spearman correlation and top-1 / top-10 overlap between labelwise scores
   and the peer's utilities on the same candidates (both losses; 0/1 on a smaller pool).
3. labelwise EER at 2, 4 and 10 classes, and at 10k / 100k / 1M pool rows with the same
   n_candidates and n_eval (its cost must not grow with the pool beyond one predict_proba).
4. Expected gradient length on 100,000 rows (4 and 10 classes), checked against an
   explicit per-class gradient computation on a subset. scikit-activeml and modAL have no
   EGL for classifiers, so there is no peer timing.

Both libraries run with BLAS limited to one thread (``threadpoolctl``): on this 2-core
shared machine a second BLAS thread makes the many small solves 3-10x slower for both
(labelwise limits itself to one thread inside the warm-started solver anyway).

Peer libraries are benchmark-only dependencies, never imported by labelwise itself::

    pip install scikit-activeml   # never install torch / CUDA for this benchmark
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np
from _common import log, version  # noqa: E402  (benchmarks/ is on sys.path)
from scipy.stats import spearmanr
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from labelwise.strategies._expected import expected_error_reduction, expected_gradient_length

SEED = 0

FULL = {
    "n_pool": 100_000,
    "n_features": 50,
    "n_informative": 20,
    "n_classes": 4,
    "n_labeled": 200,
    "n_candidates": 200,
    "n_eval": 2_000,
    "repeats": 3,
    "peer_pilot_candidates": 10,
    "peer_limit_s": 300.0,
    "peer_small_pool": 10_000,
    "agreement_pool": 10_000,
    "classes_sweep": [2, 4, 10],
    "pool_sweep": [10_000, 100_000, 1_000_000],
    "egl_rows": 100_000,
    "egl_classes": [4, 10],
    "egl_check_rows": 2_000,
}

QUICK = {
    "n_pool": 5_000,
    "n_features": 20,
    "n_informative": 10,
    "n_classes": 4,
    "n_labeled": 60,
    "n_candidates": 20,
    "n_eval": 300,
    "repeats": 2,
    "peer_pilot_candidates": 5,
    "peer_limit_s": 60.0,
    "peer_small_pool": 2_000,
    "agreement_pool": 2_000,
    "classes_sweep": [2, 4],
    "pool_sweep": [2_000, 20_000],
    "egl_rows": 20_000,
    "egl_classes": [4],
    "egl_check_rows": 500,
}


try:
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.pool import MonteCarloEER

    HAVE_SKAL = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_SKAL = False


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------


def make_task(cfg, n_pool: int, n_classes: int):
    """Labeled rows first (every class present), then the pool; one model fitted on them."""
    n_lab = cfg["n_labeled"]
    X, y = make_classification(
        n_samples=n_lab + n_pool,
        n_features=cfg["n_features"],
        n_informative=cfg["n_informative"],
        n_classes=n_classes,
        random_state=SEED,
    )
    first = [int(np.flatnonzero(y == c)[0]) for c in range(n_classes)]
    order = np.array(first + [i for i in range(len(y)) if i not in set(first)])
    X, y = X[order], y[order]
    model = LogisticRegression(max_iter=1000).fit(X[:n_lab], y[:n_lab])
    pool = np.arange(n_lab, n_lab + n_pool)
    return X, y, model, pool


def run_labelwise(cfg, X, y, model, pool, loss, *, n_candidates=None, repeats=1):
    n_lab = cfg["n_labeled"]
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = expected_error_reduction(
            model,
            X[:n_lab],
            y[:n_lab],
            X,
            loss=loss,
            candidates=pool,
            n_candidates=n_candidates or cfg["n_candidates"],
            n_eval=cfg["n_eval"],
            random_state=SEED,
            return_details=True,
        )
        times.append(time.perf_counter() - t)
    idx, scores, details = out
    return times, idx, scores, details


def run_peer(cfg, X, y, candidates, eval_idx, method):
    """scikit-activeml MonteCarloEER on the same candidates and evaluation rows."""
    n_lab = cfg["n_labeled"]
    y_missing = y.astype(float)
    y_missing[n_lab:] = np.nan
    clf = SklearnClassifier(
        LogisticRegression(max_iter=1000), classes=np.unique(y[:n_lab]), random_state=SEED
    )
    qs = MonteCarloEER(method=method, random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        _, utilities = qs.query(
            X, y_missing, clf, candidates=candidates, X_eval=X[eval_idx], return_utilities=True
        )
        seconds = time.perf_counter() - t
    return seconds, utilities[0, candidates]


def agreement(ours, peer) -> dict:
    top10 = min(10, ours.size)
    a = set(np.argsort(-ours)[:top10].tolist())
    b = set(np.argsort(-peer)[:top10].tolist())
    return {
        "spearman": round(float(spearmanr(ours, peer).statistic), 4),
        "same_top1": bool(np.argmax(ours) == np.argmax(peer)),
        f"top{top10}_overlap": len(a & b) / top10,
    }


def _stats(times):
    return {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "all_s": [round(t, 3) for t in times],
    }


# --------------------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------------------


def bench_eer_vs_peer(cfg) -> dict:
    n_pool, k = cfg["n_pool"], cfg["n_classes"]
    log(f"EER: building pool {n_pool} x {cfg['n_features']}, {k} classes")
    X, y, model, pool = make_task(cfg, n_pool, k)
    res = {
        "setup": {
            key: cfg[key]
            for key in ("n_pool", "n_features", "n_classes", "n_labeled", "n_candidates", "n_eval")
        }
    }
    lw = {}
    for loss in ("log", "zero_one"):
        run_labelwise(cfg, X, y, model, pool, loss)  # warm-up
        times, idx, scores, det = run_labelwise(
            cfg, X, y, model, pool, loss, repeats=cfg["repeats"]
        )
        lw[loss] = {**_stats(times), "refit": det.refit, "n_refits": det.n_refits}
        log(f"  labelwise loss={loss}: {lw[loss]}")
        if loss == "log":
            cand_log, scores_log, eval_idx = idx, scores, det.eval_indices
    res["labelwise"] = lw
    if not HAVE_SKAL:
        res["peer"] = "scikit-activeml not installed"
        return res

    # the peer: pilot, projection, then the full run or a smaller pool
    n_pilot = cfg["peer_pilot_candidates"]
    pilot_s, _ = run_peer(cfg, X, y, cand_log[:n_pilot], eval_idx, "log_loss")
    projected = pilot_s * cfg["n_candidates"] / n_pilot
    log(f"  peer pilot ({n_pilot} candidates): {pilot_s:.1f} s -> projected {projected:.0f} s")
    peer = {
        "pilot_candidates": n_pilot,
        "pilot_s": round(pilot_s, 2),
        "projected_full_s": round(projected, 1),
    }
    if projected <= cfg["peer_limit_s"]:
        secs, util = run_peer(cfg, X, y, cand_log, eval_idx, "log_loss")
        peer.update(pool=n_pool, seconds=round(secs, 2))
        peer["agreement_log"] = agreement(scores_log, util)
        peer["peer_seconds_over_labelwise_seconds"] = round(secs / lw["log"]["median_s"], 1)
        log(f"  peer full run: {secs:.1f} s; agreement {peer['agreement_log']}")
    else:
        small = cfg["peer_small_pool"]
        log(f"  peer projected over {cfg['peer_limit_s']} s: running it on a {small}-row pool")
        Xs, ys, ms, ps = make_task(cfg, small, k)
        run_labelwise(cfg, Xs, ys, ms, ps, "log")
        t_lw, c_s, s_s, d_s = run_labelwise(cfg, Xs, ys, ms, ps, "log", repeats=cfg["repeats"])
        secs, util = run_peer(cfg, Xs, ys, c_s, d_s.eval_indices, "log_loss")
        peer.update(
            pool=small,
            note=f"full-size peer run projected at {projected:.0f} s > limit; ran at {small} rows",
            seconds=round(secs, 2),
            labelwise_same_pool=_stats(t_lw),
            agreement_log=agreement(s_s, util),
            peer_seconds_over_labelwise_seconds=round(secs / statistics.median(t_lw), 1),
        )
    res["peer_MonteCarloEER_log_loss"] = peer
    return res


def bench_agreement_zero_one(cfg) -> dict:
    if not HAVE_SKAL:
        return {"peer": "scikit-activeml not installed"}
    n_pool, k = cfg["agreement_pool"], cfg["n_classes"]
    log(f"EER 0/1 agreement on a {n_pool}-row pool")
    X, y, model, pool = make_task(cfg, n_pool, k)
    t_lw, idx, scores, det = run_labelwise(cfg, X, y, model, pool, "zero_one")
    secs, util = run_peer(cfg, X, y, idx, det.eval_indices, "misclassification_loss")
    out = {
        "pool": n_pool,
        "labelwise_s": round(t_lw[0], 3),
        "peer_s": round(secs, 2),
        "agreement_zero_one": agreement(scores, util),
    }
    log(f"  {out}")
    return out


def bench_sweeps(cfg) -> dict:
    out = {"classes": {}, "pool_rows": {}}
    for k in cfg["classes_sweep"]:
        X, y, model, pool = make_task(cfg, cfg["n_pool"], k)
        run_labelwise(cfg, X, y, model, pool, "log")
        times, _, _, det = run_labelwise(cfg, X, y, model, pool, "log", repeats=cfg["repeats"])
        out["classes"][str(k)] = {**_stats(times), "n_refits": det.n_refits, "refit": det.refit}
        log(f"  classes={k}: {out['classes'][str(k)]}")
    for n in cfg["pool_sweep"]:
        X, y, model, pool = make_task(cfg, n, cfg["n_classes"])
        run_labelwise(cfg, X, y, model, pool, "log")
        times, _, _, det = run_labelwise(cfg, X, y, model, pool, "log", repeats=cfg["repeats"])
        t = time.perf_counter()
        model.predict_proba(X[pool])
        pre = time.perf_counter() - t
        out["pool_rows"][str(n)] = {
            **_stats(times),
            "n_refits": det.n_refits,
            "prefilter_predict_proba_s": round(pre, 3),
        }
        log(f"  pool={n}: {out['pool_rows'][str(n)]}")
    return out


def bench_egl(cfg) -> dict:
    out = {}
    rng = np.random.default_rng(SEED)
    n, d = cfg["egl_rows"], cfg["n_features"]
    X = rng.normal(size=(n, d))
    for k in cfg["egl_classes"]:
        W = rng.normal(size=(k, d + 1)) * 0.3
        Z = X @ W[:, :-1].T + W[:, -1]
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        expected_gradient_length(P, X)  # warm-up
        times = []
        for _ in range(max(cfg["repeats"], 3)):
            t = time.perf_counter()
            s = expected_gradient_length(P, X)
            times.append(time.perf_counter() - t)
        # explicit check: the Frobenius norm of every (p - e_y) x~^T on a subset
        m = cfg["egl_check_rows"]
        Xt = np.hstack([X[:m], np.ones((m, 1))])
        ref = np.zeros(m)
        for y in range(k):
            G = (P[:m] - np.eye(k)[y])[:, :, None] * Xt[:, None, :]  # (m, k, d + 1)
            ref += P[:m, y] * np.sqrt((G**2).sum(axis=(1, 2)))
        out[f"n={n},classes={k}"] = {
            **_stats(times),
            "max_abs_diff_vs_explicit_gradients": float(np.abs(s[:m] - ref).max()),
        }
        log(f"  EGL classes={k}: {out[f'n={n},classes={k}']}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes; well under a minute")
    args = ap.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    load_start = os.getloadavg()
    with threadpool_limits(limits=1, user_api="blas"):
        eer = bench_eer_vs_peer(cfg)
        zero_one = bench_agreement_zero_one(cfg)
        log("labelwise sweeps (classes, pool rows)")
        sweeps = bench_sweeps(cfg)
        log("expected gradient length")
        egl = bench_egl(cfg)
    peer = eer.get("peer_MonteCarloEER_log_loss", {})
    summary = {
        f"eer_log_n={cfg['n_pool']}_labelwise_s": eer["labelwise"]["log"]["median_s"],
        f"eer_zero_one_n={cfg['n_pool']}_labelwise_s": eer["labelwise"]["zero_one"]["median_s"],
        "eer_log_peer_s": peer.get("seconds"),
        "eer_log_peer_pool": peer.get("pool"),
        "eer_log_peer_projected_full_s": peer.get("projected_full_s"),
        "peer_seconds_over_labelwise_seconds": peer.get("peer_seconds_over_labelwise_seconds"),
        "agreement_log": peer.get("agreement_log"),
        "agreement_zero_one": zero_one.get("agreement_zero_one"),
        "eer_by_classes_s": {k: v["median_s"] for k, v in sweeps["classes"].items()},
        "eer_by_pool_rows_s": {k: v["median_s"] for k, v in sweeps["pool_rows"].items()},
        "egl_s": {k: v["median_s"] for k, v in egl.items()},
    }
    result = {
        "benchmark": "labelwise expected_error_reduction / expected_gradient_length vs "
        "scikit-activeml MonteCarloEER",
        "mode": "quick" if args.quick else "full",
        "ratio_meaning": "peer seconds / labelwise seconds; > 1 means labelwise is faster",
        "summary": summary,
        "eer_vs_peer": eer,
        "eer_zero_one_agreement": zero_one,
        "labelwise_sweeps": sweeps,
        "expected_gradient_length": egl,
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "blas_threads": 1,
            "loadavg_1_5_15_start": [round(x, 2) for x in load_start],
            "loadavg_1_5_15_end": [round(x, 2) for x in os.getloadavg()],
            "noise_note": "2 shared cores with other jobs running: absolute times vary "
            "by tens of percent between runs",
            "versions": {
                dist: version(dist)
                for dist in ("labelwise", "numpy", "scipy", "scikit-learn", "scikit-activeml")
            },
        },
        "total_wall_s": round(time.perf_counter() - t0, 1),
    }
    log(f"done in {result['total_wall_s']} s")
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
