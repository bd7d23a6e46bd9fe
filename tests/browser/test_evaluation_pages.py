"""The dashboard in a real browser: the evaluation curve with its band, or the notice."""

import pytest

from labelwise import annotate
from labelwise.loop._evalset import NO_EVAL_NOTE, draw_eval_set
from labelwise.loop._project import select_batch, train

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'").expect


def label_all(project, truth, user="ann"):
    while (item := annotate.next_item(project, user)) is not None:
        uid = item["sample"]["uid"]
        annotate.submit(project, user, item["assignment"]["id"], truth[uid], duration=1.0)


def test_dashboard_without_an_evaluation_set_says_the_metric_is_biased(project, as_user, shots):
    p, truth = project
    label_all(p, truth)
    train(p)
    select_batch(p, strategy="margin", batch_size=20, random_state=0)
    label_all(p, truth)
    train(p)
    boss = as_user("boss")
    page = boss.goto("/dashboard")
    expect(page.locator("#metric-note")).to_have_text(NO_EVAL_NOTE)
    expect(page.locator("#curve polyline.s-thin")).to_have_count(1)  # CV, thin and secondary
    expect(page.locator("#curve polygon.band")).to_have_count(0)
    expect(page.locator("#curve polyline.s-main")).to_have_count(0)
    expect(page.locator("#baseline-note")).to_contain_text(NO_EVAL_NOTE)
    page.screenshot(path=shots / "dashboard-no-eval.png", full_page=True)


def test_dashboard_draws_the_evaluation_curve_with_its_band(project, as_user, shots):
    p, truth = project
    draw_eval_set(p, 80, seed=0)
    label_all(p, truth)  # round 1 and the evaluation set
    train(p)
    for i in range(3):
        select_batch(p, strategy="margin", batch_size=20, random_state=i, random_share=0.25)
        label_all(p, truth)
        train(p)
    boss = as_user("boss")
    page = boss.goto("/dashboard")
    expect(page.locator("#metric-note")).to_have_count(0)
    expect(page.locator("#curve polygon.band.s-main")).to_have_count(1)
    expect(page.locator("#curve polyline.s-main")).to_have_count(1)
    expect(page.locator("#curve circle.s-main")).to_have_count(4)  # one per finished round
    expect(page.locator("#curve polyline.s-thin")).to_have_count(1)
    expect(page.locator("#curve")).to_contain_text("evaluation accuracy (95% band)")
    # the active-vs-random comparison arrives after the page, and says what it is
    expect(page.locator("#baseline-note")).to_contain_text("Active vs random")
    expect(page.locator("#curve polyline.s-dash")).to_have_count(1)
    expect(page.locator("#curve")).to_contain_text("random arm only")
    # the band is the interval: its top edge is above the line, its bottom edge below
    ys = page.evaluate(
        """() => {
        const pts = (sel) => document.querySelector(sel).getAttribute('points').trim()
            .split(/\\s+/).map((p) => p.split(',').map(Number));
        const line = pts('#curve polyline.s-main'), band = pts('#curve polygon.band.s-main');
        const n = line.length;
        return line.map((p, i) => [band[i][1], p[1], band[2 * n - 1 - i][1]]);
        }"""
    )
    assert len(ys) == 4 and all(top < mid < bottom for top, mid, bottom in ys)  # SVG y: down
    expect(page.locator("main table.grid", has_text="n eval")).to_contain_text("0.9")
    page.screenshot(path=shots / "dashboard-eval.png", full_page=True)
