#!/usr/bin/env python
"""The project store at scale: import, features, training, ``select`` and ``status``.

Usage::

    python benchmarks/bench_store.py --quick        # 50,000 rows / 5,000 images (smoke test)
    python benchmarks/bench_store.py --out benchmarks/results/store.json   # 1,000,000 / 100,000

Prints ONE JSON object on stdout (and writes it to ``--out`` when given); progress goes to
stderr. Everything happens in a temporary folder (``--workdir`` picks its parent), which is
removed at the end unless ``--keep``.

Steps (``--quick`` divides every size by 20; the batch stays at 100):

1. ``gen_csv``: a CSV of N = 1,000,000 rows: an integer ``id`` column and 20 numeric columns
   (seeded standard normals, 6 significant digits), plus a label file of 1,000 random ids
   labelled ``pos`` when ``c0 + 0.5 * c1 > 0``, else ``neg``.
2. ``import_table``: ``Project.init(classes=["neg", "pos"])``, then
   ``import_pool(project, csv, id_column="id")``.
3. ``gen_images`` + ``import_images``: ONE 32 x 32 PNG hard-linked (``os.link``) 100,000 times
   under the class sub-folders ``cat/`` and ``dog/`` of a project with those classes (so every
   image also gets a label), then ``import_pool(project, folder)``.
4. ``features``: ``compute_features`` on the 1M-row project.
5. ``label_train``: ``import_labels`` of the 1,000-row label file, then ``train(model="logreg")``.
6. ``select``: ``select_batch(project, strategy="margin", batch_size=100)`` on the 1M pool, in
   ``--repeats`` fresh processes (each run stores its round, so every later run has 100 more
   pending samples, which changes nothing measurable). The wall-time breakdown comes from thin
   timing wrappers around the functions ``select_batch`` calls (``load_features``,
   ``Project.current_labels``, the ``with project.session()`` block that reads the pending set,
   the uid map and the round number, ``_load_model``, ``Classifier.predict_proba``,
   ``Strategy.query`` (margin + ``top_positions``), ``Selection.picks`` and the write
   transaction, split into body and commit); what they do not cover (``np.isin`` masks,
   ``X[cand]`` copy, result rows) is the residual. A separate run under ``cProfile`` gives the
   cumulative time of every direct callee of ``select_batch``, grouped into the same categories,
   and the top functions; a third run measures ``tracemalloc``'s peak. ``select_micro`` times
   each store query of ``select`` on its own, next to cheaper equivalents (Core instead of ORM,
   raw ``sqlite3``, a 100-id lookup instead of the full uid map, an index mask instead of
   ``np.isin``), so every suggestion in the report has a measured gain.
7. ``status``: ``python -m labelwise status DIR --json`` in a fresh process (end to end, as a
   user runs it), next to a bare ``import labelwise.cli`` process, and ``status()`` in-process.

Measurements: every step runs in its own child process; its peak RSS is the child's
``ru_maxrss`` from ``os.wait4`` (the kernel's per-process high-water mark, so each step's peak is
separate), cross-checked with ``VmHWM`` from ``/proc/self/status``; ``baseline_rss_mb`` is the
child's RSS after its imports and before the step. ``tracemalloc`` peaks (Python/numpy
allocations only) come from separate runs, so they do not slow the timed runs: for import and
features at 1/20 of the size (its per-row cost scales linearly), for ``select`` and ``status``
at full size. Import, features and select are also sampled by a small in-process stack sampler
(every 5 ms, the main thread's innermost labelwise line and innermost library), which shows
which line the wall time goes to without cProfile's per-call overhead (its shares are rough:
a C call that holds the GIL delays the sampler, so trust the wrapper timings for seconds).
Every child also sums the pauses of Python's cyclic garbage collector (``gc.callbacks``), by
the timed call they happened in. ``select`` also gets a projection: the same runs without
the uid-map block, plus a 100-id lookup (an upper bound, not a run of changed code).
A step that exceeds
``--step-timeout`` (480 s) is killed; its partial result (rows inserted and rate) comes from
the child's progress file.

The page cache is warm for every step after import (the database was just written); the
database runs with labelwise's own settings (WAL, ``synchronous=FULL``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

from _common import log as _common_log  # noqa: E402
from _common import version  # noqa: E402  (benchmarks/ is on sys.path)


def log(msg: str) -> None:
    _common_log(msg, prefix="bench_store")


SEED = 0
N_COLS = 20
FULL = {
    "n_rows": 1_000_000,
    "n_images": 100_000,
    "n_labels": 1_000,
    "batch_size": 100,
    "micro_rows": 50_000,
}
QUICK = {k: (v if k == "batch_size" else max(1, v // 20)) for k, v in FULL.items()}
CLASSES_TABLE = ["neg", "pos"]
CLASSES_IMAGES = ["cat", "dog"]
SAMPLE_INTERVAL_S = 0.005
LINKS_PER_INODE = 60_000
HERE = Path(__file__).resolve()


def _proc_status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _mb(nbytes: float) -> float:
    return round(nbytes / 2**20, 1)


def _r(x: float, nd: int = 4) -> float:
    return round(float(x), nd)


# ======================================================================================
# instrumentation used inside the children
# ======================================================================================


class Timers:
    """Inclusive wall time of wrapped calls, with the wrapped caller they ran under."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str | None, float]] = []
        self.stack: list[str] = []
        self.marks: dict[str, float] = {}
        self.t0 = time.perf_counter()

    def wrap(self, name: str, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            parent = self.stack[-1] if self.stack else None
            self.stack.append(name)
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t
                self.stack.pop()
                self.records.append((name, parent, dt))

        return wrapper

    def add(self, name: str, dt: float) -> None:
        parent = self.stack[-1] if self.stack else None
        self.records.append((name, parent, dt))

    def mark(self, name: str, first_only: bool = False) -> None:
        if first_only and name in self.marks:
            return
        self.marks[name] = time.perf_counter() - self.t0

    def summary(self) -> dict:
        out: dict[str, dict] = {}
        for name, parent, dt in self.records:
            d = out.setdefault(
                name, {"calls": 0, "total_s": 0.0, "top_level_s": 0.0, "called_under": set()}
            )
            d["calls"] += 1
            d["total_s"] += dt
            if parent is None:
                d["top_level_s"] += dt
            else:
                d["called_under"].add(parent)
        for d in out.values():
            d["total_s"] = _r(d["total_s"])
            d["top_level_s"] = _r(d["top_level_s"])
            d["called_under"] = sorted(d["called_under"])
        return out


class _TimedBlock:
    """A session used as a context manager whose ``with`` block is timed as a whole."""

    def __init__(self, session, timers: Timers, name: str):
        self.session, self.timers, self.name = session, timers, name

    def __enter__(self):
        self.timers.stack.append(self.name)
        self.t = time.perf_counter()
        return self.session.__enter__()

    def __exit__(self, *exc):
        try:
            return self.session.__exit__(*exc)
        finally:
            self.timers.stack.pop()
            self.timers.add(self.name, time.perf_counter() - self.t)


class _SessionFactory:
    """Wraps ``project.session``: sessions opened directly in the named functions are timed."""

    def __init__(self, factory, timers: Timers, callers: set[str]):
        self.factory, self.timers, self.callers = factory, timers, callers

    def __call__(self, *args, **kwargs):
        s = self.factory(*args, **kwargs)
        caller = sys._getframe(1).f_code.co_name
        if caller in self.callers:
            return _TimedBlock(s, self.timers, f"{caller}.session_block")
        return s

    def __getattr__(self, item):
        return getattr(self.factory, item)


def timed_transaction(timers: Timers, name: str, original):
    """Wrap labelwise's own ``transaction`` (BEGIN IMMEDIATE etc. unchanged).

    Records ``<name>.body`` (from entering, write lock included, to the end of the block),
    ``<name>.flush`` (the pending ORM inserts, flushed explicitly just before the commit,
    which would flush them anyway) and ``<name>.commit`` (COMMIT, fsync, close).
    """

    @contextlib.contextmanager
    def transaction(factory, *args, **kwargs):
        t0 = time.perf_counter()
        timers.mark(f"{name}.enter")
        with original(factory, *args, **kwargs) as session:
            yield session
            t1 = time.perf_counter()
            timers.mark(f"{name}.body_end")
            session.flush()
            t2 = time.perf_counter()
        t3 = time.perf_counter()
        timers.add(f"{name}.body", t1 - t0)
        timers.add(f"{name}.flush", t2 - t1)
        timers.add(f"{name}.commit", t3 - t2)

    return transaction


def patch(module_or_class, attr: str, make, missing: list[str]) -> None:
    """Replace ``attr`` by ``make(original)``; note it when the source no longer has it."""
    orig = getattr(module_or_class, attr, None)
    if orig is None:
        missing.append(f"{getattr(module_or_class, '__name__', module_or_class)}.{attr}")
        return
    setattr(module_or_class, attr, make(orig))


class StackSampler:
    """Every few ms, note the main thread's innermost labelwise line and innermost library."""

    def __init__(self, interval: float = SAMPLE_INTERVAL_S):
        self.interval = interval
        self.lines: Counter = Counter()
        self.libs: Counter = Counter()
        self.n = 0
        self._stop = threading.Event()
        self._main = threading.main_thread().ident
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.wall = time.perf_counter() - self.t0

    @staticmethod
    def _lib(filename: str) -> str:
        if "site-packages/" in filename:
            return filename.split("site-packages/", 1)[1].split("/", 1)[0]
        if "/labelwise/" in filename:
            return "labelwise"
        return "stdlib:" + Path(filename).stem

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            frame = sys._current_frames().get(self._main)
            if frame is None:
                continue
            leaf = self._lib(frame.f_code.co_filename)
            lw = None
            f = frame
            while f is not None:
                fn = f.f_code.co_filename
                if "/labelwise/" in fn and "benchmarks" not in fn:
                    rel = fn.split("/labelwise/", 1)[1]
                    lw = (rel, f.f_code.co_name, f.f_lineno)
                    break
                f = f.f_back
            self.n += 1
            self.libs[leaf] += 1
            self.lines[lw] += 1

    def summary(self, top: int = 12) -> dict:
        import linecache

        import labelwise

        root = Path(labelwise.__file__).parent
        n = max(self.n, 1)
        lines = []
        for key, c in self.lines.most_common(top):
            if key is None:
                lines.append(
                    {
                        "where": "(outside labelwise: benchmark harness/import)",
                        "samples": c,
                        "share": _r(c / n, 3),
                        "est_s": _r(self.wall * c / n, 2),
                    }
                )
                continue
            rel, func, lineno = key
            src = linecache.getline(str(root / rel), lineno).strip()
            lines.append(
                {
                    "where": f"labelwise/{rel}:{lineno} ({func})",
                    "code": src[:120],
                    "samples": c,
                    "share": _r(c / n, 3),
                    "est_s": _r(self.wall * c / n, 2),
                }
            )
        libs = [
            {"innermost": k, "share": _r(c / n, 3), "est_s": _r(self.wall * c / n, 2)}
            for k, c in self.libs.most_common(8)
        ]
        return {
            "n_samples": self.n,
            "interval_s": self.interval,
            "wall_s": _r(self.wall, 2),
            "top_labelwise_lines": lines,
            "innermost_library": libs,
        }


class GcMeter:
    """Time spent in the cyclic garbage collector, by the innermost timed call it ran in."""

    def __init__(self) -> None:
        self.timers: Timers | None = None
        self.total = 0.0
        self.by_gen = [0, 0, 0]
        self.by_context: dict[str, float] = {}
        self._t = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t = time.perf_counter()
            return
        dt = time.perf_counter() - self._t
        self.total += dt
        self.by_gen[info["generation"]] += 1
        where = self.timers.stack[-1] if self.timers and self.timers.stack else "(untimed)"
        self.by_context[where] = self.by_context.get(where, 0.0) + dt

    def summary(self) -> dict:
        return {
            "gc_pause_s": _r(self.total, 3),
            "collections_by_generation": self.by_gen,
            "gc_pause_by_timed_call_s": {
                k: _r(v, 3) for k, v in sorted(self.by_context.items(), key=lambda kv: -kv[1])
            },
        }


GC = GcMeter()


class Progress:
    """Throttled progress file, read by the parent if the step times out."""

    def __init__(self, path: str | None):
        self.path = path
        self.state: dict = {}
        self.t0 = time.perf_counter()
        self._last = 0.0

    def update(self, force: bool = False, **kw) -> None:
        self.state.update(kw)
        now = time.perf_counter()
        if self.path and (force or now - self._last > 1.0):
            self._last = now
            self.state["t_s"] = _r(now - self.t0, 2)
            tmp = self.path + ".tmp"
            with open(tmp, "w") as fh:
                json.dump(self.state, fh)
            os.replace(tmp, self.path)


def profile_direct_children(prof, root_code, categorize, top: int = 25) -> dict:
    """Cumulative time of each direct callee of ``root_code`` under cProfile, by category."""
    import pstats

    st = pstats.Stats(prof)
    stats = st.stats
    root = (root_code.co_filename, root_code.co_firstlineno, root_code.co_name)
    if root not in stats:
        return {"error": "root function not in profile"}
    root_tt, root_ct = stats[root][2], stats[root][3]
    children = []
    for key, (_cc, _nc, _tt, _ct, callers) in stats.items():
        if root in callers:
            c = callers[root]
            children.append(
                {
                    "function": _fmt_key(key),
                    "calls": int(c[0]),
                    "cum_s": _r(c[3]),
                    "category": categorize(key),
                }
            )
    children.sort(key=lambda d: -d["cum_s"])
    cats: dict[str, float] = {}
    for ch in children:
        cats[ch["category"]] = cats.get(ch["category"], 0.0) + ch["cum_s"]
    cats["self time of the root (inline Python)"] = root_tt
    top_cum = sorted(stats.items(), key=lambda kv: -kv[1][3])[:top]
    top_tot = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    return {
        "root_cum_s": _r(root_ct),
        "root_self_s": _r(root_tt),
        "by_category_s": {k: _r(v) for k, v in sorted(cats.items(), key=lambda kv: -kv[1])},
        "by_category_share": {
            k: _r(v / root_ct, 3) for k, v in sorted(cats.items(), key=lambda kv: -kv[1])
        },
        "direct_callees": children[:30],
        "top_cumulative": [
            {"function": _fmt_key(k), "calls": int(v[1]), "cum_s": _r(v[3]), "self_s": _r(v[2])}
            for k, v in top_cum
        ],
        "top_self": [
            {"function": _fmt_key(k), "calls": int(v[1]), "self_s": _r(v[2]), "cum_s": _r(v[3])}
            for k, v in top_tot
        ],
    }


def _fmt_key(key) -> str:
    fn, line, name = key
    if fn == "~":
        return name
    for marker in ("site-packages/", "/labelwise/", "/lib/python3"):
        if marker in fn:
            fn = fn.split(marker, 1)[1]
            break
    return f"{fn}:{line}({name})"


def named_cumulative(prof, funcs: dict) -> dict:
    """Cumulative seconds and calls of named Python functions in a profile."""
    import pstats

    stats = pstats.Stats(prof).stats
    out = {}
    for label, fn in funcs.items():
        code = getattr(fn, "__code__", None)
        if code is None:
            continue
        key = (code.co_filename, code.co_firstlineno, code.co_name)
        if key in stats:
            out[label] = {"calls": int(stats[key][1]), "cum_s": _r(stats[key][3])}
    return out


def best_of(fn, repeats: int = 3) -> tuple[float, object]:
    times, res = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t)
    return min(times), res


