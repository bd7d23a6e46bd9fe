"""Objects in an image: the label of a detection or segmentation project.

A label of an object task (:data:`OBJECT_TASKS`) is one image's objects, stored in
``Label.value`` as canonical JSON text (:func:`dumps_label`)::

    {"height": 480, "width": 640, "objects": [
        {"class": "cat", "bbox": [10, 20, 30.5, 40]},
        {"class": "dog", "bbox": [100, 50, 20, 20],
         "segmentation": [[100, 50, 120, 50, 120, 70]]},
        {"class": "dog", "bbox": [5, 5, 3, 2], "iscrowd": 1,
         "segmentation": {"size": [480, 640], "counts": "<compressed RLE>"}}]}

- ``width`` and ``height``: the image's size in pixels.
- ``objects``: in order; an empty list is an image labeled as holding no object.
- ``bbox``: ``[x, y, w, h]`` in image pixels (the COCO convention: top-left corner and
  size), inside the image to within :data:`EDGE_TOLERANCE` pixels, ``w`` and ``h`` > 0.
  Derived from the segmentation when a file gives none (polygon extents, or
  ``pycocotools.mask.toBbox`` for a mask).
- ``segmentation`` (optional): a list of polygons, each ``[x1, y1, x2, y2, ...]`` with
  three points or more, or a COCO RLE mask ``{"size": [height, width], "counts": str}``,
  always in pycocotools' compressed form (uncompressed ``counts`` lists are converted by
  pycocotools; RLE is never written by hand here).
- ``iscrowd``: kept when 1 (COCO's crowd regions).

The canonical text sorts keys, writes no spaces and writes integral numbers as
integers, so the same objects always give the same text and re-importing an
unchanged file changes nothing. Every check names the place (file, line or image),
the object (counted from 1) and the key at fault.
"""

from __future__ import annotations

import json
import math
import warnings

from labelwise._validation import MAX_NAME_LENGTH, text_problem
from labelwise.errors import DataFileError, MissingRequirementError, shorten

__all__ = [
    "OBJECT_TASKS",
    "EDGE_TOLERANCE",
    "PYCOCOTOOLS_INSTALL",
    "is_object_task",
    "check_label",
    "check_object",
    "dumps_label",
    "loads_label",
    "mask_api",
    "polygon_bbox",
    "object_classes",
]

#: Tasks whose labels are objects in an image.
OBJECT_TASKS = ("detection", "segmentation")
#: How far (pixels) a box or polygon may reach past the image's edge (rounding in tools).
EDGE_TOLERANCE = 1.0
#: The most pixels an image with an RLE mask may have (decoding one costs a byte a pixel).
MAX_MASK_PIXELS = 100_000_000
PYCOCOTOOLS_INSTALL = "pip install pycocotools (or pip install 'labelwise[coco]')"
_LABEL_KEYS = ("width", "height", "objects")
_OBJECT_KEYS = ("class", "bbox", "segmentation", "iscrowd")


def is_object_task(task: str) -> bool:
    """Whether a project task labels objects (detection, segmentation)."""
    return task in OBJECT_TASKS


def mask_api():
    """``pycocotools.mask``, or one line naming the pip command when it is missing."""
    try:
        from pycocotools import mask
    except ImportError:
        raise MissingRequirementError(
            f"RLE masks and COCO segmentation areas need pycocotools: {PYCOCOTOOLS_INSTALL}."
        ) from None
    return mask


