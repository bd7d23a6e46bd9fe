"""Model-change and error-reduction strategies (PRODUCT.md §2).

Expected gradient length is checked against a numerical (central-difference)
gradient of the softmax cross-entropy of a small linear model; expected error
reduction against a brute-force reference written here that refits a fresh
scikit-learn ``LogisticRegression`` from scratch for every (candidate, label).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse
from scipy.stats import spearmanr
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.naive_bayes import MultinomialNB
from threadpoolctl import threadpool_limits

from labelwise.errors import EmptyPoolError, InvalidInputError, MissingRequirementError
from labelwise.models import make_model
from labelwise.strategies._expected import expected_error_reduction, expected_gradient_length

# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    """Tiny matrices: on a busy 2-core machine two BLAS threads mostly wait on each other
    (the brute-force refits take ~10x longer). Results do not depend on it."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _softmax(z):
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()


def _cross_entropy(W, x_tilde, y):
    return -math.log(_softmax(W @ x_tilde)[y])


def _numeric_gradient(W, x_tilde, y, h=1e-6):
    g = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        Wp, Wm = W.copy(), W.copy()
        Wp[idx] += h
        Wm[idx] -= h
        g[idx] = (_cross_entropy(Wp, x_tilde, y) - _cross_entropy(Wm, x_tilde, y)) / (2 * h)
    return g


def _tight_logreg(**kw):
    return LogisticRegression(tol=1e-10, max_iter=10_000, **kw)


def _split(n_classes, n_labeled=6, n_pool=40, n_features=5, seed=0):
    """A labeled set with every class and a pool, as separate arrays."""
    X, y = make_classification(
        n_samples=n_labeled + n_pool,
        n_features=n_features,
        n_informative=3,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        class_sep=1.0,
        random_state=seed,
    )
    first = [int(np.flatnonzero(y == c)[0]) for c in range(n_classes)]
    rest = [i for i in range(len(y)) if i not in first]
    lab = np.array(first + rest[: n_labeled - n_classes])
    pool = np.setdiff1d(np.arange(len(y)), lab)
    return X[lab], y[lab], X[pool], y[pool]


# ------------------------------------------------------------------ expected gradient length


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_egl_matches_finite_difference_gradient(n_classes, fit_intercept):
    rng = np.random.default_rng(n_classes)
    n, d = 6, 4
    X = rng.normal(size=(n, d))
    X_tilde = np.hstack([X, np.ones((n, 1))]) if fit_intercept else X
    W = rng.normal(size=(n_classes, X_tilde.shape[1]))
    proba = np.array([_softmax(W @ xt) for xt in X_tilde])
    expected = np.array(
        [
            sum(
                proba[i, y] * np.linalg.norm(_numeric_gradient(W, X_tilde[i], y))
                for y in range(n_classes)
            )
            for i in range(n)
        ]
    )
    got = expected_gradient_length(proba, X, fit_intercept=fit_intercept)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_egl_hand_worked_three_classes():
    # p = [0.5, 0.3, 0.2], x = [1, 2, 2] with intercept: ||x~|| = sqrt(1 + 4 + 4 + 1) = sqrt(10)
    # ||p - e_0||^2 = 0.5^2 + 0.3^2 + 0.2^2 = 0.38
    # ||p - e_1||^2 = 0.5^2 + 0.7^2 + 0.2^2 = 0.78
    # ||p - e_2||^2 = 0.5^2 + 0.3^2 + 0.8^2 = 0.98
    want = math.sqrt(10) * (0.5 * math.sqrt(0.38) + 0.3 * math.sqrt(0.78) + 0.2 * math.sqrt(0.98))
    got = expected_gradient_length([[0.5, 0.3, 0.2]], [[1.0, 2.0, 2.0]])
    np.testing.assert_allclose(got, [want], rtol=0, atol=1e-12)


