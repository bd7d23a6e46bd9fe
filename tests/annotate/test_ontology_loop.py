"""Rename, merge and retire a class, then train, select and export the labels.

The project: 60 samples in three separable blobs (classes a, b, c, taking turns),
the first 30 labeled with their true class (10 per class). Expected counts are
worked from that by hand.
"""

import csv

import pytest
from annotate_util import build_project

from labelwise.annotate import merge_classes, rename_class, retire_class
from labelwise.errors import InvalidInputError
from labelwise.io._labels import export_labels, import_labels
from labelwise.loop._project import _load_model, select_batch, status, train

STRATEGIES = ["margin", "vote_entropy", "expected_error_reduction"]


@pytest.fixture()
def labeled(tmp_path, db):
    p, truth = build_project(tmp_path / "onto", db=db(), n=60, batch=0, users={})
    first = [f"s{i}" for i in range(30)]
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "label"])
        w.writerows([u, truth[u]] for u in first)
    import_labels(p, tmp_path / "labels.csv")
    train(p)  # a model from before the change: select must ask for a new one
    yield p, {u: truth[u] for u in first}
    p.close()


def _exported(p, path) -> dict[str, str]:
    export_labels(p, path)
    with open(path, newline="") as fh:
        return {r["id"]: r["label"] for r in csv.DictReader(fh)}


def _select_everything(p, labeled_uids):
    """Select with each kind of strategy; no labeled sample is picked again."""
    with p.session() as s:
        from sqlalchemy import select

        from labelwise.store._models import Sample

        uid_of = dict(s.execute(select(Sample.id, Sample.uid)).all())
    picked = []
    for i, name in enumerate(STRATEGIES):
        # rounds one after another, unlabeled: --force opens each
        res = select_batch(p, strategy=name, batch_size=3, random_state=i, force=True)
        assert not res.cold_start and len(res.rows) == 3
        picked += [r["id"] for r in res.rows]
    assert len(set(picked)) == 9
    assert not set(picked) & set(labeled_uids)
    assert set(picked) <= set(uid_of.values())


def test_retire_then_train_select_and_export(labeled, tmp_path):
    p, given = labeled
    retire_class(p, "b")
    with pytest.raises(InvalidInputError, match="run train"):
        select_batch(p, strategy="margin", batch_size=3)
    out = train(p)
    assert out["classes"] == ["a", "c"]
    assert out["n_labeled"] == 20  # 10 a + 10 c; the 10 b labels are left out
    assert out["n_retired_labels"] == 10
    model, _ = _load_model(p)
    assert list(model.classes) == ["a", "c"] and model.n_fit_ == 20
    st = status(p)
    assert st["n_retired_labels"] == 10
    assert st["retired_labels_per_class"] == {"b": 10}
    assert st["labels_per_class"] == {"a": 10, "c": 10}
    assert st["n_labeled"] == 30 and st["n_unlabeled"] == 30  # the samples stay labeled
    _select_everything(p, given)
    # export keeps them, under their class name
    assert _exported(p, tmp_path / "out.csv") == given


def test_rename_then_train_select_and_export(labeled, tmp_path):
    p, given = labeled
    assert rename_class(p, "b", "beta") == 10
    out = train(p)
    assert out["classes"] == ["a", "beta", "c"]
    assert out["n_labeled"] == 30 and out["n_retired_labels"] == 0
    assert status(p)["labels_per_class"] == {"a": 10, "beta": 10, "c": 10}
    _select_everything(p, given)
    expected = {u: ("beta" if v == "b" else v) for u, v in given.items()}
    assert _exported(p, tmp_path / "out.csv") == expected


def test_merge_then_train_select_and_export(labeled, tmp_path):
    p, given = labeled
    assert merge_classes(p, "b", "a") == 10
    out = train(p)
    assert out["classes"] == ["a", "c"]
    assert out["n_labeled"] == 30 and out["n_retired_labels"] == 0
    assert status(p)["labels_per_class"] == {"a": 20, "c": 10}
    _select_everything(p, given)
    expected = {u: ("a" if v == "b" else v) for u, v in given.items()}
    assert _exported(p, tmp_path / "out.csv") == expected


def test_a_class_brought_back_is_trained_on_again(labeled):
    from labelwise.annotate import add_class

    p, _ = labeled
    retire_class(p, "c")
    assert train(p)["n_labeled"] == 20
    add_class(p, "c")
    out = train(p)
    assert out["n_labeled"] == 30 and out["n_retired_labels"] == 0
