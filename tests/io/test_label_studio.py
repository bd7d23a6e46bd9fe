"""Label Studio JSON: export with predictions, import of annotations, both task kinds."""

import json

import pytest
from _annotation_data import NAMES, read_yolo_txts, write_png, write_yolo

from labelwise.errors import DataFileError
from labelwise.io._annotations import import_annotated
from labelwise.io._labels import export_labels, import_labels
from labelwise.io._samples import import_pool
from labelwise.store import Project


def test_yolo_to_label_studio_to_yolo_keeps_boxes_polygons_and_classes(tmp_path):
    ds = write_yolo(tmp_path / "ds")
    p = Project.init(tmp_path / "p", task="segmentation")
    import_annotated(p, ds, "yolo")
    assert export_labels(p, tmp_path / "ls.json", fmt="label-studio") == 4
    tasks = json.loads((tmp_path / "ls.json").read_text())
    assert len(tasks) == 5  # every sample is a task; d.png has no prediction
    by_id = {t["data"]["labelwise_id"]: t for t in tasks}
    assert "predictions" not in by_id["val/d.png"]
    box = by_id["train/a.png"]["predictions"][0]["result"][0]
    # worked by hand: x 24 of 64 px = 37.5 %, y 12 of 48 = 25 %, 16 px = 25 %, 24 px = 50 %
    assert box["type"] == "rectanglelabels" and box["value"]["rectanglelabels"] == ["cat"]
    assert [box["value"][k] for k in ("x", "y", "width", "height")] == pytest.approx(
        [37.5, 25, 25, 50]
    )
    q = Project.init(tmp_path / "q", task="segmentation")
    r = import_annotated(q, tmp_path / "ls.json", "label-studio")
    assert (r.n_samples, r.n_labels) == (5, 4)
    export_labels(q, tmp_path / "again", fmt="yolo")
    a, b = read_yolo_txts(ds, NAMES), read_yolo_txts(tmp_path / "again", NAMES)
    assert sorted(a) == sorted(b)
    for uid in a:
        assert [c for c, _ in a[uid]] == [c for c, _ in b[uid]]
        for (_, x), (_, y) in zip(a[uid], b[uid], strict=True):
            assert x == pytest.approx(y, abs=1e-6)


def _task(tid, image, annotations=(), predictions=()):
    return {"id": tid, "data": {"image": image}, "annotations": list(annotations),
            "predictions": list(predictions)}  # fmt: skip


def _rect(x, y, w, h, label, rotation=0):
    return {"id": f"r{x}", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
            "original_width": 200, "original_height": 100,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation,
                      "rectanglelabels": [label]}}  # fmt: skip


def test_annotations_made_in_label_studio_come_back_as_labels(tmp_path):
    write_png(tmp_path / "img" / "a.png", (200, 100))
    write_png(tmp_path / "img" / "b.png", (200, 100))
    p = Project.init(tmp_path / "p", task="detection", classes=["car", "bus"])
    import_pool(p, tmp_path / "img")  # ids a.png, b.png
    tasks = [
        _task(1, "/data/local-files/?d=img/a.png", annotations=[
            {"id": 10, "result": [_rect(10, 20, 5, 50, "car")]},  # older
            {"id": 11, "result": [_rect(50, 10, 25, 40, "bus")]},
            {"id": 12, "was_cancelled": True, "result": []},  # skipped: not a label
        ]),
        # not annotated, and a prediction of another model: not a label
        _task(2, "/data/local-files/?d=img/b.png",
              predictions=[{"model_version": "yolo-v8", "result": [_rect(1, 1, 2, 2, "car")]}]),
    ]  # fmt: skip
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    r = import_labels(p, tmp_path / "export.json", fmt="label-studio", annotator="ann")
    assert (r.new, r.changed, r.unchanged) == (1, 0, 0)
    (value,) = p.current_labels().values()
    # 50 % of 200 = 100, 10 % of 100 = 10, 25 % of 200 = 50, 40 % of 100 = 40
    assert json.loads(value) == {
        "width": 200, "height": 100, "objects": [{"class": "bus", "bbox": [100, 10, 50, 40]}]
    }  # fmt: skip
    tasks[0]["annotations"][1]["result"][0]["value"]["rotation"] = 30
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    with pytest.raises(DataFileError, match=r"task 1 \('img/a.png'\), annotation 11, region r50"):
        import_labels(p, tmp_path / "export.json", fmt="label-studio")


def test_text_classification_round_trips_through_choices(tmp_path):
    (tmp_path / "t.csv").write_text("id,text,y\nt1,hello,spam\nt2,hi there,ham\nt3,what,\n")
    p = Project.init(tmp_path / "p", classes=["spam", "ham"])
    import_pool(p, tmp_path / "t.csv", id_column="id", text_column="text", target="y")
    export_labels(p, tmp_path / "ls.json", fmt="label-studio")
    tasks = json.loads((tmp_path / "ls.json").read_text())
    assert [t["data"] for t in tasks] == [
        {"text": "hello", "labelwise_id": "t1"},
        {"text": "hi there", "labelwise_id": "t2"},
        {"text": "what", "labelwise_id": "t3"},
    ]
    assert tasks[0]["predictions"][0]["result"][0]["value"] == {"choices": ["spam"]}
    # an annotator labels t3 in Label Studio and fixes t1
    tasks[2]["annotations"] = [{"result": [{"type": "choices", "value": {"choices": ["ham"]}}]}]
    tasks[0]["annotations"] = [{"result": [{"type": "choices", "value": {"choices": ["ham"]}}]}]
    (tmp_path / "back.json").write_text(json.dumps(tasks))
    r = import_labels(p, tmp_path / "back.json", fmt="label-studio")
    assert (r.new, r.changed, r.unchanged) == (1, 1, 1)
    q = Project.init(tmp_path / "q", classes=["spam", "ham"])
    r = import_annotated(q, tmp_path / "back.json", "label-studio")
    assert (r.kind, r.n_samples, r.n_labels) == ("text", 3, 3)
    _, uids = q.sample_ids()
    labels = q.current_labels()
    assert {u: labels[i] for i, u in zip(q.sample_ids()[0], uids, strict=True)} == {
        "t1": "ham", "t2": "ham", "t3": "ham"
    }  # fmt: skip
