"""The labeling workflow through the JSON API: queue, submit, undo, review, relabel,
overlap, gold, ontology, rounds and label issues, checked against the database."""

from sqlalchemy import func, select

from labelwise.annotate import set_settings
from labelwise.store._models import Assignment, Event, Label, Sample


def _label_all(c, truth, limit=1000, wrong=None):
    """Label until the queue is empty; returns the uids labeled."""
    done = []
    for _ in range(limit):
        item = c.get("/api/next").json()
        if item["assignment"] is None:
            return done
        uid = item["sample"]["uid"]
        value = (wrong or {}).get(uid, truth[uid])
        r = c.post("/api/submit", json={"assignment_id": item["assignment"]["id"], "label": value})
        assert r.status_code == 200, r.text
        done.append(uid)
    raise AssertionError("queue never emptied")


def test_next_is_stable_until_submitted_and_every_submit_is_stored_once(web_project, as_user):
    p, truth = web_project
    c = as_user("ann")
    first = c.get("/api/next").json()
    again = c.get("/api/next").json()
    assert first["assignment"]["id"] == again["assignment"]["id"]  # a reload claims nothing new
    assert first["classes"] == [str(i) for i in range(10)]
    labeled = _label_all(c, truth)
    assert len(labeled) == 60 == len(set(labeled))
    labels = p.current_labels()
    with p.session() as s:
        uid_of = dict(s.execute(select(Sample.id, Sample.uid)).all())
    assert {uid_of[k]: v for k, v in labels.items()} == {u: truth[u] for u in labeled}
    # submitting a finished assignment again is a conflict, not a second label
    r = c.post("/api/submit", json={"assignment_id": first["assignment"]["id"], "label": "1"})
    assert r.status_code == 409
    assert len(p.current_labels()) == 60


def test_two_annotators_never_share_an_assignment(web_project, as_user):
    p, truth = web_project
    a, b = as_user("ann"), as_user("ann2")
    seen_a, seen_b = set(), set()
    for _ in range(30):
        for c, seen in ((a, seen_a), (b, seen_b)):
            item = c.get("/api/next").json()
            if item["assignment"] is None:
                continue
            seen.add(item["sample"]["uid"])
            r = c.post(
                "/api/submit",
                json={"assignment_id": item["assignment"]["id"], "label": "1"},
            )
            assert r.status_code == 200
    assert not seen_a & seen_b
    assert len(seen_a | seen_b) == 60
    # someone else's assignment cannot be submitted
    with p.session() as s:
        other = s.scalar(select(Assignment.id).where(Assignment.annotator == "ann2"))
    r = a.post("/api/submit", json={"assignment_id": other, "label": "1"})
    assert r.status_code == 409 and "not assigned to you" in r.json()["detail"]


def test_undo_withdraws_the_label_and_gives_the_sample_back(web_project, as_user):
    p, truth = web_project
    c = as_user("ann")
    item = c.get("/api/next").json()
    c.post("/api/submit", json={"assignment_id": item["assignment"]["id"], "label": "7"})
    nxt = c.get("/api/next").json()
    assert nxt["assignment"]["id"] != item["assignment"]["id"]
    r = c.post("/api/undo")
    assert r.status_code == 200
    assert r.json()["item"]["assignment"]["id"] == item["assignment"]["id"]
    assert p.current_labels() == {}
    # the undone item comes first again, before the one that was open
    assert c.get("/api/next").json()["assignment"]["id"] == item["assignment"]["id"]
    with p.session() as s:
        assert s.scalar(select(Label.status).where(Label.annotator == "ann")) == "withdrawn"
    assert c.post("/api/undo").status_code == 409  # nothing left to undo


def test_reject_sends_the_sample_back_with_the_note_first(web_project, as_user):
    p, truth = web_project
    ann, rev = as_user("ann"), as_user("rev")
    item = ann.get("/api/next").json()
    uid = item["sample"]["uid"]
    ann.post("/api/submit", json={"assignment_id": item["assignment"]["id"], "label": "5"})
    queue = rev.get("/api/review").json()
    assert queue["total"] == 1 and queue["items"][0]["uid"] == uid
    lid = queue["items"][0]["label_id"]
    r = rev.post(f"/api/review/{lid}", json={"decision": "reject"})
    assert r.status_code == 400 and "note" in r.json()["detail"]  # a rejection needs a reason
    r = rev.post(f"/api/review/{lid}", json={"decision": "reject", "note": "look at the loop"})
    assert r.status_code == 200
    assert p.current_labels() == {}  # a rejected label is no longer the sample's label
    # the relabel comes first for the next annotator, note attached
    back = as_user("ann2").get("/api/next").json()
    assert back["sample"]["uid"] == uid
    assert back["assignment"]["kind"] == "relabel"
    assert back["assignment"]["note"] == "look at the loop"
    # a decided label cannot be decided or undone again
    assert rev.post(f"/api/review/{lid}", json={"decision": "accept"}).status_code == 409
    assert ann.post("/api/undo").status_code == 409


