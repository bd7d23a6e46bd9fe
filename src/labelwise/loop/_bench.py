"""Simulation bench: every strategy against random on data whose labels are known.

Protocol (PRODUCT.md §3), for each seed ``s``:

1. shuffle the rows with ``numpy.random.default_rng(s)``; the first
   ``floor(n * (1 - test_size))`` rows are the pool, the rest the test set;
2. preprocess the features (``preprocess``, default ``auto``: L2-normalised rows for
   embeddings, pool mean and std per column for tabular data; see
   :mod:`labelwise.loop._preprocess`);
3. the initial labeled set is the first ``initial`` pool rows of a second
   permutation from the same generator; a class missing there swaps in for the
   latest-drawn row of a class that has more than one (so every class is present
   and the size stays ``initial``);
4. every strategy starts from that same split and initial set, queries
   ``batch`` labels a round until ``budget`` labels are spent, refitting the
   model and scoring it on the test set after every round.

AUBC is the trapezoidal area under metric-vs-labels divided by the number of
queries (so it lies in the metric's range).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from labelwise.errors import InvalidInputError
from labelwise.loop._loop import ActiveLoop
from labelwise.loop._metrics import DEFAULT_METRIC, METRIC_CEILING, get_metric
from labelwise.loop._oracle import SimulatedOracle
from labelwise.loop._preprocess import Preprocessing, choose_preprocessing
from labelwise.loop._stopping import (
    DiminishingReturns,
    LabelBudget,
    StabilizingPredictions,
    StoppingRule,
    TargetMetric,
    check_rules,
)
from labelwise.loop._tasks import DEFAULT_MODEL, get_task
from labelwise.strategies import get_strategy

__all__ = ["aubc", "split_pool_test", "initial_set", "resolve_budget", "run_bench"]


def aubc(labels: Sequence[float], curve: Sequence[float]) -> float:
    """Area under the budget curve: trapezoidal area / number of queries.

    Examples
    --------
    >>> aubc([10, 20, 30], [0.5, 0.7, 0.9])
    0.7
    """
    x = np.asarray(labels, dtype=np.float64)
    y = np.asarray(curve, dtype=np.float64)
    if x.size == 1:
        return float(y[0])
    return round(float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0])), 12)


def split_pool_test(n: int, test_size: float, rng: np.random.Generator):
    """Shuffle ``range(n)``; first ``floor(n * (1 - test_size))`` = pool, rest = test."""
    if not 0.0 < test_size < 1.0:
        raise InvalidInputError(f"--test-size must be between 0 and 1, got {test_size}.")
    perm = rng.permutation(n)
    n_pool = int(math.floor(n * (1.0 - test_size) + 1e-9))
    if n_pool < 2 or n - n_pool < 1:
        raise InvalidInputError(
            f"{n} samples with --test-size {test_size} leave {n_pool} for the pool and "
            f"{n - n_pool} for the test set; use more data or another --test-size."
        )
    return perm[:n_pool], perm[n_pool:]


def initial_set(y, n_initial: int, rng: np.random.Generator) -> np.ndarray:
    """Random initial labeled set of size ``n_initial`` that contains every class of ``y``.

    Raises
    ------
    InvalidInputError
        If ``n_initial`` is smaller than the number of classes or larger than ``len(y)``.
    """
    y = np.asarray(y)
    classes = np.unique(y)
    if n_initial < classes.size:
        raise InvalidInputError(
            f"--initial {n_initial} is smaller than the number of classes ({classes.size}); "
            "every class must be in the initial labeled set."
        )
    if n_initial > y.size:
        raise InvalidInputError(
            f"--initial {n_initial} is larger than the pool ({y.size} samples); lower --initial."
        )
    order = rng.permutation(y.size)
    chosen = list(order[:n_initial])
    rest = list(order[n_initial:])
    for c in classes:
        if np.any(y[chosen] == c):
            continue
        newcomer = next(i for i in rest if y[i] == c)  # c is in y, so it is in rest
        counts = {k: int(np.sum(y[chosen] == k)) for k in np.unique(y[chosen])}
        for pos in range(len(chosen) - 1, -1, -1):
            if counts[y[chosen[pos]]] > 1:
                rest.remove(newcomer)
                chosen[pos] = newcomer
                break
    return np.asarray(chosen, dtype=np.intp)


def resolve_budget(budget, n_pool: int, n_initial: int) -> tuple[int, str | None]:
    """Turn ``"all"`` or an int into a number of queries, clipped to the pool; with a note."""
    room = n_pool - n_initial
    if isinstance(budget, str):
        if budget.strip().lower() != "all":
            try:
                budget = int(budget)
            except ValueError:
                raise InvalidInputError(
                    f"--budget must be a number of labels or 'all', got {budget!r}."
                ) from None
        else:
            return room, None
    if budget < 0:
        raise InvalidInputError(f"--budget must be >= 0, got {budget}.")
    if budget > room:
        return room, (
            f"budget {budget} is larger than the unlabeled pool ({room} = {n_pool} pool - "
            f"{n_initial} initial); clipped to {room}."
        )
    return int(budget), None


def _run_one(
    X,
    y,
    classes,
    seed,
    strategy,
    *,
    task,
    model,
    cost,
    cost_lambda,
    initial,
    batch_size,
    budget,
    test_size,
    metric,
    watch: Sequence[StoppingRule],
    prep: Preprocessing,
    on_round=None,
):
    rng = np.random.default_rng(seed)
    pool, test = split_pool_test(X.shape[0], test_size, rng)
    Xp, Xt = prep.apply(X[pool], X[test])
    if task == "classification":
        init = initial_set(y[pool], initial, rng)
    else:
        init = rng.permutation(pool.size)[:initial]
    loop = ActiveLoop(
        Xp,
        oracle=SimulatedOracle(y[pool]),
        initial=init,
        classes=classes,
        task=task,
        model=model,
        strategy=strategy,
        cost=None if cost is None else cost[pool],
        cost_lambda=cost_lambda,
        batch_size=batch_size,
        X_eval=Xt,
        y_eval=y[test],
        metric=metric,
        stopping=[LabelBudget(budget)],
        random_state=seed,
    )
    result = loop.run(callback=on_round)
    hist = result.history
    stop = None
    first_fire: dict[str, int] = {}
    for t in range(1, len(hist) + 1):
        fired = {k: v for k, v in check_rules(watch, hist[:t]).items() if v}
        for name in fired:
            first_fire.setdefault(name, hist[t - 1].n_labeled)
        if fired and stop is None:
            name, reason = next(iter(fired.items()))
            stop = {"seed": seed, "labels": hist[t - 1].n_labeled, "rule": name, "reason": reason}
    if stop is not None:
        stop["rules"] = {r.name: first_fire.get(r.name) for r in watch}
    secs = [h.seconds_select + h.seconds_fit for h in hist[1:]]
    return {
        "labels": result.labels,
        "curve": [float(v) for v in result.curve],
        "seconds_per_round": float(np.mean(secs)) if secs else 0.0,
        "cost": [h.cost_spent for h in hist],
        "stop": stop,
        "n_pool": int(pool.size),
        "n_test": int(test.size),
    }


def run_bench(
    X,
    y,
    *,
    dataset: str = "",
    task: str = "classification",
    labels: Sequence[str] | None = None,
    model=None,
    strategies: Sequence[str] = ("margin", "random"),
    initial: int = 20,
    batch_size: int = 1,
    budget="all",
    seeds: int | Sequence[int] = 10,
    test_size: float = 0.4,
    metric: str | None = None,
    stop_target: float | None = None,
    stop_k: int | None = None,
    stop_delta: float = 0.005,
    cost=None,
    cost_lambda: float = 1.0,
    n_jobs: int = 1,
    preprocess: str = "auto",
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> dict:
    """Run the simulation protocol for every strategy and seed; return the results dict.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_labels)
        Class labels, numbers (regression) or a 0/1 matrix (multi-label).
    dataset : str
        Name recorded in the results.
    task : {"classification", "regression", "multilabel"}
    labels : sequence of str, optional
        Label names for multi-label (default ``label0, label1, ...``).
    model : str or sklearn estimator, optional
        Default ``svm`` for classification, ``ridge`` for regression, ``logreg``
        for multi-label.
    strategies : sequence of str
        Registered strategy names; ``random`` is the baseline.
    initial, batch_size : int
    budget : int or "all"
        Labels to query after the initial set; clipped to the pool with a note.
    seeds : int or sequence of int
        ``S`` means seeds ``0 .. S-1``.
    test_size : float
    metric : str
    stop_target, stop_k, stop_delta
        Stopping rules watched every round (they do not cut the curves): the
        first that fires is reported per seed as "would stop at N labels".
        ``stop_k`` (rounds of patience for diminishing returns) defaults to the
        rounds that cover 20 labels, at least 3.
    cost : array-like of shape (n_samples,), optional
        Labeling cost of every row (> 0): scorer strategies rank by
        ``score / cost**cost_lambda`` and the results add the cost spent per round.
    cost_lambda : float, default=1.0
    n_jobs : int
        Parallel workers over (seed, strategy) runs; -1 = all cores.
    preprocess : {"auto", "standardize", "l2", "none"}, default="auto"
        What runs on the features first: ``auto`` L2-normalises embeddings and
        standardises tabular columns (see
        :func:`~labelwise.loop._preprocess.choose_preprocessing`); the results
        say which ran (``preprocessing``).
    progress : callable(int), optional
        Called with the number of rounds just finished.
    on_total : callable(int), optional
        Called once with the total number of rounds.

    Returns
    -------
    results : dict
        The ``results.json`` schema: ``dataset``, ``n_pool``, ``n_test``, ``model``,
        ``metric``, ``preprocessing: {method, asked, why}``,
        ``strategies: {name: {aubc_mean, aubc_std, labels, curves, ...}}``.
    """
    from labelwise._validation import check_X

    X = np.asarray(check_X(X), dtype=np.float64)
    y = np.asarray(y)
    if y.shape[:1] != (X.shape[0],):
        raise InvalidInputError(
            f"y must have one label per row of X ({X.shape[0]}), got {y.shape}."
        )
    classes = _task_classes(task, y, labels)
    model = ("svm" if task == "classification" else DEFAULT_MODEL[task]) if model is None else model
    metric = DEFAULT_METRIC[task] if metric is None else metric
    strategies = list(dict.fromkeys(strategies))
    if not strategies:
        raise InvalidInputError("name at least one strategy, e.g. --strategies margin,random.")
    for s in strategies:
        st = get_strategy(s)
        if st.task not in (task, "any"):
            raise InvalidInputError(
                f"strategy {s!r} is for {st.task}, but the bench runs {task}; run "
                f"'labelwise strategies' for the {task} ones."
            )
    get_task(task, classes).model(model, calibrate=False, seed=0)  # fail fast on a bad name
    get_metric(metric, task)
    prep = choose_preprocessing(X, preprocess)
    seed_list = list(range(seeds)) if isinstance(seeds, int | np.integer) else list(seeds)
    if not seed_list:
        raise InvalidInputError("--seeds must be at least 1.")
    n_pool = int(math.floor(X.shape[0] * (1.0 - test_size) + 1e-9))
    split_pool_test(X.shape[0], test_size, np.random.default_rng(0))  # validates sizes
    if initial > n_pool:
        raise InvalidInputError(
            f"--initial {initial} is larger than the pool ({n_pool} of {X.shape[0]} samples "
            f"after the {test_size:g} test split); lower --initial."
        )
    if task == "classification":
        _check_classes(y, classes, initial)
    budget_n, note = resolve_budget(budget, n_pool, initial)
    notes = [note] if note else []
    if stop_k is None:
        stop_k = max(3, math.ceil(20 / batch_size))
    watch: list[StoppingRule] = [
        DiminishingReturns(stop_k, stop_delta, metric),
        StabilizingPredictions(0.99, stop_k),
    ]
    if stop_target is not None:
        watch.insert(0, TargetMetric(stop_target, metric))
    rounds_per_run = math.ceil(budget_n / batch_size) if budget_n else 0
    jobs = [(seed, s) for seed in seed_list for s in strategies]
    if cost is not None:
        from labelwise.loop._loop import check_cost

        cost = check_cost(cost, X.shape[0])
        blind = [s for s in strategies if not get_strategy(s).cost_aware]
        if blind:
            raise InvalidInputError(
                f"strateg(ies) {blind} do not use a per-sample cost; with a cost column use "
                "scorer strategies (e.g. margin, entropy, random) or 'weighted'."
            )
    kw = dict(
        task=task,
        model=model,
        cost=cost,
        cost_lambda=cost_lambda,
        initial=initial,
        batch_size=batch_size,
        budget=budget_n,
        test_size=test_size,
        metric=metric,
        watch=watch,
        prep=prep,
    )
    if on_total:  # every check is done: the work (and the progress bar) starts here
        on_total(rounds_per_run * len(jobs))
    t0 = time.perf_counter()
    runs: dict[tuple[int, str], dict] = {}
    if n_jobs == 1:
        for seed, s in jobs:
            tick = (lambda rec: rec.round and progress(1)) if progress else None
            runs[seed, s] = _run_one(X, y, classes, seed, s, on_round=tick, **kw)
    else:
        from joblib import Parallel, delayed

        par = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        out = par(delayed(_job)(X, y, classes, seed, s, kw) for seed, s in jobs)
        for key, r in out:
            runs[key] = r
            if progress:
                progress(rounds_per_run)
    first = runs[jobs[0]]
    res_strategies = {}
    for s in strategies:
        per_seed = [runs[seed, s] for seed in seed_list]
        scores = [aubc(r["labels"], r["curve"]) for r in per_seed]
        curves = [r["curve"] for r in per_seed]
        res_strategies[s] = {
            "aubc_mean": float(np.mean(scores)),
            "aubc_std": float(np.std(scores)),
            "aubc": scores,
            "labels": per_seed[0]["labels"],
            "curves": curves,
            "mean_curve": np.mean(curves, axis=0).tolist(),
            "std_curve": np.std(curves, axis=0).tolist(),
            "seconds_per_round": float(np.mean([r["seconds_per_round"] for r in per_seed])),
            "stopping": [r["stop"] for r in per_seed],
        }
        if cost is not None:
            res_strategies[s]["cost_mean_curve"] = np.mean(
                [r["cost"] for r in per_seed], axis=0
            ).tolist()
        if stop_target is not None:
            res_strategies[s]["forecast"] = _forecast_or_none(
                res_strategies[s]["labels"], res_strategies[s]["mean_curve"], stop_target, metric
            )
    return {
        "dataset": dataset,
        "n_pool": first["n_pool"],
        "n_test": first["n_test"],
        "n_features": int(X.shape[1]),
        "task": task,
        "n_classes": None if classes is None else int(classes.size),
        "model": model if isinstance(model, str) else type(model).__name__,
        "metric": metric,
        "initial": int(initial),
        "batch": int(batch_size),
        "budget": int(budget_n),
        "test_size": float(test_size),
        "seeds": [int(s) for s in seed_list],
        "cost_lambda": None if cost is None else float(cost_lambda),
        "preprocessing": prep.to_dict(),
        "seconds": round(time.perf_counter() - t0, 3),
        "notes": notes,
        "strategies": res_strategies,
    }


def _forecast_or_none(labels, curve, target, metric):
    from labelwise.loop._forecast import forecast_labels

    if len(labels) < 3:
        return None
    ceiling = METRIC_CEILING.get(metric)
    return forecast_labels(labels, curve, target, metric=metric, ceiling=ceiling).to_dict()


def _task_classes(task: str, y: np.ndarray, labels):
    """The classes of a classification task, label names of a multi-label one, None else."""
    if task == "classification":
        if y.ndim != 1:
            raise InvalidInputError(
                f"classification needs one label per row; y has shape {y.shape} "
                "(use --task multilabel for a 0/1 label matrix)."
            )
        classes = np.unique(y)
        if classes.size < 2:
            raise InvalidInputError(
                f"the target has only one class ({_plain(classes[0])!r}); active learning needs "
                "at least 2."
            )
        return classes
    if task == "regression":
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.number):
            raise InvalidInputError("regression needs one numeric target per row.")
        if np.unique(y).size < 2:
            raise InvalidInputError("the regression target is constant; nothing to learn.")
        return None
    if task == "multilabel":
        if y.ndim != 2 or not np.isin(y, (0, 1)).all():
            raise InvalidInputError(
                f"multi-label needs a 0/1 label matrix (n_samples, n_labels); got shape {y.shape}."
            )
        names = [f"label{j}" for j in range(y.shape[1])] if labels is None else list(labels)
        if len(names) != y.shape[1]:
            raise InvalidInputError(f"{len(names)} label names for {y.shape[1]} label columns.")
        return np.asarray(names)
    raise InvalidInputError(
        f"unknown task {task!r}; choose classification, regression or multilabel."
    )


def _check_classes(y, classes, initial: int) -> None:
    if initial < classes.size:
        raise InvalidInputError(
            f"--initial {initial} is smaller than the number of classes ({classes.size}); "
            "every class must be in the initial labeled set."
        )
    counts = dict(zip(*np.unique(y, return_counts=True), strict=True))
    rare = [c for c, k in counts.items() if k < 2]
    if rare:
        raise InvalidInputError(
            f"class(es) {[_plain(c) for c in rare[:5]]} have a single sample; each class needs at "
            "least 2 (one may land in the test split). Drop or merge those classes."
        )


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _job(X, y, classes, seed, s, kw):
    return (seed, s), _run_one(X, y, classes, seed, s, **kw)
