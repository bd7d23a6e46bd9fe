"""Batch selectors against brute-force references and hand-worked examples written here."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.datasets import make_blobs
from sklearn.neighbors import NearestNeighbors

from labelwise.errors import EmptyPoolError, InvalidInputError
from labelwise.strategies import (
    class_balance,
    intersection,
    iterative_proximity,
    k_center_greedy,
    kmeans_equal,
    kmeans_proportional,
    novelty,
    representativeness,
    top_k,
    weighted,
)
from labelwise.strategies._selectors import k_center_greedy_with_gain


def _pairwise(X):
    """Full n x n Euclidean distance matrix in float64 (fine for the small test data)."""
    X = np.asarray(X, dtype=np.float64)
    diff = X[:, None, :] - X[None, :, :]
    return np.sqrt((diff**2).sum(axis=2))


def _pool(seed, n=60, d=3):
    # the selectors work in float32; the reference uses the same float32 values in float64
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


# --------------------------------------------------------------------------- k_center_greedy


def ref_k_center(X, labeled, candidates, b, first=None):
    """Brute force farthest-first: returns picks and each pick's distance at pick time."""
    D = _pairwise(X)
    centres = list(labeled)
    picks, gains = [], []
    if not centres:
        picks.append(first)
        gains.append(None)
        centres.append(first)
    while len(picks) < min(b, len(candidates)):
        best, best_d = None, -1.0
        for c in candidates:
            if c in picks:
                continue
            d = min(D[c, z] for z in centres)
            if d > best_d:
                best, best_d = c, d
        picks.append(best)
        gains.append(best_d)
        centres.append(best)
    return picks, gains


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_labeled", [1, 5, 20])
@pytest.mark.parametrize("b", [1, 4, 15])
def test_k_center_greedy_matches_brute_force(seed, n_labeled, b):
    X = _pool(seed)
    rng = np.random.default_rng(100 + seed)
    labeled = rng.choice(60, size=n_labeled, replace=False).tolist()
    candidates = [i for i in range(60) if i not in labeled]
    want, want_gain = ref_k_center(X, labeled, candidates, b)
    got = k_center_greedy(X, labeled=labeled, batch_size=b, random_state=seed)
    assert got.tolist() == want
    idx, gain = k_center_greedy_with_gain(X, labeled=labeled, batch_size=b, random_state=seed)
    assert idx.tolist() == want
    np.testing.assert_allclose(gain, want_gain, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 3])
def test_k_center_greedy_explicit_candidates(seed):
    X = _pool(seed)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(60)
    labeled, candidates = perm[:6].tolist(), sorted(perm[6:40].tolist())
    want, _ = ref_k_center(X, labeled, candidates, 10)
    got = k_center_greedy(X, labeled=labeled, candidates=candidates, batch_size=10)
    assert got.tolist() == want
    assert set(got.tolist()) <= set(candidates)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_k_center_greedy_empty_labeled_first_pick_random_then_farthest_first(seed):
    X = _pool(seed)
    got, gain = k_center_greedy_with_gain(X, labeled=[], batch_size=8, random_state=seed)
    want, want_gain = ref_k_center(X, [], list(range(60)), 8, first=int(got[0]))
    assert got.tolist() == want
    np.testing.assert_allclose(gain[1:], want_gain[1:], rtol=1e-4, atol=1e-5)
    # provenance stays finite even for the random first pick
    assert np.isfinite(gain).all()


def test_k_center_greedy_empty_labeled_first_pick_follows_seed():
    X = _pool(0)
    firsts = {
        int(k_center_greedy(X, labeled=[], batch_size=1, random_state=s)[0]) for s in range(12)
    }
    assert len(firsts) > 1  # the seed decides
    for s in range(3):
        a = k_center_greedy(X, labeled=[], batch_size=5, random_state=s)
        b = k_center_greedy(X, labeled=[], batch_size=5, random_state=s)
        np.testing.assert_array_equal(a, b)


