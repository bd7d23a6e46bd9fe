"""select_batch(proba=FILE): external probabilities, checked against hand-computed rankings.

The probabilities come from a LogisticRegression fitted here (and, for committees,
from several fitted on bootstrap samples); the expected picks are computed by hand
from those arrays, never by labelwise.
"""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sqlalchemy import func, select

from labelwise.embed import compute_features, load_features
from labelwise.errors import InvalidInputError
from labelwise.io._labels import import_labels
from labelwise.io._samples import import_pool
from labelwise.loop._external import proba_strategies
from labelwise.loop._project import history, select_batch
from labelwise.store import Project
from labelwise.store._models import Event, Round, SelectionRow

CLASSES = ["setosa", "versicolor", "virginica"]


@pytest.fixture()
def iris(tmp_path):
    d = load_iris(as_frame=True)
    df = d.data.copy()
    df.insert(0, "id", [f"s{i}" for i in range(len(df))])
    df.to_csv(tmp_path / "iris.csv", index=False)
    p = Project.init(tmp_path / "proj", classes=CLASSES)
    import_pool(p, tmp_path / "iris.csv", id_column="id")
    compute_features(p)
    X, _, _ = load_features(p)
    y = d.target.to_numpy()
    # a weak model, so the margins differ: fit on a few rows of the project's own features
    train = np.r_[0:3, 50:53, 100:103]
    proba = LogisticRegression(max_iter=500).fit(X[train], y[train]).predict_proba(X)
    yield p, df["id"].tolist(), proba, X, y
    p.close()


def _counts(p: Project):
    with p.session() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Round, SelectionRow))


def _margin(proba):
    s = np.sort(proba, axis=1)
    return 1.0 - (s[:, -1] - s[:, -2])


def _top(ids, score, k, allowed=None):
    order = [i for i in np.argsort(-score, kind="stable") if allowed is None or ids[i] in allowed]
    assert score[order[k - 1]] > score[order[k]]  # no tie at the cut: the set is defined
    return {ids[i] for i in order[:k]}


def _write(path, ids, proba, *, names=CLASSES):
    df = pd.DataFrame(proba, columns=names)
    df.insert(0, "id", ids)
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in df.to_dict("records")))
    return path


@pytest.mark.parametrize("ext", [".csv", ".parquet", ".jsonl", ".npy"])
def test_margin_picks_the_hand_computed_top_k(iris, tmp_path, ext):
    p, ids, proba, _, _ = iris
    path = tmp_path / f"preds{ext}"
    if ext == ".npy":
        np.save(path, proba)  # rows in the order predict writes: the stored order
    else:
        _write(path, ids, proba)
    r = select_batch(p, strategy="margin", batch_size=7, proba=path)
    assert {row["id"] for row in r.rows} == _top(ids, _margin(proba), 7)
    assert r.cold_start is False and r.strategy == "margin"  # no model stored, no cold start
    m = _margin(proba)
    for row in r.rows:
        assert row["score"] == pytest.approx(m[ids.index(row["id"])])
        assert "probabilities from preds" in row["reason"]
        assert row["model_version"] is None
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    h = history(p)[-1]
    assert h["external"]["sha256"] == sha and h["external"]["file"] == str(path)
    assert sha[:12] in h["note"] and path.name in h["note"]


def test_predict_style_columns_round_trip_and_labeled_rows_are_ignored(iris, tmp_path):
    p, ids, proba, _, _ = iris
    # label 20 samples: their rows stay in the file, and they are no candidates
    labeled = ids[:20]
    lab = tmp_path / "l.csv"
    lab.write_text("id,label\n" + "".join(f"{u},setosa\n" for u in labeled))
    import_labels(p, lab)
    df = pd.DataFrame(proba, columns=[f"proba_{c}" for c in CLASSES])
    df.insert(0, "id", ids)
    df.insert(1, "predicted", [CLASSES[k] for k in proba.argmax(1)])
    df["score"] = 0.0
    df["split"] = "pool"
    df.to_csv(tmp_path / "predict.csv", index=False)
    r = select_batch(p, strategy="entropy", batch_size=5, proba=tmp_path / "predict.csv")
    ent = -(proba * np.log(proba)).sum(axis=1)
    assert {row["id"] for row in r.rows} == _top(ids, ent, 5, allowed=set(ids[20:]))


