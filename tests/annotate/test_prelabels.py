"""Pre-labels of object projects: the round's predictions file becomes the queued boxes."""

import sys
from pathlib import Path

from sqlalchemy import select

from labelwise import annotate
from labelwise.io._samples import import_pool
from labelwise.loop._project import select_batch
from labelwise.store import Project
from labelwise.store._models import Assignment, Event, Sample

sys.path.insert(0, str(Path(__file__).parents[1] / "web"))
from boxutil import PRED, _image, make_object_project  # noqa: E402


def suggestions(p) -> dict:
    annotate.enqueue(p)
    with p.session() as s:
        rows = s.execute(
            select(Sample.uid, Assignment.suggestion).join(
                Sample, Sample.id == Assignment.sample_id
            )
        ).all()
    return dict(rows)


def test_coco_results_boxes_over_the_threshold_become_the_suggestion(tmp_path):
    p = make_object_project(tmp_path / "proj", users={})
    got = suggestions(p)
    assert got["big.png"] is None  # no predicted box
    hint = got["pre.png"]
    assert hint["source"] == "proj_preds.json"
    # the most confident first; the bird at 0.1 is under MIN_SCORE
    assert hint["objects"] == [PRED[0], PRED[1]]
    p.close()


def test_yolo_boxes_are_scaled_to_image_pixels(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    _image(images / "a.png", (1200, 800), 0)
    preds = tmp_path / "preds"
    preds.mkdir()
    (preds / "data.yaml").write_text("names: [cat, dog, bird]\n")
    # class 1 = dog; centre (0.5, 0.5), size (0.25, 0.5), conf 0.8 -> in a 1200x800 image
    # x = 600 - 150, y = 400 - 200, w = 300, h = 400; the 0.2 box is under the threshold
    (preds / "a.txt").write_text("1 0.5 0.5 0.25 0.5 0.8\n0 0.1 0.1 0.1 0.1 0.2\n")
    p = Project.init(tmp_path / "proj", classes=["cat", "dog", "bird"], task="detection")
    import_pool(p, images)
    select_batch(p, strategy="detection_min_confidence", batch_size=1, predictions=preds)
    hint = suggestions(p)["a.png"]
    assert hint["objects"] == [{"class": "dog", "bbox": [450, 200, 300, 400], "score": 0.8}]
    p.close()


def test_a_file_changed_since_the_round_gives_no_prelabels_and_says_why(tmp_path):
    p = make_object_project(tmp_path / "proj", users={})
    f = tmp_path / "proj_preds.json"
    f.write_text(f.read_text().replace("0.9", "0.95"))
    assert suggestions(p)["pre.png"] is None
    with p.session() as s:
        ev = s.scalars(select(Event).where(Event.kind == "queue.prelabels_skipped")).one()
    assert ev.payload["why"] == "changed since the round"
    p.close()


def test_a_rejected_object_label_returns_with_its_objects_to_fix(tmp_path):
    p = make_object_project(tmp_path / "proj", users={})
    annotate.add_user(p, "ann", "ann-pass-1", "annotator")
    item = annotate.next_item(p, "ann")
    objects = [{"bbox": [1, 2, 3, 4], "class": "cat"}]
    out = annotate.submit(
        p, "ann", item["assignment"]["id"], {"width": 2400, "height": 1600, "objects": objects}
    )
    annotate.decide(p, "ann", out["label_id"], "reject", "missed the dog")
    again = annotate.next_item(p, "ann")
    assert again["assignment"]["kind"] == "relabel"
    assert again["assignment"]["note"] == "missed the dog"
    assert again["suggestion"] == {"objects": objects, "source": "rejected"}
    p.close()
