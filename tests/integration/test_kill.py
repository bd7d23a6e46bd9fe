"""Crash reliability: SIGKILL `import`, `select` and `labels import` 50 times each.

After every kill the store must open, pass SQLite's integrity and foreign-key checks,
hold the killed command's writes either whole or not at all, and still hold every label
that a command acknowledged (exit 0) before the kill; after the loop the same command,
run as ``python -m labelwise``, completes on the store the kills left behind.

Starting ``python -m labelwise`` costs 2-5 s on two busy cores (numpy, scikit-learn,
SQLAlchemy, faiss), so 150 fresh interpreters would not fit in CI's time, and most kills
would land during module imports, before the command touched the store. The killed
commands are therefore forked from a fork server started once with ``subprocess.Popen``
that has already imported labelwise: each fork runs exactly what ``python -m labelwise``
runs (``runpy`` on ``labelwise.__main__`` with the command line in ``sys.argv``), with its
own database connections, and is killed with SIGKILL like any process. It appends a mark
to a side file when the command first writes to the database (``W``), after each commit
(``C``) and at a normal exit (``E``), so each kill is classified (before the write,
mid-write, after the commit, after the exit) and a kill after ``C`` must find the write
in the store.

Half the kills are placed, half timed. A placed kill is sent by the command to itself,
from a SQLAlchemy event in the fork (test code: the package has no kill hook): SIGKILL
just before its k-th write statement (inside the open write transaction and the ORM
flush), k drawn over the statements a calibration run counted, or just before the COMMIT,
or just after it. Each placed kill lands where it was placed (mid-write, or after the
commit), however fast or loaded the machine is. A timed kill comes after a delay uniform
over the command's measured duration, so it lands anywhere: module code, the reads before
the write, a statement half executed, the commit, the files written after it; where it
lands is reported, never required.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from labelwise.embed import compute_features
from labelwise.io._labels import import_labels
from labelwise.io._samples import _CHUNK, import_pool
from labelwise.loop._project import train
from labelwise.store import Project

pytestmark = pytest.mark.slow

KILLS = 50
CLASSES = ["a", "b", "c"]
ACK_EVERY = 5  # an acknowledged label import before every 5th kill
ACK_ROWS = 25

# -- the fork server ---------------------------------------------------------------------

FORK_SERVER = r"""
import json, os, runpy, signal, sys, time, traceback

import alembic.command, alembic.config, pandas  # noqa: F401  (what the commands import)
import labelwise.cli, labelwise.embed, labelwise.io._labels, labelwise.io._samples  # noqa
import labelwise.loop._project  # noqa: F401
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session


