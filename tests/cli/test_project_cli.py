"""The project commands as a user types them: the contract flow, provenance and errors."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "labelwise", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture()
def pool(tmp_path):
    d = load_breast_cancer(as_frame=True)
    df = d.data.copy()
    df.insert(0, "id", [f"r{i}" for i in range(len(df))])
    df.to_csv(tmp_path / "pool.csv", index=False)
    truth = dict(zip(df["id"], np.where(d.target == 0, "malignant", "benign"), strict=True))
    return tmp_path, truth


def test_the_labeling_loop_from_the_shell(pool):
    tmp, truth = pool
    P = str(tmp / "proj")
    assert (
        cli("init", P, "--task", "classification", "--classes", "malignant,benign").returncode == 0
    )
    r = cli("import", P, str(tmp / "pool.csv"), "--id-column", "id", "--json")
    assert json.loads(r.stdout)["n_samples"] == 569
    r = cli("select", P, "--strategy", "margin", "--batch", "10", "--out", str(tmp / "b.csv"))
    assert r.returncode == 2 and "no features yet; run 'labelwise embed" in r.stderr
    assert cli("embed", P).returncode == 0
    r = cli("select", P, "--strategy", "margin", "--batch", "10", "--out", str(tmp / "b.csv"))
    assert r.returncode == 0 and "cold-start diversity selection" in r.stdout
    rows = list(csv.DictReader(open(tmp / "b.csv")))
    assert len(rows) == 10 and {"id", "score", "reason"} <= set(rows[0])
    picked = [x["id"] for x in rows]
    # make sure both classes appear so that a model can be trained
    extra = [next(i for i in truth if truth[i] != truth[picked[0]] and i not in picked)]
    with open(tmp / "l.csv", "w") as fh:
        fh.write("id,label,annotator\n")
        fh.writelines(f"{i},{truth[i]},ann\n" for i in picked + extra)
    first = json.loads(cli("labels", P, "import", str(tmp / "l.csv"), "--json").stdout)
    again = json.loads(cli("labels", P, "import", str(tmp / "l.csv"), "--json").stdout)
    assert (first["new"], again["new"], again["unchanged"]) == (11, 0, 11)
    assert cli("train", P, "--model", "logreg").returncode == 0
    st = json.loads(cli("status", P, "--json").stdout)
    assert st["n_samples"] == 569 and st["n_labeled"] == 11
    # no evaluation set: no metric, said so; CV accuracy on the selected labels kept
    assert len(st["rounds"]) == 1 and st["rounds"][0]["metric"] is None
    assert st["rounds"][0]["cv_metric"] is not None and st["rounds"][0]["n_labeled"] == 11
    assert st["metric_note"] == "no random evaluation set: this metric is biased by the selection"
    prov = json.loads(cli("history", P, "--sample", picked[0], "--json").stdout)
    assert prov["selections"][0]["round"] == 1
    assert prov["selections"][0]["strategy"] == "k_center_greedy"
    assert prov["labels"][0]["label"] == truth[picked[0]]
    assert prov["labels"][0]["annotator"] == "ann"
    r = cli("select", P, "--strategy", "entropy", "--batch", "5", "--json")
    batch = json.loads(r.stdout)
    assert batch["round"] == 2 and not batch["cold_start"] and len(batch["batch"]) == 5
    assert not set(b["id"] for b in batch["batch"]) & set(picked)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "{tmp}/nothing"], "is not a labelwise project"),
        (["import", "{P}", "{tmp}/missing.csv"], "missing.csv not found"),
        (["select", "{P}", "--strategy", "marginn"], "unknown strategy 'marginn'"),
        (["labels", "{P}", "import", "{tmp}/missing.csv"], "missing.csv not found"),
        (["labels", "{P}", "delete", "{tmp}/x.csv"], "must be 'import' or 'export'"),
        (["history", "{P}", "--sample", "nope"], "no sample with id 'nope'"),
    ],
)
def test_errors_are_one_line_with_exit_2(pool, args, message):
    tmp, _ = pool
    P = tmp / "proj"
    cli("init", str(P), "--classes", "malignant,benign")
    r = cli(*[a.format(tmp=tmp, P=P) for a in args])
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_lost_batch_file_can_be_written_again(pool):
    tmp, _ = pool
    P = str(tmp / "proj")
    cli("init", P, "--classes", "malignant,benign")
    cli("import", P, str(tmp / "pool.csv"), "--id-column", "id")
    cli("embed", P)
    cli(
        "select",
        P,
        "--strategy",
        "random",
        "--batch",
        "7",
        "--seed",
        "1",
        "--out",
        str(tmp / "b.csv"),
    )
    original = (tmp / "b.csv").read_text()
    (tmp / "b.csv").unlink()
    r = cli("select", P, "--round", "1", "--out", str(tmp / "again.csv"))
    assert r.returncode == 0 and (tmp / "again.csv").read_text() == original
