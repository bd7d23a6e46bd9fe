"""The random evaluation set: reserved, never selected, never trained on, and what is measured."""

import csv
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from statsmodels.stats.proportion import proportion_confint

from labelwise.embed import compute_features, load_features
from labelwise.errors import InvalidInputError
from labelwise.io._labels import import_labels
from labelwise.io._samples import import_pool
from labelwise.loop._evalset import NO_EVAL_NOTE, draw_eval_set, eval_ids
from labelwise.loop._project import RANDOM_ARM, select_batch, status, train
from labelwise.models import make_model
from labelwise.store import Project
from labelwise.store._models import Event, SelectionRow
from labelwise.strategies import strategy_names

N = 300


@pytest.fixture(scope="module")
def _base(tmp_path_factory):
    """A digits project (300 rows, features computed), nothing labeled; built once."""
    tmp = tmp_path_factory.mktemp("evalset")
    d = load_digits()
    df = pd.DataFrame(d.data[:N], columns=[f"p{i}" for i in range(64)])
    df.insert(0, "id", [f"d{i}" for i in range(N)])
    df.to_csv(tmp / "pool.csv", index=False)
    p = Project.init(tmp / "base", classes=[str(c) for c in range(10)])
    import_pool(p, tmp / "pool.csv", id_column="id")
    compute_features(p)
    p.close()
    return tmp / "base", {f"d{i}": str(t) for i, t in enumerate(d.target[:N])}


@pytest.fixture()
def project(_base, tmp_path):
    src, truth = _base
    shutil.copytree(src, tmp_path / "p")
    p = Project.open(tmp_path / "p")
    yield p, truth
    p.close()


def _label(p, truth, uids, path):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "label"])
        w.writerows((u, truth[u]) for u in uids)
    import_labels(p, path)


def _uids(p, sids):
    ids, uids = p.sample_ids()
    of = dict(zip(ids.tolist(), uids.tolist(), strict=True))
    return [of[s] for s in sids]


def test_draw_reserves_unlabeled_unselected_samples_and_grows(project, tmp_path):
    p, truth = project
    first = select_batch(p, strategy="random", batch_size=40, random_state=0)
    _label(p, truth, [r["id"] for r in first.rows[:20]], tmp_path / "l.csv")
    with p.session() as s:
        selected = set(
            s.scalars(SelectionRow.__table__.select().with_only_columns(SelectionRow.sample_id))
        )
    r = draw_eval_set(p, 60, seed=5, out=tmp_path / "eval.csv")
    reserved = eval_ids(p)
    assert r.size == r.added == len(reserved) == 60
    assert not reserved & selected and not reserved & set(p.current_labels())
    rows = list(csv.DictReader(open(tmp_path / "eval.csv")))
    assert sorted(x["id"] for x in rows) == sorted(_uids(p, reserved))
    assert set(rows[0]) == {
        "id",
        "score",
        "reason",
        "strategy",
        "round",
        "model_version",
        "position",
    }
    # --size is the total: growing keeps the first draw; shrinking is refused
    r2 = draw_eval_set(p, 80, seed=6)
    assert r2.added == 20 and reserved < eval_ids(p) and len(eval_ids(p)) == 80
    with pytest.raises(InvalidInputError, match="cannot shrink it"):
        draw_eval_set(p, 10)
    with pytest.raises(InvalidInputError, match=r"the unlabeled pool has only 180"):
        draw_eval_set(p, 400)  # 300 - 40 selected - 80 reserved = 180 left
    assert len(eval_ids(p)) == 80  # nothing half-written
    with p.session() as s:
        draws = [e.payload for e in s.query(Event).filter(Event.kind == "eval_set.draw")]
    assert [(d["size"], d["added"], d["seed"]) for d in draws] == [(60, 60, 5), (80, 20, 6)]


def test_the_same_seed_draws_the_same_set(_base, tmp_path):
    sets = []
    for name in ("a", "b"):
        shutil.copytree(_base[0], tmp_path / name)
        p = Project.open(tmp_path / name)
        draw_eval_set(p, 50, seed=11)
        sets.append(_uids(p, eval_ids(p)))
        p.close()
    assert sets[0] == sets[1]


@pytest.fixture()
def trained(project, tmp_path):
    """60 reserved (labeled), 30 random training labels, a model."""
    p, truth = project
    draw_eval_set(p, 60, seed=1)
    _label(p, truth, _uids(p, eval_ids(p)), tmp_path / "eval-labels.csv")
    b = select_batch(p, strategy="random", batch_size=30, random_state=2)
    _label(p, truth, [r["id"] for r in b.rows], tmp_path / "l0.csv")
    train(p)
    return p, truth


