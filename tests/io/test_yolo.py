"""YOLO datasets in and out, and the YOLO -> COCO -> YOLO round trip."""

import json

import pytest
from _annotation_data import NAMES, read_yolo_txts, write_png, write_yolo

from labelwise.errors import DataFileError, InvalidInputError
from labelwise.io._annotations import import_annotated
from labelwise.io._labels import export_labels, import_labels
from labelwise.store import Project


def _same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for uid in a:
        assert [c for c, _ in a[uid]] == [c for c, _ in b[uid]], uid
        for (_, x), (_, y) in zip(a[uid], b[uid], strict=True):
            assert x == pytest.approx(y, abs=1e-6), uid


def test_yolo_to_coco_to_yolo_keeps_every_box_polygon_and_class(tmp_path):
    ds = write_yolo(tmp_path / "ds")
    p = Project.init(tmp_path / "p", task="segmentation")
    r = import_annotated(p, ds, "yolo")
    # 5 images; d.png has no label file (not labeled), e.png an empty one (no object)
    assert (r.n_samples, r.n_labels) == (5, 4)
    assert p.classes() == ["cat", "dog"]
    export_labels(p, ds / "coco.json", fmt="coco")
    coco = json.loads((ds / "coco.json").read_text())
    by_name = {im["file_name"]: im for im in coco["images"]}
    assert sorted(by_name) == ["train/a.png", "train/b.png", "val/c.png", "val/e.png"]
    cats = {c["id"]: c["name"] for c in coco["categories"]}
    a = [x for x in coco["annotations"] if x["image_id"] == by_name["train/a.png"]["id"]]
    # worked by hand: cx .5, cy .5, w .25, h .5 of 64x48 -> x 24, y 12, w 16, h 24
    assert cats[a[0]["category_id"]] == "cat"
    assert a[0]["bbox"] == pytest.approx([24, 12, 16, 24])
    # polygon .1 .1 .3 .1 .3 .4 .1 .4 -> pixels 6.4 4.8 19.2 4.8 ...; box = its extent
    assert a[1]["segmentation"][0] == pytest.approx([6.4, 4.8, 19.2, 4.8, 19.2, 19.2, 6.4, 19.2])
    assert a[1]["bbox"] == pytest.approx([6.4, 4.8, 12.8, 14.4])
    assert not [x for x in coco["annotations"] if x["image_id"] == by_name["val/e.png"]["id"]]

    p2 = Project.init(tmp_path / "p2", task="segmentation")
    r2 = import_annotated(p2, ds / "coco.json", "coco")
    assert (r2.n_samples, r2.n_labels) == (4, 4)
    export_labels(p2, tmp_path / "again", fmt="yolo")
    assert "0: cat" in (tmp_path / "again" / "data.yaml").read_text()
    _same(read_yolo_txts(tmp_path / "again", NAMES), read_yolo_txts(ds, NAMES))
    # the exported folder is a YOLO dataset again: same ids, same stored labels
    p3 = Project.init(tmp_path / "p3", task="segmentation")
    import_annotated(p3, tmp_path / "again", "yolo")
    assert sorted(p3.sample_ids()[1]) == sorted(by_name)


def test_yolo_labels_import_needs_known_samples_and_is_idempotent(tmp_path):
    ds = write_yolo(tmp_path / "ds")
    p = Project.init(tmp_path / "p", task="detection", classes=["cat", "dog"])
    with pytest.raises(DataFileError, match="no sample with id"):
        import_labels(p, ds, fmt="yolo")
    import_annotated(p, ds, "yolo")
    r = import_labels(p, ds / "data.yaml", fmt="yolo")
    assert (r.new, r.changed, r.unchanged) == (0, 0, 4)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0.5 0.5 0.2 0.2 0.9", r"a\.txt, line 2: 5 numbers after the class"),
        ("7 0.5 0.5 0.2 0.2", r"a\.txt, line 2: class 7 is not in data\.yaml's names"),
        ("1 0.5 0.5 1.2 0.2", r"a\.txt, line 2: coordinates outside \[0, 1\]"),
        ("1 0.5 0.5 0 0.2", r"a\.txt, line 2: bbox .* width or height <= 0"),
        ("x 0.5 0.5 0.2 0.2", r"a\.txt, line 2: not 'class cx cy w h'"),
    ],
)
def test_a_bad_yolo_line_is_named_and_nothing_is_stored(tmp_path, line, message):
    images = {"a.png": ((32, 32), ["0 0.5 0.5 0.5 0.5", line]), "b.png": ((8, 8), [])}
    ds = write_yolo(tmp_path / "ds", images=images)
    p = Project.init(tmp_path / "p", task="detection")
    with pytest.raises(DataFileError, match=message):
        import_annotated(p, ds, "yolo")
    assert len(p.sample_ids()[0]) == 0 and p.classes() == []


def test_yolo_names_must_be_project_classes_and_task_must_hold_objects(tmp_path):
    ds = write_yolo(tmp_path / "ds")
    p = Project.init(tmp_path / "p", task="detection", classes=["cat", "bird"])
    with pytest.raises(DataFileError, match=r"names \['dog'\] are not classes"):
        import_annotated(p, ds, "yolo")
    c = Project.init(tmp_path / "c", classes=["cat", "dog"])
    with pytest.raises(InvalidInputError, match="--task detection"):
        import_annotated(c, ds, "yolo")


def test_yolo_export_refuses_a_mask_by_sample_and_object_and_writes_nothing(tmp_path):
    p = Project.init(tmp_path / "p", task="segmentation", classes=["cat"])
    write_png(tmp_path / "imgs" / "m.png", (4, 4))
    coco = {
        "images": [{"id": 1, "file_name": "m.png", "width": 4, "height": 4}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "segmentation": {"size": [4, 4], "counts": [0, 2, 2, 2, 10]},
            },
        ],
    }
    (tmp_path / "imgs" / "c.json").write_text(json.dumps(coco))
    import_annotated(p, tmp_path / "imgs" / "c.json", "coco")
    with pytest.raises(InvalidInputError, match=r"sample 'm.png', object 2: an RLE mask"):
        export_labels(p, tmp_path / "y", fmt="yolo")
    assert not (tmp_path / "y").exists()


def test_yolo_coordinates_use_the_size_as_shown_after_exif_rotation(tmp_path):
    from PIL import Image

    (tmp_path / "ds" / "images").mkdir(parents=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to show: stored 40x20 is shown 20x40
    Image.new("RGB", (40, 20)).save(tmp_path / "ds" / "images" / "r.jpg", exif=exif)
    (tmp_path / "ds" / "labels").mkdir()
    (tmp_path / "ds" / "labels" / "r.txt").write_text("0 0.5 0.5 0.5 0.25\n")
    (tmp_path / "ds" / "data.yaml").write_text("names: [cat]\n")
    p = Project.init(tmp_path / "p", task="detection")
    import_annotated(p, tmp_path / "ds", "yolo")
    (value,) = p.current_labels().values()
    # shown 20 wide, 40 high: w .5 -> 10 px, h .25 -> 10 px, centred at (10, 20)
    assert json.loads(value) == {
        "width": 20, "height": 40, "objects": [{"class": "cat", "bbox": [5, 15, 10, 10]}]
    }  # fmt: skip
