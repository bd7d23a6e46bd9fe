"""Every bad input a user or an attacker brought, through the real CLI in its own process.

Each case must end with exit code 2 and one error line (no traceback), leave the project's
database byte-for-byte equal in content (an ``iterdump`` of every table), stay under 1 GiB of
peak memory and 30 s. The peak is the command's own ``VmHWM`` (read by the command itself at
exit: ``ru_maxrss`` would count the forked pytest's pages, since it survives ``exec``); an
address-space cap of 4 GiB guards the machine if a case regresses.
"""

from __future__ import annotations

import hashlib
import os
import resource
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

pytestmark = pytest.mark.slow

GIB = 1 << 30

# Runs the CLI in-process and writes its peak resident memory (VmHWM, kB) at exit; VmHWM
# belongs to the address space that exec made, so the parent's size does not leak in.
_WRAP = """
import atexit, runpy, sys
hwm_file = sys.argv[1]


def _peak():
    with open("/proc/self/status") as fh:
        kb = next(line.split()[1] for line in fh if line.startswith("VmHWM:"))
    with open(hwm_file, "w") as out:
        out.write(kb)


atexit.register(_peak)
sys.argv = ["labelwise", *sys.argv[2:]]
runpy.run_module("labelwise", run_name="__main__", alter_sys=True)
"""


def run_cli(*args, cwd=None, timeout=30):
    """Run ``labelwise ARGS``; (returncode, stdout, stderr, peak RSS bytes, seconds)."""

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (4 * GIB, 4 * GIB))

    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"lw-sweep-{os.getpid()}-{time.time_ns()}"
    with open(f"{out_path}.out", "w+") as fo, open(f"{out_path}.err", "w+") as fe:
        t0 = time.perf_counter()
        p = subprocess.Popen(
            [sys.executable, "-c", _WRAP, f"{out_path}.hwm", *map(str, args)],
            stdout=fo,
            stderr=fe,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            preexec_fn=cap,
        )
        killer = threading.Timer(timeout, p.kill)
        killer.start()
        try:
            _, status, _ = os.wait4(p.pid, 0)
        finally:
            killer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        fo.seek(0)
        fe.seek(0)
        stdout, stderr = fo.read(), fe.read()
    hwm = Path(f"{out_path}.hwm")
    peak = int(hwm.read_text()) * 1024 if hwm.exists() else float("inf")  # killed: no peak
    for suffix in (".out", ".err", ".hwm"):
        Path(f"{out_path}{suffix}").unlink(missing_ok=True)
    return p.returncode, stdout, stderr, peak, seconds


def db_digest(project: Path) -> str | None:
    db = project / "labelwise.db"
    if not db.exists():
        return None
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        h = hashlib.sha256()
        for line in con.iterdump():
            h.update(line.encode())
        return h.hexdigest()
    finally:
        con.close()