# ======================================================================================
# the steps (run inside child processes)
# ======================================================================================


def step_gen_csv(a: dict, prog: Progress) -> dict:
    import numpy as np
    import pandas as pd

    n, n_labels = a["n_rows"], a["n_labels"]
    t = time.perf_counter()
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((n, N_COLS)).astype(np.float32)
    df = pd.DataFrame(X, columns=[f"c{j}" for j in range(N_COLS)])
    df.insert(0, "id", np.arange(1, n + 1, dtype=np.int64))
    df.to_csv(a["csv"], index=False, float_format="%.6g")
    pick = rng.choice(n, size=n_labels, replace=False)
    y = np.where(X[pick, 0] + 0.5 * X[pick, 1] > 0, "pos", "neg")
    pd.DataFrame({"id": pick + 1, "label": y}).to_csv(a["labels_csv"], index=False)
    return {
        "seconds": _r(time.perf_counter() - t, 2),
        "csv_mb": _mb(os.path.getsize(a["csv"])),
        "n_rows": n,
        "n_columns": N_COLS + 1,
        "n_labels": n_labels,
        "label_balance_pos": _r(float(np.mean(y == "pos")), 3),
    }


def step_gen_images(a: dict, prog: Progress) -> dict:
    import numpy as np
    from PIL import Image

    t = time.perf_counter()
    root = Path(a["folder"])
    root.mkdir(parents=True)
    src = Path(a["png"])
    rng = np.random.default_rng(SEED)
    Image.fromarray(rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)).save(src)
    for c in CLASSES_IMAGES:
        (root / c).mkdir()
    # ext4 allows 65,000 links per inode: a fresh copy of the same bytes every 60,000 links
    sources = [src]
    for i in range(a["n_images"]):
        if i and i % LINKS_PER_INODE == 0:
            sources.append(src.with_name(f"{src.stem}-{len(sources)}{src.suffix}"))
            shutil.copyfile(src, sources[-1])
        os.link(sources[-1], root / CLASSES_IMAGES[i % 2] / f"img_{i:07d}.png")
        if i % 10_000 == 0:
            prog.update(links=i)
    return {
        "seconds": _r(time.perf_counter() - t, 2),
        "n_images": a["n_images"],
        "png_bytes": src.stat().st_size,
        "sub_folders": CLASSES_IMAGES,
        "source_inodes": len(sources),
    }


