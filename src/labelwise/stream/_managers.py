"""Budget managers for stream-based selective sampling, and the hard cap on top of them.

A manager sees one utility per arriving sample (in ``[0, 1]``, 1 = as uncertain as
the model can be) and says whether to ask for its label. ``allowed`` is False when
the hard cap (:class:`TokenBucket`) has no credit: the manager then asks nothing and
treats the step as Žliobaitė et al.'s "budget spent" branch (no threshold change).

- :class:`FixedManager` (``fixed``): ask when the utility reaches a fixed threshold.
- :class:`VariableUncertaintyManager` (``variable_uncertainty``): Žliobaitė et al.'s
  variable threshold: it tightens after each ask and loosens after each pass.
- :class:`SplitManager` (``split``): a share ``v`` of the steps asks at random (with
  probability ``budget``), the rest runs the variable threshold.
- :class:`BalancedIncomingManager` (``balanced_incoming``): the balanced incremental
  quantile filter of Kottke et al.: the ``1 - budget`` quantile of the last ``w``
  utilities, lowered while asks lag behind ``budget`` times the samples seen and
  raised while they run ahead.

The first three also keep Žliobaitė et al.'s estimate of the recent spend,
``u_t = u_{t-1} (w - 1) / w + asked_t``, and ask nothing while ``u_t / w >= budget``.
These definitions follow scikit-activeml's ``stream.budgetmanager`` module (1.0.1)
step for step, so the same utilities give the same decisions; that estimate and
the quantile filter keep the spend near the budget on average but bound no window,
hence the token bucket.

References
----------
Žliobaitė, I., Bifet, A., Pfahringer, B. and Holmes, G. (2014). Active learning with
drifting streaming data. IEEE Trans. Neural Netw. Learn. Syst. 25(1), 27–39.

Kottke, D., Krempl, G. and Spiliopoulou, M. (2015). Probabilistic active learning in
datastreams. IDA, 145–157.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from fractions import Fraction

import numpy as np

from labelwise.errors import InvalidInputError, UnknownNameError, did_you_mean, shorten

__all__ = [
    "BalancedIncomingManager",
    "FixedManager",
    "MANAGERS",
    "SplitManager",
    "TokenBucket",
    "VariableUncertaintyManager",
    "make_manager",
]

#: The budget is read as the nearest fraction with a denominator up to this (0.05 = 1/20).
MAX_DENOMINATOR = 10**6


def check_budget(budget) -> float:
    """A budget in (0, 1], or a clear error naming ``--budget``."""
    if isinstance(budget, bool) or not isinstance(budget, int | float | np.floating):
        raise InvalidInputError(f"--budget must be a number in (0, 1], got {shorten(budget)}.")
    b = float(budget)
    if not (np.isfinite(b) and 0.0 < b <= 1.0):
        raise InvalidInputError(
            f"--budget must be a share of the stream in (0, 1] (e.g. 0.05), got {shorten(b)}."
        )
    return b


def _positive_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {shorten(v)}.")
    return int(v)


def _unit_interval(name: str, v, *, open_right: bool = False) -> float:
    ok = isinstance(v, int | float | np.floating) and not isinstance(v, bool)
    if ok:
        v = float(v)
        ok = np.isfinite(v) and 0.0 < v and (v < 1.0 if open_right else v <= 1.0)
    if not ok:
        bound = "(0, 1)" if open_right else "(0, 1]"
        raise InvalidInputError(f"{name} must be a number in {bound}, got {shorten(v)}.")
    return v


class TokenBucket:
    """The hard cap: a bucket of ``burst`` label credits refilled at ``budget`` per sample.

    Each sample adds ``budget`` credit (the bucket holds at most ``burst``), an ask
    needs and spends one whole credit, and the bucket starts full. Credit is counted
    in integers (units of ``1/q`` with ``budget = p/q``), so there is no rounding drift.

    Guarantee: over every window of ``W`` consecutive samples at most
    ``burst + floor((W - 1) * budget)`` are asked, which is at most
    ``ceil(budget * W) + burst - 1``; with the default ``burst=1``, at most
    ``ceil(budget * W)``. (Proof: the credit after the window's first refill is at
    most ``burst``, the ``W - 1`` later refills add at most ``(W - 1) * budget``, each
    ask takes 1 and the credit never goes below 0.)

    Parameters
    ----------
    budget : float
        Share of the stream that may be asked, in (0, 1].
    burst : int, default=1
        How many asks the bucket may save up for a run of uncertain samples.
    """

    def __init__(self, budget: float, burst: int = 1):
        self.budget = budget
        self.burst = burst
        frac = Fraction(check_budget(budget)).limit_denominator(MAX_DENOMINATOR)
        self.p_, self.q_ = frac.numerator, frac.denominator
        self.cap_ = _positive_int("burst", burst) * self.q_
        self.credit_ = self.cap_

    def refill(self) -> bool:
        """Add one sample's credit; whether an ask is allowed now."""
        self.credit_ = min(self.cap_, self.credit_ + self.p_)
        return self.credit_ >= self.q_

    def spend(self) -> None:
        """Take one ask's credit (only after :meth:`refill` said it was allowed)."""
        if self.credit_ < self.q_:
            raise InvalidInputError("the label budget has no credit left for this ask.")
        self.credit_ -= self.q_

    def max_asked(self, window: int) -> int:
        """The most asks any ``window`` consecutive samples can hold (the guarantee)."""
        return self.cap_ // self.q_ + ((window - 1) * self.p_) // self.q_

    def get_state(self) -> dict:
        return {"credit": self.credit_}

    def set_state(self, state: dict) -> None:
        self.credit_ = min(self.cap_, int(state["credit"]))


