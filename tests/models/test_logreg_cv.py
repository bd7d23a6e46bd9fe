"""``logreg_cv``: logistic regression whose C is chosen on the labeled rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from labelwise.models import make_model
from labelwise.models._cv import TunedLogisticRegression


@pytest.mark.parametrize("flip_y", [0.0, 0.3])
def test_c_is_the_grid_value_with_the_lowest_fold_log_loss(flip_y):
    X, y = make_classification(
        n_samples=90, n_features=8, n_informative=3, flip_y=flip_y, random_state=1
    )
    m = TunedLogisticRegression(random_state=0).fit(X, y)
    # independent: the same folds, a cold fit per C, mean held-out log loss
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    losses = {}
    for C in (0.1, 1.0, 10.0):
        per_fold = []
        for tr, te in folds:
            lr = LogisticRegression(C=C, max_iter=1000).fit(X[tr], y[tr])
            per_fold.append(log_loss(y[te], lr.predict_proba(X[te]), labels=[0, 1]))
        losses[C] = np.mean(per_fold)
    assert m.C_ == min(losses, key=losses.get)
    ref = LogisticRegression(C=m.C_, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(m.predict_proba(X), ref.predict_proba(X), atol=1e-4)


def test_too_few_rows_per_class_falls_back_to_c_one():
    X = np.array([[0.0], [0.2], [0.4], [3.0]])
    y = np.array([0, 0, 0, 1])  # class 1 has one row: no two stratified folds
    m = TunedLogisticRegression(random_state=0).fit(X, y)
    assert m.C_ == 1.0
    ref = LogisticRegression(C=1.0, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(m.predict_proba(X), ref.predict_proba(X))


def test_registered_as_logreg_cv():
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    clf = make_model("logreg_cv", classes=[0, 1], random_state=0).fit(X, y)
    assert clf.predict_proba(X).shape == (60, 2)
    assert isinstance(clf.estimator, TunedLogisticRegression)