def test_k_center_greedy_hand_worked():
    # 1-D points 0, 1, 10, 4, 7 with 0 labeled:
    #   distances to {0}: 1, 10, 4, 7 -> take 10 (index 2)
    #   to {0, 10}: 1, 4, 3 -> take 4 (index 3); then to {0, 10, 4}: 1, 3 -> take 7 (index 4)
    X = [[0.0], [1.0], [10.0], [4.0], [7.0]]
    assert k_center_greedy(X, labeled=[0], batch_size=3).tolist() == [2, 3, 4]


def test_k_center_greedy_batch_larger_than_pool():
    X = _pool(0, n=10)
    got = k_center_greedy(X, labeled=[0, 1], batch_size=50, random_state=0)
    assert sorted(got.tolist()) == list(range(2, 10))


# --------------------------------------------------------------------------- top_k


@settings(max_examples=40, deadline=None)
@given(
    scores=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40, unique=True),
    b=st.integers(1, 45),
    data=st.data(),
)
def test_top_k_matches_sort(scores, b, data):
    n = len(scores)
    candidates = data.draw(st.permutations(range(100)))[:n]
    order = sorted(range(n), key=lambda i: -scores[i])  # reference: a full sort
    want = [candidates[i] for i in order[: min(b, n)]]
    got = top_k(scores, batch_size=b, candidates=candidates, random_state=0)
    assert got.tolist() == want


def test_top_k_default_candidates():
    assert top_k([0.2, 0.9, 0.5, 0.7], batch_size=3).tolist() == [1, 3, 2]


def test_top_k_ties_broken_by_seed_deterministically():
    # one clear winner, then twelve tied scores competing for three places
    scores = [0.9] + [0.5] * 12 + [0.1] * 5
    results = set()
    for seed in range(15):
        a = top_k(scores, batch_size=4, random_state=seed).tolist()
        assert a == top_k(scores, batch_size=4, random_state=seed).tolist()
        assert a[0] == 0
        assert set(a[1:]) <= set(range(1, 13))
        assert len(set(a)) == 4
        results.add(frozenset(a))
    assert len(results) > 1  # which of the tied samples make it depends on the seed


@pytest.mark.parametrize("bad", [[0.1, np.nan], [[0.1, 0.2]], [np.inf]])
def test_top_k_invalid_scores(bad):
    with pytest.raises(InvalidInputError):
        top_k(bad, batch_size=1)


def test_top_k_empty_and_bad_batch():
    with pytest.raises(EmptyPoolError):
        top_k([], batch_size=1)
    for b in (0, -1, 1.5, True):
        with pytest.raises(InvalidInputError):
            top_k([0.1, 0.2], batch_size=b)


# --------------------------------------------------------------------------- kmeans_equal


BLOB_CENTRES = [[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]]


def _blobs(sizes, centres=BLOB_CENTRES, seed=0):
    X, y = make_blobs(n_samples=sizes, centers=centres, cluster_std=0.5, random_state=seed)
    return X.astype(np.float32), y


@pytest.mark.parametrize("seed", range(6))
def test_kmeans_equal_same_count_per_blob_nearest_centre_first(seed):
    X, y = _blobs([40, 40, 40])
    got = kmeans_equal(X, batch_size=6, n_clusters=3, random_state=seed)
    assert len(set(got.tolist())) == 6
    assert np.bincount(y[got], minlength=3).tolist() == [2, 2, 2]
    for c in range(3):
        members = np.flatnonzero(y == c)
        centre = X[members].astype(np.float64).mean(axis=0)
        d = np.linalg.norm(X[members] - centre, axis=1)
        nearest_two = set(members[np.argsort(d)[:2]].tolist())
        assert set(got[y[got] == c].tolist()) == nearest_two


