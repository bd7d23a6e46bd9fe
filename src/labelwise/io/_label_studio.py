"""Label Studio JSON in and out, so a team can label in Label Studio and select with labelwise.

Export writes one task per sample: ``data`` holds the image (``image``, as a
``/data/local-files/?d=`` URL of its absolute path: start Label Studio with
``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`` and
``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=/``) or the text (``text``), and
``labelwise_id``, the sample's stable id. A labeled sample's label goes into
``predictions`` (``model_version`` ``"labelwise"``) so annotators see it as a pre-label
to accept or fix. Regions: ``rectanglelabels`` (boxes, in percent of the image, with
``original_width`` / ``original_height``), ``polygonlabels`` (one polygon per object)
and ``choices`` (classification); the labeling config names them ``label``,
``polygon`` and ``choice`` on ``image`` / ``text`` (README has an example).

Import reads each task's newest annotation that was not skipped (``was_cancelled``);
a task without one falls back to a ``labelwise`` prediction (what an export wrote),
and is otherwise not labeled. A task's sample id is ``data.labelwise_id``, else its
image path. Rotated boxes, brushes (Label Studio's own mask encoding) and other
region types are refused by name: export masks with ``--format coco``.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlparse

from labelwise._validation import check_id
from labelwise.errors import DataFileError, InvalidInputError, shorten
from labelwise.io._annotations import Annotated, image_size, labeled_samples
from labelwise.io._objects import check_object, is_object_task, loads_label, polygon_bbox
from labelwise.store import Project, atomic_write

__all__ = ["read_label_studio", "write_label_studio", "MODEL_VERSION"]

#: ``model_version`` of the predictions labelwise writes (its labels, as pre-labels).
MODEL_VERSION = "labelwise"
_LOCAL = "/data/local-files/"


def _image_path(value: str, base: Path, where: str) -> tuple[str, Path | None, str | None]:
    """(id text, file, why it cannot be found) of a task's ``data.image``."""
    url = urlparse(value)
    if url.scheme in ("http", "https", "s3", "gs", "azure-blob"):
        return value, None, "the image is a URL; labelwise reads local files and downloads nothing"
    if value.startswith(_LOCAL):
        d = parse_qs(url.query).get("d")
        if not d:
            return value, None, "a local-files URL without ?d="
        rel = unquote(d[0])
        for cand in (Path("/" + rel), base / rel):
            if cand.is_file():
                return rel, cand, None
        return rel, None, f"the image {rel} is not found (from / or beside the JSON file)"
    if value.startswith("/data/upload/"):
        return (
            value,
            None,
            ("the image was uploaded into Label Studio; give the images as local files"),
        )
    p = Path(unquote(url.path) if url.scheme == "file" else value)
    cand = p if p.is_absolute() else base / p
    if cand.is_file():
        return value, cand, None
    return value, None, f"the image {shorten(value)} is not found beside the JSON file"


def _result_list(entry, where: str) -> list:
    result = entry.get("result") if isinstance(entry, dict) else None
    if not isinstance(result, list):
        raise DataFileError(f"{where}: 'result' must be a list of regions.")
    return result


def _pick(task: dict, where: str) -> tuple[list | None, str]:
    """The regions that label a task (newest kept annotation, else a labelwise prediction).

    Returns the regions (None: not labeled) and where they are, for messages.
    """
    anns = task.get("annotations") or []
    if not isinstance(anns, list):
        raise DataFileError(f"{where}: 'annotations' must be a list.")
    kept = [a for a in anns if isinstance(a, dict) and not a.get("was_cancelled")]
    if kept:
        a = kept[-1]
        w = f"{where}, annotation {a.get('id', len(kept))}"
        return _result_list(a, w), w
    preds = task.get("predictions") or []
    ours = [p for p in preds if isinstance(p, dict) and p.get("model_version") == MODEL_VERSION]
    if ours:
        w = f"{where}, labelwise prediction"
        return _result_list(ours[-1], w), w
    return None, where


def _one_label(value: dict, key: str, where: str) -> str:
    names = value.get(key)
    if not (isinstance(names, list) and len(names) == 1 and isinstance(names[0], str)):
        raise DataFileError(f"{where}: '{key}' must hold exactly one class, got {shorten(names)}.")
    return names[0]


