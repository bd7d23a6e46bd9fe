"""TypiClust selection behind ``typicality``: clustered mode, exact mode, and the switch."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from labelwise.errors import InvalidInputError
from labelwise.strategies import _registry as R
from labelwise.strategies._density import typicality
from labelwise.strategies._registry import QueryContext, get_strategy
from labelwise.strategies._typiclust import cluster_typicality, kmeans_lloyd, typiclust


def _brute_typicality(X, k):
    """1 / (1e-7 + mean distance to the k nearest other rows), float64 brute force."""
    d = cdist(X, X)
    np.fill_diagonal(d, np.inf)
    k = min(k, len(X) - 1)
    return 1.0 / (1e-7 + np.sort(d, axis=1)[:, :k].mean(axis=1))


def _reference_picks(X, assign, labeled, candidates, batch, k):
    """Plain-loop TypiClust: fewest labeled + picked rows, then largest, then lowest id;
    clusters of <= 5 rows only when no larger one has a candidate left."""
    assign = list(map(int, assign))
    clusters = sorted(set(assign))
    members = {c: [i for i, a in enumerate(assign) if a == c] for c in clusters}
    used = {c: sum(assign[i] == c for i in labeled) for c in clusters}
    left = set(int(i) for i in candidates)
    picks = []
    for _ in range(min(batch, len(left))):
        open_ = [c for c in clusters if any(i in left for i in members[c])]
        big = [c for c in open_ if len(members[c]) > 5]
        pool = big or open_
        c = min(pool, key=lambda c: (used[c], -len(members[c]), c))
        rows = members[c]
        t = _brute_typicality(X[rows], k)
        best = max((i for i in range(len(rows)) if rows[i] in left), key=lambda i: (t[i], -i))
        picks.append(rows[best])
        left.discard(rows[best])
        used[c] += 1
    return picks


@pytest.mark.parametrize("k", [1, 5, 20])
def test_cluster_typicality_equals_brute_force(k):
    X = np.random.default_rng(k).normal(size=(60, 7)) * 3.0
    np.testing.assert_allclose(cluster_typicality(X, k), _brute_typicality(X, k), rtol=1e-4)


def test_cluster_typicality_hand_worked_and_single_row():
    # 0, 1, 3: nearest others at 1, 1, 2 (k=1)
    np.testing.assert_allclose(
        cluster_typicality([[0.0], [1.0], [3.0]], 1), 1 / (1e-7 + np.array([1, 1, 2])), rtol=1e-6
    )
    assert cluster_typicality([[5.0, 1.0]], 20).tolist() == [1.0]


def test_cluster_typicality_blocks_match_one_block(monkeypatch):
    import labelwise.strategies._typiclust as T

    X = np.random.default_rng(3).normal(size=(300, 5))
    want = _brute_typicality(X, 10)
    monkeypatch.setattr(T, "_BLOCK", 300 * 7)  # 7 rows per block, a ragged last block
    np.testing.assert_allclose(T.cluster_typicality(X, 10), want, rtol=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_picks_equal_plain_reference(seed):
    rng = np.random.default_rng(seed)
    n = 240
    X = rng.normal(size=(n, 4))
    sizes = [60, 50, 40, 30, 25, 20, 10, 4, 1]  # two clusters of <= 5 rows
    assign = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    labeled = rng.choice(n, size=12, replace=False)
    candidates = np.setdiff1d(rng.choice(n, size=150, replace=False), labeled)
    for batch in (3, 9, 25):  # 25 > clusters: the cycle through covered clusters
        got, cl, size, typ, _ = typiclust(
            X, labeled=labeled, candidates=candidates, batch_size=batch, k=6, assign=assign
        )
        want = _reference_picks(X, assign, labeled, candidates, batch, 6)
        assert got.tolist() == want
        assert np.isin(got, candidates).all() and len(set(got.tolist())) == got.size
        assert (assign[got] == cl).all() and (np.bincount(assign)[cl] == size).all()


def test_each_pick_from_a_different_cluster_largest_uncovered_first():
    rng = np.random.default_rng(7)
    sizes = [30, 80, 50, 20, 65, 40]
    assign = np.repeat(np.arange(6), sizes)
    X = rng.normal(size=(assign.size, 3)) + assign[:, None] * 10.0
    labeled = np.array([assign.tolist().index(4)])  # cluster 4 (size 65) is covered
    cand = np.setdiff1d(np.arange(assign.size), labeled)
    picks, cl, size, _, _ = typiclust(
        X, labeled=labeled, candidates=cand, batch_size=5, k=5, assign=assign
    )
    assert cl.tolist() == [1, 2, 5, 0, 3]  # sizes 80, 50, 40, 30, 20; 65 is covered
    assert size.tolist() == [80, 50, 40, 30, 20]
    assert assign[picks].tolist() == cl.tolist()


def test_kmeans_lloyd_recovers_separated_blobs_and_is_seeded():
    rng = np.random.default_rng(0)
    truth = rng.integers(4, size=2000)
    X = rng.normal(size=(2000, 6)) + 50.0 * np.eye(6)[truth]
    a = kmeans_lloyd(X, 4, np.random.default_rng(1))
    # one cluster per blob, and one blob per cluster
    assert all(len(set(a[truth == t].tolist())) == 1 for t in range(4))
    assert len(set(a.tolist())) == 4
    b = kmeans_lloyd(X, 4, np.random.default_rng(1))
    assert np.array_equal(a, b)


def _ctx(X, labeled=(), candidates=None):
    labeled = np.asarray(labeled, dtype=np.intp)
    cand = np.setdiff1d(np.arange(len(X)), labeled) if candidates is None else candidates
    return QueryContext(candidates=np.asarray(cand), labeled=labeled, X=X)


def test_exact_method_is_global_top_k():
    X = np.random.default_rng(0).normal(size=(300, 5))
    cand = np.arange(0, 300, 2)
    sel = get_strategy("typicality").with_params(method="exact").query(_ctx(X, [], cand), 10, 0)
    s = typicality(X, k=20, candidates=cand)
    assert sel.indices.tolist() == cand[np.argsort(-s, kind="stable")[:10]].tolist()


def test_small_pool_default_is_exact_large_pool_default_is_clustered(monkeypatch):
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(size=(200, 3)), rng.normal(size=(100, 3)) + 30.0])
    strat = get_strategy("typicality")
    exact = strat.with_params(method="exact").query(_ctx(X), 2, 0)
    assert strat.query(_ctx(X), 2, 0).indices.tolist() == exact.indices.tolist()
    # global typicality puts both picks in the dense 200-row blob; TypiClust with
    # 2 clusters takes one from each
    monkeypatch.setattr(R, "TYPICALITY_EXACT_MAX_ROWS", 100)
    sel = strat.query(_ctx(X), 2, 0)
    assert sorted(int(i >= 200) for i in sel.indices) == [0, 1]
    assert sel.picks()[0].reason.startswith("cluster ")
    assert "(size 200): most typical" in sel.picks()[0].reason
    again = strat.query(_ctx(X), 2, 0)
    assert again.indices.tolist() == sel.indices.tolist()


def test_clustered_labeled_rows_cover_their_cluster():
    rng = np.random.default_rng(5)
    X = np.concatenate([rng.normal(size=(150, 3)), rng.normal(size=(100, 3)) + 30.0])
    labeled = [0]  # in the 150-row blob; 1 labeled + 1 pick = 2 clusters
    sel = get_strategy("typicality").with_params(method="cluster").query(_ctx(X, labeled), 1, 0)
    assert sel.indices[0] >= 150


@pytest.mark.parametrize(
    "params",
    [{"method": "fast"}, {"method": "cluster", "k": 0}, {"k": 2.5}],
)
def test_bad_params_are_refused(params):
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(InvalidInputError, match="typicality"):
        get_strategy("typicality").with_params(**params).query(_ctx(X), 3, 0)
