"""Stopping rules and the forecast on a project's evaluation metric, with its uncertainty."""

from dataclasses import dataclass

import numpy as np
import pytest

from labelwise.errors import InvalidInputError
from labelwise.loop._forecast import forecast_labels, power_law, project_forecast
from labelwise.loop._intervals import wilson_interval
from labelwise.loop._stopping import DiminishingReturns, TargetMetric


@dataclass
class R:
    metric: float | None
    metric_ci: list | None = None
    hits: dict | None = None


def _round(hits: np.ndarray) -> R:
    k, n = int(hits.sum()), hits.size
    return R(k / n, list(wilson_interval(k, n)), {i: bool(h) for i, h in enumerate(hits)})


def test_plateau_does_not_fire_on_a_gain_the_interval_shows():
    rng = np.random.default_rng(0)
    base = rng.random(500) < 0.80
    better = base.copy()
    better[np.flatnonzero(~base)[:25]] = True  # +5 points, no item lost
    hist = [_round(base), _round(base), _round(base), _round(better)]
    assert DiminishingReturns(k=3, delta=0.01).check(hist) is None


def test_plateau_fires_when_the_gain_interval_includes_zero_and_stays_small():
    rng = np.random.default_rng(1)
    a = rng.random(800) < 0.9
    b = a.copy()
    flip = rng.choice(800, size=6, replace=False)
    b[flip] = ~b[flip]  # a few items change either way: no real gain
    why = DiminishingReturns(k=2, delta=0.01, metric="evaluation accuracy").check(
        [_round(a), _round(a), _round(b)]
    )
    assert why is not None and "includes zero" in why and "800 evaluation labels" in why


def test_a_noisy_point_difference_on_a_small_set_does_not_fire():
    # the old rule: the best point improved by less than delta -> fired; here the
    # interval is far wider than delta, so nothing can be concluded and it does not fire
    a = np.array([1] * 8 + [0] * 2, dtype=bool)
    b = a.copy()
    b[[0, 8]] = [False, True]  # one won, one lost: gain 0, interval about +-0.12
    rule = DiminishingReturns(k=1, delta=0.01)
    assert rule.check([_round(a), _round(b)]) is None
    assert rule.check([R(0.8), R(0.8)]) is not None  # bench rounds (no hits): unchanged


def test_the_plateau_compares_only_items_both_rounds_scored():
    old = {i: True for i in range(100)}
    new = {i: True for i in range(50, 400)}  # the set grew; the common 50 all agree
    assert DiminishingReturns(k=1, delta=0.01).check(
        [R(1.0, [0.9, 1], old), R(1.0, [0.99, 1], new)]
    )


def test_target_metric_waits_for_the_lower_end_of_the_interval():
    rule = TargetMetric(0.9, "evaluation accuracy")
    assert rule.check([R(0.93, [0.87, 0.96])]) is None  # the point is above, the interval not
    why = rule.check([R(0.95, [0.91, 0.97])])
    assert why and "lower end" in why
    assert TargetMetric(0.9).check([R(0.93)])  # bench rounds (no interval): unchanged


def test_forecast_propagates_the_interval():
    n = np.array([50, 100, 150, 200, 250])
    y = power_law(n, 0.95, 2.0, 0.8)
    tight = forecast_labels(n, y, 0.93, errors=np.full(5, 1e-4), random_state=0)
    wide = forecast_labels(n, y, 0.93, errors=np.full(5, 0.02), random_state=0)
    assert tight.labels_needed == pytest.approx(wide.labels_needed)  # same fit
    assert (wide.high - wide.low) > 3 * (tight.high - tight.low)
    # "already met" needs the lower 95 % bound at the target
    unsure = forecast_labels(n, y, y[-1] - 0.01, errors=np.full(5, 0.02))
    assert "already meets" not in unsure.message and unsure.high > 0
    sure = forecast_labels(n, y, y[-1] - 0.01, errors=np.full(5, 0.001))
    assert "already meets" in sure.message and sure.high == 0


def test_project_forecast_refuses_without_evaluation_metric():
    rounds = [
        {"metric": None, "metric_ci": None, "n_labeled": n, "cv_metric": 0.7}
        for n in (50, 100, 150)
    ]
    with pytest.raises(InvalidInputError, match="no random evaluation set"):
        project_forecast(rounds, 0.9)
    rounds = [
        {"metric": m, "metric_ci": [m - 0.03, m + 0.03], "n_labeled": n}
        for n, m in ((50, 0.8), (100, 0.85), (150, 0.87), (200, 0.88))
    ]
    fc = project_forecast(rounds, 0.9)
    assert fc.labels_now == 200 and "evaluation accuracy" in fc.message