def assert_refused(result, *needles):
    rc, stdout, stderr, peak, seconds = result
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert rc == 2, f"exit {rc}\nstdout: {stdout[-2000:]}\nstderr: {stderr[-2000:]}"
    assert "Traceback" not in stderr + stdout
    assert len(lines) == 1, f"expected one error line, got {len(lines)}:\n{stderr[-3000:]}"
    assert len(lines[0]) < 2000, "the error line echoes too much input"
    for n in needles:
        assert n.lower() in lines[0].lower(), f"{n!r} not in {lines[0]!r}"
    assert peak < GIB, f"peak memory {peak / 2**20:.0f} MiB"
    assert seconds < 30


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A tabular project with features and one open round: the store each case must not touch."""
    tmp = tmp_path_factory.mktemp("sweep")
    d = load_breast_cancer(as_frame=True)
    df = d.data.iloc[:200].copy()
    df.insert(0, "id", [f"r{i}" for i in range(len(df))])
    df.to_csv(tmp / "pool.csv", index=False)
    P = tmp / "proj"
    for args in (
        ("init", P, "--task", "classification", "--classes", "malignant,benign"),
        ("import", P, tmp / "pool.csv", "--id-column", "id"),
        ("embed", P),
    ):
        rc, so, se, *_ = run_cli(*args, timeout=300)
        assert rc == 0, se
    truth = np.where(d.target[:200] == 0, "malignant", "benign")
    (tmp / "labels.csv").write_text(
        "id,label\n" + "".join(f"r{i},{truth[i]}\n" for i in range(0, 200, 10))
    )
    rc, so, se, *_ = run_cli("labels", P, "import", tmp / "labels.csv", timeout=300)
    assert rc == 0, se
    return tmp, P


def refused_unchanged(project_dir: Path, *args, needles=()):
    before = db_digest(project_dir)
    assert_refused(run_cli(*args), *needles)
    assert db_digest(project_dir) == before, "the store changed"


# --- pipeline files ----------------------------------------------------------------------


def test_yaml_billion_laughs(tmp_path):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    lines.append("project: p\nbatch_size: *a9")
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(lines) + "\n")
    assert_refused(run_cli("run", f), "bomb.yaml")
    assert not (tmp_path / "p").exists()


def _pipeline(tmp_path, **override):
    d = load_breast_cancer(as_frame=True)
    df = d.data.iloc[:120].copy()
    df.insert(0, "id", [f"r{i}" for i in range(len(df))])
    df["label"] = np.where(d.target[:120] == 0, "malignant", "benign")
    df.to_csv(tmp_path / "data.csv", index=False)
    cfg = {
        "project": "proj",
        "classes": "[malignant, benign]",
        "data": "{path: data.csv, id_column: id, label_column: label}",
        "model": "{name: logreg}",
        "strategy": "{name: margin}",
        "batch_size": "10",
        "stopping": "{label_budget: 30}",
        "oracle": "{type: simulated}",
    }
    cfg.update(override)
    f = tmp_path / "pipeline.yaml"
    f.write_text("".join(f"{k}: {v}\n" for k, v in cfg.items()))
    return f


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        ({"strategy": "{name: weighted, strengths: {margn: 1.0}}"}, ("margn", "margin")),
        ({"strategy": "{name: margin, params: {normalise: true}}"}, ("normalise",)),
        ({"classes": "[cat, dog]"}, ("malignant",)),
        ({"data": "{path: data.csv, id_column: id, label_column: truth}"}, ("truth",)),
    ],
    ids=["strengths-typo", "unknown-param", "classes-mismatch", "missing-label-column"],
)
def test_pipeline_errors_leave_nothing_behind(tmp_path, override, needles):
    f = _pipeline(tmp_path, **override)
    rc, so, se, peak, seconds = result = run_cli("run", f, timeout=60)
    assert_refused(result, *needles)
    assert "not numeric" not in se
    assert not (tmp_path / "proj").exists(), "a half-built project folder was left behind"


# --- output paths ------------------------------------------------------------------------


def test_select_out_to_a_folder_stores_no_round(project):
    tmp, P = project
    refused_unchanged(P, "select", P, "--strategy", "margin", "--batch", "5", "--out", tmp)


def test_select_out_under_proc_stores_no_round(project):
    tmp, P = project
    refused_unchanged(
        P, "select", P, "--strategy", "margin", "--batch", "5", "--out", "/proc/nope/b.csv"
    )


@pytest.mark.parametrize("target", ["folder", "/proc/labels.csv", "labels.xlsx"])
def test_labels_export_to_a_bad_path(project, target):
    tmp, P = project
    out = tmp if target == "folder" else (tmp / target if "/" not in target else target)
    refused_unchanged(P, "labels", P, "export", out)


# --- label files -------------------------------------------------------------------------


def test_label_field_over_128_kib(project):
    tmp, P = project
    f = tmp / "big-label.csv"
    f.write_text("id,label\nr1," + "x" * (200 * 1024) + "\n")
    refused_unchanged(P, "labels", P, "import", f, needles=("big-label.csv",))


# --- embed -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pixels", "tfidf"])
def test_embed_method_that_does_not_fit_the_data(project, method):
    tmp, P = project
    refused_unchanged(P, "embed", P, "--method", method, needles=(method,))


# --- sample files ------------------------------------------------------------------------


def _fresh_tabular(tmp: Path, name: str) -> Path:
    P = tmp / name
    rc, so, se, *_ = run_cli("init", P, "--task", "classification", "--classes", "a,b")
    assert rc == 0, se
    (tmp / f"{name}-first.csv").write_text("id,x1,x2\nq1,1,2\nq2,3,4\n")
    rc, so, se, *_ = run_cli("import", P, tmp / f"{name}-first.csv", "--id-column", "id")
    assert rc == 0, se
    return P


def test_nul_byte_in_an_id(tmp_path):
    P = _fresh_tabular(tmp_path, "nul")
    f = tmp_path / "nul.csv"
    f.write_bytes(b"id,x1,x2\nq3\x00,5,6\n")
    refused_unchanged(P, "import", P, f, "--id-column", "id", needles=("nul.csv",))


def test_ten_megabyte_id(tmp_path):
    P = _fresh_tabular(tmp_path, "long")
    f = tmp_path / "long.csv"
    f.write_text("id,x1,x2\n" + "i" * (10 * 2**20) + ",5,6\n")
    refused_unchanged(P, "import", P, f, "--id-column", "id", needles=("long.csv",))


def test_columns_that_differ_from_the_project(tmp_path):
    P = _fresh_tabular(tmp_path, "cols")
    f = tmp_path / "cols.csv"
    f.write_text("id,x1,x3\nq3,5,6\n")
    refused_unchanged(P, "import", P, f, "--id-column", "id", needles=("x2",))


# --- bench data files --------------------------------------------------------------------


def test_truncated_npz(tmp_path):
    f = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    np.savez(f, X=rng.normal(size=(500, 20)), y=rng.integers(0, 2, 500))
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    assert_refused(run_cli("bench", "--data", f, "--out", tmp_path / "out"), "data.npz")


def test_svmlight_with_a_huge_feature_index(tmp_path):
    f = tmp_path / "data.svm"
    f.write_text("".join(f"{i % 2} 1:0.5 999999999:1.0\n" for i in range(40)))
    assert_refused(run_cli("bench", "--data", f, "--out", tmp_path / "out"), "data.svm")


# --- images ------------------------------------------------------------------------------


def _png_bomb(path: Path, side: int = 60000) -> None:
    """A valid 1-bit greyscale PNG of side x side zeros (about 450 MB raw, under 1 MB on disk)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" * (1 + (side + 7) // 8)
    comp = zlib.compressobj(9)
    parts = []
    rows_per_block = 1000
    for _ in range(side // rows_per_block):
        parts.append(comp.compress(row * rows_per_block))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_png_is_named_and_skipped(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (16, 16), (i * 60, 0, 0)).save(folder / f"ok{i}.png")
    _png_bomb(folder / "bomb.png")
    P = tmp_path / "img"
    rc, so, se, *_ = run_cli("init", P, "--task", "classification", "--classes", "a,b")
    assert rc == 0, se
    rc, so, se, peak, seconds = run_cli("import", P, folder, "--json")
    assert rc == 0, se
    assert "Traceback" not in se
    assert "bomb.png" in se
    assert peak < GIB and seconds < 30
    con = sqlite3.connect(P / "labelwise.db")
    uris = [u for (u,) in con.execute("select uri from sample")]
    con.close()
    assert sorted(Path(u).name for u in uris) == ["ok0.png", "ok1.png", "ok2.png"]
