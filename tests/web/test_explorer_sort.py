"""The explorer never ranks scores of different scales together: sorting by score ranks one
strategy's scores (the user picks which); the map colours by rank within a strategy."""

import pytest
from sqlalchemy import select

from labelwise import annotate
from labelwise.loop._project import select_batch, train
from labelwise.store._models import SelectionRow


@pytest.fixture()
def rounds(web_project):
    """Round 1 random (60, labeled), round 2 margin (30), round 3 cold-start-like
    k_center_greedy (30): distances in pixel units next to margins of at most 1."""
    p, truth = web_project
    annotate.enqueue(p)
    while (item := annotate.next_item(p, "ann")) is not None:
        annotate.submit(p, "ann", item["assignment"]["id"], truth[item["sample"]["uid"]])
    train(p)
    select_batch(p, strategy="margin", batch_size=30, random_state=0)
    select_batch(p, strategy="k_center_greedy", batch_size=30, random_state=0, force=True)
    with p.session() as s:
        rows = s.execute(select(SelectionRow.sample_id, SelectionRow.strategy, SelectionRow.score))
        return {sid: (strategy, score) for sid, strategy, score in rows}


def test_sorting_by_score_ranks_one_strategy_and_puts_the_rest_after(rounds, as_user):
    rev = as_user("rev")
    margins = sorted(
        ((score, sid) for sid, (st, score) in rounds.items() if st == "margin"), reverse=True
    )
    distances = [score for st, score in rounds.values() if st == "k_center_greedy"]
    assert min(distances) > max(score for score, _ in margins)  # the scales really differ

    out = rev.get("/api/explorer", params={"sort": "score", "scored_by": "margin", "limit": 100})
    out = out.json()
    assert out["scored_by"] == "margin"
    items = out["items"]
    head = [(it["score"], it["id"]) for it in items[: len(margins)]]
    assert [it["strategy"] for it in items[: len(margins)]] == ["margin"] * len(margins)
    assert [s for s, _ in head] == [s for s, _ in margins]  # highest margin first
    assert all(it["strategy"] != "margin" for it in items[len(margins) :])
    # ascending: still margins first (the others are not margins at all)
    asc = rev.get("/api/explorer", params={"sort": "score", "scored_by": "margin", "order": "asc"})
    firsts = asc.json()["items"][:5]
    assert [it["score"] for it in firsts] == sorted(s for s, _ in margins)[:5]


def test_the_default_is_the_latest_rounds_strategy_and_unknown_ones_are_refused(rounds, as_user):
    rev = as_user("rev")
    out = rev.get("/api/explorer", params={"sort": "score"}).json()
    assert out["scored_by"] == "k_center_greedy"
    assert {k["strategy"]: k["n"] for k in out["score_kinds"]} == {
        st: sum(v[0] == st for v in rounds.values()) for st in {v[0] for v in rounds.values()}
    }
    assert [it["strategy"] for it in out["items"][:30]] == ["k_center_greedy"] * 30
    r = rev.get("/api/explorer", params={"sort": "score", "scored_by": "entropy"})
    assert r.status_code == 400 and "'margin'" in r.json()["detail"]
    page = rev.get("/explorer", params={"sort": "score", "scored_by": "margin"}).text
    assert '<option value="margin" selected>' in page


def test_the_map_colours_by_rank_within_each_strategy(rounds, as_user):
    points = as_user("rev").get("/api/map", params={"color": "score"}).json()["points"]
    by_strategy = {}
    for pt in points:
        if pt["score"] is not None:
            by_strategy.setdefault(pt["strategy"], []).append((pt["score"], pt["score_rank"]))
    assert {"margin", "k_center_greedy"} <= set(by_strategy)
    for pairs in by_strategy.values():
        pairs.sort()
        n = len(pairs)
        assert [r for _, r in pairs] == pytest.approx([i / (n - 1) for i in range(n)], abs=1e-4)
