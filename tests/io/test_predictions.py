"""A detector's predictions from COCO results, YOLO txt and tables: same boxes, same scores."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.errors import InvalidInputError, MissingRequirementError
from labelwise.io._samples import import_pool
from labelwise.loop._detections import prediction_input
from labelwise.store import Project
from labelwise.strategies import get_strategy
from labelwise.strategies._detection import (
    detection_box_disagreement,
    detection_entropy,
    detection_mean_confidence,
    detection_min_confidence,
    segmentation_entropy,
)

W, H = 40, 20  # every test image
# (image, pass, class, [x, y, w, h] in pixels, confidence, class scores [car, person]);
# c.png has no box in any pass, d.png a box in pass 1 only
BOXES = [
    ("a", 0, "car", [0, 0, 10, 10], 0.9, [0.9, 0.1]),
    ("a", 0, "person", [20, 5, 10, 10], 0.5, [0.3, 0.7]),
    ("b", 0, "person", [5, 5, 10, 10], 0.6, [0.4, 0.6]),
    ("a", 1, "car", [1, 0, 10, 10], 0.8, [0.8, 0.2]),
    ("b", 1, "person", [5, 5, 8, 10], 0.7, [0.2, 0.8]),
    ("d", 1, "car", [0, 0, 4, 4], 0.3, [0.5, 0.5]),
]
CAT_ID = {"car": 1, "person": 2}
UID = {"a": "a.png", "b": "sub/b.png", "c": "c.png", "d": "d.png"}


@pytest.fixture
def project(tmp_path):
    imgs = tmp_path / "imgs"
    (imgs / "sub").mkdir(parents=True)
    for k, uid in UID.items():
        Image.new("RGB", (W, H), (40 * len(k), 0, 0)).save(imgs / uid)
    p = Project.init(tmp_path / "p")
    import_pool(p, imgs)
    return p


def _coco(path):
    # the object form: image ids map through 'images' to file names (b.png is sub/b.png)
    ids = {"a": 11, "b": 12, "c": 13, "d": 14}
    doc = {
        "images": [{"id": i, "file_name": f"{k}.png"} for k, i in ids.items()],
        "categories": [{"id": v, "name": k} for k, v in CAT_ID.items()],
        "annotations": [
            {
                "image_id": ids[im],
                "category_id": CAT_ID[c],
                "bbox": box,
                "score": s,
                "scores": cs,
                "pass": t,
            }
            for im, t, c, box, s, cs in BOXES
        ],
    }
    path.write_text(json.dumps(doc))
    return path


def _yolo(folder):
    # one folder per pass, normalised centre boxes, named by the image's stem
    (folder / "pass0").mkdir(parents=True)
    (folder / "pass1").mkdir()
    (folder / "data.yaml").write_text("names: [car, person]\n")
    (folder / "pass0" / "c.txt").write_text("")  # an image with no box
    lines: dict = {}
    for im, t, c, (x, y, w, h), s, cs in BOXES:
        row = [CAT_ID[c] - 1, (x + w / 2) / W, (y + h / 2) / H, w / W, h / H, s, *cs]
        lines.setdefault((im, t), []).append(" ".join(repr(float(v)) for v in row[1:]))
        lines[(im, t)][-1] = f"{row[0]} {lines[(im, t)][-1]}"
    for (im, t), rows in lines.items():
        (folder / f"pass{t}" / f"{im}.txt").write_text("\n".join(rows) + "\n")
    return folder


def _csv(path):
    rows = [
        {
            "image_id": UID[im],
            "category_id": c,
            "bbox": json.dumps(box),
            "score": s,
            "scores": json.dumps(cs),
            "pass": t,
        }
        for im, t, c, box, s, cs in BOXES
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _parquet(path):
    rows = [
        {
            "id": im,  # by file name without extension
            "class": c,
            "x": box[0],
            "y": box[1],
            "w": box[2],
            "h": box[3],
            "score": s,
            "class_scores": cs,
            "member": f"m{t}",
        }
        for im, t, c, box, s, cs in BOXES
    ]
    pd.DataFrame(rows).to_parquet(path)
    return path


SCORERS = [
    detection_mean_confidence,
    detection_min_confidence,
    detection_entropy,
    detection_box_disagreement,
]


def _read(project, source, strategy="detection_entropy"):
    pred = prediction_input(get_strategy(strategy), source)
    ids, uids = project.sample_ids()
    return pred.read(project, ids), list(uids), pred


def test_the_three_formats_give_equal_scores(project, tmp_path):
    got = {}
    for name, make in [
        ("coco", lambda: _coco(tmp_path / "r.json")),
        ("yolo", lambda: _yolo(tmp_path / "yolo")),
        ("csv", lambda: _csv(tmp_path / "r.csv")),
        ("parquet", lambda: _parquet(tmp_path / "r.parquet")),
    ]:
        det, uids, pred = _read(project, make())
        assert det.n_boxes == 6 and det.n_members == 2, name
        assert pred.info["format"] == ("csv" if name == "csv" else name), name
        order = [uids.index(UID[k]) for k in "abcd"]
        got[name] = np.array([f(det, candidates=order) for f in SCORERS])
    for name in ("yolo", "csv", "parquet"):
        np.testing.assert_allclose(got[name], got["coco"], atol=1e-12, err_msg=name)
    # and against values worked by hand (rows: the scorers; columns: a, b, c, d)
    mean_a = 1 - (0.9 + 0.5 + 0.8) / 3
    np.testing.assert_allclose(got["coco"][0], [mean_a, 1 - 0.65, 1.0, 1 - 0.3])
    np.testing.assert_allclose(got["coco"][1], [0.5, 0.4, 1.0, 0.7])
    # b: IoU of [5,5,10,10] and [5,5,8,10] = 80/100 -> 1 - 0.8; d: one pass empty -> 1;
    # a: car boxes IoU 90/110 matched, the person box unmatched -> (9/11) / 2
    np.testing.assert_allclose(got["coco"][3], [1 - (9 / 11) / 2, 0.2, 1.0, 1.0])


def test_predicted_classes_keep_their_names(project, tmp_path):
    for source in (_coco(tmp_path / "r.json"), _yolo(tmp_path / "yolo")):
        det, _, _ = _read(project, source)
        assert det.classes == ("car", "person")
        assert sorted(det.label.tolist()) == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "r.json",
            [{"image_id": "a.png", "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]
            + [{"image_id": "a.png", "category_id": 1, "bbox": [0, 0, 1, 1]}],
            r"r.json record 2: no 'score' key",
        ),
        (
            "r.json",
            [{"image_id": "a.png", "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1.5}],
            r"r.json record 1: 'score' must lie within \[0, 1\], got 1.5",
        ),
        (
            "r.json",
            [{"image_id": "a.png", "category_id": 1, "bbox": [0, 0, 1], "score": 0.5}],
            r"r.json record 1: 'bbox' must be \[x, y, w, h\]",
        ),
        (
            "r.json",
            [{"image_id": "zzz", "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}],
            r"1 image id\(s\) match no sample of .*: 'zzz' \(record 1\)",
        ),
        ("r.csv", "image_id,category_id,bbox\na.png,1,[0,0,1,1]\n", r"r.csv: no 'score' column"),
        (
            "r.csv",
            'image_id,category_id,bbox,score\na.png,1,"[0,0,1,1]",0.5\nb,1,"[0,0,1,1]",x\n',
            r"r.csv line 3: 'score' must be a number, got 'x'",
        ),
    ],
)
def test_bad_files_name_file_record_and_key(project, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(InvalidInputError, match=message):
        _read(project, path)


def test_broken_json_names_the_file_and_line(project, tmp_path):
    from labelwise.errors import DataFileError

    path = tmp_path / "r.json"
    path.write_text('[{"image_id": "a.png",\n "score": }]')
    with pytest.raises(DataFileError, match=r"r.json, line 2: not valid JSON"):
        _read(project, path)


def test_bad_yolo_line_is_named(project, tmp_path):
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "a.txt").write_text("0 0.5 0.5 0.2 0.2 0.9\n0 0.5 0.5 0.2 0.2\n")
    with pytest.raises(InvalidInputError, match=r"a.txt line 2: 5 values"):
        _read(project, tmp_path / "y")


def test_a_name_two_samples_share_is_refused(tmp_path):
    imgs = tmp_path / "imgs"
    for d in ("x", "y"):
        (imgs / d).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(imgs / d / "a.png")
    p = Project.init(tmp_path / "p")
    import_pool(p, imgs)
    path = tmp_path / "r.json"
    path.write_text(
        json.dumps([{"image_id": "a", "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}])
    )
    with pytest.raises(
        InvalidInputError, match=r"record 1: image id 'a' matches 2 samples by name"
    ):
        _read(p, path)
    # the full sample id is unambiguous
    path.write_text(
        json.dumps([{"image_id": "x/a.png", "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}])
    )
    det, uids, _ = _read(p, path)
    assert det.sample.tolist() == [uids.index("x/a.png")]


def test_strategy_and_predictions_must_go_together():
    with pytest.raises(InvalidInputError, match="strategy 'margin' does not use it"):
        prediction_input(get_strategy("margin"), "r.json")
    with pytest.raises(MissingRequirementError, match="needs --predictions FILE"):
        prediction_input(get_strategy("detection_min_confidence"), None)


def test_maps_from_npy_npz_and_coco_rle(project, tmp_path):
    fg = np.array([[0.5, 1.0], [0.0, 0.5]])
    cls = np.stack([np.full((2, 2), 0.25)] * 4)
    (tmp_path / "m").mkdir()
    np.save(tmp_path / "m" / "a.npy", fg)
    np.savez(tmp_path / "m" / "b.npz", proba=cls)
    maps, uids, _ = _read(project, tmp_path / "m", "segmentation_entropy")
    order = [uids.index(UID[k]) for k in "abc"]
    assert segmentation_entropy(maps, candidates=order).tolist() == pytest.approx([0.5, 1.0, 1.0])

    from pycocotools import mask

    m1 = np.zeros((4, 4), dtype=np.uint8, order="F")
    m1[:2] = 1  # top half, score 0.5
    m2 = np.zeros((4, 4), dtype=np.uint8, order="F")
    m2[:, :2] = 1  # left half, score 0.6
    anns = []
    for m, s in ((m1, 0.5), (m2, 0.6)):
        rle = mask.encode(m)
        rle["counts"] = rle["counts"].decode()
        anns.append(
            {
                "image_id": "a.png",
                "category_id": 1,
                "bbox": [0, 0, 4, 4],
                "score": s,
                "segmentation": rle,
            }
        )
    (tmp_path / "r.json").write_text(json.dumps(anns))
    maps, uids, pred = _read(project, tmp_path / "r.json", "segmentation_entropy")
    want = 1 - (1 - 0.5 * m1) * (1 - 0.6 * m2)  # P(some instance covers the pixel)
    np.testing.assert_allclose(maps.load(uids.index("a.png")), want)
    assert want[0, 0] == pytest.approx(0.8) and want[3, 3] == 0.0
    assert pred.info["format"] == "coco"


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_select_by_detection_scorer_end_to_end(project, tmp_path):
    path = _coco(tmp_path / "r.json")
    out = tmp_path / "batch.csv"
    r = _invoke(
        "select", project.path, "--strategy", "detection_min_confidence", "--predictions", path,
        "--param", "empty=skip", "--batch", "5", "--out", out, "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    # min confidence over both passes: a 0.5 -> 0.5, b 0.6 -> 0.4, d 0.3 -> 0.7; c skipped
    assert [row["id"] for row in doc["batch"]] == ["d.png", "a.png", "sub/b.png"]
    assert [row["score"] for row in doc["batch"]] == pytest.approx([0.7, 0.5, 0.4])
    assert doc["skipped"] == ["c.png"]
    reason = doc["batch"][1]["reason"]
    assert reason.startswith("1.5 boxes per pass, min conf 0.50, mean conf 0.73")
    assert "detection_min_confidence 0.500" in reason and "boxes from r.json" in reason
    assert pd.read_csv(out)["id"].tolist() == ["d.png", "a.png", "sub/b.png"]
    from labelwise.store._models import Round

    with project.session() as s:
        rnd = s.query(Round).one()
    assert rnd.info["predictions"]["skipped_ids"] == ["c.png"]
    assert rnd.info["predictions"]["boxes"] == 6 and len(rnd.info["predictions"]["sha256"]) == 64
    # a strategy that does not read the file is refused (main() prints the user error in
    # one line, exit 2), and nothing more is stored
    r = _invoke("select", project.path, "--strategy", "margin", "--predictions", path, "--force")
    assert isinstance(r.exception, InvalidInputError)
    assert "strategy 'margin' does not use it" in str(r.exception)
    assert "\n" not in str(r.exception)
    with project.session() as s:
        assert s.query(Round).count() == 1