def test_egl_is_zero_for_one_hot_and_positive_otherwise():
    proba = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.2, 0.5, 0.3]])
    X = np.array([[5.0, -3.0], [100.0, 2.0], [0.1, 0.1]])
    got = expected_gradient_length(proba, X)
    assert got[0] == 0.0 and got[1] == 0.0
    assert got[2] > 0.0


def test_egl_sparse_equals_dense_and_scales_with_the_features():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 6)) * (rng.random((20, 6)) < 0.4)
    proba = rng.dirichlet(np.ones(4), size=20)
    dense = expected_gradient_length(proba, X, fit_intercept=False)
    np.testing.assert_allclose(
        expected_gradient_length(proba, sparse.csr_matrix(X), fit_intercept=False),
        dense,
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        expected_gradient_length(proba, 3 * X, fit_intercept=False), 3 * dense, rtol=1e-12
    )


def test_egl_does_not_mutate_inputs():
    proba = np.array([[0.7, 0.3], [0.4, 0.6]])
    X = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    p0, X0 = proba.copy(), X.copy()
    expected_gradient_length(proba, X)
    np.testing.assert_array_equal(proba, p0)
    np.testing.assert_array_equal(X, X0)


@pytest.mark.parametrize(
    ("proba", "X", "match"),
    [
        ([[0.5, 0.5]], [[1.0], [2.0]], "rows"),
        ([[0.5, 0.5]], [[np.nan]], "NaN"),
        ([[0.5, 0.6]], [[1.0]], "sum to 1"),
        ([[0.5, 0.5]], [1.0], "shape"),
    ],
)
def test_egl_rejects_bad_input(proba, X, match):
    with pytest.raises(InvalidInputError, match=match):
        expected_gradient_length(proba, X)


# --------------------------------------------------------------------------- EER: brute force


def _mean_self_loss(P, loss):
    if loss == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.mean(-np.sum(np.where(P > 0, P * np.log(P), 0.0), axis=1)))
    return float(np.mean(1.0 - P.max(axis=1)))


@pytest.fixture(scope="module", params=[2, 3], ids=["2-classes", "3-classes"])
def brute_force(request):
    """Refit a fresh LogisticRegression from scratch for every pool sample and label."""
    n_classes = request.param
    X_lab, y_lab, X_pool, _ = _split(n_classes, seed=n_classes)
    model = _tight_logreg().fit(X_lab, y_lab)
    proba = model.predict_proba(X_pool)
    refit_proba = {}
    for i in range(X_pool.shape[0]):
        for y in range(n_classes):
            m = _tight_logreg().fit(np.vstack([X_lab, X_pool[i]]), np.append(y_lab, y))
            refit_proba[i, y] = m.predict_proba(X_pool)
    return n_classes, X_lab, y_lab, X_pool, model, proba, refit_proba


def _reference_expected_loss(brute, loss):
    n_classes, _, _, X_pool, _, proba, refit_proba = brute
    out = np.zeros(X_pool.shape[0])
    for i in range(X_pool.shape[0]):
        out[i] = sum(
            proba[i, y] * _mean_self_loss(refit_proba[i, y], loss) for y in range(n_classes)
        )
    return out


@pytest.mark.parametrize("loss", ["log", "zero_one"])
def test_eer_matches_brute_force_refits(brute_force, loss):
    n_classes, X_lab, y_lab, X_pool, model, _, _ = brute_force
    ref = _reference_expected_loss(brute_force, loss)
    n = X_pool.shape[0]
    idx, scores, details = expected_error_reduction(
        model,
        X_lab,
        y_lab,
        X_pool,
        loss=loss,
        n_candidates=n,
        n_eval=n,
        random_state=0,
        return_details=True,
    )
    assert details.refit == "warm_start"
    np.testing.assert_array_equal(idx, np.arange(n))
    np.testing.assert_array_equal(details.eval_indices, np.arange(n))
    # higher score = lower expected loss: the same top sample, the same ranking
    assert int(idx[np.argmax(scores)]) == int(np.argmin(ref))
    assert spearmanr(scores, -ref).statistic >= 0.9
    np.testing.assert_allclose(details.expected_loss, ref, rtol=0, atol=1e-5)
    np.testing.assert_allclose(scores, details.current_loss - ref, rtol=0, atol=1e-5)
    assert details.n_refits == n * n_classes


