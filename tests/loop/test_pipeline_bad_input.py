"""Bad pipeline files: one line naming the file and key, exit 2, and no project left half-built.

Each case runs the real CLI entry point (``labelwise.cli.main``) and checks the
exit code, that stderr is exactly one line without a traceback, and that the
project folder is absent afterwards (or, when it was there before, unchanged).
The alias bomb runs in its own process under a 1 GiB address-space limit.
"""

from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from labelwise.cli import main
from labelwise.config import MAX_ALIASES, PipelineError, load_pipeline

GIB = 1 << 30

BASE = {
    "project": "proj",
    "classes": "[malignant, benign]",
    "data": "{path: data.csv, id_column: id, label_column: label}",
    "model": "{name: logreg}",
    "strategy": "{name: margin}",
    "batch_size": "10",
    "stopping": "{label_budget: 30}",
    "oracle": "{type: simulated}",
    "outputs": "{folder: out}",
}


@pytest.fixture()
def folder(tmp_path):
    d = load_breast_cancer(as_frame=True)
    df = d.data.iloc[:80, :4].copy()
    df.insert(0, "id", [f"r{i}" for i in range(len(df))])
    df["label"] = np.where(d.target[:80] == 0, "malignant", "benign")
    df.to_csv(tmp_path / "data.csv", index=False)
    return tmp_path


def write_pipeline(folder: Path, **override) -> Path:
    cfg = {**BASE, **override}
    f = folder / "p.yaml"
    f.write_text("".join(f"{k}: {v}\n" for k, v in cfg.items() if v is not None))
    return f


def run_cli(capsys, monkeypatch, *args) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["labelwise", *map(str, args)])
    with pytest.raises(SystemExit) as e:
        main()
    cap = capsys.readouterr()
    return e.value.code, cap.out, cap.err


def assert_one_line(rc: int, err: str, *needles: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"
    return lines[0]


def db_dump(project: Path) -> list[str]:
    con = sqlite3.connect(f"file:{project / 'labelwise.db'}?mode=ro", uri=True)
    try:
        return list(con.iterdump())
    finally:
        con.close()


# --- values the data file contradicts: refused before the project exists ------------------


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        (
            {"strategy": "{name: weighted, strengths: {margn: 1.0, novelty: 0.5}}"},
            ("p.yaml", "strategy.strengths", "'margn'", "Did you mean 'margin'?"),
        ),
        (
            {"strategy": "{name: kmeans_equal, params: {n_cluster: 3}}"},
            ("p.yaml", "strategy.params", "'n_cluster'", "Did you mean 'n_clusters'?"),
        ),
        (
            {"strategy": "{name: margin, params: {normalise: true}}"},
            ("p.yaml", "no parameter 'normalise'", "cost_lambda"),
        ),
        (
            {"strategy": "{name: margin, strengths: {margin: 1.0}}"},
            ("p.yaml", "strategy 'margin' has no parameter 'strengths'"),
        ),
        (
            {"classes": "[cat, dog]"},
            ("p.yaml", "classes", "data.csv line 2 holds 'malignant'", "benign, malignant"),
        ),
        (
            {"data": "{path: data.csv, id_column: id, label_column: lable}"},
            ("data.label_column", "column 'lable' not in data.csv; columns are id, ", "'label'"),
        ),
        (
            {"data": "{path: data.csv, id_column: ident, label_column: label}"},
            ("data.id_column", "column 'ident' not in data.csv"),
        ),
        (
            {"data": "{path: data.csv, id_column: id, text_column: body, label_column: label}"},
            ("data.text_column", "column 'body' not in data.csv"),
        ),
        ({"features": "{method: pixels}"}, ("features.method", "table rows", "tabular")),
        ({"features": "{method: tfidf}"}, ("features.method", "auto or tabular")),
        ({"outputs": "{folder: data.csv}"}, ("outputs.folder", "is a file")),
        ({"project": "data.csv"}, ("project", "is a file")),
        ({"project": "/proc/labelwise-nope/proj"}, ("project", "cannot be written")),
    ],
    ids=[
        "strengths-typo",
        "param-typo",
        "unknown-param",
        "strengths-for-margin",
        "classes-mismatch",
        "missing-label-column",
        "missing-id-column",
        "missing-text-column",
        "pixels-on-a-table",
        "tfidf-on-a-table",
        "outputs-is-a-file",
        "project-is-a-file",
        "project-under-proc",
    ],
)
def test_refused_before_the_project_exists(folder, capsys, monkeypatch, override, needles):
    f = write_pipeline(folder, **override)
    before = sorted(os.listdir(folder))
    rc, out, err = run_cli(capsys, monkeypatch, "run", f)
    line = assert_one_line(rc, err, *needles)
    assert "not numeric" not in line
    assert sorted(os.listdir(folder)) == before  # no project, no outputs folder


