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
