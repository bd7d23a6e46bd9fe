"""The loop: rounds, oracles, stopping rules, forecast, the simulation bench and replay."""

from labelwise.loop._forecast import Forecast, fit_power_law, forecast_labels, power_law
from labelwise.loop._loop import ActiveLoop, LoopResult, RoundRecord
from labelwise.loop._metrics import METRICS, get_metric
from labelwise.loop._oracle import SimulatedOracle
from labelwise.loop._stopping import (
    CostBudget,
    DiminishingReturns,
    LabelBudget,
    MaxScoreBelow,
    Overfitting,
    StabilizingPredictions,
    StoppingRule,
    TargetMetric,
    WallClock,
    check_rules,
)

__all__ = [
    "ActiveLoop",
    "LoopResult",
    "RoundRecord",
    "SimulatedOracle",
    "METRICS",
    "get_metric",
    "StoppingRule",
    "LabelBudget",
    "CostBudget",
    "TargetMetric",
    "DiminishingReturns",
    "StabilizingPredictions",
    "Overfitting",
    "MaxScoreBelow",
    "WallClock",
    "check_rules",
    "Forecast",
    "forecast_labels",
    "fit_power_law",
    "power_law",
]
