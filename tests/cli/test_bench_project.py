"""``bench --project`` and ``recommend --project``: a stored project replayed like a CSV.

The features and labels the replay uses are checked against ones computed here from the
CSV that was imported and the label file that was written; the project is only read.
"""

import csv
import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits

CLASSES = [f"c{k}" for k in range(10)]
RETIRED = "c9"


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "labelwise", *args], capture_output=True, text=True, timeout=600
    )


def ok(*args):
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    return r


def dump(project) -> list[str]:
    con = sqlite3.connect(project / "labelwise.db")
    try:
        return list(con.iterdump())
    finally:
        con.close()


def one_line_error(r, *needles):
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def digits_project(tmp_path_factory):
    """Digits imported from a CSV, embedded, 400 rows labeled (50 of them the evaluation set),
    then class c9 retired: its labels stay in the project but must not be replayed."""
    tmp = tmp_path_factory.mktemp("proj")
    d = load_digits()
    ids = [f"d{i}" for i in range(len(d.target))]
    with open(tmp / "pool.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", *[f"p{j}" for j in range(64)]])
        w.writerows([i, *map(int, row)] for i, row in zip(ids, d.data, strict=True))
    truth = {i: f"c{t}" for i, t in zip(ids, d.target, strict=True)}
    P = tmp / "p"
    ok("init", str(P), "--task", "classification", "--classes", ",".join(CLASSES))
    ok("import", str(P), str(tmp / "pool.csv"), "--id-column", "id")
    ok("embed", str(P))
    ok("eval-set", str(P), "--size", "50", "--seed", "0", "--out", str(tmp / "eval.csv"))
    eval_ids = [r["id"] for r in csv.DictReader(open(tmp / "eval.csv"))]
    assert len(eval_ids) == 50
    rng = np.random.default_rng(0)
    others = [i for i in rng.permutation(ids) if i not in set(eval_ids)][:350]
    labeled = eval_ids + others
    with open(tmp / "labels.csv", "w") as fh:
        fh.write("id,label\n")
        fh.writelines(f"{i},{truth[i]}\n" for i in labeled)
    ok("labels", str(P), "import", str(tmp / "labels.csv"))
    from labelwise.annotate._ontology import retire_class
    from labelwise.store import Project

    project = Project.open(P)
    retire_class(project, RETIRED)
    project.close()
    return {
        "P": P,
        "X_csv": d.data.astype(np.float64),
        "ids": ids,
        "truth": truth,
        "labeled": set(labeled),
        "eval_ids": set(eval_ids),
    }


def expected(proj):
    """X, y the replay should use, from the imported CSV and the written labels."""
    X = proj["X_csv"]
    sd = X.std(axis=0)
    sd[sd == 0] = 1.0
    Z = (X - X.mean(axis=0)) / sd  # 'embed' on table rows: columns scaled over the pool
    rows = [
        k for k, i in enumerate(proj["ids"]) if i in proj["labeled"] and proj["truth"][i] != RETIRED
    ]
    return Z[rows], np.asarray([proj["truth"][proj["ids"][k]] for k in rows])


def test_replayed_rows_are_the_projects_features_and_active_labels(digits_project):
    from labelwise.loop._replay import project_dataset

    X_exp, y_exp = expected(digits_project)
    n_retired = sum(digits_project["truth"][i] == RETIRED for i in digits_project["labeled"])
    assert 0 < n_retired and y_exp.size == 400 - n_retired
    ds, source = project_dataset(digits_project["P"])
    np.testing.assert_allclose(ds.X, X_exp, atol=1e-5)  # features are stored as float32
    assert ds.y.tolist() == y_exp.tolist()
    # the evaluation set's labels are ordinary rows of the replay
    n_eval_active = sum(digits_project["truth"][i] != RETIRED for i in digits_project["eval_ids"])
    assert n_eval_active > 40
    assert (source.n_labels, source.n_retired, source.n_without_features) == (
        y_exp.size,
        n_retired,
        0,
    )
    assert (source.features_version, source.features_method) == (1, "tabular")