def _instrument_import(timers: Timers) -> list[str]:
    from labelwise.io import _samples
    from labelwise.store import _project as store_project

    missing: list[str] = []
    for attr, name in (
        ("_read_table", "read_table (pandas)"),
        ("_table_records", "table_records"),
        ("_image_records", "image_records (rglob + resolve)"),
        ("check_unique", "check_unique"),
    ):
        patch(_samples, attr, functools.partial(timers.wrap, name), missing)
    patch(store_project.Project, "classes", functools.partial(timers.wrap, "classes"), missing)
    patch(_samples, "transaction", lambda orig: timed_transaction(timers, "tx", orig), missing)

    def marking(mark):
        def make(orig):
            def f(*args, **kw):
                timers.mark(mark, first_only=mark != "last_select_call")
                return orig(*args, **kw)

            return f

        return make

    # the last select() before the row dicts are built is the last existing-id chunk;
    # _now() is first called for the first row dict; insert() builds the INSERT statement
    patch(_samples, "select", marking("last_select_call"), missing)
    patch(_samples, "_now", marking("first_row_dict"), missing)
    patch(_samples, "insert", marking("first_insert_call"), missing)
    return missing


def _import_phases(timers: Timers, total: float) -> dict:
    m, s = timers.marks, timers.summary()
    ph = {k: v["total_s"] for k, v in s.items()}
    out = {"total_s": _r(total, 2)}
    for k in (
        "read_table (pandas)",
        "table_records",
        "image_records (rglob + resolve)",
        "check_unique",
        "classes",
    ):
        if k in ph:
            out[k + "_s"] = ph[k]
    if "table_records" in ph and "read_table (pandas)" in ph:
        out["table_records_without_read_s"] = _r(ph["table_records"] - ph["read_table (pandas)"])
    if {"tx.enter", "first_row_dict", "first_insert_call", "tx.body_end"} <= set(m):
        out["write_lock_and_existing_id_check_s"] = _r(m["first_row_dict"] - m["tx.enter"])
        out["build_row_dicts_s"] = _r(m["first_insert_call"] - m["first_row_dict"])
        out["insert_statements_s"] = _r(m["tx.body_end"] - m["first_insert_call"])
    for k in ("tx.flush", "tx.commit"):
        if k in ph:
            out[k.replace("tx.", "") + "_s"] = ph[k]
    return out


def _db_size_mb(project_dir: str) -> dict:
    p = Path(project_dir)
    return {f.name: _mb(f.stat().st_size) for f in sorted(p.glob("labelwise.db*"))}


def step_import(a: dict, prog: Progress) -> dict:
    from labelwise.io._samples import import_pool
    from labelwise.store import Project

    classes = CLASSES_IMAGES if a["kind"] == "images" else CLASSES_TABLE
    t = time.perf_counter()
    project = Project.init(a["project"], classes=classes)
    t_init = time.perf_counter() - t
    timers = Timers()
    GC.timers = timers
    missing = _instrument_import(timers)
    total_rows = {"n": 0}
    done = {"n": 0}

    def on_total(n):
        total_rows["n"] = n
        timers.mark("records_ready")
        prog.update(
            force=True,
            phase="inserting",
            total=n,
            rows_inserted=0,
            t_records_ready_s=_r(timers.marks["records_ready"], 2),
        )

    def progress(k):
        done["n"] += k
        prog.update(
            rows_inserted=done["n"],
            t_since_records_ready_s=_r(
                time.perf_counter() - timers.t0 - timers.marks["records_ready"], 2
            ),
        )

    tm = None
    if a.get("tracemalloc"):
        import tracemalloc

        tracemalloc.start()
        tm = tracemalloc
    prog.update(force=True, phase="reading/validating")
    sampler = StackSampler() if a.get("sample") else contextlib.nullcontext()
    timers.t0 = time.perf_counter()
    with sampler:
        res = import_pool(
            project, a["source"], id_column=a.get("id_column"), progress=progress, on_total=on_total
        )
    total = time.perf_counter() - timers.t0
    out = {
        "seconds": _r(total, 2),
        "project_init_s": _r(t_init, 3),
        "n_samples": res.n_samples,
        "n_labels": res.n_labels,
        "kind": res.kind,
        "rows_per_s": round(res.n_samples / total),
        "phases_s": _import_phases(timers, total),
        "db_files_mb": _db_size_mb(a["project"]),
        "not_instrumented": missing,
    }
    if tm is not None:
        cur, peak = tm.get_traced_memory()
        tm.stop()
        out["tracemalloc_peak_mb"] = _mb(peak)
        out["tracemalloc_peak_bytes_per_row"] = round(peak / res.n_samples)
    if a.get("sample"):
        out["stack_samples"] = sampler.summary()
    project.close()
    return out


def step_features(a: dict, prog: Progress) -> dict:
    from labelwise.embed import _features
    from labelwise.store import Project

    project = Project.open(a["project"])
    timers = Timers()
    GC.timers = timers
    missing: list[str] = []
    patch(_features, "_kind", functools.partial(timers.wrap, "_kind"), missing)
    patch(
        _features,
        "_tabular",
        functools.partial(timers.wrap, "_tabular (dicts -> array, standardise)"),
        missing,
    )
    patch(
        Project,
        "add_artifact",
        functools.partial(timers.wrap, "add_artifact (sha256 + atomic write + fsync + row)"),
        missing,
    )
    orig_kind = _features._kind

    def kind(rows):
        timers.mark("rows_loaded")
        prog.update(force=True, phase="rows loaded", n=len(rows))
        return orig_kind(rows)

    _features._kind = kind
    tm = None
    if a.get("tracemalloc"):
        import tracemalloc

        tracemalloc.start()
        tm = tracemalloc
    prog.update(force=True, phase="loading ORM rows")
    sampler = StackSampler() if a.get("sample") else contextlib.nullcontext()
    timers.t0 = time.perf_counter()
    with sampler:
        art = _features.compute_features(project)
    total = time.perf_counter() - timers.t0
    s = timers.summary()
    ph = {
        "total_s": _r(total, 2),
        "load_orm_rows_s": _r(timers.marks.get("rows_loaded", float("nan")), 3),
    }
    for k, v in s.items():
        if k != "_kind":
            ph[k + "_s"] = v["total_s"]
    ph["savez_and_rest_s"] = _r(total - sum(v for k, v in ph.items() if k != "total_s"))
    out = {
        "seconds": _r(total, 2),
        "n_samples": art.info["n_samples"],
        "dim": art.info["dim"],
        "rows_per_s": round(art.info["n_samples"] / total),
        "phases_s": ph,
        "features_file_mb": _mb((Path(a["project"]) / art.path).stat().st_size),
        "not_instrumented": missing,
    }
    if tm is not None:
        _cur, peak = tm.get_traced_memory()
        tm.stop()
        out["tracemalloc_peak_mb"] = _mb(peak)
        out["tracemalloc_peak_bytes_per_row"] = round(peak / art.info["n_samples"])
    if a.get("sample"):
        out["stack_samples"] = sampler.summary()
    project.close()
    return out


