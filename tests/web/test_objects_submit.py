"""Submitting an image's objects (detection, segmentation) through the API: checked, 422.

Each bad submit answers 422 naming the object and key, and stores nothing: the
assignment stays open and a good submit of it afterwards succeeds.
"""

import shutil

import pytest
from boxutil import PASSWORDS, make_object_project
from sqlalchemy import func, select, update
from webutil import login

from labelwise.store import Project
from labelwise.store._models import Assignment, Label, Sample


@pytest.fixture(scope="module")
def _template(tmp_path_factory):
    path = tmp_path_factory.mktemp("objects") / "proj"
    make_object_project(path).close()
    return path


@pytest.fixture()
def client(_template, tmp_path):
    """(project, ann's client, ann's first item): a fresh copy of the detection project."""
    from labelwise.web import create_app

    for extra in _template.parent.iterdir():
        (shutil.copytree if extra.is_dir() else shutil.copy)(extra, tmp_path / extra.name)
    p = Project.open(tmp_path / "proj")
    ann = login(create_app(p), "ann", PASSWORDS["ann"])
    item = ann.get("/api/next").json()
    assert item["sample"]["uid"] == "big.png" and item["task"] == "detection"
    yield p, ann, item["assignment"]["id"]
    p.close()


def n_labels(p) -> int:
    with p.session() as s:
        return s.scalar(select(func.count()).select_from(Label))


def doc(*objects, width=2400, height=1600) -> dict:
    return {"width": width, "height": height, "objects": list(objects)}


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            {"class": "cat", "bbox": [10, 10, -5, 4]},
            "object 2: bbox [10, 10, -5, 4] has width or height <= 0",
        ),
        (
            {"class": "cat", "bbox": [2390, 10, 20, 4]},
            "object 2: bbox point (2410, 14) lies outside the 2400x1600 image",
        ),
        (
            {"class": "zebra", "bbox": [1, 1, 2, 2]},
            "object 2: class 'zebra' is not a class of the project",
        ),
        (
            {"class": "cat", "bbox": [1, 1, 2, 2], "score": 0.9},
            "object 2: unknown key(s) ['score']",
        ),
        (
            {"class": "cat", "segmentation": [[1, 1, 5, 1]]},
            "object 2: segmentation polygon 1 has 4 numbers",
        ),
    ],
)
def test_bad_objects_answer_422_and_store_nothing(client, obj, message):
    p, ann, aid = client
    good = {"class": "dog", "bbox": [5, 5, 10, 10]}
    r = ann.post("/api/submit", json={"assignment_id": aid, "objects": doc(good, obj)})
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("objects, ") and message in r.json()["detail"]
    assert n_labels(p) == 0
    with p.session() as s:
        assert s.get(Assignment, aid).status == "assigned"


def test_good_objects_are_stored_as_canonical_text(client):
    p, ann, aid = client
    objects = [
        {"class": "cat", "bbox": [10.0, 20, 30.5, 40]},
        {
            "class": "dog",
            "bbox": [100, 50, 20, 20],
            "segmentation": [[100, 50, 120, 50, 120.0, 70]],
        },
    ]
    r = ann.post("/api/submit", json={"assignment_id": aid, "objects": doc(*objects)})
    assert r.status_code == 200, r.text
    with p.session() as s:
        value = s.scalar(select(Label.value).where(Label.id == r.json()["label_id"]))
    # written by hand: sorted keys, no spaces, integral floats as integers
    assert value == (
        '{"height":1600,"objects":[{"bbox":[10,20,30.5,40],"class":"cat"},'
        '{"bbox":[100,50,20,20],"class":"dog","segmentation":[[100,50,120,50,120,70]]}],'
        '"width":2400}'
    )


def test_an_image_without_objects_is_a_negative(client):
    p, ann, aid = client
    r = ann.post("/api/submit", json={"assignment_id": aid, "objects": doc()})
    assert r.status_code == 200, r.text
    with p.session() as s:
        assert s.scalar(select(Label.value)) == '{"height":1600,"objects":[],"width":2400}'


def test_a_class_name_label_or_both_kinds_are_refused(client):
    p, ann, aid = client
    r = ann.post("/api/submit", json={"assignment_id": aid, "label": "cat"})
    assert r.status_code == 400 and "give the image's objects" in r.json()["detail"]
    r = ann.post("/api/submit", json={"assignment_id": aid, "label": "cat", "objects": doc()})
    assert r.status_code == 400 and "one of the two" in r.json()["detail"]
    r = ann.post("/api/submit", json={"assignment_id": aid})
    assert r.status_code == 400 and "one of the two" in r.json()["detail"]
    assert n_labels(p) == 0


def test_objects_drawn_on_another_image_size_are_refused(client):
    p, ann, aid = client
    with p.session() as s:  # what a COCO / YOLO import records about the image
        s.execute(
            update(Sample)
            .where(Sample.uid == "big.png")
            .values(meta={"width": 2400, "height": 1600})
        )
        s.commit()
    r = ann.post("/api/submit", json={"assignment_id": aid, "objects": doc(width=1200, height=800)})
    assert r.status_code == 422
    assert (
        "the image is 2400x1600 pixels, but the objects were drawn on 1200x800"
        in r.json()["detail"]
    )
    assert n_labels(p) == 0
