"""``labelwise select PROJECT --proba FILE`` as a user types it: predict's output round-trips,
bad files give one line and exit 2 with nothing stored, and history names the file."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from labelwise.embed import compute_features
from labelwise.io._labels import import_labels
from labelwise.io._samples import import_pool
from labelwise.loop._project import train
from labelwise.store import Project

CLASSES = ["c0", "c1", "c2"]


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "labelwise", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture()
def trained(tmp_path):
    d = load_wine(as_frame=True)
    df = d.data.copy()
    ids = [f"w-{i}" for i in range(len(df))]
    df.insert(0, "id", ids)
    df.to_csv(tmp_path / "wine.csv", index=False)
    p = Project.init(tmp_path / "proj", classes=CLASSES)
    import_pool(p, tmp_path / "wine.csv", id_column="id")
    compute_features(p)
    lab = tmp_path / "l.csv"
    with open(lab, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "label"])
        w.writerows([ids[i], CLASSES[d.target[i]]] for i in range(0, len(ids), 15))
    import_labels(p, lab)
    train(p)
    p.close()
    return tmp_path, ids


def _rounds(folder):
    r = cli("history", folder / "proj", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_predict_output_round_trips_into_select(trained):
    tmp, ids = trained
    assert cli("predict", tmp / "proj", "--out", tmp / "preds.csv").returncode == 0
    df = pd.read_csv(tmp / "preds.csv")
    P = df[[f"proba_{c}" for c in CLASSES]].to_numpy()
    s = np.sort(P, axis=1)
    margin = 1 - (s[:, -1] - s[:, -2])
    pool = df["split"].to_numpy() == "pool"
    order = [i for i in np.argsort(-margin, kind="stable") if pool[i]]
    assert margin[order[7]] > margin[order[8]]
    r = cli(
        "select", tmp / "proj", "--strategy", "margin", "--batch", 8,
        "--proba", tmp / "preds.csv", "--out", tmp / "b.csv",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "cold-start" not in r.stdout
    picked = [row["id"] for row in csv.DictReader(open(tmp / "b.csv"))]
    assert set(picked) == {df["id"][i] for i in order[:8]}
    h = _rounds(tmp)[-1]
    assert h["external"]["sha256"] == hashlib.sha256((tmp / "preds.csv").read_bytes()).hexdigest()
    r = cli("history", tmp / "proj")
    assert "preds.csv" in r.stdout


def test_missing_ids_give_one_line_exit_2_and_no_round(trained):
    tmp, ids = trained
    assert cli("predict", tmp / "proj", "--out", tmp / "preds.parquet").returncode == 0
    df = pd.read_parquet(tmp / "preds.parquet")
    df[df["id"] != "w-1"].to_parquet(tmp / "short.parquet", index=False)
    r = cli("select", tmp / "proj", "--proba", tmp / "short.parquet", "--out", tmp / "b.csv")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "1 sample(s) the strategy must score have no row: 'w-1'" in lines[0]
    assert _rounds(tmp) == [] and not (tmp / "b.csv").exists()
    # an id of another project: named
    df.loc[0, "id"] = "other-7"
    df.to_parquet(tmp / "extra.parquet", index=False)
    r = cli("select", tmp / "proj", "--proba", tmp / "extra.parquet")
    assert r.returncode == 2 and "1 id(s) are not samples of" in r.stderr
    assert "'other-7'" in r.stderr and _rounds(tmp) == []


def test_a_strategy_without_probabilities_is_refused(trained):
    tmp, ids = trained
    np.save(tmp / "p.npy", np.full((len(ids), 3), 1 / 3))
    r = cli("select", tmp / "proj", "--strategy", "typicality", "--proba", tmp / "p.npy")
    assert r.returncode == 2 and "'typicality' uses no probabilities" in r.stderr
    assert "margin" in r.stderr  # the strategies that work are listed
    r = cli("select", "--help")
    assert "--proba" in r.stdout
