#!/usr/bin/env python
"""Density scorers and BADGE: labelwise vs scikit-activeml (and modAL's information density).

Usage::

    python benchmarks/bench_density.py            # full run: 100,000 x 50, batch 100
    python benchmarks/bench_density.py --quick    # 5,000 x 20, batch 20 (smoke test)

Prints ONE JSON object on stdout; progress goes to stderr. Save it with::

    python benchmarks/bench_density.py > benchmarks/results/density.json

What is measured (same data for every library, regenerated from one seed):

1. Density scorers, each followed by ``top_k`` to form a batch: labelwise ``typicality``,
   ``knn_density`` and ``information_density`` (entropy x kNN similarity, beta = 1), all with
   k = 20, vs scikit-activeml ``TypiClust(k=20)``. TypiClust is not the same computation: it
   runs k-means with ``n_labeled + batch_size`` clusters and computes typicality inside the
   largest uncovered clusters only, where labelwise scores every sample of the pool against
   the whole pool. It is the peer strategy built on typicality, so it is the one timed.
2. modAL ``modAL.density.information_density`` (the only peer for information density): it
   builds the full n x n similarity matrix, so at full size it is run under the same
   address-space cap as everyone else and its failure is recorded; it is also timed at a
   size where it fits, against labelwise on the same data.
3. BADGE: labelwise ``gradient_embedding(proba, X)`` + ``badge(G, batch_size)`` vs
   scikit-activeml ``Badge().query(X, y, clf, fit_clf=False)``, whose classifier is a tiny
   wrapper returning the precomputed probabilities (so no model cost is charged).

Every call runs in a fresh (spawned) process with the same address-space limit (``RLIMIT_AS``,
75% of the memory available at start, at most 16 GiB: an allocation beyond it raises
``MemoryError`` instead of waking the kernel's OOM killer on a shared machine) and a 10-minute
limit; before the measured call, the same task runs once on a 64-row pool so that lazy imports
and one-time initialisation are charged to no library. First a memory round: one call per task
with ``tracemalloc`` running and the kernel's RSS high-water mark reset
(``/proc/self/clear_refs``). Then timing rounds without tracemalloc that interleave the
libraries (labelwise, peer, labelwise, ...), so the load swings of a shared machine hit every
library alike. ``seconds`` is the median over the timing rounds, ``min_s`` the fastest; ratios
are given on both. A peer that fails or times out in the memory round is recorded as such
(with the size) and not timed.

Peer libraries are benchmark-only dependencies::

    pip install scikit-activeml modAL-python   # never torch: neither peer needs it here
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import os
import platform
import queue
import resource
import statistics
import time
import traceback
import tracemalloc
import warnings

import numpy as np
from _common import emit, log, version  # noqa: E402  (benchmarks/ is on sys.path)

SEED = 0
N_CLASSES = 10
K = 20

FULL = {
    "n": 100_000,
    "d": 50,
    "batch_size": 100,
    "modal_small_n": 10_000,
    "call_limit_s": 600.0,
    "rounds": 3,
}
QUICK = {
    "n": 5_000,
    "d": 20,
    "batch_size": 20,
    "modal_small_n": 2_000,
    "call_limit_s": 120.0,
    "rounds": 2,
}


# --------------------------------------------------------------------------------------
# data (regenerated identically in every child process)
# --------------------------------------------------------------------------------------


def make_data(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """X: 10 Gaussian blobs (float32); proba: Dirichlet(0.5) over 10 classes (float64)."""
    rng = np.random.default_rng(SEED)
    centres = rng.normal(scale=4.0, size=(N_CLASSES, d))
    labels = rng.integers(N_CLASSES, size=n)
    X = (centres[labels] + rng.standard_normal((n, d))).astype(np.float32)
    proba = rng.dirichlet([0.5] * N_CLASSES, size=n)
    return X, proba


# --------------------------------------------------------------------------------------
# the calls (built inside the child, so imports and data stay there)
# --------------------------------------------------------------------------------------


def _precomputed_proba_classifier(proba):
    from skactiveml.base import SkactivemlClassifier

    class PrecomputedProba(SkactivemlClassifier):
        """skactiveml classifier whose predict_proba returns the precomputed probabilities."""

        def __init__(
            self,
            proba=None,
            classes=None,
            missing_label=np.nan,
            cost_matrix=None,
            random_state=None,
        ):
            super().__init__(
                classes=classes,
                missing_label=missing_label,
                cost_matrix=cost_matrix,
                random_state=random_state,
            )
            self.proba = proba

        def fit(self, X, y, sample_weight=None):
            self.classes_ = np.arange(self.proba.shape[1])
            return self

        def predict_proba(self, X, **kwargs):
            if len(X) != len(self.proba):  # every row is unlabeled in this benchmark
                raise ValueError("PrecomputedProba expects the whole pool")
            return self.proba

    return PrecomputedProba(proba=proba, classes=np.arange(proba.shape[1])).fit(X=None, y=None)


def build_call(task: str, n: int, d: int, b: int):
    X, proba = make_data(n, d)
    y = np.full(n, np.nan)  # nothing labeled: every row is a candidate for every library
    if task.startswith("labelwise"):
        from labelwise.strategies import top_k
        from labelwise.strategies._batch import badge, gradient_embedding
        from labelwise.strategies._density import information_density, knn_density, typicality

        if task == "labelwise_typicality":
            return lambda: top_k(typicality(X, k=K), batch_size=b, random_state=SEED)
        if task == "labelwise_typicality_blas1":  # diagnostic: see notes.faiss_threads
            from threadpoolctl import threadpool_limits

            def call():
                with threadpool_limits(limits=1, user_api="blas"):
                    return top_k(typicality(X, k=K), batch_size=b, random_state=SEED)

            return call
        if task == "labelwise_knn_density":
            return lambda: top_k(knn_density(X, k=K), batch_size=b, random_state=SEED)
        if task == "labelwise_information_density":
            return lambda: top_k(
                information_density(proba, X, k=K), batch_size=b, random_state=SEED
            )
        if task == "labelwise_information_density_scores":  # for the modAL comparison
            return lambda: information_density(proba, X, k=K)
        if task == "labelwise_badge":
            return lambda: badge(gradient_embedding(proba, X), batch_size=b, random_state=SEED)
        if task == "labelwise_gradient_embedding":
            return lambda: gradient_embedding(proba, X).shape
        if task == "labelwise_badge_selection_only":
            G = gradient_embedding(proba, X)
            return lambda: badge(G, batch_size=b, random_state=SEED)
    if task == "skactiveml_typiclust":
        from skactiveml.pool import TypiClust

        qs = TypiClust(k=K, random_state=SEED)
        return lambda: np.asarray(qs.query(X, y, batch_size=b))
    if task == "skactiveml_badge":
        from skactiveml.pool import Badge

        clf = _precomputed_proba_classifier(proba)
        qs = Badge(random_state=SEED)
        return lambda: np.asarray(qs.query(X, y, clf, fit_clf=False, batch_size=b))
    if task == "modal_information_density_scores":
        from modAL.density import information_density as modal_density

        from labelwise.strategies import entropy

        # modAL has no combined scorer: uncertainty x density^beta, beta = 1, as in its docs
        return lambda: entropy(proba) * modal_density(X, "euclidean")
    raise KeyError(task)


# --------------------------------------------------------------------------------------
# child process: one task, measured
# --------------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _summary(out):
    a = np.asarray(out)
    if a.ndim == 1 and a.size <= 1000:
        return a.tolist()
    return {"shape": list(a.shape)}


def child(task: str, cfg: dict, mem_cap: int | None, measure_memory: bool, q) -> None:
    """One call of one task in this fresh process: its time, and optionally its memory."""
    try:
        if mem_cap:
            resource.setrlimit(resource.RLIMIT_AS, (mem_cap, mem_cap))
        warnings.simplefilter("ignore")
        # one call on a tiny pool first: lazy imports (faiss, sklearn, skactiveml) and one-time
        # initialisation are not what is measured, for any library
        build_call(task, 64, cfg["d"], min(cfg["batch_size"], 8))()
        fn = build_call(task, cfg["n"], cfg["d"], cfg["batch_size"])
        gc.collect()
        result = {}
        if measure_memory:
            rss_before = _status_kib("VmRSS")
            reset = _reset_hwm()
            tracemalloc.start()
        t0 = time.perf_counter()
        out = fn()
        result["seconds"] = time.perf_counter() - t0
        if measure_memory:
            mem = {"tracemalloc_peak_bytes": int(tracemalloc.get_traced_memory()[1])}
            tracemalloc.stop()
            hwm = _status_kib("VmHWM")
            if reset and rss_before is not None and hwm is not None:
                mem["rss_peak_delta_bytes"] = max(0, hwm - rss_before) * 1024
            result["memory"] = mem
            result["output"] = _summary(out)
            if isinstance(out, np.ndarray) and out.ndim == 1 and out.size > 1000:
                result["scores"] = out  # kept for cross-library comparisons
            try:
                from threadpoolctl import threadpool_info

                result["threadpools"] = [
                    {k: p.get(k) for k in ("internal_api", "num_threads", "filepath")}
                    for p in threadpool_info()
                ]
            except Exception:  # noqa: BLE001 - informational only
                pass
        q.put(("done", result))
    except MemoryError:
        q.put(("error", {"error": "MemoryError", "detail": traceback.format_exc(limit=3)}))
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        q.put(("error", {"error": type(e).__name__, "detail": traceback.format_exc(limit=5)}))


def run_once(task: str, cfg: dict, mem_cap: int | None, measure_memory: bool) -> dict:
    """Run one call in a fresh process; a time-out, MemoryError or kill is recorded as such."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(task, cfg, mem_cap, measure_memory, q), daemon=True)
    t_start = time.perf_counter()
    p.start()
    size = f"n={cfg['n']:,} x d={cfg['d']}, batch {cfg['batch_size']}"
    limit = cfg["call_limit_s"] + 60  # + process start and data generation
    try:
        kind, val = q.get(timeout=limit)
    except queue.Empty:
        p.kill()
        p.join()
        return {
            "status": "timeout",
            "size": size,
            "note": f"no result within {limit:.0f} s (call limit {cfg['call_limit_s']:.0f} s "
            "+ 60 s start-up); killed",
        }
    p.join(timeout=30)
    if p.is_alive():
        p.kill()
    if kind == "error":
        return {
            "status": "failed",
            "size": size,
            **val,
            "memory_cap_bytes": mem_cap,
            "wall_s": round(time.perf_counter() - t_start, 2),
        }
    return {"status": "ok", "size": size, **val}


