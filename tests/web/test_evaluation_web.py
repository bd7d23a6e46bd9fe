"""The evaluation set in the web app: annotators cannot tell, admins can, the dashboard uses it."""

import numpy as np
from webutil import PASSWORDS

from labelwise.embed import load_features
from labelwise.loop._evalset import NO_EVAL_NOTE, draw_eval_set, eval_ids
from labelwise.loop._intervals import wilson_interval
from labelwise.loop._project import RANDOM_ARM, select_batch, train
from labelwise.models import make_model
from labelwise.store._models import Round, SelectionRow

assert "ann" in PASSWORDS


def _label_queue(c, truth):
    """Label until the queue is empty; returns every item the annotator got, in order."""
    items = []
    while (item := c.get("/api/next").json())["assignment"] is not None:
        items.append(item)
        uid = item["sample"]["uid"]
        r = c.post(
            "/api/submit", json={"assignment_id": item["assignment"]["id"], "label": truth[uid]}
        )
        assert r.status_code == 200, r.text
    return items


def test_evaluation_items_reach_annotators_like_any_other(web_project, as_user):
    p, truth = web_project
    ann = as_user("ann")
    assert as_user("rev").get("/api/dashboard").json()["metric_note"] == NO_EVAL_NOTE
    _label_queue(ann, truth)  # round 1: 60 random picks
    train(p)
    draw_eval_set(p, 30, seed=0)
    select_batch(p, strategy="margin", batch_size=20, random_state=0, random_share=0.25)
    items = _label_queue(ann, truth)
    reserved = eval_ids(p)
    is_eval = [it["sample"]["id"] in reserved for it in items]
    assert len(items) == 50 and sum(is_eval) == 30
    assert is_eval.index(True) < len(items) - 30  # mixed in, not all at the end
    for it, ev in zip(items, is_eval, strict=True):
        assert set(it) == set(items[0]) and set(it["sample"]) == set(items[0]["sample"])
        assert it["assignment"]["kind"] == "label" and it["assignment"]["round"] == 2
        assert "eval" not in it["sample"]
        # no model pre-label on evaluation items: it would pull their labels to the model
        assert (it["suggestion"] is None) == ev
    # reviewers cannot tell either; admins can
    some = sorted(reserved)[0]
    rev, boss = as_user("rev"), as_user("boss")
    assert "eval" not in rev.get(f"/api/samples/{some}").json()["sample"]
    assert boss.get(f"/api/samples/{some}").json()["sample"]["eval"] is True
    rows = boss.get("/api/explorer", params={"limit": 500}).json()["items"]
    assert {r["id"] for r in rows if r["eval"]} == reserved
    assert all("eval" not in r for r in rev.get("/api/explorer").json()["items"])
    assert "evaluation set" in boss.get(f"/samples/{some}").text
    assert boss.get("/api/queue").json()["eval_set"]["n_labeled"] == 30


def test_dashboard_compares_active_and_random_on_the_evaluation_set(web_project, as_user):
    p, truth = web_project
    ann = as_user("ann")
    draw_eval_set(p, 40, seed=1)
    _label_queue(ann, truth)  # round 1 (random strategy) and the evaluation set
    train(p)
    select_batch(p, strategy="margin", batch_size=20, random_state=1, random_share=0.5)
    _label_queue(ann, truth)
    train(p)
    rev = as_user("rev")
    dash = rev.get("/api/dashboard").json()
    assert dash["metric_note"] is None and dash["eval_set"] == {"size": 40, "n_labeled": 40}
    last = dash["curve"][-1]
    assert last["n_eval"] == 40 and last["metric_ci"][0] <= last["metric"] <= last["metric_ci"][1]
    base = rev.get("/api/dashboard/baseline").json()
    assert "Active vs random" in base["note"]
    row = base["curves"][-1]
    assert row["active"]["labels"] == 80 and row["random"]["labels"] == 10
    # the random-arm model, refit here, scored on the evaluation labels
    X, ids, _ = load_features(p)
    with p.session() as s:
        arm = s.scalars(
            SelectionRow.__table__.select()
            .with_only_columns(SelectionRow.sample_id)
            .join(Round, Round.id == SelectionRow.round_id)
            .where(SelectionRow.strategy == RANDOM_ARM)
        ).all()
    labels = p.current_labels()
    pos = {int(v): i for i, v in enumerate(ids)}
    m = make_model("logreg", classes=p.classes(), random_state=0).fit(
        X[[pos[a] for a in arm]], np.asarray([labels[a] for a in arm], dtype=object)
    )
    ev = sorted(eval_ids(p))
    hits = int(np.sum(m.predict(X[[pos[e] for e in ev]]) == [labels[e] for e in ev]))
    assert row["random"]["metric"] == hits / 40
    assert row["random"]["metric_ci"] == list(wilson_interval(hits, 40))


def test_dashboard_without_a_random_arm_says_how_to_get_one(web_project, as_user):
    p, truth = web_project
    _label_queue(as_user("ann"), truth)
    train(p)
    base = as_user("rev").get("/api/dashboard/baseline").json()
    assert base["curves"] == [] and NO_EVAL_NOTE in base["note"]
    draw_eval_set(p, 20, seed=0)
    _label_queue(as_user("ann"), truth)
    base = as_user("rev").get("/api/dashboard/baseline").json()
    assert base["curves"] == [] and "--random-share" in base["note"]
