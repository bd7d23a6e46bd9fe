"""The active-learning loop: select -> label -> refit -> evaluate, round after round.

Strategies never fit models or touch storage: the loop fits, computes what the
strategy needs (probabilities, committee votes, features), asks the strategy
for a batch, gets labels from the oracle, and records every pick's provenance.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from labelwise._validation import check_batch_size, check_indices, check_X
from labelwise.errors import EmptyPoolError, InvalidInputError
from labelwise.loop._metrics import get_metric
from labelwise.loop._stopping import StoppingRule, check_rules
from labelwise.models import BaggingCommittee, make_model
from labelwise.strategies import QueryContext, Selection, Strategy, get_strategy

__all__ = ["RoundRecord", "LoopResult", "ActiveLoop"]

COLD_START_NOTE = "cold start: no model yet, diversity on features alone"


@dataclass
class RoundRecord:
    """One round: the batch that was chosen and what the model did afterwards.

    Round 0 is the initial fit (no selection).
    """

    round: int
    n_labeled: int
    n_queried: int
    metric: float | None
    model_version: int
    selection: Selection | None = None
    signals: dict[str, str | None] = field(default_factory=dict)
    seconds_select: float = 0.0
    seconds_fit: float = 0.0


@dataclass
class LoopResult:
    """The history of a run and why it ended."""

    history: list[RoundRecord]
    stopped_by: dict[str, str]

    @property
    def labels(self) -> list[int]:
        """Number of labeled samples after each round."""
        return [h.n_labeled for h in self.history]

    @property
    def curve(self) -> list[float | None]:
        """Metric after each round."""
        return [h.metric for h in self.history]


class ActiveLoop:
    """Pool-based active learning with a model, a strategy and an oracle.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features (or embeddings) of the whole pool.
    oracle : object with ``label(indices) -> labels``
        E.g. :class:`~labelwise.loop.SimulatedOracle`.
    initial : array-like of int
        Pool rows labeled before the first round (their labels come from the oracle).
    classes : array-like
        Every class of the task.
    model : str or sklearn estimator, default="logreg"
    strategy : str or Strategy, default="margin"
    batch_size : int, default=10
    X_eval, y_eval : arrays, optional
        Held-out evaluation data; without them ``metric`` is None every round.
    metric : str, default="accuracy"
    stopping : sequence of stopping rules, default=()
        The loop also stops when the pool is exhausted.
    n_members : int, default=5
        Committee size for strategies that need a committee (bagging of ``model``).
    random_state : int or None

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from labelwise.loop import ActiveLoop, SimulatedOracle, LabelBudget
    >>> X, y = load_iris(return_X_y=True)
    >>> loop = ActiveLoop(X, oracle=SimulatedOracle(y), initial=[0, 50, 100], classes=[0, 1, 2],
    ...                   X_eval=X, y_eval=y, batch_size=5, stopping=[LabelBudget(10)],
    ...                   random_state=0)
    >>> result = loop.run()
    >>> result.labels, list(result.stopped_by)
    ([3, 8, 13], ['label_budget'])
    """

    def __init__(
        self,
        X,
        *,
        oracle,
        initial,
        classes,
        model="logreg",
        strategy="margin",
        batch_size: int = 10,
        X_eval=None,
        y_eval=None,
        metric: str = "accuracy",
        stopping: Sequence[StoppingRule] = (),
        n_members: int = 5,
        random_state=None,
    ):
        self.X = check_X(X)
        self.oracle = oracle
        self.classes = np.asarray(classes)
        if self.classes.size < 2:
            raise InvalidInputError("the task needs at least 2 classes.")
        self.strategy: Strategy = get_strategy(strategy) if isinstance(strategy, str) else strategy
        self.batch_size = check_batch_size(batch_size)
        self.metric_name = metric
        self._metric = get_metric(metric)
        if (X_eval is None) != (y_eval is None):
            raise InvalidInputError("pass both X_eval and y_eval, or neither.")
        self.X_eval = None if X_eval is None else check_X(X_eval, name="X_eval")
        self.y_eval = None if y_eval is None else np.asarray(y_eval)
        self.stopping = list(stopping)
        self.random_state = random_state
        self._rng = np.random.default_rng(random_state)
        # An int seed seeds the model as it is, so that runs differing only in the
        # strategy share the same model randomness (fair comparisons in the bench).
        seed = (
            int(random_state)
            if isinstance(random_state, int | np.integer)
            else int(self._rng.integers(2**31 - 1))
        )
        self.model = make_model(model, classes=self.classes, random_state=seed)
        self.committee = (
            BaggingCommittee(self.model, n_members=n_members, random_state=seed)
            if "committee" in self.strategy.needs
            else None
        )
        n = self.X.shape[0]
        init = check_indices(initial, n, name="initial")
        self._unlabeled = np.ones(n, dtype=bool)
        self._labeled: list[int] = []
        self._y: list = []
        self.model_version = 0
        self._fitted = False
        self.history: list[RoundRecord] = []
        if init.size:
            self._add(init, self.oracle.label(init))
        self._n_initial = init.size

    # -- state -------------------------------------------------------------------------------
    @property
    def labeled(self) -> np.ndarray:
        """Indices of the labeled pool rows, in the order they were labeled."""
        return np.asarray(self._labeled, dtype=np.intp)

    @property
    def y_labeled(self) -> np.ndarray:
        """Labels of :attr:`labeled`."""
        return np.asarray(self._y)

    @property
    def candidates(self) -> np.ndarray:
        """Indices of the pool rows not labeled yet."""
        return np.flatnonzero(self._unlabeled)

    def _add(self, idx: np.ndarray, labels) -> None:
        labels = np.asarray(labels)
        unknown = np.setdiff1d(np.unique(labels), self.classes)
        if unknown.size:
            raise InvalidInputError(
                f"the oracle returned labels {unknown[:5].tolist()} that are not among the "
                f"classes {self.classes.tolist()}."
            )
        self._unlabeled[idx] = False
        self._labeled.extend(idx.tolist())
        self._y.extend(labels.tolist())

    # -- steps -------------------------------------------------------------------------------
    def fit(self) -> None:
        """Refit the model (and the committee) on every labeled row."""
        if not self._labeled:
            return
        Xl, yl = self.X[self.labeled], self.y_labeled
        self.model.fit(Xl, yl)
        if self.committee is not None:
            self.committee.fit(Xl, yl)
        self.model_version += 1
        self._fitted = True

    def evaluate(self) -> float | None:
        """The metric on the evaluation set, or None without one."""
        if self.X_eval is None or not self._fitted:
            return None
        return self._metric(self.y_eval, self.model.predict(self.X_eval))

    def select(self, batch_size: int | None = None) -> Selection:
        """Choose the next batch (does not label it)."""
        b = self.batch_size if batch_size is None else check_batch_size(batch_size)
        cand = self.candidates
        if cand.size == 0:
            raise EmptyPoolError("The pool is exhausted: every sample is labeled.")
        strategy, note = self.strategy, ""
        model_needs = {"proba", "committee"} & strategy.needs
        if model_needs and not self._fitted:
            strategy, note = get_strategy("k_center_greedy"), COLD_START_NOTE
        ctx = self._context(strategy, cand)
        sel = strategy.query(ctx, b, self._rng)
        if note:
            sel.note = note
        return sel

    def _context(self, strategy: Strategy, cand: np.ndarray) -> QueryContext:
        needs = strategy.needs
        Xc = self.X[cand] if needs & {"proba", "committee"} else None
        return QueryContext(
            candidates=cand,
            labeled=self.labeled,
            X=self.X if needs & {"X", "labeled"} else None,
            proba=self.model.predict_proba(Xc) if "proba" in needs else None,
            probas=self.committee.predict_proba(Xc) if "committee" in needs else None,
            n_classes=self.classes.size,
        )

    def _record(self, rnd: int, sel: Selection | None, t_sel: float, t_fit: float) -> RoundRecord:
        rec = RoundRecord(
            round=rnd,
            n_labeled=len(self._labeled),
            n_queried=len(self._labeled) - self._n_initial,
            metric=self.evaluate(),
            model_version=self.model_version,
            selection=sel,
            seconds_select=t_sel,
            seconds_fit=t_fit,
        )
        self.history.append(rec)
        rec.signals = check_rules(self.stopping, self.history)
        return rec

    def start(self) -> RoundRecord:
        """Fit on the initial labels and record round 0."""
        t0 = time.perf_counter()
        self.fit()
        return self._record(0, None, 0.0, time.perf_counter() - t0)

    def step(self) -> RoundRecord:
        """One round: select, label through the oracle, refit, evaluate, check stopping."""
        if not self.history:
            self.start()
        t0 = time.perf_counter()
        b = self.batch_size
        for rule in self.stopping:  # never query past a label budget
            budget = getattr(rule, "budget", None)
            if budget is not None:
                b = max(1, min(b, budget - self.history[-1].n_queried))
        sel = self.select(b)
        t1 = time.perf_counter()
        self._add(sel.indices, self.oracle.label(sel.indices))
        self.fit()
        t2 = time.perf_counter()
        return self._record(len(self.history), sel, t1 - t0, t2 - t1)

    def run(
        self,
        *,
        max_rounds: int | None = None,
        callback: Callable[[RoundRecord], None] | None = None,
    ) -> LoopResult:
        """Run rounds until a stopping rule fires, the pool is exhausted or ``max_rounds``."""
        rec = self.history[-1] if self.history else self.start()
        if callback:
            callback(rec)
        rounds = 0
        while True:
            fired = {k: v for k, v in rec.signals.items() if v}
            if fired:
                return LoopResult(self.history, fired)
            if not self._unlabeled.any():
                return LoopResult(self.history, {"pool_exhausted": "every sample is labeled"})
            if max_rounds is not None and rounds >= max_rounds:
                return LoopResult(self.history, {"max_rounds": f"{max_rounds} rounds run"})
            rec = self.step()
            rounds += 1
            if callback:
                callback(rec)
