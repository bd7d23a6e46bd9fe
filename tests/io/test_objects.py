"""The object label of detection and segmentation projects: checks and canonical text."""

import json

import pytest

from labelwise.errors import DataFileError
from labelwise.io._labels import export_labels, import_labels
from labelwise.io._objects import check_label, dumps_label
from labelwise.io._samples import import_pool
from labelwise.store import Project


def test_canonical_text_is_the_same_for_the_same_objects():
    a = {"objects": [{"bbox": [1.0, 2, 3.5, 4.0], "class": "cat", "iscrowd": 0}],
         "width": 10.0, "height": 8}  # fmt: skip
    b = '{"width": 10, "height": 8, "objects": [{"class": "cat", "bbox": [1, 2.0, 3.5, 4]}]}'
    want = '{"height":8,"objects":[{"bbox":[1,2,3.5,4],"class":"cat"}],"width":10}'
    assert dumps_label(check_label(a, where="x")) == dumps_label(check_label(b, where="x")) == want


def test_a_polygon_gives_its_extent_as_box():
    doc = check_label(
        {
            "width": 10,
            "height": 10,
            "objects": [{"class": "c", "segmentation": [[1, 2, 7, 3, 4, 9]]}],
        },
        where="x",
    )
    assert doc["objects"][0]["bbox"] == [1, 2, 6, 7]


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        ([{"class": "c", "bbox": [0, 0, 1, 1]}, {"bbox": [0, 0, 1, 1]}], r"f, object 2: 'class'"),
        ([{"class": "c"}], r"f, object 1: no 'bbox'"),
        ([{"class": "c", "bbox": [0, 0, 1, True]}], r"object 1: bbox must hold numbers"),
        ([{"class": "c", "bbox": [0, 0, 1, 1], "segmentation": [1, 2, 3, 4, 5, 6]}],
         r"object 1: segmentation is one flat list"),
        ([{"class": "c", "bbox": [0, 0, 1, 1], "colour": "red"}], r"unknown key\(s\) \['colour'\]"),
        ([{"class": "d", "bbox": [0, 0, 1, 1]}], r"object 1: class 'd' is not a class"),
    ],
)  # fmt: skip
def test_each_error_names_the_object_and_key(objects, message):
    with pytest.raises(DataFileError, match=message):
        check_label({"width": 5, "height": 5, "objects": objects}, where="f", classes={"c"})


def test_object_labels_in_a_csv_are_checked_stored_canonically_and_idempotent(tmp_path):
    from PIL import Image

    (tmp_path / "img").mkdir()
    Image.new("RGB", (10, 8)).save(tmp_path / "img" / "a.png")
    p = Project.init(tmp_path / "p", task="detection", classes=["cat"])
    import_pool(p, tmp_path / "img")
    label = {"width": 10, "height": 8, "objects": [{"class": "cat", "bbox": [1.0, 1, 2, 2]}]}
    (tmp_path / "l.jsonl").write_text(
        json.dumps({"id": "a.png", "label": json.dumps(label)}) + "\n"
    )
    assert import_labels(p, tmp_path / "l.jsonl").new == 1
    assert list(p.current_labels().values()) == [
        '{"height":8,"objects":[{"bbox":[1,1,2,2],"class":"cat"}],"width":10}'
    ]
    export_labels(p, tmp_path / "out.csv")
    assert import_labels(p, tmp_path / "out.csv").unchanged == 1  # a long JSON cell reads back
    label["objects"][0]["class"] = "dog"
    (tmp_path / "l.jsonl").write_text(
        json.dumps({"id": "a.png", "label": json.dumps(label)}) + "\n"
    )
    with pytest.raises(DataFileError, match=r"l.jsonl, line 1 \('a.png'\), object 1: class 'dog'"):
        import_labels(p, tmp_path / "l.jsonl")
