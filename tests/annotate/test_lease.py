"""Leases on held work, and handing work back (admin release, disabled users).

The clock is passed in (``now=``): nothing sleeps. Times are checked against the
lease arithmetic worked by hand (claimed at T0, lease 30 minutes: free after T0+30).
"""

from datetime import UTC, datetime, timedelta

import pytest
from annotate_util import build_project
from sqlalchemy import select, update

from labelwise.annotate import (
    assign,
    next_item,
    queue_counts,
    release,
    skip,
    submit,
    undo,
    update_user,
)
from labelwise.errors import ConflictError, InvalidInputError, NotFoundError
from labelwise.store import transaction
from labelwise.store._models import Assignment, Event, Gold, Label

T0 = datetime(2031, 5, 1, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _rows(p, sample_id):
    with p.session() as s:
        return s.execute(
            select(Assignment.annotator, Assignment.status)
            .where(Assignment.sample_id == sample_id)
            .order_by(Assignment.id)
        ).all()


def _events(p, kind):
    with p.session() as s:
        return [(e.actor, e.payload) for e in s.scalars(select(Event).where(Event.kind == kind))]


# -- the lease -------------------------------------------------------------------------------
def test_an_item_held_past_the_lease_goes_to_the_next_person_and_the_late_submit_is_409(
    project,
):
    p, truth = project
    first = next_item(p, "ann", lease_minutes=30, now=T0)
    aid, sid = first["assignment"]["id"], first["sample"]["id"]
    # inside the lease (29 minutes): ann2 gets other work
    other = next_item(p, "ann2", lease_minutes=30, now=at(29))
    assert other["sample"]["id"] != sid
    submit(p, "ann2", other["assignment"]["id"], truth[other["sample"]["uid"]], now=at(29.5))
    # past it (31 minutes, nothing from ann meanwhile): ann's item is the first free one
    took = next_item(p, "ann2", lease_minutes=30, now=at(31))
    assert took["sample"]["id"] == sid
    assert took["assignment"]["id"] != aid
    assert _rows(p, sid) == [("ann", "expired"), ("ann2", "assigned")]
    with pytest.raises(ConflictError, match="your lease on this item expired"):
        submit(p, "ann", aid, "a", now=at(32))
    uid = took["sample"]["uid"]
    submit(p, "ann2", took["assignment"]["id"], truth[uid], now=at(33))
    with p.session() as s:
        labels = s.execute(select(Label.annotator, Label.value).where(Label.sample_id == sid))
        assert labels.all() == [("ann2", truth[uid])]  # one label, ann's never stored
    [(actor, payload)] = _events(p, "queue.lease_expired")
    assert actor == "ann2" and payload["holder"] == "ann" and payload["assignment_id"] == aid
    assert queue_counts(p)["expired"] == 1


def test_a_late_submit_is_accepted_while_nobody_else_took_the_item(project):
    p, truth = project
    item = next_item(p, "ann", lease_minutes=30, now=T0)
    out = submit(p, "ann", item["assignment"]["id"], truth[item["sample"]["uid"]], now=at(300))
    assert out["status"] == "accepted"


def test_labeling_renews_the_lease_on_everything_the_annotator_holds(project):
    p, truth = project
    assign(p, ["ann"], n=3)  # stamped with the real clock
    with transaction(p.session) as s:  # ... moved to T0 for the arithmetic below
        s.execute(update(Assignment).where(Assignment.annotator == "ann").values(assigned_at=T0))
    item = next_item(p, "ann", lease_minutes=30, now=at(10))
    submit(p, "ann", item["assignment"]["id"], truth[item["sample"]["uid"]], now=at(25))
    # at T0+40 the two left were assigned 40 minutes ago but ann labeled 15 minutes ago
    theirs = next_item(p, "ann2", lease_minutes=30, now=at(40))
    with p.session() as s:
        held = set(
            s.scalars(
                select(Assignment.sample_id).where(
                    Assignment.annotator == "ann", Assignment.status == "assigned"
                )
            )
        )
    assert len(held) == 2 and theirs["sample"]["id"] not in held
    # ... and 30 minutes after that last label they are free
    later = next_item(p, "ann2", lease_minutes=30, now=at(56))
    assert later["sample"]["id"] == theirs["sample"]["id"]  # ann2 still holds its own first
    skip(p, "ann2", theirs["assignment"]["id"], now=at(56))
    assert next_item(p, "ann2", lease_minutes=30, now=at(56))["sample"]["id"] in held


def test_coming_back_to_the_open_item_renews_the_lease(project):
    p, _ = project
    mine = next_item(p, "ann", lease_minutes=30, now=T0)
    again = next_item(p, "ann", lease_minutes=30, now=at(20))  # the page reloaded
    assert again["assignment"]["id"] == mine["assignment"]["id"]
    # claimed at T0, seen again at T0+20: at T0+40 the lease (from T0+20) still runs
    assert (
        next_item(p, "ann2", lease_minutes=30, now=at(40))["sample"]["id"] != (mine["sample"]["id"])
    )


def test_undo_gives_the_item_back_with_a_fresh_lease(project):
    p, truth = project
    item = next_item(p, "ann", lease_minutes=30, now=T0)
    submit(p, "ann", item["assignment"]["id"], truth[item["sample"]["uid"]], now=at(1))
    undo(p, "ann", now=at(60))
    # the item was first handed out an hour ago, but taken back just now
    other = next_item(p, "ann2", lease_minutes=30, now=at(70))
    assert other["sample"]["id"] != item["sample"]["id"]
    assert (
        next_item(p, "ann", lease_minutes=30, now=at(71))["assignment"]["id"]
        == (item["assignment"]["id"])
    )


def test_a_gold_item_is_never_handed_on(project):
    p, _ = project
    item = next_item(p, "ann", lease_minutes=30, now=T0)
    with transaction(p.session) as s:
        s.add(Gold(sample_id=item["sample"]["id"], value="a"))
        s.execute(
            update(Assignment).where(Assignment.id == item["assignment"]["id"]).values(kind="gold")
        )
    got = next_item(p, "ann2", lease_minutes=30, now=at(600))
    assert got["sample"]["id"] != item["sample"]["id"]
    assert _rows(p, item["sample"]["id"]) == [("ann", "assigned")]


@pytest.mark.parametrize("bad", [0, -5, float("nan"), float("inf"), 10**7])
def test_a_lease_that_is_not_a_positive_number_of_minutes_is_refused(project, bad):
    p, _ = project
    with pytest.raises(InvalidInputError, match="lease"):
        next_item(p, "ann", lease_minutes=bad)


# -- handing work back ------------------------------------------------------------------------
def _held(p, who):
    with p.session() as s:
        return list(
            s.scalars(
                select(Assignment.sample_id).where(
                    Assignment.annotator == who, Assignment.status == "assigned"
                )
            )
        )


def test_an_admin_releases_what_a_user_holds_and_their_late_submit_is_409(project):
    p, _ = project
    assign(p, ["ann"], n=4)
    held = _held(p, "ann")
    assert len(held) == 4
    ann_item = next_item(p, "ann")
    assert release(p, "ann", actor="boss") == 4
    assert _held(p, "ann") == []
    counts = queue_counts(p)
    assert counts["released"] == 4 and counts["assigned_per_user"].get("ann") is None
    with pytest.raises(ConflictError, match="released"):
        submit(p, "ann", ann_item["assignment"]["id"], "a")
    # released work goes to the front: ann2's next four items are exactly those samples
    got = []
    for _ in range(4):
        item = next_item(p, "ann2")
        got.append(item["sample"]["id"])
        skip(p, "ann2", item["assignment"]["id"])
    assert sorted(got) == sorted(held)
    [(actor, payload)] = _events(p, "queue.release")
    assert actor == "boss" and payload["annotator"] == "ann" and payload["n"] == 4
    with pytest.raises(NotFoundError):
        release(p, "nobody")


def test_released_work_can_come_back_to_the_only_annotator(tmp_path, db):
    p, _ = build_project(tmp_path / "one", db=db(), batch=3, users={"ann": "annotator"})
    assign(p, ["ann"])
    held = sorted(_held(p, "ann"))
    release(p, "ann")
    again = next_item(p, "ann")
    assert again is not None and again["sample"]["id"] in held
    p.close()


def test_disabling_a_user_releases_their_items_in_the_same_transaction(project):
    p, _ = project
    assign(p, ["ann", "boss"], n=6)
    assert len(_held(p, "ann")) == 3 and len(_held(p, "boss")) == 3
    update_user(p, "ann", active=False, actor="boss")
    assert _held(p, "ann") == []
    assert queue_counts(p)["queued"] == 3
    [(_, payload)] = [e for e in _events(p, "user.update") if e[1]["name"] == "ann"]
    assert payload["released"] == 3
    # refused (the last admin): nothing changes, the items stay held
    with pytest.raises(ConflictError, match="last active admin"):
        update_user(p, "boss", active=False)
    assert len(_held(p, "boss")) == 3


def test_a_user_made_reviewer_hands_their_items_back(project):
    p, _ = project
    assign(p, ["ann2"], n=2)
    update_user(p, "ann2", role="reviewer")
    assert _held(p, "ann2") == []
    update_user(p, "ann2", role="annotator")  # nothing held: nothing to release
    assert queue_counts(p)["released"] == 2
