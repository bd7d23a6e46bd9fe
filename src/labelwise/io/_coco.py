"""COCO instances JSON in and out: boxes, polygons and RLE masks, categories by name.

Reading: ``images`` (``id``, ``file_name``, ``width``, ``height``), ``categories``
(``id``, ``name``) and ``annotations`` (``image_id``, ``category_id``, ``bbox``,
optional ``segmentation`` and ``iscrowd``). A sample's id is its ``file_name``; its
image is looked for beside the JSON file, then in an ``images`` folder beside it or
beside its folder. With an ``annotations`` list, every image is labeled (an image
without annotations holds no object); without one, the images come unlabeled.
Categories are matched to the project's classes by name, never by number. ``area``
is not kept: an export computes it again (box: w*h; mask and polygons: pycocotools).

Writing: one image per labeled sample (``file_name`` = its id, ``id`` = the COCO id it
was imported with when every one has a distinct one, else its database id),
categories numbered from 1 in the project's class order, annotations in each label's
object order.
"""

from __future__ import annotations

import json
from pathlib import Path

from labelwise._validation import check_id
from labelwise.errors import DataFileError, InvalidInputError, shorten
from labelwise.io._annotations import Annotated, image_size, labeled_samples
from labelwise.io._formats import read_json
from labelwise.io._objects import (
    check_label,
    check_object,
    is_object_task,
    loads_label,
    mask_api,
)
from labelwise.store import Project, atomic_write

__all__ = ["read_coco", "write_coco", "coco_dict"]


def _load_json(path: Path):
    return read_json(path, what="the COCO JSON file")