@pytest.mark.parametrize("seed", range(4))
def test_kmeans_equal_never_picks_labeled(seed):
    X, y = _blobs([40, 40, 40])
    # label the three points nearest each blob's centre: they must be skipped
    labeled = []
    for c in range(3):
        members = np.flatnonzero(y == c)
        centre = X[members].astype(np.float64).mean(axis=0)
        labeled += members[np.argsort(np.linalg.norm(X[members] - centre, axis=1))[:3]].tolist()
    got = kmeans_equal(X, batch_size=9, labeled=labeled, n_clusters=3, random_state=seed)
    assert not set(got.tolist()) & set(labeled)
    assert len(set(got.tolist())) == 9
    assert np.bincount(y[got], minlength=3).tolist() == [3, 3, 3]


def test_kmeans_equal_deterministic_for_seed():
    X = _pool(5, n=80, d=4)
    a = kmeans_equal(X, batch_size=7, labeled=[0, 1, 2], n_clusters=4, random_state=11)
    b = kmeans_equal(X, batch_size=7, labeled=[0, 1, 2], n_clusters=4, random_state=11)
    np.testing.assert_array_equal(a, b)


def test_kmeans_equal_small_cluster_runs_out():
    # blob sizes 3 / 30 / 30, batch 11 over 3 clusters: one from each in turn; after three
    # rounds the small blob is empty and the other two share the last two -> 3 / 4 / 4
    X, y = _blobs([3, 30, 30])
    got = kmeans_equal(X, batch_size=11, n_clusters=3, random_state=0)
    assert np.bincount(y[got], minlength=3).tolist() == [3, 4, 4]


# --------------------------------------------------------------------------- kmeans_proportional


@pytest.mark.parametrize("seed", range(5))
def test_kmeans_proportional_picks_proportional_to_cluster_size(seed):
    X, y = make_blobs(n_samples=[300, 100], centers=[[0.0, 0.0], [10.0, 10.0]], random_state=1)
    scores = np.random.default_rng(seed).random(400)
    got = kmeans_proportional(scores, X, batch_size=8, n_clusters=2, random_state=seed)
    # 8 * 300/400 = 6 and 8 * 100/400 = 2
    assert np.bincount(y[got], minlength=2).tolist() == [6, 2]
    # inside each cluster the highest scores go first
    for c, q in ((0, 6), (1, 2)):
        members = np.flatnonzero(y == c)
        top = members[np.argsort(-scores[members])[:q]]
        assert set(got[y[got] == c].tolist()) == set(top.tolist())
    # and the batch is ordered best first
    assert np.all(np.diff(scores[got]) <= 0)


def test_kmeans_proportional_with_candidates():
    X, y = make_blobs(n_samples=[300, 100], centers=[[0.0, 0.0], [10.0, 10.0]], random_state=1)
    cand = np.flatnonzero(np.arange(400) % 2 == 0)  # 150 + 50 candidates: still 3 : 1
    s = np.random.default_rng(0).random(cand.size)
    got = kmeans_proportional(s, X, batch_size=4, candidates=cand, n_clusters=2, random_state=0)
    assert set(got.tolist()) <= set(cand.tolist())
    assert np.bincount(y[got], minlength=2).tolist() == [3, 1]


# --------------------------------------------------------------------------- iterative_proximity


@pytest.mark.parametrize("seed", range(6))
def test_iterative_proximity_equal_scores_spread_over_blobs(seed):
    X, y = make_blobs(
        n_samples=[30, 30], centers=[[0.0, 0.0], [50.0, 50.0]], cluster_std=1.0, random_state=seed
    )
    got = iterative_proximity(np.ones(60), X, batch_size=2, random_state=seed)
    assert y[got[0]] != y[got[1]]