def child(argv, marks, stderr, kill_at):
    # kill_at: None; N > 0: SIGKILL just before write statement N (or before the COMMIT of
    # the write transaction if it has fewer); 0: just before that COMMIT; -1: just after it
    fd = os.open(marks, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    t0 = time.monotonic()

    def mark(tag, value=None):
        value = f"{time.monotonic() - t0:.4f}" if value is None else value
        os.write(fd, f"{tag} {value}\n".encode())

    def die(where):
        mark("K", where)
        os.kill(os.getpid(), signal.SIGKILL)

    writes = []

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(True)
            if len(writes) == 1:
                mark("W")
            if kill_at == len(writes):
                die(len(writes))

    def on_commit(conn):
        if writes:  # the write transaction: S = its number of write statements
            mark("S", len(writes))
            if kill_at is not None and kill_at >= 0:
                die(0)

    def after_commit(session):
        mark("C")
        if writes and kill_at == -1:
            die(-1)

    event.listen(Engine, "before_cursor_execute", on_execute)
    event.listen(Engine, "commit", on_commit)
    event.listen(Session, "after_commit", after_commit)
    null = os.open(os.devnull, os.O_RDWR)
    for n in (0, 1, 2):
        os.dup2(null, n)
    if stderr:
        os.dup2(os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 2)
    sys.argv = ["labelwise", *argv]
    code = 0
    try:
        runpy.run_module("labelwise", run_name="__main__", alter_sys=True)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    mark("E")
    os._exit(code)


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


reply({"ready": True})
while True:
    line = sys.stdin.readline()
    if not line:
        break
    req = json.loads(line)
    if req["op"] == "run":
        pid = os.fork()
        if pid == 0:
            try:
                child(req["argv"], req["marks"], req.get("stderr"), req.get("kill_at"))
            finally:
                os._exit(1)
        reply({"pid": pid})
    elif req["op"] == "wait":
        _, status = os.waitpid(req["pid"], 0)
        reply({"code": os.waitstatus_to_exitcode(status)})
"""


class ForkServer:
    """Runs labelwise commands as forks of one pre-imported interpreter."""

    def __init__(self, log: Path):
        env = dict(os.environ)
        # No BLAS/OpenMP thread pools in the server, so forking it is safe.
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.log = log
        self._err = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", FORK_SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            env=env,
        )
        assert self._read() == {"ready": True}

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"fork server died: {self.log.read_text()[-2000:]}")
        return json.loads(line)

    def _ask(self, **req) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def start(
        self, argv: list[str], marks: Path, stderr: Path | None = None, kill_at: int | None = None
    ) -> int:
        """Fork a command; ``kill_at``: it kills itself before that write statement.

        0: just before the COMMIT of its write transaction; -1: just after it.
        """
        argv = [str(a) for a in argv]
        err = None if stderr is None else str(stderr)
        req = dict(op="run", argv=argv, marks=str(marks), stderr=err, kill_at=kill_at)
        return self._ask(**req)["pid"]

    def wait(self, pid: int) -> int:
        """Exit code of a started command (negative: killed by that signal)."""
        return self._ask(op="wait", pid=pid)["code"]

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._err.close()


@pytest.fixture(scope="module")
def forks(tmp_path_factory):
    server = ForkServer(tmp_path_factory.mktemp("forkserver") / "stderr.log")
    yield server
    server.close()


def read_marks(path: Path) -> dict[str, float]:
    """First value of each mark: seconds after the fork of W (first write), C (commit) and
    E (exit); the number of write statements S before the commit; K, where the command
    killed itself (write statement number; 0: before the COMMIT, -1: after it).

    Every command here writes in one transaction: more than one commit fails the test.
    """
    marks: dict[str, float] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    for line in lines:
        tag, value = line.split()
        marks.setdefault(tag, float(value))
    commits = sum(line.startswith("C") for line in lines)
    assert commits <= 1, f"one command committed {commits} transactions: not all or nothing"
    return marks


class Killer:
    """Starts a command, kills it and says where the kill landed.

    Kills alternate between placed and timed. Of five placed kills, three come just before
    write statement k, k uniform over the S write statements of a calibration run (just
    before the COMMIT in a run with fewer), one just before the COMMIT and one just after
    it; each must land there (mid-write or after-commit), whatever the machine's speed.
    A timed kill: a delay uniform between 0 and the command's duration, measured by the
    calibration run; the estimate follows the machine's speed (a run that finishes before
    its kill lowers it).
    """

    def __init__(self, forks: ForkServer, workdir: Path, seed: int):
        self.forks = forks
        self.dir = workdir
        self.dir.mkdir()
        self.rng = np.random.default_rng(seed)
        self.n = 0
        self.d = self.w = 0.0  # estimated duration and start of the write, seconds
        self.statements = 0  # write statements of the calibration run
        self.outcomes: Counter = Counter()
        self.placed: Counter = Counter()  # outcomes of the placed kills
        self.t0 = time.monotonic()

    def _marks(self) -> Path:
        self.n += 1
        return self.dir / f"marks-{self.n}"

    def complete(self, argv: list, *, expect: int = 0) -> dict:
        """Run to the end; it must exit with `expect` (0: the command is acknowledged)."""
        marks, err = self._marks(), self.dir / f"stderr-{self.n}"
        pid = self.forks.start(argv, marks, err)
        watchdog = threading.Timer(120, os.kill, (pid, signal.SIGKILL))  # a hang fails
        watchdog.start()
        try:
            code = self.forks.wait(pid)
        finally:
            watchdog.cancel()
        assert code == expect, f"{argv} exited with {code}: {err.read_text()[-1500:]}"
        return {**read_marks(marks), "stderr": err.read_text()}

    def calibrate(self, argv: list) -> None:
        """Run to the end: its duration and the start of its write set the kill delays."""
        m = self.complete(argv)
        self.d, self.w, self.statements = m["E"], m["W"], int(m["S"])

    def kill(self, argv: list) -> tuple[str, dict[str, float]]:
        """Start, SIGKILL (placed or timed), reap; return (outcome, marks)."""
        placed = sum(self.outcomes.values()) % 2 == 0
        marks = self._marks()
        if placed:
            kind = sum(self.placed.values()) % 5  # 0-2: a statement, 3: COMMIT, 4: after
            at = int(self.rng.integers(1, self.statements + 1)) if kind < 3 else 3 - kind
            expect = "after-commit" if at == -1 else "mid-write"
            pid = self.forks.start(argv, marks, kill_at=at)
        else:
            delay = float(self.rng.uniform(0.0, self.d))
            pid = self.forks.start(argv, marks)
            time.sleep(delay)
            os.kill(pid, signal.SIGKILL)  # a command that already exited is a zombie: no-op
        code = self.forks.wait(pid)
        m = read_marks(marks)
        if code == 0:
            outcome = "finished"
            self.d = 0.7 * self.d + 0.3 * m["E"]
        elif code == -signal.SIGKILL:
            outcome = "after-commit" if "C" in m else "mid-write" if "W" in m else "before-write"
        else:
            pytest.fail(f"{argv} exited with {code} before the kill; {_rerun_hint(argv)}")
        if "W" in m:
            self.w = min(0.7 * self.w + 0.3 * m["W"], self.d)
        self.outcomes[outcome] += 1
        if placed:
            self.placed[outcome] += 1
            landed = m.get("K")  # a statement beyond a shorter run's last: its COMMIT
            assert outcome == expect and (landed == at or (at > 0 and landed == 0)), (
                f"{argv}: a kill placed at write statement {at} of {self.statements} "
                f"(0: before the commit, -1: after it) landed {outcome}, marks {m}"
            )
        return outcome, m

    def check_placed(self, report: str) -> None:
        """Half the kills were placed, and each landed where it was placed."""
        n = KILLS // 2
        want = {"mid-write": n - n // 5, "after-commit": n // 5}
        assert self.placed == want, f"placed kills landed elsewhere: {report}"

    def report(self, name: str) -> str:
        line = (
            f"{name}: {sum(self.outcomes.values())} kills in {time.monotonic() - self.t0:.0f} s "
            f"(command ~{self.d:.2f} s, its write from ~{self.w:.2f} s, "
            f"{self.statements} write statements): {dict(self.outcomes)}, "
            f"of which placed: {dict(self.placed)}"
        )
        print(line)
        return line


def _rerun_hint(argv) -> str:
    r = cli(*argv)
    return f"run by hand it exits {r.returncode}: {r.stderr[-1500:]}"


def cli(*args) -> subprocess.CompletedProcess:
    """``python -m labelwise ARGS`` in a fresh interpreter, stdout discarded."""
    return subprocess.run(
        [sys.executable, "-m", "labelwise", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
    )


# -- store checks ------------------------------------------------------------------------


def integrity_problems(db_path: Path) -> list:
    """Rows of PRAGMA integrity_check other than 'ok', plus PRAGMA foreign_key_check."""
    con = sqlite3.connect(db_path, timeout=30)
    try:
        bad = [r for r in con.execute("PRAGMA integrity_check").fetchall() if r != ("ok",)]
        return bad + con.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        con.close()


def integrity_ok(db_path: Path) -> bool:
    """SQLite's integrity check says 'ok' and no foreign key points nowhere."""
    return not integrity_problems(db_path)


