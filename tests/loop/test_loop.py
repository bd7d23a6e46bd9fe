"""The loop engine: rounds, oracle, provenance, cold start, stopping."""

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from labelwise.errors import EmptyPoolError, InvalidInputError
from labelwise.loop import (
    ActiveLoop,
    DiminishingReturns,
    LabelBudget,
    SimulatedOracle,
    TargetMetric,
)
from labelwise.loop._loop import COLD_START_NOTE
from labelwise.strategies import margin


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_rounds_follow_the_budget_and_label_through_the_oracle(wine):
    X, y = wine
    oracle = SimulatedOracle(y)
    loop = ActiveLoop(
        X,
        oracle=oracle,
        initial=[0, 60, 140],
        classes=[0, 1, 2],
        batch_size=7,
        X_eval=X,
        y_eval=y,
        stopping=[LabelBudget(30)],
        random_state=0,
    )
    res = loop.run()
    assert res.labels == [3, 10, 17, 24, 31, 33]  # the last batch is cut to the budget
    assert list(res.stopped_by) == ["label_budget"]
    assert oracle.n_queries_ == 33
    assert np.array_equal(loop.y_labeled, y[loop.labeled])
    assert np.unique(loop.labeled).size == 33


def test_margin_picks_are_the_most_uncertain_and_carry_reasons(wine):
    X, y = wine
    loop = ActiveLoop(
        X,
        oracle=SimulatedOracle(y),
        initial=[0, 60, 140],
        classes=[0, 1, 2],
        strategy="margin",
        batch_size=5,
        random_state=0,
    )
    loop.start()
    sel = loop.select()
    # independent check: fit the same model and rank candidates by 1 - (p1 - p2)
    ref = LogisticRegression(max_iter=1000, random_state=0).fit(X[[0, 60, 140]], y[[0, 60, 140]])
    cand = loop.candidates
    p = np.sort(ref.predict_proba(X[cand]), axis=1)
    expected = cand[np.argsort(-(1 - (p[:, -1] - p[:, -2])))[:5]]
    assert sel.indices.tolist() == expected.tolist()
    picks = sel.picks()
    assert [pk.index for pk in picks] == sel.indices.tolist()
    assert picks[0].reason.startswith("margin ") and "top" in picks[0].reason
    assert picks[0].normalized["margin"] == pytest.approx(1.0)
    assert picks[0].raw["margin"] == pytest.approx(
        margin(ref.predict_proba(X[[picks[0].index]]))[0]
    )


def test_cold_start_uses_diversity_without_a_model(wine):
    X, y = wine
    loop = ActiveLoop(
        X,
        oracle=SimulatedOracle(y),
        initial=[],
        classes=[0, 1, 2],
        strategy="entropy",
        batch_size=4,
        random_state=1,
    )
    sel = loop.select()
    assert sel.strategy == "k_center_greedy" and sel.note == COLD_START_NOTE
    assert COLD_START_NOTE in sel.picks()[0].reason
    # farthest-first: the 2nd pick is the row farthest from the 1st
    d = np.linalg.norm(X - X[sel.indices[0]], axis=1)
    assert sel.indices[1] == int(np.argmax(d))


def test_committee_strategy_runs_with_a_bagged_committee(wine):
    X, y = wine
    loop = ActiveLoop(
        X,
        oracle=SimulatedOracle(y),
        initial=[0, 1, 60, 61, 140, 141],
        classes=[0, 1, 2],
        strategy="vote_entropy",
        batch_size=5,
        n_members=4,
        stopping=[LabelBudget(10)],
        random_state=0,
    )
    res = loop.run()
    assert loop.committee is not None and len(loop.committee.members_) == 4
    assert res.labels == [6, 11, 16]


def test_target_metric_and_diminishing_returns_stop_the_loop():
    X, y = load_iris(return_X_y=True)
    loop = ActiveLoop(
        X,
        oracle=SimulatedOracle(y),
        initial=[0, 50, 100],
        classes=[0, 1, 2],
        X_eval=X,
        y_eval=y,
        batch_size=3,
        stopping=[TargetMetric(0.9)],
        random_state=0,
    )
    res = loop.run()
    assert res.curve[-1] >= 0.9 and all(m < 0.9 for m in res.curve[:-1])
    assert "reached the target" in res.stopped_by["target_metric"]
    loop = ActiveLoop(
        X,
        oracle=SimulatedOracle(y),
        initial=[0, 50, 100],
        classes=[0, 1, 2],
        X_eval=X,
        y_eval=y,
        batch_size=3,
        stopping=[DiminishingReturns(k=2, delta=0.5)],
        random_state=0,
    )
    res = loop.run()
    assert list(res.stopped_by) == ["diminishing_returns"] and len(res.history) == 3


def test_pool_exhaustion_and_empty_pool_error():
    X, y = load_iris(return_X_y=True)
    X, y = X[[0, 1, 50, 51, 100, 101]], y[[0, 1, 50, 51, 100, 101]]
    loop = ActiveLoop(
        X,
        oracle=SimulatedOracle(y),
        initial=[0, 2, 4],
        classes=[0, 1, 2],
        batch_size=2,
        random_state=0,
    )
    res = loop.run()
    assert "pool_exhausted" in res.stopped_by and res.labels[-1] == 6
    with pytest.raises(EmptyPoolError):
        loop.select()


def test_oracle_label_outside_the_classes_is_refused():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(InvalidInputError, match="not among the classes"):
        ActiveLoop(X, oracle=SimulatedOracle(y), initial=[0, 50, 100], classes=[0, 1])


def test_any_sklearn_estimator_object_and_svm_margin_matches_distance():
    from sklearn.svm import SVC

    X, y = load_iris(return_X_y=True)
    X, y = X[y < 2], y[y < 2]  # binary
    loop = ActiveLoop(
        X,
        oracle=SimulatedOracle(y),
        initial=[0, 1, 50, 51],
        classes=[0, 1],
        model=SVC(C=1.0, gamma="auto"),
        strategy="margin",
        batch_size=3,
        random_state=0,
    )
    loop.start()
    sel = loop.select()
    svc = SVC(C=1.0, gamma="auto").fit(X[[0, 1, 50, 51]], y[[0, 1, 50, 51]])
    cand = loop.candidates
    closest = cand[np.argsort(np.abs(svc.decision_function(X[cand])))[:3]]
    assert sel.indices.tolist() == closest.tolist()


def test_reason_says_how_far_a_pick_is_from_the_labeled_set(wine):
    from sklearn.neighbors import NearestNeighbors

    X, y = wine
    init = [0, 1, 60, 61, 140, 141]
    loop = ActiveLoop(
        X, oracle=SimulatedOracle(y), initial=init, classes=[0, 1, 2], batch_size=3, random_state=0
    )
    loop.start()
    picks = loop.select().picks()
    spacing = NearestNeighbors(n_neighbors=2).fit(X[init]).kneighbors(X[init])[0][:, 1]
    for p in picks:
        d = np.min(np.linalg.norm(X[init] - X[p.index], axis=1))
        z = (d - spacing.mean()) / spacing.std()
        assert p.raw["sigma_from_labeled"] == pytest.approx(z, rel=1e-4)
        assert f"{z:+.1f}σ from the labeled set" in p.reason
