"""What differs between classification, regression and multi-label in the loop.

The loop is written once; a task object answers the task-specific questions:
which model and committee to build, how to check an oracle's labels, how to
turn model output into predictions, losses and an agreement measure.
"""

from __future__ import annotations

import numpy as np

from labelwise.errors import InvalidInputError
from labelwise.models import (
    CalibratedClassifier,
    MultiLabelClassifier,
    RegressionCommittee,
    make_committee,
    make_model,
    make_regressor,
)

__all__ = ["TASKS", "get_task", "DEFAULT_MODEL", "DEFAULT_STRATEGY"]

DEFAULT_MODEL = {"classification": "logreg", "regression": "ridge", "multilabel": "logreg"}
DEFAULT_STRATEGY = {
    "classification": "auto",
    "regression": "committee_std",
    "multilabel": "multilabel_mean",
}
_EPS = 1e-15


def _kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa between two label vectors; 1.0 when both are identical (even constant)."""
    if np.array_equal(a, b):
        return 1.0
    from sklearn.metrics import cohen_kappa_score

    k = cohen_kappa_score(a, b)
    return float(k) if np.isfinite(k) else 0.0


class Classification:
    """Single-label classification over a fixed list of classes."""

    name = "classification"

    def __init__(self, classes):
        self.classes = np.asarray(classes)
        if self.classes.size < 2:
            raise InvalidInputError("classification needs at least 2 classes.")

    def model(self, model, *, calibrate: bool, seed: int):  # noqa: D102
        base = make_model(model, classes=self.classes, random_state=seed)
        return base, (CalibratedClassifier(base, random_state=seed) if calibrate else base)

    def committee(self, base, n_members: int, seed: int):  # noqa: D102
        return make_committee(base, n_members=n_members, random_state=seed)

    def check_labels(self, labels) -> np.ndarray:  # noqa: D102
        labels = np.asarray(labels)
        unknown = np.setdiff1d(np.unique(labels), self.classes)
        if unknown.size:
            raise InvalidInputError(
                f"the oracle returned labels {unknown[:5].tolist()} that are not among the "
                f"classes {self.classes.tolist()}."
            )
        return labels

    def output(self, model, X) -> np.ndarray:
        """Class probabilities (n, C)."""
        return model.predict_proba(X)

    def predict(self, out: np.ndarray) -> np.ndarray:  # noqa: D102
        return self.classes[out.argmax(axis=1)]

    def loss(self, y, out: np.ndarray) -> float:
        """Mean log loss."""
        col = {c: i for i, c in enumerate(self.classes.tolist())}
        idx = np.fromiter((col[v] for v in np.asarray(y).tolist()), dtype=np.intp)
        return float(-np.mean(np.log(np.clip(out[np.arange(idx.size), idx], _EPS, 1.0))))

    def agreement(self, a, b) -> float | None:  # noqa: D102
        return _kappa(a, b)


class MultiLabel(Classification):
    """Multi-label classification: y is an (n, n_labels) 0/1 matrix."""

    name = "multilabel"

    def __init__(self, labels):
        self.classes = np.asarray(labels)
        if self.classes.size < 1:
            raise InvalidInputError("multi-label needs at least 1 label name.")

    def model(self, model, *, calibrate: bool, seed: int):  # noqa: D102
        if calibrate:
            raise InvalidInputError("calibrate=True is for single-label classification.")
        m = MultiLabelClassifier(model, labels=self.classes, random_state=seed)
        return m, m

    def committee(self, base, n_members, seed):  # noqa: D102
        raise InvalidInputError(
            "committee strategies are not available for multi-label; use multilabel_mean or "
            "multilabel_max."
        )

    def check_labels(self, labels) -> np.ndarray:  # noqa: D102
        Y = np.asarray(labels)
        if Y.ndim != 2 or Y.shape[1] != self.classes.size or not np.isin(Y, (0, 1)).all():
            raise InvalidInputError(
                f"multi-label answers must be 0/1 rows of {self.classes.size} labels "
                f"({self.classes.tolist()}), got shape {Y.shape}."
            )
        return Y.astype(int)

    def predict(self, out):  # noqa: D102
        return (out >= 0.5).astype(int)

    def loss(self, y, out):
        """Mean binary log loss over labels."""
        Y = np.asarray(y, dtype=np.float64)
        p = np.clip(out, _EPS, 1 - _EPS)
        return float(-np.mean(Y * np.log(p) + (1 - Y) * np.log(1 - p)))

    def agreement(self, a, b):  # noqa: D102
        return _kappa(np.ravel(a), np.ravel(b))


class Regression:
    """Regression: y is a float per sample."""

    name = "regression"
    classes = None

    def model(self, model, *, calibrate: bool, seed: int):  # noqa: D102
        if calibrate:
            raise InvalidInputError("calibrate=True is for classification.")
        m = make_regressor(model, random_state=seed)
        return m, m

    def committee(self, base, n_members, seed):  # noqa: D102
        return RegressionCommittee(base, n_members=n_members, random_state=seed)

    def check_labels(self, labels):  # noqa: D102
        y = np.asarray(labels, dtype=np.float64)
        if y.ndim != 1 or not np.isfinite(y).all():
            raise InvalidInputError("regression answers must be finite numbers, one per sample.")
        return y

    def output(self, model, X):
        """Point predictions (n,)."""
        return model.predict(X)

    def predict(self, out):  # noqa: D102
        return out

    def loss(self, y, out):
        """Mean squared error."""
        return float(np.mean((np.asarray(y, dtype=np.float64) - out) ** 2))

    def agreement(self, a, b):  # noqa: D102
        return None


MultiLabel.output = Classification.output

TASKS = {"classification": Classification, "regression": Regression, "multilabel": MultiLabel}


def get_task(name: str, classes=None):
    """Build the task object for ``name`` with its classes (labels for multi-label)."""
    if name not in TASKS:
        raise InvalidInputError(f"unknown task {name!r}; choose one of {sorted(TASKS)}.")
    if name == "regression":
        return Regression()
    if classes is None:
        raise InvalidInputError(f"{name} needs its classes (label names).")
    return TASKS[name](classes)
