"""Temperature scaling: calibrated probabilities from out-of-fold predictions.

The model is fit on every labeled row as usual; a single temperature ``T`` is
then fit by minimising the negative log-likelihood of out-of-fold probabilities
(k-fold over the labeled rows), and every probability is reported as
``softmax(log p / T)``. ``T > 1`` softens an over-confident model. Ranking by
any uncertainty score is unchanged for two classes; with more classes the
scores become comparable across rounds and models.

References
----------
Guo, C., Pleiss, G., Sun, Y. and Weinberger, K. Q. (2017). On calibration of
modern neural networks. ICML.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from labelwise.models._sklearn import Classifier, clone_model

__all__ = ["fit_temperature", "apply_temperature", "CalibratedClassifier"]

_EPS = 1e-12


def apply_temperature(proba, temperature: float) -> np.ndarray:
    """Return ``softmax(log p / T)`` row by row.

    Examples
    --------
    >>> apply_temperature([[0.8, 0.2]], 1.0).round(3)
    array([[0.8, 0.2]])
    >>> apply_temperature([[0.8, 0.2]], 2.0).round(3)   # sqrt(.8) : sqrt(.2) = 2 : 1
    array([[0.667, 0.333]])
    """
    z = np.log(np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1.0)) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(proba, y_index) -> float:
    """Temperature in [0.05, 20] minimising the NLL of ``proba`` for true columns ``y_index``."""
    p = np.asarray(proba, dtype=np.float64)
    rows = np.arange(p.shape[0])
    y_index = np.asarray(y_index, dtype=np.intp)

    def nll(log_t: float) -> float:
        q = apply_temperature(p, float(np.exp(log_t)))
        return float(-np.mean(np.log(np.clip(q[rows, y_index], _EPS, 1.0))))

    res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))


class CalibratedClassifier:
    """A :class:`Classifier` whose probabilities are temperature-scaled.

    Parameters
    ----------
    base : Classifier
    n_folds : int, default=5
        Folds for the out-of-fold probabilities (fewer when a class has fewer rows).
    random_state : int or None

    Attributes
    ----------
    temperature_ : float
        1.0 when there were too few labels per class to fit it.
    """

    def __init__(self, base: Classifier, *, n_folds: int = 5, random_state=None):
        self.base = base
        self.classes = base.classes
        self.n_folds = n_folds
        self.random_state = random_state

    def fit(self, X, y) -> CalibratedClassifier:
        """Fit the base model on all rows and the temperature on out-of-fold probabilities."""
        from sklearn.model_selection import StratifiedKFold

        y = np.asarray(y)
        self.base.fit(X, y)
        _, counts = np.unique(y, return_counts=True)
        k = min(self.n_folds, int(counts.min()))
        self.temperature_ = 1.0
        if k < 2 or counts.size < 2:
            return self
        oof = np.zeros((y.shape[0], self.classes.size))
        folds = StratifiedKFold(k, shuffle=True, random_state=self.random_state)
        for train, test in folds.split(X, y):
            member = Classifier(clone_model(self.base.estimator), classes=self.classes)
            oof[test] = member.fit(X[train], y[train]).predict_proba(X[test])
        col = {c: i for i, c in enumerate(self.classes.tolist())}
        self.temperature_ = fit_temperature(oof, [col[v] for v in y.tolist()])
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Temperature-scaled probabilities, shape (n_samples, n_classes)."""
        return apply_temperature(self.base.predict_proba(X), self.temperature_)

    def predict(self, X) -> np.ndarray:
        """Most probable class (unchanged by the temperature)."""
        return self.base.predict(X)