def run_tasks(tasks: list[str], cfg: dict, mem_cap: int | None) -> dict:
    """A memory round (tracemalloc on), then timing rounds that interleave the libraries.

    Every call runs in its own process, so a library never inherits another's warm caches
    or heap; interleaving spreads the load swings of a shared machine over every library.
    A task that failed or timed out in the memory round is not timed again.
    """
    res = {}
    for task in tasks:
        log(f"memory round: {task}")
        r = run_once(task, cfg, mem_cap, measure_memory=True)
        if r["status"] == "ok":
            r["first_call_s"] = r.pop("seconds")
            r["times_s"] = []
            log(
                f"    {r['first_call_s']:.2f} s, tracemalloc peak "
                f"{r['memory']['tracemalloc_peak_bytes'] / 2**20:.0f} MiB"
            )
        else:
            log(f"    {r['status']}: {r.get('error', r.get('note', ''))}")
        res[task] = r
    for rnd in range(cfg["rounds"]):
        for task in tasks:
            r = res[task]
            if r["status"] != "ok":
                continue
            t = run_once(task, cfg, mem_cap, measure_memory=False)
            if t["status"] == "ok":
                r["times_s"].append(round(t["seconds"], 6))
                log(f"timing round {rnd + 1}/{cfg['rounds']}: {task} {t['seconds']:.2f} s")
            else:
                r.setdefault("timing_round_failures", []).append(t)
    for r in res.values():
        if r["status"] == "ok":
            times = r["times_s"] or [r["first_call_s"]]
            r["seconds"] = statistics.median(times)
            r["min_s"] = min(times)
            r["policy"] = (
                f"median of {len(r['times_s'])} timed calls, each in a fresh process, "
                "interleaved with the other libraries"
                if r["times_s"]
                else "the memory-round call (no timing rounds)"
            )
    return res


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------


