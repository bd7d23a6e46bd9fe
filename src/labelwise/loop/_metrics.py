"""Evaluation metrics by name; higher is better for every one.

Each metric belongs to one task: classification (``accuracy``, ``f1`` = macro
F1, ``balanced_accuracy``), regression (``r2``, ``neg_rmse`` = minus the root
mean squared error) or multi-label (``micro_f1``, ``subset_accuracy``,
``hamming_score`` = 1 - Hamming loss).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn import metrics as skm

from labelwise.errors import InvalidInputError, UnknownNameError, did_you_mean

__all__ = ["METRICS", "METRIC_TASK", "METRIC_CEILING", "DEFAULT_METRIC", "get_metric"]


def _f1(y_true, y_pred) -> float:
    return float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))


def _neg_rmse(t, p) -> float:
    return -float(np.sqrt(np.mean((np.asarray(t, float) - np.asarray(p, float)) ** 2)))


#: name -> f(y_true, y_pred) -> float
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": lambda t, p: float(np.mean(np.asarray(t) == np.asarray(p))),
    "f1": _f1,
    "balanced_accuracy": lambda t, p: float(skm.balanced_accuracy_score(t, p)),
    "r2": lambda t, p: float(skm.r2_score(t, p)),
    "neg_rmse": _neg_rmse,
    "micro_f1": lambda t, p: float(skm.f1_score(t, p, average="micro", zero_division=0)),
    "subset_accuracy": lambda t, p: float(np.mean(np.all(np.asarray(t) == np.asarray(p), axis=1))),
    "hamming_score": lambda t, p: float(np.mean(np.asarray(t) == np.asarray(p))),
}
METRIC_TASK = {
    "accuracy": "classification",
    "f1": "classification",
    "balanced_accuracy": "classification",
    "r2": "regression",
    "neg_rmse": "regression",
    "micro_f1": "multilabel",
    "subset_accuracy": "multilabel",
    "hamming_score": "multilabel",
}
#: Best possible value of each metric (None = unbounded), for the forecast.
METRIC_CEILING = {name: (0.0 if name == "neg_rmse" else 1.0) for name in METRICS}
DEFAULT_METRIC = {"classification": "accuracy", "regression": "r2", "multilabel": "micro_f1"}


def get_metric(name: str, task: str | None = None) -> Callable[[np.ndarray, np.ndarray], float]:
    """Look up a metric by name, optionally checking that it fits the task."""
    if name not in METRICS:
        raise UnknownNameError(
            f"unknown metric {name!r}; choose one of {sorted(METRICS)}."
            + did_you_mean(name, METRICS)
        )
    if task is not None and METRIC_TASK[name] != task:
        ok = [m for m, t in METRIC_TASK.items() if t == task]
        raise InvalidInputError(
            f"metric {name!r} is for {METRIC_TASK[name]}; for {task} choose one of {ok}."
        )
    return METRICS[name]
