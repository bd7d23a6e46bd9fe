"""The web app in a real browser: labeling by keyboard, review, ontology, explorer, escaping.

Each scenario checks what the page shows and what reached the database (through the
labelwise API). Every page is screenshotted (see ``shots`` in conftest).
"""

import re

import pytest
from sqlalchemy import select

from labelwise import annotate
from labelwise.annotate._records import label_records
from labelwise.store._models import Assignment, Label, Sample

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'").expect

XSS = "<script>alert(1)</script>"


def key_of(cls: str) -> str:
    """The key of a digit class: the buttons are numbered 1..9, 0 for classes "0".."9"."""
    return str((int(cls) + 1) % 10)


def uid_shown(page) -> str:
    return page.locator("#item-uid").inner_text()


def press_and_wait_next(page, key: str) -> str:
    """Press ``key`` on the label page; wait for a different sample; return its uid."""
    before = uid_shown(page)
    page.keyboard.press(key)
    page.wait_for_function(
        "before => document.getElementById('item-uid').textContent !== before", arg=before
    )
    return uid_shown(page)


def label_by_api(project, user: str, values, limit: int = 10_000) -> list[tuple[str, str]]:
    """``user`` labels up to ``limit`` items with ``values(uid)``; returns (uid, value)."""
    out = []
    for _ in range(limit):
        item = annotate.next_item(project, user)
        if item is None:
            break
        uid = item["sample"]["uid"]
        annotate.submit(project, user, item["assignment"]["id"], values(uid), duration=1.5)
        out.append((uid, values(uid)))
    return out


def ids_by_uid(project) -> dict[str, int]:
    with project.session() as s:
        return dict(s.execute(select(Sample.uid, Sample.id)).all())


def test_label_twenty_by_keyboard_with_undo_skip_and_help(project, as_user, shots):
    p, truth = project
    ann = as_user("ann")
    page = ann.page
    expect(page.locator("#item-uid")).not_to_be_empty()
    # the class buttons are numbered 1..9, 0 for the classes "0".."9"
    buttons = page.locator("#classes .class-btn")
    expect(buttons).to_have_count(10)
    for cls in ("0", "3", "9"):
        btn = page.locator(f'#classes .class-btn[data-class="{cls}"] kbd')
        expect(btn).to_have_text(key_of(cls))
    expect(page.locator("#content .kv > div")).to_have_count(64)  # the row's 64 pixels
    page.evaluate("window.__noReload = 'still here'")
    page.screenshot(path=shots / "label.png", full_page=True)

    given = {}
    for _ in range(20):
        uid = uid_shown(page)
        given[uid] = truth[uid]
        nxt = press_and_wait_next(page, key_of(truth[uid]))
        assert nxt not in given
    expect(page.locator("#done-count")).to_have_text("20")
    assert page.evaluate("window.__noReload") == "still here"  # no full page load
    recs = label_records(p)
    mine = recs[recs.annotator == "ann"]
    assert dict(zip(mine["sample"], mine["value"], strict=True)) == given
    assert (mine["duration"] > 0).all()  # the page measured how long each took
    ids = ids_by_uid(p)
    current = p.current_labels()
    assert {u: current[ids[u]] for u in given} == given

    # undo: the last label is withdrawn and its sample comes back
    last = list(given)[-1]
    held = uid_shown(page)
    assert press_and_wait_next(page, "u") == last
    expect(page.locator("#done-count")).to_have_text("19")
    assert ids[last] not in p.current_labels()
    with p.session() as s:
        statuses = s.scalars(select(Label.status).where(Label.sample_id == ids[last])).all()
    assert statuses == ["withdrawn"]
    assert last not in set(label_records(p)["sample"])
    # label it again; then the sample held before the undo is shown again
    wrong = str((int(truth[last]) + 1) % 10)
    assert press_and_wait_next(page, key_of(wrong)) == held
    assert p.current_labels()[ids[last]] == wrong

    # skip: given back to the queue for someone else, no label
    skipped = held
    press_and_wait_next(page, "s")
    with p.session() as s:
        rows = s.execute(
            select(Assignment.annotator, Assignment.status).where(
                Assignment.sample_id == ids[skipped]
            )
        ).all()
    assert sorted(rows, key=str) == sorted([("ann", "skipped"), (None, "queued")], key=str)
    assert ids[skipped] not in p.current_labels()
    expect(page.locator("#done-count")).to_have_text("20")

    # ? opens the help; digits do nothing while it is open
    help_ = page.locator("#help")
    expect(help_).to_be_hidden()
    page.keyboard.press("?")
    expect(help_).to_be_visible()
    expect(help_).to_contain_text("skip this sample")
    page.screenshot(path=shots / "label_help.png")
    shown = uid_shown(page)
    page.keyboard.press("1")
    page.wait_for_timeout(300)  # a label would be sent and the next sample shown by now
    assert uid_shown(page) == shown
    page.keyboard.press("Escape")
    expect(help_).to_be_hidden()
    assert uid_shown(page) == shown
    assert page.evaluate("window.__noReload") == "still here"
    assert len(label_records(p).query("annotator == 'ann'")) == 20