def test_overlap_gives_each_sample_to_k_people_and_feeds_agreement(tmp_path):
    from webutil import login, make_project

    from labelwise.web import create_app

    p, truth = make_project(tmp_path / "p", batch=1, n=120)
    set_settings(p, overlap_fraction=1.0, overlap_k=2)
    from labelwise.loop._project import select_batch

    select_batch(p, strategy="random", batch_size=20, random_state=1, force=True)
    app = create_app(p)
    truth = {f"d{i}": str(t) for i, t in enumerate(truth)}
    a, b = login(app, "ann", "ann-pass-1"), login(app, "ann2", "ann2-pass-1")
    got_a = _label_all(a, truth)
    got_b = _label_all(b, truth)
    # 21 samples (1 + 20), each labeled by both; nobody twice
    assert len(got_a) == len(set(got_a)) == 21 and set(got_a) == set(got_b)
    with p.session() as s:
        statuses = dict(s.execute(select(Label.status, func.count()).group_by(Label.status)).all())
    assert statuses == {"accepted": 21, "overlap": 21}
    q = login(app, "rev", "rev-pass-1").get("/api/quality").json()
    pair = q["pairs"][0]
    assert {pair["a"], pair["b"]} == {"ann", "ann2"} and pair["n"] == 21
    assert pair["kappa"] == 1.0  # both gave the true digit every time
    # rejecting a second opinion leaves the sample's label alone and queues no relabel
    rev = login(app, "rev", "rev-pass-1")
    extra = next(it for it in rev.get("/api/review").json()["items"] if it["status"] == "overlap")
    before = p.current_labels()
    r = rev.post(f"/api/review/{extra['label_id']}", json={"decision": "reject", "note": "no"})
    assert r.status_code == 200 and r.json()["relabel"] is None
    assert p.current_labels() == before


def test_gold_items_are_mixed_in_and_scored(web_project, as_user):
    p, truth = web_project
    boss = as_user("boss")
    ann = as_user("ann")
    # ten labeled samples become gold with their (true) labels
    first = _label_all(ann, truth, limit=1000)[:10]
    assert boss.post("/api/gold", json={"from_labels": first}).status_code == 200
    assert boss.post("/api/queue/settings", json={"gold_rate": 0.5}).json()["gold_rate"] == 0.5
    boss.post("/api/rounds", json={"strategy": "random", "batch_size": 20, "train": False})
    ann2 = as_user("ann2")
    kinds = []
    for _ in range(12):
        item = ann2.get("/api/next").json()
        kinds.append(item["assignment"]["kind"])
        uid = item["sample"]["uid"]
        value = "0" if item["assignment"]["kind"] == "gold" and len(kinds) < 3 else truth[uid]
        ann2.post("/api/submit", json={"assignment_id": item["assignment"]["id"], "label": value})
    # every second item is gold (rate 0.5)
    assert kinds[1::2] == ["gold"] * 6 and "gold" not in kinds[0::2]
    q = as_user("rev").get("/api/quality").json()
    me = next(a for a in q["annotators"] if a["annotator"] == "ann2")
    # the first gold answer was "0": right only if that gold sample's digit is 0
    with p.session() as s:
        gold_rows = s.execute(
            select(Sample.uid, Label.value)
            .join(Sample, Sample.id == Label.sample_id)
            .where(Label.status == "gold")
            .order_by(Label.id)
        ).all()
    expect = sum(truth[u] == v for u, v in gold_rows) / len(gold_rows)
    assert len(gold_rows) == 6
    assert abs(me["gold_accuracy"] - expect) < 1e-9
    # gold answers never change the sample's accepted label
    labels = p.current_labels()
    with p.session() as s:
        uid_of = dict(s.execute(select(Sample.id, Sample.uid)).all())
    assert all(v == truth[uid_of[k]] for k, v in labels.items())


