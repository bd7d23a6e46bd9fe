"""Labels-needed forecast: exact on a known law, honest on a real bench curve."""

import math

import numpy as np
import pytest
from sklearn.datasets import load_digits

from labelwise.errors import InvalidInputError
from labelwise.loop._bench import run_bench
from labelwise.loop._forecast import fit_power_law, forecast_labels, power_law


def test_fit_recovers_a_known_power_law():
    n = np.array([10, 20, 40, 80, 160, 320])
    a, b, c = fit_power_law(n, 0.9 - 1.5 * n**-0.6)
    assert (a, b, c) == pytest.approx((0.9, 1.5, 0.6), rel=1e-4)


def test_labels_needed_matches_the_inverse_formula():
    n = np.array([20, 40, 80, 160])
    f = forecast_labels(n, power_law(n, 0.95, 2.0, 0.8), 0.93)
    # (b / (a - t)) ** (1 / c) = (2 / 0.02) ** 1.25 = 316.23
    assert f.labels_needed == pytest.approx(100**1.25, rel=1e-3)
    assert f.more_labels == pytest.approx(100**1.25 - 160, rel=1e-3)
    assert f.reachable and f.low - 1e-3 <= f.more_labels <= f.high + 1e-3


def test_unreachable_target_is_said_not_looped():
    n = np.array([20, 40, 80, 160])
    f = forecast_labels(n, power_law(n, 0.85, 2.0, 0.8), 0.95)
    assert not f.reachable and math.isinf(f.labels_needed)
    assert "unreachable" in f.message and "0.85" in f.message
    assert f.to_dict()["labels_needed"] is None


def test_bad_input():
    with pytest.raises(InvalidInputError, match="3 or more"):
        forecast_labels([10, 20], [0.5, 0.6], 0.9)
    with pytest.raises(InvalidInputError, match="increasing"):
        forecast_labels([10, 30, 20], [0.5, 0.6, 0.7], 0.9)


def test_forecast_from_first_third_of_a_bench_curve_covers_what_happened():
    # The inverse power law describes learning curves under i.i.d. sampling, so the
    # check runs on random sampling's curve (uncertainty sampling bends upward faster
    # than the law; the forecast is then pessimistic, which the docs say).
    X, y = load_digits(return_X_y=True)
    res = run_bench(
        X,
        y,
        dataset="digits",
        model="logreg",
        strategies=["random"],
        initial=20,
        batch_size=10,
        budget=270,
        seeds=3,
    )
    labels = np.array(res["strategies"]["random"]["labels"])
    curve = np.array(res["strategies"]["random"]["mean_curve"])
    third = len(labels) // 3 + 1
    covered = 0
    targets = [t for t in (0.88, 0.90, 0.92) if curve[third - 1] < t <= curve.max()]
    assert targets, "the curve should cross these targets after its first third"
    for target in targets:
        f = forecast_labels(labels[:third], curve[:third], target, metric="accuracy")
        observed = labels[np.argmax(curve >= target)] - labels[third - 1]
        covered += f.low <= observed <= f.high
    assert covered == len(targets)
