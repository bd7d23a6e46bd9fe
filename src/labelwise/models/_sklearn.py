"""Adapters that give every scikit-learn classifier the same probability interface.

``Classifier`` fits any estimator and returns probabilities with one column per
class of the *task* (not just the classes the estimator happened to see), so
committees of bootstrap members line up. Estimators without ``predict_proba``
get probabilities from their decision function: a sigmoid for two classes (so
margin ranks exactly like distance to the boundary) and a softmax otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.base import clone

from labelwise.errors import InvalidInputError, UnknownNameError, did_you_mean

__all__ = ["MODELS", "Classifier", "BaggingCommittee", "make_model", "model_names"]


def _logreg(seed):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000, random_state=seed)


def _svm(seed):
    from sklearn.svm import SVC

    return SVC(C=1.0, gamma="auto", random_state=seed)


def _rf(seed):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)


def _knn(seed):
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=5)


def _mlp(seed):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(100,), max_iter=500, random_state=seed)


#: Registered model names -> factory taking a seed.
MODELS: dict[str, Callable[[int | None], object]] = {
    "logreg": _logreg,
    "svm": _svm,
    "rf": _rf,
    "knn": _knn,
    "mlp": _mlp,
}

_MODEL_LINES = {
    "logreg": "logistic regression (lbfgs, max_iter=1000)",
    "svm": "SVC(C=1, gamma='auto'); probabilities from the decision function",
    "rf": "random forest, 100 trees",
    "knn": "k nearest neighbours, k=5 (fewer when fewer samples are labeled)",
    "mlp": "multi-layer perceptron, one hidden layer of 100",
}


def model_names() -> dict[str, str]:
    """Registered model names with a one-line description."""
    return dict(_MODEL_LINES)


def make_model(model, *, classes, random_state=None) -> Classifier:
    """Return a :class:`Classifier` for a registered name or any sklearn estimator.

    Parameters
    ----------
    model : str or sklearn estimator
        ``"logreg"``, ``"svm"``, ``"rf"``, ``"knn"``, ``"mlp"`` or an estimator object
        (cloned, never modified).
    classes : array-like
        Every class of the task, in the column order of the probabilities.
    random_state : int or None
    """
    if isinstance(model, str):
        if model not in MODELS:
            raise UnknownNameError(
                f"unknown model {model!r}; choose one of {sorted(MODELS)}, or pass an "
                "estimator object from Python." + did_you_mean(model, MODELS)
            )
        est = MODELS[model](random_state)
    else:
        if not hasattr(model, "fit"):
            raise InvalidInputError(
                f"model must be a name or an estimator with fit(); got {model!r}."
            )
        est = clone(model)
    return Classifier(est, classes=classes)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Classifier:
    """A fitted-or-not estimator with task-wide probability columns.

    Parameters
    ----------
    estimator : sklearn classifier
    classes : array-like
        Every class of the task; ``predict_proba`` returns columns in this order.
    """

    def __init__(self, estimator, *, classes):
        self.estimator = estimator
        self.classes = np.asarray(classes)

    def fit(self, X, y) -> Classifier:
        """Fit on labeled rows; returns self."""
        y = np.asarray(y)
        seen = np.unique(y)
        self.n_fit_ = y.shape[0]
        if seen.size == 1:  # a one-class fit: predict that class with certainty
            self.constant_ = seen[0]
            return self
        self.constant_ = None
        est = self.estimator
        if hasattr(est, "n_neighbors") and est.n_neighbors > y.shape[0]:
            est.set_params(n_neighbors=max(1, y.shape[0]))
        est.fit(X, y)
        cols = {c: i for i, c in enumerate(self.classes.tolist())}
        unknown = [c for c in est.classes_.tolist() if c not in cols]
        if unknown:
            raise InvalidInputError(f"labels {unknown[:5]} are not among the task's classes.")
        self.columns_ = np.array([cols[c] for c in est.classes_.tolist()], dtype=np.intp)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities of shape (n_samples, n_classes) over the task's classes."""
        n = len(X)
        out = np.zeros((n, self.classes.size))
        if self.constant_ is not None:
            out[:, int(np.flatnonzero(self.classes == self.constant_)[0])] = 1.0
            return out
        est = self.estimator
        if hasattr(est, "predict_proba") and not _is_svc_without_probability(est):
            p = est.predict_proba(X)
        else:
            d = np.asarray(est.decision_function(X), dtype=np.float64)
            if d.ndim == 1:
                p1 = 1.0 / (1.0 + np.exp(-np.clip(d, -500, 500)))
                p = np.column_stack([1.0 - p1, p1])
            else:
                p = _softmax(d)
        out[:, self.columns_] = p
        return out

    def predict(self, X) -> np.ndarray:
        """Most probable class of each row."""
        return self.classes[self.predict_proba(X).argmax(axis=1)]


def _is_svc_without_probability(est) -> bool:
    return getattr(est, "probability", None) is False


class BaggingCommittee:
    """A committee of bootstrap clones of one classifier.

    Each member is fit on a bootstrap sample of the labeled rows (every class
    that is labeled appears in each sample at least once, so no member is blind
    to a class).

    Parameters
    ----------
    base : Classifier
    n_members : int, default=5
    random_state : int, Generator or None
    """

    def __init__(self, base: Classifier, *, n_members: int = 5, random_state=None):
        if n_members < 2:
            raise InvalidInputError(f"a committee needs at least 2 members, got {n_members}.")
        self.base = base
        self.n_members = n_members
        self.random_state = random_state

    def fit(self, X, y) -> BaggingCommittee:
        """Fit every member on its bootstrap sample; returns self."""
        rng = np.random.default_rng(self.random_state)
        y = np.asarray(y)
        n = y.shape[0]
        firsts = np.unique(y, return_index=True)[1]
        self.members_ = []
        for _ in range(self.n_members):
            idx = rng.integers(0, n, size=n)
            idx[: firsts.size] = rng.permutation(firsts)  # every labeled class present
            member = Classifier(clone(self.base.estimator), classes=self.base.classes)
            self.members_.append(member.fit(X[idx], y[idx]))
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Member probabilities of shape (n_members, n_samples, n_classes)."""
        return np.stack([m.predict_proba(X) for m in self.members_])
