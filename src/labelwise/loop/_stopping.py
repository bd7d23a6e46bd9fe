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

__all__ = [
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
]


class _Round(Protocol):
    n_queried: int
    metric: float | None
    cost_spent: float
    kappa: float | None
    train_loss: float | None
    val_loss: float | None
    max_score: float | None
    elapsed: float


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
    """Stop once the evaluation metric reaches ``target``.

    When the rounds carry the metric's interval (``metric_ci``: a project's random
    evaluation set), the rule fires only once the interval's lower end reaches the
    target, so a lucky draw of a small evaluation set does not stop the loop.
    """

    target: float
    metric: str = "metric"
    name: str = "target_metric"

    def check(self, history):  # noqa: D102
        if not history or history[-1].metric is None:
            return None
        last = history[-1]
        ci = getattr(last, "metric_ci", None)
        if ci is not None:
            if ci[0] >= self.target:
                return (
                    f"{self.metric} {last.metric:.4f} (95% interval {ci[0]:.4f} to {ci[1]:.4f}) "
                    f"reached the target {self.target:g}: even its lower end is above it"
                )
            return None
        if last.metric >= self.target:
            return f"{self.metric} {last.metric:.4f} reached the target {self.target:g}"
        return None


@dataclass(frozen=True)
class DiminishingReturns:
    """Stop when the best metric so far improved by less than ``delta`` in the last ``k`` rounds.

    Comparing best-so-far values (patience, as in early stopping) keeps one noisy
    dip from firing the rule; a plateau of ``k`` rounds does.

    When the rounds carry ``hits`` (a mapping from each evaluation item to whether
    that round's model got it right: a project's random evaluation set), the rule
    compares the last round with the one ``k`` rounds earlier on the items both
    scored, and fires only when the gain's 95 % interval
    (:func:`~labelwise.loop._intervals.paired_gain_interval`) includes zero *and*
    its upper end is below ``delta``: the data then rule out a gain worth having.
    A noisy point difference never fires it, and neither does an evaluation set
    too small to tell (its interval is too wide).
    """

    k: int = 3
    delta: float = 0.005
    metric: str = "metric"
    name: str = "diminishing_returns"

    def __post_init__(self):
        if self.k < 1:
            raise InvalidInputError(f"diminishing returns needs k >= 1 rounds, got {self.k}.")

    def check(self, history):  # noqa: D102
        scored = [h for h in history if h.metric is not None]
        if len(scored) <= self.k:
            return None
        now, then = getattr(scored[-1], "hits", None), getattr(scored[-1 - self.k], "hits", None)
        if now is not None and then is not None:
            return self._check_interval(then, now)
        values = [h.metric for h in scored]
        gain = max(values[-self.k :]) - max(values[: -self.k])
        if gain < self.delta:
            return (
                f"best {self.metric} improved by {max(gain, 0.0):.4f} over the last {self.k} "
                f"rounds (less than {self.delta:g})"
            )
        return None

    def _check_interval(self, then: dict, now: dict) -> str | None:
        from labelwise.loop._intervals import paired_gain_interval

        common = sorted(set(then) & set(now))
        if not common:
            return None
        gain, lo, hi = paired_gain_interval([then[i] for i in common], [now[i] for i in common])
        if lo <= 0.0 and hi < self.delta:
            return (
                f"{self.metric} changed by {gain:+.4f} over the last {self.k} rounds on "
                f"{len(common)} evaluation labels; its 95% interval {lo:+.4f} to {hi:+.4f} "
                f"includes zero and stays below {self.delta:g}"
            )
        return None