def query(db_path: Path, sql: str, params=()) -> list:
    con = sqlite3.connect(db_path, timeout=30)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def scalar(db_path: Path, sql: str, params=()):
    return query(db_path, sql, params)[0][0]


def current_labels(db_path: Path, uids) -> dict[str, str]:
    """uid -> newest accepted label (what Project.current_labels holds) of the given uids."""
    con = sqlite3.connect(db_path, timeout=30)
    try:
        con.execute("CREATE TEMP TABLE wanted (uid TEXT PRIMARY KEY)")
        con.executemany("INSERT INTO wanted VALUES (?)", ((u,) for u in uids))
        rows = con.execute(
            "SELECT s.uid, l.value FROM wanted w JOIN sample s ON s.uid = w.uid "
            "JOIN label l ON l.sample_id = s.id WHERE l.status = 'accepted' ORDER BY l.id"
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def check_store(project_dir: Path, acknowledged: dict[str, str]) -> None:
    """Integrity, opens, one accepted label per sample, every acknowledged label there."""
    db = project_dir / "labelwise.db"
    if not integrity_ok(db):
        pytest.fail(f"integrity/foreign-key check after the kill: {integrity_problems(db)[:10]}")
    p = Project.open(project_dir)
    try:
        assert p.classes() == CLASSES
    finally:
        p.close()
    doubles = query(
        db,
        "SELECT sample_id FROM label WHERE status = 'accepted' GROUP BY sample_id "
        "HAVING count(*) > 1 LIMIT 5",
    )
    assert not doubles, f"samples with two accepted labels: {doubles}"
    have = current_labels(db, acknowledged)
    lost = {u: v for u, v in acknowledged.items() if have.get(u) != v}
    assert not lost, f"{len(lost)} acknowledged label(s) lost or changed, e.g. {list(lost)[:5]}"


def write_labels(path: Path, labels: dict[str, str]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "label"])
        w.writerows(labels.items())
    return path


