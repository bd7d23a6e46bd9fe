"""Replay candidate strategies on data that is already labeled and recommend the best one.

The user's labeled data is replayed through the simulation bench (same
protocol, same splits for every strategy); strategies are ranked by mean AUBC.
Each entry also says how many labels the strategy needed to reach 95 % of the
metric of a model trained on the whole pool, and its time per round.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labelwise.loop._bench import _task_classes, run_bench, split_pool_test
from labelwise.loop._metrics import get_metric
from labelwise.loop._preprocess import choose_preprocessing
from labelwise.loop._tasks import get_task

__all__ = ["full_data_metric", "labels_to_reach", "recommend"]


def full_data_metric(
    X,
    y,
    *,
    seeds: Sequence[int],
    model,
    test_size: float,
    metric: str,
    task: str = "classification",
    labels=None,
    preprocess: str = "auto",
):
    """Mean test metric of the model trained on the whole pool, per the bench's splits.

    ``preprocess`` as for :func:`~labelwise.loop._bench.run_bench` (the same choice).
    """
    kit = get_task(task, _task_classes(task, y, labels))
    score = get_metric(metric, task)
    prep = choose_preprocessing(X, preprocess)
    values = []
    for seed in seeds:
        pool, test = split_pool_test(X.shape[0], test_size, np.random.default_rng(seed))
        Xp, Xt = prep.apply(X[pool], X[test])
        _, m = kit.model(model, calibrate=False, seed=int(seed))
        m.fit(Xp, y[pool])
        values.append(score(y[test], kit.predict(kit.output(m, Xt))))
    return float(np.mean(values))


def labels_to_reach(labels: Sequence[int], curve: Sequence[float], target: float) -> int | None:
    """First label count at which the curve reaches ``target``, or None if it never does.

    Examples
    --------
    >>> labels_to_reach([10, 20, 30], [0.5, 0.8, 0.9], 0.75)
    20
    """
    for n, v in zip(labels, curve, strict=True):
        if v >= target:
            return int(n)
    return None


def recommend(X, y, *, share: float = 0.95, **bench_kw) -> tuple[dict, dict]:
    """Run the bench and rank strategies; returns (recommendation, bench results).

    Parameters
    ----------
    X, y : arrays
        Labeled data to replay.
    share : float, default=0.95
        "Labels to reach" uses ``share`` × the full-data metric as the target
        (``full - (1 - share) |full|`` for a metric that can be negative).
    **bench_kw
        Passed to :func:`~labelwise.loop._bench.run_bench`.

    Returns
    -------
    recommendation : dict
        ``{"ranking": [{"strategy", "aubc_mean", "aubc_std", "labels_to_target",
        "seconds_per_round", ...}], "recommended": name, ...}``
    results : dict
        The bench results (``results.json`` schema).
    """
    results = run_bench(X, y, **bench_kw)
    X = np.asarray(X, dtype=np.float64)
    full = full_data_metric(
        X,
        np.asarray(y),
        seeds=results["seeds"],
        model=bench_kw.get("model") or results["model"],
        test_size=results["test_size"],
        metric=results["metric"],
        task=results["task"],
        labels=bench_kw.get("labels"),
        preprocess=results["preprocessing"]["asked"],
    )
    target = full - (1.0 - share) * abs(full)  # share x full for a positive metric
    ranking = []
    for name, r in results["strategies"].items():
        ranking.append(
            {
                "strategy": name,
                "aubc_mean": r["aubc_mean"],
                "aubc_std": r["aubc_std"],
                "final_metric": r["mean_curve"][-1],
                "labels_to_target": labels_to_reach(r["labels"], r["mean_curve"], target),
                "seconds_per_round": r["seconds_per_round"],
            }
        )
    # best AUBC first; ties go to the cheaper strategy, then the name
    ranking.sort(key=lambda e: (-round(e["aubc_mean"], 12), e["seconds_per_round"], e["strategy"]))
    best = ranking[0]
    rand = next((e for e in ranking if e["strategy"] == "random"), None)
    if rand is not None and best["strategy"] != "random":
        why = (
            f"{best['strategy']} has the highest AUBC ({best['aubc_mean']:.4f} vs random "
            f"{rand['aubc_mean']:.4f}, {best['aubc_mean'] - rand['aubc_mean']:+.4f})"
        )
    elif best["strategy"] == "random":
        why = "no strategy beat random sampling on this data and model; label at random"
    else:
        why = f"{best['strategy']} has the highest AUBC ({best['aubc_mean']:.4f})"
    rec = {
        "dataset": results["dataset"],
        "model": results["model"],
        "metric": results["metric"],
        "full_data_metric": full,
        "target_share": share,
        "target_metric": target,
        "preprocessing": results["preprocessing"],
        "ranking": ranking,
        "recommended": best["strategy"],
        "why": why,
    }
    return rec, results
