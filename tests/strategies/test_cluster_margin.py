"""``cluster_margin`` and ``auto``'s batch part: smallest margins, round-robin over clusters."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.errors import InvalidInputError
from labelwise.strategies import QueryContext, get_strategy
from labelwise.strategies import _cluster_margin as CM
from labelwise.strategies._cluster_margin import cluster_margin


def _three_groups():
    """Groups A (rows 0-19), B (20-39), C (40-59) of 20 rows each, far apart.

    Scores: A's rows 0-3 are the four most uncertain, B's rows 20-21 the next two,
    C's row 40 the seventh; every other row scores low.
    """
    rng = np.random.default_rng(0)
    centres = np.repeat([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0]], 20, axis=0)
    X = centres + rng.normal(0.0, 0.5, size=(60, 2))
    s = rng.uniform(0.0, 0.3, size=60)
    s[[0, 1, 2, 3, 20, 21, 40]] = [0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93]
    return X, s


def test_round_robin_smallest_group_first_within_the_top_two_batches():
    X, s = _three_groups()
    # batch 3: the top 6 are A's 0-3 and B's 20-21; 3 clusters of 20 rows recover A, B, C;
    # B holds 2 of the 6 and A 4, so B gives the first pick, then A, then B again. C's
    # row 40 is 7th: outside the top 2 x 3. Plain top-3 would be rows 0, 1, 2 (all in A).
    for seed in range(3):
        picks = cluster_margin(s, X, batch_size=3, cluster_size=20, random_state=seed)
        assert picks.tolist() == [20, 0, 21]


def test_positions_follow_the_candidates():
    X, s = _three_groups()
    s[10] = 0.5  # A's best row once rows 0-9 are labeled
    cand = np.arange(10, 60)
    pos = cluster_margin(s[cand], X, batch_size=2, candidates=cand, random_state=0)
    # top 4: 20, 21 (B), 40 (C), 10 (A); C and A hold one each, C's ranks higher: C, A, B
    assert cand[pos].tolist() == [40, 10]


def test_a_large_pool_is_clustered_on_a_sample_and_candidates_join_the_nearest_centre(
    monkeypatch,
):
    X, s = _three_groups()
    monkeypatch.setattr(CM, "CLUSTER_ROWS", 45)  # the sample misses some rows of the pool
    for seed in range(3):
        picks = cluster_margin(s, X, batch_size=3, cluster_size=15, random_state=seed)
        # 3 clusters of the 45-row sample; each group's rows are nearest their own centre
        assert picks.tolist() == [20, 0, 21]


@pytest.mark.parametrize("kw", [{"top_factor": 0}, {"cluster_size": 2.5}, {"top_factor": True}])
def test_bad_parameters_are_refused(kw):
    X, s = _three_groups()
    with pytest.raises(InvalidInputError):
        cluster_margin(s, X, batch_size=2, **kw)


def test_auto_batches_of_fifty_come_from_the_hundred_smallest_margins_with_reasons():
    rng = np.random.default_rng(2)
    proba = rng.dirichlet(np.ones(3), size=400)
    X = rng.normal(size=(420, 5))
    cand = np.arange(20, 420)
    ctx = QueryContext(candidates=cand, labeled=np.arange(20), X=X, proba=proba, n_classes=3)
    top2 = np.sort(proba, axis=1)[:, -2:]
    smallest = set(cand[np.argsort(top2[:, 1] - top2[:, 0])[:100]].tolist())  # by hand
    a = get_strategy("auto").query(ctx, 50, random_state=4)
    b = get_strategy("auto").query(ctx, 50, random_state=4)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert len(set(a.indices.tolist())) == 50 and set(a.indices.tolist()) <= smallest
    assert all(p.reason.startswith("auto/cluster_margin: ") for p in a.picks())


def test_auto_spreads_a_batch_over_groups_where_margin_does_not():
    X, s = _three_groups()
    # two classes; margin score 1 - (p1 - p2) equals s when p1 = 1 - s / 2
    p1 = 1.0 - s / 2.0
    ctx = QueryContext(candidates=np.arange(60), X=X, proba=np.column_stack([p1, 1 - p1]))
    plain = get_strategy("margin").query(ctx, 3, random_state=0).indices
    assert plain.tolist() == [0, 1, 2]
    # auto's k-means: 60 pool rows // 20 = 3 clusters, the three groups
    sel = get_strategy("auto", badge_from=3).query(ctx, 3, random_state=0)
    assert sel.indices.tolist() == [20, 0, 21]
