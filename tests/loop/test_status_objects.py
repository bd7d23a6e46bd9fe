"""status of a detection project counts objects per class (its labels are JSON objects)."""

import json

from PIL import Image

from labelwise.io._labels import import_labels
from labelwise.io._samples import import_pool
from labelwise.loop._project import status
from labelwise.store import Project


def test_status_counts_objects_per_class(tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        Image.new("RGB", (10, 10)).save(tmp_path / name)
    p = Project.init(tmp_path / "p", task="detection", classes=["cat", "dog"])
    import_pool(p, tmp_path)
    boxes = {"a.png": ["cat", "cat", "dog"], "b.png": ["dog"], "c.png": []}
    lines = [
        {"id": uid, "label": json.dumps({"width": 10, "height": 10, "objects": [
            {"class": c, "bbox": [1, 1, 2, 2]} for c in classes]})}
        for uid, classes in boxes.items()
    ]  # fmt: skip
    (tmp_path / "l.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    import_labels(p, tmp_path / "l.jsonl")
    st = status(p)
    assert st["labels_per_class"] == {"cat": 2, "dog": 2}
    assert (st["n_labeled"], st["n_retired_labels"]) == (3, 0)
