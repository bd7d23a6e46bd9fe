"""The active-learning loop: select -> label -> refit -> evaluate, round after round.

Strategies never fit models or touch storage: the loop fits, computes what the
strategy needs (probabilities, committee votes, features), asks the strategy
for a batch, gets labels from the oracle, and records every pick's provenance.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from labelwise._validation import check_batch_size, check_indices, check_X
from labelwise.errors import EmptyPoolError, InvalidInputError
from labelwise.loop._metrics import DEFAULT_METRIC, get_metric
from labelwise.loop._stopping import CostBudget, LabelBudget, StoppingRule, check_rules
from labelwise.loop._tasks import DEFAULT_MODEL, DEFAULT_STRATEGY, get_task
from labelwise.strategies import QueryContext, Selection, Strategy, get_strategy, strategy_names
from labelwise.strategies._neighbors import knn_search, nearest_distance
from labelwise.strategies._registry import MODEL_NEEDS

__all__ = ["RoundRecord", "LoopResult", "ActiveLoop"]

COLD_START_NOTE = "cold start: no model yet, diversity on features alone"
_COST_TOL = 1e-9  # float slack when summing costs against a budget


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
    cost_spent: float = 0.0
    kappa: float | None = None
    train_loss: float | None = None
    val_loss: float | None = None
    max_score: float | None = None
    elapsed: float = 0.0
    temperature: float | None = None


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


def check_cost(cost, n: int) -> np.ndarray:
    """Validate a per-sample labeling cost: finite, > 0, one per pool row."""
    c = np.asarray(cost, dtype=np.float64)
    if c.shape != (n,):
        raise InvalidInputError(
            f"cost must have one value per pool row ({n}), got shape {c.shape}."
        )
    bad = np.flatnonzero(~np.isfinite(c) | (c <= 0))
    if bad.size:
        raise InvalidInputError(
            f"cost must be finite and > 0; row {int(bad[0])} has {float(c[bad[0]])} "
            f"({bad.size} bad row(s) in all). Give every sample a positive cost."
        )
    return c


def _max_score(sel: Selection | None) -> float | None:
    if sel is None:
        return None
    if sel.criteria:
        return float(np.max(next(iter(sel.criteria.values()))))
    if sel.at_pick:
        return float(np.max(next(iter(sel.at_pick.values()))))
    return None


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
    classes : array-like, optional
        Every class of the task (the label names for multi-label; unused for regression).
    task : {"classification", "regression", "multilabel"}, default="classification"
        For multi-label, labels are 0/1 rows with one column per label name.
    model : str or sklearn estimator, optional
        A classifier name (``logreg``, ``svm``, ``rf``, ``knn``, ``mlp``, ``torch_mlp``,
        ``torch_head``, ``torch_cnn``; default
        ``logreg``) or, for regression, a regressor name (``ridge``, ``rf``, ``gp``,
        ``knn``; default ``ridge``), or an estimator object.
    strategy : str or Strategy, optional
        Default: ``auto``, ``committee_std`` or ``multilabel_mean`` by task.
    batch_size : int, default=10
    X_eval, y_eval : arrays, optional
        Held-out evaluation data; without them ``metric`` is None every round.
    metric : str, optional
        Default: ``accuracy``, ``r2`` or ``micro_f1`` by task.
    stopping : sequence of stopping rules, default=()
        The loop also stops when the pool is exhausted.
    n_members : int, default=5
        Committee size for strategies that need a committee (bagging of ``model``). A
        model with ``predict_proba_samples`` (``torch_mlp``, ``TorchClassifier``) is its
        own committee instead: its MC-dropout passes or ensemble members, no bagging.
    cost : array-like of shape (n_samples,), optional
        Labeling cost of every pool row (seconds, boxes, money), all > 0. Scorer
        strategies then rank by ``score / cost**cost_lambda`` and the rounds
        record the cost spent (for :class:`~labelwise.loop.CostBudget`).
    cost_lambda : float, default=1.0
    calibrate : bool, default=False
        Temperature-scale the model's probabilities on out-of-fold predictions
        of the labeled rows before scoring.
    stop_set_size : int, default=1000
        Size of the fixed random stop set on which successive models' predictions
        are compared (Cohen's kappa, for :class:`~labelwise.loop.StabilizingPredictions`);
        0 turns it off.
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
        classes=None,
        task: str = "classification",
        model=None,
        strategy=None,
        batch_size: int = 10,
        X_eval=None,
        y_eval=None,
        metric: str | None = None,
        stopping: Sequence[StoppingRule] = (),
        n_members: int = 5,
        cost=None,
        cost_lambda: float = 1.0,
        calibrate: bool = False,
        stop_set_size: int = 1000,
        random_state=None,
    ):
        self.X = check_X(X)
        self.oracle = oracle
        self.task = get_task(task, classes)
        self.classes = self.task.classes
        strategy = DEFAULT_STRATEGY[task] if strategy is None else strategy
        self.strategy: Strategy = get_strategy(strategy) if isinstance(strategy, str) else strategy
        if self.strategy.task not in (task, "any"):
            fits = strategy_names(task)
            raise InvalidInputError(
                f"strategy {self.strategy.name!r} is for {self.strategy.task}, but the task is "
                f"{task}; choose one of {fits[:8]}."
            )
        self.batch_size = check_batch_size(batch_size)
        self.metric_name = DEFAULT_METRIC[task] if metric is None else metric
        self._metric = get_metric(self.metric_name, task)
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
        model = DEFAULT_MODEL[task] if model is None else model
        base, self.model = self.task.model(model, calibrate=calibrate, seed=seed)
        self.committee = (
            self.task.committee(base, n_members, seed)
            if self.strategy.needs & {"committee", "regression_committee"}
            else None
        )
        n = self.X.shape[0]
        self.cost = None if cost is None else check_cost(cost, n)
        if self.cost is not None and not self.strategy.cost_aware:
            raise InvalidInputError(
                f"strategy {self.strategy.name!r} does not use a per-sample cost; use a scorer "
                "strategy (e.g. margin, entropy) or 'weighted' for cost-aware selection."
            )
        self.cost_lambda = float(cost_lambda)
        size = min(int(stop_set_size), n)
        self._stop_set = np.sort(self._rng.choice(n, size=size, replace=False)) if size else None
        self._stop_pred: np.ndarray | None = None
        self._proba_version = -1
        self._proba_cache: np.ndarray | None = None
        self._t_start = time.perf_counter()
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
        labels = self.task.check_labels(labels)
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
        return self._evaluate()[0]

    def _evaluate(self) -> tuple[float | None, float | None]:
        """(metric, log loss) on the evaluation set."""
        if self.X_eval is None or not self._fitted:
            return None, None
        out = self.task.output(self.model, self.X_eval)
        return self._metric(self.y_eval, self.task.predict(out)), self.task.loss(self.y_eval, out)

    def _diagnostics(self) -> dict:
        """Everything the stopping rules read, for the round just finished."""
        metric, val_loss = self._evaluate()
        out = {"metric": metric, "val_loss": val_loss, "kappa": None, "train_loss": None}
        if not self._fitted:
            return out
        out["train_loss"] = self.task.loss(self.y_labeled, self._output_for(self.labeled))
        if self._stop_set is not None:
            pred = self.task.predict(self._output_for(self._stop_set))
            if self._stop_pred is not None:
                out["kappa"] = self.task.agreement(self._stop_pred, pred)
            self._stop_pred = pred
        return out

    def select(self, batch_size: int | None = None, *, candidates=None) -> Selection:
        """Choose the next batch (does not label it).

        ``candidates`` narrows the unlabeled rows to choose from (default: all of them).
        """
        b = self.batch_size if batch_size is None else check_batch_size(batch_size)
        cand = self.candidates if candidates is None else np.asarray(candidates, dtype=np.intp)
        if cand.size == 0:
            raise EmptyPoolError("The pool is exhausted: every sample is labeled.")
        strategy, note = self.strategy, ""
        if MODEL_NEEDS & strategy.needs and not self._fitted:
            strategy, note = get_strategy("k_center_greedy"), COLD_START_NOTE
        ctx = self._context(strategy, cand)
        if ctx.cost is not None and not strategy.cost_aware:  # cold-start fallback
            ctx = replace(ctx, cost=None)
        sel = strategy.query(ctx, b, self._rng)
        if note:
            sel.note = note
        sigma = self._sigma_from_labeled(sel.indices)
        if sigma is not None:
            sel.at_pick["sigma_from_labeled"] = sigma
        return sel

    def _sigma_from_labeled(self, picks: np.ndarray) -> np.ndarray | None:
        """How far each pick is from the labeled set, in σ of the labeled set's own spacing.

        The spacing is each labeled sample's distance to its nearest labeled
        neighbour (on a sample of at most 2,000 labeled rows); a pick 4σ out lies
        far outside the region the model has seen.
        """
        lab = self.labeled
        if lab.size < 3 or picks.size == 0:
            return None
        ref = lab if lab.size <= 2000 else self._rng.choice(lab, size=2000, replace=False)
        spacing = knn_search(self.X[ref], self.X[ref], 1, exclude_self=True)[0][:, 0]
        sd = float(spacing.std())
        if sd <= 0:
            return None
        d = nearest_distance(self.X[picks], self.X[lab])
        return (d - float(spacing.mean())) / sd

    def _pool_output(self) -> np.ndarray:
        """The current model's output (probabilities or predictions) for every pool row.

        Computed once per model version and shared by selection and diagnostics.
        """
        if self._proba_version != self.model_version:
            self._proba_cache = self.task.output(self.model, self.X)
            self._proba_version = self.model_version
        return self._proba_cache

    def _output_for(self, rows: np.ndarray) -> np.ndarray:
        """Model output for some rows: from the pool cache when current, else just those rows."""
        if self._proba_version == self.model_version:
            return self._proba_cache[rows]
        return self.task.output(self.model, self.X[rows])

    def _context(self, strategy: Strategy, cand: np.ndarray) -> QueryContext:
        needs = strategy.needs
        Xc = self.X[cand] if needs & {"committee", "regression_committee", "std"} else None
        return QueryContext(
            candidates=cand,
            labeled=self.labeled,
            X=self.X if needs & {"X", "labeled"} else None,
            proba=self._pool_output()[cand] if "proba" in needs else None,
            probas=self.committee.predict_proba(Xc) if "committee" in needs else None,
            predictions=self.committee.predict(Xc) if "regression_committee" in needs else None,
            std=self.model.predict_std(Xc) if "std" in needs else None,
            # the fitted model whenever there is one: badge and expected_gradient_length
            # ask a network for its own gradients (models.model_method)
            model=self.model if self._fitted else None,
            y_labeled=self.y_labeled if "model" in needs else None,
            n_classes=None if self.classes is None else self.classes.size,
            cost=None if self.cost is None else self.cost[cand],
        )

    def _record(self, rnd: int, sel: Selection | None, t_sel: float, t_fit: float) -> RoundRecord:
        queried = self.labeled[self._n_initial :]
        spent = float(self.cost[queried].sum()) if self.cost is not None else float(queried.size)
        rec = RoundRecord(
            round=rnd,
            n_labeled=len(self._labeled),
            n_queried=len(self._labeled) - self._n_initial,
            model_version=self.model_version,
            selection=sel,
            seconds_select=t_sel,
            seconds_fit=t_fit,
            cost_spent=spent,
            max_score=_max_score(sel),
            elapsed=time.perf_counter() - self._t_start,
            temperature=getattr(self.model, "temperature_", None),
            **self._diagnostics(),
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
            if isinstance(rule, LabelBudget):
                b = max(1, min(b, rule.budget - self.history[-1].n_queried))
        left = self._cost_left()
        if left is None:
            sel = self.select(b)
        else:  # never spend past a cost budget: fill the batch by cost
            sel = self._select_within(b, left)
        t1 = time.perf_counter()
        self._add(sel.indices, self.oracle.label(sel.indices))
        self.fit()
        t2 = time.perf_counter()
        return self._record(len(self.history), sel, t1 - t0, t2 - t1)

    def _unit_cost(self, rows: np.ndarray) -> np.ndarray:
        """Labeling cost of some pool rows (1 each without a per-sample cost)."""
        return np.ones(rows.size) if self.cost is None else self.cost[rows]

    def _cost_left(self) -> float | None:
        """The smallest cost budget left over all :class:`CostBudget` rules, or None."""
        budgets = [r.budget for r in self.stopping if isinstance(r, CostBudget)]
        if not budgets:
            return None
        return min(budgets) - self.history[-1].cost_spent

    def _select_within(self, b: int, left: float) -> Selection:
        """A batch of at most ``b`` picks whose summed cost fits in ``left``.

        Candidates that alone cost more than ``left`` are left out; the picks are
        taken in ranked order while the running total fits, so a batch can be
        short (the last round of a budget) but the budget is never exceeded.
        """
        cand = self.candidates
        c = self._unit_cost(cand)
        fits = c <= left + _COST_TOL
        if not fits.any():
            raise EmptyPoolError(
                f"the cost budget left ({left:g}) is less than the cost of any unlabeled "
                f"sample (the cheapest costs {float(c.min()):g})."
            )
        # the most picks that can fit: the cheapest ones first
        n_max = int(np.searchsorted(np.cumsum(np.sort(c[fits])), left + _COST_TOL, "right"))
        sel = self.select(min(b, n_max), candidates=cand[fits])
        total = np.cumsum(self._unit_cost(sel.indices))
        n = int(np.searchsorted(total, left + _COST_TOL, side="right"))
        if n < sel.indices.size:
            sel.indices = sel.indices[:n]
            sel.at_pick = {k: v[:n] for k, v in sel.at_pick.items()}
            sel.pick_notes = sel.pick_notes[:n]
        return sel

    def _cost_exhausted(self) -> str | None:
        """Why no further pick fits a cost budget (every candidate costs more than is left)."""
        left = self._cost_left()
        if left is None:
            return None
        cheapest = float(self._unit_cost(self.candidates).min())
        if cheapest <= left + _COST_TOL:
            return None
        spent = self.history[-1].cost_spent
        return (
            f"cost budget reached: {spent:g} of {spent + left:g} spent; the cheapest unlabeled "
            f"sample costs {cheapest:g}, more than the {max(left, 0.0):g} left"
        )

    def forecast(self, target: float, **kw):
        """Labels needed to reach ``target``, from the learning curve so far."""
        from labelwise.loop._forecast import forecast_labels

        pts = [(h.n_labeled, h.metric) for h in self.history if h.metric is not None]
        if len(pts) < 3:
            raise InvalidInputError("a forecast needs an evaluation set and at least 3 rounds.")
        x, y = zip(*pts, strict=True)
        return forecast_labels(x, y, target, metric=self.metric_name, **kw)

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
            spent_out = self._cost_exhausted()
            if spent_out:
                return LoopResult(self.history, {"cost_budget": spent_out})
            if max_rounds is not None and rounds >= max_rounds:
                return LoopResult(self.history, {"max_rounds": f"{max_rounds} rounds run"})
            rec = self.step()
            rounds += 1
            if callback:
                callback(rec)
