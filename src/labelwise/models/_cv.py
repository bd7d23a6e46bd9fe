"""Logistic regression whose regularisation is chosen on the labeled rows (``logreg_cv``).

An active-learning loop refits on a labeled set that grows from a handful of
rows to thousands; one fixed ``C`` is too strong at one end or too weak at the
other. :class:`TunedLogisticRegression` picks ``C`` from a short grid by
stratified k-fold log loss on the rows it is fit on (each fold's model is
warm-started along the grid, from strong to weak regularisation), and keeps
``C = 1`` while a class has fewer than two labeled rows.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

__all__ = ["TunedLogisticRegression"]


class TunedLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression with ``C`` chosen by stratified k-fold log loss on the fit rows.

    Parameters
    ----------
    Cs : tuple of float, default=(0.1, 1.0, 10.0)
        The grid of inverse regularisation strengths.
    cv : int, default=3
        Folds; fewer when the rarest class has fewer rows (at least 2).
    max_iter : int, default=1000
    random_state : int or None
        Shuffles the folds.

    Attributes
    ----------
    C_ : float
        The chosen ``C`` (1.0 when too few rows per class for two folds).
    classes_ : ndarray of shape (n_classes,)
    estimator_ : LogisticRegression
        Refit on every row with ``C_``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> m = TunedLogisticRegression(random_state=0).fit(X, y)
    >>> float(m.C_) in (0.1, 1.0, 10.0), m.predict_proba(X[:2]).shape
    (True, (2, 3))
    """

    def __init__(self, Cs=(0.1, 1.0, 10.0), cv: int = 3, max_iter: int = 1000, random_state=None):
        self.Cs = Cs
        self.cv = cv
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y) -> TunedLogisticRegression:
        """Choose ``C`` on (X, y) and refit on all of it; returns self."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import log_loss
        from sklearn.model_selection import StratifiedKFold

        X = np.asarray(X)
        y = np.asarray(y)
        classes, counts = np.unique(y, return_counts=True)
        folds = int(min(self.cv, counts.min()))
        Cs = sorted(float(c) for c in self.Cs)
        self.C_ = 1.0
        if folds >= 2 and len(Cs) > 1:
            split = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            loss = np.zeros(len(Cs))
            for train, held in split.split(X, y):
                # one model per fold, warm-started from the previous (stronger) C
                lr = LogisticRegression(max_iter=self.max_iter, warm_start=True)
                for j, C in enumerate(Cs):
                    lr.set_params(C=C).fit(X[train], y[train])
                    loss[j] += log_loss(y[held], lr.predict_proba(X[held]), labels=classes)
            self.C_ = Cs[int(np.argmin(loss))]
        est = LogisticRegression(C=self.C_, max_iter=self.max_iter, random_state=self.random_state)
        self.estimator_ = est.fit(X, y)
        self.classes_ = est.classes_
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of shape (n_samples, n_classes)."""
        return self.estimator_.predict_proba(X)

    def decision_function(self, X) -> np.ndarray:
        """Decision values of the refit model."""
        return self.estimator_.decision_function(X)

    def predict(self, X) -> np.ndarray:
        """Most probable class of each row."""
        return self.estimator_.predict(X)
