#!/usr/bin/env python
"""The web labeling app under load: labelwise vs Label Studio, 20 annotators on loopback.

Usage::

    python benchmarks/bench_web.py --quick            # 5,000 samples, 10 s per system (smoke test)
    python benchmarks/bench_web.py --ls-python /opt/lsvenv/bin/python \\
        --out benchmarks/results/web.json             # 100,000 samples, 60 s per system
    python benchmarks/bench_web.py --skip-label-studio   # labelwise only
    python benchmarks/bench_web.py --skip-label-studio --samples 50000 --workers 2 \
        --pg postgresql+psycopg://labelwise:labelwise@127.0.0.1:5432/labelwise_test
                                                      # labelwise on PostgreSQL, 2 workers

Prints ONE JSON object on stdout (and writes it to ``--out`` when given); progress goes to
stderr. Every server is started by the script as a subprocess (its own process group) on a free
127.0.0.1 port, with its data in a temporary folder (``--workdir`` picks its parent), and is
always stopped at the end (``try/finally``; SIGTERM, then SIGKILL after 15 s). The folder is
removed unless ``--keep``.

Label Studio is installed in its own virtualenv so that it cannot disturb this one::

    python -m venv /opt/lsvenv && /opt/lsvenv/bin/pip install label-studio

What runs, for each system in turn (``--order``), on the same machine in the same run:

1. set-up (timed, not part of the load figures): a project with the classes a..j and N = 100,000
   short seeded texts (the same texts for both), one admin and ``--annotators`` (20) annotator
   accounts, each annotator logged in with its own cookie session, as a browser does.

   * labelwise, through its CLI: ``init --classes a,...,j``, ``import pool.csv --id-column id
     --text-column text``, ``users add NAME --role admin|annotator --password PW``, ``embed``
     (``--method tfidf`` when offered: the features do not matter for a random round) and
     ``select --batch N --strategy random``, so the latest round holds every sample; then
     ``serve --host 127.0.0.1 --port P``. Login: ``POST /api/login`` (JSON) returns the CSRF
     token sent as ``X-CSRF-Token`` on every later POST; the session is the ``lw_session``
     cookie.
   * Label Studio: ``label-studio start --no-browser --internal-host 127.0.0.1 --port P
     --data-dir TMP --username admin@... --password ...`` (default SQLite database, Django's
     threaded ``runserver`` as ``label-studio start`` runs it; ``LATEST_VERSION_CHECK=false``
     and ``COLLECT_ANALYTICS=false`` so that it makes no outside calls). Login as the browser
     does: ``GET /user/login/`` for the ``csrftoken`` cookie and the form token, ``POST
     /user/login/`` with ``csrfmiddlewaretoken``, then ``X-CSRFToken`` on API calls with the
     session cookie (legacy API tokens stay off, as by default). The project (``POST
     /api/projects``, single-choice ``Choices`` a..j, ``maximum_annotations=1``, default
     sequential sampling) gets its tasks through ``POST /api/projects/{id}/import`` in chunks of
     ``--ls-chunk`` (10,000). The community edition has no annotator role: the annotators are
     20 distinct accounts made through its sign-up form (``/user/signup/``), each of which joins
     the one organization; each then logs in through ``/user/login/``.

2. load: every annotator loops "get next sample, then submit a label" with no think time
   (``--think`` adds some), as fast as the server lets it:

   * labelwise: ``GET /api/next`` then ``POST /api/submit {assignment_id, label, unsure, comment,
     duration}``;
   * Label Studio: ``GET /api/projects/{id}/next`` then ``POST
     /api/tasks/{task_id}/annotations?project={id}`` with a ``choices`` result (what its
     labeling UI posts).

   The first ``--warmup`` seconds (10) are not measured; then ``--duration`` seconds (60) are.
   An iteration counts when it STARTS inside the measured window; iterations still running when
   the window closes are awaited (up to the request timeout) and counted, so slow tails are not
   cut off. Latencies are wall times measured by the client (``time.perf_counter`` around each
   request): per iteration (get-next + submit) and per request. Percentiles are over the
   iterations whose two requests both got a 2xx; failures are counted apart, by endpoint and
   status (with the first response bodies). ``submits_per_s`` = 2xx submit responses received
   inside the measured window / ``--duration``.

   The client is one asyncio loop with one ``httpx.AsyncClient`` (own cookie jar, keep-alive)
   per annotator, in this process, on the same 2 cores as the server: its own CPU time and the
   server's (all processes of its group, from ``/proc``) during the window are reported, next to
   the machine's CPU use (``/proc/stat``) and load average (``/proc/loadavg``, ``uptime``).

3. count check, after the server has been stopped (so that only what it made durable counts):

   * labelwise: ``labelwise labels export DIR --out labels.csv`` (id,label,annotator,created_at),
     or, where the CLI has the positional form, ``labelwise labels DIR export labels.csv``
     (the JSON's ``export_cmd`` says which ran);
   * Label Studio: its SQLite file, table ``task_completion`` (annotations) of the project.

   Every submit that got a 2xx (warm-up, window and drain alike) must be there exactly once, with
   the label and annotator sent (``lost``: acknowledged but missing; ``label_mismatch``), no
   sample may carry two labels (``samples_labeled_twice``: neither project asks for more than
   one label per sample), and labels the server holds without a 2xx to the client
   (``unacknowledged_in_server``) are listed next to the submits whose outcome the client never
   learned (timeouts, connection errors: ``ambiguous_submits``). ``samples_served_twice`` counts
   samples that get-next handed to more than one annotator (informational).

Ratios: ``p99_ratio`` = Label Studio iteration p99 / labelwise iteration p99 (goal >= 50) and
``throughput_ratio`` = labelwise submits/s / Label Studio submits/s (goal >= 10), with no lost or
duplicated labels. The issue's reference for Label Studio 1.23 on 2 cores: p50 ~ 1.7 s,
p99 ~ 16 s, 6 submits/s at 20 annotators.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import numpy as np
from _common import emit, json_default, version  # noqa: E402  (benchmarks/ is on sys.path)
from _common import log as _common_log  # noqa: E402


def log(msg: str) -> None:
    _common_log(msg, prefix="bench_web")


SEED = 0
CLASSES = list("abcdefghij")
PASSWORD = "Bench-pass-7391"  # passes Django's default password validators
ISSUE_REFERENCE_LS = {
    "version": "1.23",
    "cores": 2,
    "annotators": 20,
    "p50_s": 1.7,
    "p99_s": 16.0,
    "submits_per_s": 6.0,
}
GOALS = {"p99_ratio_min": 50.0, "throughput_ratio_min": 10.0}
WORDS = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
    "sigma tau upsilon phi chi psi omega refund invoice login crash slow page button order "
    "shipping account password email mobile update error payment"
).split()
BODY_SNIPPET = 300
MAX_BODIES = 5


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except Exception:  # noqa: BLE001
        try:
            return "loadavg " + Path("/proc/loadavg").read_text().strip()
        except OSError:
            return "n/a"


def gen_texts(n: int, seed: int = SEED) -> list[tuple[str, str]]:
    """N (uid, text) pairs: 6-12 seeded words each."""
    rng = random.Random(seed)
    return [
        (f"s{i:06d}", " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12))))
        for i in range(n)
    ]


# ======================================================================================
# machine load and process CPU
# ======================================================================================


def _proc_cpu_total() -> tuple[float, float]:
    """(busy jiffies, total jiffies) over all CPUs from /proc/stat."""
    with open("/proc/stat") as fh:
        parts = fh.readline().split()[1:]
    vals = [float(x) for x in parts]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0.0)
    total = sum(vals[:8])
    return total - idle, total


def group_cpu_seconds(pgid: int) -> float | None:
    """utime + stime of every live process in process group ``pgid``."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    found = False
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                s = fh.read()
        except OSError:
            continue
        rest = s[s.rfind(")") + 2 :].split()
        # fields after "comm": state(0) ppid(1) pgrp(2) ... utime(11) stime(12)
        if int(rest[2]) == pgid:
            found = True
            total += (int(rest[11]) + int(rest[12])) / tck
    return total if found else None