def test_ontology_rename_merge_retire_labels_follow(web_project, as_user):
    p, truth = web_project
    _label_all(as_user("ann"), truth)
    boss = as_user("boss")
    before = p.current_labels()
    n3 = sum(v == "3" for v in before.values())
    r = boss.post("/api/classes/rename", json={"old": "3", "new": "three"})
    assert r.status_code == 200 and r.json()["labels_changed"] == n3
    after = p.current_labels()
    assert {k: ("three" if v == "3" else v) for k, v in before.items()} == after
    n8 = sum(v == "8" for v in after.values())
    r = boss.post("/api/classes/merge", json={"source": "8", "target": "three"})
    assert r.json()["labels_changed"] == n8
    merged = p.current_labels()
    assert sum(v == "three" for v in merged.values()) == n3 + n8
    assert "8" not in p.classes() and "three" in p.classes()
    with p.session() as s:
        ev = s.scalars(select(Event).where(Event.kind == "class.merge")).one()
    assert len(ev.payload["label_ids"]) == n8  # the history says which labels moved
    assert boss.post("/api/classes/retire", json={"name": "9"}).status_code == 200
    boss.post("/api/rounds", json={"strategy": "random", "batch_size": 5, "train": False})
    ann = as_user("ann")
    item = ann.get("/api/next").json()
    assert "9" not in item["classes"]
    r = ann.post("/api/submit", json={"assignment_id": item["assignment"]["id"], "label": "9"})
    assert r.status_code == 400 and "not an active class" in r.json()["detail"]
    assert boss.post("/api/classes/rename", json={"old": "1", "new": "2"}).status_code == 409


def test_a_round_from_the_browser_trains_selects_and_prelabels(web_project, as_user):
    p, truth = web_project
    _label_all(as_user("ann"), truth)
    boss = as_user("boss")
    r = boss.post("/api/rounds", json={"strategy": "margin", "batch_size": 25})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["round"] == 2 and out["selected"] == 25 and out["queued"] == 25
    assert not out["cold_start"]
    item = as_user("ann2").get("/api/next").json()
    hint = item["suggestion"]
    assert hint is not None and hint["label"] in item["classes"]
    assert 0 < hint["confidence"] <= 1


def test_label_issues_find_flipped_labels_and_queue_them(web_project, as_user):
    p, truth = web_project
    ann = as_user("ann")
    boss = as_user("boss")
    _label_all(ann, truth)
    boss.post(
        "/api/rounds", json={"strategy": "random", "batch_size": 140, "train": False, "seed": 0}
    )
    labeled = _label_all(ann, truth)
    flipped = {u: str((int(truth[u]) + 1) % 10) for u in labeled[:10]}
    # relabel through import: ten wrong labels among 200
    import csv

    path = p.path / "wrong.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "label"])
        w.writerows(flipped.items())
    from labelwise.io._labels import import_labels

    import_labels(p, path)
    rev = as_user("rev")
    found = rev.get("/api/issues").json()
    hits = {i["uid"] for i in found["issues"]} & set(flipped)
    # Over 20 unseeded rounds 5 to 10 of the 10 were found, at a precision of 0.5 to
    # 0.86; a chance pick of the 200 labels would be 5% precise.
    assert len(hits) >= 5, found["issues"][:5]
    assert len(hits) / len(found["issues"]) >= 0.4
    for i in found["issues"]:
        if i["uid"] in flipped:
            assert i["given"] == flipped[i["uid"]]
    r = rev.post("/api/issues/queue", json={"top": 50})
    assert r.json()["flagged"] >= len(hits)
    queue = rev.get("/api/review?state=flagged").json()
    flagged = {it["uid"]: it for it in queue["items"]}
    assert hits <= set(flagged)
    some = flagged[next(iter(hits))]
    assert some["issue"]["suggested"] and 0 < some["issue"]["confidence"] <= 1


def test_explorer_sorts_filters_and_maps(web_project, as_user):
    p, truth = web_project
    rev = as_user("rev")
    page = rev.get("/api/explorer?sort=score&order=desc&limit=100").json()
    assert page["total"] == 300
    scores = [it["score"] for it in page["items"] if it["score"] is not None]
    assert scores == sorted(scores, reverse=True) and len(scores) == 60
    assert rev.get("/api/explorer?state=selected").json()["total"] == 60
    _label_all(as_user("ann"), truth)
    fours = rev.get("/api/explorer?label=4&limit=500").json()
    assert fours["total"] == sum(truth[it["uid"]] == "4" for it in fours["items"])
    assert all(it["label"] == "4" for it in fours["items"])
    m = rev.get("/api/map?color=label").json()
    assert len(m["points"]) == 300 and m["method"] == "pca"
    labeled = [pt for pt in m["points"] if pt["label"] is not None]
    assert len(labeled) == 60
    # PCA's first axis has the largest spread (an independent check of the projection)
    import numpy as np

    xs = np.array([pt["x"] for pt in m["points"]])
    ys = np.array([pt["y"] for pt in m["points"]])
    assert xs.var() >= ys.var() > 0