def test_eer_clone_path_matches_brute_force(brute_force):
    n_classes, X_lab, y_lab, X_pool, model, _, _ = brute_force
    ref = _reference_expected_loss(brute_force, "log")
    n = X_pool.shape[0]
    _, scores, details = expected_error_reduction(
        model,
        X_lab,
        y_lab,
        X_pool,
        n_candidates=n,
        n_eval=n,
        refit="clone",
        random_state=0,
        return_details=True,
    )
    assert details.refit == "clone"
    assert details.n_refits == n * n_classes
    np.testing.assert_allclose(details.expected_loss, ref, rtol=0, atol=1e-6)
    assert int(np.argmax(scores)) == int(np.argmin(ref))


@pytest.mark.parametrize("n_classes", [2, 4])
def test_eer_warm_start_without_intercept_and_other_c_matches_clone(n_classes):
    X_lab, y_lab, X_pool, _ = _split(n_classes, n_labeled=15, n_pool=60, seed=7)
    model = _tight_logreg(C=0.3, fit_intercept=False).fit(X_lab, y_lab)
    kw = dict(n_candidates=12, n_eval=30, random_state=3, return_details=True)
    i_w, s_w, d_w = expected_error_reduction(model, X_lab, y_lab, X_pool, refit="warm_start", **kw)
    i_c, s_c, d_c = expected_error_reduction(model, X_lab, y_lab, X_pool, refit="clone", **kw)
    np.testing.assert_array_equal(i_w, i_c)
    np.testing.assert_allclose(d_w.loss_given_label, d_c.loss_given_label, rtol=0, atol=1e-6)
    np.testing.assert_allclose(s_w, s_c, rtol=0, atol=1e-6)


def test_eer_partial_fit_is_exact_for_naive_bayes():
    # MultinomialNB.partial_fit adds counts: the same model as a fit from scratch
    rng = np.random.default_rng(2)
    X = rng.poisson(2.0, size=(70, 6)).astype(float)
    y = rng.integers(0, 3, size=70)
    y[:3] = [0, 1, 2]
    X_lab, y_lab, X_pool = X[:10], y[:10], X[10:]
    model = MultinomialNB().fit(X_lab, y_lab)
    kw = dict(n_candidates=8, n_eval=40, random_state=0, return_details=True)
    _, s_p, d_p = expected_error_reduction(model, X_lab, y_lab, X_pool, refit="partial_fit", **kw)
    _, s_c, d_c = expected_error_reduction(model, X_lab, y_lab, X_pool, refit="clone", **kw)
    assert d_p.refit == "partial_fit" and d_c.refit == "clone"
    np.testing.assert_allclose(s_p, s_c, rtol=0, atol=1e-10)


def test_eer_partial_fit_leaves_the_model_alone():
    X_lab, y_lab, X_pool, _ = _split(3, n_labeled=20, n_pool=50, seed=4)
    model = SGDClassifier(loss="log_loss", random_state=0).fit(X_lab, y_lab)
    coef = model.coef_.copy()
    _, scores, details = expected_error_reduction(
        model,
        X_lab,
        y_lab,
        X_pool,
        refit="partial_fit",
        n_candidates=5,
        n_eval=20,
        random_state=0,
        return_details=True,
    )
    np.testing.assert_array_equal(model.coef_, coef)
    assert np.isfinite(scores).all()
    assert details.n_refits == int((details.proba > 0).sum())


# --------------------------------------------------------------------------- EER: contract


