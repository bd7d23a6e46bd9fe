"""Model adapters: scikit-learn classifiers and bagged committees."""

from labelwise.models._calibration import CalibratedClassifier, apply_temperature, fit_temperature
from labelwise.models._sklearn import (
    MODELS,
    BaggingCommittee,
    Classifier,
    make_model,
    model_names,
)

__all__ = [
    "MODELS",
    "BaggingCommittee",
    "Classifier",
    "CalibratedClassifier",
    "make_model",
    "model_names",
    "apply_temperature",
    "fit_temperature",
]