def step_label_train(a: dict, prog: Progress) -> dict:
    from labelwise.io._labels import import_labels
    from labelwise.loop import _project as loop_project
    from labelwise.store import Project

    project = Project.open(a["project"])
    t = time.perf_counter()
    li = import_labels(project, a["labels_csv"])
    t_labels = time.perf_counter() - t
    timers = Timers()
    loop_project.load_features = timers.wrap("load_features", loop_project.load_features)
    loop_project._cv_accuracy = timers.wrap("_cv_accuracy", loop_project._cv_accuracy)
    loop_project._finish_rounds = timers.wrap(
        "_finish_rounds (current_labels + rounds)", loop_project._finish_rounds
    )
    Project.current_labels = timers.wrap("current_labels", Project.current_labels)
    t = time.perf_counter()
    info = loop_project.train(project, model="logreg")
    t_train = time.perf_counter() - t
    project.close()
    return {
        "import_labels_s": _r(t_labels, 3),
        "labels": li.__dict__,
        "train_s": _r(t_train, 3),
        "train_calls_s": timers.summary(),
        "model_version": info["version"],
        "cv_accuracy": info["metric"],
        "n_labeled": info["n_labeled"],
    }


SELECT_CATEGORIES = {
    "load_features": "features file (checksum + np.load)",
    "current_labels": "db read",
    "select_batch.session_block": "db read",
    "classes": "db read",
    "_load_model": "model file (checksum + unpickle)",
    "predict_proba": "scoring",
    "Strategy.query": "scoring",
    "Selection.picks": "scoring",
    "tx.body": "db write",
    "tx.flush": "db write",
    "tx.commit": "db write",
}


def _instrument_select(timers: Timers, project) -> list[str]:
    from labelwise.loop import _project as loop_project
    from labelwise.models._sklearn import Classifier
    from labelwise.store import _project as store_project
    from labelwise.strategies import _registry

    P = store_project.Project
    missing: list[str] = []

    def w(name):
        return functools.partial(timers.wrap, name)

    patch(loop_project, "load_features", w("load_features"), missing)
    patch(loop_project, "_load_model", w("_load_model"), missing)
    patch(loop_project, "transaction", lambda o: timed_transaction(timers, "tx", o), missing)
    for attr in ("current_labels", "classes", "latest_artifact", "artifact_path"):
        patch(P, attr, w(attr), missing)
    patch(store_project, "sha256_of", w("sha256_of"), missing)
    patch(Classifier, "predict_proba", w("predict_proba"), missing)
    patch(_registry.Strategy, "query", w("Strategy.query"), missing)
    patch(_registry, "top_positions", w("top_positions"), missing)
    patch(_registry.Selection, "picks", w("Selection.picks"), missing)
    project.session = _SessionFactory(project.session, timers, {"select_batch"})
    return missing


def _select_categorize(key) -> str:
    fn, _line, name = key
    if fn.endswith("embed/_features.py") and name == "load_features":
        return "features file (checksum + np.load)"
    if name == "_load_model":
        return "model file (checksum + unpickle)"
    if fn.endswith("store/_project.py") and name in (
        "current_labels",
        "classes",
        "latest_artifact",
    ):
        return "db read"
    if name in ("predict_proba", "query", "picks"):
        return "scoring"
    if "contextlib" in fn:
        return "db write"  # the only contextlib manager in select_batch is transaction()
    if "sqlalchemy" in fn or fn == "<string>" or fn.endswith("store/_models.py"):
        if name in ("add", "flush", "__init__", "_declarative_constructor", "_new_state_if_none"):
            return "db write"
        return "db read"
    if "numpy" in fn or "numpy" in name:
        return "candidate masks (numpy)"
    return "other"


def step_select(a: dict, prog: Progress) -> dict:
    import numpy as np

    from labelwise.loop import _project as loop_project
    from labelwise.store import Project

    t = time.perf_counter()
    import sklearn.linear_model  # noqa: F401  (unpickling the model would import it lazily)

    t_sklearn = time.perf_counter() - t
    t = time.perf_counter()
    project = Project.open(a["project"])
    t_open = time.perf_counter() - t
    mode = a["mode"]
    kw = {"strategy": "margin", "batch_size": a["batch_size"], "random_state": SEED}
    out: dict = {
        "mode": mode,
        "project_open_s": _r(t_open, 3),
        "preimport_sklearn_linear_model_s": _r(t_sklearn, 3),
    }
    prog.update(force=True, phase=f"select ({mode})")
    if mode == "timed":
        timers = Timers()
        GC.timers = timers
        out["not_instrumented"] = _instrument_select(timers, project)
        sampler = StackSampler() if a.get("sample") else contextlib.nullcontext()
        t = time.perf_counter()
        with sampler:
            res = loop_project.select_batch(project, **kw)
        total = time.perf_counter() - t
        s = timers.summary()
        top = {k: v["top_level_s"] for k, v in s.items() if v["top_level_s"] > 0}
        cats: dict[str, float] = {}
        for k, v in top.items():
            c = SELECT_CATEGORIES.get(k, "other")
            cats[c] = cats.get(c, 0.0) + v
        cats["residual (np.isin masks, X[cand] copy, result rows)"] = total - sum(top.values())
        out.update(
            {
                "seconds": _r(total, 3),
                "round": res.round,
                "n_picked": len(res.rows),
                "cold_start": res.cold_start,
                "top_level_calls_s": top,
                "nested_calls": {k: v for k, v in s.items() if v["called_under"]},
                "by_category_s": {k: _r(v) for k, v in sorted(cats.items(), key=lambda kv: -kv[1])},
                "by_category_share": {
                    k: _r(v / total, 3) for k, v in sorted(cats.items(), key=lambda kv: -kv[1])
                },
            }
        )
        if a.get("sample"):
            out["stack_samples"] = sampler.summary()
    elif mode == "cprofile":
        import cProfile

        from labelwise.embed import _features
        from labelwise.models._sklearn import Classifier
        from labelwise.store import _project as store_project
        from labelwise.strategies import _registry
        from labelwise.strategies import _uncertainty as U

        prof = cProfile.Profile()
        t = time.perf_counter()
        prof.enable()
        res = loop_project.select_batch(project, **kw)
        prof.disable()
        total = time.perf_counter() - t
        out["seconds_under_cprofile"] = _r(total, 3)
        out["round"] = res.round
        out["direct_callees_of_select_batch"] = profile_direct_children(
            prof, loop_project.select_batch.__code__, _select_categorize
        )
        import sqlalchemy.orm.session as sa_session

        out["named_functions"] = named_cumulative(
            prof,
            {
                "select_batch": loop_project.select_batch,
                "load_features": _features.load_features,
                "sha256_of": store_project.sha256_of,
                "np.load": np.load,
                "NpzFile.__getitem__": np.lib.npyio.NpzFile.__getitem__,
                "Project.current_labels": store_project.Project.current_labels,
                "Project.classes": store_project.Project.classes,
                "Project.latest_artifact": store_project.Project.latest_artifact,
                "_load_model": loop_project._load_model,
                "Classifier.predict_proba": Classifier.predict_proba,
                "Strategy.query": _registry.Strategy.query,
                "margin": U.margin,
                "top_positions": _registry.top_positions,
                "Selection.picks": _registry.Selection.picks,
                "np.isin": np.isin,
                "Session.execute": sa_session.Session.execute,
                "Session.scalars": sa_session.Session.scalars,
                "Session.commit": sa_session.Session.commit,
                "Session.flush": sa_session.Session.flush,
            },
        )
    elif mode == "tracemalloc":
        import tracemalloc

        tracemalloc.start()
        t = time.perf_counter()
        res = loop_project.select_batch(project, **kw)
        total = time.perf_counter() - t
        _cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out.update(
            {
                "seconds_under_tracemalloc": _r(total, 3),
                "round": res.round,
                "tracemalloc_peak_mb": _mb(peak),
            }
        )
    project.close()
    return out