def test_an_empty_known_label_is_refused_with_its_line(folder, capsys, monkeypatch):
    text = (folder / "data.csv").read_text().splitlines()
    text[5] = text[5].rsplit(",", 1)[0] + ","  # row of line 6 loses its label
    (folder / "data.csv").write_text("\n".join(text) + "\n")
    rc, out, err = run_cli(capsys, monkeypatch, "run", write_pipeline(folder))
    assert_one_line(rc, err, "data.label_column 'label' is empty at data.csv line 6")
    assert not (folder / "proj").exists()


# --- a failure after the project was created removes what this run created ----------------


def _duplicate_id(folder: Path) -> None:
    lines = (folder / "data.csv").read_text().splitlines()
    lines[7] = "r0," + lines[7].split(",", 1)[1]  # line 8 repeats the id of line 2
    (folder / "data.csv").write_text("\n".join(lines) + "\n")


def test_a_failed_first_run_removes_the_folders_it_created(folder, capsys, monkeypatch):
    _duplicate_id(folder)  # only the import finds it, after the project was created
    f = write_pipeline(folder, project="a/b/proj", db=f"sqlite:///{folder / 'other.db'}")
    rc, out, err = run_cli(capsys, monkeypatch, "run", f)
    assert_one_line(rc, err, "data.csv, line 8", "r0")
    assert not (folder / "a").exists()  # the outermost folder this run made
    assert not (folder / "other.db").exists()  # and the database file it named
    assert not (folder / "out").exists()


def test_a_failed_first_run_keeps_what_the_folder_held(folder, capsys, monkeypatch):
    _duplicate_id(folder)
    (folder / "proj" / "notes").mkdir(parents=True)
    (folder / "proj" / "notes" / "keep.txt").write_text("mine")
    rc, out, err = run_cli(capsys, monkeypatch, "run", write_pipeline(folder))
    assert_one_line(rc, err, "data.csv, line 8")
    assert sorted(os.listdir(folder / "proj")) == ["notes"]
    assert (folder / "proj" / "notes" / "keep.txt").read_text() == "mine"


def test_a_project_the_run_did_not_create_is_left_alone(folder, capsys, monkeypatch):
    rc, out, err = run_cli(
        capsys, monkeypatch, "init", folder / "proj", "--classes", "malignant,benign"
    )
    assert rc in (0, None), err
    before = db_dump(folder / "proj")
    _duplicate_id(folder)
    rc, out, err = run_cli(capsys, monkeypatch, "run", write_pipeline(folder))
    assert_one_line(rc, err, "data.csv, line 8")
    assert (folder / "proj" / "labelwise.json").exists()
    assert db_dump(folder / "proj") == before


def test_a_good_pipeline_still_runs(folder, capsys, monkeypatch):
    f = write_pipeline(folder, strategy="{name: weighted, strengths: {margin: 1.0, novelty: 0.5}}")
    rc, out, err = run_cli(capsys, monkeypatch, "run", f)
    assert rc in (0, None), err
    assert (folder / "out" / "status.json").exists()
    assert "30 labeled of 80" in out