def test_iterative_proximity_hand_worked():
    # 1-D points x = 0, 1, 3, 10 with scores 0.8, 1.0, 0.6, 0.4
    #   min-max scores: (s - 0.4) / 0.6 = 0.6667, 1, 0.3333, 0       -> pick 1 (x = 1)
    #   distances to {1}: 1, 0, 2, 9 -> / 9 = 0.1111, 0, 0.2222, 1 -> * 0.6 - 0.3:
    #     -0.2333, -0.3, -0.1667, 0.3; totals 0.4333, taken, 0.1667, 0.3 -> pick 0
    #   distances to {1, 0}: 0, 0, 2, 9 -> terms -0.3, -0.3, -0.1667, 0.3
    #     totals: index 2: 0.3333 - 0.1667 = 0.1667, index 3: 0 + 0.3 = 0.3 -> pick 3 (diversity
    #     beats the higher score), then 2.   Plain top-k would give 1, 0, 2, 3.
    X = [[0.0], [1.0], [3.0], [10.0]]
    got = iterative_proximity([0.8, 1.0, 0.6, 0.4], X, batch_size=4)
    assert got.tolist() == [1, 0, 3, 2]


def test_iterative_proximity_with_candidates():
    X = [[0.0], [1.0], [3.0], [10.0], [100.0]]
    got = iterative_proximity([0.8, 1.0, 0.6, 0.4], X, batch_size=3, candidates=[0, 1, 2, 3])
    assert got.tolist() == [1, 0, 3]


# --------------------------------------------------------------------------- weighted


def ref_weighted(criteria, strengths, b):
    """Rank each criterion (1 = lowest ... n = highest, distinct values), combine, sort."""
    names = list(criteria)
    n = len(criteria[names[0]])
    total = 0.0
    combined = [0.0] * n
    for k in names:
        w = strengths.get(k, 1.0)
        vals = criteria[k] if w >= 0 else [-v for v in criteria[k]]
        order = sorted(range(n), key=lambda i: vals[i])
        rank = [0] * n
        for r, i in enumerate(order):
            rank[i] = (r + 1) / n
        for i in range(n):
            combined[i] += abs(w) * rank[i]
        total += abs(w)
    combined = [c / total for c in combined]
    return sorted(range(n), key=lambda i: -combined[i])[:b], combined


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 30),
    seed=st.integers(0, 2**32 - 1),
    s_u=st.floats(-2, 2),
    s_n=st.floats(-2, 2),
    b=st.integers(1, 35),
)
def test_weighted_matches_rank_reference(n, seed, s_u, s_n, b):
    rng = np.random.default_rng(seed)
    crit = {"u": rng.random(n).tolist(), "n": rng.normal(size=n).tolist()}
    strengths = {"u": s_u, "n": s_n}
    assume(abs(s_u) + abs(s_n) > 1e-6)
    want, combined = ref_weighted(crit, strengths, b)
    got = weighted(crit, strengths=strengths, batch_size=b, random_state=0).tolist()
    # the combined values may tie (ranks are multiples of 1/n): compare them, not the indices
    np.testing.assert_allclose([combined[i] for i in got], [combined[i] for i in want], atol=1e-12)
    assert len(set(got)) == min(b, n)


@pytest.mark.parametrize("seed", range(5))
def test_weighted_invariant_to_monotone_transforms(seed):
    rng = np.random.default_rng(seed)
    u, nov, cost = rng.random(40), rng.random(40) * 5, rng.random(40) + 0.1
    strengths = {"u": 1.0, "nov": 0.5, "cost": -0.3}
    a = weighted(
        {"u": u, "nov": nov, "cost": cost}, strengths=strengths, batch_size=10, random_state=seed
    )
    b = weighted(
        {"u": np.exp(5 * u), "nov": nov**3 - 7, "cost": np.log(cost)},
        strengths=strengths,
        batch_size=10,
        random_state=seed,
    )
    np.testing.assert_array_equal(a, b)


def test_weighted_strengths_change_result_by_hand():
    # ranks / 4: u -> [1, .75, .25, .5], n -> [.25, .5, 1, .75]
    # strengths (1, 0.1): (u + 0.1 n) / 1.1 -> [1.025, .8, .35, .575] / 1.1 -> 0, 1, 3, 2
    # strengths (0.1, 1): (0.1 u + n) / 1.1 -> [.35, .575, 1.025, .8] / 1.1 -> 2, 3, 1, 0
    crit = {"u": [0.9, 0.8, 0.1, 0.2], "n": [0.1, 0.2, 0.9, 0.8]}
    assert weighted(crit, strengths={"u": 1.0, "n": 0.1}, batch_size=4).tolist() == [0, 1, 3, 2]
    assert weighted(crit, strengths={"u": 0.1, "n": 1.0}, batch_size=4).tolist() == [2, 3, 1, 0]


