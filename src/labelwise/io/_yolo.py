"""YOLO datasets in and out: detection boxes and YOLO-seg polygons, names from ``data.yaml``.

A dataset is a ``data.yaml`` (or a folder holding one) with ``names`` (a list, or a
map from class number to name) and optionally ``path`` (the root; default: the
yaml's folder) and ``train`` / ``val`` / ``test`` (folders of images or ``.txt``
lists of images, relative to the root; default: ``images``). Each image's labels
are the ``.txt`` file at the same place under ``labels`` (the last ``images`` folder
in its path becomes ``labels``, as Ultralytics does). One line per object, in
coordinates normalised by the image's size (read with Pillow):

- ``class cx cy w h``: a box (centre, width, height);
- ``class x1 y1 x2 y2 x3 y3 ...``: a polygon (YOLO-seg); its box is the polygon's extent.

An image with an empty label file holds no object; one without a label file is not
labeled. A sample's id is the image's path under the root without a leading
``images/`` (``images/train/a.jpg`` -> ``train/a.jpg``).

Writing makes the same layout (``images/<id>``, ``labels/<id>.txt``, ``data.yaml``
without ``path``, so the folder can move), with full-precision numbers so that a
round trip gives back the same pixels to within float rounding. A label with a mask
(RLE) or an object of several polygons has no YOLO line and is refused, by name.
"""

from __future__ import annotations

from pathlib import Path

from labelwise._validation import check_id
from labelwise.errors import DataFileError, InvalidInputError, shorten
from labelwise.io._annotations import (
    Annotated,
    image_size,
    labeled_samples,
    place_image,
    safe_relative,
    write_folder,
)
from labelwise.io._objects import check_object, is_object_task, loads_label
from labelwise.store import Project

__all__ = ["read_yolo", "write_yolo", "label_file_for"]

_SPLITS = ("train", "val", "test")


def label_file_for(image: Path) -> Path:
    """The label file of an image: the last ``images`` folder becomes ``labels``, ``.txt``.

    Examples
    --------
    >>> label_file_for(Path("d/images/train/a.jpg")).as_posix()
    'd/labels/train/a.txt'
    """
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _yaml_of(path: Path) -> Path:
    if path.is_file():
        return path
    for name in ("data.yaml", "data.yml", "dataset.yaml"):
        if (path / name).is_file():
            return path / name
    found = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
    if len(found) == 1:
        return found[0]
    raise DataFileError(
        f"{path}: no data.yaml in this folder; a YOLO dataset needs one with the class "
        "'names' (give its path)."
    )


def _names(doc: dict, yaml_path: Path) -> list[str]:
    names = doc.get("names")
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise DataFileError(f"{yaml_path}: 'names' keys must be class numbers.") from None
        if keys != list(range(len(keys))):
            raise DataFileError(
                f"{yaml_path}: 'names' must number the classes 0, 1, 2, ... without gaps "
                f"(got {shorten(keys)})."
            )
        names = [names[k] if k in names else names[str(k)] for k in keys]
    if not isinstance(names, list) or not names:
        raise DataFileError(
            f"{yaml_path}: 'names' must list the class names (a list, or a map from number "
            "to name)."
        )
    out = []
    for i, n in enumerate(names):
        if not isinstance(n, str | int) or isinstance(n, bool) or not str(n).strip():
            raise DataFileError(f"{yaml_path}: names[{i}] must be a class name, got {shorten(n)}.")
        out.append(str(n))
    if len(set(out)) != len(out):
        raise DataFileError(f"{yaml_path}: 'names' has duplicates ({shorten(out)}).")
    return out


def _images(root: Path, doc: dict, yaml_path: Path) -> list[Path]:
    from labelwise.io._samples import IMAGE_SUFFIXES

    sources = []
    for key in _SPLITS:
        v = doc.get(key)
        if v is None:
            continue
        for item in v if isinstance(v, list) else [v]:
            if not isinstance(item, str):
                raise DataFileError(f"{yaml_path}: '{key}' must be a path, got {shorten(item)}.")
            sources.append((key, root / item))
    if not sources:
        sources = [("images", root / "images")]
    files: dict[Path, None] = {}
    for key, src in sources:
        if src.is_dir():
            for p in sorted(src.rglob("*")):
                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
                    files[p] = None
        elif src.is_file() and src.suffix == ".txt":
            for line in src.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    p = Path(line.strip())
                    files[p if p.is_absolute() else root / p] = None
        else:
            raise DataFileError(
                f"{yaml_path}: {key} {shorten(str(src))} is neither a folder of images nor a "
                ".txt list of images."
            )
    if not files:
        raise DataFileError(f"{yaml_path}: no images found under {root}.")
    return list(files)


def _uid(root: Path, image: Path, where: str) -> str:
    try:
        rel = image.resolve().relative_to(root.resolve())
    except ValueError:
        rel = Path(image.name)
    parts = rel.parts[1:] if rel.parts[0] == "images" and len(rel.parts) > 1 else rel.parts
    return check_id(Path(*parts).as_posix(), where=where, error=DataFileError)


