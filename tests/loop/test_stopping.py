"""Each stopping rule fires on a curve built to trigger it and stays silent on one built not to."""

from dataclasses import dataclass

import pytest

from labelwise.errors import InvalidInputError
from labelwise.loop import DiminishingReturns, LabelBudget, TargetMetric, check_rules


@dataclass
class R:
    n_queried: int
    metric: float | None


def hist(metrics, batch=10):
    return [R(i * batch, m) for i, m in enumerate(metrics)]


def test_label_budget():
    rule = LabelBudget(30)
    assert rule.check(hist([0.5, 0.6, 0.7])) is None  # 20 queried
    reason = rule.check(hist([0.5, 0.6, 0.7, 0.8]))  # 30 queried
    assert reason and "30 of 30" in reason
    with pytest.raises(InvalidInputError):
        LabelBudget(-1)


def test_target_metric():
    rule = TargetMetric(0.9, "accuracy")
    assert rule.check(hist([0.5, 0.89])) is None
    assert "0.9100 reached the target 0.9" in rule.check(hist([0.5, 0.91]))
    assert rule.check(hist([0.95, None])) is None  # no evaluation this round


def test_diminishing_returns_fires_on_plateau_only():
    rule = DiminishingReturns(k=3, delta=0.01)
    rising = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9]
    assert rule.check(hist(rising)) is None
    plateau = [0.5, 0.7, 0.80, 0.802, 0.805, 0.801]  # best moved 0.005 in the last 3 rounds
    assert "improved by 0.0050" in rule.check(hist(plateau))
    # a single noisy dip after a gain does not fire: the best so far still rose by 0.05
    dip = [0.5, 0.7, 0.75, 0.80, 0.72, 0.74]
    assert rule.check(hist(dip)) is None
    assert rule.check(hist([0.5, 0.5, 0.5])) is None  # not enough rounds yet


def test_check_rules_reports_every_rule():
    rules = [LabelBudget(100), TargetMetric(0.6), DiminishingReturns(2, 0.01)]
    v = check_rules(rules, hist([0.5, 0.61, 0.612, 0.611]))
    assert v["label_budget"] is None
    assert v["target_metric"] and v["diminishing_returns"]


@dataclass
class F:
    """A round with every field the rules read."""

    n_queried: int = 0
    metric: float | None = None
    cost_spent: float = 0.0
    kappa: float | None = None
    train_loss: float | None = None
    val_loss: float | None = None
    max_score: float | None = None
    elapsed: float = 0.0


def test_cost_budget():
    from labelwise.loop import CostBudget

    assert CostBudget(100).check([F(cost_spent=99.5)]) is None
    assert "100.5 of 100 spent" in CostBudget(100).check([F(cost_spent=100.5)])


def test_stabilizing_predictions_needs_k_rounds_above_threshold():
    from labelwise.loop import StabilizingPredictions

    rule = StabilizingPredictions(0.99, 3)
    assert rule.check([F(kappa=k) for k in [None, 0.8, 0.995, 0.999, 0.98]]) is None
    assert rule.check([F(kappa=k) for k in [None, 0.995, 0.999]]) is None  # only 2 rounds
    fired = rule.check([F(kappa=k) for k in [None, 0.8, 0.995, 0.999, 1.0]])
    assert fired and "0.995, 0.999, 1.000" in fired


def test_overfitting_fires_when_val_rises_while_train_falls():
    from labelwise.loop import Overfitting

    rule = Overfitting(k=2)
    ok = [F(train_loss=t, val_loss=v) for t, v in [(0.5, 0.6), (0.4, 0.5), (0.3, 0.45)]]
    assert rule.check(ok) is None
    both_up = [F(train_loss=t, val_loss=v) for t, v in [(0.3, 0.4), (0.35, 0.5), (0.4, 0.6)]]
    assert rule.check(both_up) is None
    over = [F(train_loss=t, val_loss=v) for t, v in [(0.3, 0.4), (0.2, 0.5), (0.1, 0.6)]]
    assert "validation loss rose 0.4000 -> 0.6000" in rule.check(over)


def test_max_score_and_wall_clock():
    from labelwise.loop import MaxScoreBelow, WallClock

    assert MaxScoreBelow(0.2).check([F(max_score=0.25)]) is None
    assert "0.15" in MaxScoreBelow(0.2).check([F(max_score=0.15)])
    assert MaxScoreBelow(0.2).check([F(max_score=None)]) is None
    assert WallClock(60).check([F(elapsed=59.0)]) is None
    assert "61.0 s of 60 s" in WallClock(60).check([F(elapsed=61.0)])
