"""COCO instances in and out: RLE masks, categories by name, bad files named."""

import json

import numpy as np
import pytest
from _annotation_data import write_png
from pycocotools import mask as mask_api

from labelwise.errors import DataFileError
from labelwise.io._annotations import import_annotated
from labelwise.io._labels import export_labels, import_labels
from labelwise.store import Project


def _masks():
    a = np.zeros((12, 16), np.uint8)
    a[2:7, 3:11] = 1
    a[9, 0] = 1
    b = np.zeros((12, 16), np.uint8)
    b[5:12, 10:16] = 1
    return a, b


def _coco(tmp_path, annotations, images=None, categories=None):
    write_png(tmp_path / "images" / "m.png", (16, 12))
    write_png(tmp_path / "images" / "n.png", (16, 12))
    doc = {
        "images": images
        or [
            {"id": 41, "file_name": "m.png", "width": 16, "height": 12},
            {"id": 42, "file_name": "n.png", "width": 16, "height": 12},
        ],
        # numbered unlike the project's classes: matched by name
        "categories": categories or [{"id": 7, "name": "road"}, {"id": 3, "name": "car"}],
        "annotations": annotations,
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    return path


def test_rle_masks_round_trip_and_categories_match_by_name(tmp_path):
    a, b = _masks()
    rle_a = mask_api.encode(np.asfortranarray(a))
    # uncompressed counts (column-major runs), as COCO writes for crowd regions
    flat = b.flatten(order="F")
    runs, cur, n = [], 0, 0
    for v in flat:
        if v != cur:
            runs.append(n)
            cur, n = v, 0
        n += 1
    runs.append(n)
    anns = [
        {"id": 1, "image_id": 41, "category_id": 3, "bbox": [3, 2, 8, 5],
         "segmentation": {"size": [12, 16], "counts": rle_a["counts"].decode()}},
        {"id": 2, "image_id": 41, "category_id": 7, "iscrowd": 1,
         "segmentation": {"size": [12, 16], "counts": runs}},
        {"id": 3, "image_id": 42, "category_id": 3, "bbox": [1, 1, 2, 3]},
    ]  # fmt: skip
    p = Project.init(tmp_path / "p", task="segmentation", classes=["car", "road"])
    r = import_annotated(p, _coco(tmp_path, anns), "coco")
    assert (r.n_samples, r.n_labels) == (2, 2)
    export_labels(p, tmp_path / "out.json", fmt="coco")
    out = json.loads((tmp_path / "out.json").read_text())
    assert [im["id"] for im in out["images"]] == [41, 42]  # the file's image ids kept
    names = {c["id"]: c["name"] for c in out["categories"]}
    got = out["annotations"]
    assert [names[x["category_id"]] for x in got] == ["car", "road", "car"]
    for x, want in zip(got[:2], (a, b), strict=True):
        seg = dict(x["segmentation"], counts=x["segmentation"]["counts"].encode())
        np.testing.assert_array_equal(mask_api.decode(seg), want)
        assert x["area"] == want.sum()
    assert got[1]["iscrowd"] == 1 and got[0]["iscrowd"] == 0
    # a mask without a bbox gets pycocotools' box of the mask: rows 5-11, columns 10-15
    assert got[1]["bbox"] == [10, 5, 6, 7]
    assert got[2] == {"id": 3, "image_id": 42, "category_id": 1, "bbox": [1, 1, 2, 3],
                      "area": 6.0, "iscrowd": 0}  # fmt: skip
    # into a fresh project and out again: the same file
    q = Project.init(tmp_path / "q", task="segmentation")
    (tmp_path / "images" / "out.json").write_text((tmp_path / "out.json").read_text())
    import_annotated(q, tmp_path / "images" / "out.json", "coco")
    export_labels(q, tmp_path / "again.json", fmt="coco")
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["images"] == out["images"] and again["annotations"] == out["annotations"]


@pytest.mark.parametrize(
    ("ann", "message"),
    [
        (
            {"bbox": [10, 2, 9, 5]},
            r"annotation 5 \(image 'm.png'\): bbox point \(19, 7\) lies outside",
        ),
        ({"bbox": [1, 2, 3]}, r"annotation 5 \(image 'm.png'\): bbox must be \[x, y, w, h\]"),
        ({"bbox": [1, 2, 3, 4], "category_id": 9}, r"annotation 5: category_id 9 is not in"),
        ({"bbox": [1, 2, 3, 4], "image_id": 1}, r"annotation 5: image_id 1 is not in 'images'"),
        ({"segmentation": [[1, 1, 2, 2]]}, r"annotation 5 .*segmentation polygon 1 has 4 numbers"),
        (
            {"segmentation": {"size": [12, 16], "counts": "0"}},
            r"annotation 5 .*not a valid COCO RLE",
        ),
        (
            {"segmentation": {"size": [16, 12], "counts": "0"}},
            r"annotation 5 .*must be \[height, width\]",
        ),
        ({"bbox": [1, 2, 3, float("nan")]}, r"annotation 5 .*bbox holds nan"),
        ({"bbox": [1, 2, 3, 4], "iscrowd": 2}, r"annotation 5 .*iscrowd must be 0 or 1"),
    ],
)
def test_a_bad_annotation_is_named_and_nothing_is_stored(tmp_path, ann, message):
    good = {"id": 1, "image_id": 42, "category_id": 3, "bbox": [0, 0, 4, 4]}
    bad = {"id": 5, "image_id": 41, "category_id": 3, **ann}
    p = Project.init(tmp_path / "p", task="segmentation")
    with pytest.raises(DataFileError, match=message):
        import_annotated(p, _coco(tmp_path, [good, bad]), "coco")
    assert len(p.sample_ids()[0]) == 0 and p.classes() == []


def test_image_size_must_match_the_file_and_the_file_must_exist(tmp_path):
    p = Project.init(tmp_path / "p", task="detection")
    images = [{"id": 1, "file_name": "m.png", "width": 20, "height": 12}]
    with pytest.raises(DataFileError, match=r"image 'm.png': the file says 20x12 but"):
        import_annotated(p, _coco(tmp_path, [], images=images), "coco")
    images = [{"id": 1, "file_name": "gone.png", "width": 16, "height": 12}]
    with pytest.raises(DataFileError, match=r"image 'gone.png': the image file 'gone.png' is not"):
        import_annotated(p, _coco(tmp_path, [], images=images), "coco")


def test_labels_import_of_coco_is_atomic_and_keyed_on_file_names(tmp_path):
    p = Project.init(tmp_path / "p", task="detection", classes=["car", "road"])
    path = _coco(tmp_path, [{"id": 1, "image_id": 41, "category_id": 3, "bbox": [1, 1, 2, 2]}])
    import_annotated(p, path, "coco")
    before = p.current_labels()
    anns = [
        {"id": 1, "image_id": 41, "category_id": 7, "bbox": [1, 1, 3, 3]},
        {"id": 2, "image_id": 42, "category_id": 3, "bbox": [1, 1, 30, 3]},  # too wide
    ]
    with pytest.raises(DataFileError, match=r"annotation 2 \(image 'n.png'\): bbox"):
        import_labels(p, _coco(tmp_path, anns), fmt="coco")
    assert p.current_labels() == before
    anns[1]["bbox"] = [1, 1, 3, 3]
    r = import_labels(p, _coco(tmp_path, anns), fmt="coco")
    assert (r.new, r.changed, r.unchanged) == (0, 2, 0)
    labels = {json.loads(v)["objects"][0]["class"] for v in p.current_labels().values()}
    assert labels == {"road", "car"}