def step_select_micro(a: dict, prog: Progress) -> dict:
    """Each store read of select alone, next to cheaper equivalents; and the scoring parts."""
    import numpy as np
    from sqlalchemy import func, select

    from labelwise.embed import load_features
    from labelwise.loop._project import _load_model
    from labelwise.store import Project, sha256_of
    from labelwise.store._models import Round, Sample, SelectionRow
    from labelwise.strategies import _registry
    from labelwise.strategies import _uncertainty as U

    out: dict = {}
    t_open, project = best_of(lambda: Project.open(a["project"]), 1)
    out["Project.open (engine + alembic upgrade check)_s"] = _r(t_open)
    t_open2, _p2 = best_of(lambda: Project.open(a["project"]), 3)
    out["Project.open again in the same process (alembic head cached)_s"] = _r(t_open2)
    _p2.close()
    probe = project.path / ".bench-fsync-probe"

    def fsync_once():
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)

    fs = []
    for _ in range(10):
        t = time.perf_counter()
        fsync_once()
        fs.append(time.perf_counter() - t)
    probe.unlink()
    out["fsync_4KiB_in_project_folder_median_s"] = _r(statistics.median(fs))

    def orm_uid_map():
        with project.session() as s:
            return dict(s.execute(select(Sample.id, Sample.uid)).all())

    def core_uid_map():
        with project.engine.connect() as c:
            return dict(c.execute(select(Sample.id, Sample.uid)).all())

    def raw_uid_map():
        conn = project.engine.raw_connection()
        try:
            return dict(conn.cursor().execute("SELECT id, uid FROM sample").fetchall())
        finally:
            conn.close()

    prog.update(force=True, phase="uid maps")
    r: dict = {}
    r["uid_map: ORM session.execute(select(Sample.id, Sample.uid)).all() -> dict (current)"], m = (
        best_of(orm_uid_map)
    )
    n_samples = len(m)
    t = time.perf_counter()
    del m  # what select_batch's return does with its uid_of
    r["freeing the uid map (at select_batch's return)"] = time.perf_counter() - t
    r["uid_map: Core connection.execute(same select) -> dict"], _ = best_of(core_uid_map)
    r["uid_map: raw sqlite3 cursor SELECT id, uid -> dict"], _ = best_of(raw_uid_map)
    X, ids, _v = load_features(project)
    rng = np.random.default_rng(1)
    some100 = [int(v) for v in rng.choice(ids, size=a["batch_size"], replace=False)]

    def uid_of_picks():
        with project.session() as s:
            return dict(
                s.execute(select(Sample.id, Sample.uid).where(Sample.id.in_(some100))).all()
            )

    r["uid lookup of the 100 picks only: WHERE id IN (...) (proposed)"], _ = best_of(uid_of_picks)

    def pending():
        with project.session() as s:
            return set(s.scalars(select(SelectionRow.sample_id)))

    r["pending set: select(SelectionRow.sample_id)"], pend = best_of(pending)
    r["current_labels()"], labels = best_of(project.current_labels)

    def max_round():
        with project.session() as s:
            return s.scalar(select(func.max(Round.number)))

    r["max(Round.number)"], _ = best_of(max_round)
    r["project.classes()"], _ = best_of(project.classes)
    r["latest_artifact('features')"], art = best_of(lambda: project.latest_artifact("features"))
    out["db_reads_s"] = {k: _r(v) for k, v in r.items()}
    out["n_samples"], out["n_pending"], out["n_labels"] = n_samples, len(pend), len(labels)

    prog.update(force=True, phase="feature file")
    path = project.path / art.path
    f: dict = {}
    f["sha256_of(features file)"], _ = best_of(lambda: sha256_of(path))

    def npload():
        with np.load(path) as z:
            return z["X"], z["sample_id"]

    f["np.load X + sample_id (npz, uncompressed)"], _ = best_of(npload)
    f["load_features() total"], _ = best_of(lambda: load_features(project))
    f["_load_model() (checksum + unpickle)"], (model, _art) = best_of(lambda: _load_model(project))
    out["artifact_io_s"] = {k: _r(v) for k, v in f.items()}
    out["features_file_mb"] = _mb(path.stat().st_size)

    prog.update(force=True, phase="masks + scoring")
    lab_ids = np.fromiter(labels, dtype=np.int64)
    c: dict = {}

    def masks_isin():
        labeled_pos = np.flatnonzero(np.isin(ids, lab_ids))
        taken = np.isin(ids, np.fromiter(pend | set(labels), dtype=np.int64))
        return labeled_pos, np.flatnonzero(~taken)

    def masks_index():  # ids are the sorted database ids: positions by searchsorted
        taken_ids = np.fromiter(pend | set(labels), dtype=np.int64)
        pos_l = np.searchsorted(ids, lab_ids)
        pos_t = np.searchsorted(ids, taken_ids)
        mask = np.ones(ids.size, dtype=bool)
        mask[pos_t[(pos_t < ids.size)]] = False
        return np.sort(pos_l), np.flatnonzero(mask)

    c["np.isin masks (current)"], (lp, cand) = best_of(masks_isin)
    c["searchsorted + boolean mask (proposed)"], (lp2, cand2) = best_of(masks_index)
    c["(same result)"] = bool(np.array_equal(lp, lp2) and np.array_equal(cand, cand2))
    c["X[cand] fancy-index copy"], Xc = best_of(lambda: X[cand])
    c["predict_proba(X[cand])"], proba = best_of(lambda: model.predict_proba(Xc))
    c["margin(proba)"], sc = best_of(lambda: U.margin(proba))
    if proba.shape[1] == 2:
        c["margin, 2 classes: 1 - |p0 - p1| on the two columns (proposed)"], sc2 = best_of(
            lambda: 1.0 - np.abs(proba[:, 0] - proba[:, 1])
        )
        c["(margin same values)"] = bool(np.allclose(sc, sc2))
    c["top_positions(scores, 100)"], pos = best_of(
        lambda: _registry.top_positions(sc, a["batch_size"], np.random.default_rng(0))
    )
    sel = _registry.Selection("margin", cand[pos], cand, {"margin": sc})
    c["Selection.picks()"], _ = best_of(sel.picks)
    out["masks_and_scoring_s"] = {k: (_r(v) if isinstance(v, float) else v) for k, v in c.items()}
    project.close()
    return out


