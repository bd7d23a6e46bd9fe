"""Through the CLI: a random evaluation set measures the model; CV on the selected rows does not.

Digits with known labels, five rounds of margin sampling. The truth is the model's
accuracy on every row never labeled, computed from ``labelwise predict``.
"""

import csv
import json
import subprocess
import sys

import pandas as pd
import pytest
from sklearn.datasets import load_digits
from typer.testing import CliRunner

from labelwise.cli import app

EVAL, BATCH = 250, 15


def cli(*args, code=0):
    r = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == code, r.output
    return r.output


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A digits project after five rounds of margin, with each round's status and truth."""
    tmp = tmp_path_factory.mktemp("evalcli")
    d = load_digits()
    df = pd.DataFrame(d.data, columns=[f"p{i}" for i in range(64)])
    df.insert(0, "id", [f"d{i}" for i in range(len(df))])
    df.to_csv(tmp / "digits.csv", index=False)
    truth = dict(zip(df["id"], d.target.astype(str), strict=True))
    P = tmp / "proj"

    def label(batch, name):
        rows = list(csv.DictReader(open(batch)))
        with open(tmp / name, "w") as fh:
            fh.write("id,label\n")
            fh.writelines(f"{x['id']},{truth[x['id']]}\n" for x in rows)
        cli("labels", P, "import", tmp / name)
        return [x["id"] for x in rows]

    cli(
        "init", P, "--classes", ",".join(map(str, range(10))), "--eval-size", EVAL, "--eval-seed", 1
    )
    out = cli("import", P, tmp / "digits.csv", "--id-column", "id")
    assert f"reserved {EVAL} random samples as the evaluation set" in out
    cli("embed", P)
    out = cli("eval-set", P, "--size", EVAL, "--out", tmp / "eval.csv")  # draws nothing more
    assert f"evaluation set: {EVAL} samples (0 drawn now" in out
    eval_ids = label(tmp / "eval.csv", "eval-labels.csv")
    rounds, picked = [], []
    for i in range(5):
        cli(
            "select",
            P,
            "--strategy",
            "margin",
            "--batch",
            BATCH,
            "--seed",
            i,
            "--out",
            tmp / f"b{i}.csv",
        )
        picked += label(tmp / f"b{i}.csv", f"l{i}.csv")
        cli("train", P)
        cli("predict", P, "--out", tmp / f"pred{i}.csv")
        pred = pd.read_csv(tmp / f"pred{i}.csv", dtype={"predicted": str})
        pool = pred[pred["split"] == "pool"]
        true_acc = float((pool["predicted"] == pool["id"].map(truth)).mean())
        st = json.loads(cli("status", P, "--json"))
        rounds.append((st["rounds"][-1], true_acc))
    return tmp, P, truth, rounds, set(eval_ids), set(picked)


def test_the_evaluation_metric_tracks_the_accuracy_on_unlabeled_rows(run):
    _, _, _, rounds, _, _ = run
    for r, true_acc in rounds:
        assert {"metric", "metric_ci", "n_eval", "cv_metric", "n_labeled"} <= set(r)
        lo, hi = r["metric_ci"]
        assert r["n_eval"] == EVAL and abs(r["metric"] - true_acc) <= hi - lo
    last, true_acc = rounds[-1]
    lo, hi = last["metric_ci"]
    assert last["n_labeled"] == 5 * BATCH and lo <= true_acc <= hi
    # the CV accuracy on the selected (hard) rows is not: it is biased low
    half = (hi - lo) / 2
    assert last["cv_metric"] is not None and last["cv_metric"] < true_acc - half


def test_the_unlabeled_row_estimate_covers_their_accuracy(run):
    _, _, _, rounds, _, _ = run
    n_rows = len(load_digits().target)
    for r, true_acc in rounds:
        if r["cv_metric"] is None:  # too few labels per class to cross-validate
            assert r["pool_metric"] is None
            continue
        lo, hi = r["pool_metric_ci"]
        assert lo <= true_acc <= hi and abs(r["pool_metric"] - true_acc) <= 0.03
        assert r["n_pool"] == n_rows - EVAL - r["n_labeled"]


def test_reserved_samples_were_never_selected(run):
    _, _, _, _, eval_ids, picked = run
    assert len(eval_ids) == EVAL and len(picked) == 5 * BATCH and not eval_ids & picked


def test_predict_writes_csv_jsonl_and_parquet_alike(run):
    tmp, P, _, _, eval_ids, picked = run
    cli("predict", P, "--out", tmp / "p.jsonl")
    cli("predict", P, "--out", tmp / "p.parquet", "--model-version", 5)
    a = pd.read_csv(tmp / "pred4.csv", dtype={"predicted": str})
    b = pd.read_json(tmp / "p.jsonl", lines=True, dtype={"predicted": str})
    c = pd.read_parquet(tmp / "p.parquet")
    cols = ["id", "predicted", *[f"proba_{k}" for k in range(10)], "score", "split"]
    for df in (a, b, c):
        assert list(df.columns) == cols and len(df) == 1797
        assert set(df.loc[df["split"] == "eval", "id"]) == eval_ids
        assert set(df.loc[df["split"] == "labeled", "id"]) == picked
        probs = df[[f"proba_{k}" for k in range(10)]].to_numpy()
        assert abs(probs.sum(axis=1) - 1).max() < 1e-5  # float32 features
        assert (df["predicted"] == probs.argmax(axis=1).astype(str)).all()
        # margin's score: 1 - (p1 - p2)
        top2 = -pd.DataFrame(-probs).apply(sorted, axis=1, result_type="expand").to_numpy()
        assert abs(df["score"].to_numpy() - (1 - (top2[:, 0] - top2[:, 1]))).max() < 1e-6
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    pd.testing.assert_frame_equal(a, c, check_dtype=False)


def shell(*args):
    """The command as a user runs it: user errors are one line on stderr and exit code 2."""
    return subprocess.run(
        [sys.executable, "-m", "labelwise", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "{P}", "--out", "{tmp}/p.xlsx"], "cannot write a .xlsx file"),
        (["predict", "{P}", "--out", "{tmp}/q.csv", "--model-version", "99"], "no such model"),
        (["eval-set", "{P}", "--size", "10"], "cannot shrink it"),
        (["eval-set", "{P}", "--size", "5000"], "the unlabeled pool has only"),
        (["select", "{P}", "--random-share", "1.5"], "--random-share must be within [0, 1]"),
    ],
)
def test_errors_are_one_line_and_write_nothing(run, args, message):
    tmp, P, _, _, _, _ = run
    before = sorted(x.name for x in tmp.iterdir())
    r = shell(*[a.format(tmp=tmp, P=P) for a in args])
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert sorted(x.name for x in tmp.iterdir()) == before


def test_eval_set_draws_are_in_the_history(run):
    _, P, _, _, eval_ids, _ = run
    out = cli("history", P)
    assert f"evaluation set: {EVAL} random samples reserved" in out and "seed 1)" in out
    out = cli("history", P, "--sample", sorted(eval_ids)[0])
    assert "reserved for the random evaluation set" in out
