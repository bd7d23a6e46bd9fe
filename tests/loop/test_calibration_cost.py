"""Temperature scaling, cost-aware selection and the recommend replay."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.preprocessing import StandardScaler

from labelwise.errors import InvalidInputError
from labelwise.loop import ActiveLoop, CostBudget, SimulatedOracle
from labelwise.loop._recommend import labels_to_reach, recommend
from labelwise.models import apply_temperature, fit_temperature


def test_fit_temperature_recovers_overconfidence():
    rng = np.random.default_rng(0)
    true_p = rng.dirichlet(np.ones(3) * 2, size=20000)
    y = np.array([rng.choice(3, p=p) for p in true_p])
    overconfident = apply_temperature(true_p, 0.5)  # logits doubled
    assert fit_temperature(overconfident, y) == pytest.approx(2.0, rel=0.05)
    assert fit_temperature(true_p, y) == pytest.approx(1.0, rel=0.05)


def test_apply_temperature_by_hand():
    # T = 2: p ∝ sqrt(p) -> sqrt(.9) : sqrt(.1) = 0.9487 : 0.3162 -> 0.75 : 0.25
    assert apply_temperature([[0.9, 0.1]], 2.0) == pytest.approx(np.array([[0.75, 0.25]]))


def test_calibrated_loop_records_a_temperature():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    init = np.concatenate([np.flatnonzero(y == c)[:6] for c in range(3)])
    loop = ActiveLoop(
        X,
        oracle=SimulatedOracle(y),
        initial=init,
        classes=[0, 1, 2],
        calibrate=True,
        batch_size=5,
        random_state=0,
    )
    rec = loop.start()
    assert rec.temperature is not None and rec.temperature != 1.0
    assert np.allclose(loop.model.predict_proba(X[:5]).sum(axis=1), 1.0)


def test_cost_aware_selection_divides_by_cost():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    cost = np.ones(len(y))
    cost[::2] = 4.0  # even rows cost four times as much
    init = [0, 1, 2, 3, 20, 21]
    loop = ActiveLoop(
        X,
        oracle=SimulatedOracle(y),
        initial=init,
        classes=[0, 1],
        strategy="margin",
        cost=cost,
        cost_lambda=1.0,
        batch_size=10,
        stopping=[CostBudget(30)],
        random_state=0,
    )
    loop.start()
    sel = loop.select()
    raw = sel.criteria["margin"]
    expected = sel.candidates[np.argsort(-(raw / cost[sel.candidates]))[:10]]
    assert sorted(sel.indices.tolist()) == sorted(expected.tolist())
    res = loop.run()
    assert "cost budget reached" in res.stopped_by["cost_budget"]
    spent = cost[loop.labeled[len(init) :]].sum()
    assert res.history[-1].cost_spent == spent >= 30


def test_bad_cost_is_refused():
    X, y = load_wine(return_X_y=True)
    with pytest.raises(InvalidInputError, match="row 3 has 0.0"):
        ActiveLoop(
            X,
            oracle=SimulatedOracle(y),
            initial=[0, 60, 140],
            classes=[0, 1, 2],
            cost=np.where(np.arange(len(y)) == 3, 0.0, 1.0),
        )
    with pytest.raises(InvalidInputError, match="does not use a per-sample cost"):
        ActiveLoop(
            X,
            oracle=SimulatedOracle(y),
            initial=[0, 60, 140],
            classes=[0, 1, 2],
            strategy="k_center_greedy",
            cost=np.ones(len(y)),
        )


def test_labels_to_reach():
    assert labels_to_reach([10, 20, 30], [0.5, 0.8, 0.9], 0.85) == 30
    assert labels_to_reach([10, 20, 30], [0.5, 0.8, 0.9], 0.95) is None


def test_recommend_ranks_by_aubc_and_recommends_the_top():
    X, y = load_breast_cancer(return_X_y=True)
    rec, res = recommend(
        X,
        y,
        model="logreg",
        strategies=["random", "margin", "entropy"],
        initial=10,
        batch_size=10,
        budget=60,
        seeds=3,
    )
    aubcs = [e["aubc_mean"] for e in rec["ranking"]]
    assert aubcs == sorted(aubcs, reverse=True)
    assert rec["recommended"] == rec["ranking"][0]["strategy"] != "random"
    for e in rec["ranking"]:
        assert e["aubc_mean"] == pytest.approx(res["strategies"][e["strategy"]]["aubc_mean"])
    # the full-data logistic regression on breast cancer scores about 0.97-0.98
    assert 0.95 < rec["full_data_metric"] <= 1.0
