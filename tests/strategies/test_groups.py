"""Selection inside groups: quotas by count or fraction, any strategy run per group."""

import numpy as np
import pytest

from labelwise.errors import InvalidInputError
from labelwise.strategies import QueryContext, get_strategy
from labelwise.strategies._groups import group_quotas, query_by_group


def test_quotas_by_count_and_by_fraction_rounded_half_up():
    groups = ["a"] * 7 + ["b"] * 2 + ["c"] * 5
    assert group_quotas(groups, n_per_group=3) == {"a": 3, "b": 2, "c": 3}
    # 7 * 0.5 = 3.5 -> 4, 2 * 0.5 = 1, 5 * 0.5 = 2.5 -> 3
    assert group_quotas(groups, proportion=0.5) == {"a": 4, "b": 1, "c": 3}
    assert group_quotas(groups, proportion=1.0) == {"a": 7, "b": 2, "c": 5}
    for bad in ({"n_per_group": 0}, {"proportion": 0.0}, {}, {"n_per_group": 1, "proportion": 1}):
        with pytest.raises(InvalidInputError):
            group_quotas(groups, **bad)


def test_margin_inside_each_group_by_hand():
    # margins 1 - (p1 - p2): 0.0, 0.8, 0.2, 0.98, 0.6, 0.4
    proba = np.array([[0.5, 0.5], [0.9, 0.1], [0.6, 0.4], [0.99, 0.01], [0.8, 0.2], [0.7, 0.3]])
    cand = np.array([10, 11, 12, 13, 14, 15])
    ctx = QueryContext(candidates=cand, proba=proba)
    groups = ["x", "y", "x", "y", "y", "x"]
    sel = query_by_group(get_strategy("margin"), ctx, groups, {"x": 2, "y": 1}, 0, label="video")
    picks = sel.picks()
    # x: pool 10 (margin 0), 12 (0.2), 15 (0.4) -> 10, 12; y: 11 (0.8), 13 (0.98), 14 (0.6) -> 14
    # round-robin: best of x, best of y, second of x
    assert [p.index for p in picks] == [10, 14, 12]
    assert [p.position for p in picks] == [0, 1, 2]
    assert picks[1].reason.endswith("video y: pick 1 of 1 from its 3 candidates")
    assert picks[1].raw["margin"] == pytest.approx(0.4)  # 1 - (0.8 - 0.2)


def test_committee_arrays_are_cut_along_the_candidates():
    # two members; vote entropy is 0 where they agree, log 2 where they split
    agree = [[0.9, 0.1], [0.8, 0.2]]
    split = [[0.9, 0.1], [0.2, 0.8]]
    probas = np.stack(
        [
            np.array([agree[0], split[0], agree[0], split[0]]),
            np.array([agree[1], split[1], agree[1], split[1]]),
        ]
    )
    ctx = QueryContext(candidates=np.arange(4), probas=probas)
    sel = query_by_group(get_strategy("vote_entropy"), ctx, ["a", "a", "b", "b"], {"a": 1, "b": 1})
    assert sorted(p.index for p in sel.picks()) == [1, 3]