class _Manager(ABC):
    """Shared by every manager: the budget and the decide/state interface."""

    name = ""

    @abstractmethod
    def decide(self, utility: float, *, allowed: bool = True) -> bool:
        """Whether to ask for this sample's label, given its utility in [0, 1]."""

    def get_state(self) -> dict:
        return {k: v for k, v in vars(self).items() if k.endswith("_")}

    def set_state(self, state: dict) -> None:
        for k, v in state.items():
            if k in vars(self):
                setattr(self, k, v)


class _EstimatedBudget(_Manager):
    """Žliobaitė et al.'s running estimate of the spend over the last ``w`` samples."""

    def __init__(self, budget: float, *, w: int = 100):
        self.budget = check_budget(budget)
        self.w = _positive_int("w", w)
        self.u_t_ = 0.0

    def _budget_left(self, allowed: bool) -> bool:
        return allowed and self.u_t_ / self.w < self.budget

    def _count(self, asked: bool) -> None:
        self.u_t_ = self.u_t_ * ((self.w - 1) / self.w) + float(asked)


class FixedManager(_EstimatedBudget):
    """Ask when the utility reaches ``threshold`` (default ``1 - budget``).

    With the normalised least-confidence utility ``(1 - p1) C / (C - 1)`` the
    default is Žliobaitė et al.'s fixed threshold ``theta = 1/C + budget (1 - 1/C)``
    on the top probability ``p1`` (scikit-activeml's ``FixedUncertaintyBudgetManager``).

    Parameters
    ----------
    budget : float
    threshold : float, optional
        Utility from which to ask, in (0, 1]; default ``1 - budget``.
    w : int, default=100
        Window of the spend estimate.
    """

    name = "fixed"

    def __init__(self, budget: float, *, threshold: float | None = None, w: int = 100):
        super().__init__(budget, w=w)
        self.threshold = (
            1.0 - self.budget if threshold is None else _unit_interval("threshold", threshold)
        )

    def decide(self, utility: float, *, allowed: bool = True) -> bool:
        asked = self._budget_left(allowed) and utility >= self.threshold
        self._count(asked)
        return bool(asked)


class VariableUncertaintyManager(_EstimatedBudget):
    """Žliobaitė et al.'s variable uncertainty threshold.

    Ask when the confidence ``1 - utility`` is below ``theta_`` (starting at
    ``theta``); ``theta_`` shrinks by the factor ``1 - s`` after an ask and grows by
    ``1 + s`` after a pass, so the asks follow the budget whatever the model's scale.

    Parameters
    ----------
    budget : float
    theta : float, default=1.0
    s : float, default=0.01
        Step of the threshold, in (0, 1].
    w : int, default=100
    """

    name = "variable_uncertainty"

    def __init__(self, budget: float, *, theta: float = 1.0, s: float = 0.01, w: int = 100):
        super().__init__(budget, w=w)
        self.theta = _unit_interval("theta", theta)
        self.s = _unit_interval("s", s)
        self.theta_ = self.theta

    def _variable(self, utility: float) -> bool:
        asked = (1.0 - utility) < self.theta_
        self.theta_ *= (1.0 - self.s) if asked else (1.0 + self.s)
        return asked

    def decide(self, utility: float, *, allowed: bool = True) -> bool:
        asked = self._budget_left(allowed) and self._variable(utility)
        self._count(asked)
        return bool(asked)


