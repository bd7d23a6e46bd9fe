"""Through the API: leases, releasing a user's items, undo and review, rounds after retiring.

The lease clock is moved by back-dating ``assigned_at`` in the database: nothing sleeps.
"""

import csv
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from webutil import login

from labelwise.errors import InvalidInputError
from labelwise.loop._project import round_uids
from labelwise.store import transaction
from labelwise.store._models import Assignment, Event, now


def _age(p, assignment_id, minutes):
    with transaction(p.session) as s:
        s.execute(
            update(Assignment)
            .where(Assignment.id == assignment_id)
            .values(assigned_at=now() - timedelta(minutes=minutes))
        )


@pytest.mark.parametrize(("lease", "held_for", "taken"), [(5, 4, False), (5, 6, True)])
def test_serve_lease_minutes_decides_when_an_item_moves_on(web_project, lease, held_for, taken):
    from labelwise.web import create_app

    p, _ = web_project
    app = create_app(p, lease_minutes=lease)
    ann, ann2 = login(app, "ann"), login(app, "ann2")
    mine = ann.get("/api/next").json()
    _age(p, mine["assignment"]["id"], held_for)
    theirs = ann2.get("/api/next").json()
    assert (theirs["sample"]["id"] == mine["sample"]["id"]) is taken
    body = {"assignment_id": mine["assignment"]["id"], "label": "1"}
    r = ann.post("/api/submit", json=body)
    if taken:
        assert r.status_code == 409
        assert "your lease on this item expired" in r.json()["detail"]
    else:
        assert r.status_code == 200


def test_the_default_lease_is_30_minutes_and_a_bad_one_is_refused(web_project):
    from labelwise.web import create_app

    p, _ = web_project
    app = create_app(p)
    assert app.state.lease_minutes == 30
    boss = login(app, "boss")
    assert boss.get("/api/queue").json()["lease_minutes"] == 30
    with pytest.raises(InvalidInputError, match="lease"):
        create_app(p, lease_minutes=0)


def test_an_admin_sees_what_each_user_holds_and_releases_it(app, web_project, as_user):
    p, _ = web_project
    boss, ann = as_user("boss"), as_user("ann")
    assert boss.post("/api/queue/assign", json={"annotators": ["ann"], "n": 5}).status_code == 200
    item = ann.get("/api/next").json()
    rows = {h["name"]: h for h in boss.get("/api/queue").json()["holders"]}
    assert rows["ann"]["held"] == 5 and rows["ann2"]["held"] == 0
    page = boss.get("/admin/queue").text
    assert 'data-name="ann"' in page and "release-user" in page
    assert '<td class="held">5</td>' in page
    r = boss.post("/api/queue/release", json={"annotator": "ann"})
    assert r.status_code == 200 and r.json() == {"annotator": "ann", "released": 5}
    rows = {h["name"]: h for h in boss.get("/api/queue").json()["holders"]}
    assert rows["ann"]["held"] == 0
    r = ann.post("/api/submit", json={"assignment_id": item["assignment"]["id"], "label": "1"})
    assert r.status_code == 409 and "released" in r.json()["detail"]
    with p.session() as s:
        ev = s.scalars(select(Event).where(Event.kind == "queue.release")).one()
    assert ev.actor == "boss" and ev.payload["n"] == 5
    assert boss.post("/api/queue/release", json={"annotator": "nobody"}).status_code == 404
    assert boss.post("/api/queue/release", json={}).status_code == 422


def test_disabling_a_user_in_the_web_app_releases_their_items(app, web_project, as_user):
    p, _ = web_project
    boss = as_user("boss")
    boss.post("/api/queue/assign", json={"annotators": ["ann"], "n": 3})
    assert {h["name"]: h["held"] for h in boss.get("/api/queue").json()["holders"]}["ann"] == 3
    assert boss.patch("/api/users/ann", json={"active": False}).status_code == 200
    with p.session() as s:
        held = s.scalar(
            select(Assignment.id).where(
                Assignment.annotator == "ann", Assignment.status == "assigned"
            )
        )
    assert held is None
    # the work is not lost: ann2 gets those samples first
    got = as_user("ann2").get("/api/next").json()
    with p.session() as s:
        released = set(
            s.scalars(select(Assignment.sample_id).where(Assignment.status == "released"))
        )
    assert len(released) == 3 and got["sample"]["id"] in released


def test_an_undone_label_is_not_reviewed_and_a_stale_row_gets_409(app, as_user):
    ann, rev = as_user("ann"), as_user("rev")
    item = ann.get("/api/next").json()
    aid = item["assignment"]["id"]
    old = ann.post("/api/submit", json={"assignment_id": aid, "label": "3"}).json()["label_id"]
    assert rev.get("/api/review").json()["total"] == 1
    assert ann.post("/api/undo").status_code == 200
    assert rev.get("/api/review").json()["total"] == 0
    new = ann.post("/api/submit", json={"assignment_id": aid, "label": "4"}).json()["label_id"]
    queue = rev.get("/api/review").json()
    assert [i["label_id"] for i in queue["items"]] == [new]
    page = rev.get("/review").text
    assert f'data-label-id="{new}"' in page and f'data-label-id="{old}"' not in page
    r = rev.post(f"/api/review/{old}", json={"decision": "accept"})
    assert r.status_code == 409 and "withdrawn" in r.json()["detail"]


def test_a_round_after_retiring_a_class_trains_without_it(app, web_project, as_user, tmp_path):
    p, truth = web_project
    first = [f"d{i}" for i in range(100)]
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["id", "label"], *([u, truth[u]] for u in first)])
    from labelwise.io._labels import import_labels

    import_labels(p, tmp_path / "labels.csv")
    boss = as_user("boss")
    assert boss.post("/api/classes/retire", json={"name": "9"}).status_code == 200
    body = {"strategy": "margin", "batch_size": 5, "force": True}  # round 1 is still open
    r = boss.post("/api/rounds", json=body)
    assert r.status_code == 200, r.text
    nines = sum(truth[u] == "9" for u in first)
    trained = r.json()["trained"]
    assert trained["n_retired_labels"] == nines > 0
    assert trained["n_labeled"] == 100 - nines
    assert "9" not in trained["classes"]
    assert r.json()["selected"] == 5
    picked = round_uids(p, r.json()["round"])
    assert len(picked) == 5 and not set(picked) & set(first)  # labeled ones stay labeled
