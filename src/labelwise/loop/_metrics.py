"""Evaluation metrics by name (higher is better for every one)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn import metrics as skm

from labelwise.errors import UnknownNameError, did_you_mean

__all__ = ["METRICS", "get_metric"]


def _f1(y_true, y_pred) -> float:
    return float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))


#: name -> f(y_true, y_pred) -> float
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": lambda t, p: float(np.mean(np.asarray(t) == np.asarray(p))),
    "f1": _f1,
    "balanced_accuracy": lambda t, p: float(skm.balanced_accuracy_score(t, p)),
}


def get_metric(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """Look up a metric by name (``accuracy``, ``f1`` = macro F1, ``balanced_accuracy``)."""
    if name not in METRICS:
        raise UnknownNameError(
            f"unknown metric {name!r}; choose one of {sorted(METRICS)}."
            + did_you_mean(name, METRICS)
        )
    return METRICS[name]
