"""The dashboard's learning curve in a real browser: a legend that covers nothing drawn,
and axis ticks at round numbers (5 to 8 of them).

The page's own ``draw()`` is given fixed curves, so the test checks the drawing whatever
the project's rounds hold.
"""

import pytest

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'").expect

NICE = {1, 2, 2.5, 5}


def is_round_step(step: float) -> bool:
    """1, 2, 2.5 or 5 times a power of ten."""
    import math

    k = math.floor(math.log10(step))
    return any(abs(step - m * 10**k) < 1e-9 * 10**k for m in NICE | {10})


def overlaps(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


# the rounds' (labels, evaluation metric with its interval, CV metric) and the random
# arm's curve: the shape the dashboard's draw() takes, with x ranges that once gave two
# ticks only
CURVES = {
    "rounds": {
        "curve": [
            {"labels": n, "metric": m, "metric_ci": [m - 0.04, m + 0.03], "cv_metric": m - 0.1}
            for n, m in [(60, 0.77), (100, 0.84), (140, 0.92)]
        ],
        "arm": [
            {"random": {"labels": n, "metric": r, "metric_ci": [r - 0.05, r + 0.05]}}
            for n, r in [(20, 0.6), (50, 0.74), (80, 0.83), (110, 0.85)]
        ],
    },
    "narrow": {"curve": [{"labels": n, "metric": 0.9 + n / 1e4} for n in (41, 43, 47)]},
    "large": {"curve": [{"labels": n, "metric": 0.5 + n / 2e5} for n in (1000, 37_000, 88_500)]},
}


@pytest.mark.parametrize("name", sorted(CURVES))
def test_learning_curve_legend_is_off_the_lines_and_x_ticks_are_round(as_user, shots, name):
    data = CURVES[name]
    page = as_user("boss").goto("/dashboard")
    page.evaluate("data => draw(data)", data)  # the page's own drawing code, fixed data
    curve = page.locator("#curve")

    xs = [r["labels"] for r in data["curve"]] + [a["random"]["labels"] for a in data.get("arm", [])]
    ticks = [float(t) for t in curve.locator("text.x-tick").all_text_contents()]
    assert 5 <= len(ticks) <= 8, ticks
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1 and is_round_step(steps.pop()), ticks
    assert ticks[0] <= min(xs) and ticks[-1] >= max(xs)  # the ticks span the data
    yticks = [float(t) for t in curve.locator("text.y-tick").all_text_contents()]
    assert 5 <= len(yticks) <= 8, yticks

    legend = curve.locator(".chart-legend")
    expect(legend).to_contain_text("evaluation accuracy (95% band)")
    box = legend.bounding_box()
    marks = curve.locator("svg.chart-svg polyline, svg.chart-svg circle, svg.chart-svg text")
    assert marks.count() >= len(xs) + len(ticks)
    hits = [i for i in range(marks.count()) if overlaps(box, marks.nth(i).bounding_box())]
    assert not hits, "the legend covers part of the chart"
    curve.screenshot(path=shots / f"dashboard_chart_{name}.png")