class CountingLogisticRegression(LogisticRegression):
    """Counts fits and predict_proba rows of every instance (clones included)."""

    fits = 0
    calls: list = []

    def fit(self, X, y, sample_weight=None):
        CountingLogisticRegression.fits += 1
        return super().fit(X, y, sample_weight)

    def predict_proba(self, X):
        CountingLogisticRegression.calls.append((id(self), X.shape[0]))
        return super().predict_proba(X)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_eer_fit_count_does_not_grow_with_the_pool(n_classes):
    X_lab, y_lab, X_big, _ = _split(n_classes, n_labeled=12, n_pool=1000, seed=5)
    n_cand, n_eval = 6, 25
    model = CountingLogisticRegression(max_iter=1000).fit(X_lab, y_lab)
    for n_pool in (100, 1000):  # 10x larger pool, same n_candidates and n_eval
        CountingLogisticRegression.fits = 0
        CountingLogisticRegression.calls = []
        _, _, details = expected_error_reduction(
            model,
            X_lab,
            y_lab,
            X_big[:n_pool],
            n_candidates=n_cand,
            n_eval=n_eval,
            random_state=0,
            return_details=True,
        )
        assert details.refit == "clone"  # not exactly LogisticRegression: no warm start
        assert CountingLogisticRegression.fits == n_cand * n_classes == details.n_refits
        on_model = [rows for who, rows in CountingLogisticRegression.calls if who == id(model)]
        on_refits = [rows for who, rows in CountingLogisticRegression.calls if who != id(model)]
        assert on_model == [n_pool]  # the pre-filter: the only call that sees the pool
        assert len(on_refits) == n_cand * n_classes
        assert max(on_refits) == n_eval


def test_eer_warm_start_model_calls_do_not_grow_with_the_pool():
    X_lab, y_lab, X_big, _ = _split(4, n_labeled=30, n_pool=2000, seed=6)
    model = make_model(_tight_logreg(), classes=[0, 1, 2, 3]).fit(X_lab, y_lab)
    rows = []
    original = model.predict_proba
    model.predict_proba = lambda X: rows.append(X.shape[0]) or original(X)
    for n_pool in (200, 2000):
        rows.clear()
        _, _, details = expected_error_reduction(
            model,
            X_lab,
            y_lab,
            X_big[:n_pool],
            n_candidates=7,
            n_eval=50,
            random_state=0,
            return_details=True,
        )
        assert details.refit == "warm_start"
        assert details.n_refits == 7 * 4
        assert rows == [n_pool]
    # with the probabilities already known the model is not called at all
    rows.clear()
    P = original(X_big[:200])
    expected_error_reduction(
        model, X_lab, y_lab, X_big[:200], proba=P, n_candidates=7, n_eval=50, random_state=0
    )
    assert rows == []


def test_eer_is_deterministic_under_a_seed():
    X_lab, y_lab, X_pool, _ = _split(3, n_labeled=20, n_pool=300, seed=8)
    model = LogisticRegression(max_iter=1000).fit(X_lab, y_lab)
    kw = dict(n_candidates=10, n_eval=50, return_details=True)
    a = expected_error_reduction(model, X_lab, y_lab, X_pool, random_state=11, **kw)
    b = expected_error_reduction(model, X_lab, y_lab, X_pool, random_state=11, **kw)
    c = expected_error_reduction(model, X_lab, y_lab, X_pool, random_state=12, **kw)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2].eval_indices, b[2].eval_indices)
    assert not np.array_equal(a[2].eval_indices, c[2].eval_indices)


def test_eer_prefilter_keeps_the_smallest_margins():
    X_lab, y_lab, X_pool, _ = _split(3, n_labeled=20, n_pool=200, seed=9)
    model = LogisticRegression(max_iter=1000).fit(X_lab, y_lab)
    cand = np.arange(50, 200)
    idx, scores = expected_error_reduction(
        model,
        X_lab,
        y_lab,
        X_pool,
        candidates=cand,
        n_candidates=15,
        n_eval=40,
        random_state=0,
    )
    P = np.sort(model.predict_proba(X_pool[cand]), axis=1)
    gap = P[:, -1] - P[:, -2]  # small gap = uncertain
    want = np.sort(cand[np.argsort(gap, kind="stable")[:15]])
    np.testing.assert_array_equal(idx, want)
    assert scores.shape == (15,) and np.isfinite(scores).all()
    assert np.all(np.diff(idx) > 0)


