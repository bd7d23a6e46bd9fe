"""ranked_batch and BADGE against brute-force references and finite differences written here."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from labelwise.errors import EmptyPoolError, InvalidInputError
from labelwise.strategies._batch import badge, gradient_embedding, ranked_batch


def _pairwise(X):
    X = np.asarray(X, dtype=np.float64)
    return np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2))


def _pool(seed, n=80, d=3):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


# --------------------------------------------------------------------------- ranked_batch


def ref_ranked_batch(X, scores, labeled, candidates, b):
    """Cardoso et al. (2017), written out: a full distance matrix and a plain loop."""
    D = _pairwise(X)
    X64 = np.asarray(X, dtype=np.float64)
    u = dict(zip(candidates, scores, strict=True))
    lab = list(labeled)
    picks = []
    while len(picks) < min(b, len(candidates)):
        left = [c for c in candidates if c not in picks]
        if not lab:  # cold start: least mean squared distance to the candidates
            best = min(left, key=lambda c: ((X64[candidates] - X64[c]) ** 2).sum(axis=1).mean())
        else:
            alpha = len(left) / (len(left) + len(lab))
            best, best_s = None, -np.inf
            for c in left:
                sim = 1.0 / (1.0 + min(D[c, z] for z in lab))
                s = alpha * (1.0 - sim) + (1.0 - alpha) * u[c]
                if s > best_s:
                    best, best_s = c, s
        picks.append(best)
        lab.append(best)
    return picks


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_labeled", [1, 5, 30])
@pytest.mark.parametrize("b", [1, 6, 25])
def test_ranked_batch_matches_brute_force(seed, n_labeled, b):
    X = _pool(seed)
    rng = np.random.default_rng(50 + seed)
    labeled = rng.choice(80, size=n_labeled, replace=False).tolist()
    candidates = [i for i in range(80) if i not in labeled]
    scores = rng.random(len(candidates))
    want = ref_ranked_batch(X, scores, labeled, candidates, b)
    got = ranked_batch(scores, X, labeled=labeled, batch_size=b, random_state=seed)
    assert got.tolist() == want


@pytest.mark.parametrize("seed", [0, 4])
def test_ranked_batch_explicit_candidates_and_uncertainty_scale(seed):
    X = _pool(seed) * 3
    rng = np.random.default_rng(seed)
    perm = rng.permutation(80)
    labeled, candidates = perm[:10].tolist(), perm[10:50].tolist()  # unsorted candidates
    scores = rng.random(40) ** 3
    want = ref_ranked_batch(X, scores, labeled, candidates, 12)
    got = ranked_batch(scores, X, labeled=labeled, candidates=candidates, batch_size=12)
    assert got.tolist() == want
    assert set(got.tolist()) <= set(candidates)


@pytest.mark.parametrize("seed", [0, 1])
def test_ranked_batch_cold_start(seed):
    X = _pool(seed)
    scores = np.random.default_rng(seed).random(80)
    want = ref_ranked_batch(X, scores, [], list(range(80)), 10)
    assert ranked_batch(scores, X, labeled=[], batch_size=10).tolist() == want


def test_ranked_batch_hand_worked():
    # labeled 0 at x=0; candidates x = 0.1 (u 0.9), 5.0 (u 0.2), 0.2 (u 0.8)
    # pick 1: alpha = 3/4; 1 - sim = 1/11, 5/6, 1/6 -> 0.293, 0.675, 0.325 -> x=5.0
    # pick 2: alpha = 2/4; 0.5/11 + 0.45 = 0.495 vs 0.5/6 + 0.4 = 0.483 -> x=0.1
    got = ranked_batch([0.9, 0.2, 0.8], [[0.0], [0.1], [5.0], [0.2]], labeled=[0], batch_size=3)
    assert got.tolist() == [2, 1, 3]


def test_ranked_batch_contract_and_errors():
    X = _pool(5, n=30)
    got = ranked_batch(np.ones(27), X, labeled=[0, 1, 2], batch_size=100, random_state=0)
    assert sorted(got.tolist()) == list(range(3, 30))
    a = ranked_batch(np.ones(27), X, labeled=[0, 1, 2], batch_size=5, random_state=7)
    b = ranked_batch(np.ones(27), X, labeled=[0, 1, 2], batch_size=5, random_state=7)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(EmptyPoolError):
        ranked_batch([], X, labeled=list(range(30)), batch_size=1)
    with pytest.raises(InvalidInputError, match="candidates"):
        ranked_batch(np.ones(5), X, labeled=[0], batch_size=1)
    with pytest.raises(InvalidInputError):
        ranked_batch(np.ones(29), X, labeled=[0], batch_size=0)
    with pytest.raises(InvalidInputError):
        ranked_batch(np.full(29, np.nan), X, labeled=[0], batch_size=1)


# --------------------------------------------------------------------------- gradient_embedding


def _softmax(z):
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_embedding_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    n, c, d = 5, 4, 3
    W = rng.normal(size=(c, d))
    X = rng.normal(size=(n, d)).astype(np.float32).astype(np.float64)
    proba = np.array([_softmax(W @ x) for x in X])
    got = gradient_embedding(proba, X)
    assert got.shape == (n, c * d) and got.dtype == np.float32
    eps = 1e-6
    for i in range(n):
        y_hat = int(np.argmax(proba[i]))

        def loss(w_flat, x=X[i], y=y_hat):
            return -np.log(_softmax(w_flat.reshape(c, d) @ x)[y])

        fd = np.empty(c * d)
        for j in range(c * d):
            step = np.zeros(c * d)
            step[j] = eps
            fd[j] = (loss(W.ravel() + step) - loss(W.ravel() - step)) / (2 * eps)
        np.testing.assert_allclose(got[i], fd, rtol=1e-4, atol=1e-6)


def test_gradient_embedding_hand_worked_and_errors():
    got = gradient_embedding([[0.75, 0.25], [0.1, 0.9]], [[2.0, 4.0], [1.0, -1.0]])
    np.testing.assert_allclose(got, [[-0.5, -1.0, 0.5, 1.0], [0.1, -0.1, -0.1, 0.1]], rtol=1e-6)
    with pytest.raises(InvalidInputError, match="rows"):
        gradient_embedding([[0.5, 0.5]], [[1.0], [2.0]])
    with pytest.raises(InvalidInputError):
        gradient_embedding([[0.5, 0.7]], [[1.0]])


# --------------------------------------------------------------------------- badge


@pytest.mark.parametrize("seed", range(5))
def test_badge_first_pick_has_the_largest_gradient_norm(seed):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet([0.5] * 5, size=200)
    X = rng.normal(size=(200, 6))
    G = gradient_embedding(proba, X)
    norms = np.linalg.norm(G.astype(np.float64), axis=1)
    got = badge(G, batch_size=10, random_state=seed)
    assert got[0] == int(np.argmax(norms))
    cand = rng.permutation(200)[:60]
    got = badge(G, batch_size=10, random_state=seed, candidates=cand)
    assert got[0] == cand[int(np.argmax(norms[cand]))]
    assert set(got.tolist()) <= set(cand.tolist()) and len(set(got.tolist())) == 10


def test_badge_second_pick_follows_d2_sampling():
    # first pick: the largest norm, [10, 0]; squared distances to it: 1, 4, 9
    G = [[9.0, 0.0], [10.0, 0.0], [8.0, 0.0], [7.0, 0.0]]
    draws = np.array([badge(G, batch_size=2, random_state=s)[1] for s in range(3000)])
    assert (badge(G, batch_size=1)[0] == 1) and not (draws == 1).any()
    freq = np.array([(draws == i).mean() for i in (0, 2, 3)])
    np.testing.assert_allclose(freq, np.array([1, 4, 9]) / 14, atol=0.03)


def test_badge_picks_are_unique_even_with_duplicates():
    G = np.ones((12, 3), dtype=np.float32)
    G[:3] = 2.0
    got = badge(G, batch_size=12, random_state=0)
    assert sorted(got.tolist()) == list(range(12))
    assert got[0] in (0, 1, 2)
    got = badge(G, batch_size=50, candidates=[4, 9, 2], random_state=1)
    assert sorted(got.tolist()) == [2, 4, 9]


def test_badge_deterministic_under_seed_and_errors():
    G = gradient_embedding(np.random.default_rng(0).dirichlet([1.0] * 3, size=100), _pool(0, 100))
    np.testing.assert_array_equal(
        badge(G, batch_size=20, random_state=3), badge(G, batch_size=20, random_state=3)
    )
    with pytest.raises(EmptyPoolError):
        badge(G, batch_size=1, candidates=[])
    with pytest.raises(InvalidInputError):
        badge(G, batch_size=0)
    with pytest.raises(InvalidInputError):
        badge(G[0], batch_size=1)


def test_badge_and_embedding_memory_are_linear_in_n():
    # 60,000 rows of 10 classes x 16 features: the embeddings take 38 MB; an n x n float64
    # matrix would take 28.8 GB
    n, c, d = 60_000, 10, 16
    rng = np.random.default_rng(0)
    proba = rng.dirichlet([0.5] * c, size=n)
    X = rng.normal(size=(n, d)).astype(np.float32)
    tracemalloc.start()
    try:
        G = gradient_embedding(proba, X)
        emb_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        got = badge(G, batch_size=50, random_state=0)
        badge_peak = tracemalloc.get_traced_memory()[1] - G.nbytes
    finally:
        tracemalloc.stop()
    assert len(set(got.tolist())) == 50
    assert emb_peak < 2.5 * G.nbytes, emb_peak  # output + the float32 copy of proba and X
    assert badge_peak < 20 * 2**20, badge_peak