# --- the YAML reader: alias bombs, depth, size, encoding; bounded echoes ------------------


def _billion_laughs() -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    return "\n".join(lines) + "\nproject: p\nbatch_size: *a9\n"


def test_billion_laughs_is_refused_in_one_line_under_a_gib(tmp_path):
    f = tmp_path / "bomb.yaml"
    f.write_text(_billion_laughs())

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (GIB, GIB))

    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "labelwise", "run", str(f)],
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=cap,
    )
    assert time.perf_counter() - t0 < 30
    line = assert_one_line(r.returncode, r.stderr, "bomb.yaml, line", "alias")
    assert "MemoryError" not in r.stderr and len(line) < 300
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("x: " + "[" * 200 + "]" * 200 + "\n", "nested more than 50 levels"),
        ("x: " + "[" * 100_000 + "\n", "nested more than 50 levels"),
        ("x: &a [1, *a]\n", "refers to a node that contains it"),
        ("a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n", "aliases"),
    ],
    ids=["deep", "deep-unclosed", "recursive-alias", "many-aliases"],
)
def test_the_yaml_reader_refuses(tmp_path, text, needle):
    f = tmp_path / "p.yaml"
    f.write_text(text)
    with pytest.raises(PipelineError) as e:
        load_pipeline(f)
    assert needle in str(e.value) and "p.yaml" in str(e.value)


def test_a_few_aliases_are_fine(tmp_path):
    d = load_breast_cancer(as_frame=True)
    d.frame.iloc[:5].to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "p.yaml").write_text(
        "project: proj\nclasses: [a, b]\ndata: {path: data.csv, label_column: target}\n"
        "batch_size: &n 5\nstopping: {label_budget: *n, max_rounds: *n}\n"
    )
    cfg = load_pipeline(tmp_path / "p.yaml")
    assert (cfg.batch_size, cfg.stopping.label_budget, cfg.stopping.max_rounds) == (5, 5, 5)


def test_huge_and_binary_files_are_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (2 << 20) + "\n")
    with pytest.raises(PipelineError, match="at most 1,048,576 bytes"):
        load_pipeline(big)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"project: \xff\xfe\n")
    with pytest.raises(PipelineError, match="not UTF-8"):
        load_pipeline(binary)
    with pytest.raises(PipelineError, match="is not a file"):
        load_pipeline(tmp_path)


@pytest.mark.parametrize(
    "line",
    [
        "strategy: {name: " + "m" * 100_000 + "}",
        "model: {name: " + "x" * 100_000 + "}",
        "strategy:\n  name: margin\n  params:\n    ? " + "k" * 100_000 + "\n    : 1",
        "batch_size: [" + ", ".join(["[1, 2, 3, 4, 5, 6, 7, 8]"] * 1000) + "]",
        "? " + "k" * 100_000 + "\n: 1",
    ],
    ids=["strategy-name", "model-name", "param-name", "big-list", "unknown-key"],
)
def test_echoed_values_are_cut_short(folder, line):
    text = "".join(f"{k}: {v}\n" for k, v in BASE.items() if k != line.split(":")[0])
    (folder / "p.yaml").write_text(text + line + "\n")
    with pytest.raises(PipelineError) as e:
        load_pipeline(folder / "p.yaml")
    msg = str(e.value)
    assert "p.yaml" in msg and len(msg) < 1500, len(msg)
    assert "..." in msg and "not valid YAML" not in msg


def test_strengths_may_name_a_metadata_criterion_from_params(folder):
    f = write_pipeline(
        folder,
        strategy="{name: weighted, strengths: {price: -1.0, margin: 1.0}, "
        "params: {metadata: {price: [1, 2, 3]}}}",
    )
    cfg = load_pipeline(f)
    assert cfg.strategy.strengths == {"price": -1.0, "margin": 1.0}