def test_eer_task_classes_absent_from_the_labeled_set():
    X_lab, y_lab, X_pool, _ = _split(3, n_labeled=15, n_pool=80, seed=10)
    kw = dict(n_candidates=9, n_eval=30, random_state=4, return_details=True)
    raw = _tight_logreg().fit(X_lab, y_lab)
    i_raw, s_raw, d_raw = expected_error_reduction(raw, X_lab, y_lab, X_pool, **kw)
    task = make_model(_tight_logreg(), classes=[0, 1, 2, 3]).fit(X_lab, y_lab)
    i_t, s_t, d_t = expected_error_reduction(task, X_lab, y_lab, X_pool, **kw)
    np.testing.assert_array_equal(i_raw, i_t)
    np.testing.assert_allclose(s_t, s_raw, rtol=0, atol=1e-8)
    assert d_t.proba.shape == (9, 4) and np.all(d_t.proba[:, 3] == 0)
    assert np.isnan(d_t.loss_given_label[:, 3]).all()
    assert d_t.n_refits == 9 * 3
    # a raw estimator with the task's class list gives the same
    _, s_c, d_c = expected_error_reduction(raw, X_lab, y_lab, X_pool, classes=[0, 1, 2, 3], **kw)
    np.testing.assert_allclose(s_c, s_raw, rtol=0, atol=1e-8)
    assert d_c.proba.shape == (9, 4)


def test_eer_one_class_model_scores_zero():
    rng = np.random.default_rng(0)
    X_lab, y_lab = rng.normal(size=(4, 3)), np.zeros(4, dtype=int)
    model = make_model("logreg", classes=[0, 1]).fit(X_lab, y_lab)
    _, scores, details = expected_error_reduction(
        model,
        X_lab,
        y_lab,
        rng.normal(size=(30, 3)),
        n_candidates=5,
        n_eval=10,
        random_state=0,
        return_details=True,
    )
    np.testing.assert_array_equal(scores, np.zeros(5))
    assert details.n_refits == 0


def test_eer_sparse_pool_equals_dense():
    X_lab, y_lab, X_pool, _ = _split(3, n_labeled=20, n_pool=120, seed=12)
    model = LogisticRegression(max_iter=1000).fit(X_lab, y_lab)
    kw = dict(n_candidates=8, n_eval=40, random_state=0)
    i_d, s_d = expected_error_reduction(model, X_lab, y_lab, X_pool, **kw)
    i_s, s_s = expected_error_reduction(
        model, sparse.csr_matrix(X_lab), y_lab, sparse.csr_matrix(X_pool), **kw
    )
    np.testing.assert_array_equal(i_d, i_s)
    np.testing.assert_allclose(s_s, s_d, rtol=0, atol=1e-9)


def test_eer_does_not_mutate_its_inputs():
    X_lab, y_lab, X_pool, _ = _split(3, n_labeled=20, n_pool=100, seed=13)
    model = LogisticRegression(max_iter=1000).fit(X_lab, y_lab)
    before = (
        model.coef_.copy(),
        model.intercept_.copy(),
        X_lab.copy(),
        y_lab.copy(),
        X_pool.copy(),
    )
    expected_error_reduction(model, X_lab, y_lab, X_pool, n_candidates=5, n_eval=20, random_state=0)
    after = (model.coef_, model.intercept_, X_lab, y_lab, X_pool)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"loss": "hinge"}, InvalidInputError, "loss"),
        ({"prefilter": "bald"}, InvalidInputError, "prefilter"),
        ({"refit": "newton"}, InvalidInputError, "refit"),
        ({"n_candidates": 0}, InvalidInputError, "n_candidates"),
        ({"n_eval": 2.5}, InvalidInputError, "n_eval"),
        ({"candidates": []}, EmptyPoolError, "empty"),
        ({"proba": np.full((3, 3), 1 / 3)}, InvalidInputError, "proba"),
        ({"classes": [0, 1]}, InvalidInputError, "not in classes"),
    ],
)
def test_eer_rejects_bad_arguments(kwargs, error, match):
    X_lab, y_lab, X_pool, _ = _split(3, n_labeled=10, n_pool=20, seed=14)
    model = LogisticRegression(max_iter=1000).fit(X_lab, y_lab)
    with pytest.raises(error, match=match):
        expected_error_reduction(model, X_lab, y_lab, X_pool, **kwargs)


