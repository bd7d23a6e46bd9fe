"""Stopping rules, each checked and reported every round.

A rule looks at the rounds so far and returns ``None`` (keep going) or a
sentence saying why it fires. Any rule that fires stops the loop; the report
keeps every rule's verdict for every round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from labelwise.errors import InvalidInputError

__all__ = ["StoppingRule", "LabelBudget", "TargetMetric", "DiminishingReturns", "check_rules"]


class _Round(Protocol):
    n_queried: int
    metric: float | None


class StoppingRule(Protocol):
    """``check(history) -> reason or None``; ``name`` identifies it in reports."""

    name: str

    def check(self, history: Sequence[_Round]) -> str | None:  # noqa: D102
        ...


@dataclass(frozen=True)
class LabelBudget:
    """Stop once ``budget`` labels have been queried (the initial set not counted)."""

    budget: int
    name: str = "label_budget"

    def __post_init__(self):
        if self.budget < 0:
            raise InvalidInputError(f"label budget must be >= 0, got {self.budget}.")

    def check(self, history):  # noqa: D102
        if history and history[-1].n_queried >= self.budget:
            return f"label budget reached: {history[-1].n_queried} of {self.budget} labels queried"
        return None


@dataclass(frozen=True)
class TargetMetric:
    """Stop once the evaluation metric reaches ``target``."""

    target: float
    metric: str = "metric"
    name: str = "target_metric"

    def check(self, history):  # noqa: D102
        if history and history[-1].metric is not None and history[-1].metric >= self.target:
            return f"{self.metric} {history[-1].metric:.4f} reached the target {self.target:g}"
        return None


@dataclass(frozen=True)
class DiminishingReturns:
    """Stop when the best metric so far improved by less than ``delta`` in the last ``k`` rounds.

    Comparing best-so-far values (patience, as in early stopping) keeps one noisy
    dip from firing the rule; a plateau of ``k`` rounds does.
    """

    k: int = 3
    delta: float = 0.005
    metric: str = "metric"
    name: str = "diminishing_returns"

    def __post_init__(self):
        if self.k < 1:
            raise InvalidInputError(f"diminishing returns needs k >= 1 rounds, got {self.k}.")

    def check(self, history):  # noqa: D102
        values = [h.metric for h in history if h.metric is not None]
        if len(values) <= self.k:
            return None
        gain = max(values[-self.k :]) - max(values[: -self.k])
        if gain < self.delta:
            return (
                f"best {self.metric} improved by {max(gain, 0.0):.4f} over the last {self.k} "
                f"rounds (less than {self.delta:g})"
            )
        return None


def check_rules(rules: Sequence[StoppingRule], history) -> dict[str, str | None]:
    """Every rule's verdict on the history: name -> reason (fired) or None."""
    return {r.name: r.check(history) for r in rules}