def test_weighted_negative_strength_prefers_low_values():
    cost = [5.0, 1.0, 3.0, 0.5, 9.0]
    assert weighted({"cost": cost}, strengths={"cost": -1.0}, batch_size=2).tolist() == [3, 1]
    assert weighted({"cost": cost}, strengths={"cost": 1.0}, batch_size=2).tolist() == [4, 0]
    # u equal everywhere except a tie between 0 and 2: the cheaper of the two wins
    #   u ranks: [.9, .4, .9, .4, .4] (average ranks), cost (negated) ranks: [.4, .8, .6, 1, .2]
    #   combined / 2: index 0 -> .65, index 2 -> .75 -> 2 first
    u = [1.0, 0.0, 1.0, 0.0, 0.0]
    got = weighted({"u": u, "cost": cost}, strengths={"u": 1.0, "cost": -1.0}, batch_size=1)
    assert got.tolist() == [2]


def test_weighted_invalid():
    with pytest.raises(InvalidInputError):
        weighted({}, batch_size=1)
    with pytest.raises(InvalidInputError):
        weighted({"u": [1.0, 2.0]}, strengths={"v": 1.0}, batch_size=1)
    with pytest.raises(InvalidInputError):
        weighted({"u": [1.0, 2.0]}, strengths={"u": 0.0}, batch_size=1)
    with pytest.raises(InvalidInputError):
        weighted({"u": [1.0, 2.0], "v": [1.0]}, batch_size=1)


# --------------------------------------------------------------------------- intersection


def ref_smallest_m(criteria, b):
    """Smallest m for which the top-m sets of all criteria share at least b samples."""
    n = len(next(iter(criteria.values())))
    for m in range(1, n + 1):
        common = set(range(n))
        for vals in criteria.values():
            common &= set(sorted(range(n), key=lambda i: -vals[i])[:m])
        if len(common) >= b:
            return m, common
    raise AssertionError("unreachable")


def test_intersection_hand_worked():
    #           idx:  0    1    2    3    4
    #   u ranks:      0    1    4    2    3     (0 = best)
    #   n ranks:      3    0    1    2    4
    #   d ranks:      3    2    0    1    4
    #   worst rank:   3    2    4    2    4
    #   b = 1, 2: m = 3 -> {1, 3}; mean ranks 1.0 and 1.67 -> [1, 3]
    #   b = 3: m = 4 -> {0, 1, 3}; mean rank of 0 is 2.0 -> [1, 3, 0]
    crit = {
        "u": [0.9, 0.8, 0.1, 0.7, 0.3],
        "n": [0.2, 0.9, 0.8, 0.6, 0.1],
        "d": [0.5, 0.7, 0.9, 0.8, 0.1],
    }
    assert intersection(crit, batch_size=1).tolist() == [1]
    assert intersection(crit, batch_size=2).tolist() == [1, 3]
    assert intersection(crit, batch_size=3).tolist() == [1, 3, 0]
    assert ref_smallest_m(crit, 3) == (4, {0, 1, 3})


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("b", [1, 3, 7, 20])
def test_intersection_in_top_m_of_every_criterion(seed, b):
    rng = np.random.default_rng(seed)
    n = 40
    crit = {"u": rng.random(n), "d": rng.random(n), "nov": rng.random(n)}
    cand = rng.permutation(200)[:n]
    got = intersection(crit, batch_size=b, candidates=cand, random_state=seed)
    m, common = ref_smallest_m({k: v.tolist() for k, v in crit.items()}, b)
    assert len(got) == b and len(set(got.tolist())) == b
    assert set(got.tolist()) <= {int(cand[i]) for i in common}
    # inside the intersection the best mean ranks go first (ranks 0 = best, by a full sort)
    rank = {k: np.argsort(np.argsort(-v)) for k, v in crit.items()}
    mean_rank = {i: np.mean([rank[k][i] for k in crit]) for i in common}
    pos = {int(c): i for i, c in enumerate(cand)}
    chosen = [pos[int(g)] for g in got]
    worst_chosen = max(mean_rank[i] for i in chosen)
    assert all(mean_rank[i] >= worst_chosen for i in common - set(chosen))
    assert [mean_rank[i] for i in chosen] == sorted(mean_rank[i] for i in chosen)