def memory_cap() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            info = {ln.split(":")[0]: int(ln.split()[1]) * 1024 for ln in f}
        return int(min(0.75 * info["MemAvailable"], 16 * 2**30))
    except (OSError, KeyError):
        return None


def _size(nbytes: float) -> str:
    return f"{nbytes / 1e9:,.1f} GB" if nbytes >= 1e9 else f"{nbytes / 1e6:,.0f} MB"


def ratio(peer: dict, lw: dict, key: str = "seconds") -> float | None:
    if peer.get("status") == "ok" and lw.get("status") == "ok":
        return peer[key] / lw[key]
    return None


def _strip(res: dict) -> dict:
    return {k: v for k, v in res.items() if k != "scores"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes; runs in about a minute")
    ap.add_argument(
        "--no-diagnostics",
        action="store_true",
        help="skip the BLAS-thread diagnostic run of typicality",
    )
    args = ap.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    cap = memory_cap()
    t_start = time.perf_counter()
    load_start = os.getloadavg()
    n, d, b = cfg["n"], cfg["d"], cfg["batch_size"]
    have_skal = version("scikit-activeml") is not None
    have_modal = version("modAL-python") is not None
    log(
        f"n={n:,} d={d} batch={b}; memory cap per process {cap / 2**30:.1f} GiB"
        if cap
        else f"n={n:,} d={d} batch={b}; no memory cap"
    )

    tasks = [
        "labelwise_typicality",
        "labelwise_knn_density",
        "labelwise_information_density",
        "labelwise_badge",
        "labelwise_gradient_embedding",
        "labelwise_badge_selection_only",
    ]
    if not args.no_diagnostics:
        tasks += ["labelwise_typicality_blas1"]
    if have_skal:
        tasks += ["skactiveml_typiclust", "skactiveml_badge"]
    if have_modal:
        tasks += ["modal_information_density_scores"]
    res = run_tasks(tasks, cfg, cap)
    small = {**cfg, "n": cfg["modal_small_n"]}
    small_res = {}
    if have_modal:
        log(f"modAL comparison at n={small['n']:,}")
        small_res = run_tasks(
            ["labelwise_information_density_scores", "modal_information_density_scores"], small, cap
        )
    agreement = {}
    lw_s = small_res.get("labelwise_information_density_scores", {}).get("scores")
    md_s = small_res.get("modal_information_density_scores", {}).get("scores")
    if lw_s is not None and md_s is not None:
        from scipy.stats import spearmanr

        top_lw = set(np.argsort(-lw_s)[:b].tolist())
        top_md = set(np.argsort(-md_s)[:b].tolist())
        agreement["information_density_labelwise_k20_vs_modal_full_pool"] = {
            "n": small["n"],
            "spearman": float(spearmanr(lw_s, md_s).statistic),
            f"top_{b}_overlap_fraction": len(top_lw & top_md) / b,
            "note": "labelwise averages the similarity over the 20 nearest neighbours, modAL "
            "over the whole pool (self included): same formula 1/(1+d), different "
            "neighbourhood, so the values differ by design; the ranking is compared",
        }
    if res.get("skactiveml_badge", {}).get("status") == "ok":
        lw_b, sk_b = res["labelwise_badge"]["output"], res["skactiveml_badge"]["output"]
        X, proba = make_data(min(n, 2_000), d)
        from labelwise.strategies._batch import gradient_embedding

        g_ref = (
            (proba - np.eye(N_CLASSES)[proba.argmax(axis=1)])[:, :, None] * X[:, None, :]
        ).reshape(len(X), -1)
        agreement["badge"] = {
            "first_pick_equal (largest gradient norm)": lw_b[0] == sk_b[0],
            "batch_overlap_fraction": len(set(lw_b) & set(sk_b)) / b,
            "gradient_embedding_max_abs_diff_vs_skactiveml_formula_first_2000_rows": float(
                np.max(np.abs(gradient_embedding(proba, X) - g_ref))
            ),
            "note": "after the deterministic first pick both draw by D^2 sampling with "
            "different random streams, so the rest of the batch differs by design",
        }

    def pair(peer: str, lw: str) -> dict:
        p, w = res.get(peer, {"status": "not installed"}), res[lw]
        out = {
            "labelwise_s": w.get("seconds"),
            f"{peer}_s": p.get("seconds"),
            "peer_seconds_over_labelwise_seconds": ratio(p, w),
            "on_min_times": ratio(p, w, "min_s"),
        }
        if p.get("status") != "ok":
            out[f"{peer}_status"] = p.get("status")
            out[f"{peer}_error"] = p.get("error")
        return out

    summary = {
        f"typicality_vs_TypiClust_n={n}": pair("skactiveml_typiclust", "labelwise_typicality"),
        f"knn_density_vs_TypiClust_n={n}": pair("skactiveml_typiclust", "labelwise_knn_density"),
        f"information_density_vs_TypiClust_n={n}": pair(
            "skactiveml_typiclust", "labelwise_information_density"
        ),
        f"badge_vs_skactiveml_Badge_n={n}": pair("skactiveml_badge", "labelwise_badge"),
    }
    md = res.get("modal_information_density_scores", {})
    summary[f"information_density_vs_modAL_n={n}"] = {
        "labelwise_s": res["labelwise_information_density"].get("seconds"),
        "modAL_status": md.get("status", "not installed"),
        "modAL_error": md.get("error"),
        "modAL_needs": f"n x n float32 distances + similarities: 2 x {_size(n * n * 4)}",
        "memory_cap_bytes": cap,
    }
    if small_res:
        summary[f"information_density_vs_modAL_n={small['n']}"] = pair_small = {
            "labelwise_s": small_res["labelwise_information_density_scores"].get("seconds"),
            "modAL_s": small_res["modal_information_density_scores"].get("seconds"),
            "peer_seconds_over_labelwise_seconds": ratio(
                small_res["modal_information_density_scores"],
                small_res["labelwise_information_density_scores"],
            ),
            "on_min_times": ratio(
                small_res["modal_information_density_scores"],
                small_res["labelwise_information_density_scores"],
                "min_s",
            ),
        }
        pair_small["labelwise_tracemalloc_peak_bytes"] = (
            small_res["labelwise_information_density_scores"]
            .get("memory", {})
            .get("tracemalloc_peak_bytes")
        )
        pair_small["modAL_tracemalloc_peak_bytes"] = (
            small_res["modal_information_density_scores"]
            .get("memory", {})
            .get("tracemalloc_peak_bytes")
        )
    diag = res.get("labelwise_typicality_blas1")
    notes = {}
    if diag is not None:
        notes["faiss_threads"] = {
            "labelwise_typicality_default_threads_s": res["labelwise_typicality"].get("seconds"),
            "labelwise_typicality_blas_limited_to_1_thread_s": diag.get("seconds"),
            "speedup": ratio(res["labelwise_typicality"], diag),
            "speedup_on_min_times": ratio(res["labelwise_typicality"], diag, "min_s"),
            "explanation": "faiss' exact search alternates an OpenBLAS sgemm (BLAS threads) "
            "and an OpenMP heap update (OpenMP threads) per block; on 2 busy "
            "cores the two pools' spinning threads compete. Limiting BLAS to 1 "
            "thread around the search (threadpoolctl) removes the contention "
            "here; on many cores it would serialise the sgemm instead, so it is "
            "reported as a diagnostic, not applied.",
        }
    memory = {
        t: {**r["memory"], "n_x_n_float64_bytes": n * n * 8}
        for t, r in res.items()
        if r.get("status") == "ok"
    }

    result = {
        "benchmark": "density scorers and BADGE: labelwise vs scikit-activeml (and modAL)",
        "mode": "quick" if args.quick else "full",
        "ratio_meaning": "peer seconds / labelwise seconds; > 1 means labelwise is faster",
        "setup": {
            "n_samples": n,
            "n_features": d,
            "batch_size": b,
            "k": K,
            "n_classes": N_CLASSES,
            "X": f"10 Gaussian blobs (centres N(0, 4^2), unit noise), float32, seed {SEED}",
            "proba": f"Dirichlet(0.5) over {N_CLASSES} classes, float64, seed {SEED}",
            "labeled": "none (every row is a candidate)",
            "labelwise": {
                "typicality": "top_k(typicality(X, k=20), batch_size)",
                "knn_density": "top_k(knn_density(X, k=20), batch_size)",
                "information_density": "top_k(information_density(proba, X, k=20), "
                "batch_size)  # entropy x kNN similarity, beta=1",
                "badge": "badge(gradient_embedding(proba, X), batch_size, random_state=0)",
            },
            "scikit-activeml": {
                "TypiClust": "TypiClust(k=20, random_state=0).query(X, y_all_nan, "
                "batch_size): sklearn KMeans(n_labeled + batch_size clusters) + "
                "typicality inside the largest uncovered clusters",
                "Badge": "Badge(random_state=0).query(X, y_all_nan, PrecomputedProba, "
                "fit_clf=False, batch_size)",
            }
            if have_skal
            else "not installed",
            "modAL": "modAL.density.information_density(X, 'euclidean') (full n x n "
            "similarity) x entropy(proba)"
            if have_modal
            else "not installed",
            "process": "each call in a fresh spawned process, RLIMIT_AS = "
            f"{cap} bytes, each call limited to {cfg['call_limit_s']:.0f} s; "
            f"1 memory round + {cfg['rounds']} interleaved timing rounds",
        },
        "summary": summary,
        "results": {t: _strip(r) for t, r in res.items()},
        "results_small_modAL_comparison": {t: _strip(r) for t, r in small_res.items()},
        "agreement": agreement,
        "notes": notes,
        "memory": {
            "statement": f"An n x n float64 matrix at n={n:,} needs {_size(n * n * 8)}; "
            "the labelwise peaks below are O(n k) / O(n C d).",
            "notes": "tracemalloc sees numpy/Python allocations only; faiss' C++ buffers show "
            "up in the RSS delta (VmHWM reset before the call minus VmRSS before).",
            "calls": memory,
        },
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "affinity_cpus": len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else None,
            "loadavg_1_5_15_start": [round(x, 2) for x in load_start],
            "loadavg_1_5_15_end": [round(x, 2) for x in os.getloadavg()],
            "noise_note": "2 shared cores; other processes on the machine slow some calls "
            "(see loadavg)",
            "versions": {
                dist: version(dist)
                for dist in (
                    "labelwise",
                    "numpy",
                    "scipy",
                    "scikit-learn",
                    "faiss-cpu",
                    "scikit-activeml",
                    "modAL-python",
                    "threadpoolctl",
                )
            },
            "timer": "time.perf_counter",
        },
        "total_wall_s": round(time.perf_counter() - t_start, 2),
    }
    log(f"done in {result['total_wall_s']} s")
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