@dataclass(frozen=True)
class CostBudget:
    """Stop once the labeling cost spent (e.g. seconds, or boxes) reaches ``budget``.

    :class:`~labelwise.loop.ActiveLoop` fills each batch by cost, so the budget is
    never exceeded: it takes the strategy's picks in ranked order while their
    summed cost fits in what is left (the last batch may be short), and stops once
    even the cheapest unlabeled sample costs more than that. Without a per-sample
    cost every label costs 1.
    """

    budget: float
    name: str = "cost_budget"

    def __post_init__(self):
        if not self.budget >= 0:
            raise InvalidInputError(f"cost budget must be >= 0, got {self.budget}.")

    def check(self, history):  # noqa: D102
        if history and history[-1].cost_spent >= self.budget:
            return f"cost budget reached: {history[-1].cost_spent:g} of {self.budget:g} spent"
        return None


@dataclass(frozen=True)
class StabilizingPredictions:
    """Stop when successive models agree on a fixed stop set for ``k`` rounds.

    Agreement is Cohen's κ between the predictions of successive models; the
    rule fires once it is at least ``threshold`` ``k`` rounds in a row.

    References
    ----------
    Bloodgood, M. and Vijay-Shanker, K. (2009). A method for stopping active
    learning based on stabilizing predictions and the need for user-adjustable
    stopping. CoNLL.
    """

    threshold: float = 0.99
    k: int = 3
    name: str = "stabilizing_predictions"

    def __post_init__(self):
        if self.k < 1 or not 0 < self.threshold <= 1:
            raise InvalidInputError("stabilizing predictions needs k >= 1 and 0 < threshold <= 1.")

    def check(self, history):  # noqa: D102
        kappas = [h.kappa for h in history if h.kappa is not None]
        if len(kappas) < self.k or min(kappas[-self.k :]) < self.threshold:
            return None
        shown = ", ".join(f"{v:.3f}" for v in kappas[-self.k :])
        return (
            f"successive models agree on the stop set: Cohen's kappa >= {self.threshold:g} "
            f"for {self.k} rounds ({shown})"
        )


@dataclass(frozen=True)
class Overfitting:
    """Stop when validation loss rose for ``k`` rounds in a row while training loss fell."""

    k: int = 2
    name: str = "overfitting"

    def __post_init__(self):
        if self.k < 1:
            raise InvalidInputError(f"overfitting needs k >= 1 rounds, got {self.k}.")

    def check(self, history):  # noqa: D102
        pairs = [(h.train_loss, h.val_loss) for h in history]
        pairs = [p for p in pairs if p[0] is not None and p[1] is not None]
        if len(pairs) <= self.k:
            return None
        tail = pairs[-self.k - 1 :]
        val_up = all(b[1] > a[1] for a, b in zip(tail, tail[1:], strict=False))
        train_down = all(b[0] < a[0] for a, b in zip(tail, tail[1:], strict=False))
        if val_up and train_down:
            return (
                f"validation loss rose {tail[0][1]:.4f} -> {tail[-1][1]:.4f} over {self.k} rounds "
                f"while training loss fell {tail[0][0]:.4f} -> {tail[-1][0]:.4f}"
            )
        return None


@dataclass(frozen=True)
class MaxScoreBelow:
    """Stop when the best remaining candidate's score is below ``threshold``."""

    threshold: float
    name: str = "max_score"

    def check(self, history):  # noqa: D102
        if history and history[-1].max_score is not None and history[-1].max_score < self.threshold:
            return (
                f"the highest score left in the pool, {history[-1].max_score:.4g}, "
                f"is below {self.threshold:g}"
            )
        return None


@dataclass(frozen=True)
class WallClock:
    """Stop once the run has taken ``seconds`` of wall-clock time."""

    seconds: float
    name: str = "wall_clock"

    def check(self, history):  # noqa: D102
        if history and history[-1].elapsed >= self.seconds:
            return f"wall-clock limit: {history[-1].elapsed:.1f} s of {self.seconds:g} s used"
        return None


def check_rules(rules: Sequence[StoppingRule], history) -> dict[str, str | None]:
    """Every rule's verdict on the history: name -> reason (fired) or None."""
    return {r.name: r.check(history) for r in rules}