def test_bald_from_members_equals_the_mutual_information(iris, tmp_path):
    p, ids, _, X, y = iris
    rng = np.random.default_rng(0)
    members = []
    for _ in range(5):  # a committee of logregs on bootstrap samples of 12 labeled rows
        rows = rng.choice(150, size=12, replace=False)
        while len(set(y[rows])) < 3:
            rows = rng.choice(150, size=12, replace=False)
        members.append(LogisticRegression(max_iter=300).fit(X[rows], y[rows]).predict_proba(X))
    P = np.stack(members).astype(np.float64)
    P /= P.sum(axis=2, keepdims=True)  # float32 outputs: exact rows, as the loader keeps them
    np.save(tmp_path / "mc.npy", P)

    def h(q):
        return -(q * np.log(q)).sum(axis=-1)

    mi = h(P.mean(axis=0)) - h(P).mean(axis=0)
    r = select_batch(p, strategy="bald", batch_size=6, proba=tmp_path / "mc.npy")
    assert [row["id"] for row in r.rows][:1] == [ids[int(np.argmax(mi))]]
    assert {row["id"] for row in r.rows} == _top(ids, mi, 6)
    for row in r.rows:
        assert row["score"] == pytest.approx(mi[ids.index(row["id"])], abs=1e-9)
    # margin on a (T, n, C) file scores the mean over members
    p2 = select_batch(p, strategy="margin", batch_size=4, proba=tmp_path / "mc.npy", force=True)
    taken = {row["id"] for row in r.rows}
    assert {row["id"] for row in p2.rows} == _top(
        ids, _margin(P.mean(axis=0)), 4, allowed=set(ids) - taken
    )


def test_npz_with_ids_for_a_subset(iris, tmp_path):
    p, ids, proba, _, _ = iris
    lab = tmp_path / "l.csv"
    lab.write_text("id,label\n" + "".join(f"{u},virginica\n" for u in ids[100:]))
    import_labels(p, lab)
    order = np.arange(99, -1, -1)  # only the 100 candidates, in reverse order
    np.savez(tmp_path / "p.npz", ids=np.asarray(ids)[order], proba=proba[order])
    r = select_batch(p, strategy="least_confidence", batch_size=5, proba=tmp_path / "p.npz")
    lc = 1 - proba.max(axis=1)
    assert {row["id"] for row in r.rows} == _top(ids, lc, 5, allowed=set(ids[:100]))


