"""The pipeline file: validation messages, a full run, the file oracle, resume after a kill."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from labelwise.config import PipelineError, load_pipeline
from labelwise.loop._pipeline import run_pipeline
from labelwise.store import Project

BASE = """project: proj
classes: [malignant, benign]
data: {path: bc.csv, id_column: id, label_column: diagnosis}
model: {name: logreg}
strategy: {name: margin}
batch_size: 10
stopping: {label_budget: 50}
oracle: {type: simulated}
outputs: {folder: out}
"""


@pytest.fixture()
def folder(tmp_path, bc_csv):
    (tmp_path / "pipeline.yaml").write_text(BASE)
    return tmp_path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("strategy: {name: margin}", "strategy: {name: margn}"),
            "strategy.name = 'margn': unknown strategy 'margn'; choose one of",
        ),
        (
            ("batch_size: 10", "batchsize: 10"),
            "unknown key 'batchsize'. Did you mean 'batch_size'?",
        ),
        (
            ("model: {name: logreg}", "model: {name: xgboost}"),
            "model.name = 'xgboost': Input should be 'logreg', 'logreg_cv', 'svm', 'rf', 'knn', "
            "'mlp', 'torch_mlp', 'torch_head' or 'torch_cnn'",
        ),
        (("stopping: {label_budget: 50}", "stopping: {}"), "give at least one stopping rule"),
        (("classes: [malignant, benign]\n", ""), "missing key 'classes'"),
        (("batch_size: 10", "batch_size: [10"), "line 7"),
        (("oracle: {type: simulated}", "oracle: {type: file}"), "needs oracle.folder"),
        (("path: bc.csv", "path: nope.csv"), "data.path = "),
    ],
)
def test_pipeline_errors_name_the_key_and_the_fix(folder, change, message):
    text = BASE.replace(*change)
    (folder / "p.yaml").write_text(text)
    with pytest.raises(PipelineError) as e:
        load_pipeline(folder / "p.yaml")
    assert message in str(e.value) and "p.yaml" in str(e.value)


def test_full_run_with_the_simulated_oracle(folder):
    cfg = load_pipeline(folder / "pipeline.yaml")
    st = run_pipeline(cfg, echo=lambda m: None)
    assert st["n_labeled"] == 50 and "label budget reached" in st["stopped_by"]
    p = Project.open(folder / "proj")
    truth = dict(
        zip(
            *np.loadtxt(folder / "bc.csv", delimiter=",", skiprows=1, dtype=str, usecols=(0, 31)).T,
            strict=True,
        )
    )
    _, uids = p.sample_ids()
    ids, _ = p.sample_ids()
    labels = p.current_labels()
    for i, u in zip(ids, uids, strict=True):  # every label is the hidden truth
        if int(i) in labels:
            assert labels[int(i)] == truth[u]
    assert (folder / "out" / "status.json").exists()
    assert (folder / "out" / "learning_curve.png").exists()
    # the label column never became a feature
    art = p.latest_artifact("features")
    assert art.info["dim"] == 30
    # running again changes nothing: the budget is spent
    st2 = run_pipeline(cfg, echo=lambda m: None)
    assert st2["n_labeled"] == 50 and st2["n_label_events"] == st["n_label_events"]


def test_file_oracle_waits_and_continues(folder):
    text = BASE.replace("oracle: {type: simulated}", "oracle: {type: file, folder: inbox}")
    text = text.replace("label_budget: 50", "label_budget: 20")
    (folder / "p.yaml").write_text(text)
    cfg = load_pipeline(folder / "p.yaml")
    st = run_pipeline(cfg, echo=lambda m: None)
    assert st["waiting_for"].endswith("inbox/round-1.csv") and st["n_pending"] == 10
    batch = (folder / "out" / "round-1.csv").read_text().splitlines()[1:]
    truth = {
        line.split(",")[0]: line.split(",")[-1]
        for line in (folder / "bc.csv").read_text().splitlines()[1:]
    }
    (folder / "inbox").mkdir()
    ids = [b.split(",")[0] for b in batch]
    (folder / "inbox" / "round-1.csv").write_text(
        "id,label\n" + "".join(f"{i},{truth[i]}\n" for i in ids)
    )
    st = run_pipeline(cfg, echo=lambda m: None)
    assert st["waiting_for"].endswith("inbox/round-2.csv") and st["n_labeled"] == 10


def test_resume_after_kill_finishes_with_exact_budget(folder):
    text = BASE.replace("label_budget: 50", "label_budget: 80")
    (folder / "pipeline.yaml").write_text(text)
    rng = np.random.default_rng(0)
    for _ in range(4):  # kill the run at random moments
        proc = subprocess.Popen(
            [sys.executable, "-m", "labelwise", "run", "pipeline.yaml"],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(float(rng.uniform(1.0, 4.0)))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    r = subprocess.run(
        [sys.executable, "-m", "labelwise", "run", "pipeline.yaml", "--json"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["n_labeled"] == 80 and st["n_pending"] == 0
    assert st["n_label_events"] == 80  # no label was imported twice
    assert "label budget" in st["stopped_by"]
