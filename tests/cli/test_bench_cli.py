"""The bench and demo commands as a user runs them: files written, errors on one line."""

import json
import subprocess
import sys

import numpy as np
import pytest


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "labelwise", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def test_bench_writes_results_and_png(tmp_path):
    r = cli(
        "bench",
        "--data",
        "breast_cancer",
        "--model",
        "svm",
        "--strategies",
        "margin,random",
        "--initial",
        "20",
        "--batch",
        "10",
        "--budget",
        "60",
        "--seeds",
        "2",
        "--test-size",
        "0.4",
        "--metric",
        "accuracy",
        "--out",
        str(tmp_path / "o"),
    )
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["dataset"] == "breast_cancer" and res["model"] == "svm"
    assert (res["n_pool"], res["n_test"]) == (341, 228)
    for k in ("margin", "random"):
        s = res["strategies"][k]
        assert {"aubc_mean", "aubc_std", "labels", "curves"} <= set(s)
        assert s["labels"] == [20, 30, 40, 50, 60, 70, 80] and len(s["curves"]) == 2
        assert s["aubc_mean"] == pytest.approx(np.mean(s["aubc"]))
    png = (tmp_path / "o" / "learning_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "AUBC" in r.stdout and "margin" in r.stdout


def test_bench_on_a_csv_with_budget_clipped(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    lines = ["a,b,c,label"] + [f"{a},{b},{c},{t}" for (a, b, c), t in zip(X, y, strict=True)]
    (tmp_path / "d.csv").write_text("\n".join(lines))
    r = cli(
        "bench",
        "--data",
        str(tmp_path / "d.csv"),
        "--target",
        "label",
        "--model",
        "logreg",
        "--strategies",
        "entropy,random",
        "--initial",
        "4",
        "--batch",
        "8",
        "--budget",
        "1000",
        "--seeds",
        "1",
        "--json",
        "--out",
        str(tmp_path / "o"),
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert "clipped to 32" in summary["notes"][0]  # 36 pool rows - 4 initial
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["budget"] == 32 and res["strategies"]["entropy"]["labels"][-1] == 36


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "nope.csv"], "data file 'nope.csv' not found"),
        (["--data", "iris", "--strategies", "marginn"], "unknown strategy 'marginn'"),
        (["--data", "iris", "--model", "svn"], "unknown model 'svn'"),
        (["--data", "iris", "--initial", "2"], "smaller than the number of classes (3)"),
        (["--data", "iris", "--initial", "500"], "larger than the pool (90"),
        (["--data", "iris", "--budget", "many"], "--budget must be a number of labels or 'all'"),
        (["--data", "iris", "--metric", "auc"], "unknown metric 'auc'"),
    ],
)
def test_bench_errors_are_one_line_exit_2(tmp_path, args, message):
    r = cli("bench", *args, "--seeds", "1", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_did_you_mean_and_one_class(tmp_path):
    r = cli("bench", "--data", "iris", "--strategies", "marginn", "--out", str(tmp_path))
    assert "Did you mean 'margin'?" in r.stderr
    (tmp_path / "one.csv").write_text("a,y\n1,0\n2,0\n3,0\n4,0\n5,0\n")
    r = cli(
        "bench", "--data", str(tmp_path / "one.csv"), "--target", "y", "--out", str(tmp_path / "o")
    )
    assert r.returncode == 2 and "only one class" in r.stderr


def test_demo_writes_results_with_random(tmp_path):
    r = cli("demo", "--out", str(tmp_path / "demo"), "--seeds", "1", "--jobs", "1")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert "random" in res["strategies"] and len(res["strategies"]) >= 5
    assert list((tmp_path / "demo").glob("*.png"))
    assert str(tmp_path / "demo") in r.stdout.replace("\n", "")


def test_strategies_lists_the_whole_registry():
    from labelwise.strategies import STRATEGIES

    r = cli("strategies", "--json")
    assert r.returncode == 0
    assert [s["name"] for s in json.loads(r.stdout)] == list(STRATEGIES)


def test_bench_with_a_cost_column(tmp_path):
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer(as_frame=True)
    df = d.frame.copy()
    df["seconds"] = np.random.default_rng(0).uniform(2, 30, len(df)).round(1)
    df.to_csv(tmp_path / "c.csv", index=False)
    r = cli(
        "bench",
        "--data",
        str(tmp_path / "c.csv"),
        "--target",
        "target",
        "--cost-column",
        "seconds",
        "--strategies",
        "margin,random",
        "--model",
        "logreg",
        "--initial",
        "10",
        "--batch",
        "10",
        "--budget",
        "30",
        "--seeds",
        "1",
        "--json",
        "--out",
        str(tmp_path / "o"),
    )
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["n_features"] == 30  # the cost column is not a feature
    spent = res["strategies"]["margin"]["cost_mean_curve"]
    assert spent[0] == 0 and all(b > a for a, b in zip(spent, spent[1:], strict=False))
    df.loc[5, "seconds"] = -1
    df.to_csv(tmp_path / "bad.csv", index=False)
    r = cli(
        "bench",
        "--data",
        str(tmp_path / "bad.csv"),
        "--target",
        "target",
        "--cost-column",
        "seconds",
        "--out",
        str(tmp_path / "o2"),
    )
    assert r.returncode == 2 and "line 7: cost '-1.0' in column 'seconds' must be" in r.stderr
    r = cli(
        "bench",
        "--data",
        str(tmp_path / "c.csv"),
        "--target",
        "target",
        "--cost-column",
        "seconds",
        "--strategies",
        "k_center_greedy",
        "--out",
        str(tmp_path / "o3"),
    )
    assert r.returncode == 2 and "do not use a per-sample cost" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