def _num(v, where: str, key: str) -> int | float:
    """A finite number, integral ones as ``int`` (the canonical form)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise DataFileError(f"{where}: {key} must hold numbers, got {shorten(v)}.")
    if isinstance(v, float):
        if not math.isfinite(v):
            raise DataFileError(f"{where}: {key} holds {v}; give finite numbers.")
        if v.is_integer() and abs(v) < 2**53:
            return int(v)
    return v


def _size(v, where: str, key: str) -> int:
    n = _num(v, where, key)
    if not isinstance(n, int) or n < 1:
        raise DataFileError(f"{where}: {key} must be a whole number of pixels >= 1, got {v!r}.")
    return n


def polygon_bbox(polygons) -> list:
    """``[x, y, w, h]`` spanning every point of the polygons.

    Examples
    --------
    >>> polygon_bbox([[10, 20, 30, 20, 30, 45]])
    [10, 20, 20, 25]
    """
    xs = [v for poly in polygons for v in poly[0::2]]
    ys = [v for poly in polygons for v in poly[1::2]]
    x0, y0 = min(xs), min(ys)
    return [x0, y0, max(xs) - x0, max(ys) - y0]


def _check_inside(xs, ys, width: int, height: int, where: str, key: str) -> None:
    t = EDGE_TOLERANCE
    for x, y in zip(xs, ys, strict=True):
        if not (-t <= x <= width + t and -t <= y <= height + t):
            raise DataFileError(
                f"{where}: {key} point ({x}, {y}) lies outside the {width}x{height} image; "
                "coordinates are image pixels (is the file normalised, or for another image?)."
            )


def _check_polygons(seg, width: int, height: int, where: str) -> list:
    if not seg:
        raise DataFileError(f"{where}: segmentation is an empty list; give polygons or drop it.")
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in seg):
        raise DataFileError(
            f"{where}: segmentation is one flat list; COCO writes a list of polygons: "
            "[[x1, y1, x2, y2, ...]]."
        )
    out = []
    for j, poly in enumerate(seg, 1):
        key = f"segmentation polygon {j}"
        if not isinstance(poly, list):
            raise DataFileError(
                f"{where}: {key} must be a list [x1, y1, ...], got {shorten(poly)}."
            )
        if len(poly) < 6 or len(poly) % 2:
            raise DataFileError(
                f"{where}: {key} has {len(poly)} numbers; a polygon needs x, y pairs of 3 "
                "points or more (6, 8, 10, ... numbers)."
            )
        pts = [_num(v, where, key) for v in poly]
        _check_inside(pts[0::2], pts[1::2], width, height, where, key)
        out.append(pts)
    return out


def _check_rle(seg: dict, width: int, height: int, where: str) -> dict:
    extra = sorted(set(seg) - {"size", "counts"})
    if extra or "size" not in seg or "counts" not in seg:
        raise DataFileError(
            f"{where}: an RLE segmentation has exactly the keys 'size' and 'counts' "
            f"(got {shorten(sorted(seg))})."
        )
    size = seg["size"]
    if not (isinstance(size, list) and len(size) == 2) or [
        _num(v, where, "segmentation size") for v in size
    ] != [height, width]:
        raise DataFileError(
            f"{where}: segmentation size {shorten(size)} must be [height, width] of the "
            f"image, [{height}, {width}]."
        )
    if height * width > MAX_MASK_PIXELS:
        raise DataFileError(
            f"{where}: a {width}x{height} mask is over {MAX_MASK_PIXELS:,} pixels; "
            "use polygons for this image."
        )
    mask = mask_api()
    counts = seg["counts"]
    if isinstance(counts, list):  # uncompressed: pycocotools compresses it (checks the sum)
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            raise DataFileError(f"{where}: segmentation counts must be whole numbers >= 0.")
        if sum(counts) != height * width:
            raise DataFileError(
                f"{where}: segmentation counts add up to {sum(counts):,} pixels; a "
                f"{width}x{height} mask has {height * width:,}."
            )
        rle = mask.frPyObjects({"size": [height, width], "counts": counts}, height, width)
        return {"size": [height, width], "counts": rle["counts"].decode("ascii")}
    if not isinstance(counts, str) or not counts.isascii():
        raise DataFileError(
            f"{where}: segmentation counts must be a COCO compressed RLE string or a list of "
            f"run lengths, got {shorten(counts)}."
        )
    # a valid compressed string is what pycocotools writes for its mask: decode it and
    # encode the mask again (a string whose runs do not add up to the image decodes to
    # garbage or fails; it never re-encodes to itself)
    raw = {"size": [height, width], "counts": counts.encode("ascii")}
    try:
        with warnings.catch_warnings():  # pycocotools 2.0.11 under numpy 2: copy keyword
            warnings.simplefilter("ignore", DeprecationWarning)
            decoded = mask.decode(raw)
        again = mask.encode(decoded)["counts"].decode("ascii")
    except (ValueError, TypeError):
        again = None
    if again != counts:
        raise DataFileError(
            f"{where}: segmentation counts {shorten(counts)} is not a valid COCO RLE of a "
            f"{width}x{height} mask (pycocotools does not decode it to one)."
        )
    return {"size": [height, width], "counts": counts}


def check_object(
    obj, *, width: int, height: int, where: str, classes: set[str] | None = None
) -> dict:
    """Check one object and return its canonical form (see the module docstring)."""
    if not isinstance(obj, dict):
        raise DataFileError(f"{where}: an object must be a JSON object, got {shorten(obj)}.")
    unknown = sorted(set(obj) - set(_OBJECT_KEYS))
    if unknown:
        raise DataFileError(
            f"{where}: unknown key(s) {shorten(unknown)}; an object has {list(_OBJECT_KEYS)}."
        )
    name = obj.get("class")
    if not isinstance(name, str) or not name.strip():
        raise DataFileError(f"{where}: 'class' must be a class name, got {shorten(name)}.")
    why = text_problem(name, max_length=MAX_NAME_LENGTH)
    if why:
        raise DataFileError(f"{where}: class {shorten(name)} {why}.")
    if classes and name not in classes:
        raise DataFileError(
            f"{where}: class {shorten(name)} is not a class of the project "
            f"({shorten(', '.join(sorted(classes)), 300)}); add the class or fix the file."
        )
    out: dict = {"class": name}
    seg = obj.get("segmentation")
    if seg is not None:
        if isinstance(seg, dict):
            out["segmentation"] = _check_rle(seg, width, height, where)
        elif isinstance(seg, list):
            out["segmentation"] = _check_polygons(seg, width, height, where)
        else:
            raise DataFileError(
                f"{where}: segmentation must be a list of polygons or an RLE object, got "
                f"{shorten(seg)}."
            )
    box = obj.get("bbox")
    if box is None:
        if seg is None:
            raise DataFileError(f"{where}: no 'bbox' [x, y, w, h] (nor a segmentation).")
        if isinstance(out["segmentation"], list):
            box = polygon_bbox(out["segmentation"])
        else:
            raw = dict(out["segmentation"], counts=out["segmentation"]["counts"].encode())
            box = [float(v) for v in mask_api().toBbox(raw)]
    if not isinstance(box, list | tuple) or len(box) != 4:
        raise DataFileError(f"{where}: bbox must be [x, y, w, h], got {shorten(box)}.")
    x, y, w, h = (_num(v, where, "bbox") for v in box)
    if not (w > 0 and h > 0):
        raise DataFileError(f"{where}: bbox {shorten(list(box))} has width or height <= 0.")
    _check_inside([x, x + w], [y, y + h], width, height, where, "bbox")
    out["bbox"] = [x, y, w, h]
    crowd = obj.get("iscrowd", 0)
    if crowd not in (0, 1) or isinstance(crowd, float):
        raise DataFileError(f"{where}: iscrowd must be 0 or 1, got {shorten(crowd)}.")
    if crowd == 1:
        out["iscrowd"] = 1
    return out


def check_label(doc, *, where: str, classes=None) -> dict:
    """Check one image's objects (a dict, or its JSON text) and return the canonical dict.

    Parameters
    ----------
    doc : dict or str
        ``{"width": W, "height": H, "objects": [...]}`` (see the module docstring).
    where : str
        The place for messages: ``"FILE, image 'a.png'"`` or ``"FILE, line 3"``.
    classes : collection of str, optional
        The project's classes; empty or None accepts any class name.

    Raises
    ------
    DataFileError
        Naming ``where``, the object (counted from 1) and the key at fault.
    """
    if isinstance(doc, str | bytes):
        try:
            doc = json.loads(doc)
        except ValueError as e:
            raise DataFileError(f"{where}: the objects are not valid JSON ({e}).") from None
    if not isinstance(doc, dict):
        raise DataFileError(
            f"{where}: a label of objects is {{'width', 'height', 'objects'}}, got {shorten(doc)}."
        )
    unknown = sorted(set(doc) - set(_LABEL_KEYS))
    missing = [k for k in _LABEL_KEYS if k not in doc]
    if unknown or missing:
        raise DataFileError(
            f"{where}: a label of objects has the keys {list(_LABEL_KEYS)} "
            f"({'missing ' + shorten(missing) if missing else 'unknown ' + shorten(unknown)})."
        )
    width = _size(doc["width"], where, "width")
    height = _size(doc["height"], where, "height")
    objects = doc["objects"]
    if not isinstance(objects, list):
        raise DataFileError(f"{where}: 'objects' must be a list, got {shorten(objects)}.")
    classes = set(classes or ())
    return {
        "width": width,
        "height": height,
        "objects": [
            check_object(
                o, width=width, height=height, where=f"{where}, object {i}", classes=classes
            )
            for i, o in enumerate(objects, 1)
        ],
    }


def dumps_label(doc: dict) -> str:
    """The canonical text of a checked label (what ``Label.value`` holds).

    Examples
    --------
    >>> dumps_label({"width": 4, "height": 3, "objects": [{"class": "a", "bbox": [0, 0, 2, 1]}]})
    '{"height":3,"objects":[{"bbox":[0,0,2,1],"class":"a"}],"width":4}'
    """
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def loads_label(text: str) -> dict:
    """A stored label back as a dict (no checks: it was checked when stored)."""
    return json.loads(text)


def object_classes(doc: dict) -> list[str]:
    """The class of each object, in order."""
    return [o["class"] for o in doc["objects"]]
