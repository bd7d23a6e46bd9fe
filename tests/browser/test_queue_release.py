"""The queue page in a real browser: what each user holds, and the Release button."""

import pytest
from sqlalchemy import func, select

from labelwise import annotate
from labelwise.store._models import Assignment

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'").expect


def test_release_button_hands_a_users_items_back(project, as_user, shots):
    p, _ = project
    annotate.assign(p, ["ann"], n=7)
    boss = as_user("boss")
    page = boss.goto("/admin/queue")
    row = page.locator("#holders tr[data-name='ann']")
    expect(row.locator("td.held")).to_have_text("7")
    expect(page.locator("#holders tr[data-name='ann2'] button.release-user")).to_be_disabled()
    page.screenshot(path=shots / "queue_holders.png", full_page=True)
    with page.expect_response("**/api/queue/release") as answer:
        row.locator("button.release-user").click()
    assert answer.value.ok and answer.value.json() == {"annotator": "ann", "released": 7}
    # the page reloads itself and shows nothing held any more
    expect(page.locator("#holders tr[data-name='ann'] td.held")).to_have_text("0", timeout=5000)
    with p.session() as s:
        held = s.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.annotator == "ann", Assignment.status == "assigned")
        )
    assert held == 0