class Acker:
    """Label imports run to completion (exit 0): the labels the store has acknowledged."""

    def __init__(self, killer: Killer, project_dir: Path, uids: list[str], seed: int):
        self.killer, self.project, self.uids = killer, project_dir, uids
        self.rng = np.random.default_rng(seed)
        self.expected: dict[str, str] = {}
        self.n = 0

    def ack(self) -> None:
        self.n += 1
        pick = self.rng.choice(len(self.uids), ACK_ROWS, replace=False)
        labels = {self.uids[i]: CLASSES[self.rng.integers(len(CLASSES))] for i in pick}
        f = write_labels(self.killer.dir / f"ack-{self.n}.csv", labels)
        self.killer.complete(["labels", self.project, "import", f])
        self.expected.update(labels)


def tabular_csv(path: Path, prefix: str, n: int, rng) -> Path:
    """id, f0..f3: a pool of numeric rows."""
    X = rng.normal(size=(n, 4)).round(5)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "f0", "f1", "f2", "f3"])
        w.writerows([f"{prefix}{i}", *X[i]] for i in range(n))
    return path


WORDS = np.array(
    "invoice refund login crash slow export import password billing feature request "
    "error timeout upgrade report dashboard mobile email search sync".split()
)


def text_csv(path: Path, prefix: str, n: int, rng) -> Path:
    """id, body: a pool of short texts."""
    words = WORDS[rng.integers(len(WORDS), size=(n, 8))]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "body"])
        w.writerows([f"{prefix}{i}", " ".join(words[i])] for i in range(n))
    return path


def new_project(tmp_path: Path, pool_csv: Path, text_column: str | None = None) -> Path:
    d = tmp_path / "proj"
    p = Project.init(d, classes=CLASSES)
    import_pool(p, pool_csv, id_column="id", text_column=text_column)
    p.close()
    return d


# -- import ------------------------------------------------------------------------------

# More rows than one insert chunk, so an import that committed per chunk would show.
IMPORT_ROWS = min(_CHUNK, 20_000) + 2_000


