"""TorchClassifier holds back no validation slice smaller than 30 rows.

A slice of 10-20 actively chosen rows stopped training far too early (see
``MIN_VALIDATION_ROWS``); below the threshold the model must be exactly the one trained
with early stopping off, above it a slice is held back again.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from labelwise.models import TorchClassifier, mlp_factory  # noqa: E402
from labelwise.models._torch import MIN_VALIDATION_ROWS  # noqa: E402

pytestmark = pytest.mark.torch


def _data(n, C=3, d=5, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=1.5, size=(C, d))  # overlapping: the loss keeps moving
    y = np.arange(n) % C
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y


def _fit(X, y, fraction):
    m = TorchClassifier(
        mlp_factory(hidden=(16,), dropout=0.3),
        epochs=40,
        lr=1e-2,
        patience=2,
        validation_fraction=fraction,
        random_state=0,
    )
    return m.fit(X, y)


@pytest.mark.parametrize("n", [30, 100, 290])
def test_a_slice_under_30_rows_is_not_held_back(n):
    """0.1 of 290 rows is 29: every row trains every epoch, as with early stopping off."""
    X, y = _data(n)
    on, off = _fit(X, y, 0.1), _fit(X, y, 0.0)
    assert on.n_epochs_ == off.n_epochs_ == [40]
    np.testing.assert_array_equal(on.predict_proba(X), off.predict_proba(X))


def test_from_30_rows_on_a_slice_is_held_back_and_training_stops_early():
    assert MIN_VALIDATION_ROWS == 30
    X, y = _data(300)  # 0.1 of 300 rows: a slice of 30
    on, off = _fit(X, y, 0.1), _fit(X, y, 0.0)
    assert on.n_epochs_[0] < 40  # stopped on the slice's loss
    assert np.abs(on.predict_proba(X) - off.predict_proba(X)).max() > 1e-3
