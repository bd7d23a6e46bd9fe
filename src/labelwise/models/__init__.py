"""Model adapters: scikit-learn classifiers and regressors, committees, calibration, torch.

``TorchClassifier`` and its module factories (extra ``torch``) are imported lazily, on
first access: ``import labelwise.models`` never imports torch.
"""

from labelwise.models._calibration import CalibratedClassifier, apply_temperature, fit_temperature
from labelwise.models._sklearn import (
    MODELS,
    BaggingCommittee,
    Classifier,
    SampledCommittee,
    clone_model,
    make_committee,
    make_model,
    model_method,
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
    "SampledCommittee",
    "TorchClassifier",
    "clone_model",
    "make_committee",
    "model_method",
    "mlp_factory",
    "head_factory",
    "cnn_factory",
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

_TORCH_NAMES = ("TorchClassifier", "mlp_factory", "head_factory", "cnn_factory")


def __getattr__(name):
    if name in _TORCH_NAMES:
        from labelwise.models._sklearn import _torch_module

        return getattr(_torch_module(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
