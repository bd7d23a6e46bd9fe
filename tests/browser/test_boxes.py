"""Boxes and polygons in a real browser: draw, resize, delete, pre-labels, polygons, review.

The label page's image (2400x1600) is larger than its stage, so it is shown at a zoom
well under 1. Every drag is made in screen pixels; the test maps those to image
pixels itself, from the image element's rectangle on screen and the image's known
size, and compares with what reached the database.
"""

import shutil

import pytest
from sqlalchemy import select

from labelwise import annotate
from labelwise.io._objects import loads_label
from labelwise.store._models import Assignment, Label, Sample

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'").expect

from boxutil import PRED, SIZES, make_object_project  # noqa: E402  (tests/web, see conftest)


@pytest.fixture(scope="session")
def _object_templates(tmp_path_factory):
    """One detection and one segmentation project per session; tests get copies."""
    out = {}
    for task in ("detection", "segmentation"):
        path = tmp_path_factory.mktemp(task) / "proj"
        make_object_project(path, task=task).close()
        out[task] = path
    return out


@pytest.fixture()
def project(_object_templates, tmp_path, request):
    """(project, None): a fresh copy; ``indirect`` parametrisation picks the task."""
    from labelwise.store import Project

    task = getattr(request, "param", "detection")
    src = _object_templates[task]
    dst = tmp_path / "proj"
    shutil.copytree(src, dst)
    # the predictions file is found beside the project folder, as its round recorded it
    for extra in src.parent.iterdir():
        if extra != src:
            target = tmp_path / extra.name
            (shutil.copytree if extra.is_dir() else shutil.copy)(extra, target)
    p = Project.open(dst)
    yield p, None
    p.close()


def image_rect(page) -> list[float]:
    return page.evaluate(
        "() => { const r = document.querySelector('#obj-stage img').getBoundingClientRect();"
        " return [r.left, r.top, r.width, r.height]; }"
    )


def to_image(rect, size, sx: float, sy: float) -> tuple[float, float]:
    """Screen pixels -> image pixels, from the image's place on screen and its size."""
    return (sx - rect[0]) * size[0] / rect[2], (sy - rect[1]) * size[1] / rect[3]


def at(rect, fx: float, fy: float) -> tuple[float, float]:
    """The screen point at fractions of the shown image (whole pixels)."""
    return round(rect[0] + fx * rect[2]), round(rect[1] + fy * rect[3])


def drag(page, a, b) -> None:
    page.mouse.move(*a)
    page.mouse.down()
    page.mouse.move(*b, steps=6)
    page.mouse.up()


def click(page, point) -> None:
    page.mouse.click(*point)


def stored_objects(p, uid: str) -> dict:
    with p.session() as s:
        value = s.scalar(
            select(Label.value)
            .join(Sample, Sample.id == Label.sample_id)
            .where(Sample.uid == uid, Label.status == "accepted")
        )
    return loads_label(value)


def box_of(a, b) -> list[float]:
    return [min(a[0], b[0]), min(a[1], b[1]), abs(b[0] - a[0]), abs(b[1] - a[1])]


def assert_close(got, want, tol: float = 1.0) -> None:
    assert len(got) == len(want) and all(
        abs(g - w) <= tol for g, w in zip(got, want, strict=True)
    ), (got, want)


def open_label_page(as_user, uid: str):
    ann = as_user("ann")
    page = ann.page
    expect(page.locator("#item-uid")).to_have_text(uid)
    w, h = SIZES[uid]
    expect(page.locator("#obj-stage")).to_have_attribute("data-width", str(w))
    expect(page.locator("#obj-stage")).to_have_attribute("data-height", str(h))
    return page


