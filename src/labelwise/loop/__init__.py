"""The loop: rounds, oracles, stopping rules and the simulation bench."""

from labelwise.loop._loop import ActiveLoop, LoopResult, RoundRecord
from labelwise.loop._metrics import METRICS, get_metric
from labelwise.loop._oracle import SimulatedOracle
from labelwise.loop._stopping import (
    DiminishingReturns,
    LabelBudget,
    StoppingRule,
    TargetMetric,
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
    "TargetMetric",
    "DiminishingReturns",
    "check_rules",
]
