"""torch_mlp from the shell: train on 300 digits, predict the rest; bench with BALD.

Accuracy is measured in the test from ``labelwise predict`` against the known
digit of every row the model never saw (chance: 0.1).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sklearn.datasets import load_digits
from typer.testing import CliRunner

from labelwise.cli import app

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

N_LABELED = 300


def cli(*args, code=0):
    r = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == code, r.output
    return r.output


def test_train_torch_mlp_on_300_digits_then_predict_the_rest(tmp_path):
    d = load_digits()
    df = pd.DataFrame(d.data, columns=[f"p{i}" for i in range(64)])
    df.insert(0, "id", [f"d{i}" for i in range(len(df))])
    df.to_csv(tmp_path / "digits.csv", index=False)
    truth = dict(zip(df["id"], d.target.astype(str), strict=True))
    P = tmp_path / "proj"
    cli("init", P, "--classes", ",".join(map(str, range(10))))
    cli("import", P, tmp_path / "digits.csv", "--id-column", "id")
    cli("embed", P)
    labeled = df["id"][:N_LABELED]
    pd.DataFrame({"id": labeled, "label": labeled.map(truth)}).to_csv(
        tmp_path / "l.csv", index=False
    )
    cli("labels", P, "import", tmp_path / "l.csv")
    info = json.loads(cli("train", P, "--model", "torch_mlp", "--json"))
    assert info["model"] == "torch_mlp" and info["n_labeled"] == N_LABELED
    cli("predict", P, "--out", tmp_path / "pred.csv")
    pred = pd.read_csv(tmp_path / "pred.csv", dtype={"predicted": str})
    pool = pred[pred["split"] == "pool"]
    assert len(pool) == len(df) - N_LABELED
    accuracy = float((pool["predicted"] == pool["id"].map(truth)).mean())
    assert accuracy > 0.85, accuracy
    # a committee strategy on the stored torch model: MC dropout, no bagging
    out = cli("select", P, "--strategy", "bald", "--batch", "5", "--out", tmp_path / "b.csv")
    assert "cold" not in out
    assert len(pd.read_csv(tmp_path / "b.csv")) == 5


def test_bench_torch_mlp_with_bald(tmp_path):
    out = tmp_path / "bench"
    cli(
        "bench",
        "--data",
        "digits",
        "--model",
        "torch_mlp",
        "--strategies",
        "bald,random",
        "--initial",
        "40",
        "--batch",
        "40",
        "--budget",
        "80",
        "--seeds",
        "1",
        "--test-size",
        "0.5",
        "--out",
        out,
    )
    res = json.loads((out / "results.json").read_text())
    assert res["model"] == "torch_mlp"
    assert set(res["strategies"]) == {"bald", "random"}
    for name in ("bald", "random"):
        r = res["strategies"][name]
        assert r["labels"] == [40, 80, 120]
        assert r["mean_curve"][-1] > 0.8  # 120 digits, chance 0.1