def test_draw_three_boxes_resize_one_delete_one_and_submit(project, as_user, shots):
    p, _ = project
    page = open_label_page(as_user, "big.png")
    size = SIZES["big.png"]
    scale = float(page.locator("#obj-stage").get_attribute("data-scale"))
    assert 0.2 < scale < 0.6  # the image is shown smaller than its pixels
    rect = image_rect(page)
    assert rect[2] == pytest.approx(size[0] * scale, abs=0.5)
    shapes = page.locator("#obj-stage g.obj")

    a1, b1 = at(rect, 0.05, 0.05), at(rect, 0.25, 0.30)
    a2, b2 = at(rect, 0.40, 0.10), at(rect, 0.60, 0.40)
    drag(page, a1, b1)
    drag(page, a2, b2)
    expect(shapes).to_have_count(2)
    box1 = box_of(to_image(rect, size, *a1), to_image(rect, size, *b1))
    box2 = box_of(to_image(rect, size, *a2), to_image(rect, size, *b2))

    # zoom in with the keyboard and pan with the middle button, then draw the third box
    page.keyboard.press("+")
    page.mouse.move(700, 400)
    page.mouse.down(button="middle")
    page.mouse.move(730, 340, steps=4)
    page.mouse.up(button="middle")
    assert float(page.locator("#obj-stage").get_attribute("data-scale")) == pytest.approx(
        scale * 1.25, rel=1e-3
    )
    rect = image_rect(page)
    a3, b3 = at(rect, 0.10, 0.55), at(rect, 0.35, 0.85)
    stage = page.locator("#obj-stage").bounding_box()
    for x, y in (a3, b3):  # still on the stage after the zoom and the pan
        assert stage["x"] < x < stage["x"] + stage["width"]
        assert stage["y"] < y < stage["y"] + stage["height"]
    drag(page, a3, b3)
    expect(shapes).to_have_count(3)
    box3 = box_of(to_image(rect, size, *a3), to_image(rect, size, *b3))

    # resize the second box by its bottom-right handle (select it first)
    x2, y2, w2, h2 = box2
    centre2 = (
        rect[0] + (x2 + w2 / 2) * rect[2] / size[0],
        rect[1] + (y2 + h2 / 2) * rect[3] / size[1],
    )
    click(page, centre2)
    expect(page.locator("#obj-stage")).to_have_attribute("data-selected", "1")
    corner = (rect[0] + (x2 + w2) * rect[2] / size[0], rect[1] + (y2 + h2) * rect[3] / size[1])
    new_corner = at(rect, 0.70, 0.50)
    drag(page, corner, new_corner)
    end = to_image(rect, size, *new_corner)
    box2 = [x2, y2, end[0] - x2, end[1] - y2]

    # delete the first box: select it with a click, then the Delete key
    x1, y1, w1, h1 = box1
    click(
        page,
        (rect[0] + (x1 + w1 / 2) * rect[2] / size[0], rect[1] + (y1 + h1 / 2) * rect[3] / size[1]),
    )
    expect(page.locator("#obj-stage")).to_have_attribute("data-selected", "0")
    page.keyboard.press("Delete")
    expect(shapes).to_have_count(2)
    # the third box (now the second) gets class 2 = "dog": Tab from the first, then the key
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator("#obj-stage")).to_have_attribute("data-selected", "1")
    page.keyboard.press("2")
    expect(shapes.nth(1)).to_have_attribute("data-class", "dog")
    page.screenshot(path=shots / "label_boxes.png")

    page.keyboard.press("Enter")
    expect(page.locator("#item-uid")).to_have_text("pre.png")
    doc = stored_objects(p, "big.png")
    assert (doc["width"], doc["height"]) == size
    assert [o["class"] for o in doc["objects"]] == ["cat", "dog"]
    assert_close(doc["objects"][0]["bbox"], box2)
    assert_close(doc["objects"][1]["bbox"], box3)


def test_accept_a_model_box_and_fix_the_class_of_another(project, as_user, shots):
    p, _ = project
    page = open_label_page(as_user, "big.png")
    page.keyboard.press("s")  # skip to the image with the model's boxes
    expect(page.locator("#item-uid")).to_have_text("pre.png")
    expect(page.locator("#obj-stage")).to_have_attribute("data-width", "1200")
    pre = page.locator("#obj-stage g.obj.pre")
    expect(pre).to_have_count(2)  # the 0.1 bird is under the threshold
    expect(page.locator("#suggestion")).to_contain_text("2 model boxes")
    page.screenshot(path=shots / "label_prelabels.png")

    page.keyboard.press("Tab")  # the most confident first: the cat
    page.keyboard.press("a")
    expect(page.locator("#obj-stage g.obj").nth(0)).to_have_attribute("data-pre", "0")
    # a click selects the dog's box; key 3 makes it a bird, which accepts it as fixed
    rect = image_rect(page)
    x, y, w, h = PRED[1]["bbox"]
    click(page, (rect[0] + (x + w / 2) * rect[2] / 1200, rect[1] + (y + h / 2) * rect[3] / 800))
    page.keyboard.press("3")
    expect(pre).to_have_count(0)
    page.keyboard.press("Enter")
    expect(page.locator("#content")).to_contain_text("Nothing left")
    doc = stored_objects(p, "pre.png")
    assert doc["objects"] == [
        {"class": "cat", "bbox": PRED[0]["bbox"]},
        {"class": "bird", "bbox": PRED[1]["bbox"]},
    ]