def _int_id(v, where: str, key: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise DataFileError(f"{where}: {key} must be a whole number, got {shorten(v)}.")
    return v


def _list_of_dicts(doc: dict, key: str, path: Path, *, required: bool = True) -> list[dict]:
    items = doc.get(key)
    if items is None and not required:
        return []
    if not isinstance(items, list):
        raise DataFileError(f"{path}: '{key}' must be a list, got {shorten(items)}.")
    for i, it in enumerate(items, 1):
        if not isinstance(it, dict):
            raise DataFileError(f"{path}, {key} item {i}: must be an object, got {shorten(it)}.")
    return items


def _find_image(path: Path, file_name: str) -> Path | None:
    base = path.parent
    for folder in (base, base / "images", base.parent / "images"):
        p = folder / file_name
        if p.is_file():
            return p
    return None


def read_coco(path: Path, *, classes: set[str]) -> list[Annotated]:
    """The images of a COCO file with their objects, checked (see the module docstring)."""
    doc = _load_json(path)
    if not isinstance(doc, dict) or "images" not in doc:
        raise DataFileError(
            f"{path}: not a COCO instances file (a JSON object with 'images', 'categories' "
            "and 'annotations')."
        )
    cats: dict[int, str] = {}
    for i, c in enumerate(_list_of_dicts(doc, "categories", path, required=False), 1):
        where = f"{path}, category {i}"
        cid = _int_id(c.get("id"), where, "id")
        name = c.get("name")
        if not isinstance(name, str) or not name.strip():
            raise DataFileError(f"{where}: 'name' must be a class name, got {shorten(name)}.")
        if cid in cats:
            raise DataFileError(f"{where}: category id {cid} is given twice.")
        if name in cats.values():
            raise DataFileError(f"{where}: category name {shorten(name)} is given twice.")
        cats[cid] = name
    records: dict[int, Annotated] = {}
    docs: dict[int, dict] = {}
    for i, im in enumerate(_list_of_dicts(doc, "images", path), 1):
        where = f"{path}, images item {i}"
        iid = _int_id(im.get("id"), where, "id")
        name = im.get("file_name")
        if not isinstance(name, str):
            raise DataFileError(f"{where}: 'file_name' must be text, got {shorten(name)}.")
        uid = check_id(name, where=where, error=DataFileError)
        where = f"{path}, image {shorten(uid)}"
        if iid in records:
            raise DataFileError(
                f"{where}: image id {iid} is also {shorten(records[iid].uid)}; ids are unique."
            )
        width, height = im.get("width"), im.get("height")
        rec = Annotated(uid=uid, where=where, meta={"coco_image_id": iid})
        found = _find_image(path, name)
        if found is None:
            rec.problem = (
                f"the image file {shorten(name)} is not beside {path.name} nor in an images "
                "folder beside it"
            )
        else:
            rec.path = found
        docs[iid] = {"width": width, "height": height, "objects": []}
        records[iid] = rec
    anns = doc.get("annotations")
    labeled = anns is not None
    for i, a in enumerate(_list_of_dicts(doc, "annotations", path, required=False), 1):
        where = f"{path}, annotation {a.get('id', f'item {i}')}"
        iid = _int_id(a.get("image_id"), where, "image_id")
        if iid not in records:
            raise DataFileError(f"{where}: image_id {iid} is not in 'images'.")
        cid = _int_id(a.get("category_id"), where, "category_id")
        if cid not in cats:
            raise DataFileError(f"{where}: category_id {cid} is not in 'categories'.")
        obj = {"class": cats[cid]}
        for key in ("bbox", "segmentation", "iscrowd"):
            if a.get(key) is not None:
                obj[key] = a[key]
        if obj.get("segmentation") == [] and "bbox" in obj:
            del obj["segmentation"]  # detection files write [] for "no mask"
        docs[iid]["objects"].append((where, obj))
    for iid, rec in records.items():
        d = docs[iid]
        size = check_label({**d, "objects": []}, where=rec.where)
        checked = {
            **size,
            "objects": [
                check_object(
                    o,
                    width=size["width"],
                    height=size["height"],
                    where=f"{w} (image {shorten(rec.uid)})",
                    classes=classes,
                )
                for w, o in d["objects"]
            ],
        }
        rec.meta.update(width=checked["width"], height=checked["height"])
        if rec.path is not None:
            size = image_size(rec.path, where=rec.where)
            if size != (checked["width"], checked["height"]):
                raise DataFileError(
                    f"{rec.where}: the file says {checked['width']}x{checked['height']} but "
                    f"the image {rec.path} is {size[0]}x{size[1]}; fix width/height."
                )
        if labeled:
            rec.label = checked
    return list(records.values())


def _area(obj: dict, width: int, height: int) -> float:
    seg = obj.get("segmentation")
    if seg is None:
        return float(obj["bbox"][2] * obj["bbox"][3])
    mask = mask_api()
    if isinstance(seg, dict):
        return float(mask.area({"size": seg["size"], "counts": seg["counts"].encode()}))
    return float(mask.area(mask.merge(mask.frPyObjects(seg, height, width))))


def coco_dict(project: Project) -> dict:
    """The project's labels as a COCO instances dict."""
    if not is_object_task(project.task):
        raise InvalidInputError(
            f"COCO holds objects; this project's task is {project.task}. Export csv, jsonl, "
            "parquet, label-studio or image-folder instead."
        )
    names = project.classes(active_only=False)
    cat_ids = {n: i for i, n in enumerate(names, 1)}
    rows = labeled_samples(project)
    coco_ids = [(r.meta or {}).get("coco_image_id") for r in rows]
    keep = all(isinstance(c, int) for c in coco_ids) and len(set(coco_ids)) == len(coco_ids)
    images, annotations = [], []
    for row, cid in zip(rows, coco_ids, strict=True):
        doc = loads_label(row.value)
        image_id = cid if keep else row.id
        images.append(
            {"id": image_id, "file_name": row.uid, "width": doc["width"], "height": doc["height"]}
        )
        for obj in doc["objects"]:
            ann = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": cat_ids[obj["class"]],
                "bbox": obj["bbox"],
                "area": _area(obj, doc["width"], doc["height"]),
                "iscrowd": obj.get("iscrowd", 0),
            }
            if "segmentation" in obj:
                ann["segmentation"] = obj["segmentation"]
            annotations.append(ann)
    return {
        "info": {"description": f"labelwise export of {project.path.name}"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": n} for n, i in cat_ids.items()],
    }


def write_coco(project: Project, path: Path) -> int:
    """Write the project's labels to a COCO JSON file; returns the number of images."""
    from labelwise._validation import check_writable

    check_writable(path, flag="the COCO file", suffixes=(".json",))
    doc = coco_dict(project)
    atomic_write(path, json.dumps(doc).encode())
    return len(doc["images"])