STRATEGIES = strategy_names("classification")


def test_no_strategy_ever_returns_a_reserved_sample(trained, tmp_path):
    p, truth = trained
    draw_eval_set(p, 100, seed=9)  # 40 more, not labeled yet: candidates but for the reserve
    reserved = set(_uids(p, eval_ids(p)))
    for i, name in enumerate(STRATEGIES):
        b = select_batch(p, strategy=name, batch_size=5, random_state=i)
        got = {r["id"] for r in b.rows}
        assert len(got) == 5 and not got & reserved, name
        _label(p, truth, sorted(got), tmp_path / f"l-{name}.csv")  # the round is closed
    for share in (0.4, 1.0):  # the random arm, and a batch that is all random arm
        b = select_batch(p, strategy="margin", batch_size=10, random_state=3, random_share=share)
        arm = [r for r in b.rows if r["strategy"] == RANDOM_ARM]
        assert len(arm) == round(share * 10) and not {r["id"] for r in b.rows} & reserved
        assert all(r["reason"].startswith("random arm: drawn uniformly at random") for r in arm)
        _label(p, truth, [r["id"] for r in b.rows], tmp_path / f"arm-{share}.csv")


def test_cold_start_never_returns_a_reserved_sample(project):
    p, _ = project
    draw_eval_set(p, 250, seed=0)  # 50 left to choose from
    reserved = set(_uids(p, eval_ids(p)))
    b = select_batch(p, strategy="margin", batch_size=50, random_state=0, random_share=0.2)
    assert b.cold_start and len(b.rows) == 50
    assert not {r["id"] for r in b.rows} & reserved
    with pytest.raises(InvalidInputError, match="reserved for the evaluation set"):
        select_batch(p, strategy="margin", batch_size=1, force=True)


def test_no_model_is_fit_on_the_evaluation_labels(trained):
    p, truth = trained
    X, ids, _ = load_features(p)
    reserved = eval_ids(p)
    labels = p.current_labels()
    art = p.latest_artifact("model")
    assert art.info["n_labeled"] == 30 and len(labels) == 90
    # the stored model is the model of the 30 training labels, not of all 90
    train_pos = [i for i, s in enumerate(ids.tolist()) if s in labels and s not in reserved]
    ref = make_model("logreg", classes=p.classes(), random_state=0).fit(
        X[train_pos], np.asarray([labels[int(ids[i])] for i in train_pos], dtype=object)
    )
    import pickle

    with open(p.artifact_path(art), "rb") as fh:
        stored = pickle.load(fh)
    assert np.allclose(stored.predict_proba(X), ref.predict_proba(X))


def test_train_reports_accuracy_on_the_evaluation_labels_with_wilson_interval(trained):
    p, truth = trained
    r = train(p)
    X, ids, _ = load_features(p)
    import pickle

    with open(p.artifact_path(p.latest_artifact("model")), "rb") as fh:
        model = pickle.load(fh)
    ev = [i for i, s in enumerate(ids.tolist()) if s in eval_ids(p)]
    uids = _uids(p, [int(ids[i]) for i in ev])
    hits = int(np.sum(model.predict(X[ev]) == np.asarray([truth[u] for u in uids])))
    assert r["n_eval"] == 60 and r["metric"] == pytest.approx(hits / 60)
    assert r["metric_ci"] == pytest.approx(proportion_confint(hits, 60, method="wilson"))
    assert r["f1_ci"][0] <= r["f1"] <= r["f1_ci"][1]
    assert "cv_metric" in r and r["note"] is None  # CV: too few labels of some class here
    st = status(p)
    last = st["rounds"][-1]
    assert {"metric", "metric_ci", "n_eval", "cv_metric", "n_labeled"} <= set(last)
    assert (last["metric"], last["n_eval"], last["n_labeled"]) == (r["metric"], 60, 30)
    assert st["metric_note"] is None and st["eval_set"]["n_labeled"] == 60


def test_without_an_evaluation_set_nothing_metric_based_fires(project, tmp_path):
    p, truth = project
    for i in range(5):  # five rounds on a flat CV curve would have fired the old rule
        b = select_batch(p, strategy="random", batch_size=10, random_state=i)
        _label(p, truth, [r["id"] for r in b.rows], tmp_path / f"l{i}.csv")
        t = train(p)
        assert t["metric"] is None and t["note"] == NO_EVAL_NOTE
    st = status(p, target=0.9)
    assert st["metric_note"] == NO_EVAL_NOTE
    assert len(st["rounds"]) == 5 and all(r["metric"] is None for r in st["rounds"])
    assert st["stopping"]["diminishing_returns"] is None
    assert NO_EVAL_NOTE in st["forecast"]["refused"]