def _one_line(e) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (  # three candidates missing: named, with the count
            lambda ids, P, t: _write(t / "a.csv", ids[3:], P[3:]),
            ["3 sample(s) the strategy must score have no row: 's0', 's1', 's2'"],
        ),
        (  # seven unknown ids: five named, the count, "2 more"
            lambda ids, P, t: _write(
                t / "a.csv", ids + [f"x{i}" for i in range(7)], np.vstack([P, P[:7]])
            ),
            ["7 id(s) are not samples of", "'x0', 'x1', 'x2', 'x3', 'x4' and 2 more"],
        ),
        (  # an extra column next to every class
            lambda ids, P, t: _write(
                t / "a.csv", ids, np.c_[P, P[:, :1]], names=[*CLASSES, "proba_dog"]
            ),
            ["column 'proba_dog' is not a class of the project"],
        ),
        (  # a row that does not sum to 1: its CSV line
            lambda ids, P, t: _write(
                t / "a.csv", ids, np.where(np.arange(150)[:, None] == 4, 0.5, P)
            ),
            ["a.csv line 6", "sum to 1.5"],
        ),
        (
            lambda ids, P, t: _write(
                t / "a.parquet", ids, np.where(np.arange(150)[:, None] == 9, -0.2, P)
            ),
            ["a.parquet row 10", "outside [0, 1]"],
        ),
        (
            lambda ids, P, t: _write(
                t / "a.jsonl", ids, np.where(np.arange(150)[:, None] == 2, np.nan, P)
            ),
            ["a.jsonl line 3"],
        ),
        (  # a class column missing
            lambda ids, P, t: _write(t / "a.csv", ids, P[:, :2], names=["setosa", "versicolor"]),
            ["no column for class 'virginica'"],
        ),
        (  # a column that is no class
            lambda ids, P, t: _write(
                t / "a.csv", ids, P, names=["setosa", "versicolor", "virginca"]
            ),
            ["no column for class 'virginica'; column 'virginca' is not a class"],
        ),
        (
            lambda ids, P, t: _write(t / "a.csv", ids + ids[:1], np.vstack([P, P[:1]])),
            ["a.csv line 152: id 's0' appears twice (first at line 2)"],
        ),
        (  # an npy of the wrong length
            lambda ids, P, t: (np.save(t / "a.npy", P[:100]), t / "a.npy")[1],
            ["shape (100, 3)", "n = 150"],
        ),
        (
            lambda ids, P, t: (t / "a.txt").write_text("x") and t / "a.txt",
            ["unknown extension '.txt'"],
        ),
    ],
)
def test_bad_files_are_named_and_store_nothing(iris, tmp_path, make, expected):
    p, ids, proba, _, _ = iris
    path = make(ids, proba, tmp_path)
    before = _counts(p)
    with pytest.raises(InvalidInputError) as e:
        select_batch(p, strategy="margin", batch_size=5, proba=path, out=tmp_path / "b.csv")
    msg = _one_line(e)
    for part in expected:
        assert part in msg
    assert _counts(p) == before and not (tmp_path / "b.csv").exists()


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("expected_error_reduction", "needs the fitted model itself"),
        ("badge", "gradient embeddings of a linear model"),
        ("k_center_greedy", "uses no probabilities"),
        ("bald", "needs committee samples"),
    ],
)
def test_strategies_the_file_cannot_drive_are_refused(iris, tmp_path, strategy, expected):
    p, ids, proba, _, _ = iris
    path = _write(tmp_path / "a.csv", ids, proba)
    before = _counts(p)
    with pytest.raises(InvalidInputError) as e:
        select_batch(p, strategy=strategy, batch_size=5, proba=path)
    assert expected in _one_line(e) and strategy in str(e.value)
    assert _counts(p) == before


def test_the_list_of_usable_strategies():
    usable = set(proba_strategies())
    assert {"margin", "entropy", "least_confidence", "bald", "vote_entropy"} <= usable
    assert not usable & {"random", "k_center_greedy", "badge", "expected_error_reduction"}


def test_a_later_train_keeps_the_external_record(iris, tmp_path):
    from labelwise.loop._project import train

    p, ids, proba, _, _ = iris
    path = _write(tmp_path / "a.csv", ids, proba)
    r = select_batch(p, strategy="margin", batch_size=6, proba=path)
    truth = dict(zip(ids, [CLASSES[k] for k in load_iris().target], strict=True))
    with open(tmp_path / "l.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "label"])
        w.writerows([row["id"], truth[row["id"]]] for row in r.rows)
    import_labels(p, tmp_path / "l.csv")
    train(p)
    h = history(p)[-1]
    assert h["finished"] and h["external"]["file"] == str(path)
    with p.session() as s:
        ev = s.scalars(select(Event).where(Event.kind == "round.select")).one()
    assert ev.payload["external"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_array_works_like_an_npy_file(iris):
    p, ids, proba, _, _ = iris
    r = select_batch(p, strategy="ratio", batch_size=5, proba=proba)
    s = np.sort(proba, axis=1)
    assert {row["id"] for row in r.rows} == _top(ids, s[:, -2] / s[:, -1], 5)
    assert history(p)[-1]["external"]["file"] == "array"
    with pytest.raises(InvalidInputError, match=r"shape \(150, 2\)"):
        select_batch(p, strategy="ratio", batch_size=5, proba=proba[:, :2], force=True)
