"""``serve --workers 2``: annotators submitting at once through two server processes on
loopback, on SQLite and PostgreSQL. Every acknowledged submit is stored exactly once, no
sample gets two labels, and nothing is left half done. The run stops by itself."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from webutil import label_until_empty, make_project, stored_web_work

N_ANNOTATORS = 8
BATCH = 120
DEADLINE_S = 150


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workers_of(pid: int) -> int:
    """Worker processes of uvicorn's supervisor ``pid`` (its children running the app)."""
    try:
        kids = open(f"/proc/{pid}/task/{pid}/children").read().split()
    except OSError:
        return -1  # no /proc: not checked
    found = 0
    for kid in kids:
        try:
            cmd = open(f"/proc/{kid}/cmdline", "rb").read()
        except OSError:
            continue
        found += b"spawn_main" in cmd
    return found


@pytest.mark.slow  # two server processes to start: about 25 s on 2 busy cores
def test_two_server_processes_lose_and_duplicate_no_label(tmp_path, db):
    users = {f"w{i}": f"password-{i:02d}" for i in range(N_ANNOTATORS)}
    p, _ = make_project(tmp_path / "p", db=db(), n=160, batch=BATCH, users=users)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "labelwise", "serve", str(tmp_path / "p")]
    cmd += ["--port", str(port), "--workers", "2"]
    server = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: stopped as a whole below
    )
    acked: dict[str, list[tuple[int, str]]] = {u: [] for u in users}
    errors: list[str] = []
    stop = time.monotonic() + DEADLINE_S
    try:
        while True:  # up when it answers (401: not logged in)
            try:
                if httpx.get(base + "/api/me", timeout=2).status_code == 401:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            assert time.monotonic() < stop, "the server did not start"
            time.sleep(0.2)
        workers = _workers_of(server.pid)
        start = threading.Barrier(N_ANNOTATORS)

        def annotator(name: str) -> None:
            # a fresh connection per request: the two processes share the listening socket
            with httpx.Client(
                base_url=base, timeout=60, limits=httpx.Limits(max_keepalive_connections=0)
            ) as c:
                r = c.post("/api/login", json={"username": name, "password": users[name]})
                c.headers["X-CSRF-Token"] = r.json()["csrf"]
                label_until_empty(c, start, acked[name], errors, until=stop)

        threads = [threading.Thread(target=annotator, args=(u,), daemon=True) for u in users]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, stop - time.monotonic()))
        assert not any(t.is_alive() for t in threads), "annotators still running at the deadline"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=20)
    assert workers in (2, -1), workers
    assert not errors, errors[:5]
    all_acked = [x for rows in acked.values() for x in rows]
    assert len(all_acked) == BATCH  # every selected sample labeled once
    assert len({uid for _, uid in all_acked}) == BATCH  # nobody got someone else's sample
    stored, per_sample, open_work, events = stored_web_work(p)
    p.close()
    assert sorted(stored) == sorted(all_acked)  # every acknowledged submit stored, once
    assert len(per_sample) == BATCH and max(per_sample.values()) == 1
    assert open_work == 0 and events == BATCH  # and each has its audit event


def test_workers_default_to_the_cores_on_postgresql_and_two_on_sqlite(tmp_path):
    from typer.testing import CliRunner

    from labelwise.cli import app
    from labelwise.cli.web import default_workers

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert default_workers("postgresql+psycopg://u:p@127.0.0.1/db") == cores
    assert default_workers(f"sqlite:///{tmp_path}/labelwise.db") == min(2, cores)
    r = CliRunner().invoke(app, ["serve", str(tmp_path), "--workers", "0"])
    assert r.exit_code == 2
    assert "--workers must be 1 to 64, got 0." in r.output
