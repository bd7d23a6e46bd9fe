"""Model adapters: scikit-learn classifiers and regressors, committees, calibration."""

from labelwise.models._calibration import CalibratedClassifier, apply_temperature, fit_temperature
from labelwise.models._sklearn import (
    MODELS,
    BaggingCommittee,
    Classifier,
    make_model,
    model_names,
)
from labelwise.models._tasks import (
    REGRESSORS,
    MultiLabelClassifier,
    RegressionCommittee,
    Regressor,
    make_regressor,
    regressor_names,
)

__all__ = [
    "MODELS",
    "REGRESSORS",
    "BaggingCommittee",
    "Classifier",
    "CalibratedClassifier",
    "MultiLabelClassifier",
    "Regressor",
    "RegressionCommittee",
    "make_model",
    "make_regressor",
    "model_names",
    "regressor_names",
    "apply_temperature",
    "fit_temperature",
]