def test_intersection_single_criterion_is_top_k():
    s = [0.3, 0.9, 0.1, 0.7, 0.5]
    assert intersection({"u": s}, batch_size=3).tolist() == [1, 3, 4]


# --------------------------------------------------------------------------- class_balance


def _class_counts(got, predicted):
    out = {}
    for i in got:
        out[predicted[i]] = out.get(predicted[i], 0) + 1
    return out


def test_class_balance_uniform_quotas():
    predicted = ["a"] * 10 + ["b"] * 10 + ["c"] * 10
    s = np.random.default_rng(0).random(30)
    # 6 over 3 classes -> 2 each; 9 -> 3 each
    assert _class_counts(class_balance(s, predicted, batch_size=6), predicted) == {
        "a": 2,
        "b": 2,
        "c": 2,
    }
    assert _class_counts(class_balance(s, predicted, batch_size=9), predicted) == {
        "a": 3,
        "b": 3,
        "c": 3,
    }


def test_class_balance_given_target_quotas():
    predicted = ["a"] * 10 + ["b"] * 10 + ["c"] * 10
    s = np.linspace(1.0, 0.0, 30)  # class a scores highest: unbalanced top-k would take only a
    target = {"a": 0.5, "b": 0.3, "c": 0.2}
    # b = 10: 5 / 3 / 2 exactly
    got = class_balance(s, predicted, batch_size=10, target=target)
    assert _class_counts(got, predicted) == {"a": 5, "b": 3, "c": 2}
    # b = 4: ideal 2.0 / 1.2 / 0.8 -> floors 2 / 1 / 0, largest remainder (0.8) to c -> 2 / 1 / 1
    got = class_balance(s, predicted, batch_size=4, target=target)
    assert _class_counts(got, predicted) == {"a": 2, "b": 1, "c": 1}
    # b = 7: ideal 3.5 / 2.1 / 1.4 -> floors 3 / 2 / 1, remainders .5 / .1 / .4 -> a -> 4 / 2 / 1
    got = class_balance(s, predicted, batch_size=7, target=target)
    assert _class_counts(got, predicted) == {"a": 4, "b": 2, "c": 1}


def test_class_balance_capped_when_class_lacks_candidates():
    predicted = [0] + [1] * 10 + [2] * 10
    s = np.random.default_rng(1).random(21)
    # uniform 9 -> ideal 3 each, class 0 has only 1: the 2 it cannot take go to 1 and 2 -> 1 / 4 / 4
    got = class_balance(s, predicted, batch_size=9)
    assert _class_counts(got, predicted) == {0: 1, 1: 4, 2: 4}
    # target all on class 0 (which has 1): the rest is shared by the others -> 1 / 2 / 2
    got = class_balance(s, predicted, batch_size=5, target={0: 1.0, 1: 0.0, 2: 0.0})
    assert _class_counts(got, predicted) == {0: 1, 1: 2, 2: 2}
    # batch larger than the pool: everything
    got = class_balance(s, predicted, batch_size=30)
    assert sorted(got.tolist()) == list(range(21))