@pytest.mark.parametrize("project", ["segmentation"], indirect=True)
def test_a_polygon_closed_with_enter_is_stored_with_its_points(project, as_user, shots):
    p, _ = project
    page = open_label_page(as_user, "big.png")
    size = SIZES["big.png"]
    rect = image_rect(page)
    clicks = [at(rect, 0.2, 0.2), at(rect, 0.5, 0.15), at(rect, 0.6, 0.5), at(rect, 0.25, 0.6)]
    for pt in clicks:
        click(page, pt)
    expect(page.locator("#obj-stage")).to_have_attribute("data-draft", "4")
    page.keyboard.press("Enter")  # closes the polygon
    expect(page.locator("#obj-stage")).to_have_attribute("data-draft", "0")
    expect(page.locator("#obj-stage g.obj polygon")).to_have_count(1)
    # Escape drops a polygon being drawn
    click(page, at(rect, 0.8, 0.8))
    click(page, at(rect, 0.9, 0.8))
    page.keyboard.press("Escape")
    expect(page.locator("#obj-stage")).to_have_attribute("data-draft", "0")
    page.screenshot(path=shots / "label_polygon.png")
    page.keyboard.press("Enter")  # submits
    expect(page.locator("#item-uid")).to_have_text("pre.png")
    (obj,) = stored_objects(p, "big.png")["objects"]
    want = [v for pt in clicks for v in to_image(rect, size, *pt)]
    assert obj["class"] == "cat"
    assert_close(obj["segmentation"][0], want)
    xs, ys = want[0::2], want[1::2]
    assert_close(obj["bbox"], [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)])


def test_reviewer_sees_the_boxes_and_a_rejection_returns_them_with_the_note(
    project, as_user, shots
):
    p, _ = project
    item = annotate.next_item(p, "ann")
    objects = [
        {"class": "cat", "bbox": [100, 200, 300, 400]},
        {"class": "bird", "bbox": [1500, 900, 200, 100]},
    ]
    annotate.submit(
        p, "ann", item["assignment"]["id"], {"width": 2400, "height": 1600, "objects": objects}
    )
    rev = as_user("rev")
    page = rev.goto("/review")
    row = page.locator("#review-table tbody tr").first
    shapes = row.locator(".review-objects g.obj")
    expect(shapes).to_have_count(2)
    expect(shapes.nth(0)).to_have_attribute("data-class", "cat")
    expect(shapes.nth(0)).to_have_attribute("data-bbox", "100,200,300,400")
    expect(shapes.nth(1)).to_have_attribute("data-bbox", "1500,900,200,100")
    expect(row.locator(".review-objects .handle")).to_have_count(0)  # read-only
    expect(row).to_contain_text("1 bird, 1 cat")
    page.screenshot(path=shots / "review_boxes.png")
    row.locator(".review-note").fill("the bird is a cat")
    with page.expect_response("**/api/review/*") as answer:
        row.locator("button.reject").click()
    assert answer.value.ok
    with p.session() as s:
        back = s.scalars(select(Assignment).where(Assignment.kind == "relabel")).one()
    assert back.note == "the bird is a cat" and back.annotator == "ann"

    page = open_label_page(as_user, "big.png")
    expect(page.locator("#note")).to_have_text("Reviewer's note: the bird is a cat")
    pre = page.locator("#obj-stage g.obj.pre")
    expect(pre).to_have_count(2)  # the rejected boxes, to fix rather than draw again
    expect(pre.nth(1)).to_have_attribute("data-bbox", "1500,900,200,100")