def test_bench_and_recommend_replay_a_project_without_changing_it(digits_project, tmp_path):
    P = digits_project["P"]
    _, y_exp = expected(digits_project)
    before = dump(P)
    r = ok(
        "bench", "--project", str(P), "--model", "logreg", "--strategies", "margin,random",
        "--initial", "20", "--batch", "20", "--budget", "60", "--seeds", "2",
        "--out", str(tmp_path / "b"),
    )  # fmt: skip
    assert f"project {P}: features v1 (tabular), {y_exp.size} labels" in r.stdout
    assert "left out" in r.stdout and "retired" in r.stdout
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    assert res["n_samples"] == y_exp.size == res["n_pool"] + res["n_test"]
    assert res["project"]["n_labels"] == y_exp.size
    assert set(res["strategies"]) == {"margin", "random"}
    # digits are easy: the replay learns (10 % would be chance; c9 retired leaves 9 classes)
    assert res["strategies"]["margin"]["mean_curve"][-1] > 0.8
    r = ok(
        "recommend", "--project", str(P), "--strategies", "margin", "--initial", "20",
        "--batch", "20", "--budget", "40", "--seeds", "1", "--out", str(tmp_path / "r"),
        "--json",
    )  # fmt: skip
    rec = json.loads(r.stdout)
    assert rec["project"]["n_labels"] == y_exp.size
    assert json.loads((tmp_path / "r" / "results.json").read_text())["n_samples"] == y_exp.size
    assert dump(P) == before


@pytest.mark.torch
def test_bench_project_with_torch_mlp(digits_project, tmp_path):
    pytest.importorskip("torch")
    P = digits_project["P"]
    before = dump(P)
    ok(
        "bench", "--project", str(P), "--model", "torch_mlp", "--strategies", "margin,random",
        "--initial", "20", "--batch", "40", "--budget", "40", "--seeds", "1",
        "--out", str(tmp_path / "t"),
    )  # fmt: skip
    res = json.loads((tmp_path / "t" / "results.json").read_text())
    assert res["model"] == "torch_mlp" and res["n_samples"] == expected(digits_project)[1].size
    assert len(res["strategies"]["margin"]["labels"]) == 2  # initial set + one round
    assert dump(P) == before


def test_data_and_project_exactly_one(digits_project, tmp_path):
    P = str(digits_project["P"])
    one_line_error(
        cli("bench", "--data", "digits", "--project", P, "--out", str(tmp_path / "a")),
        "--data or --project, not both",
    )
    one_line_error(cli("bench", "--out", str(tmp_path / "b")), "--data", "--project")
    one_line_error(cli("recommend", "--out", str(tmp_path / "c")), "--data", "--project")
    one_line_error(
        cli("bench", "--project", P, "--target", "y", "--out", str(tmp_path / "d")),
        "--target only apply to --data",
    )


@pytest.fixture()
def small_project(tmp_path):
    """30 table rows of two classes a/b, imported; nothing embedded or labeled yet."""
    rng = np.random.default_rng(1)
    with open(tmp_path / "rows.csv", "w") as fh:
        fh.write("id,x1,x2\n")
        fh.writelines(f"r{i},{rng.normal():.4f},{rng.normal():.4f}\n" for i in range(30))
    P = tmp_path / "small"
    ok("init", str(P), "--classes", "a,b")
    ok("import", str(P), str(tmp_path / "rows.csv"), "--id-column", "id")
    return P


def _label(P, rows: dict):
    f = P.parent / "l.csv"
    f.write_text("id,label\n" + "".join(f"{i},{v}\n" for i, v in rows.items()))
    ok("labels", str(P), "import", str(f))


def test_project_without_features_or_enough_labels_says_what_to_run(small_project, tmp_path):
    P = small_project
    out = str(tmp_path / "o")
    before = dump(P)
    line = one_line_error(cli("bench", "--project", str(P), "--out", out), "no features")
    assert f"labelwise embed {P}" in line
    assert dump(P) == before
    ok("embed", str(P))
    _label(P, {f"r{i}": "a" for i in range(30)})
    line = one_line_error(cli("bench", "--project", str(P), "--out", out), "1 active class", "'a'")
    assert str(P) in line and "labelwise select" in line
    one_line_error(cli("recommend", "--project", str(P), "--out", out), "1 active class")
    # 2 classes, 30 labels: a 0.4 test split leaves 18 for the pool, fewer than 20 initial;
    # 34 rows leave floor(34 * 0.6) = 20
    _label(P, {f"r{i}": "b" for i in range(3)})
    line = one_line_error(
        cli("bench", "--project", str(P), "--initial", "20", "--out", out), "has 30 usable"
    )
    assert "needs at least 34" in line and str(P) in line