class SplitManager(VariableUncertaintyManager):
    """Žliobaitė et al.'s split strategy: some random asks, the rest by variable threshold.

    While budget is left, each step draws ``r``; when ``r < v`` it asks with
    probability ``budget`` (a second draw), without touching the threshold, which
    keeps labelling regions the model is sure about (drift shows up there first);
    otherwise the variable threshold decides.

    Parameters
    ----------
    budget : float
    v : float, default=0.1
        Share of the steps decided at random, in (0, 1).
    theta, s, w :
        As :class:`VariableUncertaintyManager`.
    random_state : int, numpy.random.Generator or None
    """

    name = "split"

    def __init__(
        self,
        budget: float,
        *,
        v: float = 0.1,
        theta: float = 1.0,
        s: float = 0.01,
        w: int = 100,
        random_state=None,
    ):
        super().__init__(budget, theta=theta, s=s, w=w)
        self.v = _unit_interval("v", v, open_right=True)
        self.random_state = random_state
        self.rng_ = np.random.default_rng(random_state)

    def decide(self, utility: float, *, allowed: bool = True) -> bool:
        asked = False
        if self._budget_left(allowed):
            if self.v > self.rng_.random():
                asked = self.rng_.random() <= self.budget
            else:
                asked = self._variable(utility)
        self._count(asked)
        return bool(asked)

    def get_state(self) -> dict:
        return {"u_t_": self.u_t_, "theta_": self.theta_, "rng_": self.rng_.bit_generator.state}

    def set_state(self, state: dict) -> None:
        self.u_t_, self.theta_ = float(state["u_t_"]), float(state["theta_"])
        self.rng_.bit_generator.state = state["rng_"]


class BalancedIncomingManager(_Manager):
    """Balanced incremental quantile filter (Kottke et al. 2015).

    For each sample: ``theta`` is the ``1 - budget`` quantile of the last ``w``
    utilities (this one included); ``acq_left = budget * n_seen - n_asked`` is how
    far the asks lag behind the budget; ask when
    ``utility >= theta - (max - min of those utilities) * acq_left / w_tol``.

    Parameters
    ----------
    budget : float
    w : int, default=100
        How many recent utilities the quantile is taken over.
    w_tol : float, default=50
        How strongly the lag moves the threshold (larger: less).
    """

    name = "balanced_incoming"

    def __init__(self, budget: float, *, w: int = 100, w_tol: float = 50):
        self.budget = check_budget(budget)
        self.w = _positive_int("w", w)
        if isinstance(w_tol, bool) or not isinstance(w_tol, int | float) or not w_tol > 0:
            raise InvalidInputError(f"w_tol must be a positive number, got {shorten(w_tol)}.")
        self.w_tol = float(w_tol)
        self.n_seen_ = 0
        self.n_asked_ = 0
        self.history_: deque[float] = deque(maxlen=self.w)

    def decide(self, utility: float, *, allowed: bool = True) -> bool:
        self.n_seen_ += 1
        self.history_.append(float(utility))
        recent = np.fromiter(self.history_, dtype=np.float64)
        theta = np.quantile(recent, 1.0 - self.budget)
        spread = recent.max() - recent.min()
        acq_left = self.budget * self.n_seen_ - self.n_asked_
        asked = allowed and utility >= theta - spread * acq_left / self.w_tol
        self.n_asked_ += int(asked)
        return bool(asked)

    def get_state(self) -> dict:
        return {"n_seen_": self.n_seen_, "n_asked_": self.n_asked_, "history_": list(self.history_)}

    def set_state(self, state: dict) -> None:
        self.n_seen_, self.n_asked_ = int(state["n_seen_"]), int(state["n_asked_"])
        self.history_ = deque((float(u) for u in state["history_"]), maxlen=self.w)


MANAGERS: dict[str, type[_Manager]] = {
    "fixed": FixedManager,
    "variable_uncertainty": VariableUncertaintyManager,
    "split": SplitManager,
    "balanced_incoming": BalancedIncomingManager,
}


def make_manager(name: str, budget: float, *, random_state=None, **params) -> _Manager:
    """A budget manager by name: fixed, variable_uncertainty, split or balanced_incoming."""
    if name not in MANAGERS:
        raise UnknownNameError(
            f"unknown budget manager {shorten(name)}; choose one of {', '.join(MANAGERS)}."
            + did_you_mean(str(name), MANAGERS)
        )
    cls = MANAGERS[name]
    if cls is SplitManager:
        params["random_state"] = random_state
    try:
        return cls(budget, **params)
    except TypeError as e:  # an unknown parameter name
        raise InvalidInputError(f"manager {name!r}: {e}.") from None