class LoadSampler(threading.Thread):
    """Every second: machine CPU busy fraction (/proc/stat) and 1-min load average."""

    def __init__(self, interval: float = 1.0):
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[tuple[float, float, float]] = []  # (t, busy_frac, load1)
        self._stop = threading.Event()

    def run(self) -> None:
        prev = _proc_cpu_total()
        while not self._stop.wait(self.interval):
            cur = _proc_cpu_total()
            busy = (cur[0] - prev[0]) / max(cur[1] - prev[1], 1e-9)
            prev = cur
            try:
                load1 = float(Path("/proc/loadavg").read_text().split()[0])
            except OSError:
                load1 = float("nan")
            self.samples.append((time.monotonic(), busy, load1))

    def stop(self) -> None:
        self._stop.set()

    def summary(self, t0: float, t1: float) -> dict:
        sel = [s for s in self.samples if t0 <= s[0] <= t1 + self.interval]
        if not sel:
            return {}
        busy = [s[1] for s in sel]
        load = [s[2] for s in sel]
        return {
            "cpu_busy_mean_pct": _r(100 * float(np.mean(busy)), 1),
            "cpu_busy_max_pct": _r(100 * float(np.max(busy)), 1),
            "loadavg1_max": _r(max(load), 2),
            "loadavg1_end": _r(load[-1], 2),
            "samples": len(sel),
        }


# ======================================================================================
# server processes
# ======================================================================================


