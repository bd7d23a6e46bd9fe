"""The pipeline with ``model: {external: FILE}``: rounds selected and scored from the file alone."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from labelwise.config import PipelineError, load_pipeline
from labelwise.errors import InvalidInputError
from labelwise.loop._evalset import eval_ids
from labelwise.loop._pipeline import run_pipeline
from labelwise.loop._project import history, round_uids
from labelwise.store import Project

CLASSES = ["malignant", "benign"]
BASE = """project: proj
classes: [malignant, benign]
data: {path: bc.csv, id_column: id, label_column: diagnosis}
model: {external: preds.parquet}
strategy: {name: margin}
batch_size: 10
evaluation: {size: 60}
stopping: {max_rounds: 3}
oracle: {type: simulated}
outputs: {folder: out}
"""


@pytest.fixture()
def folder(tmp_path, bc_csv):
    _, df = bc_csv
    (tmp_path / "pipeline.yaml").write_text(BASE)
    # the "outside" model: a logreg on 30 rows, its probabilities in predict's column names
    X = StandardScaler().fit_transform(df.drop(columns=["id", "diagnosis"]).to_numpy())
    rows = np.r_[0:15, 19:34]
    clf = LogisticRegression(C=0.05, max_iter=1000).fit(X[rows], df["diagnosis"].iloc[rows])
    P = clf.predict_proba(X)[:, [list(clf.classes_).index(c) for c in CLASSES]]
    preds = pd.DataFrame(P, columns=[f"proba_{c}" for c in CLASSES])
    preds.insert(0, "id", df["id"])
    preds.to_parquet(tmp_path / "preds.parquet", index=False)
    truth = dict(zip(df["id"], df["diagnosis"], strict=True))
    return tmp_path, dict(zip(df["id"], P, strict=True)), truth


def test_rounds_follow_the_file_and_are_scored_on_the_evaluation_set(folder):
    tmp, P, truth = folder
    lines = []
    st = run_pipeline(load_pipeline(tmp / "pipeline.yaml"), echo=lines.append)
    assert st["stopped_by"] == "3 rounds run"
    assert st["model_version"] is None  # nothing was trained
    p = Project.open(tmp / "proj")
    sids, uids = p.sample_ids()
    uid_of = dict(zip(sids.tolist(), uids.tolist(), strict=True))
    evals = {uid_of[s] for s in eval_ids(p)}
    assert len(evals) == 60
    margin = {u: 1 - abs(q[0] - q[1]) for u, q in P.items()}
    taken = set(evals)
    sha = hashlib.sha256((tmp / "preds.parquet").read_bytes()).hexdigest()
    # accuracy of the file's argmax on the 60 evaluation labels, by hand
    acc = np.mean([CLASSES[int(np.argmax(P[u]))] == truth[u] for u in evals])
    for h in history(p):
        picked = round_uids(p, h["round"])
        ranked = sorted((u for u in P if u not in taken), key=lambda u: -margin[u])
        assert set(picked) == set(ranked[:10])  # top-10 by the hand-computed margin
        taken |= set(picked)
        assert h["external"]["sha256"] == sha and h["finished"]
        assert h["metric"] == pytest.approx(acc) and h["n_eval"] == 60
        lo, hi = h["metric_ci"]
        assert lo < acc < hi
    assert any("preds.parquet: evaluation accuracy" in line for line in lines)
    assert (tmp / "out" / "learning_curve.png").exists()
    p.close()


def test_the_run_waits_for_the_file(folder):
    tmp, _, _ = folder
    (tmp / "preds.parquet").rename(tmp / "later.parquet")
    lines = []
    st = run_pipeline(load_pipeline(tmp / "pipeline.yaml"), echo=lines.append)
    assert st["waiting_for"] == str(tmp / "preds.parquet")
    assert "waiting for predictions" in lines[-1]
    (tmp / "later.parquet").rename(tmp / "preds.parquet")
    st = run_pipeline(load_pipeline(tmp / "pipeline.yaml"), echo=lines.append)
    assert st["stopped_by"] == "3 rounds run"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("model: {external: preds.parquet}", "model: {name: logreg, external: preds.parquet}"),
            "give model.name (a model labelwise trains) or model.external",
        ),
        (
            ("strategy: {name: margin}", "strategy: {name: k_center_greedy}"),
            "strategy.name: strategy 'k_center_greedy' uses no probabilities",
        ),
        (
            ("model: {external: preds.parquet}", "model: {external: preds.xlsx}"),
            "model.external = ",
        ),
        (
            ("model: {external: preds.parquet}", "model: {extrnal: preds.parquet}"),
            "unknown key 'model.extrnal'. Did you mean 'external'?",
        ),
    ],
)
def test_bad_external_config_names_the_key(folder, change, message):
    tmp, _, _ = folder
    (tmp / "p.yaml").write_text(BASE.replace(*change))
    with pytest.raises(PipelineError) as e:
        load_pipeline(tmp / "p.yaml")
    assert message in str(e.value) and "p.yaml" in str(e.value)
    assert "\n" not in str(e.value)


def test_a_bad_file_stops_the_run_before_a_round_is_stored(folder):
    tmp, P, _ = folder
    df = pd.read_parquet(tmp / "preds.parquet")
    df.iloc[:5].to_parquet(tmp / "preds.parquet", index=False)  # most of the pool missing
    with pytest.raises(InvalidInputError) as e:
        run_pipeline(load_pipeline(tmp / "pipeline.yaml"), echo=lambda m: None)
    assert "have no row" in str(e.value)
    p = Project.open(tmp / "proj")
    assert history(p) == []
    p.close()
