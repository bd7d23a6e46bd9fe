"""A detector's or segmentation model's predictions, read from files for the scorers.

``labelwise select PROJECT --strategy detection_... --predictions PATH`` reads one of:

Boxes (:func:`read_box_predictions`)
------------------------------------
- **COCO results JSON** (``.json``): a list of ``{"image_id", "category_id",
  "bbox": [x, y, w, h], "score"}`` records, as detectors write them; or an object
  with ``annotations`` holding such records (each with a ``score``), optional
  ``images`` (``id``, ``file_name``: the image ids then map by file name) and
  ``categories`` (``id``, ``name``: classes by name). Optional per record:
  ``scores`` (or ``class_scores``), a list of per-class scores, the same length
  for every box; ``pass`` (or ``member``), the committee member or MC-dropout
  pass; ``segmentation``, an RLE ``{"size", "counts"}`` or polygons (for the
  segmentation scorers; decoded with pycocotools).
- **YOLO txt** (a folder of ``<image>.txt``, or one ``.txt``): one box per line,
  ``class cx cy w h conf`` in YOLO's normalised units, optionally followed by the
  C per-class scores. An empty file is an image with no box. A folder of
  sub-folders, one per pass (``pass0/``, ``pass1/``, ...), holds the passes of a
  committee or MC dropout. Class names come from a ``data.yaml`` (``names``) in
  the folder when there is one.
- **Tables** (``.csv``, ``.parquet``/``.pq``): one row per box with ``image_id``
  (or ``id``), ``category_id`` (or ``class``), the box as ``bbox`` (a list, or its
  JSON text in a CSV) or as ``x, y, w, h`` columns, ``score``, and optionally
  ``scores``/``class_scores`` (a list, JSON text in a CSV) and ``pass``/``member``.

Per-pixel maps (:func:`read_mask_predictions`)
----------------------------------------------
- a folder of ``<image>.npy`` or ``<image>.npz`` files (an ``.npz`` holds one
  array, or one named ``proba``), or one ``.npz`` whose array names are the image
  ids. Each map has shape ``(C, H, W)``, class probabilities summing to 1 over C
  (softmax outputs), or ``(H, W)``, the foreground probability.
- COCO results JSON with a ``segmentation`` per record: the map of an image is
  the probability that any of its instances covers a pixel,
  ``1 - prod_i (1 - score_i * mask_i)``, shape ``(H, W)``.

Image ids map to the project's samples by, in this order: the sample id (uid)
itself; the COCO image id a COCO import stored (``meta.coco_image_id``); the
sample's file name (the uid's last path part, e.g. ``a.png``); that file name
without its extension (``a``, what YOLO files are named by). An id no sample
matches, or one that matches several samples by name, is refused with the file
and record that hold it. An image of the project that the file does not name has
no prediction: the scorer's ``empty`` policy applies. Boxes only use IoU and
confidences, so pixel and normalised coordinates both work.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labelwise._validation import normalize_id
from labelwise.errors import InvalidInputError, clip, shorten
from labelwise.io._formats import read_json

__all__ = [
    "BoxPredictions",
    "MaskPredictions",
    "read_box_predictions",
    "read_mask_predictions",
    "match_images",
]

_TABLES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_NAMED = 5


@dataclass
class BoxPredictions:
    """Boxes read from a file, one entry per box, checked.

    ``image`` holds each box's image id as written in the file (text), ``where``
    the record that holds it (``record 3``, ``img1.txt line 2``, ``line 5``);
    ``declared`` every image the file names, with or without boxes.
    """

    source: str
    sha256: str
    fmt: str
    image: list[str]
    where: list[str]
    score: np.ndarray
    category: list[str]
    bbox: np.ndarray
    class_scores: np.ndarray | None = None
    member: np.ndarray | None = None
    n_members: int = 1
    segmentation: list | None = None
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    declared: dict[str, str] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        """The class names, numeric ids in numeric order, then names in text order."""
        uniq = set(self.category)

        def key(c: str):
            return (0, int(c), "") if c.lstrip("-").isdigit() else (1, 0, c)

        return sorted(uniq, key=key)

    def describe(self) -> dict:
        return {
            "file": str(Path(self.source).resolve()),  # found again from any folder
            "sha256": self.sha256,
            "format": self.fmt,
            "boxes": len(self.image),
            "images": len(set(self.image) | set(self.declared)),
            "passes": self.n_members,
        }


@dataclass
class MaskPredictions:
    """Per-pixel maps by image id: each a function that loads and returns the array."""

    source: str
    sha256: str
    fmt: str
    maps: dict[str, Callable[[], np.ndarray]]
    where: dict[str, str]

    def describe(self) -> dict:
        return {
            "file": str(Path(self.source).resolve()),  # found again from any folder
            "sha256": self.sha256,
            "format": self.fmt,
            "images": len(self.maps),
        }


def _sha_of(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0")
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _key(v, where: str, name: str, key: str) -> str:
    if v is None or isinstance(v, bool | dict | list) or (isinstance(v, float) and math.isnan(v)):
        raise InvalidInputError(f"{name} {where}: '{key}' must be an image id, got {shorten(v)}.")
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    k = normalize_id(v)
    if not k:
        raise InvalidInputError(f"{name} {where}: '{key}' is empty.")
    return k


def _number(v, where: str, name: str, key: str) -> float:
    given = v
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        try:
            v = float(v) if isinstance(v, str) else None
        except ValueError:
            v = None
        if v is None:
            raise InvalidInputError(
                f"{name} {where}: '{key}' must be a number, got {shorten(given)}."
            )
    f = float(v)
    if not math.isfinite(f):
        raise InvalidInputError(f"{name} {where}: '{key}' must be finite, got {shorten(v)}.")
    return f


def _score(v, where: str, name: str, key: str = "score") -> float:
    f = _number(v, where, name, key)
    if not 0.0 <= f <= 1.0:
        raise InvalidInputError(f"{name} {where}: '{key}' must lie within [0, 1], got {f:g}.")
    return f


def _bbox(v, where: str, name: str) -> list[float]:
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except json.JSONDecodeError:
            v = None
    if not isinstance(v, list | tuple | np.ndarray) or len(v) != 4:
        raise InvalidInputError(
            f"{name} {where}: 'bbox' must be [x, y, w, h] (4 numbers), got {shorten(v)}."
        )
    box = [_number(x, where, name, "bbox") for x in v]
    if box[2] < 0 or box[3] < 0:
        raise InvalidInputError(
            f"{name} {where}: 'bbox' width and height must be >= 0, got {shorten(list(v))}."
        )
    return box


def _list_scores(v, where: str, name: str, key: str) -> list[float]:
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except json.JSONDecodeError:
            v = None
    if not isinstance(v, list | tuple | np.ndarray) or len(v) == 0:
        raise InvalidInputError(
            f"{name} {where}: '{key}' must be a list of per-class scores, got {shorten(v)}."
        )
    out = [_score(x, where, name, key) for x in v]
    if sum(out) <= 0:
        raise InvalidInputError(f"{name} {where}: '{key}' are all 0; give per-class scores.")
    return out


class _Builder:
    """Collects boxes and checks that optional fields are given for all boxes or none."""

    def __init__(self, name: str):
        self.name = name
        self.image, self.where, self.score, self.category, self.bbox = [], [], [], [], []
        self.cls: list = []
        self.member: list = []
        self.seg: list = []

    def add(self, image, where, score, category, bbox, cls=None, member=None, seg=None):
        self.image.append(image)
        self.where.append(where)
        self.score.append(score)
        self.category.append(category)
        self.bbox.append(bbox)
        self.cls.append(cls)
        self.member.append(member)
        self.seg.append(seg)

    def _all_or_none(self, values: list, key: str) -> bool:
        given = [v is not None for v in values]
        if any(given) and not all(given):
            i = given.index(False)
            raise InvalidInputError(
                f"{self.name} {self.where[i]}: no '{key}', which other boxes have; give it for "
                "every box or for none."
            )
        return bool(given) and all(given)

    def build(self, source: str, sha: str, fmt: str, **kw) -> BoxPredictions:
        n = len(self.image)
        cs = None
        if self._all_or_none(self.cls, "scores"):
            width = len(self.cls[0])
            for w, c in zip(self.where, self.cls, strict=True):
                if len(c) != width:
                    raise InvalidInputError(
                        f"{self.name} {w}: {len(c)} per-class scores, but the first box has "
                        f"{width}; give the same classes for every box."
                    )
            cs = np.asarray(self.cls, dtype=np.float64)
        member, n_members = None, kw.pop("n_members", None)
        if self._all_or_none(self.member, "pass"):
            labels = sorted({str(m) for m in self.member}, key=lambda s: (len(s), s))
            code = {m: i for i, m in enumerate(labels)}
            member = np.asarray([code[str(m)] for m in self.member], dtype=np.intp)
            n_members = n_members or len(labels)
        seg = self.seg if any(s is not None for s in self.seg) else None
        return BoxPredictions(
            source=source,
            sha256=sha,
            fmt=fmt,
            image=self.image,
            where=self.where,
            score=np.asarray(self.score, dtype=np.float64).reshape(n),
            category=self.category,
            bbox=np.asarray(self.bbox, dtype=np.float64).reshape(n, 4),
            class_scores=cs,
            member=member,
            n_members=n_members or 1,
            segmentation=seg,
            **kw,
        )


def read_box_predictions(source, *, flag: str = "--predictions") -> BoxPredictions:
    """Read and check a file (or YOLO folder) of predicted boxes; see the module docstring.

    Raises
    ------
    InvalidInputError
        A missing or unreadable file, an unknown format, or a record without a
        required key or with a bad value; the message names the file, the record
        (or line) and the key.
    """
    path = Path(source)
    name = clip(str(path), 200)
    if not path.exists():
        raise InvalidInputError(f"{flag} {name}: file or folder not found.")
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".txt":
        return _read_yolo(path, name)
    if suffix == ".json":
        return _read_coco(path, name)
    if suffix in _TABLES:
        return _read_table(path, name, _TABLES[suffix])
    raise InvalidInputError(
        f"{flag} {name}: unknown format {suffix or '(no extension)'!r}; give a COCO results "
        ".json, a folder of YOLO .txt files, or a .csv/.parquet table."
    )


def _first(rec: dict, keys: tuple[str, ...]):
    for k in keys:
        if k in rec:
            return rec[k]
    return None


def _read_coco(path: Path, name: str) -> BoxPredictions:
    doc = read_json(path, name)
    file_of: dict[str, str] = {}
    cat_of: dict[str, str] = {}
    sizes: dict[str, tuple[int, int]] = {}
    declared: dict[str, str] = {}
    if isinstance(doc, dict):
        if not isinstance(doc.get("annotations"), list):
            raise InvalidInputError(
                f"{name}: a COCO results file is a list of records, or an object with "
                "'annotations' (and optional 'images' and 'categories')."
            )
        for i, im in enumerate(doc.get("images") or [], 1):
            where = f"images item {i}"
            if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
                raise InvalidInputError(f"{name} {where}: needs 'id' and 'file_name'.")
            iid = _key(im["id"], where, name, "id")
            fname = _key(im["file_name"], where, name, "file_name")
            file_of[iid] = fname
            declared[fname] = where
            if "height" in im and "width" in im:
                sizes[fname] = (
                    int(_number(im["height"], where, name, "height")),
                    int(_number(im["width"], where, name, "width")),
                )
        for i, c in enumerate(doc.get("categories") or [], 1):
            where = f"categories item {i}"
            if not isinstance(c, dict) or "id" not in c or "name" not in c:
                raise InvalidInputError(f"{name} {where}: needs 'id' and 'name'.")
            cat_of[_key(c["id"], where, name, "id")] = _key(c["name"], where, name, "name")
        records, label = doc["annotations"], "annotation"
    elif isinstance(doc, list):
        records, label = doc, "record"
    else:
        raise InvalidInputError(f"{name}: not COCO results (a JSON list of detections).")
    b = _Builder(name)
    for i, rec in enumerate(records, 1):
        where = f"{label} {i}"
        if not isinstance(rec, dict):
            raise InvalidInputError(f"{name} {where}: not a JSON object.")
        for k in ("image_id", "category_id", "bbox", "score"):
            if k not in rec:
                raise InvalidInputError(
                    f"{name} {where}: no '{k}' key; COCO results need image_id, category_id, "
                    "bbox and score."
                )
        image = _key(rec["image_id"], where, name, "image_id")
        if file_of:
            if image not in file_of:
                raise InvalidInputError(f"{name} {where}: image_id {image} is not in 'images'.")
            image = file_of[image]
        cat = _key(rec["category_id"], where, name, "category_id")
        if cat_of:
            if cat not in cat_of:
                raise InvalidInputError(
                    f"{name} {where}: category_id {cat} is not in 'categories'."
                )
            cat = cat_of[cat]
        cls = _first(rec, ("scores", "class_scores"))
        key = "scores" if "scores" in rec else "class_scores"
        member = _first(rec, ("pass", "member"))
        b.add(
            image,
            where,
            _score(rec["score"], where, name),
            cat,
            _bbox(rec["bbox"], where, name),
            None if cls is None else _list_scores(cls, where, name, key),
            None if member is None else _key(member, where, name, "pass"),
            rec.get("segmentation"),
        )
    return b.build(str(path), _sha_of([path]), "coco", sizes=sizes, declared=declared)


def _yolo_names(folder: Path, name: str) -> dict[str, str]:
    for fname in ("data.yaml", "data.yml"):
        f = folder / fname
        if f.is_file():
            import yaml

            try:
                doc = yaml.safe_load(f.read_text(encoding="utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError) as e:
                raise InvalidInputError(f"{f}: not readable YAML ({clip(str(e), 120)}).") from None
            names = doc.get("names") if isinstance(doc, dict) else None
            if isinstance(names, list):
                return {str(i): str(n) for i, n in enumerate(names)}
            if isinstance(names, dict):
                return {str(k): str(v) for k, v in names.items()}
            raise InvalidInputError(f"{f}: no 'names' list of class names.")
    return {}


def _read_yolo(path: Path, name: str) -> BoxPredictions:
    if path.is_file():
        passes, names = [[path]], _yolo_names(path.parent, name)
    else:
        txt = sorted(p for p in path.glob("*.txt") if p.is_file())
        subs = sorted(d for d in path.iterdir() if d.is_dir() and any(d.glob("*.txt")))
        if txt and subs:
            raise InvalidInputError(
                f"{name}: holds both .txt files and pass folders ({subs[0].name}/); give one "
                "pass per folder, or the .txt files of one pass."
            )
        if not txt and not subs:
            raise InvalidInputError(f"{name}: no YOLO .txt files in this folder.")
        passes = [txt] if txt else [sorted(d.glob("*.txt")) for d in subs]
        names = _yolo_names(path, name)
    b = _Builder(name)
    declared: dict[str, str] = {}
    width = None
    multi = len(passes) > 1
    for t, files in enumerate(passes):
        for f in files:
            image = _key(f.stem, f.name, name, "file name")
            rel = f"{f.parent.name}/{f.name}" if multi else f.name
            declared.setdefault(image, rel)
            try:
                lines = f.read_text(encoding="utf-8-sig").splitlines()
            except UnicodeDecodeError:
                raise InvalidInputError(f"{name}: {rel} is not UTF-8 text.") from None
            for k, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                where = f"{rel} line {k}"
                parts = line.split()
                if len(parts) < 6:
                    raise InvalidInputError(
                        f"{name}: {where}: {len(parts)} values; a YOLO prediction line is "
                        "'class cx cy w h conf' (then optional per-class scores)."
                    )
                vals = [_number(v, where, name, "value") for v in parts]
                if not vals[0].is_integer() or vals[0] < 0:
                    raise InvalidInputError(
                        f"{name}: {where}: class {parts[0]!r} must be a whole number >= 0."
                    )
                cx, cy, w, h = vals[1:5]
                if w < 0 or h < 0:
                    raise InvalidInputError(f"{name}: {where}: box width and height must be >= 0.")
                cls = None
                if len(vals) > 6:
                    cls = [_score(v, where, name, "class score") for v in vals[6:]]
                    if width is None:
                        width = len(cls)
                    if len(cls) != width:
                        raise InvalidInputError(
                            f"{name}: {where}: {len(cls)} per-class scores, but earlier lines "
                            f"have {width}."
                        )
                cid = str(int(vals[0]))
                b.add(
                    image,
                    where,
                    _score(vals[5], where, name, "conf"),
                    names.get(cid, cid),
                    [cx - w / 2, cy - h / 2, w, h],
                    cls,
                    t if multi else None,
                )
    files = [f for fs in passes for f in fs]
    return b.build(
        str(path),
        _sha_of(files),
        "yolo",
        declared=declared,
        n_members=len(passes) if multi else None,
    )


def _read_table(path: Path, name: str, fmt: str) -> BoxPredictions:
    import pandas as pd

    try:
        if fmt == "csv":
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        else:
            df = pd.read_parquet(path)
    except Exception as e:  # pandas and pyarrow raise many types for a bad file
        raise InvalidInputError(
            f"{name}: not a readable {fmt} file ({clip(str(e), 120)})."
        ) from None
    cols = [str(c) for c in df.columns]

    def pick(*keys, required=True):
        for k in keys:
            if k in cols:
                return k
        if required:
            raise InvalidInputError(
                f"{name}: no {' or '.join(repr(k) for k in keys)} column; a predictions table "
                "has image_id (or id), category_id (or class), bbox (or x, y, w, h) and score."
            )
        return None

    c_img, c_cat, c_score = pick("image_id", "id"), pick("category_id", "class"), pick("score")
    c_box = pick("bbox", required=False)
    xywh = None if c_box else [pick(k) for k in ("x", "y", "w", "h")]
    c_cls = pick("scores", "class_scores", required=False)
    c_mem = pick("pass", "member", required=False)
    first = 2 if fmt == "csv" else 1
    word = "line" if fmt == "csv" else "row"
    b = _Builder(name)
    records = df.to_dict("records")
    for i, rec in enumerate(records):
        where = f"{word} {i + first}"

        def blank(v):
            return v is None or (isinstance(v, float) and math.isnan(v)) or v == ""

        box = (
            _bbox(rec[c_box], where, name)
            if c_box
            else [_number(rec[k], where, name, k) for k in xywh]
        )
        if not c_box and (box[2] < 0 or box[3] < 0):
            raise InvalidInputError(f"{name} {where}: 'w' and 'h' must be >= 0.")
        cls = rec[c_cls] if c_cls else None
        if cls is not None and not isinstance(cls, str | list | tuple | np.ndarray) and blank(cls):
            cls = None
        mem = rec[c_mem] if c_mem else None
        b.add(
            _key(rec[c_img], where, name, c_img),
            where,
            _score(rec[c_score], where, name),
            _key(rec[c_cat], where, name, c_cat),
            box,
            None
            if cls is None or (isinstance(cls, str) and cls == "")
            else _list_scores(
                list(cls) if isinstance(cls, np.ndarray) else cls, where, name, c_cls
            ),
            None if mem is None or blank(mem) else _key(mem, where, name, c_mem),
        )
    return b.build(str(path), _sha_of([path]), fmt)


def read_mask_predictions(
    source, *, flag: str = "--predictions"
) -> MaskPredictions | BoxPredictions:
    """Read per-pixel maps (a folder of .npy/.npz, or one .npz), or COCO results with masks.

    COCO results come back as :class:`BoxPredictions` with ``segmentation`` set;
    :func:`instance_maps` turns them into maps once the images are known.
    """
    path = Path(source)
    name = clip(str(path), 200)
    if not path.exists():
        raise InvalidInputError(f"{flag} {name}: file or folder not found.")
    if path.suffix.lower() == ".json":
        preds = _read_coco(path, name)
        if preds.segmentation is None or any(s is None for s in preds.segmentation):
            i = 0 if preds.segmentation is None else preds.segmentation.index(None)
            where = preds.where[i] if preds.where else "(no record)"
            raise InvalidInputError(
                f"{name} {where}: no 'segmentation' key; the segmentation scorers need a mask "
                "(RLE or polygons) per record, or .npy/.npz probability maps."
            )
        return preds
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".npy", ".npz")
        )
        if not files:
            raise InvalidInputError(f"{name}: no .npy or .npz maps in this folder.")
        maps, where = {}, {}
        for f in files:
            key = _key(f.stem, f.name, name, "file name")
            if key in maps:
                raise InvalidInputError(
                    f"{name}: {where[key]} and {f.name} are maps of the same image {key!r}."
                )
            maps[key], where[key] = _file_loader(f), f.name
        return MaskPredictions(str(path), _sha_of(files), "npy", maps, where)
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.files)
        except (ValueError, OSError) as e:
            raise InvalidInputError(f"{name}: not a readable .npz ({clip(str(e), 120)}).") from None
        maps = {_key(k, f"array {k!r}", name, "array name"): _npz_loader(path, k) for k in keys}
        where = {k: f"array {k!r}" for k in maps}
        return MaskPredictions(str(path), _sha_of([path]), "npz", maps, where)
    raise InvalidInputError(
        f"{flag} {name}: give a folder of .npy/.npz maps, one .npz of maps by image id, or "
        "COCO results .json with segmentation masks."
    )


def _file_loader(f: Path):
    def load():
        try:
            if f.suffix.lower() == ".npy":
                return np.load(f, allow_pickle=False)
            with np.load(f, allow_pickle=False) as z:
                if "proba" in z.files:
                    return z["proba"]
                if len(z.files) != 1:
                    raise InvalidInputError(
                        f"{f}: holds {len(z.files)} arrays; give one, or name the map 'proba'."
                    )
                return z[z.files[0]]
        except (ValueError, OSError) as e:
            raise InvalidInputError(f"{f}: not a readable map ({clip(str(e), 120)}).") from None

    return load


def _npz_loader(path: Path, key: str):
    def load():
        with np.load(path, allow_pickle=False) as z:
            return z[key]

    return load


def instance_maps(preds: BoxPredictions) -> tuple[dict, dict]:
    """Soft foreground maps ``1 - prod(1 - score * mask)`` per image from COCO instance masks.

    Returns ``({image id: loader}, {image id: where})``; a loader decodes the
    image's masks with pycocotools when called.
    """
    from labelwise.io._objects import mask_api

    mask_api()  # one line naming the pip command when pycocotools is missing
    rows: dict[str, list[int]] = {}
    for i, im in enumerate(preds.image):
        rows.setdefault(im, []).append(i)
    name = clip(preds.source, 200)
    for im, idx in rows.items():  # sizes, before anything is decoded
        for i in idx:
            seg = preds.segmentation[i]
            if isinstance(seg, list) and im not in preds.sizes:
                raise InvalidInputError(
                    f"{name} {preds.where[i]}: a polygon needs the image size; give 'images' "
                    "with height and width, or RLE masks."
                )
            if not isinstance(seg, dict | list):
                raise InvalidInputError(
                    f"{name} {preds.where[i]}: 'segmentation' must be an RLE or polygons."
                )

    def loader(im: str, idx: list[int]):
        def load():
            mask = mask_api()
            soft = None
            for i in idx:
                seg = preds.segmentation[i]
                try:
                    if isinstance(seg, list):
                        h, w = preds.sizes[im]
                        rle = mask.merge(mask.frPyObjects(seg, h, w))
                    elif isinstance(seg.get("counts"), list):
                        rle = mask.frPyObjects(seg, *seg["size"])
                    else:
                        rle = {"size": seg["size"], "counts": str(seg["counts"]).encode()}
                    m = mask.decode(rle).astype(np.float64)
                except (KeyError, TypeError, ValueError) as e:
                    raise InvalidInputError(
                        f"{name} {preds.where[i]}: 'segmentation' is not a valid RLE or polygon "
                        f"({clip(str(e), 80)})."
                    ) from None
                if soft is None:
                    soft = np.ones_like(m)
                if m.shape != soft.shape:
                    raise InvalidInputError(
                        f"{name} {preds.where[i]}: mask size {m.shape} differs from the "
                        f"image's other masks {soft.shape}."
                    )
                soft *= 1.0 - preds.score[i] * m
            return 1.0 - soft

        return load

    return (
        {im: loader(im, idx) for im, idx in rows.items()},
        {im: preds.where[idx[0]] for im, idx in rows.items()},
    )


def match_images(keys, where, name: str, project) -> dict[str, int]:
    """Database sample id of every image id in ``keys`` (see the module docstring's order).

    Raises
    ------
    InvalidInputError
        An id that matches no sample (the first few are named, with where they
        are), or one that matches several samples by file name.
    """
    from sqlalchemy import select

    from labelwise.store._models import Sample

    with project.session() as s:
        rows = s.execute(select(Sample.id, Sample.uid, Sample.meta)).all()
    by_uid = {u: i for i, u, _ in rows}
    by_coco, by_name, by_stem = {}, {}, {}
    for sid, uid, meta in rows:
        if isinstance(meta, dict) and meta.get("coco_image_id") is not None:
            by_coco.setdefault(str(meta["coco_image_id"]), []).append(sid)
        base = uid.rsplit("/", 1)[-1]
        by_name.setdefault(base, []).append(sid)
        by_stem.setdefault(base.rsplit(".", 1)[0] if "." in base[1:] else base, []).append(sid)
    out: dict[str, int] = {}
    unknown: list[str] = []
    for k in dict.fromkeys(keys):
        if k in by_uid:
            out[k] = by_uid[k]
            continue
        for table, how in ((by_coco, "COCO image id"), (by_name, "file name"), (by_stem, "name")):
            hits = table.get(k)
            if hits:
                if len(hits) > 1:
                    uid_of = {i: u for i, u, _ in rows}
                    some = ", ".join(shorten(uid_of[h], 40) for h in hits[:3])
                    raise InvalidInputError(
                        f"{name} {where[k]}: image id {shorten(k, 40)} matches {len(hits)} "
                        f"samples by {how} ({some}); give the sample ids instead."
                    )
                out[k] = hits[0]
                break
        else:
            unknown.append(k)
    if unknown:
        named = ", ".join(f"{shorten(u, 40)} ({where[u]})" for u in unknown[:_NAMED])
        more = f" and {len(unknown) - _NAMED} more" if len(unknown) > _NAMED else ""
        raise InvalidInputError(
            f"{name}: {len(unknown)} image id(s) match no sample of {project.path}: {named}{more}; "
            "an image id is a sample id, a COCO image id, a file name, or a file name without "
            "its extension."
        )
    return out
