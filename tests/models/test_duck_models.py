"""Any object with ``fit`` and ``predict_proba`` is a model: no sklearn base class needed.

Before the fix every path that copied a model went through ``sklearn.clone`` and
failed with "Cannot clone object"; the hand-written classes below are not
scikit-learn estimators (no ``get_params``).
"""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from labelwise.embed import compute_features
from labelwise.io._labels import import_labels
from labelwise.io._samples import import_pool
from labelwise.loop import ActiveLoop, LabelBudget, SimulatedOracle
from labelwise.loop._project import select_batch, train
from labelwise.models import clone_model, make_model
from labelwise.quality import find_label_issues
from labelwise.store import Project


class NearestCentroid:
    """Softmax over minus the squared distance to each class mean; has ``classes_``."""

    def __init__(self, temperature=1.0):
        self.temperature = temperature
        self.n_fits = 0

    def fit(self, X, y):
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        self.centres_ = np.stack([X[y == c].mean(axis=0) for c in self.classes_])
        self.n_fits += 1
        return self

    def predict_proba(self, X):
        d = ((np.asarray(X)[:, None, :] - self.centres_[None]) ** 2).sum(axis=2)
        z = -d / self.temperature
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


class NoClassesAttr(NearestCentroid):
    """Columns follow sorted labels, as in sklearn, but no ``classes_`` is exposed."""

    def fit(self, X, y):
        super().fit(X, y)
        self._cls = self.classes_
        del self.classes_
        return self


class OwnClone(NearestCentroid):
    clones = 0

    def clone(self):
        OwnClone.clones += 1
        return OwnClone(self.temperature)


def blobs(n=90, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = np.array([[0, 0], [4, 0], [0, 4]], dtype=float)[y] + rng.normal(size=(n, 2))
    return X, y


def test_sklearn_clone_refuses_these_models():
    with pytest.raises(TypeError, match="Cannot clone object"):
        clone(NearestCentroid())


def test_clone_model_copies_by_clone_method_or_deepcopy():
    m = NearestCentroid(temperature=2.0)
    c = clone_model(m)
    assert c is not m and c.temperature == 2.0
    before = OwnClone.clones
    assert isinstance(clone_model(OwnClone()), OwnClone) and OwnClone.clones == before + 1


@pytest.mark.parametrize("cls", [NearestCentroid, NoClassesAttr])
@pytest.mark.parametrize("strategy", ["margin", "vote_entropy", "expected_error_reduction"])
def test_a_duck_typed_model_runs_the_loop(cls, strategy):
    X, y = blobs()
    user = cls()
    loop = ActiveLoop(
        X,
        oracle=SimulatedOracle(y),
        initial=[0, 1, 2],
        classes=[0, 1, 2],
        model=user,
        strategy=strategy,
        batch_size=3,
        X_eval=X,
        y_eval=y,
        stopping=[LabelBudget(6)],
        random_state=0,
    )
    result = loop.run()
    assert result.labels == [3, 6, 9]
    assert result.curve[-1] > 0.9
    assert user.n_fits == 0  # the user's object is never fitted: copies are


def test_calibration_and_label_issues_with_a_duck_typed_model():
    X, y = blobs()
    loop = ActiveLoop(
        X,
        oracle=SimulatedOracle(y),
        initial=np.arange(30),
        classes=[0, 1, 2],
        model=NearestCentroid(),
        calibrate=True,
        random_state=0,
    )
    loop.start()
    assert loop.model.temperature_ > 0
    labels = [str(v) for v in y]
    labels[5] = "0" if y[5] != 0 else "1"  # one wrong label
    issues = find_label_issues(X, labels, ["0", "1", "2"], model=NearestCentroid())
    assert 5 in issues["index"].tolist()[:3]
    # out_of_fold_proba via make_model copies too
    p = make_model(NearestCentroid(), classes=[0, 1, 2]).fit(X, y).predict_proba(X)
    assert (p.argmax(axis=1) == y).mean() > 0.9


def test_train_and_select_on_a_project_with_a_duck_typed_model(tmp_path):
    X, y = blobs(60)
    df = pd.DataFrame(X, columns=["a", "b"])
    df.insert(0, "id", [f"r{i}" for i in range(len(df))])
    df.to_csv(tmp_path / "pool.csv", index=False)
    p = Project.init(tmp_path / "proj", classes=["x", "y", "z"])
    try:
        import_pool(p, tmp_path / "pool.csv", id_column="id")
        compute_features(p)
        with open(tmp_path / "l.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "label"])
            w.writerows([f"r{i}", "xyz"[y[i]]] for i in range(12))
        import_labels(p, tmp_path / "l.csv")
        info = train(p, model=NearestCentroid())
        assert info["n_labeled"] == 12
        for strategy in ("margin", "bald"):
            res = select_batch(p, strategy=strategy, batch_size=4, random_state=0, force=True)
            assert len(res.rows) == 4 and not res.cold_start
    finally:
        p.close()
