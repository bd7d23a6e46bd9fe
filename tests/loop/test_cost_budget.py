"""CostBudget fills each batch by cost: never past the budget, the last batch partial.

Expected counts are worked out by hand from the budget, the per-sample cost and
the batch size (e.g. budget 30 at cost 0.5 buys 60 labels: 8 rounds of 7 and one
of 4), not read back from the loop.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from labelwise.loop import ActiveLoop, CostBudget, LabelBudget, SimulatedOracle

INIT = [0, 1, 2, 3, 20, 21]


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _loop(data, cost, budget, batch, strategy="margin", **kw):
    X, y = data
    return ActiveLoop(
        X,
        oracle=SimulatedOracle(y),
        initial=INIT,
        classes=[0, 1],
        strategy=strategy,
        cost=cost,
        batch_size=batch,
        stopping=[CostBudget(budget), *kw.pop("stopping", [])],
        stop_set_size=0,
        random_state=0,
        **kw,
    )


def _batches(result):
    return [h.selection.indices.size for h in result.history[1:]]


@pytest.mark.parametrize("batch", [7, 10])
def test_cheap_labels_fill_the_budget_in_full_batches(data, batch):
    # budget 30 at cost 0.5 = 60 labels, in ceil(60 / batch) rounds; only the last is short
    res = _loop(data, np.full(len(data[1]), 0.5), 30, batch).run()
    sizes = _batches(res)
    assert sum(sizes) == 60
    assert len(sizes) == math.ceil(60 / batch)
    assert sizes[:-1] == [batch] * (len(sizes) - 1)
    assert res.history[-1].cost_spent == 30.0
    assert res.history[-1].n_queried == 60
    assert "30 of 30 spent" in res.stopped_by["cost_budget"]


def test_dear_labels_never_overspend(data):
    # cost 2: 15 labels fit in 30 -> rounds of 7, 7, 1; never more than 30 reported spent
    res = _loop(data, np.full(len(data[1]), 2.0), 30, 7).run()
    assert _batches(res) == [7, 7, 1]
    assert [h.cost_spent for h in res.history] == [0.0, 14.0, 28.0, 30.0]
    assert all(h.cost_spent <= 30 for h in res.history)
    assert "30 of 30 spent" in res.stopped_by["cost_budget"]


def test_without_a_cost_every_label_costs_one(data):
    res = _loop(data, None, 25, 10, strategy="random").run()
    assert _batches(res) == [10, 10, 5]
    assert res.history[-1].cost_spent == 25.0


def test_mixed_costs_take_the_ranked_prefix_and_stop_when_nothing_fits(data):
    # odd rows cost 3, even rows 5; budget 29 cannot be spent exactly by every mix
    n = len(data[1])
    cost = np.where(np.arange(n) % 2, 3.0, 5.0)
    loop = _loop(data, cost, 29, 4)
    seen = []
    res = loop.run(callback=seen.append)
    spent = [h.cost_spent for h in res.history]
    assert all(s <= 29 for s in spent)
    queried = loop.labeled[len(INIT) :]
    assert spent[-1] == pytest.approx(cost[queried].sum())
    assert 29 - spent[-1] < 3  # stopped only once even the cheapest (3) no longer fits
    assert "cost_budget" in res.stopped_by
    for h in res.history[1:]:  # each batch: the top of the cost-adjusted ranking
        sel = h.selection
        ranked = sel.candidates[np.argsort(-sel.criteria["margin_per_cost"], kind="stable")]
        assert sel.indices.tolist() == ranked[: sel.indices.size].tolist()
        assert sel.candidates.size > 0


def test_label_and_cost_budgets_together(data):
    # 0.5 per label: the label budget (12) binds before the cost budget (30 = 60 labels)
    res = _loop(data, np.full(len(data[1]), 0.5), 30, 5, stopping=[LabelBudget(12)]).run()
    assert _batches(res) == [5, 5, 2]
    assert res.history[-1].cost_spent == 6.0