def test_eer_rejects_bad_models_and_data():
    X_lab, y_lab, X_pool, _ = _split(3, n_labeled=10, n_pool=20, seed=15)
    with pytest.raises(MissingRequirementError, match="fit"):
        expected_error_reduction(LogisticRegression(), X_lab, y_lab, X_pool)
    model = SGDClassifier(loss="log_loss", random_state=0).fit(X_lab, y_lab)
    with pytest.raises(InvalidInputError, match="warm_start"):
        expected_error_reduction(model, X_lab, y_lab, X_pool, refit="warm_start")
    lr = LogisticRegression(max_iter=1000).fit(X_lab, y_lab)
    bad = X_pool.copy()
    bad[3, 1] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        expected_error_reduction(lr, X_lab, y_lab, bad)
    with pytest.raises(InvalidInputError, match="features"):
        expected_error_reduction(lr, X_lab, y_lab, X_pool[:, :2])
    with pytest.raises(InvalidInputError, match="y_labeled has labels"):
        expected_error_reduction(lr, X_lab, np.where(y_lab == 2, 7, y_lab), X_pool)


def test_eer_string_labels_in_task_order_line_up():
    # task columns ["dog", "unseen", "ant", "bee"]; scikit-learn sorts its classes_
    X_lab, y_lab, X_pool, _ = _split(3, n_labeled=15, n_pool=80, seed=16)
    names = np.array(["dog", "ant", "bee"])
    kw = dict(n_candidates=9, n_eval=30, random_state=4, return_details=True)
    _, s_int, d_int = expected_error_reduction(
        _tight_logreg().fit(X_lab, y_lab), X_lab, y_lab, X_pool, **kw
    )
    task = ["dog", "unseen", "ant", "bee"]
    model = make_model(_tight_logreg(), classes=task).fit(X_lab, names[y_lab])
    _, s_str, d_str = expected_error_reduction(model, X_lab, names[y_lab], X_pool, **kw)
    np.testing.assert_allclose(s_str, s_int, rtol=0, atol=1e-8)
    # integer class k is names[k]; its column in the task is task.index(names[k])
    for k, name in enumerate(names):
        col = task.index(name)
        np.testing.assert_allclose(d_str.proba[:, col], d_int.proba[:, k], atol=1e-10)
        np.testing.assert_allclose(
            d_str.loss_given_label[:, col], d_int.loss_given_label[:, k], rtol=0, atol=1e-8
        )
    assert np.isnan(d_str.loss_given_label[:, 1]).all()


def test_eer_slow_problems_finished_by_lbfgs_still_match(monkeypatch):
    import labelwise.strategies._expected as E

    X_lab, y_lab, X_pool, _ = _split(3, n_labeled=8, n_pool=40, seed=17)
    model = _tight_logreg().fit(X_lab, y_lab)
    kw = dict(n_candidates=6, n_eval=40, random_state=0, return_details=True)
    _, s_c, d_c = expected_error_reduction(model, X_lab, y_lab, X_pool, refit="clone", **kw)
    monkeypatch.setattr(E, "_WARM_MAX_ITER", 1)  # every problem goes to scipy's L-BFGS-B
    _, s_w, d_w = expected_error_reduction(model, X_lab, y_lab, X_pool, refit="warm_start", **kw)
    np.testing.assert_allclose(d_w.loss_given_label, d_c.loss_given_label, rtol=0, atol=1e-6)
    np.testing.assert_allclose(s_w, s_c, rtol=0, atol=1e-6)