def test_kill_import(tmp_path, forks):
    rng = np.random.default_rng(1)
    # a text pool: the killed imports add text samples (a project holds one kind)
    base = text_csv(tmp_path / "base.csv", "base-", 300, rng)
    proj = new_project(tmp_path, base, text_column="body")
    db = proj / "labelwise.db"
    killer = Killer(forks, tmp_path / "work", seed=11)
    acker = Acker(killer, proj, [f"base-{i}" for i in range(300)], seed=12)

    def argv(f):
        return ["import", proj, f, "--id-column", "id", "--text-column", "body"]

    killer.calibrate(argv(text_csv(tmp_path / "cal.csv", "cal-", IMPORT_ROWS, rng)))
    k = 0
    source = text_csv(tmp_path / "imp-0.csv", "i0-", IMPORT_ROWS, rng)
    for i in range(KILLS):
        if i % ACK_EVERY == 0:
            acker.ack()
        n_samples = scalar(db, "SELECT count(*) FROM sample")
        n_labels = scalar(db, "SELECT count(*) FROM label")
        n_events = scalar(db, "SELECT count(*) FROM event WHERE kind = 'samples.import'")

        outcome, marks = killer.kill(argv(source))
        last = source

        check_store(proj, acker.expected)
        prefix = f"i{k}-"
        mine = scalar(
            db, "SELECT count(*) FROM sample WHERE uid >= ? AND uid < ?", (prefix, f"i{k}.")
        )
        added = scalar(db, "SELECT count(*) FROM sample") - n_samples
        added_labels = scalar(db, "SELECT count(*) FROM label") - n_labels
        added_events = scalar(db, "SELECT count(*) FROM event WHERE kind = 'samples.import'")
        added_events -= n_events
        state = (mine, added, added_labels, added_events)
        whole = (IMPORT_ROWS, IMPORT_ROWS, 0, 1)
        assert state in ((0, 0, 0, 0), whole), (
            f"kill {i} ({outcome}, marks {marks}) left part of an import: "
            f"(file rows, samples, labels, events) added = {state}, whole = {whole}"
        )
        if "C" in marks:
            assert state == whole, f"kill {i}: the import committed but its rows are gone"
        if state == whole:  # it got in: the next kill imports a new file
            k += 1
            source = text_csv(tmp_path / f"imp-{k}.csv", f"i{k}-", IMPORT_ROWS, rng)
        # else: the next kill (or the resume below) re-runs the same file

    # resume with `python -m labelwise`: the last killed file goes in if its kill left
    # nothing, or is reported as already there; run again, it is reported as already there
    before = scalar(db, "SELECT count(*) FROM sample")
    r = cli(*argv(last))
    if last == source:  # the kill left nothing
        assert r.returncode == 0, r.stderr
        assert scalar(db, "SELECT count(*) FROM sample") == before + IMPORT_ROWS
    else:
        assert r.returncode == 2 and "already in the project" in r.stderr, r.stderr
        assert scalar(db, "SELECT count(*) FROM sample") == before
    again = killer.complete(argv(last), expect=2)
    assert "already in the project" in again["stderr"], again["stderr"]
    check_store(proj, acker.expected)
    killer.check_placed(killer.report("import"))


# -- labels import -----------------------------------------------------------------------

LABEL_NEW = 2000  # labels for unlabeled samples per killed file
LABEL_CHANGED = 100  # labels that supersede a current label