def step_import_micro(a: dict, prog: Progress) -> dict:
    """Per-row cost of the insert path of import_pool vs Core and raw sqlite3 (fresh projects)."""
    import json as _json

    import numpy as np
    from sqlalchemy import insert

    from labelwise.store import Project, transaction
    from labelwise.store._models import Sample, now

    n = a["n"]
    rng = np.random.default_rng(SEED)
    values = rng.standard_normal((n, N_COLS)).astype(np.float32).astype(np.float64)
    names = [f"c{j}" for j in range(N_COLS)]
    out: dict = {"n_rows": n}

    def rows_dicts():
        data = [dict(zip(names, row, strict=True)) for row in values.tolist()]
        return [
            {
                "uid": str(i + 1),
                "uri": None,
                "text": None,
                "data": d,
                "meta": None,
                "split": "pool",
                "import_id": 1,
                "created_at": now(),
            }
            for i, d in enumerate(data)
        ]

    t, rows = best_of(rows_dicts, 1)
    out["build row dicts (as import_pool)_s_per_1M"] = _r(t * 1e6 / n, 2)
    rows_with_ids = [{"id": i + 1, **r} for i, r in enumerate(rows)]

    def fresh(tag):
        return Project.init(Path(a["dir"]) / tag, classes=CLASSES_TABLE)

    def orm_returning(p):  # what import_pool does now
        sids = []
        with transaction(p.session) as s:
            stmt = insert(Sample).returning(Sample.id, sort_by_parameter_order=True)
            for start in range(0, n, 20_000):
                sids.extend(s.scalars(stmt, rows[start : start + 20_000]))
        assert len(sids) == n

    def orm_ids(p):
        with transaction(p.session) as s:
            for start in range(0, n, 20_000):
                s.execute(insert(Sample), rows_with_ids[start : start + 20_000])

    def core_ids(p):
        with transaction(p.session) as s:
            conn = s.connection()
            for start in range(0, n, 20_000):
                conn.execute(Sample.__table__.insert(), rows_with_ids[start : start + 20_000])

    def raw_ids(p):
        ts = now().replace(tzinfo=None).isoformat(sep=" ")  # one timestamp per import
        with transaction(p.session) as s:
            cur = s.connection().connection.driver_connection.cursor()
            cur.executemany(
                "INSERT INTO sample (id, uid, uri, text, data, meta, split, import_id, "
                "created_at) VALUES (?, ?, NULL, NULL, ?, NULL, 'pool', 1, ?)",
                ((r["id"], r["uid"], _json.dumps(r["data"]), ts) for r in rows_with_ids),
            )

    def raw_no_data(p):
        ts = now().replace(tzinfo=None).isoformat(sep=" ")
        with transaction(p.session) as s:
            cur = s.connection().connection.driver_connection.cursor()
            cur.executemany(
                "INSERT INTO sample (id, uid, split, import_id, created_at) "
                "VALUES (?, ?, 'pool', 1, ?)",
                ((r["id"], r["uid"], ts) for r in rows_with_ids),
            )

    for tag, fn in (
        ("orm_returning", orm_returning),
        ("orm_explicit_ids", orm_ids),
        ("core_explicit_ids", core_ids),
        ("raw_sqlite3", raw_ids),
        ("raw_sqlite3_without_data_column", raw_no_data),
    ):
        prog.update(force=True, phase=f"insert {tag}")
        p = fresh(tag)
        t = time.perf_counter()
        fn(p)
        dt = time.perf_counter() - t
        p.close()
        out[f"insert {tag}_s_per_1M"] = _r(dt * 1e6 / n, 2)
    out["legend"] = {
        "orm_returning": "session.scalars(insert(Sample).returning(Sample.id, "
        "sort_by_parameter_order=True), chunk) per 20k rows (import_pool now)",
        "orm_explicit_ids": "session.execute(insert(Sample), chunk) with ids max(id)+1.. "
        "(safe on SQLite under BEGIN IMMEDIATE): executemany, no RETURNING",
        "core_explicit_ids": "connection.execute(Sample.__table__.insert(), chunk): no ORM layer",
        "raw_sqlite3": "sqlite3 executemany, json.dumps per row, one created_at string per "
        "import, in labelwise's transaction",
        "raw_sqlite3_without_data_column": "the same without the JSON data column (its floor: "
        "the numbers kept in a matrix file instead)",
    }

    # compute_features' read path on the 'orm' project
    from sqlalchemy import select

    p = Project.open(Path(a["dir"]) / "orm_returning")

    def orm_objects():
        with p.session() as s:
            return list(s.scalars(select(Sample).order_by(Sample.id)))

    def core_id_data():
        with p.engine.connect() as c:
            return c.execute(select(Sample.id, Sample.data).order_by(Sample.id)).all()

    def raw_id_data():
        conn = p.engine.raw_connection()
        try:
            rs = conn.cursor().execute("SELECT id, data FROM sample ORDER BY id").fetchall()
        finally:
            conn.close()
        return np.array([list(_json.loads(d).values()) for _i, d in rs], dtype=np.float64)

    r: dict = {}
    prog.update(force=True, phase="read paths")
    t, objs = best_of(orm_objects, 1)
    r["ORM Sample objects (current compute_features)_s_per_1M"] = _r(t * 1e6 / n, 2)
    t = time.perf_counter()
    np.array([[o.data[k] for k in names] for o in objs], dtype=np.float64)
    r["dicts -> array, per-key lookups (current _tabular)_s_per_1M"] = _r(
        (time.perf_counter() - t) * 1e6 / n, 2
    )
    objs.clear()
    t, _ = best_of(core_id_data, 1)
    r["Core select(Sample.id, Sample.data)_s_per_1M"] = _r(t * 1e6 / n, 2)
    t, _ = best_of(raw_id_data, 1)
    r["raw sqlite3 + json.loads + np.array (ids, data only)_s_per_1M"] = _r(t * 1e6 / n, 2)
    cols = ", ".join(f"json_extract(data, '$.{k}')" for k in names)

    def raw_json_extract():
        conn = p.engine.raw_connection()
        try:
            rs = conn.cursor().execute(f"SELECT {cols} FROM sample ORDER BY id").fetchall()
        finally:
            conn.close()
        return np.array(rs, dtype=np.float64)

    t, _ = best_of(raw_json_extract, 1)
    r["raw sqlite3 json_extract per column (SQLite parses) + np.array_s_per_1M"] = _r(
        t * 1e6 / n, 2
    )
    out["features_read_paths"] = r
    p.close()
    return out


def step_status_inproc(a: dict, prog: Progress) -> dict:
    import cProfile

    from labelwise.loop import _project as loop_project
    from labelwise.store import Project

    t = time.perf_counter()
    project = Project.open(a["project"])
    t_open = time.perf_counter() - t
    t = time.perf_counter()
    st = loop_project.status(project)
    t_status = time.perf_counter() - t
    prof = cProfile.Profile()
    prof.enable()
    loop_project.status(project)
    prof.disable()

    def cat(key):
        fn, _l, name = key
        if name == "current_labels":
            return "current_labels"
        if "sqlalchemy" in fn or fn.endswith("store/_project.py"):
            return "db read"
        return "other"

    prof_sum = profile_direct_children(prof, loop_project.status.__code__, cat, top=10)
    import tracemalloc

    tracemalloc.start()
    loop_project.status(project)
    _c, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    project.close()
    return {
        "project_open_s": _r(t_open, 3),
        "status_s": _r(t_status, 3),
        "n_samples": st["n_samples"],
        "n_labeled": st["n_labeled"],
        "n_pending": st["n_pending"],
        "tracemalloc_peak_mb": _mb(peak),
        "cprofile_direct_callees": {
            k: prof_sum[k] for k in ("root_cum_s", "by_category_s", "direct_callees")
        },
    }


STEPS = {
    "gen_csv": step_gen_csv,
    "gen_images": step_gen_images,
    "import": step_import,
    "features": step_features,
    "label_train": step_label_train,
    "select": step_select,
    "select_micro": step_select_micro,
    "import_micro": step_import_micro,
    "status_inproc": step_status_inproc,
}


def child_main(step: str, args_json: str, out_path: str, progress_path: str) -> None:
    a = json.loads(args_json)
    t = time.perf_counter()
    import numpy  # noqa: F401  (baseline: interpreter + the libraries every step uses)
    import sqlalchemy  # noqa: F401

    import labelwise.io._labels  # noqa: F401
    import labelwise.io._samples  # noqa: F401
    import labelwise.loop  # noqa: F401
    import labelwise.loop._project  # noqa: F401
    import labelwise.store  # noqa: F401

    result: dict = {
        "import_s": _r(time.perf_counter() - t, 3),
        "baseline_rss_mb": _proc_status_mb("VmRSS"),
    }
    prog = Progress(progress_path)
    import gc

    gc.callbacks.append(GC)
    try:
        result.update(STEPS[step](a, prog))
        result["status"] = "ok"
    except Exception as e:  # recorded, the parent goes on with the other steps
        result["status"] = "error"
        result["error"] = f"{e.__class__.__name__}: {e}"
        result["traceback"] = traceback.format_exc()[-3000:]
    result["vm_hwm_mb"] = _proc_status_mb("VmHWM")
    result["garbage_collector"] = GC.summary()  # whole child (steps are the bulk of it)
    with open(out_path, "w") as fh:
        json.dump(result, fh, default=str)


