"""``auto``: margin for small batches, cluster-margin for batches of 50 or more (BADGE on a
network's own gradient embeddings), typical picks early."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.errors import InvalidInputError
from labelwise.strategies import QueryContext, get_strategy, strategy_names
from labelwise.strategies._auto import auto
from labelwise.strategies._batch import gradient_embedding


def _two_groups():
    """5 near-duplicates at x=0 with margins 0.95..0.99, 19 rows at x=50 with 0.80..0.90.

    Plain margin's top 2 are both near-duplicates (rows 0 and 1). In BADGE's gradient
    embeddings ((p - onehot) x) group B lies far from group A and from itself only
    ~3 apart, so k-means++ seeding takes one row of each group.
    """
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0.0, 0.01, size=(5, 2)), rng.normal(50.0, 0.01, size=(19, 2))])
    gap = np.concatenate([np.linspace(0.01, 0.05, 5), np.linspace(0.10, 0.20, 19)])
    p1 = (1.0 + gap) / 2.0  # margin score = 1 - (p1 - p2) = 1 - gap
    proba = np.column_stack([p1, 1.0 - p1])
    return X, proba


def test_given_embeddings_badge_diversifies_when_top_margin_candidates_are_duplicates():
    X, proba = _two_groups()
    ctx = QueryContext(candidates=np.arange(24), X=X, proba=proba, n_classes=2)
    plain = get_strategy("margin").query(ctx, 2, random_state=0).indices
    assert sorted(plain.tolist()) == [0, 1]  # both from the duplicate group
    G = gradient_embedding(proba, X)  # what a linear network would give as its own
    for seed in range(5):
        idx, parts = auto(proba, X, batch_size=2, badge_from=2, embedding=G, random_state=seed)
        groups = sorted(int(i >= 5) for i in idx)
        assert groups == [0, 1]  # one near-duplicate, one row of the other group
        # the first pick: the largest gradient norm, |p - onehot| x ||x||: row 5 of group B
        assert idx[0] == 5 and parts == ["badge", "badge"]


def test_batch_one_is_the_largest_margin():
    rng = np.random.default_rng(3)
    proba = rng.dirichlet(np.ones(4), size=50)
    X = rng.normal(size=(60, 3))
    cand = np.arange(10, 60)
    top2 = np.sort(proba, axis=1)[:, -2:]
    expected = cand[np.argmax(1.0 - (top2[:, 1] - top2[:, 0]))]
    sel = get_strategy("auto").query(
        QueryContext(candidates=cand, labeled=np.arange(10), X=X, proba=proba, n_classes=4),
        1,
        random_state=0,
    )
    assert sel.indices.tolist() == [expected]
    assert sel.picks()[0].reason.startswith("auto/margin: ")


def test_early_picks_are_typical_members_of_unlabeled_clusters():
    # labeled rows sit in group A (x=0); group B (x=20) has no label; row 30 is an outlier
    rng = np.random.default_rng(1)
    A = rng.normal(0.0, 1.0, size=(10, 2))
    B = rng.normal(20.0, 1.0, size=(20, 2))
    X = np.vstack([A, B, [[60.0, 60.0]]])
    labeled = np.arange(4)
    cand = np.arange(4, 31)
    proba = np.tile([0.5, 0.5], (cand.size, 1))  # every margin ties: only typicality decides
    idx, parts = auto(
        proba, X, batch_size=1, labeled=labeled, candidates=cand, early_per_class=5, random_state=0
    )
    # 4 labels < 5 per class x 2 classes: the typical part; the label-free group B wins and
    # gives the row with the smallest mean distance to its 20 nearest pool rows
    rows = np.arange(31)
    d = np.linalg.norm(X[:, None] - X[None], axis=2)
    mean_knn = np.sort(d, axis=1)[:, 1:21].mean(axis=1)
    in_b = rows[10:30]
    assert parts == ["typical"]
    assert idx.tolist() == [in_b[np.argmin(mean_knn[in_b])]]


def test_reason_names_the_typical_part():
    X, proba = _two_groups()
    ctx = QueryContext(
        candidates=np.arange(2, 24), labeled=np.arange(2), X=X, proba=proba[2:], n_classes=2
    )
    sel = get_strategy("auto", early_per_class=3).query(ctx, 3, random_state=0)
    assert all(p.reason.startswith("auto/typical") for p in sel.picks())


def test_same_seed_same_batch_and_listed_for_classification():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 4))
    proba = rng.dirichlet(np.ones(3), size=280)
    ctx = QueryContext(
        candidates=np.arange(20, 300), labeled=np.arange(20), X=X, proba=proba, n_classes=3
    )
    a = get_strategy("auto").query(ctx, 25, random_state=7).indices
    b = get_strategy("auto").query(ctx, 25, random_state=7).indices
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 25
    assert "auto" in strategy_names("classification")


@pytest.mark.parametrize(
    "params",
    [{"early_per_class": -1}, {"early_per_class": "3"}, {"top_m_factor": 3}, {"badge_from": 0}],
)
def test_bad_parameters_are_refused(params):
    X, proba = _two_groups()
    ctx = QueryContext(candidates=np.arange(24), X=X, proba=proba, n_classes=2)
    with pytest.raises(InvalidInputError):
        get_strategy("auto", **params).query(ctx, 2, random_state=0)


def test_a_labeling_cost_ranks_by_margin_per_cost():
    rng = np.random.default_rng(11)
    proba = rng.dirichlet(np.ones(3), size=40)
    cost = rng.uniform(0.5, 5.0, size=40)
    top2 = np.sort(proba, axis=1)[:, -2:]
    per_cost = (1.0 - (top2[:, 1] - top2[:, 0])) / cost  # cost_lambda 1
    ctx = QueryContext(
        candidates=np.arange(40), X=rng.normal(size=(40, 2)), proba=proba, n_classes=3, cost=cost
    )
    sel = get_strategy("auto").query(ctx, 1, random_state=0)
    assert sel.indices.tolist() == [int(np.argmax(per_cost))]
    np.testing.assert_allclose(sel.criteria["margin_per_cost"], per_cost)


def test_batches_under_fifty_are_margins_top_and_fifty_goes_to_cluster_margin():
    rng = np.random.default_rng(2)
    proba = rng.dirichlet(np.ones(3), size=400)
    X = rng.normal(size=(400, 5))
    ctx = QueryContext(candidates=np.arange(400), X=X, proba=proba, n_classes=3)
    s = np.sort(proba, axis=1)
    by_margin = np.argsort(s[:, -1] - s[:, -2])  # margin by hand, no ties here
    small = get_strategy("auto").query(ctx, 49, random_state=0)
    assert sorted(small.indices.tolist()) == sorted(by_margin[:49].tolist())
    assert all(p.reason.startswith("auto/margin") for p in small.picks())
    large = get_strategy("auto").query(ctx, 50, random_state=0)
    assert all(p.reason.startswith("auto/cluster_margin") for p in large.picks())
