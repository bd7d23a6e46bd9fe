"""Adapters for regression and multi-label classification, with their committees.

``Regressor`` wraps any scikit-learn regressor (``predict_std`` where the model
has a predictive distribution, e.g. a Gaussian process). ``MultiLabelClassifier``
fits one binary classifier per label and returns P(label present) for every
label, shape (n_samples, n_labels); a label that is constant among the labeled
rows is predicted as that constant.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labelwise.errors import (
    InvalidInputError,
    MissingRequirementError,
    UnknownNameError,
    did_you_mean,
)
from labelwise.models._sklearn import clone_model, make_model

__all__ = [
    "REGRESSORS",
    "Regressor",
    "RegressionCommittee",
    "MultiLabelClassifier",
    "make_regressor",
    "regressor_names",
]


def _ridge(seed):
    from sklearn.linear_model import Ridge

    return Ridge(alpha=1.0)


def _rf(seed):
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=100, random_state=seed, n_jobs=1)


def _gp(seed):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    kernel = ConstantKernel(1.0) * RBF(1.0) + WhiteKernel(0.1)
    return GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=seed)


def _knn(seed):
    from sklearn.neighbors import KNeighborsRegressor

    return KNeighborsRegressor(n_neighbors=5)


#: Registered regressor names -> factory taking a seed.
REGRESSORS: dict[str, Callable[[int | None], object]] = {
    "ridge": _ridge,
    "rf": _rf,
    "gp": _gp,
    "knn": _knn,
}
_LINES = {
    "ridge": "ridge regression (alpha=1)",
    "rf": "random forest regressor, 100 trees",
    "gp": "Gaussian process (RBF + white noise); has a predictive std",
    "knn": "k nearest neighbours regressor, k=5",
}


def regressor_names() -> dict[str, str]:
    """Registered regressor names with a one-line description."""
    return dict(_LINES)


def make_regressor(model, *, random_state=None) -> Regressor:
    """Return a :class:`Regressor` for a registered name or any sklearn regressor object."""
    if isinstance(model, str):
        if model not in REGRESSORS:
            raise UnknownNameError(
                f"unknown regression model {model!r}; choose one of {sorted(REGRESSORS)}."
                + did_you_mean(model, REGRESSORS)
            )
        return Regressor(REGRESSORS[model](random_state))
    if not hasattr(model, "fit") or not hasattr(model, "predict"):
        raise InvalidInputError(f"model must be a name or a regressor with fit/predict: {model!r}.")
    return Regressor(clone_model(model))


class Regressor:
    """A regressor with an optional predictive standard deviation."""

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y) -> Regressor:
        """Fit on labeled rows; returns self."""
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        est = self.estimator
        if hasattr(est, "n_neighbors") and est.n_neighbors > len(y):
            est.set_params(n_neighbors=max(1, len(y)))
        with warnings.catch_warnings():  # GP kernel bounds on tiny labeled sets: expected
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, np.asarray(y, dtype=np.float64))
        return self

    def predict(self, X) -> np.ndarray:
        """Point predictions, shape (n_samples,)."""
        return np.asarray(self.estimator.predict(X), dtype=np.float64)

    @property
    def has_std(self) -> bool:
        """Whether the model gives a predictive standard deviation."""
        import inspect

        return "return_std" in inspect.signature(self.estimator.predict).parameters

    def predict_std(self, X) -> np.ndarray:
        """Predictive standard deviation, shape (n_samples,)."""
        if not self.has_std:
            raise MissingRequirementError(
                f"{type(self.estimator).__name__} has no predictive std; use --model gp, "
                "or the committee_std strategy (a bagged committee)."
            )
        return np.asarray(self.estimator.predict(X, return_std=True)[1], dtype=np.float64)


class RegressionCommittee:
    """Bootstrap clones of one regressor; ``predict`` gives (n_members, n_samples)."""

    def __init__(self, base: Regressor, *, n_members: int = 5, random_state=None):
        if n_members < 2:
            raise InvalidInputError(f"a committee needs at least 2 members, got {n_members}.")
        self.base = base
        self.n_members = n_members
        self.random_state = random_state

    def fit(self, X, y) -> RegressionCommittee:
        """Fit every member on a bootstrap sample; returns self."""
        rng = np.random.default_rng(self.random_state)
        n = len(y)
        y = np.asarray(y, dtype=np.float64)
        self.members_ = [
            Regressor(clone_model(self.base.estimator)).fit(X[i], y[i])
            for i in (rng.integers(0, n, size=n) for _ in range(self.n_members))
        ]
        return self

    def predict(self, X) -> np.ndarray:
        """Member predictions, shape (n_members, n_samples)."""
        return np.stack([m.predict(X) for m in self.members_])


class MultiLabelClassifier:
    """One binary classifier per label; ``predict_proba`` gives P(label) per label.

    Parameters
    ----------
    model : str or sklearn classifier
        The binary model for every label (a name from ``MODELS`` or an estimator).
    labels : array-like
        Label names, in column order.
    random_state : int or None
    """

    def __init__(self, model, *, labels, random_state=None):
        self.model = model
        self.labels = np.asarray(labels)
        self.classes = self.labels
        self.random_state = random_state
        make_model(model, classes=[0, 1])  # fail fast on an unknown name

    def fit(self, X, Y) -> MultiLabelClassifier:
        """Fit one binary model per label column of ``Y`` (n_samples, n_labels) in {0, 1}."""
        Y = np.asarray(Y)
        self.members_ = []
        for j in range(self.labels.size):
            col = Y[:, j].astype(int)
            if np.unique(col).size == 1:
                self.members_.append(float(col[0]))
            else:
                clf = make_model(self.model, classes=[0, 1], random_state=self.random_state)
                self.members_.append(clf.fit(X, col))
        return self

    def predict_proba(self, X) -> np.ndarray:
        """P(label present), shape (n_samples, n_labels)."""
        n = len(X)
        out = np.empty((n, self.labels.size))
        for j, m in enumerate(self.members_):
            out[:, j] = m if isinstance(m, float) else m.predict_proba(X)[:, 1]
        return out

    def predict(self, X) -> np.ndarray:
        """0/1 indicator matrix (P >= 0.5)."""
        return (self.predict_proba(X) >= 0.5).astype(int)
