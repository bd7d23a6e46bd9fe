"""Density scorers against independent computations: sklearn and brute-force numpy written here."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.cluster import KMeans
from sklearn.neighbors import KernelDensity, NearestNeighbors

from labelwise.errors import InvalidInputError, UnknownNameError
from labelwise.strategies._density import (
    cluster_density,
    information_density,
    kde_density,
    knn_density,
    typicality,
)


def _pool(seed, n=200, d=4):
    # the scorers work in float32; the references use the same float32 values in float64
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def _sk_knn(X, k):
    """Distances to the k nearest *other* rows with scikit-learn (exact, float64)."""
    X64 = np.asarray(X, dtype=np.float64)
    k = min(k, X64.shape[0] - 1)
    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(X64).kneighbors(X64)
    assert (idx[:, 0] == np.arange(X64.shape[0])).all()  # no duplicates in the test data
    return dist[:, 1:]


def _brute_knn(X, k):
    """Same with a full distance matrix in numpy (fine for a few hundred rows)."""
    X64 = np.asarray(X, dtype=np.float64)
    D = np.sqrt(((X64[:, None, :] - X64[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(D, np.inf)
    k = min(k, X64.shape[0] - 1)
    return np.sort(D, axis=1)[:, :k]


def _entropy(p):
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)


# --------------------------------------------------------------------------- typicality


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("k", [1, 5, 20, 199, 500])
def test_typicality_matches_sklearn(seed, k):
    X = _pool(seed)
    want = 1.0 / (1e-7 + _sk_knn(X, k).mean(axis=1))
    np.testing.assert_allclose(typicality(X, k=k), want, rtol=1e-4)


def test_typicality_default_k_is_20():
    X = _pool(2)
    want = 1.0 / (1e-7 + _brute_knn(X, 20).mean(axis=1))
    np.testing.assert_allclose(typicality(X), want, rtol=1e-4)


def test_typicality_candidates_use_the_whole_pool():
    X = _pool(3)
    cand = np.random.default_rng(3).permutation(200)[:37]
    want = 1.0 / (1e-7 + _sk_knn(X, 7).mean(axis=1))
    np.testing.assert_allclose(typicality(X, k=7, candidates=cand), want[cand], rtol=1e-4)


def test_typicality_hand_worked():
    # 1-D points 0, 1, 3, 10 with k = 2: mean distances 2, 1.5, 2.5, 8
    got = typicality([[0.0], [1.0], [3.0], [10.0]], k=2)
    np.testing.assert_allclose(got, [1 / 2, 1 / 1.5, 1 / 2.5, 1 / 8], rtol=1e-6)


# --------------------------------------------------------------------------- knn_density


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("k", [1, 10, 20, 300])
def test_knn_density_matches_sklearn(seed, k):
    X = _pool(seed)
    want = (1.0 / (1.0 + _sk_knn(X, k))).mean(axis=1)
    np.testing.assert_allclose(knn_density(X, k=k), want, rtol=1e-5)


def test_knn_density_candidates_and_brute_force():
    X = _pool(4, n=120, d=3)
    cand = [5, 0, 119, 64]
    want = (1.0 / (1.0 + _brute_knn(X, 20))).mean(axis=1)
    np.testing.assert_allclose(knn_density(X), want, rtol=1e-5)
    np.testing.assert_allclose(knn_density(X, candidates=cand), want[cand], rtol=1e-5)


def test_knn_density_hand_worked():
    # 0, 1, 3 with k = 2: similarities (1/2 + 1/4)/2, (1/2 + 1/3)/2, (1/3 + 1/4)/2
    got = knn_density([[0.0], [1.0], [3.0]], k=2)
    np.testing.assert_allclose(got, [0.375, 5 / 12, 7 / 24], rtol=1e-6)


# --------------------------------------------------------------------------- kde_density


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("h", [0.3, 1.0])
def test_kde_density_full_neighbourhood_is_leave_one_out_sklearn_kde(seed, h):
    X = _pool(seed, n=120)
    X64 = X.astype(np.float64)
    n = X.shape[0]
    # leave-one-out with scikit-learn: a KDE fitted on every other row, evaluated at the row
    want = np.array(
        [
            KernelDensity(kernel="gaussian", bandwidth=h, rtol=0, atol=0)
            .fit(np.delete(X64, i, axis=0))
            .score_samples(X64[i : i + 1])[0]
            for i in range(n)
        ]
    )
    np.testing.assert_allclose(kde_density(X, k=n - 1, bandwidth=h), want, rtol=1e-5, atol=1e-5)
    # k beyond the pool is clipped to n - 1
    np.testing.assert_allclose(kde_density(X, k=10 * n, bandwidth=h), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k", [1, 5, 50])
def test_kde_density_truncated_matches_brute_force(k):
    X = _pool(5)
    n, d = X.shape
    h = 0.4
    dist = _brute_knn(X, k)
    dens = np.exp(-(dist**2) / (2 * h * h)).sum(axis=1) / (n - 1) / (2 * np.pi * h * h) ** (d / 2)
    np.testing.assert_allclose(kde_density(X, k=k, bandwidth=h), np.log(dens), rtol=1e-5)
    cand = np.arange(0, 200, 7)
    np.testing.assert_allclose(
        kde_density(X, k=k, bandwidth=h, candidates=cand), np.log(dens)[cand], rtol=1e-5
    )


def test_kde_density_default_bandwidth_is_scott():
    X = _pool(6, n=300, d=3) * np.array([1.0, 3.0, 0.5], dtype=np.float32)
    n, d = X.shape
    sigma = np.sqrt(X.astype(np.float64).var(axis=0).mean())
    h = sigma * n ** (-1 / (d + 4))
    np.testing.assert_allclose(kde_density(X, k=30), kde_density(X, k=30, bandwidth=h), rtol=1e-6)


def test_kde_density_stays_finite_in_high_dimension():
    # the density itself underflows (exp(-d^2 / 2h^2) < 1e-308); its log must not
    X = _pool(7, n=100, d=512)
    n, d = X.shape
    h, k = 0.3, 10
    dist = _brute_knn(X, k)
    log_kernel = -(dist**2) / (2 * h * h)
    top = log_kernel.max(axis=1)
    want = (
        top
        + np.log(np.exp(log_kernel - top[:, None]).sum(axis=1))
        - np.log(n - 1)
        - d / 2 * np.log(2 * np.pi * h * h)
    )
    assert (np.exp(log_kernel) == 0).all()  # the direct sum would be 0 for every row
    s = kde_density(X, k=k, bandwidth=h)
    assert np.isfinite(s).all()
    np.testing.assert_allclose(s, want, rtol=1e-5)


def test_kde_density_extreme_bandwidths_stay_finite():
    X = [[0.0], [0.0], [1.0], [1e-30]]
    for h in (1e-200, 1e-30, 1e200):
        s = kde_density(X, bandwidth=h)
        assert np.isfinite(s).all(), h
    # the duplicated pair is the densest for any small bandwidth
    s = kde_density(X, bandwidth=1e-3)
    assert s[0] == s[1] > s[2]


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf, np.nan, "1", True])
def test_kde_density_rejects_bad_bandwidth(bad):
    with pytest.raises(InvalidInputError):
        kde_density(_pool(0, n=10), bandwidth=bad)


# --------------------------------------------------------------------------- information_density


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("k", [3, 20])
def test_information_density_matches_hand_formula(beta, k):
    X = _pool(8, n=150, d=3)
    proba = np.random.default_rng(8).dirichlet([0.7] * 4, size=150)
    sim = (1.0 / (1.0 + _brute_knn(X, k))).mean(axis=1)
    want = _entropy(proba) * sim**beta
    got = information_density(proba, X, beta=beta, k=k)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-12)


def test_information_density_defaults_and_other_uncertainties():
    X = _pool(9, n=80, d=2)
    proba = np.random.default_rng(9).dirichlet([1.0] * 3, size=80)
    sim = (1.0 / (1.0 + _brute_knn(X, 20))).mean(axis=1)
    np.testing.assert_allclose(information_density(proba, X), _entropy(proba) * sim, rtol=1e-5)
    p = np.sort(proba, axis=1)[:, ::-1]
    hand = {
        "least_confidence": 1 - p[:, 0],
        "margin": 1 - (p[:, 0] - p[:, 1]),
        "ratio": p[:, 1] / p[:, 0],
        "variance": 1 - proba.var(axis=1) / (2 / 9),
    }
    for name, u in hand.items():
        got = information_density(proba, X, beta=2.0, uncertainty=name)
        np.testing.assert_allclose(got, u * sim**2, rtol=1e-5, atol=1e-12, err_msg=name)


def test_information_density_candidates_measure_density_against_the_pool():
    X = _pool(10, n=100, d=3)
    cand = np.array([99, 3, 50, 7, 8])
    proba = np.random.default_rng(10).dirichlet([1.0, 1.0], size=cand.size)
    sim = (1.0 / (1.0 + _brute_knn(X, 5))).mean(axis=1)[cand]
    got = information_density(proba, X, k=5, candidates=cand)
    np.testing.assert_allclose(got, _entropy(proba) * sim, rtol=1e-5)


def test_information_density_hand_worked():
    # margin 1, 1, 0.2; nearest-neighbour similarities 1/2, 1/10, 1/2
    got = information_density(
        [[0.5, 0.5], [0.5, 0.5], [0.9, 0.1]], [[0.0], [10.0], [1.0]], k=1, uncertainty="margin"
    )
    np.testing.assert_allclose(got, [0.5, 0.1, 0.1], rtol=1e-6)


def test_information_density_errors():
    X = _pool(0, n=10)
    proba = np.full((10, 2), 0.5)
    with pytest.raises(InvalidInputError, match="rows"):
        information_density(proba[:9], X)
    with pytest.raises(UnknownNameError, match="entropy"):
        information_density(proba, X, uncertainty="entropie")
    for bad in (-1.0, np.nan, np.inf, "1"):
        with pytest.raises(InvalidInputError, match="beta"):
            information_density(proba, X, beta=bad)
    with pytest.raises(InvalidInputError):
        information_density([[0.9, 0.9]] * 10, X)  # not probabilities


# --------------------------------------------------------------------------- cluster_density


def test_cluster_density_matches_sklearn_kmeans_partition():
    rng = np.random.default_rng(11)
    centres = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    sizes = [50, 30, 20]
    X = np.concatenate([c + rng.normal(size=(s, 2)) for c, s in zip(centres, sizes, strict=True)])
    X = X.astype(np.float32)
    labels = KMeans(3, n_init=10, random_state=0).fit_predict(X.astype(np.float64))
    X64 = X.astype(np.float64)
    want = np.empty(X.shape[0])
    for c in range(3):
        members = labels == c
        mu = X64[members].mean(axis=0)
        want[members] = members.mean() / (1 + np.linalg.norm(X64[members] - mu, axis=1))
    got = cluster_density(X, n_clusters=3, random_state=0)
    np.testing.assert_allclose(got, want, rtol=1e-4)
    cand = [0, 99, 60]
    np.testing.assert_allclose(
        cluster_density(X, n_clusters=3, random_state=0, candidates=cand), want[cand], rtol=1e-4
    )
    # the larger cluster's centre beats the small cluster's centre
    assert got[:50].max() > got[80:].max()


def test_cluster_density_hand_worked():
    X = [[0.0], [0.2], [0.4], [9.0], [9.2]]
    got = cluster_density(X, n_clusters=2, random_state=0)
    np.testing.assert_allclose(got, [0.6 / 1.2, 0.6, 0.6 / 1.2, 0.4 / 1.1, 0.4 / 1.1], rtol=1e-5)


def test_cluster_density_deterministic_under_seed():
    X = _pool(12, n=300, d=5)
    a = cluster_density(X, n_clusters=7, random_state=3)
    np.testing.assert_array_equal(a, cluster_density(X, n_clusters=7, random_state=3))


# --------------------------------------------------------------------------- shared properties

SCORERS = {
    "typicality": lambda X, **kw: typicality(X, **kw),
    "knn_density": lambda X, **kw: knn_density(X, **kw),
    "kde_density": lambda X, **kw: kde_density(X, **kw),
    "cluster_density": lambda X, **kw: cluster_density(X, n_clusters=2, random_state=0, **kw),
    "information_density": lambda X, **kw: information_density(
        np.full((len(X) if kw.get("candidates") is None else len(kw["candidates"]), 2), 0.5),
        X,
        **kw,
    ),
}


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_dense_region_beats_outlier(name):
    X = np.concatenate([_pool(13, n=60, d=2) * 0.5, [[30.0, 30.0]]]).astype(np.float32)
    s = SCORERS[name](X)
    assert s.shape == (61,)
    assert s[-1] < s[:-1].min()


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_inputs_not_mutated_and_row_permutation_invariant(name):
    X = _pool(14, n=50, d=3)
    before = X.copy()
    s = SCORERS[name](X)
    np.testing.assert_array_equal(X, before)
    if name != "cluster_density":  # k-means initialisation depends on row order
        perm = np.random.default_rng(0).permutation(50)
        np.testing.assert_allclose(SCORERS[name](X[perm]), s[perm], rtol=1e-5)


@pytest.mark.parametrize("name", sorted(SCORERS))
@pytest.mark.parametrize("n", [1, 2, 3, 20])
def test_small_pools_clip_k(name, n):
    X = _pool(15, n=n, d=2)
    s = SCORERS[name](X)
    assert s.shape == (n,) and s.dtype == np.float64 and np.isfinite(s).all()


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_empty_candidates_give_empty_scores(name):
    s = SCORERS[name](_pool(0, n=5), candidates=[])
    assert s.shape == (0,)


@settings(max_examples=60, deadline=None)
@given(
    X=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 30), st.integers(1, 4)),
        elements=st.sampled_from([0.0, 1.0, -2.5]) | st.floats(-1e3, 1e3, width=32),
    ),
    k=st.integers(1, 40),
    beta=st.floats(0, 5),
)
def test_finite_for_any_valid_input(X, k, beta):
    n = X.shape[0]
    proba = np.tile([0.2, 0.8], (n, 1))
    outs = [
        typicality(X, k=k),
        knn_density(X, k=k),
        kde_density(X, k=k),
        information_density(proba, X, beta=beta, k=k),
        cluster_density(X, n_clusters=k, random_state=0),
    ]
    for s in outs:
        assert s.shape == (n,) and np.isfinite(s).all()
    assert (outs[1] > 0).all() and (outs[1] <= 1).all()


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "5"])
def test_bad_k_raises(bad):
    X = _pool(0, n=10)
    for fn in (typicality, knn_density, kde_density):
        with pytest.raises(InvalidInputError, match="k"):
            fn(X, k=bad)
    with pytest.raises(InvalidInputError, match="n_clusters"):
        cluster_density(X, n_clusters=bad)


def test_bad_X_and_candidates_raise():
    with pytest.raises(InvalidInputError):
        typicality([1.0, 2.0])
    with pytest.raises(InvalidInputError):
        knn_density([[0.0], [np.nan]])
    with pytest.raises(InvalidInputError):
        kde_density(_pool(0, n=5), candidates=[5])
    with pytest.raises(InvalidInputError):
        cluster_density(_pool(0, n=5), candidates=[1, 1])


# --------------------------------------------------------------------------- memory


def test_memory_stays_far_below_an_n_by_n_matrix():
    # 30,000 rows: an n x n float64 matrix would take 7.2 GB, a float32 one 3.6 GB, even a
    # float16 one 1.8 GB -- each far above the 500 MiB bound. (Exact kNN costs O(n^2 d) time,
    # so a larger pool only makes the default run slower without making the check stricter.)
    n, d = 30_000, 16
    X = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    proba = np.random.default_rng(1).dirichlet([1.0] * 3, size=n)
    bound = 500 * 2**20
    for name, fn in [
        ("typicality", lambda: typicality(X)),
        ("knn_density", lambda: knn_density(X)),
        ("information_density", lambda: information_density(proba, X)),
    ]:
        tracemalloc.start()
        try:
            s = fn()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert s.shape == (n,) and np.isfinite(s).all(), name
        assert peak < bound, f"{name}: peak {peak / 2**20:.0f} MiB"
