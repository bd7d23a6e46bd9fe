"""The fast paths of issue 15 (top-k shortlist, lazy float32 k-center, vectorised entropy log)
against independent brute-force computations written here."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.strategies import _selectors as S
from labelwise.strategies import entropy, k_center_greedy, margin, top_k
from labelwise.strategies._selectors import k_center_greedy_with_gain

# --------------------------------------------------------------------------- top_k


def test_top_k_large_distinct_equals_full_sort():
    s = np.random.default_rng(0).random(300_000)
    want = np.argsort(-s, kind="stable")[:100]
    np.testing.assert_array_equal(top_k(s, batch_size=100, random_state=0), want)


@pytest.mark.parametrize("layout", ["ascending", "descending", "few_values", "all_equal"])
def test_top_k_large_with_ties_same_as_whole_array_partition(layout, monkeypatch):
    n = 200_000
    rng = np.random.default_rng(1)
    s = {
        "ascending": np.arange(n, dtype=np.float64),
        "descending": np.arange(n, 0, -1, dtype=np.float64),
        "few_values": rng.integers(0, 2_000, size=n).astype(np.float64),
        "all_equal": np.ones(n),
    }[layout]
    got = top_k(s, batch_size=150, random_state=3)
    # independent check: everything above the 150th largest value is in, the rest are ties
    kth = np.sort(s)[::-1][149]
    assert got.size == 150 and np.unique(got).size == 150
    assert set(np.flatnonzero(s > kth)) <= set(got.tolist())
    assert np.all(s[got] >= kth)
    assert np.all(np.diff(s[got]) <= 0)  # best first
    # the shortlist changes neither the picks nor the random draws of the plain partition
    monkeypatch.setattr(S, "_SHORTLIST_MIN_N", 10**12)
    np.testing.assert_array_equal(top_k(s, batch_size=150, random_state=3), got)


def test_uncertainty_top_k_equals_full_sort_of_independent_scores():
    p = np.random.default_rng(2).dirichlet([0.5] * 10, size=150_000)  # 1.5M values: kernel size
    q = np.sort(p, axis=1)
    want_margin = np.argsort(-(1.0 - (q[:, -1] - q[:, -2])), kind="stable")[:100]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    want_entropy = np.argsort(-h, kind="stable")[:100]
    np.testing.assert_array_equal(top_k(margin(p), batch_size=100, random_state=0), want_margin)
    np.testing.assert_array_equal(top_k(entropy(p), batch_size=100, random_state=0), want_entropy)


def test_entropy_kernel_log_on_awkward_values():
    pytest.importorskip("numba")
    from labelwise.strategies import _kernels as K

    tiny = np.finfo(np.float64).tiny
    v = np.array(
        [0.0, -0.0, 5e-324, tiny / 3, tiny, 1e-300, 1e-10, 0.125, 0.5, 1 - 1e-16, 1.0, 1.0005]
        + list(np.random.default_rng(3).random(500))
        + list(np.nextafter(np.sqrt(0.5), [0.0, 1.0]))
        + list(-np.array([1e-4, 5e-4]))
    )
    out = v.copy()
    K._plogp_inplace_jit(v, out, np.empty_like(v))
    want = v * np.log(np.maximum(v, tiny).astype(np.longdouble))  # an independent log
    np.testing.assert_allclose(out, want.astype(np.float64), rtol=3e-16, atol=0)


# --------------------------------------------------------------------------- k_center_greedy


def plain_greedy(X, labeled, candidates, b):
    """The plain float64 farthest-first: running minimum of sum((x - c)**2), first index wins."""
    X = np.asarray(X, dtype=np.float64)
    cand = np.asarray(candidates)
    d = np.full(cand.size, np.inf)
    for c in labeled:
        d = np.minimum(d, np.sqrt(((X[cand] - X[c]) ** 2).sum(axis=1)))
    d = d.copy()
    picks, gains = [], []
    for _ in range(min(b, cand.size)):
        j = int(np.argmax(d))
        picks.append(int(cand[j]))
        gains.append(float(d[j]))
        d = np.minimum(d, np.sqrt(((X[cand] - X[cand[j]]) ** 2).sum(axis=1)))
        d[j] = -np.inf
        for p in picks:
            d[cand == p] = -np.inf
    return np.array(picks), np.array(gains)


@pytest.mark.parametrize("seed", [0, 1])
def test_k_center_float64_input_exact_against_plain_greedy(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(4000, 16)) * rng.uniform(0.5, 3.0, size=16)  # float64, not float32
    labeled = rng.choice(4000, size=40, replace=False)
    cand = np.setdiff1d(np.arange(4000), labeled)
    want, want_gain = plain_greedy(X, labeled, cand, 60)
    got, gain = k_center_greedy_with_gain(X, labeled=labeled, batch_size=60)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(gain, want_gain, rtol=1e-6)


def test_k_center_low_dimension_many_refreshes_exact():
    # in 2-D every pick lowers many running minima: the lazy loop refreshes a lot
    X = np.random.default_rng(4).random((20_000, 2))
    labeled = np.arange(5)
    want, _ = plain_greedy(X, labeled, np.arange(5, 20_000), 80)
    np.testing.assert_array_equal(k_center_greedy(X, labeled=labeled, batch_size=80), want)


def test_k_center_near_ties_broken_in_float64_like_the_plain_greedy():
    # a grid with spacing 0.1: many distances tie in exact arithmetic and differ only in the
    # last bits of float64, far below float32's resolution; duplicated rows tie exactly
    g = np.arange(12) * 0.1 + 1000.0  # large offset: float32 loses the differences
    X = np.array([(a, b) for a in g for b in g])
    X = np.vstack([X, X[::7]])
    labeled = [0, 77]
    cand = np.setdiff1d(np.arange(len(X)), labeled)
    want, _ = plain_greedy(X, labeled, cand, 40)
    np.testing.assert_array_equal(k_center_greedy(X, labeled=labeled, batch_size=40), want)


def test_k_center_candidates_and_no_labeled():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(3000, 8))
    cand = rng.choice(3000, size=1500, replace=False)
    got = k_center_greedy(X, labeled=[], batch_size=30, candidates=cand, random_state=9)
    first = got[0]  # a random first pick, then farthest-first from it
    rest, _ = plain_greedy(X, [first], cand[cand != first], 29)
    np.testing.assert_array_equal(got[1:], rest)


def test_k_center_single_candidate_nothing_labeled():
    # regression: the lazy loop's first refresh had no rows left to update
    np.testing.assert_array_equal(k_center_greedy([[1.0, 2.0]], labeled=[], batch_size=3), [0])
    got, gain = k_center_greedy_with_gain([[0.0], [3.0]], labeled=[], batch_size=2, random_state=0)
    assert sorted(got.tolist()) == [0, 1]
    np.testing.assert_allclose(gain, [0.0, 3.0])
