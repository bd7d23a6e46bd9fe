"""TorchClassifier through scikit-learn's own estimator checks.

Every check that sklearn runs on a classifier applies and passes; none is listed
as an expected failure. One is left out, not skipped at run time:
``check_array_api_input`` (TorchClassifier takes numpy arrays only, and sklearn
runs that check only with ``SCIPY_ARRAY_API`` set). The tiny MLP trains with a
high learning rate so that ``check_classifiers_train`` (accuracy above 0.83 on its
toy data) passes in a few epochs.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from sklearn.utils.estimator_checks import estimator_checks_generator  # noqa: E402

from labelwise.models import TorchClassifier, mlp_factory  # noqa: E402

pytestmark = pytest.mark.torch

#: Checks left out, with the reason.
NOT_APPLICABLE = {"check_array_api_input": "numpy arrays only; not an array-API estimator"}


def _name(check) -> str:
    return getattr(check, "func", check).__name__


_CHECKS = [
    (est, check)
    for est, check in estimator_checks_generator(
        TorchClassifier(mlp_factory(hidden=(16,), dropout=0.1), epochs=15, lr=3e-2, random_state=0),
        mark=None,
    )
    if _name(check) not in NOT_APPLICABLE
]


def test_the_checks_are_collected():
    assert len(_CHECKS) >= 40  # sklearn's classifier checks, less the one left out


@pytest.mark.parametrize(("estimator", "check"), _CHECKS, ids=[_name(c) for _, c in _CHECKS])
def test_sklearn_compatible(estimator, check):
    check(estimator)
