"""Output paths that cannot be written: one line naming the flag, exit 2, nothing stored.

Every command that writes a file or folder checks the path first
(``labelwise._validation.check_writable``); a bad path must not leave a round
stored, a bench run wasted, or a traceback.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from labelwise._validation import check_writable
from labelwise.cli import main
from labelwise.embed import compute_features
from labelwise.errors import InvalidInputError
from labelwise.io._samples import import_pool
from labelwise.store import Project


def run_cli(capsys, monkeypatch, *args) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["labelwise", *map(str, args)])
    with pytest.raises(SystemExit) as e:
        main()
    cap = capsys.readouterr()
    return e.value.code or 0, cap.out, cap.err


def assert_refused(result, *needles: str) -> None:
    rc, out, err = result
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"


def db_dump(project: Path) -> list[str]:
    con = sqlite3.connect(f"file:{project / 'labelwise.db'}?mode=ro", uri=True)
    try:
        return list(con.iterdump())
    finally:
        con.close()


@pytest.fixture()
def project(tmp_path):
    """A tabular project with features and a few labels."""
    d = load_breast_cancer(as_frame=True)
    df = d.data.iloc[:60, :5].copy()
    df.insert(0, "id", [f"r{i}" for i in range(len(df))])
    df.to_csv(tmp_path / "pool.csv", index=False)
    P = tmp_path / "proj"
    p = Project.init(P, classes=["malignant", "benign"])
    import_pool(p, tmp_path / "pool.csv", id_column="id")
    compute_features(p)
    truth = np.where(d.target[:60] == 0, "malignant", "benign")
    (tmp_path / "labels.csv").write_text(
        "id,label\n" + "".join(f"r{i},{truth[i]}\n" for i in range(0, 60, 6))
    )
    from labelwise.io._labels import import_labels

    import_labels(p, tmp_path / "labels.csv")
    p.close()
    (tmp_path / "a-file.txt").write_text("not a folder")
    os.mkfifo(tmp_path / "a-fifo")
    return tmp_path, P


def _bad_out(tmp: Path, kind: str) -> Path:
    return {
        "folder": tmp,
        "under-proc": Path("/proc/labelwise-nope/b.csv"),
        "under-a-file": tmp / "a-file.txt" / "b.csv",
        "device": tmp / "a-fifo",  # not /dev/null: a regression would replace it
        "spreadsheet": tmp / "b.xlsx",
    }[kind]


BAD = ["folder", "under-proc", "under-a-file", "device", "spreadsheet"]
WHY = {
    "folder": "is a folder",
    "under-proc": "cannot be written",
    "under-a-file": "is a file, not a folder",
    "device": "is not a regular file",
    "spreadsheet": "cannot write a .xlsx file",
}


@pytest.mark.parametrize("kind", BAD)
def test_select_out_is_checked_before_the_round_is_stored(project, capsys, monkeypatch, kind):
    tmp, P = project
    before = db_dump(P)
    out = _bad_out(tmp, kind)
    result = run_cli(capsys, monkeypatch, "select", P, "--batch", "5", "--out", out)
    assert_refused(result, "--out", WHY[kind])
    assert db_dump(P) == before, "a round was stored although --out cannot be written"
    assert stat.S_ISFIFO(os.stat(tmp / "a-fifo").st_mode)


@pytest.mark.parametrize("kind", BAD)
def test_select_again_out_is_checked(project, capsys, monkeypatch, kind):
    tmp, P = project
    rc, out, err = run_cli(capsys, monkeypatch, "select", P, "--batch", "5")
    assert rc == 0, err
    result = run_cli(capsys, monkeypatch, "select", P, "--round", "1", "--out", _bad_out(tmp, kind))
    assert_refused(result, "--out", WHY[kind])


@pytest.mark.parametrize("kind", BAD)
def test_labels_export_to_a_bad_path(project, capsys, monkeypatch, kind):
    tmp, P = project
    before = sorted(os.listdir(tmp))
    result = run_cli(capsys, monkeypatch, "labels", P, "export", _bad_out(tmp, kind))
    assert_refused(result)
    assert sorted(os.listdir(tmp)) == before


def test_select_out_into_new_folders_still_works(project, capsys, monkeypatch):
    tmp, P = project
    out = tmp / "new" / "sub" / "b.csv"
    rc, so, err = run_cli(capsys, monkeypatch, "select", P, "--batch", "5", "--out", out)
    assert rc == 0, err
    assert len(out.read_text().splitlines()) == 6  # header + 5 picks


def test_init_into_a_file_is_refused(tmp_path, capsys, monkeypatch):
    f = tmp_path / "taken"
    f.write_text("x")
    assert_refused(
        run_cli(capsys, monkeypatch, "init", f, "--classes", "a,b"), "project folder", "is a file"
    )
    assert f.read_text() == "x"


@pytest.mark.parametrize("command", ["bench", "demo", "recommend"])
def test_bench_demo_recommend_out_is_checked_before_the_run(tmp_path, capsys, monkeypatch, command):
    args = {
        "bench": ["bench", "--data", "iris", "--seeds", "1", "--budget", "5"],
        "demo": ["demo", "--seeds", "1", "--jobs", "1"],
        "recommend": ["recommend", "--data", "iris", "--seeds", "1", "--budget", "5"],
    }[command]
    bad = Path("/proc/labelwise-nope/out")
    assert_refused(run_cli(capsys, monkeypatch, *args, "--out", bad), "--out", "cannot be written")
    # a results file that is a folder would fail only after the whole run
    (tmp_path / "o" / "results.json").mkdir(parents=True)
    assert_refused(
        run_cli(capsys, monkeypatch, *args, "--out", tmp_path / "o"), "--out", "is a folder"
    )


def test_check_writable_creates_nothing(tmp_path):
    before = sorted(os.listdir(tmp_path))
    assert check_writable(tmp_path / "x" / "y" / "b.csv", flag="--out") == (
        tmp_path / "x" / "y" / "b.csv"
    )
    assert check_writable(tmp_path / "folder", flag="--out", folder=True)
    assert sorted(os.listdir(tmp_path)) == before
    with pytest.raises(InvalidInputError, match="--out '/proc/"):
        check_writable("/proc/nope.csv", flag="--out")