def _parse(txt: Path, names: list[str], width: int, height: int, classes: set[str]) -> list[dict]:
    objects = []
    for n, line in enumerate(txt.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{txt}, line {n}"
        cells = line.split()
        try:
            cls = int(cells[0])
            vals = [float(c) for c in cells[1:]]
        except ValueError:
            raise DataFileError(
                f"{where}: not 'class cx cy w h' or 'class x1 y1 x2 y2 ...' numbers "
                f"({shorten(line)})."
            ) from None
        if not 0 <= cls < len(names):
            raise DataFileError(
                f"{where}: class {cls} is not in data.yaml's names (0 to {len(names) - 1})."
            )
        if len(vals) == 4:
            cx, cy, w, h = vals
            xs, ys = [cx - w / 2, cx + w / 2], [cy - h / 2, cy + h / 2]
        elif len(vals) >= 6 and len(vals) % 2 == 0:
            xs, ys = vals[0::2], vals[1::2]
        else:
            raise DataFileError(
                f"{where}: {len(vals)} numbers after the class; a box has 4 (cx cy w h) and a "
                "polygon 6 or more (x y pairs). A confidence column belongs in a predictions "
                "file, not in labels."
            )
        if not all(-1e-6 <= v <= 1 + 1e-6 for v in xs + ys):
            raise DataFileError(
                f"{where}: coordinates outside [0, 1]; YOLO labels are normalised by the "
                "image's width and height."
            )
        if len(vals) == 4:
            obj = {
                "class": names[cls],
                "bbox": [xs[0] * width, ys[0] * height, w * width, h * height],
            }
        else:
            poly = [v * (width if i % 2 == 0 else height) for i, v in enumerate(vals)]
            obj = {"class": names[cls], "segmentation": [poly]}
        objects.append(check_object(obj, width=width, height=height, where=where, classes=classes))
    return objects


def read_yolo(path: Path, *, classes: set[str]) -> list[Annotated]:
    """The images of a YOLO dataset with their objects (see the module docstring)."""
    import yaml

    yaml_path = _yaml_of(path)
    try:
        doc = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DataFileError(f"{yaml_path}: not valid YAML ({shorten(str(e), 200)}).") from None
    if not isinstance(doc, dict):
        raise DataFileError(f"{yaml_path}: must be a mapping with 'names'.")
    names = _names(doc, yaml_path)
    unknown = [n for n in names if classes and n not in classes]
    if unknown:
        raise DataFileError(
            f"{yaml_path}: names {shorten(unknown)} are not classes of the project "
            f"({shorten(', '.join(sorted(classes)), 300)}); add the classes or fix the names."
        )
    root = yaml_path.parent
    if isinstance(doc.get("path"), str):
        root = Path(doc["path"]) if Path(doc["path"]).is_absolute() else root / doc["path"]
    records = []
    for image in _images(root, doc, yaml_path):
        where = f"{yaml_path}, image {shorten(str(image))}"
        uid = _uid(root, image, where)
        where = f"{yaml_path.parent}, image {shorten(uid)}"
        if not image.is_file():
            records.append(Annotated(uid, where, problem=f"the image {image} does not exist"))
            continue
        width, height = image_size(image, where=where)
        rec = Annotated(uid, where, path=image, meta={"width": width, "height": height})
        txt = label_file_for(image)
        if txt.is_file():
            objs = _parse(txt, names, width, height, classes)
            rec.label = {"width": width, "height": height, "objects": objs}
        records.append(rec)
    return records


def _fmt(v: float) -> str:
    return repr(float(v))


def yolo_lines(doc: dict, cls_index: dict[str, int], *, uid: str) -> list[str]:
    """The YOLO lines of one label (normalised; full precision)."""
    W, H = doc["width"], doc["height"]  # noqa: N806
    lines = []
    for k, obj in enumerate(doc["objects"], 1):
        c = cls_index[obj["class"]]
        seg = obj.get("segmentation")
        if seg is None:
            x, y, w, h = obj["bbox"]
            vals = [(x + w / 2) / W, (y + h / 2) / H, w / W, h / H]
        elif isinstance(seg, list) and len(seg) == 1:
            vals = [v / (W if i % 2 == 0 else H) for i, v in enumerate(seg[0])]
        else:
            kind = "an RLE mask" if isinstance(seg, dict) else f"{len(seg)} polygons"
            raise InvalidInputError(
                f"sample {shorten(uid)}, object {k}: {kind} has no YOLO line (YOLO-seg holds "
                "one polygon per object); export --format coco to keep it."
            )
        lines.append(" ".join([str(c), *map(_fmt, vals)]))
    return lines


def write_yolo(project: Project, dest: Path) -> int:
    """Write a YOLO dataset folder of the labeled images; returns the number of images."""
    import yaml

    if not is_object_task(project.task):
        raise InvalidInputError(
            f"YOLO holds objects; this project's task is {project.task}. Export csv, jsonl, "
            "parquet, label-studio or image-folder instead."
        )
    names = project.classes(active_only=False)
    cls_index = {n: i for i, n in enumerate(names)}
    rows = labeled_samples(project)
    # every line is made (and refused) before a file is written
    planned = []
    for row in rows:
        rel = safe_relative(row.uid)
        planned.append((row, rel, yolo_lines(loads_label(row.value), cls_index, uid=row.uid)))

    def fill(tmp: Path) -> None:
        for row, rel, lines in planned:
            image = tmp / "images" / rel
            place_image(row.uri, image, uid=row.uid)
            txt = label_file_for(image)
            txt.parent.mkdir(parents=True, exist_ok=True)
            txt.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        data = {
            "train": "images",
            "val": "images",
            "nc": len(names),
            "names": dict(enumerate(names)),
        }
        (tmp / "data.yaml").write_text(
            yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )

    write_folder(dest, fill, flag="the YOLO folder")
    return len(rows)
