"""The audit log page (/admin/audit) and its JSON twin (/api/audit): every event, newest
first, filtered by user, kind and sample, paged; admins only."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from labelwise.store._models import Assignment, Event, Label


@pytest.fixture()
def history(app, as_user, web_project):
    """Some history: an added class, labels, a skip, a review, a failed login."""
    p, _ = web_project
    boss, ann, rev = as_user("boss"), as_user("ann"), as_user("rev")
    assert boss.post("/api/classes", json={"name": "ten"}).status_code == 200
    first = ann.get("/api/label").json()
    sid = first["sample"]["id"]
    body = {"assignment_id": first["assignment"]["id"], "label": "3"}
    assert ann.post("/api/submit", json=body).status_code == 200
    second = ann.get("/api/label").json()
    assert ann.post("/api/skip", json={"assignment_id": second["assignment"]["id"]}).is_success
    third = ann.get("/api/label").json()
    body = {"assignment_id": third["assignment"]["id"], "label": "4"}
    assert ann.post("/api/submit", json=body).status_code == 200
    lid = next(
        i["label_id"] for i in rev.get("/api/review").json()["items"] if i["sample_id"] == sid
    )
    assert rev.post(f"/api/review/{lid}", json={"decision": "accept"}).status_code == 200
    r = TestClient(app).post("/api/login", json={"username": "ann", "password": "wrong-one"})
    assert r.status_code == 401
    return boss, sid, second["sample"]["id"]


def all_events(p) -> list[Event]:
    with p.session() as s:
        return list(s.scalars(select(Event).order_by(Event.id.desc())))


def about_sample(p, sid) -> list[int]:
    """Event ids about a sample, found the long way: every event read in Python."""
    with p.session() as s:
        labels = set(s.scalars(select(Label.id).where(Label.sample_id == sid)))
        assignments = set(s.scalars(select(Assignment.id).where(Assignment.sample_id == sid)))
    return [
        e.id
        for e in all_events(p)
        if e.payload.get("sample_id") == sid
        or e.payload.get("label_id") in labels
        or e.payload.get("assignment_id") in assignments
    ]


def test_the_twin_lists_every_event_newest_first(history, web_project):
    boss, _, _ = history
    p, _ = web_project
    out = boss.get("/api/audit", params={"limit": 500}).json()
    events = all_events(p)
    assert out["total"] == len(events) > 10
    assert [e["id"] for e in out["events"]] == [e.id for e in events]
    assert [(e["kind"], e["actor"]) for e in out["events"]] == [(e.kind, e.actor) for e in events]
    assert {"class.add", "label.submit", "label.skip", "label.accept", "user.login_failed"} <= set(
        out["kinds"]
    )


def test_filters_by_user_kind_and_sample(history, web_project):
    boss, sid, skipped = history
    p, _ = web_project
    events = all_events(p)

    def ids(**params):
        return [e["id"] for e in boss.get("/api/audit", params=params).json()["events"]]

    by_ann = [e.id for e in events if e.actor == "ann" or e.payload.get("name") == "ann"]
    assert ids(user="ann") == by_ann
    kinds = {e.kind for e in events if e.id in by_ann}
    assert {"label.submit", "label.skip", "user.login", "user.login_failed", "user.add"} <= kinds
    assert ids(kind="label") == [e.id for e in events if e.kind.startswith("label.")]
    assert ids(kind="label.submit") == [e.id for e in events if e.kind == "label.submit"]
    assert ids(kind="label_submit") == []  # "_" is a character here, not a wildcard
    # a sample: its submit and review (sample_id) and nothing of the others
    mine = ids(sample=sid)
    assert mine == about_sample(p, sid)
    assert [e.kind for e in events if e.id in mine] == ["label.accept", "label.submit"]
    # the skipped one: only its assignment names it
    assert [e.kind for e in events if e.id in ids(sample=skipped)] == ["label.skip"]
    assert ids(user="ann", kind="label.submit", sample=sid) == [
        e.id for e in events if e.kind == "label.submit" and e.payload.get("sample_id") == sid
    ]


def test_paging(history, web_project):
    boss, _, _ = history
    first = boss.get("/api/audit", params={"limit": 3}).json()
    second = boss.get("/api/audit", params={"limit": 3, "offset": 3}).json()
    together = boss.get("/api/audit", params={"limit": 6}).json()
    assert [e["id"] for e in first["events"] + second["events"]] == [
        e["id"] for e in together["events"]
    ]
    assert first["total"] == second["total"] == together["total"]


def test_the_page_shows_the_filtered_log_and_is_linked_for_admins(history, as_user):
    boss, sid, _ = history
    page = boss.get("/admin/audit", params={"user": "ann", "kind": "", "sample": ""})
    assert page.status_code == 200
    assert "user.login_failed" in page.text and "label.skip" in page.text
    assert "class.add" not in page.text.split("<tbody>")[1]  # boss's, filtered out
    assert "wrong-one" not in page.text  # the failed password is nowhere
    by_sample = boss.get(f"/admin/audit?sample={sid}").text.split("<tbody>")[1]
    assert by_sample.count("<tr>") == 2
    assert boss.get("/admin/audit?sample=abc").status_code == 400
    assert 'href="/admin/audit"' in boss.get("/dashboard").text
    assert 'href="/admin/audit"' not in as_user("rev").get("/dashboard").text
    assert f'href="/admin/audit?sample={sid}"' in boss.get(f"/samples/{sid}").text
