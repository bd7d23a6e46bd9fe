"""TorchClassifier through scikit-learn's own estimator checks.

Every check that sklearn runs on a classifier applies and passes; none is listed
in ``expected_failed_checks``. sklearn itself skips ``check_array_api_input``
unless ``SCIPY_ARRAY_API`` is set (TorchClassifier takes numpy arrays only).
The tiny MLP trains with a high learning rate so that ``check_classifiers_train``
(accuracy above 0.83 on its toy data) passes in a few epochs.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from labelwise.models import TorchClassifier, mlp_factory  # noqa: E402

pytestmark = pytest.mark.torch

#: Checks that do not apply to TorchClassifier, with the reason. Empty: all apply.
EXPECTED_FAILED: dict[str, str] = {}


@parametrize_with_checks(
    [TorchClassifier(mlp_factory(hidden=(16,), dropout=0.1), epochs=15, lr=3e-2, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