def _objects(result: list, where: str, size, classes: set[str]) -> dict:
    objects, width, height = [], None, None
    for k, r in enumerate(result, 1):
        w = f"{where}, region {r.get('id', k) if isinstance(r, dict) else k}"
        if not isinstance(r, dict) or not isinstance(r.get("value"), dict):
            raise DataFileError(f"{w}: a region must be an object with a 'value'.")
        kind, v = r.get("type"), r["value"]
        if kind not in ("rectanglelabels", "polygonlabels"):
            raise DataFileError(
                f"{w}: region type {shorten(kind)} is not read here (rectanglelabels, "
                "polygonlabels); masks go through --format coco."
            )
        ow, oh = r.get("original_width"), r.get("original_height")
        if ow is None or oh is None:
            if size is None:
                raise DataFileError(
                    f"{w}: no original_width/original_height and no image file to read them from."
                )
            ow, oh = size
        if width is None:
            width, height = ow, oh
        elif (ow, oh) != (width, height):
            raise DataFileError(f"{w}: original size {ow}x{oh} differs from {width}x{height}.")
        if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in (ow, oh)):
            raise DataFileError(f"{w}: original_width/original_height must be whole pixels.")
        if kind == "rectanglelabels":
            if v.get("rotation", 0):
                raise DataFileError(
                    f"{w}: rotated box ({v['rotation']} degrees); labelwise keeps axis-aligned "
                    "boxes: straighten it in Label Studio."
                )
            try:
                box = [v["x"] * ow / 100, v["y"] * oh / 100, v["width"] * ow / 100,
                       v["height"] * oh / 100]  # fmt: skip
            except (KeyError, TypeError):
                raise DataFileError(f"{w}: a box needs numbers x, y, width, height.") from None
            obj = {"class": _one_label(v, "rectanglelabels", w), "bbox": box}
        else:
            pts = v.get("points")
            if not isinstance(pts, list) or not all(
                isinstance(p, list) and len(p) == 2 for p in pts
            ):
                raise DataFileError(f"{w}: 'points' must be a list of [x, y] percentages.")
            try:
                poly = [c * (ow if i % 2 == 0 else oh) / 100 for p in pts for i, c in enumerate(p)]
            except TypeError:
                raise DataFileError(f"{w}: 'points' must hold numbers.") from None
            obj = {"class": _one_label(v, "polygonlabels", w), "segmentation": [poly]}
        objects.append(check_object(obj, width=ow, height=oh, where=w, classes=classes))
    if width is None:
        if size is None:
            raise DataFileError(f"{where}: no regions and no image file to read the size from.")
        width, height = size
    return {"width": width, "height": height, "objects": objects}


def _choice(result: list, where: str, classes: set[str]) -> str | None:
    choices = [r for r in result if isinstance(r, dict) and r.get("type") == "choices"]
    other = [r.get("type") if isinstance(r, dict) else r for r in result if r not in choices]
    if other:
        raise DataFileError(
            f"{where}: region type {shorten(other[0])} in a classification project; give 'choices'."
        )
    if not choices:
        return None
    if len(choices) > 1:
        raise DataFileError(f"{where}: {len(choices)} choice regions; give one.")
    value = choices[0].get("value")
    name = _one_label(value if isinstance(value, dict) else {}, "choices", where)
    if classes and name not in classes:
        raise DataFileError(
            f"{where}: choice {shorten(name)} is not a class of the project "
            f"({shorten(', '.join(sorted(classes)), 300)}); add the class or fix the file."
        )
    return name


def read_label_studio(path: Path, *, task: str, classes: set[str]) -> list[Annotated]:
    """The tasks of a Label Studio JSON export with their labels (see the module docstring)."""
    from labelwise.io._coco import _load_json

    doc = _load_json(path)
    tasks = [doc] if isinstance(doc, dict) else doc
    if not isinstance(tasks, list):
        raise DataFileError(f"{path}: a Label Studio export is a JSON list of tasks.")
    records = []
    for i, t in enumerate(tasks, 1):
        where = f"{path}, task {t.get('id', i) if isinstance(t, dict) else i}"
        if not isinstance(t, dict) or not isinstance(t.get("data"), dict):
            raise DataFileError(f"{where}: a task is an object with 'data'.")
        data = t["data"]
        rec = Annotated(uid="", where=where)
        name = None
        if isinstance(data.get("image"), str):
            name, rec.path, rec.problem = _image_path(data["image"], path.parent, where)
        elif isinstance(data.get("text"), str):
            rec.text = data["text"]
        else:
            raise DataFileError(f"{where}: 'data' has neither 'image' nor 'text'.")
        uid = data.get("labelwise_id", name if name is not None else t.get("id"))
        if uid is None:
            raise DataFileError(f"{where}: no data.labelwise_id and no task id to identify it.")
        rec.uid = check_id(uid, where=where, error=DataFileError)
        rec.where = f"{where} ({shorten(rec.uid)})"
        result, at = _pick(t, rec.where)
        if rec.path is not None and is_object_task(task):
            size = image_size(rec.path, where=rec.where)
            rec.meta = {"width": size[0], "height": size[1]}
        else:
            size = None
        if result is not None:
            if is_object_task(task):
                rec.label = _objects(result, at, size, classes)
            else:
                rec.label = _choice(result, at, classes)
        records.append(rec)
    return records