def test_reject_with_a_note_sends_the_sample_back_to_an_annotator(project, as_user, shots):
    p, truth = project
    # ann2 labels three samples; a rejected label goes to someone else (never its author)
    assert len(label_by_api(p, "ann2", lambda uid: "7", limit=2)) == 2
    rev = as_user("rev")
    page = rev.page
    rows = page.locator("#review-table tbody tr")
    expect(rows).to_have_count(2)
    queue = annotate.review_queue(p)
    assert queue["total"] == 2
    for row, it in zip(rows.all(), queue["items"], strict=True):
        expect(row.locator("td").nth(0)).to_have_text(it["uid"])
        expect(row.locator("td").nth(2)).to_have_text(it["value"])
        expect(row.locator("td").nth(3)).to_have_text("ann2")
    page.screenshot(path=shots / "review.png", full_page=True)

    first, second = rows.nth(0), rows.nth(1)
    uid, lid = queue["items"][0]["uid"], queue["items"][0]["label_id"]
    # a rejection without a note is refused, and says why
    first.locator(".reject").click()
    expect(page.locator("#toast")).to_contain_text("note")
    expect(first).not_to_have_class(re.compile(r"\bdecided\b"))
    assert rev.errors and all("400" in e for e in rev.errors)  # the refused request
    rev.errors.clear()
    note = "looks like a 1: the stroke is straight"
    first.locator(".review-note").fill(note)
    first.locator(".reject").click()
    expect(first).to_have_class("pending decided reject")
    second.locator(".accept").click()
    expect(second).to_have_class("pending decided accept")
    with p.session() as s:
        rejected, accepted = s.get(Label, lid), s.get(Label, queue["items"][1]["label_id"])
        assert (rejected.status, rejected.review_status) == ("rejected", "rejected")
        assert (rejected.reviewer, rejected.review_note) == ("rev", note)
        assert (accepted.status, accepted.review_status) == ("accepted", "approved")
    assert annotate.review_queue(p)["total"] == 0
    ids = ids_by_uid(p)
    assert ids[uid] not in p.current_labels()
    page.reload()
    expect(page.locator("#review-table tbody tr")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("Nothing to review")

    # ann (a new browser context): the rejected sample comes first, with the note
    ann = as_user("ann")
    lp = ann.page
    expect(lp.locator("#item-uid")).to_have_text(uid)
    expect(lp.locator("#item-kind")).to_have_text("relabel")
    expect(lp.locator("#note")).to_be_visible()
    expect(lp.locator("#note")).to_have_text("Reviewer's note: " + note)
    lp.screenshot(path=shots / "label_relabel.png", full_page=True)
    press_and_wait_next(lp, key_of("1"))
    expect(lp.locator("#note")).to_be_hidden()
    assert p.current_labels()[ids[uid]] == "1"
    with p.session() as s:
        hist = s.execute(
            select(Label.annotator, Label.value, Label.status)
            .where(Label.sample_id == ids[uid])
            .order_by(Label.id)
        ).all()
    assert hist == [("ann2", "7", "rejected"), ("ann", "1", "accepted")]
    page.reload()  # the new label waits for review
    expect(page.locator("#review-table tbody tr")).to_have_count(1)
    expect(page.locator("#review-table tbody tr td").nth(3)).to_have_text("ann")


def test_rename_class_labels_follow_and_every_page_renders(project, as_user, shots):
    p, truth = project
    flipped = {"d1", "d2", "d5", "d7"}

    def value(uid):
        return str((int(truth[uid]) + 1) % 10) if uid in flipped else truth[uid]

    label_by_api(p, "ann2", value)
    assert len(p.current_labels()) == 60
    boss = as_user("boss")
    page = boss.page
    # a tour of every page: no script errors, the page's key content shown
    pages = {
        "dashboard": ("/dashboard", "labeled of 300"),
        "quality": ("/quality", "ann2"),
        "issues": ("/issues", "Suspected label issues"),
        "queue": ("/admin/queue", "Start a round"),
        "users": ("/admin/users", "boss"),
        "classes": ("/admin/classes", "Rename"),
    }
    for name, (path, text) in pages.items():
        boss.goto(path)
        expect(page.locator("main")).to_contain_text(text)
        if name == "dashboard":
            expect(page.locator("main .stat .big").first).to_have_text("60")
            expect(page.locator("main")).to_contain_text("60 selected")  # the open round
        page.screenshot(path=shots / f"{name}.png", full_page=True)

    before = p.current_labels()
    n3 = sum(v == "3" for v in before.values())
    assert n3 > 0
    row3 = page.locator("#classes-table tbody tr:has(td:first-child:text-is('3'))")
    expect(row3.locator("td").nth(2)).to_have_text(str(n3))
    form = page.locator("#rename-class")
    form.locator("input[name=old]").fill("3")
    form.locator("input[name=new]").fill("three")
    with page.expect_response("**/api/classes/rename") as answer:
        form.locator("button").click()
    assert answer.value.ok and answer.value.json()["labels_changed"] == n3
    # the page reloads itself and lists the new name with the labels
    three = page.locator("#classes-table tbody tr:has(td:first-child:text-is('three'))")
    expect(three.locator("td").nth(2)).to_have_text(str(n3), timeout=5000)
    after = p.current_labels()
    assert after == {k: ("three" if v == "3" else v) for k, v in before.items()}
    assert p.classes()[3] == "three" and "3" not in p.classes()

    # the explorer and the sample page show the new name
    boss.goto("/explorer?label=three&state=labeled")
    rows = page.locator("#samples tbody tr")
    expect(rows).to_have_count(n3)
    for i in range(n3):
        expect(rows.nth(i).locator("td").nth(2)).to_have_text("three")
    sid = next(k for k, v in after.items() if v == "three")
    boss.goto(f"/samples/{sid}")
    expect(page.locator("main")).to_contain_text("Label: three")
    expect(page.locator("main table.grid").last).to_contain_text("three")
    page.screenshot(path=shots / "sample_renamed.png", full_page=True)


def test_explorer_map_point_opens_its_sample(project, as_user, shots):
    p, truth = project
    label_by_api(p, "ann2", lambda uid: truth[uid])
    boss = as_user("boss")
    page = boss.goto("/explorer")
    points = page.locator("#map svg circle.point")
    expect(points).to_have_count(300)
    drawn = page.eval_on_selector_all("#map circle", "cs => cs.map(c => Number(c.dataset.id))")
    assert len(drawn) == 300
    assert set(drawn) == set(ids_by_uid(p).values())
    expect(page.locator("#legend")).to_contain_text("unlabeled")
    page.screenshot(path=shots / "explorer.png", full_page=True)
    # a labeled point that is on top (not covered by a neighbour) where it is drawn
    labeled = set(p.current_labels())
    sid = page.evaluate(
        """labeled => {
          for (const c of document.querySelectorAll('#map circle.point')) {
            const r = c.getBoundingClientRect();
            const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
            if (hit === c && labeled.includes(Number(c.dataset.id))) return Number(c.dataset.id);
          }
          return null;
        }""",
        sorted(labeled),
    )
    assert sid is not None
    page.locator(f'#map circle.point[data-id="{sid}"]').click()
    page.wait_for_url(f"{boss.base}/samples/{sid}")
    with p.session() as s:
        uid = s.get(Sample, sid).uid
    expect(page.locator("h1")).to_have_text(uid)
    expect(page.locator("main")).to_contain_text(f"Label: {truth[uid]}")
    expect(page.locator("main")).to_contain_text("round 1, random")
    page.screenshot(path=shots / "sample.png", full_page=True)


def test_a_script_in_a_comment_is_shown_as_text(project, as_user, shots):
    p, truth = project
    ann = as_user("ann")
    page = ann.page
    expect(page.locator("#item-uid")).not_to_be_empty()
    uid = uid_shown(page)
    page.keyboard.press("c")  # focus the comment, type, leave it, label by key
    expect(page.locator("#comment")).to_be_focused()
    page.keyboard.type(XSS)
    page.keyboard.press("Escape")
    press_and_wait_next(page, key_of(truth[uid]))
    item = annotate.review_queue(p)["items"][0]
    assert (item["uid"], item["comment"]) == (uid, XSS)

    rev = as_user("rev")
    rp = rev.page
    comment = rp.locator("#review-table .comment")
    expect(comment).to_have_text(f"“{XSS}”")
    assert "<script>alert" not in rp.content()  # escaped in the HTML, not only hidden
    rp.screenshot(path=shots / "review_comment.png", full_page=True)
    rev.goto(f"/samples/{ids_by_uid(p)[uid]}")
    expect(rp.locator("main")).to_contain_text(XSS)
    assert "<script>alert" not in rp.content()
    assert ann.dialogs == [] and rev.dialogs == []  # as_user checks it again at teardown