def test_kill_labels_import(tmp_path, forks):
    rng = np.random.default_rng(2)
    pool = 36_000
    proj = new_project(tmp_path, tabular_csv(tmp_path / "pool.csv", "s-", pool, rng))
    db = proj / "labelwise.db"
    # s-0 .. s-299: acknowledged label imports; s-300 .. s-399: labels the killed files change
    changed_uids = [f"s-{i}" for i in range(300, 300 + LABEL_CHANGED)]
    p = Project.open(proj)
    import_labels(p, write_labels(tmp_path / "pre.csv", {u: "a" for u in changed_uids}))
    p.close()
    fresh = iter(f"s-{i}" for i in range(400, pool))
    killer = Killer(forks, tmp_path / "work", seed=21)
    acker = Acker(killer, proj, [f"s-{i}" for i in range(300)], seed=22)

    def next_file(n: int) -> tuple[Path, dict[str, str]]:
        now = current_labels(db, changed_uids)
        labels = {u: CLASSES[(CLASSES.index(now[u]) + 1) % 3] for u in changed_uids}
        for j, u in zip(range(LABEL_NEW), fresh, strict=False):
            labels[u] = CLASSES[j % 3]
        assert len(labels) == LABEL_NEW + LABEL_CHANGED, "the pool ran out of fresh samples"
        return write_labels(tmp_path / f"labels-{n}.csv", labels), labels

    cal, cal_labels = next_file(0)
    killer.calibrate(["labels", proj, "import", cal])
    acker.expected.update({u: v for u, v in cal_labels.items() if u not in changed_uids})
    k = 1
    source, content = next_file(k)
    for i in range(KILLS):
        if i % ACK_EVERY == 0:
            acker.ack()
        before = current_labels(db, content)
        n_rows = scalar(db, "SELECT count(*) FROM label")
        n_superseded = scalar(db, "SELECT count(*) FROM label WHERE status = 'superseded'")
        n_events = scalar(db, "SELECT count(*) FROM event WHERE kind = 'labels.import'")

        outcome, marks = killer.kill(["labels", proj, "import", source])
        last, last_content = source, content

        check_store(proj, acker.expected)
        after = current_labels(db, content)
        delta = (
            scalar(db, "SELECT count(*) FROM label") - n_rows,
            scalar(db, "SELECT count(*) FROM label WHERE status = 'superseded'") - n_superseded,
            scalar(db, "SELECT count(*) FROM event WHERE kind = 'labels.import'") - n_events,
        )
        to_change = sum(before.get(u) != v for u, v in content.items())
        none = after == before and delta == (0, 0, 0)
        whole = after == content and delta == (to_change, LABEL_CHANGED, 1)
        n_match = sum(after.get(u) == v for u, v in content.items())
        assert none or whole, (
            f"kill {i} ({outcome}, marks {marks}) left part of a label file: "
            f"{n_match}/{len(content)} of its labels current; (rows, superseded, events) "
            f"added = {delta}, whole = {(to_change, LABEL_CHANGED, 1)}"
        )
        if "C" in marks:
            assert whole, f"kill {i}: the label import committed but its labels are gone"
        if whole:  # acknowledged by the store: keep checking it like the others
            acker.expected.update({u: content[u] for u in content if u not in changed_uids})
            k += 1
            source, content = next_file(k)

    # resume with `python -m labelwise`: the last killed file goes in whole if its kill
    # left nothing, or changes nothing if it got in; run again, it changes nothing
    n_rows = scalar(db, "SELECT count(*) FROM label")
    r = cli("labels", proj, "import", last)
    assert r.returncode == 0, r.stderr
    assert current_labels(db, last_content) == last_content
    added = scalar(db, "SELECT count(*) FROM label") - n_rows
    assert added == (len(last_content) if last == source else 0)
    killer.complete(["labels", proj, "import", last])
    assert scalar(db, "SELECT count(*) FROM label") == n_rows + added
    check_store(proj, acker.expected)
    killer.check_placed(killer.report("labels import"))


# -- select ------------------------------------------------------------------------------

BATCH = 500


def check_rounds(db: Path) -> dict[int, list[str]]:
    """Every round has its whole batch; no sample in two rounds; one event per round.

    Returns round number -> uids in position order.
    """
    rounds = query(
        db,
        "SELECT r.number, r.batch_size, count(s.id) FROM round r "
        "LEFT JOIN selection s ON s.round_id = r.id GROUP BY r.id ORDER BY r.number",
    )
    partial = [r for r in rounds if r[2] != r[1]]
    assert not partial, f"rounds without their whole batch (number, batch, rows): {partial}"
    twice = query(db, "SELECT sample_id FROM selection GROUP BY sample_id HAVING count(*) > 1")
    assert not twice, f"{len(twice)} sample(s) selected in two rounds"
    events = scalar(db, "SELECT count(*) FROM event WHERE kind = 'round.select'")
    assert events == len(rounds), f"{len(rounds)} rounds but {events} round.select events"
    picks: dict[int, list[str]] = {}
    for number, uid in query(
        db,
        "SELECT r.number, sa.uid FROM selection s JOIN round r ON r.id = s.round_id "
        "JOIN sample sa ON sa.id = s.sample_id ORDER BY r.number, s.position",
    ):
        picks.setdefault(number, []).append(uid)
    return picks