def test_crowdlab_consensus_outvotes_a_careless_annotator(tmp_path):
    import random

    from webutil import login, make_project

    from labelwise.loop._project import select_batch
    from labelwise.web import create_app

    p, truth = make_project(tmp_path / "p", batch=40, n=200)
    truth = {f"d{i}": str(t) for i, t in enumerate(truth)}
    set_settings(p, overlap_fraction=1.0, overlap_k=2)
    select_batch(p, strategy="random", batch_size=30, random_state=1, force=True)
    app = create_app(p)
    rnd = random.Random(0)
    # ann2 labels first, and gives a wrong digit half of the time
    for name, careless in (("ann2", True), ("ann", False)):
        c = login(app, name, f"{name}-pass-1")
        while (item := c.get("/api/next").json())["assignment"] is not None:
            value = truth[item["sample"]["uid"]]
            if careless and rnd.random() < 0.5:
                value = str((int(value) + 1) % 10)
            c.post("/api/submit", json={"assignment_id": item["assignment"]["id"], "label": value})
    rev = login(app, "rev", "rev-pass-1")
    crowd = rev.get("/api/quality?method=crowdlab").json()
    vote = rev.get("/api/quality?method=majority").json()
    assert len(crowd["consensus"]) == len(vote["consensus"]) == 70

    def acc(rows):
        return sum(r["label"] == truth[r["sample"]] for r in rows) / len(rows)

    # a tie goes to the earliest label (the careless one's); CROWDLAB weighs each person
    # by how often they agree with out-of-fold model predictions (0.83 vs 0.60 measured)
    assert acc(crowd["consensus"]) >= acc(vote["consensus"]) + 0.15
    assert acc(crowd["consensus"]) >= 0.75
    quality = {a["annotator"]: a["quality"] for a in crowd["crowdlab_annotators"]}
    assert quality["ann2"] < quality["ann"]
    flags = {a["annotator"]: a["flags"] for a in crowd["annotators"]}
    assert any("kappa" in f and "below 0.80" in f for f in flags["ann2"])


def test_assign_hands_overlap_slots_to_different_people_in_turn(tmp_path):
    from webutil import login, make_project

    from labelwise.loop._project import select_batch
    from labelwise.web import create_app

    p, truth = make_project(tmp_path / "p", batch=1, n=100)
    app = create_app(p)  # the first round's one sample is queued without overlap
    set_settings(p, overlap_fraction=1.0, overlap_k=2)
    select_batch(p, strategy="random", batch_size=20, random_state=3, force=True)
    boss = login(app, "boss", "boss-pass-1")
    r = boss.post("/api/queue/assign", json={"annotators": ["ann", "ann2"]})
    assert r.status_code == 200
    assert r.json()["assigned"] == {"ann": 21, "ann2": 20}  # 1 + 20 x 2 slots, in turn
    with p.session() as s:
        rows = s.execute(select(Assignment.sample_id, Assignment.annotator)).all()
    per_sample: dict = {}
    for sid, who in rows:
        per_sample.setdefault(sid, []).append(who)
    assert all(len(set(w)) == len(w) for w in per_sample.values())  # never twice one person
    assert sum(len(w) == 2 for w in per_sample.values()) == 20
    # an annotator now gets only what was assigned to them
    ann = login(app, "ann", "ann-pass-1")
    mine = {sid for sid, who in rows if who == "ann"}
    seen = set()
    while (item := ann.get("/api/next").json())["assignment"] is not None:
        seen.add(item["sample"]["id"])
        ann.post("/api/submit", json={"assignment_id": item["assignment"]["id"], "label": "1"})
    assert seen == mine


def test_a_seeded_round_picks_the_same_rows_in_two_equal_projects(tmp_path):
    from webutil import login, make_project

    from labelwise.web import create_app

    picks = []
    for name in ("a", "b", "c"):
        p, _ = make_project(tmp_path / name)
        boss = login(create_app(p), "boss")
        seed = 7 if name != "c" else 8
        body = {"strategy": "random", "batch_size": 30, "train": False, "force": True, "seed": seed}
        assert boss.post("/api/rounds", json=body).status_code == 200
        with p.session() as s:
            picks.append(
                set(
                    s.scalars(
                        select(Sample.uid).join(Assignment, Assignment.sample_id == Sample.id)
                    ).all()
                )
            )
        p.close()
    assert picks[0] == picks[1] and len(picks[0]) == 90
    assert picks[0] != picks[2]  # another seed, other rows
