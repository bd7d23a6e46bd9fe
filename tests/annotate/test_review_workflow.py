"""Review after undo, and where a rejected sample goes to be labeled again."""

import pytest
from annotate_util import build_project
from sqlalchemy import select, update

from labelwise.annotate import (
    decide,
    next_item,
    queue_counts,
    review_queue,
    set_settings,
    submit,
    undo,
)
from labelwise.errors import ConflictError
from labelwise.store import transaction
from labelwise.store._models import Assignment, Label


def _label(p, user, value="a"):
    item = next_item(p, user)
    out = submit(p, user, item["assignment"]["id"], value)
    return item, out


# -- undo and the review queue ---------------------------------------------------------------
def test_an_undone_label_leaves_the_review_queue_and_the_relabel_shows_once(project):
    p, _ = project
    item, first = _label(p, "ann", "a")
    assert review_queue(p)["total"] == 1
    undo(p, "ann")
    assert review_queue(p)["total"] == 0
    assert queue_counts(p)["review_pending"] == 0
    again = submit(p, "ann", item["assignment"]["id"], "b")
    queue = review_queue(p)
    assert queue["total"] == 1
    assert [(i["label_id"], i["value"]) for i in queue["items"]] == [(again["label_id"], "b")]
    # a reviewer acting on the stale row (a page loaded before the undo): a clean conflict
    with pytest.raises(ConflictError, match="withdrawn"):
        decide(p, "rev", first["label_id"], "accept")
    with pytest.raises(ConflictError, match="withdrawn"):
        decide(p, "rev", first["label_id"], "reject", "no")


def test_labels_that_are_no_longer_current_never_wait_for_review(project):
    """Rows left pending by older versions (withdrawn, superseded) are not shown."""
    p, _ = project
    _, one = _label(p, "ann", "a")
    _, two = _label(p, "ann", "b")
    with transaction(p.session) as s:
        s.execute(update(Label).where(Label.id == one["label_id"]).values(status="withdrawn"))
        s.execute(update(Label).where(Label.id == two["label_id"]).values(status="superseded"))
    assert review_queue(p)["total"] == 0
    assert review_queue(p, state="pending")["items"] == []
    assert queue_counts(p)["review_pending"] == 0


# -- a rejected label goes back ---------------------------------------------------------------
def _relabel_rows(p, sample_id):
    with p.session() as s:
        return s.execute(
            select(Assignment.annotator, Assignment.status).where(
                Assignment.sample_id == sample_id, Assignment.kind == "relabel"
            )
        ).all()


def test_with_one_annotator_a_rejected_sample_goes_back_to_them(tmp_path, db):
    users = {"solo": "annotator", "rev": "reviewer", "boss": "admin"}
    p, _ = build_project(tmp_path / "solo", db=db(), batch=1, users=users)
    item, out = _label(p, "solo", "a")
    decide(p, "rev", out["label_id"], "reject", "it is a b")
    assert _relabel_rows(p, item["sample"]["id"]) == [("solo", "assigned")]
    back = next_item(p, "solo")
    assert back["sample"]["id"] == item["sample"]["id"]
    assert back["assignment"]["kind"] == "relabel"
    assert back["assignment"]["note"] == "it is a b"
    fixed = submit(p, "solo", back["assignment"]["id"], "b")
    assert fixed["status"] == "accepted"
    assert p.current_labels() == {item["sample"]["id"]: "b"}
    p.close()


def test_with_another_annotator_the_rejected_sample_goes_to_them(project):
    p, _ = project
    item, out = _label(p, "ann", "a")
    decide(p, "rev", out["label_id"], "reject", "look again")
    assert _relabel_rows(p, item["sample"]["id"]) == [(None, "queued")]
    assert next_item(p, "ann2")["sample"]["id"] == item["sample"]["id"]


def test_when_every_other_annotator_already_had_the_sample_it_goes_back(tmp_path, db):
    p, _ = build_project(tmp_path / "ov", db=db(), batch=2)
    set_settings(p, overlap_fraction=1.0, overlap_k=2)  # before anything is queued
    first, out = _label(p, "ann", "a")
    sid = first["sample"]["id"]
    second = next_item(p, "ann2")
    assert second["sample"]["id"] == sid  # the overlap slot of the same sample
    submit(p, "ann2", second["assignment"]["id"], "a")
    decide(p, "rev", out["label_id"], "reject", "both wrong?")
    # ann2 had it already: nobody else could take it from the queue
    assert _relabel_rows(p, sid) == [("ann", "assigned")]
    p.close()
