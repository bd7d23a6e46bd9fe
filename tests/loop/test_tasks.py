"""Regression and multi-label in the loop and the bench, checked against independent fits."""

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, make_multilabel_classification
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import r2_score

from labelwise.errors import InvalidInputError
from labelwise.loop import ActiveLoop, LabelBudget, SimulatedOracle
from labelwise.loop._bench import run_bench
from labelwise.strategies import multilabel_uncertainty


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def test_gp_predictive_std_picks_where_an_independent_gp_is_least_sure(diabetes):
    X, y = diabetes
    init = np.arange(12)
    loop = ActiveLoop(
        X,
        oracle=SimulatedOracle(y),
        initial=init,
        task="regression",
        model="gp",
        strategy="predictive_std",
        batch_size=3,
        random_state=0,
    )
    loop.start()
    sel = loop.select()
    kernel = ConstantKernel(1.0) * RBF(1.0) + WhiteKernel(0.1)
    gp = GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=0)
    gp.fit(X[init], y[init])
    cand = loop.candidates
    std = gp.predict(X[cand], return_std=True)[1]
    assert sel.indices.tolist() == cand[np.argsort(-std)[:3]].tolist()


def test_regression_loop_reports_r2_like_sklearn(diabetes):
    X, y = diabetes
    loop = ActiveLoop(
        X[:300],
        oracle=SimulatedOracle(y[:300]),
        initial=np.arange(10),
        task="regression",
        X_eval=X[300:],
        y_eval=y[300:],
        batch_size=10,
        stopping=[LabelBudget(30)],
        random_state=0,
    )  # ridge + committee_std
    res = loop.run()
    assert loop.strategy.name == "committee_std" and loop.metric_name == "r2"
    assert res.history[-1].metric == pytest.approx(r2_score(y[300:], loop.model.predict(X[300:])))
    assert res.history[-1].val_loss == pytest.approx(
        np.mean((y[300:] - loop.model.predict(X[300:])) ** 2)
    )
    assert res.curve[-1] > res.curve[0]


def test_multilabel_uncertainty_by_hand():
    # binary entropy in bits: H(0.5) = 1, H(0.9) = H(0.1) = 0.4690, H(1) = 0
    u = multilabel_uncertainty([[0.5, 0.9], [1.0, 0.1]])
    assert u == pytest.approx([(1 + 0.468996) / 2, 0.468996 / 2], abs=1e-5)
    assert multilabel_uncertainty([[0.5, 0.9], [1.0, 0.1]], aggregate="max") == pytest.approx(
        [1.0, 0.468996], abs=1e-5
    )


def test_multilabel_loop_first_pick_matches_independent_binary_models():
    X, Y = make_multilabel_classification(n_samples=300, n_features=8, n_classes=3, random_state=0)
    init = np.arange(30)
    loop = ActiveLoop(
        X,
        oracle=SimulatedOracle(Y),
        initial=init,
        task="multilabel",
        classes=["a", "b", "c"],
        batch_size=4,
        random_state=0,
    )
    loop.start()
    sel = loop.select()
    cand = loop.candidates
    P = np.column_stack(
        [
            LogisticRegression(max_iter=1000, random_state=0)
            .fit(X[init], Y[init, j])
            .predict_proba(X[cand])[:, 1]
            for j in range(3)
        ]
    )
    H = -(P * np.log2(P) + (1 - P) * np.log2(1 - P)).mean(axis=1)
    assert sel.indices.tolist() == cand[np.argsort(-H)[:4]].tolist()


def test_task_and_strategy_must_match(diabetes):
    X, y = diabetes
    with pytest.raises(InvalidInputError, match="'margin' is for classification"):
        ActiveLoop(
            X, oracle=SimulatedOracle(y), initial=[0, 1, 2], task="regression", strategy="margin"
        )
    with pytest.raises(InvalidInputError, match="'committee_std' is for regression"):
        ActiveLoop(
            X,
            oracle=SimulatedOracle((y > 150).astype(int)),
            initial=[0, 1, 2],
            classes=[0, 1],
            strategy="committee_std",
        )
    with pytest.raises(InvalidInputError, match="metric 'accuracy' is for classification"):
        ActiveLoop(
            X, oracle=SimulatedOracle(y), initial=[0, 1, 2], task="regression", metric="accuracy"
        )


def test_bench_regression_and_multilabel(diabetes):
    X, y = diabetes
    res = run_bench(
        X,
        y,
        task="regression",
        strategies=["committee_std", "random"],
        initial=10,
        batch_size=10,
        budget=40,
        seeds=2,
    )
    assert res["task"] == "regression" and res["metric"] == "r2" and res["model"] == "ridge"
    assert res["strategies"]["random"]["labels"] == [10, 20, 30, 40, 50]
    Xm, Ym = make_multilabel_classification(
        n_samples=200, n_features=6, n_classes=3, random_state=1
    )
    res = run_bench(
        Xm,
        Ym,
        task="multilabel",
        strategies=["multilabel_max", "random"],
        initial=20,
        batch_size=10,
        budget=30,
        seeds=1,
    )
    assert res["metric"] == "micro_f1" and 0 < res["strategies"]["multilabel_max"]["aubc_mean"] < 1
    with pytest.raises(InvalidInputError, match="0/1 label matrix"):
        run_bench(X, y, task="multilabel", strategies=["random"])