class Server:
    """A server subprocess in its own process group; output goes to a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict, cwd: Path, logfile: Path):
        self.name, self.cmd, self.logfile = name, cmd, logfile
        self._fh = open(logfile, "wb")
        log(f"{name}: starting {' '.join(cmd)}".replace(PASSWORD, "***"))
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=str(cwd),
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pgid = self.proc.pid  # start_new_session: the child leads its own group

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, url: str, timeout: float) -> float:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if not self.alive():
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}"
                )
            try:
                httpx.get(url, timeout=5.0)
                return time.perf_counter() - t0
            except httpx.HTTPError:
                time.sleep(0.5)
        raise RuntimeError(
            f"{self.name} not answering {url} after {timeout:.0f} s: {self.log_tail()}"
        )

    def cpu_seconds(self) -> float | None:
        return group_cpu_seconds(self.pgid)

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM to the group, SIGKILL after ``grace``; returns the exit code."""
        if self.alive():
            try:
                os.killpg(self.pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log(f"{self.name}: no exit {grace:.0f} s after SIGTERM; SIGKILL")
        # whatever of the group is left (workers, reloaders)
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._fh.close()
        return self.proc.returncode

    def log_tail(self, n: int = 3000) -> str:
        try:
            self._fh.flush()
            return self.logfile.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def log_scan(self) -> dict:
        """Counts of error markers in the server's own log."""
        try:
            text = self.logfile.read_text("utf-8", "replace")
        except OSError:
            return {}
        lines = text.splitlines()
        return {
            "lines": len(lines),
            "traceback": text.count("Traceback (most recent call last)"),
            "database_is_locked": text.count("database is locked"),
            # Label Studio: its DRF exception handler logs "<uuid> database is locked" for every
            # failed attempt; its DatabaseIsLockedRetryMiddleware then sleeps (1 s, x1.5 each
            # time, up to 15 times) and runs the WHOLE request again
            "handled_db_locked_exceptions": len(
                {
                    ln.split("[ERROR]", 1)[1].split()[0]
                    for ln in lines
                    if "custom_exception_handler" in ln
                    and "database is locked" in ln
                    and "[ERROR]" in ln
                }
            ),
            # Label Studio's own task-lock consistency errors ("... it's a bug")
            "lock_bug_messages": len({ln for ln in lines if "s a bug" in ln}),
            "status_5xx_lines": (
                len(re.findall(r'" 5\d\d ', text)) + len(re.findall(r"\b5\d\d Internal", text))
            ),
        }


# ======================================================================================
# the load loop (shared)
# ======================================================================================


class Recorder:
    """Everything the annotators observed."""

    def __init__(self) -> None:
        self.iterations: list[dict] = []  # one per attempted iteration
        self.acks: list[dict] = []  # every 2xx submit: sample, annotator, label, ack id, t
        self.ambiguous: list[dict] = []  # submits whose outcome the client never learned
        self.errors: Counter = Counter()
        self.error_bodies: dict[str, list[str]] = defaultdict(list)
        self.served: dict[str, set] = defaultdict(set)  # sample key -> annotators it was served to
        self.exhausted: list[tuple[str, float]] = []

    def error(self, phase: str, endpoint: str, what: str, body: str = "") -> None:
        key = f"{phase}:{endpoint}:{what}"
        self.errors[key] += 1
        if len(self.error_bodies[key]) < MAX_BODIES and body:
            self.error_bodies[key].append(body[:BODY_SNIPPET])


class Adapter(ABC):
    """One system: set-up, server, login, get-next, submit, count check.

    ``Labelwise`` and ``LabelStudio`` implement it; the annotator loop
    only calls these two methods.
    """

    name = "?"

    @abstractmethod
    async def next(self, client: httpx.AsyncClient, ann: dict) -> tuple[str, object]:
        """Ask for the next item: (outcome, item)."""

    @abstractmethod
    async def submit(
        self, client: httpx.AsyncClient, ann: dict, item: dict, label: str, duration: float
    ) -> httpx.Response:
        """Send one label for ``item``."""


async def _annotator_loop(
    adapter: Adapter,
    ann: dict,
    client: httpx.AsyncClient,
    rec: Recorder,
    t_measure: float,
    t_end: float,
    think: float,
    seed: int,
) -> None:
    rng = random.Random(seed)
    while True:
        t0 = time.monotonic()
        if t0 >= t_end:
            return
        phase = "measure" if t0 >= t_measure else "warmup"
        it = {
            "annotator": ann["name"],
            "phase": phase,
            "t0": t0,
            "ok": False,
            "next_s": None,
            "submit_s": None,
            "total_s": None,
        }
        rec.iterations.append(it)
        # ---- get next
        tn = time.perf_counter()
        try:
            kind, item = await adapter.next(client, ann)
        except httpx.HTTPError as e:
            it["next_s"] = time.perf_counter() - tn
            rec.error(phase, "next", type(e).__name__, str(e))
            await asyncio.sleep(0.1)
            continue
        it["next_s"] = time.perf_counter() - tn
        if kind == "empty":
            rec.exhausted.append((ann["name"], time.monotonic()))
            it["empty"] = True
            return
        if kind == "error":
            status, body = item
            it["next_status"] = status
            rec.error(phase, "next", f"HTTP {status}", body)
            await asyncio.sleep(0.1)
            continue
        rec.served[item["key"]].add(ann["name"])
        if think:
            await asyncio.sleep(think)
        # ---- submit
        label = rng.choice(CLASSES)
        ts = time.perf_counter()
        try:
            r = await adapter.submit(client, ann, item, label, round(rng.uniform(0.5, 5.0), 2))
        except httpx.HTTPError as e:
            it["submit_s"] = time.perf_counter() - ts
            rec.error(phase, "submit", type(e).__name__, str(e))
            rec.ambiguous.append(
                {"key": item["key"], "annotator": ann["name"], "error": type(e).__name__}
            )
            await asyncio.sleep(0.1)
            continue
        t_done = time.monotonic()
        it["submit_s"] = time.perf_counter() - ts
        it["submit_status"] = r.status_code
        if 200 <= r.status_code < 300:
            try:
                ack_id = adapter.ack_id(r.json())
            except Exception:  # noqa: BLE001
                ack_id = None
            rec.acks.append(
                {
                    "key": item["key"],
                    "annotator": ann["name"],
                    "label": label,
                    "ack_id": ack_id,
                    "t": t_done,
                }
            )
            it["ok"] = True
            it["total_s"] = it["next_s"] + it["submit_s"]
            it["t_done"] = t_done
        else:
            rec.error(phase, "submit", f"HTTP {r.status_code}", r.text)
            if r.status_code >= 500:
                rec.ambiguous.append(
                    {"key": item["key"], "annotator": ann["name"], "error": f"HTTP {r.status_code}"}
                )


def _pct(xs: list[float]) -> dict:
    if not xs:
        return {"n": 0}
    a = np.asarray(xs, dtype=float)
    return {
        "n": int(a.size),
        "p50_s": _r(np.percentile(a, 50)),
        "p90_s": _r(np.percentile(a, 90)),
        "p99_s": _r(np.percentile(a, 99)),
        "mean_s": _r(a.mean()),
        "max_s": _r(a.max()),
    }


async def run_load(
    adapter: Adapter,
    annotators: list[dict],
    clients: list[httpx.AsyncClient],
    warmup: float,
    duration: float,
    think: float,
    server: Server,
    sampler: LoadSampler,
) -> tuple[Recorder, dict]:
    rec = Recorder()
    t_start = time.monotonic()
    t_measure = t_start + warmup
    t_end = t_measure + duration
    log(
        f"{adapter.name}: load: {len(annotators)} annotators, {warmup:.0f} s warm-up + "
        f"{duration:.0f} s measured"
    )
    cpu = {}

    async def mark_window() -> None:
        await asyncio.sleep(max(0.0, t_measure - time.monotonic()))
        cpu["server0"] = server.cpu_seconds()
        cpu["client0"] = sum(os.times()[:2])
        cpu["uptime_start"] = uptime()
        await asyncio.sleep(max(0.0, t_end - time.monotonic()))
        cpu["server1"] = server.cpu_seconds()
        cpu["client1"] = sum(os.times()[:2])
        cpu["uptime_end"] = uptime()

    async def progress() -> None:
        last = 0
        while time.monotonic() < t_end:
            await asyncio.sleep(10)
            n = len(rec.acks)
            log(
                f"{adapter.name}: {time.monotonic() - t_start:5.0f} s, {n} submits "
                f"(+{(n - last) / 10:.1f}/s), {sum(rec.errors.values())} errors"
            )
            last = n

    tasks = [
        asyncio.create_task(
            _annotator_loop(adapter, a, c, rec, t_measure, t_end, think, SEED + 1000 + i)
        )
        for i, (a, c) in enumerate(zip(annotators, clients, strict=True))
    ]
    side = [asyncio.create_task(mark_window()), asyncio.create_task(progress())]
    await asyncio.gather(*tasks)
    t_drained = time.monotonic()
    for s in side:
        if not s.done():
            s.cancel()
    await asyncio.gather(*side, return_exceptions=True)

    meas = [it for it in rec.iterations if it["phase"] == "measure"]
    ok = [it for it in meas if it["ok"]]
    acks_in_window = sum(1 for a in rec.acks if t_measure <= a["t"] <= t_end)
    exhausted_at = min((t for _, t in rec.exhausted), default=None)
    eff = duration
    if exhausted_at is not None and exhausted_at < t_end:
        eff = max(exhausted_at - t_measure, 1e-9)
    loads = {}
    if cpu.get("server0") is not None and cpu.get("server1") is not None:
        loads["server_cpu_s"] = _r(cpu["server1"] - cpu["server0"], 2)
        loads["server_cores_used"] = _r((cpu["server1"] - cpu["server0"]) / duration, 2)
    if "client1" in cpu:
        loads["client_cpu_s"] = _r(cpu["client1"] - cpu["client0"], 2)
        loads["client_cores_used"] = _r((cpu["client1"] - cpu["client0"]) / duration, 2)
    loads.update(sampler.summary(t_measure, t_end))
    if "cpu_busy_mean_pct" in loads and "server_cpu_s" in loads and "client_cpu_s" in loads:
        # what the rest of the machine (other processes) used meanwhile, in cores
        loads["other_processes_cores_used"] = _r(
            loads["cpu_busy_mean_pct"] / 100 * (os.cpu_count() or 1)
            - loads["server_cores_used"]
            - loads["client_cores_used"],
            2,
        )
    loads["uptime_window_start"] = cpu.get("uptime_start")
    loads["uptime_window_end"] = cpu.get("uptime_end")
    if "server_cpu_s" in loads and ok:
        loads["server_cpu_ms_per_ok_iteration"] = _r(1000 * loads["server_cpu_s"] / len(ok), 1)
    # 5-second buckets of the measured window, by iteration start: ok iterations and their p99
    timeline = []
    for b0 in np.arange(0.0, duration, 5.0):
        sel = [it["total_s"] for it in ok if b0 <= it["t0"] - t_measure < b0 + 5.0]
        timeline.append(
            {
                "t_s": float(b0),
                "ok": len(sel),
                "p50_s": _r(np.percentile(sel, 50), 3) if sel else None,
                "p99_s": _r(np.percentile(sel, 99), 3) if sel else None,
                "max_s": _r(max(sel), 3) if sel else None,
            }
        )
    errs_meas = {k.split(":", 1)[1]: v for k, v in rec.errors.items() if k.startswith("measure:")}
    errs_warm = {k.split(":", 1)[1]: v for k, v in rec.errors.items() if k.startswith("warmup:")}
    result = {
        "iteration": _pct([it["total_s"] for it in ok]),
        "get_next": _pct(
            [
                it["next_s"]
                for it in meas
                if it["next_s"] is not None and (it["ok"] or it.get("submit_s") is not None)
            ]
        ),
        "submit": _pct([it["submit_s"] for it in ok]),
        "submits_per_s": _r(acks_in_window / eff, 2),
        "submits_in_window": acks_in_window,
        "measured_window_s": _r(eff, 2),
        "iterations_started_in_window": len(meas),
        "iterations_ok": len(ok),
        "iterations_failed": len(meas) - len(ok),
        "drain_s": _r(t_drained - t_end, 2),
        "errors_measured": dict(sorted(errs_meas.items())),
        "errors_warmup": dict(sorted(errs_warm.items())),
        "error_bodies": {k: v for k, v in rec.error_bodies.items()},
        "warmup_iterations_ok": sum(
            1 for it in rec.iterations if it["phase"] == "warmup" and it["ok"]
        ),
        "queue_exhausted": bool(rec.exhausted),
        "load": loads,
        "timeline_5s": timeline,
    }
    it_ = result["iteration"]
    log(
        f"{adapter.name}: done: iteration p50 {it_.get('p50_s')} s, p99 {it_.get('p99_s')} s, "
        f"{result['submits_per_s']} submits/s, {len(meas) - len(ok)} failed iterations"
    )
    return rec, result


def check_counts(rec: Recorder, server_rows: list[dict]) -> dict:
    """Compare the 2xx submits with the labels the server holds.

    ``server_rows``: {"key", "annotator", "label", "id"} per stored label.
    """
    acked = Counter((a["key"], a["annotator"]) for a in rec.acks)
    stored = Counter((r["key"], r["annotator"]) for r in server_rows)
    lost = acked - stored
    unacked = stored - acked
    per_sample = Counter(r["key"] for r in server_rows)
    twice = {k: n for k, n in per_sample.items() if n > 1}
    acked_twice = {k: n for k, n in Counter(a["key"] for a in rec.acks).items() if n > 1}
    ack_ids = Counter(a["ack_id"] for a in rec.acks if a["ack_id"] is not None)
    dup_ack_ids = {k: n for k, n in ack_ids.items() if n > 1}
    stored_label = {}
    for r in server_rows:
        stored_label.setdefault((r["key"], r["annotator"]), r["label"])
    mismatch = [
        a
        for a in rec.acks
        if (a["key"], a["annotator"]) in stored_label
        and stored_label[(a["key"], a["annotator"])] != a["label"]
    ]
    ambiguous_keys = Counter((a["key"], a["annotator"]) for a in rec.ambiguous)
    unacked_explained = sum(min(n, ambiguous_keys.get(k, 0)) for k, n in unacked.items())
    served_twice = sum(1 for v in rec.served.values() if len(v) > 1)
    out = {
        "acked_submits": sum(acked.values()),
        "labels_in_server": len(server_rows),
        "lost": sum(lost.values()),
        "lost_examples": [list(k) for k in list(lost)[:10]],
        "unacknowledged_in_server": sum(unacked.values()),
        "unacknowledged_explained_by_ambiguous_submits": unacked_explained,
        "ambiguous_submits": len(rec.ambiguous),
        "samples_labeled_twice": len(twice),
        "samples_labeled_twice_examples": dict(list(twice.items())[:10]),
        "samples_acked_twice": len(acked_twice),
        "duplicate_ack_ids": len(dup_ack_ids),
        "label_mismatch": len(mismatch),
        "samples_served_twice": served_twice,
    }
    out["ok"] = (
        out["lost"] == 0
        and out["samples_labeled_twice"] == 0
        and out["duplicate_ack_ids"] == 0
        and out["label_mismatch"] == 0
        and out["unacknowledged_in_server"] == unacked_explained
    )
    return out


def make_clients(n: int, base: str, timeout: float) -> list[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
    return [httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits) for _ in range(n)]


# ======================================================================================
# labelwise
# ======================================================================================


class Labelwise(Adapter):
    name = "labelwise"

    def __init__(self, args, work: Path, texts: list[tuple[str, str]]):
        self.args, self.work, self.texts = args, work / "labelwise", texts
        self.work.mkdir(parents=True)
        self.proj = self.work / "proj"
        self.info: dict = {"setup_s": {}, "database": "postgresql" if args.pg else "sqlite"}
        self.server: Server | None = None
        self._pg_name: str | None = None

    def db_url(self) -> str:
        """A fresh PostgreSQL database on the ``--pg`` server for this run (dropped at the end)."""
        import psycopg
        from sqlalchemy.engine import make_url

        u = make_url(self.args.pg)
        self._pg_name = f"bench_web_{os.getpid()}_{int(time.time())}"
        admin = u.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'create database "{self._pg_name}"')
        return u.set(database=self._pg_name).render_as_string(hide_password=False)

    def drop_db(self) -> None:
        if self._pg_name is None:
            return
        import psycopg
        from sqlalchemy.engine import make_url

        u = make_url(self.args.pg).set(drivername="postgresql")
        with psycopg.connect(u.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{self._pg_name}" with (force)')

    def cli(
        self, *argv: str, step: str | None = None, check: bool = True, timeout: float = 3600
    ) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "labelwise", *argv]
        t0 = time.perf_counter()
        p = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.work,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
        )
        dt = time.perf_counter() - t0
        if step:
            self.info["setup_s"][step] = round(self.info["setup_s"].get(step, 0.0) + dt, 2)
        if check and p.returncode != 0:
            raise RuntimeError(
                f"`labelwise {' '.join(argv)}` exited {p.returncode}: "
                f"{(p.stderr or p.stdout)[-2000:]}"
            )
        return p

    def setup(self) -> None:
        a = self.args
        n = len(self.texts)
        pool = self.work / "pool.csv"
        with open(pool, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "text"])
            w.writerows(self.texts)
        log(f"labelwise: init + import {n} texts")
        db = ["--db", self.db_url()] if a.pg else []
        self.cli("init", str(self.proj), "--classes", ",".join(CLASSES), *db, step="init")
        self.cli(
            "import",
            str(self.proj),
            str(pool),
            "--id-column",
            "id",
            "--text-column",
            "text",
            step="import",
        )
        log("labelwise: users")
        self.cli(
            "users",
            "add",
            str(self.proj),
            "admin",
            "--role",
            "admin",
            "--password",
            PASSWORD,
            step="users_add",
        )
        self.annotators = []
        for i in range(a.annotators):
            name = f"ann{i + 1:02d}"
            self.cli(
                "users",
                "add",
                str(self.proj),
                name,
                "--role",
                "annotator",
                "--password",
                PASSWORD,
                step="users_add",
            )
            self.annotators.append({"name": name})
        log("labelwise: embed")
        embed_help = self.cli("embed", "--help", check=False).stdout
        embed_args = ["--method", "tfidf"] if "tfidf" in embed_help else []
        self.info["embed_args"] = embed_args
        self.cli("embed", str(self.proj), *embed_args, step="embed")
        log(f"labelwise: select --batch {n} --strategy random")
        p = self.cli(
            "select",
            str(self.proj),
            "--batch",
            str(n),
            "--strategy",
            "random",
            "--seed",
            str(SEED),
            step="select",
        )
        self.info["select_output_tail"] = p.stdout[-300:]
        log(f"labelwise: set-up times {self.info['setup_s']}")

    def start(self) -> str:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [
            sys.executable,
            "-m",
            "labelwise",
            "serve",
            str(self.proj),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        if self.args.workers is not None:
            cmd += ["--workers", str(self.args.workers)]
        self.server = Server(
            "labelwise",
            cmd,
            env={**os.environ, "NO_COLOR": "1"},
            cwd=self.work,
            logfile=self.work / "server.log",
        )
        self.info["server_cmd"] = " ".join(self.server.cmd[1:])
        self.info["startup_s"] = round(
            self.server.wait_ready(base + "/api/next", self.args.ready_timeout), 2
        )
        self.base = base
        return base

    async def login(self, client: httpx.AsyncClient, ann: dict) -> None:
        r = await client.post("/api/login", json={"username": ann["name"], "password": PASSWORD})
        if r.status_code != 200:
            raise RuntimeError(
                f"labelwise login {ann['name']}: HTTP {r.status_code} {r.text[:300]}"
            )
        body = r.json()
        ann["csrf"] = body.get("csrf")
        ann["role"] = body.get("role")
        if "lw_session" not in client.cookies:
            self.info.setdefault("notes", []).append(
                f"login response set no lw_session cookie usable on http://127.0.0.1 "
                f"(Set-Cookie: {r.headers.get('set-cookie', '')[:200]})"
            )

    async def next(self, client, ann):
        r = await client.get("/api/next")
        if r.status_code != 200:
            return "error", (r.status_code, r.text)
        body = r.json()
        if body.get("assignment") is None:
            return "empty", None
        s = body.get("sample") or {}
        return "ok", {"key": s.get("uid"), "assignment_id": body["assignment"]["id"]}

    async def submit(self, client, ann, item, label, duration):
        return await client.post(
            "/api/submit",
            json={
                "assignment_id": item["assignment_id"],
                "label": label,
                "unsure": False,
                "comment": "",
                "duration": duration,
            },
            headers={"X-CSRF-Token": ann.get("csrf") or ""},
        )

    @staticmethod
    def ack_id(body: dict):
        return body.get("label_id")

    def server_rows(self) -> list[dict]:
        out = self.work / "labels.csv"
        tries = [
            ("labels", "export", str(self.proj), "--out", str(out)),  # the documented form
            ("labels", str(self.proj), "export", str(out)),
        ]  # the older positional form
        errs = []
        for argv in tries:
            p = self.cli(*argv, step="labels_export", check=False)
            if p.returncode == 0 and out.exists():
                self.info["export_cmd"] = "labelwise " + " ".join(argv)
                break
            errs.append(
                f"`labelwise {' '.join(argv)}` -> {p.returncode}: {(p.stderr or p.stdout)[-500:]}"
            )
        else:
            raise RuntimeError("labels export failed: " + " | ".join(errs))
        with open(out, newline="") as fh:
            return [
                {"key": r["id"], "annotator": r.get("annotator"), "label": r["label"], "id": None}
                for r in csv.DictReader(fh)
            ]

    def version(self) -> dict:
        return {
            "labelwise": version("labelwise"),
            "uvicorn": version("uvicorn"),
            "fastapi": version("fastapi"),
            "starlette": version("starlette"),
        }


# ======================================================================================
# Label Studio
# ======================================================================================


def _form_token(html: str) -> str | None:
    m = re.search(r'name=["\']csrfmiddlewaretoken["\']\s+value=["\']([^"\']+)', html)
    return m.group(1) if m else None


def ls_label_config() -> str:
    choices = "".join(f'<Choice value="{c}"/>' for c in CLASSES)
    return (
        '<View><Text name="text" value="$text"/>'
        f'<Choices name="label" toName="text" choice="single" showInline="true">{choices}'
        "</Choices></View>"
    )


def ls_executable(path: str) -> list[str]:
    """``label-studio`` console script next to the given python, or the path itself."""
    p = Path(path)
    if p.name.startswith("label-studio"):
        return [str(p)]
    sib = p.parent / "label-studio"
    if sib.exists():
        return [str(sib)]
    return [str(p), "-m", "label_studio.server"]


class LabelStudio(Adapter):
    name = "label_studio"

    def __init__(self, args, work: Path, texts: list[tuple[str, str]]):
        self.args, self.work, self.texts = args, work / "label_studio", texts
        self.work.mkdir(parents=True)
        self.data = self.work / "data"
        self.info: dict = {"setup_s": {}}
        self.server: Server | None = None
        self.admin_email = "admin@bench.local"

    def start(self) -> str:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("VIRTUAL_ENV", "PYTHON", "DJANGO", "LABEL_STUDIO", "DATABASE"))
        }
        env.update(
            {
                "LABEL_STUDIO_BASE_DATA_DIR": str(self.data),
                "LATEST_VERSION_CHECK": "false",
                "COLLECT_ANALYTICS": "false",
                "HOME": str(self.work),
            }
        )
        if self.args.ls_log_level:
            env["LOG_LEVEL"] = self.args.ls_log_level
        cmd = [
            *ls_executable(self.args.ls_python),
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(self.data),
            "--username",
            self.admin_email,
            "--password",
            PASSWORD,
        ]
        self.server = Server(
            "label_studio", cmd, env=env, cwd=self.work, logfile=self.work / "server.log"
        )
        self.info["server_cmd"] = " ".join(cmd).replace(PASSWORD, "***")
        self.info["env"] = {k: env[k] for k in ("LATEST_VERSION_CHECK", "COLLECT_ANALYTICS")}
        self.info["startup_s"] = round(
            self.server.wait_ready(base + "/user/login/", self.args.ready_timeout), 2
        )
        self.base = base
        return base

    # ---- browser-like session login (sync, for set-up) and async (annotators)
    def _sync_login(self, email: str) -> httpx.Client:
        c = httpx.Client(base_url=self.base, timeout=self.args.request_timeout)
        r = c.get("/user/login/")
        tok = _form_token(r.text) or c.cookies.get("csrftoken")
        r = c.post(
            "/user/login/",
            data={"csrfmiddlewaretoken": tok, "email": email, "password": PASSWORD},
            headers={"Referer": self.base + "/user/login/"},
        )
        if r.status_code != 302 or "sessionid" not in c.cookies:
            raise RuntimeError(f"Label Studio login {email}: HTTP {r.status_code} {r.text[:300]}")
        c.headers["X-CSRFToken"] = c.cookies.get("csrftoken")
        return c

    def setup(self) -> None:
        a = self.args
        admin = self._sync_login(self.admin_email)
        try:
            r = admin.get("/api/version")
            v = r.json() if r.status_code == 200 else {}
            self.info["version_api"] = {
                "release": v.get("release"),
                "django": (v.get("dm2") or {}).get("version"),
            }
            self.ls_version = v.get("release")
            r = admin.post(
                "/api/projects",
                json={
                    "title": "bench_web",
                    "label_config": ls_label_config(),
                    "maximum_annotations": 1,
                },
            )
            if r.status_code != 201:
                raise RuntimeError(f"create project: HTTP {r.status_code} {r.text[:500]}")
            self.project = r.json()["id"]
            self.info["project"] = {
                "id": self.project,
                "sampling": r.json().get("sampling"),
                "maximum_annotations": r.json().get("maximum_annotations"),
            }
            n = len(self.texts)
            log(f"label_studio: importing {n} tasks in chunks of {a.ls_chunk}")
            t0 = time.perf_counter()
            for i in range(0, n, a.ls_chunk):
                chunk = [{"text": t, "uid": uid} for uid, t in self.texts[i : i + a.ls_chunk]]
                r = admin.post(f"/api/projects/{self.project}/import", json=chunk)
                if r.status_code != 201:
                    raise RuntimeError(f"import chunk {i}: HTTP {r.status_code} {r.text[:500]}")
                if (i // a.ls_chunk) % 2 == 1 or i + a.ls_chunk >= n:
                    log(
                        f"label_studio: imported {min(i + a.ls_chunk, n)}/{n} "
                        f"({time.perf_counter() - t0:.0f} s)"
                    )
            self.info["setup_s"]["import"] = round(time.perf_counter() - t0, 2)
            r = admin.get(f"/api/projects/{self.project}")
            self.info["project"]["task_number"] = r.json().get("task_number")
        finally:
            admin.close()
        # annotators: sign-up form (community edition: every account joins the one organization)
        log(f"label_studio: signing up {a.annotators} annotators")
        t0 = time.perf_counter()
        self.annotators = []
        for i in range(a.annotators):
            email = f"ann{i + 1:02d}@bench.local"
            with httpx.Client(base_url=self.base, timeout=a.request_timeout) as c:
                r = c.get("/user/signup/")
                r = c.post(
                    "/user/signup/",
                    data={
                        "csrfmiddlewaretoken": _form_token(r.text),
                        "email": email,
                        "password": PASSWORD,
                    },
                    headers={"Referer": self.base + "/user/signup/"},
                )
                if r.status_code != 302:
                    raise RuntimeError(f"sign-up {email}: HTTP {r.status_code} {r.text[:500]}")
            self.annotators.append({"name": email})
        self.info["setup_s"]["signup_users"] = round(time.perf_counter() - t0, 2)
        self.info["annotator_accounts"] = (
            f"{a.annotators} distinct accounts via the sign-up form /user/signup/ (the community "
            "edition has no annotator role: each account joins the single organization as a member "
            "with the same project access); each logs in through /user/login/ with its own session"
        )

    async def login(self, client: httpx.AsyncClient, ann: dict) -> None:
        r = await client.get("/user/login/")
        tok = _form_token(r.text) or client.cookies.get("csrftoken")
        r = await client.post(
            "/user/login/",
            data={"csrfmiddlewaretoken": tok, "email": ann["name"], "password": PASSWORD},
            headers={"Referer": self.base + "/user/login/"},
        )
        if r.status_code != 302 or "sessionid" not in client.cookies:
            raise RuntimeError(
                f"Label Studio login {ann['name']}: HTTP {r.status_code} {r.text[:300]}"
            )
        ann["csrf"] = client.cookies.get("csrftoken")
        r = await client.get("/api/current-user/whoami")
        ann["user_id"] = r.json()["id"]

    async def next(self, client, ann):
        r = await client.get(f"/api/projects/{self.project}/next")
        if r.status_code == 404 and "There are no tasks" in r.text:
            return "empty", None
        if r.status_code != 200:
            return "error", (r.status_code, r.text)
        body = r.json()
        return "ok", {"key": str(body["id"]), "task_id": body["id"]}

    async def submit(self, client, ann, item, label, duration):
        payload = {
            "result": [
                {
                    "from_name": "label",
                    "to_name": "text",
                    "type": "choices",
                    "origin": "manual",
                    "value": {"choices": [label]},
                }
            ],
            "lead_time": duration,
            "project": str(self.project),
            "draft_id": 0,
            "parent_prediction": None,
            "parent_annotation": None,
        }
        return await client.post(
            f"/api/tasks/{item['task_id']}/annotations?project={self.project}",
            json=payload,
            headers={
                "X-CSRFToken": ann["csrf"],
                "Referer": self.base + f"/projects/{self.project}/data",
            },
        )

    @staticmethod
    def ack_id(body: dict):
        return body.get("id")

    def server_rows(self) -> list[dict]:
        db = self.data / "label_studio.sqlite3"
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            users = dict(con.execute("SELECT id, email FROM htx_user").fetchall())
            rows = con.execute(
                "SELECT id, task_id, completed_by_id, result, was_cancelled "
                "FROM task_completion WHERE project_id = ?",
                (self.project,),
            ).fetchall()
        finally:
            con.close()
        out = []
        for aid, task_id, uid, result, cancelled in rows:
            try:
                label = json.loads(result)[0]["value"]["choices"][0]
            except Exception:  # noqa: BLE001
                label = None
            out.append(
                {
                    "key": str(task_id),
                    "annotator": users.get(uid),
                    "label": label,
                    "id": aid,
                    "cancelled": bool(cancelled),
                }
            )
        return out

    def version(self) -> dict:
        p = subprocess.run(
            [
                self._python(),
                "-c",
                "import label_studio, django, sys; "
                "print(label_studio.__version__, django.get_version(), "
                "sys.version.split()[0])",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        v = p.stdout.split()
        return {
            "label_studio": v[0] if v else None,
            "django": v[1] if len(v) > 1 else None,
            "python": v[2] if len(v) > 2 else None,
            "server": "Django runserver (threaded), as `label-studio start` runs it",
            "database": "SQLite (default)",
        }

    def _python(self) -> str:
        p = Path(self.args.ls_python)
        if p.name.startswith("label-studio"):
            return str(p.parent / "python")
        return str(p)


# ======================================================================================
# one system end to end
# ======================================================================================


async def _login_all(adapter, base: str) -> list[httpx.AsyncClient]:
    clients = make_clients(len(adapter.annotators), base, adapter.args.request_timeout)
    for ann, c in zip(adapter.annotators, clients, strict=True):
        await adapter.login(c, ann)
    return clients


def wait_quiet(
    sampler: LoadSampler, max_wait: float, busy_max: float = 0.25, window: int = 10
) -> dict:
    """Wait (up to ``max_wait`` s) until the machine's CPU was < ``busy_max`` busy for
    ``window`` consecutive 1-s samples (the servers are idle then, so what runs is others')."""
    t0 = time.monotonic()
    n0 = len(sampler.samples)
    logged = 0.0
    while True:
        recent = sampler.samples[n0:][-window:]
        if len(recent) >= window and max(b for _, b, _ in recent) < busy_max:
            quiet = True
            break
        waited = time.monotonic() - t0
        if waited >= max_wait:
            quiet = False
            break
        if waited - logged >= 30:
            log(f"waiting for a quiet machine ({uptime()})")
            logged = waited
        time.sleep(1.0)
    recent = sampler.samples[n0:][-window:]
    return {
        "waited_s": round(time.monotonic() - t0, 1),
        "quiet": quiet,
        "busy_pct_last_10s": _r(100 * float(np.mean([b for _, b, _ in recent])), 1)
        if recent
        else None,
    }


async def _drive(adapter, base: str, sampler: LoadSampler) -> tuple[Recorder, dict]:
    a = adapter.args
    t0 = time.perf_counter()
    clients = await _login_all(adapter, base)
    adapter.info["setup_s"]["login_annotators"] = round(time.perf_counter() - t0, 2)
    try:
        return await run_load(
            adapter,
            adapter.annotators,
            clients,
            a.warmup,
            a.duration,
            a.think,
            adapter.server,
            sampler,
        )
    finally:
        for c in clients:
            await c.aclose()


def run_system(adapter, sampler: LoadSampler) -> dict:
    res: dict = {"system": adapter.name}
    t0 = time.perf_counter()
    try:
        if isinstance(adapter, Labelwise):
            adapter.setup()
            base = adapter.start()
        else:
            base = adapter.start()
            adapter.setup()
        if adapter.args.wait_quiet > 0:
            res["wait_quiet"] = wait_quiet(sampler, adapter.args.wait_quiet)
            log(f"{adapter.name}: quiet wait {res['wait_quiet']}")
        res["uptime_before_load"] = uptime()
        rec, load = asyncio.run(_drive(adapter, base, sampler))
        res.update(load)
        res["uptime_after_load"] = uptime()
        res["server_log"] = adapter.server.log_scan()
        code = adapter.server.stop()
        res["server_exit_code"] = code
        log(f"{adapter.name}: server stopped (exit {code}); counting labels")
        rows = adapter.server_rows()
        res["count_check"] = check_counts(rec, rows)
        c = res["count_check"]
        log(
            f"{adapter.name}: {c['acked_submits']} acked submits, {c['labels_in_server']} labels "
            f"in server, lost {c['lost']}, twice {c['samples_labeled_twice']}, "
            f"unacked {c['unacknowledged_in_server']}"
        )
    except Exception as e:  # noqa: BLE001
        res["error"] = f"{type(e).__name__}: {e}"
        res["traceback"] = traceback.format_exc()[-3000:]
        log(f"{adapter.name}: FAILED: {res['error'][:500]}")
        if adapter.server is not None:
            res["server_log_tail"] = adapter.server.log_tail(2000)
    finally:
        if adapter.server is not None and adapter.server.alive():
            adapter.server.stop()
        if isinstance(adapter, Labelwise):
            adapter.drop_db()
    try:
        res["versions"] = adapter.version()
    except Exception as e:  # noqa: BLE001
        res["versions"] = {"error": str(e)}
    res["setup"] = adapter.info
    res["total_s"] = round(time.perf_counter() - t0, 1)
    return res


def ratios(lw: dict, ls: dict) -> dict:
    out: dict = {}
    try:
        lw_p99, ls_p99 = lw["iteration"]["p99_s"], ls["iteration"]["p99_s"]
        lw_p50, ls_p50 = lw["iteration"]["p50_s"], ls["iteration"]["p50_s"]
        out["p99_ratio_ls_over_labelwise"] = _r(ls_p99 / lw_p99, 1)
        out["p50_ratio_ls_over_labelwise"] = _r(ls_p50 / lw_p50, 1)
        out["get_next_p99_ratio"] = _r(ls["get_next"]["p99_s"] / lw["get_next"]["p99_s"], 1)
        out["submit_p99_ratio"] = _r(ls["submit"]["p99_s"] / lw["submit"]["p99_s"], 1)
    except (KeyError, TypeError, ZeroDivisionError):
        pass
    try:
        out["throughput_ratio_labelwise_over_ls"] = _r(lw["submits_per_s"] / ls["submits_per_s"], 1)
    except (KeyError, TypeError, ZeroDivisionError):
        pass
    lw_ok = (lw.get("count_check") or {}).get("ok")
    out["goal"] = {
        "p99_ratio_min": GOALS["p99_ratio_min"],
        "throughput_ratio_min": GOALS["throughput_ratio_min"],
        "p99_met": (out.get("p99_ratio_ls_over_labelwise") or 0) >= GOALS["p99_ratio_min"],
        "throughput_met": (
            (out.get("throughput_ratio_labelwise_over_ls") or 0) >= GOALS["throughput_ratio_min"]
        ),
        "labelwise_no_lost_or_duplicated": lw_ok,
    }
    out["goal"]["met"] = bool(out["goal"]["p99_met"] and out["goal"]["throughput_met"] and lw_ok)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="5,000 samples, 3 s warm-up, 10 s per system (smoke test)",
    )
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--workdir", help="parent folder of the temporary data (default: $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--samples", type=int, default=None, help="pool size (default 100,000)")
    ap.add_argument("--annotators", type=int, default=20)
    ap.add_argument("--duration", type=float, default=None, help="measured seconds per system (60)")
    ap.add_argument("--warmup", type=float, default=None, help="unmeasured seconds first (10)")
    ap.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="seconds each annotator waits between get-next and submit (0)",
    )
    ap.add_argument("--request-timeout", type=float, default=120.0, help="per request, seconds")
    ap.add_argument("--ready-timeout", type=float, default=300.0, help="server start, seconds")
    ap.add_argument(
        "--ls-python",
        default="/opt/lsvenv/bin/python",
        help="python of Label Studio's virtualenv, or its label-studio executable",
    )
    ap.add_argument("--ls-chunk", type=int, default=10_000, help="tasks per import request")
    ap.add_argument(
        "--ls-log-level", default=None, help="LOG_LEVEL for Label Studio (default: its own default)"
    )
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="before each load phase, wait up to this many seconds for 10 s of CPU "
        "under 25%% busy (other processes on the machine); 0: do not wait",
    )
    ap.add_argument(
        "--pg",
        default=None,
        help="run labelwise on PostgreSQL: a server URL (postgresql+psycopg://u:p@host/db); "
        "a fresh database is made on it for the run and dropped afterwards (default: SQLite)",
    )
    ap.add_argument(
        "--workers", type=int, default=None, help="labelwise serve --workers N (default: its own)"
    )
    ap.add_argument("--skip-label-studio", action="store_true")
    ap.add_argument("--skip-labelwise", action="store_true")
    ap.add_argument(
        "--order", default="labelwise,label_studio", help="which system runs first (comma list)"
    )
    args = ap.parse_args()
    if args.samples is None:
        args.samples = 5_000 if args.quick else 100_000
    if args.duration is None:
        args.duration = 10.0 if args.quick else 60.0
    if args.warmup is None:
        args.warmup = 3.0 if args.quick else 10.0

    if not args.skip_label_studio and not Path(ls_executable(args.ls_python)[0]).exists():
        log(
            f"Label Studio not found at {args.ls_python}: skipping it "
            "(python -m venv /opt/lsvenv && /opt/lsvenv/bin/pip install label-studio)"
        )
        args.skip_label_studio = True
        ls_missing = True
    else:
        ls_missing = False

    result: dict = {
        "benchmark": "web",
        "config": {
            "samples": args.samples,
            "annotators": args.annotators,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "think_s": args.think,
            "request_timeout_s": args.request_timeout,
            "classes": CLASSES,
            "wait_quiet_s": args.wait_quiet,
            "quick": args.quick,
            "order": args.order,
            "client": "asyncio + httpx.AsyncClient"
            " per annotator (own cookie jar, keep-alive), in the benchmark process",
            "host": "127.0.0.1",
            "labelwise_db": "postgresql" if args.pg else "sqlite",
            "labelwise_workers": args.workers,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "httpx": version("httpx"),
            "numpy": version("numpy"),
            "uptime_at_start": uptime(),
        },
        "issue_reference_label_studio": ISSUE_REFERENCE_LS,
        "systems": {},
    }
    work = Path(tempfile.mkdtemp(prefix="bench_web_", dir=args.workdir))
    log(f"work dir {work}")
    sampler = LoadSampler()
    sampler.start()
    try:
        texts = gen_texts(args.samples)
        for name in [s.strip() for s in args.order.split(",") if s.strip()]:
            if name == "labelwise":
                if args.skip_labelwise:
                    result["systems"]["labelwise"] = {"skipped": True}
                    continue
                result["systems"]["labelwise"] = run_system(Labelwise(args, work, texts), sampler)
            elif name in ("label_studio", "label-studio", "ls"):
                if args.skip_label_studio:
                    result["systems"]["label_studio"] = {
                        "skipped": True,
                        "reason": ("not installed at " + args.ls_python)
                        if ls_missing
                        else "--skip-label-studio",
                    }
                    continue
                result["systems"]["label_studio"] = run_system(
                    LabelStudio(args, work, texts), sampler
                )
            else:
                raise SystemExit(f"unknown system in --order: {name}")
    finally:
        sampler.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    lw = result["systems"].get("labelwise", {})
    ls = result["systems"].get("label_studio", {})
    if "iteration" in lw and "iteration" in ls:
        result["ratios"] = ratios(lw, ls)
        log(f"ratios: {json.dumps(result['ratios'], default=json_default)}")
    result["machine"]["uptime_at_end"] = uptime()
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2, default=json_default)
            fh.write("\n")
    emit(result)


if __name__ == "__main__":
    main()