def check_batch_file(path: Path, picks: dict[int, list[str]]) -> int | None:
    """The --out file is absent (None), or parses and lists one stored round's whole batch.

    Returns that round's number.
    """
    if not path.exists():
        return None
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == BATCH, f"{path}: {len(rows)} rows, expected {BATCH}"
    number = int(rows[0]["round"])
    assert {int(r["round"]) for r in rows} == {number}
    assert [r["id"] for r in rows] == picks.get(number), f"{path} is not round {number}"
    assert [int(r["position"]) for r in rows] == list(range(BATCH))
    for r in rows:
        float(r["score"])
    return number


CANDIDATES = (
    "SELECT count(*) FROM sample WHERE id NOT IN (SELECT sample_id FROM selection) "
    "AND id NOT IN (SELECT sample_id FROM label WHERE status = 'accepted')"
)


def test_kill_select(tmp_path, forks):
    rng = np.random.default_rng(3)
    pool = 15_000
    proj = new_project(tmp_path, tabular_csv(tmp_path / "pool.csv", "s-", pool, rng))
    db = proj / "labelwise.db"
    p = Project.open(proj)
    compute_features(p)
    # a model, so that `select --strategy margin` scores with it (no cold start)
    first = {f"s-{i}": CLASSES[i % 3] for i in range(300, 600)}
    import_labels(p, write_labels(tmp_path / "first.csv", first))
    train(p, model="logreg")
    p.close()
    killer = Killer(forks, tmp_path / "work", seed=31)
    acker = Acker(killer, proj, [f"s-{i}" for i in range(300)], seed=32)
    acker.expected.update(first)

    def argv(out: Path):
        # --force: every select opens a round though the last one's picks are unlabeled
        return ["select", proj, "--strategy", "margin", "--batch", BATCH, "--out", out, "--force"]

    killer.calibrate(argv(killer.dir / "cal.csv"))
    outcomes_with_file = Counter()
    for i in range(KILLS):
        if i % ACK_EVERY == 0:
            acker.ack()
        n_rounds = scalar(db, "SELECT count(*) FROM round")
        assert scalar(db, CANDIDATES) >= BATCH, "the pool ran out of candidates"
        out = killer.dir / f"batch-{i}.csv"

        outcome, marks = killer.kill(argv(out))

        check_store(proj, acker.expected)
        picks = check_rounds(db)
        added = len(picks) - n_rounds
        assert added in (0, 1), f"kill {i}: {added} rounds added by one select"
        if "C" in marks:
            assert added == 1, f"kill {i}: the select committed but its round is gone"
        in_file = check_batch_file(out, picks)
        has_file = in_file is not None
        if has_file:
            assert added == 1 and in_file == max(picks), f"kill {i}: {out} is an older round"
        outcomes_with_file[(outcome, added, has_file)] += 1

    # resume in a fresh interpreter: a new round, none of its picks in an earlier round
    n_rounds = scalar(db, "SELECT count(*) FROM round")
    out = tmp_path / "resume.csv"
    r = cli(*argv(out))
    assert r.returncode == 0, r.stderr
    picks = check_rounds(db)
    assert len(picks) == n_rounds + 1
    assert check_batch_file(out, picks) == max(picks)
    check_store(proj, acker.expected)
    line = killer.report("select")
    print(f"select (outcome, round added, batch file written): {dict(outcomes_with_file)}")
    print(f"select: temporary batch files left by kills: {len(list(killer.dir.glob('.batch-*')))}")
    killer.check_placed(line)
