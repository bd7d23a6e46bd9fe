"""The pipeline's monitor step: each batch once, its picks labeled next, resume-safe."""

import numpy as np
import pandas as pd
import pytest

from labelwise.config import load_pipeline
from labelwise.loop._pipeline import run_pipeline
from labelwise.monitor import monitor_runs
from labelwise.store import Project

YAML = """project: proj
classes: ['no', 'yes']
data: {path: pool.csv, id_column: id, label_column: label}
strategy: {name: margin}
batch_size: 20
evaluation: {size: 60}
stopping: {max_rounds: 3}
oracle: {type: simulated}
outputs: {folder: out}
monitor: {data: "prod/*.csv", enqueue: 5}
"""


def _table(rng, n, prefix, shift=0.0):
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 3))
    X[:, 0] += 2.5 * y
    X[:, 2] += shift
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df.insert(0, "id", [f"{prefix}{i}" for i in range(n)])
    df["label"] = np.where(y == 1, "yes", "no")
    return df


@pytest.mark.slow
def test_monitor_step_runs_each_batch_once_and_labels_its_picks(tmp_path):
    rng = np.random.default_rng(0)
    _table(rng, 300, "p").to_csv(tmp_path / "pool.csv", index=False)
    (tmp_path / "prod").mkdir()
    _table(rng, 120, "b1-", shift=2.0).to_csv(tmp_path / "prod" / "b1.csv", index=False)
    (tmp_path / "p.yaml").write_text(YAML)
    cfg = load_pipeline(tmp_path / "p.yaml")
    lines = []
    st = run_pipeline(cfg, echo=lines.append)
    p = Project.open(tmp_path / "proj")
    runs = monitor_runs(p)
    assert [r["batch"] for r in runs] == ["b1"] and runs[0]["n_enqueued"] == 5
    monitored = [r for r in p.rounds() if r.strategy == "monitor"]
    assert len(monitored) == 1
    # the simulated oracle labeled the enqueued production samples from the batch file
    labels = p.current_labels()
    ids, uids = p.sample_ids()
    b1 = [int(i) for i, u in zip(ids, uids, strict=True) if u.startswith("b1-")]
    assert len(b1) == 5 and all(i in labels for i in b1)
    assert st["stopped_by"]
    # run again (a resume): nothing is monitored twice; a new batch is monitored once
    run_pipeline(load_pipeline(tmp_path / "p.yaml"), echo=lines.append)
    assert len(monitor_runs(p)) == 1
    _table(rng, 120, "b2-").to_csv(tmp_path / "prod" / "b2.csv", index=False)
    cfg = load_pipeline(tmp_path / "p.yaml")
    cfg.stopping.max_rounds = 5
    run_pipeline(cfg, echo=lines.append)
    assert [r["batch"] for r in monitor_runs(p)] == ["b2", "b1"]
    p.close()


def test_an_interrupted_enqueue_is_finished_not_repeated(tmp_path, monkeypatch):
    """Killed after the picks were imported but before their round: the rerun reuses them."""
    import labelwise.monitor._project as mp

    rng = np.random.default_rng(1)
    _table(rng, 300, "p").to_csv(tmp_path / "pool.csv", index=False)
    (tmp_path / "prod").mkdir()
    _table(rng, 120, "b1-", shift=2.0).to_csv(tmp_path / "prod" / "b1.csv", index=False)
    (tmp_path / "p.yaml").write_text(YAML.replace("max_rounds: 3", "max_rounds: 2"))

    def crash(*a, **k):
        raise KeyboardInterrupt

    real = mp._open_round
    monkeypatch.setattr(mp, "_open_round", crash)
    try:
        run_pipeline(load_pipeline(tmp_path / "p.yaml"), echo=lambda m: None)
    except KeyboardInterrupt:
        pass
    p = Project.open(tmp_path / "proj")
    n_after_crash = p.sample_ids()[0].size
    assert n_after_crash == 305 and not monitor_runs(p)  # imported, not yet done
    monkeypatch.setattr(mp, "_open_round", real)
    run_pipeline(load_pipeline(tmp_path / "p.yaml"), echo=lambda m: None)
    assert p.sample_ids()[0].size == 305  # the same five, not five more
    runs = monitor_runs(p)
    assert len(runs) == 1 and runs[0]["n_enqueued"] == 5
    p.close()