# ======================================================================================
# the parent: one child process per step, per-child rusage from wait4
# ======================================================================================


class Runner:
    def __init__(self, tmp: Path, timeout: float):
        self.tmp, self.timeout, self.n = tmp, timeout, 0

    def child(self, step: str, args: dict, timeout: float | None = None) -> dict:
        self.n += 1
        out = self.tmp / f"child-{self.n}-{step}.json"
        prog = self.tmp / f"child-{self.n}-{step}.progress"
        cmd = [
            sys.executable,
            str(HERE),
            "--_child",
            step,
            "--_args",
            json.dumps(args),
            "--_out",
            str(out),
            "--_progress",
            str(prog),
        ]
        return self._run(cmd, timeout or self.timeout, out=out, prog=prog, label=step)

    def command(self, cmd: list[str], timeout: float | None = None, label: str = "") -> dict:
        return self._run(cmd, timeout or self.timeout, capture=True, label=label)

    def _run(self, cmd, timeout, out=None, prog=None, capture=False, label=""):
        stdout_path = self.tmp / f"stdout-{self.n}-{label}.txt"
        t = time.perf_counter()
        with open(stdout_path, "wb") as so:
            proc = subprocess.Popen(
                cmd, stdout=so if capture else sys.stderr, stderr=sys.stderr, start_new_session=True
            )
            timed_out = False
            while True:
                pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - t > timeout:
                    timed_out = True
                    os.killpg(proc.pid, signal.SIGKILL)
                    pid, status, ru = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        wall = time.perf_counter() - t
        res: dict = {}
        if out is not None and out.exists():
            res = json.loads(out.read_text())
        res["process_wall_s"] = _r(wall, 2)
        res["process_peak_rss_mb"] = _r(ru.ru_maxrss / 1024, 1)  # wait4: this child only
        res["exit_code"] = proc.returncode
        if timed_out:
            res["status"] = "timeout"
            res["timeout_s"] = timeout
            if prog is not None and prog.exists():
                res["progress_at_kill"] = p = json.loads(prog.read_text())
                if p.get("rows_inserted") and p.get("t_since_records_ready_s"):
                    res["partial_insert_rows_per_s"] = round(
                        p["rows_inserted"] / p["t_since_records_ready_s"]
                    )
        elif out is not None and not res.get("status"):
            res["status"] = "crashed"
        if capture:
            res["stdout"] = stdout_path.read_text()[:4000]
        return res


def import_time_top(module: str, top: int = 12) -> dict:
    """``python -X importtime -c 'import MODULE'``: self time summed per root package."""
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    per_root: dict[str, int] = {}
    total = 0
    for line in r.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line.split("|")
        try:
            self_us = int(parts[0].split(":")[1])
        except ValueError:
            continue
        root = parts[2].strip().split(".")[0]
        total += self_us
        per_root[root] = per_root.get(root, 0) + self_us
    best = sorted(per_root.items(), key=lambda kv: -kv[1])[:top]
    return {
        "total_s": _r(total / 1e6, 3),
        "self_time_by_root_package_s": {k: _r(v / 1e6, 3) for k, v in best},
    }


def environment() -> dict:
    import sqlite3

    def fs_of(path: str) -> str | None:
        best = ("", None)
        try:
            with open("/proc/mounts") as fh:
                for line in fh:
                    parts = line.split()
                    if path.startswith(parts[1]) and len(parts[1]) > len(best[0]):
                        best = (parts[1], parts[2])
        except OSError:
            pass
        return best[1]

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "loadavg_start": list(os.getloadavg()),
        "versions": {
            d: version(d)
            for d in (
                "labelwise",
                "numpy",
                "pandas",
                "scikit-learn",
                "SQLAlchemy",
                "alembic",
                "pillow",
            )
        },
        "sqlite_library": sqlite3.sqlite_version,
        "db": "SQLite (labelwise default: WAL, synchronous=FULL)",
        "tmp_filesystem": fs_of(tempfile.gettempdir()),
    }


def summarise_select(runs: list[dict]) -> dict:
    ok = [r for r in runs if r.get("status") == "ok"]
    if not ok:
        return {"error": "no select run finished", "runs": runs}
    med = statistics.median(r["seconds"] for r in ok)
    cats = sorted({c for r in ok for c in r["by_category_s"]})
    by_cat = {c: _r(statistics.median(r["by_category_s"].get(c, 0.0) for r in ok)) for c in cats}
    tops = sorted({c for r in ok for c in r["top_level_calls_s"]})
    by_call = {
        c: _r(statistics.median(r["top_level_calls_s"].get(c, 0.0) for r in ok)) for c in tops
    }
    db = by_cat.get("db read", 0) + by_cat.get("db write", 0)
    files = by_cat.get("features file (checksum + np.load)", 0) + by_cat.get(
        "model file (checksum + unpickle)", 0
    )
    scoring = by_cat.get("scoring", 0)
    return {
        "median_seconds": _r(med, 3),
        "min_seconds": _r(min(r["seconds"] for r in ok), 3),
        "all_seconds": [r["seconds"] for r in ok],
        "median_peak_rss_mb": statistics.median(r["process_peak_rss_mb"] for r in ok),
        "median_project_open_s": _r(statistics.median(r["project_open_s"] for r in ok), 3),
        "median_gc_pause_s": _r(
            statistics.median(r.get("garbage_collector", {}).get("gc_pause_s", 0.0) for r in ok), 3
        ),
        "median_gc_pause_in_session_block_s": _r(
            statistics.median(
                r.get("garbage_collector", {})
                .get("gc_pause_by_timed_call_s", {})
                .get("select_batch.session_block", 0.0)
                for r in ok
            ),
            3,
        ),
        "median_by_category_s": dict(sorted(by_cat.items(), key=lambda kv: -kv[1])),
        "median_top_level_calls_s": dict(sorted(by_call.items(), key=lambda kv: -kv[1])),
        "shares": {
            "db_io (reads + write)": _r(db / med, 3),
            "artifact_file_io (features + model)": _r(files / med, 3),
            "store_io_total (db + artifact files)": _r((db + files) / med, 3),
            "scoring (predict_proba + margin + top_k + picks)": _r(scoring / med, 3),
            "residual": _r(
                by_cat.get("residual (np.isin masks, X[cand] copy, result rows)", 0) / med, 3
            ),
        },
    }