def test_class_balance_highest_scores_first_within_class():
    rng = np.random.default_rng(2)
    predicted = rng.integers(0, 3, size=60)
    s = rng.random(60)
    cand = rng.permutation(500)[:60]
    got = class_balance(s, predicted, batch_size=12, candidates=cand, random_state=0)
    pos = {int(c): i for i, c in enumerate(cand)}
    got_pos = [pos[int(g)] for g in got]
    for c in range(3):
        members = np.flatnonzero(predicted == c)
        q = sum(1 for p in got_pos if predicted[p] == c)
        assert q == 4
        want = set(members[np.argsort(-s[members])[:q]].tolist())
        assert {p for p in got_pos if predicted[p] == c} == want
    assert np.all(np.diff(s[got_pos]) <= 0)  # the batch is ordered best first


def test_class_balance_invalid():
    with pytest.raises(InvalidInputError):
        class_balance([0.1, 0.2], [0], batch_size=1)
    with pytest.raises(InvalidInputError):
        class_balance([0.1, 0.2], [0, 1], batch_size=1, target={0: -1.0, 1: 1.0})
    with pytest.raises(InvalidInputError):
        class_balance([0.1, 0.2], [0, 1], batch_size=1, target={0: 0.0, 1: 0.0})


# --------------------------------------------------------------------------- novelty


@pytest.mark.parametrize("seed", range(4))
def test_novelty_matches_sklearn_nearest_neighbors(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(70, 4)) * 3
    labeled = rng.choice(70, size=9, replace=False)
    candidates = np.setdiff1d(np.arange(70), labeled)
    nn = NearestNeighbors(n_neighbors=1).fit(X[labeled])
    want = nn.kneighbors(X[candidates])[0][:, 0]
    np.testing.assert_allclose(novelty(X, labeled=labeled), want, rtol=1e-4, atol=1e-4)
    sub = candidates[::3]
    np.testing.assert_allclose(
        novelty(X, labeled=labeled, candidates=sub),
        nn.kneighbors(X[sub])[0][:, 0],
        rtol=1e-4,
        atol=1e-4,
    )


def test_novelty_hand_worked_and_no_labeled():
    # labeled 0 (x = 0) and 3 (x = 8): 3 -> 3, 1 -> 1, 6 -> 2
    X = [[0.0], [3.0], [1.0], [8.0], [6.0]]
    np.testing.assert_allclose(novelty(X, labeled=[0, 3]), [3.0, 1.0, 2.0])
    np.testing.assert_allclose(novelty(X, labeled=[]), np.ones(5))


def test_novelty_empty_pool():
    with pytest.raises(EmptyPoolError):
        novelty([[0.0], [1.0]], labeled=[0, 1])


# --------------------------------------------------------------------------- representativeness


@pytest.mark.parametrize("seed", range(4))
def test_representativeness_one_top_member_per_cluster(seed):
    X, y = _blobs([25, 30, 35], seed=seed)
    s = representativeness(X, n_clusters=3, random_state=seed)
    assert np.all((s > 0) & (s <= 1))
    for c in range(3):
        members = np.flatnonzero(y == c)
        n_c = members.size
        # ranks within the cluster: the values are exactly 1/n, 2/n, ..., 1
        np.testing.assert_allclose(np.sort(s[members]), np.arange(1, n_c + 1) / n_c)
        # the 1.0 goes to the member nearest the blob's mean
        centre = X[members].astype(np.float64).mean(axis=0)
        d = np.linalg.norm(X[members] - centre, axis=1)
        assert members[np.argmax(s[members])] == members[np.argmin(d)]
        # closer to the centre -> higher score (where the distances clearly differ)
        order = np.argsort(d)
        gaps = np.diff(d[order]) > 1e-3
        assert np.all(np.diff(s[members][order])[gaps] < 0)
    assert int(np.sum(s == 1.0)) == 3


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 50), k=st.integers(1, 6))
def test_representativeness_range(seed, n, k):
    X = np.random.default_rng(seed).normal(size=(n, 3))
    s = representativeness(X, n_clusters=k, random_state=seed)
    assert s.shape == (n,)
    assert np.all((s > 0) & (s <= 1))
    assert 1 <= int(np.sum(s == 1.0)) <= min(k, n)
