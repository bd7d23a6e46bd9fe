"""Adapters that give every scikit-learn classifier the same probability interface.

``Classifier`` fits any estimator and returns probabilities with one column per
class of the *task* (not just the classes the estimator happened to see), so
committees of bootstrap members line up. Estimators without ``predict_proba``
get probabilities from their decision function: a sigmoid for two classes (so
margin ranks exactly like distance to the boundary) and a softmax otherwise.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
from sklearn.base import clone

from labelwise.errors import (
    InvalidInputError,
    MissingRequirementError,
    UnknownNameError,
    did_you_mean,
    shorten,
)

__all__ = [
    "MODELS",
    "Classifier",
    "BaggingCommittee",
    "SampledCommittee",
    "clone_model",
    "make_committee",
    "make_model",
    "model_method",
    "model_names",
]

TORCH_INSTALL = "pip install torch==2.13.0"


def clone_model(model):
    """An unfitted copy of ``model``: sklearn's ``clone``, else ``model.clone()``, else a deepcopy.

    The model protocol is duck-typed: any object with ``fit`` and ``predict_proba``
    (or ``predict`` for regression) is a model. scikit-learn's ``clone`` refuses
    objects without ``get_params``; such an object is copied by its own
    ``clone()`` method when it has one, otherwise by ``copy.deepcopy`` (its
    ``fit`` must then start from scratch, as every scikit-learn ``fit`` does).
    """
    try:
        return clone(model)
    except TypeError:
        own = getattr(model, "clone", None)
        if callable(own):
            return own()
        return copy.deepcopy(model)


def _logreg(seed):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000, random_state=seed)


def _logreg_cv(seed):
    from labelwise.models._cv import TunedLogisticRegression

    return TunedLogisticRegression(random_state=seed)


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


def _torch_module():
    try:
        from labelwise.models import _torch
    except ImportError as exc:
        raise MissingRequirementError(
            f"torch models need the torch extra ({exc.name or 'torch'} is missing); "
            f"install it with: {TORCH_INSTALL}"
        ) from exc
    return _torch


def _torch_mlp(seed):
    t = _torch_module()
    return t.TorchClassifier(
        t.mlp_factory(hidden=(256,), dropout=0.2), epochs=100, lr=2e-3, random_state=seed
    )


def _torch_head(seed):
    t = _torch_module()
    return t.TorchClassifier(
        t.head_factory(hidden=0, dropout=0.2), epochs=200, lr=3e-3, random_state=seed
    )


def _torch_cnn(seed):
    t = _torch_module()
    return t.TorchClassifier(t.cnn_factory(dropout=0.25), epochs=60, lr=2e-3, random_state=seed)


#: Registered model names -> factory taking a seed.
MODELS: dict[str, Callable[[int | None], object]] = {
    "logreg": _logreg,
    "logreg_cv": _logreg_cv,
    "svm": _svm,
    "rf": _rf,
    "knn": _knn,
    "mlp": _mlp,
    "torch_mlp": _torch_mlp,
    "torch_head": _torch_head,
    "torch_cnn": _torch_cnn,
}

_MODEL_LINES = {
    "logreg": "logistic regression (lbfgs, max_iter=1000)",
    "logreg_cv": "logistic regression, C in (0.1, 1, 10) chosen by 3-fold log loss on the labels",
    "svm": "SVC(C=1, gamma='auto'); probabilities from the decision function",
    "rf": "random forest, 100 trees",
    "knn": "k nearest neighbours, k=5 (fewer when fewer samples are labeled)",
    "mlp": "multi-layer perceptron, one hidden layer of 100",
    "torch_mlp": "torch MLP (256 hidden, dropout 0.2), MC dropout for committees (torch extra)",
    "torch_head": "torch linear head with dropout over frozen backbone features (torch extra)",
    "torch_cnn": "small torch CNN over flattened square grey images, e.g. pixels (torch extra)",
}


def model_names() -> dict[str, str]:
    """Registered model names with a one-line description."""
    return dict(_MODEL_LINES)


def make_model(model, *, classes, random_state=None) -> Classifier:
    """Return a :class:`Classifier` for a registered name or any sklearn estimator.

    Parameters
    ----------
    model : str or estimator
        ``"logreg"``, ``"svm"``, ``"rf"``, ``"knn"``, ``"mlp"``, ``"torch_mlp"``,
        ``"torch_head"``, ``"torch_cnn"`` (the last three need torch) or any object
        with ``fit`` and ``predict_proba`` (or ``decision_function``), copied by
        :func:`clone_model`, never modified.
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
        if not hasattr(model, "fit") or not (
            hasattr(model, "predict_proba") or hasattr(model, "decision_function")
        ):
            raise InvalidInputError(
                "model must be a name or an object with fit() and predict_proba() (or "
                f"decision_function()); got {shorten(model)}."
            )
        est = clone_model(model)
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
        # a duck-typed model without classes_ follows sklearn's order: sorted labels
        fitted = getattr(est, "classes_", None)
        fitted = seen if fitted is None else np.asarray(fitted)
        cols = {c: i for i, c in enumerate(self.classes.tolist())}
        unknown = [c for c in fitted.tolist() if c not in cols]
        if unknown:
            raise InvalidInputError(f"labels {unknown[:5]} are not among the task's classes.")
        self.columns_ = np.array([cols[c] for c in fitted.tolist()], dtype=np.intp)
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
            member = Classifier(clone_model(self.base.estimator), classes=self.base.classes)
            self.members_.append(member.fit(X[idx], y[idx]))
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Member probabilities of shape (n_members, n_samples, n_classes)."""
        return np.stack([m.predict_proba(X) for m in self.members_])


def model_method(model, name: str):
    """The fitted network behind ``model`` exposes ``name``? Return that bound method, else None.

    Unwraps labelwise's adapters (``CalibratedClassifier.base``, ``Classifier.estimator``)
    down to the estimator; a one-class fit (no estimator was trained) gives None. The
    loop uses it to ask a :class:`~labelwise.models.TorchClassifier` (or any object with
    the same methods) for ``gradient_embedding``, ``expected_gradient_length`` and
    ``predict_proba_samples`` instead of the linear closed forms and bagging.
    """
    seen = 0
    while model is not None and seen < 8:
        seen += 1
        if isinstance(model, Classifier):
            if getattr(model, "constant_", None) is not None:
                return None
            model = model.estimator
            continue
        method = getattr(model, name, None)
        if callable(method):
            return method
        model = getattr(model, "base", None)
    return None


class SampledCommittee:
    """A committee drawn from one stochastic model: MC-dropout passes or ensemble members.

    No bagging: the members are the model's own ``predict_proba_samples`` output,
    ``(T, n, C)``, with columns mapped to the task's classes. ``fit`` refits the base
    only when it has not been fit yet (the loop fits the model itself first).

    Parameters
    ----------
    base : Classifier
        Wraps an estimator with ``predict_proba_samples(X, n_samples=None)``.
    n_samples : int or None, default=None
        Passes per call; None uses the estimator's own default.
    """

    def __init__(self, base: Classifier, *, n_samples: int | None = None):
        self.base = base
        self.n_samples = n_samples

    def fit(self, X, y) -> SampledCommittee:
        """Fit the base model if it is not fitted; returns self."""
        if not hasattr(self.base, "constant_"):
            self.base.fit(X, y)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Member probabilities of shape (n_members, n_samples, n_classes)."""
        b = self.base
        if b.constant_ is not None:  # one class seen: every member agrees with certainty
            return np.stack([b.predict_proba(X)] * 2)
        samples = np.asarray(b.estimator.predict_proba_samples(X, n_samples=self.n_samples))
        out = np.zeros((samples.shape[0], samples.shape[1], b.classes.size))
        out[:, :, b.columns_] = samples
        return out


def make_committee(base: Classifier, *, n_members: int = 5, random_state=None):
    """The committee the loop uses for ``base``: its own samples when it has them, else bagging.

    A model whose estimator has ``predict_proba_samples`` (a ``TorchClassifier``:
    MC dropout or a deep ensemble) is its own committee (:class:`SampledCommittee`,
    with the estimator's own number of passes); any other model gets a
    :class:`BaggingCommittee` of ``n_members`` bootstrap clones.
    """
    if callable(getattr(getattr(base, "estimator", None), "predict_proba_samples", None)):
        return SampledCommittee(base)
    return BaggingCommittee(base, n_members=n_members, random_state=random_state)