def project_select(runs: list[dict], micro: dict) -> dict:
    """Select with the full uid map replaced by a lookup of the 100 picks (measured parts).

    Not a run of changed code. For each timed run (same process, same moment): its total
    minus its own ``with project.session()`` block (pending set + uid map + round number),
    plus the pending set, round number and 100-id lookup as timed in ``select_micro``. What
    the uid map costs outside its block (freeing 1M strings at return, garbage-collector
    passes over its objects) stays in, so this is an upper bound.
    """
    ok = [r for r in runs if r.get("status") == "ok" and "top_level_calls_s" in r]
    if not ok or micro.get("status") != "ok":
        return {}
    q = micro["db_reads_s"]
    lookup = (
        next(v for k, v in q.items() if k.startswith("uid lookup of the 100 picks"))
        + next(v for k, v in q.items() if k.startswith("pending set"))
        + q.get("max(Round.number)", 0.0)
    )
    proj = []
    for r in ok:
        block = r["top_level_calls_s"].get("select_batch.session_block", 0.0)
        total = r["seconds"] - block + lookup
        cats = dict(r["by_category_s"])
        cats["db read"] = cats.get("db read", 0.0) - block + lookup
        proj.append((total, cats))
    proj.sort(key=lambda tc: tc[0])
    total, cats = proj[len(proj) // 2]
    db = cats.get("db read", 0.0) + cats.get("db write", 0.0)
    return {
        "how": "per timed run: total - its session block (pending + uid map + round) + pending, "
        "round and a WHERE id IN (100 picks) lookup from select_micro; median run. Not a "
        "run of changed code; freeing/GC of the uid map stays in (upper bound)",
        "projected_seconds": _r(total, 3),
        "projected_by_category_s": {
            k: _r(v) for k, v in sorted(cats.items(), key=lambda kv: -kv[1])
        },
        "projected_db_io_share": _r(db / total, 3),
        "projected_scoring_share": _r(cats.get("scoring", 0.0) / total, 3),
        "projected_features_file_share": _r(
            cats.get("features file (checksum + np.load)", 0.0) / total, 3
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="every size / 20 (smoke test)")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--workdir", help="parent folder of the temporary data (default: $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--repeats", type=int, default=3, help="timed select/status runs")
    ap.add_argument("--step-timeout", type=float, default=480.0, help="seconds per step")
    ap.add_argument("--_child")
    ap.add_argument("--_args")
    ap.add_argument("--_out")
    ap.add_argument("--_progress")
    args = ap.parse_args()
    if args._child:
        child_main(args._child, args._args, args._out, args._progress)
        return

    sizes = QUICK if args.quick else FULL
    tmp = Path(tempfile.mkdtemp(prefix="labelwise-bench-store-", dir=args.workdir))
    log(f"{'quick' if args.quick else 'full'} run, sizes {sizes}, data in {tmp}")
    runner = Runner(tmp, args.step_timeout)
    res: dict = {
        "benchmark": "bench_store",
        "mode": "quick" if args.quick else "full",
        "sizes": sizes,
        "environment": environment(),
        "steps": {},
    }
    steps = res["steps"]
    csv, labels_csv = tmp / "pool.csv", tmp / "labels.csv"
    tab, img = tmp / "proj-table", tmp / "proj-images"
    t_all = time.perf_counter()
    try:
        log(f"gen_csv: {sizes['n_rows']:,} rows x {N_COLS} columns + id")
        steps["gen_csv"] = runner.child(
            "gen_csv",
            {
                "n_rows": sizes["n_rows"],
                "csv": str(csv),
                "labels_csv": str(labels_csv),
                "n_labels": sizes["n_labels"],
            },
        )
        log(f"  -> {steps['gen_csv'].get('seconds')} s")

        log("import_table: import_pool(project, csv, id_column='id')")
        steps["import_table"] = runner.child(
            "import",
            {
                "kind": "table",
                "project": str(tab),
                "source": str(csv),
                "id_column": "id",
                "sample": True,
            },
        )
        log(
            f"  -> {steps['import_table'].get('status')} {steps['import_table'].get('seconds')} s,"
            f" peak {steps['import_table'].get('process_peak_rss_mb')} MB"
        )

        n_small = sizes["micro_rows"]
        small_csv = tmp / "pool-small.csv"
        runner.child(
            "gen_csv",
            {
                "n_rows": n_small,
                "csv": str(small_csv),
                "labels_csv": str(tmp / "labels-small.csv"),
                "n_labels": 10,
            },
        )
        log(f"import_table_tracemalloc at {n_small:,} rows")
        steps["import_table_tracemalloc"] = runner.child(
            "import",
            {
                "kind": "table",
                "project": str(tmp / "proj-small"),
                "source": str(small_csv),
                "id_column": "id",
                "tracemalloc": True,
            },
        )

        log(f"gen_images: one PNG hard-linked {sizes['n_images']:,} times")
        folder = tmp / "images"
        steps["gen_images"] = runner.child(
            "gen_images",
            {"folder": str(folder), "png": str(tmp / "one.png"), "n_images": sizes["n_images"]},
        )
        if steps["gen_images"].get("status") == "ok":
            log("import_images: import_pool(project, folder)")
            steps["import_images"] = runner.child(
                "import",
                {"kind": "images", "project": str(img), "source": str(folder), "sample": True},
            )
            log(
                f"  -> {steps['import_images'].get('status')} "
                f"{steps['import_images'].get('seconds')} s"
            )

        if steps["import_table"].get("status") == "ok":
            log("features: compute_features on the table project")
            steps["features"] = runner.child("features", {"project": str(tab), "sample": True})
            log(
                f"  -> {steps['features'].get('status')} {steps['features'].get('seconds')} s, "
                f"peak {steps['features'].get('process_peak_rss_mb')} MB"
            )
            steps["features_tracemalloc"] = runner.child(
                "features", {"project": str(tmp / "proj-small"), "tracemalloc": True}
            )

        if steps.get("features", {}).get("status") == "ok":
            log("label_train: import_labels + train(model='logreg')")
            steps["label_train"] = runner.child(
                "label_train", {"project": str(tab), "labels_csv": str(labels_csv)}
            )
            log(
                f"  -> {steps['label_train'].get('status')} "
                f"train {steps['label_train'].get('train_s')} s"
            )

        if steps.get("label_train", {}).get("status") == "ok":
            sel_args = {"project": str(tab), "batch_size": sizes["batch_size"]}
            runs = []
            for i in range(args.repeats):
                log(f"select (timed) {i + 1}/{args.repeats}")
                runs.append(runner.child("select", {**sel_args, "mode": "timed", "sample": i == 0}))
                log(f"  -> {runs[-1].get('status')} {runs[-1].get('seconds')} s")
            log("select under cProfile")
            prof = runner.child("select", {**sel_args, "mode": "cprofile"})
            log("select under tracemalloc")
            tm = runner.child("select", {**sel_args, "mode": "tracemalloc"})
            log("select_micro: each store read alone, with cheaper equivalents")
            micro = runner.child("select_micro", sel_args)
            res["select"] = {
                "summary": summarise_select(runs),
                "timed_runs": runs,
                "cprofile_run": prof,
                "tracemalloc_run": tm,
                "micro": micro,
            }
            res["select"]["projection"] = project_select(runs, micro)

            log("status: python -m labelwise status DIR --json")
            cli = [
                runner.command(
                    [sys.executable, "-m", "labelwise", "status", str(tab), "--json"],
                    label="status",
                )
                for _ in range(args.repeats)
            ]
            base = [
                runner.command([sys.executable, "-c", "import labelwise.cli"], label="import")
                for _ in range(args.repeats)
            ]
            for c in cli:
                try:
                    c["n_samples_reported"] = json.loads(c["stdout"])["n_samples"]
                except (ValueError, KeyError):
                    c["n_samples_reported"] = None
                c.pop("stdout", None)
            for b in base:
                b.pop("stdout", None)
            res["status_cli"] = {
                "median_seconds": _r(statistics.median(c["process_wall_s"] for c in cli), 3),
                "median_peak_rss_mb": statistics.median(c["process_peak_rss_mb"] for c in cli),
                "runs": cli,
                "bare_import_labelwise_cli_median_s": _r(
                    statistics.median(b["process_wall_s"] for b in base), 3
                ),
                "bare_import_peak_rss_mb": statistics.median(
                    b["process_peak_rss_mb"] for b in base
                ),
            }
            res["status_cli"]["import_time_top_packages"] = import_time_top("labelwise.cli")
            res["status_cli"]["import_time_store_and_sqlalchemy_only_s"] = import_time_top(
                "labelwise.store"
            )["total_s"]
            res["status_inproc"] = runner.child("status_inproc", {"project": str(tab)})

        log(f"import_micro: insert/read paths at {n_small:,} rows")
        steps["import_micro"] = runner.child(
            "import_micro", {"n": n_small, "dir": str(tmp / "micro")}
        )
    finally:
        res["total_wall_s"] = _r(time.perf_counter() - t_all, 1)
        res["environment"]["loadavg_end"] = list(os.getloadavg())
        if args.keep:
            res["kept_workdir"] = str(tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        text = json.dumps(res, indent=1, default=str)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(text + "\n")
        print(text)
    log(f"done in {res['total_wall_s']} s")


if __name__ == "__main__":
    main()