def _regions(value: str, task: str, target: str) -> list[dict]:
    if not is_object_task(task):
        return [
            {
                "id": "c1",
                "type": "choices",
                "from_name": "choice",
                "to_name": target,
                "value": {"choices": [value]},
            }
        ]
    doc = loads_label(value)
    W, H = doc["width"], doc["height"]  # noqa: N806
    out = []
    for k, obj in enumerate(doc["objects"], 1):
        seg = obj.get("segmentation")
        region = {
            "id": f"o{k}",
            "from_name": "label",
            "to_name": "image",
            "original_width": W,
            "original_height": H,
            "image_rotation": 0,
        }
        if seg is None:
            x, y, w, h = obj["bbox"]
            region["type"] = "rectanglelabels"
            region["value"] = {
                "x": x / W * 100,
                "y": y / H * 100,
                "width": w / W * 100,
                "height": h / H * 100,
                "rotation": 0,
                "rectanglelabels": [obj["class"]],
            }
        elif isinstance(seg, list) and len(seg) == 1 and polygon_bbox(seg) == obj["bbox"]:
            poly = seg[0]
            region["type"] = "polygonlabels"
            region["from_name"] = "polygon"
            region["value"] = {
                "points": [
                    [poly[i] / W * 100, poly[i + 1] / H * 100] for i in range(0, len(poly), 2)
                ],
                "closed": True,
                "polygonlabels": [obj["class"]],
            }
        else:
            why = (
                "an RLE mask (Label Studio brushes use their own encoding)"
                if isinstance(seg, dict)
                else f"{len(seg)} polygons"
                if len(seg) != 1
                else "a box that is not its polygon's extent"
            )
            raise InvalidInputError(
                f"object {k} has {why}: no Label Studio region keeps it; export --format coco."
            )
        out.append(region)
    return out


def write_label_studio(project: Project, path: Path) -> int:
    """Write every sample as a Label Studio task; returns the number of labels written."""
    from sqlalchemy import select

    from labelwise._validation import check_writable
    from labelwise.store._models import Sample

    task = project.task
    if task not in ("classification", "detection", "segmentation"):
        raise InvalidInputError(
            f"Label Studio export covers classification, detection and segmentation "
            f"projects; this one is {task}."
        )
    check_writable(path, flag="the Label Studio file", suffixes=(".json",))
    labels = {row.id: row.value for row in labeled_samples(project)}
    with project.session() as s:
        samples = s.execute(
            select(Sample.id, Sample.uid, Sample.uri, Sample.text).order_by(Sample.id)
        ).all()
    tasks = []
    for sid, uid, uri, text in samples:
        if text is not None and not is_object_task(task):
            data, target = {"text": text}, "text"
        elif uri is not None:
            rel = str(Path(uri).resolve()).lstrip("/")
            data, target = {"image": f"{_LOCAL}?d={quote(rel)}"}, "image"
        else:
            raise InvalidInputError(
                f"sample {shorten(uid)} is a table row; Label Studio export covers images and "
                "texts."
            )
        t: dict = {"id": len(tasks) + 1, "data": {**data, "labelwise_id": uid}}
        if sid in labels:
            try:
                result = _regions(labels[sid], task, target)
            except InvalidInputError as e:
                raise InvalidInputError(f"sample {shorten(uid)}, {e}") from None
            t["predictions"] = [{"model_version": MODEL_VERSION, "result": result}]
        tasks.append(t)
    atomic_write(path, json.dumps(tasks, ensure_ascii=False, indent=1).encode())
    return len(labels)
