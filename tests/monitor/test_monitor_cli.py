"""``labelwise monitor`` end to end on a small tabular project (in-process CLI)."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.embed import compute_features
from labelwise.errors import LabelwiseError
from labelwise.io._labels import import_labels
from labelwise.io._samples import import_pool
from labelwise.loop._evalset import draw_eval_set
from labelwise.loop._project import train
from labelwise.store import Project


def _table(rng, n, prefix, shift=0.0):
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 4))
    X[:, 0] += 2.5 * y
    X[:, 3] += shift
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    df.insert(0, "id", [f"{prefix}{i}" for i in range(n)])
    return df, np.where(y == 1, "yes", "no")


@pytest.fixture()
def project(tmp_path):
    rng = np.random.default_rng(0)
    pool, y = _table(rng, 400, "p")
    pool.to_csv(tmp_path / "pool.csv", index=False)
    p = Project.init(tmp_path / "proj", classes=["no", "yes"])
    import_pool(p, tmp_path / "pool.csv", id_column="id")
    compute_features(p)
    draw_eval_set(p, 150, seed=0)
    truth = dict(zip(pool["id"], y, strict=True))
    ids = p.sample_ids()[1]
    pd.DataFrame({"id": ids, "label": [truth[i] for i in ids]}).iloc[:250].to_csv(
        tmp_path / "labels.csv", index=False
    )
    import_labels(p, tmp_path / "labels.csv")
    train(p)
    drifted, _ = _table(rng, 200, "q", shift=1.5)
    drifted.to_csv(tmp_path / "drift.csv", index=False)
    yield p, tmp_path
    p.close()


def test_monitor_writes_the_report_enqueues_and_the_dashboard_lists_it(project):
    p, tmp = project
    n_before = p.sample_ids()[0].size
    r = CliRunner().invoke(
        app,
        [
            "monitor",
            str(p.path),
            "--data",
            str(tmp / "drift.csv"),
            "--out",
            str(tmp / "mon"),
            "--enqueue",
            "8",
        ],
    )
    assert r.exit_code == 0, r.output
    assert r.output.count("\n") == 1 and "DRIFT" in r.output and "8 enqueued" in r.output
    rep = json.loads((tmp / "mon" / "report.json").read_text())
    assert {"drift", "alerts", "tests", "estimated_accuracy", "enqueued"} <= set(rep)
    assert rep["drift"] is True and rep["alerts"]
    for t in rep["tests"]:
        assert {"name", "statistic", "p_value", "threshold", "fired"} <= set(t)
    assert "feature_drift" in [t["name"] for t in rep["tests"] if t["fired"]]
    assert "<img" in (tmp / "mon" / "report.html").read_text()
    # the picks are in the pool, tagged, in a new round with their reasons, with features
    assert len(rep["enqueued"]) == 8 and all(i.startswith("q") for i in rep["enqueued"])
    assert p.sample_ids()[0].size == n_before + 8
    rnd = p.rounds()[-1]
    assert rnd.strategy == "monitor" and rnd.batch_size == 8
    from labelwise.loop._project import provenance

    prov = provenance(p, rep["enqueued"][0])
    assert prov["selections"][0]["reason"] == rep["picks"][0]["reason"]
    assert p.latest_artifact("features").info["n_samples"] == n_before + 8
    # the dashboard's production panel
    from labelwise.web._views import dashboard

    prod = dashboard(p)["production"]
    assert prod[0]["batch"] == "drift" and prod[0]["drift"] is True
    assert prod[0]["n_enqueued"] == 8 and prod[0]["estimated_accuracy"] == rep["estimated_accuracy"]


def test_monitor_usage_errors_are_one_line_and_store_nothing(project):
    p, tmp = project
    n_before = p.sample_ids()[0].size
    pd.DataFrame({"id": ["z1"], "a": [1.0], "b": [2.0]}).to_csv(tmp / "short.csv", index=False)
    for args, needle in [
        (["--data", str(tmp / "nope.csv")], "no such file"),
        (["--data", str(tmp / "short.csv"), "--enqueue", "1"], "missing column(s) ['c', 'd']"),
        (["--data", str(tmp / "drift.csv"), "--reference", "bogus"], "--reference 'bogus'"),
    ]:
        r = CliRunner().invoke(app, ["monitor", str(p.path), *args, "--out", str(tmp / "m2")])
        # a LabelwiseError: main() prints it as one line and exits 2
        assert isinstance(r.exception, LabelwiseError), r.output
        assert needle in str(r.exception), r.exception
    assert p.sample_ids()[0].size == n_before
    assert p.latest_artifact("monitor") is None
