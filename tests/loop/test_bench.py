"""The simulation protocol against hand computations and an independent reimplementation."""

import math

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.svm import SVC

from labelwise.errors import InvalidInputError
from labelwise.loop._bench import aubc, initial_set, resolve_budget, run_bench, split_pool_test


def test_aubc_worked_example():
    # trapezoids: (0.5+0.7)/2*10 + (0.7+0.8)/2*30 = 6 + 22.5 = 28.5 over 40 queries
    assert aubc([10, 20, 50], [0.5, 0.7, 0.8]) == pytest.approx(28.5 / 40)
    assert aubc([10], [0.9]) == pytest.approx(0.9)


def test_split_sizes_follow_floor_of_pool_share():
    pool, test = split_pool_test(208, 0.4, np.random.default_rng(0))
    assert (pool.size, test.size) == (124, 84)  # the example: 208 rows -> 124 / 84
    assert np.intersect1d(pool, test).size == 0
    assert np.union1d(pool, test).size == 208


def test_initial_set_has_every_class_and_exact_size():
    y = np.array([0] * 95 + [1] * 3 + [2] * 2)
    for seed in range(30):
        init = initial_set(y, 5, np.random.default_rng(seed))
        assert init.size == 5 and np.unique(init).size == 5
        assert set(y[init]) == {0, 1, 2}
    with pytest.raises(InvalidInputError, match="smaller than the number of classes"):
        initial_set(y, 2, np.random.default_rng(0))


def test_budget_all_and_clipping():
    assert resolve_budget("all", 100, 20) == (80, None)
    n, note = resolve_budget(500, 100, 20)
    assert n == 80 and "clipped to 80" in note
    with pytest.raises(InvalidInputError, match="--budget"):
        resolve_budget("lots", 100, 20)


def _independent_random_aubc(X, y, seeds, initial, batch, budget, test_size=0.4):
    """A from-scratch version of the documented protocol with random sampling."""
    scores = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(y))
        n_pool = math.floor(len(y) * (1 - test_size) + 1e-9)
        pool, test = perm[:n_pool], perm[n_pool:]
        mu, sd = X[pool].mean(0), X[pool].std(0)
        sd[sd == 0] = 1
        Xp, Xt = (X[pool] - mu) / sd, (X[test] - mu) / sd
        yp, yt = y[pool], y[test]
        while True:  # rejection sampling: a different but equivalent way to get all classes
            lab = list(rng.permutation(n_pool)[:initial])
            if len(set(yp[lab])) == len(set(y)):
                break
        rest = [i for i in rng.permutation(n_pool) if i not in set(lab)]
        xs, accs = [], []
        while True:
            clf = SVC(C=1.0, gamma="auto").fit(Xp[lab], yp[lab])
            xs.append(len(lab))
            accs.append(np.mean(clf.predict(Xt) == yt))
            if len(lab) - initial >= budget:
                break
            take = min(batch, budget - (len(lab) - initial))
            lab += rest[:take]
            rest = rest[take:]
        area = sum((accs[i] + accs[i + 1]) / 2 * (xs[i + 1] - xs[i]) for i in range(len(xs) - 1))
        scores.append(area / (xs[-1] - xs[0]))
    return float(np.mean(scores))


@pytest.fixture(scope="module")
def breast_cancer_bench():
    X, y = load_breast_cancer(return_X_y=True)
    res = run_bench(
        X,
        y,
        dataset="breast_cancer",
        model="svm",
        strategies=["margin", "random"],
        initial=20,
        batch_size=4,
        budget=120,
        seeds=6,
        test_size=0.4,
    )
    return X, y, res


def test_bench_margin_beats_random_on_breast_cancer(breast_cancer_bench):
    _, _, res = breast_cancer_bench
    s = res["strategies"]
    assert s["margin"]["aubc_mean"] > s["random"]["aubc_mean"]
    # the margin curve ends at least as high as random's, as the literature reports
    assert s["margin"]["mean_curve"][-1] >= s["random"]["mean_curve"][-1] - 0.005


def test_bench_random_matches_independent_protocol(breast_cancer_bench):
    X, y, res = breast_cancer_bench
    ours = res["strategies"]["random"]["aubc_mean"]
    theirs = _independent_random_aubc(X, y, range(6), initial=20, batch=4, budget=120)
    assert abs(ours - theirs) < 0.02


def test_results_schema(breast_cancer_bench):
    _, _, res = breast_cancer_bench
    assert res["n_pool"] == 341 and res["n_test"] == 228  # floor(569 * 0.6) = 341
    for r in res["strategies"].values():
        assert r["labels"][0] == 20 and r["labels"][-1] == 140
        assert len(r["labels"]) == 120 // 4 + 1
        assert len(r["curves"]) == 6 and all(len(c) == len(r["labels"]) for c in r["curves"])
        assert 0.5 < r["aubc_mean"] <= 1.0


def test_same_split_and_initial_set_for_every_strategy(breast_cancer_bench):
    _, _, res = breast_cancer_bench
    m, r = res["strategies"]["margin"]["curves"], res["strategies"]["random"]["curves"]
    # round 0 is the same model on the same initial set for both strategies
    assert [c[0] for c in m] == [c[0] for c in r]


def test_bench_is_deterministic_and_parallel_equals_serial():
    X, y = load_breast_cancer(return_X_y=True)
    kw = dict(
        model="logreg",
        strategies=["entropy", "random"],
        initial=10,
        batch_size=10,
        budget=40,
        seeds=2,
    )
    a = run_bench(X, y, **kw)
    b = run_bench(X, y, n_jobs=2, **kw)
    for k in ("entropy", "random"):
        assert a["strategies"][k]["curves"] == b["strategies"][k]["curves"]


def test_bench_rejects_one_class_and_regression_strategy():
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(InvalidInputError, match="only one class"):
        run_bench(X, np.zeros(50), strategies=["margin"])
    y = np.arange(50) % 2
    with pytest.raises(InvalidInputError, match="regression"):
        run_bench(X, y, strategies=["committee_std"])
    with pytest.raises(InvalidInputError, match="larger than the pool"):
        run_bench(X, y, initial=40, strategies=["random"])
