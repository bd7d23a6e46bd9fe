"""Annotation formats in and out of a project: COCO, YOLO, Label Studio JSON, class folders.

Every reader (:mod:`._coco`, :mod:`._yolo`, :mod:`._label_studio`) turns a file or
dataset folder into :class:`Annotated` records, one per image (or text): its stable
id, where its content is, and its label when it has one (an object task's checked
objects, see :mod:`._objects`, or a class name). The same records feed both
``labelwise import PROJECT PATH --format F`` (samples and labels, one transaction,
:func:`import_annotated`) and ``labelwise labels PROJECT import FILE --format F``
(labels of samples already in the project, :func:`labelwise.io._labels.import_labels`).

Every writer goes through :func:`export_annotations`; a folder (YOLO, class folders) is
written beside its destination and renamed into place, so it appears whole or not at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from labelwise.errors import DataFileError, InvalidInputError, shorten
from labelwise.io._objects import dumps_label, is_object_task, object_classes
from labelwise.store import Project

__all__ = [
    "ANNOTATION_FORMATS",
    "EXPORT_FORMATS",
    "Annotated",
    "export_annotations",
    "image_size",
    "import_annotated",
    "read_annotations",
]

#: ``--format`` values that hold annotations (read and written here).
ANNOTATION_FORMATS = ("coco", "yolo", "label-studio")
#: Every ``labels export --format`` value: the annotation formats, class folders, tables.
EXPORT_FORMATS = (*ANNOTATION_FORMATS, "image-folder", "csv", "jsonl", "parquet")


@dataclass
class Annotated:
    """One image (or text) of an annotation file, with its label if it has one.

    ``label`` is the checked objects dict of an object task, or a class name;
    ``None`` means not labeled (e.g. a YOLO image without a label file).
    """

    uid: str
    where: str  # "FILE, image 'a.png'" for messages
    path: Path | None = None  # the image file, when the format names one
    text: str | None = None  # a text sample (Label Studio data.text)
    label: dict | str | None = None
    meta: dict = field(default_factory=dict)
    problem: str | None = None  # why the image file cannot be found (sample import only)


def image_size(path: Path, *, where: str) -> tuple[int, int]:
    """(width, height) of an image as shown, from its header (EXIF rotation applied).

    Only formats that keep EXIF in their header are asked for it: a PNG's EXIF may come
    after the pixels, and reading it would decode the whole image.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            header_exif = im.format in ("JPEG", "MPO", "TIFF", "WEBP")
            orientation = im.getexif().get(0x0112, 1) if header_exif else 1
    except (OSError, ValueError, SyntaxError) as e:
        raise DataFileError(f"{where}: cannot read the image {path} ({e}).") from None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _check_format(project: Project, fmt: str, flag: str = "--format") -> None:
    if fmt not in ANNOTATION_FORMATS:
        raise InvalidInputError(
            f"{flag} must be one of {', '.join(ANNOTATION_FORMATS)} here, got {shorten(fmt)}."
        )
    task = project.task
    if fmt in ("coco", "yolo") and not is_object_task(task):
        raise InvalidInputError(
            f"{fmt} files hold objects (boxes, polygons, masks) but this project's task is "
            f"{task}; create a project with 'labelwise init DIR --task detection' (or "
            "segmentation), or use --format label-studio for choices."
        )
    if fmt == "label-studio" and task not in ("classification", "detection", "segmentation"):
        raise InvalidInputError(
            f"Label Studio files are read for classification, detection and segmentation "
            f"projects; this one is {task}."
        )


def read_annotations(project: Project, path: str | Path, fmt: str) -> list[Annotated]:
    """Every record of an annotation file or dataset, checked against the project."""
    _check_format(project, fmt)
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{path} not found.")
    classes = set(project.classes())
    task = project.task
    if fmt == "coco":
        from labelwise.io._coco import read_coco

        return read_coco(path, classes=classes)
    if fmt == "yolo":
        from labelwise.io._yolo import read_yolo

        return read_yolo(path, classes=classes)
    from labelwise.io._label_studio import read_label_studio

    return read_label_studio(path, task=task, classes=classes)


def label_value(rec: Annotated) -> str:
    """The text stored in ``Label.value`` for a record's label."""
    return rec.label if isinstance(rec.label, str) else dumps_label(rec.label)


def label_classes(rec: Annotated) -> list[str]:
    """The class names a record's label uses."""
    return [rec.label] if isinstance(rec.label, str) else object_classes(rec.label)


def import_annotated(
    project: Project,
    path: str | Path,
    fmt: str,
    *,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
):
    """Add the images (or texts) of an annotation file and their labels; all or nothing.

    Returns an :class:`~labelwise.io._samples.ImportResult`.
    """
    from labelwise.io._samples import ImportResult, check_unique, store_samples

    path = Path(path)
    recs = read_annotations(project, path, fmt)
    if not recs:
        raise DataFileError(f"{path}: no images or tasks in it; nothing to import.")
    check_unique([r.uid for r in recs], lambda i: recs[i].where)
    rows = []
    for r in recs:
        if r.problem:
            raise DataFileError(f"{r.where}: {r.problem}; nothing was imported.")
        row: dict = {"uid": r.uid, "meta": r.meta or None}
        if r.text is not None:
            row["text"] = r.text
        else:
            row["uri"] = str(r.path.resolve())
        if r.label is not None:
            row["label"] = label_value(r)
            row["label_classes"] = label_classes(r)
        rows.append(row)
    kind = "text" if recs[0].text is not None else "images"
    if any((r.text is not None) != (kind == "text") for r in recs):
        raise DataFileError(f"{path}: mixes text and image tasks; import them separately.")
    n_labels = store_samples(
        project, path, kind, rows, lambda i: recs[i].where, progress=progress, on_total=on_total
    )
    return ImportResult(len(rows), n_labels, False, [r["uid"] for r in rows[:3]], kind)


# -- export --------------------------------------------------------------------------------
def labeled_samples(project: Project):
    """(uid, uri, text, value) of every sample with an accepted label, by database id."""
    from sqlalchemy import select

    from labelwise.store._models import Label, Sample

    with project.session() as s:
        return s.execute(
            select(Sample.id, Sample.uid, Sample.uri, Sample.text, Sample.meta, Label.value)
            .join(Label, Label.sample_id == Sample.id)
            .where(Label.status == "accepted")
            .order_by(Sample.id)
        ).all()


def write_folder(dest: Path, fill: Callable[[Path], None], *, flag: str) -> None:
    """Write a folder beside ``dest`` with ``fill(tmp)`` and rename it into place.

    ``dest`` may not exist yet or be an empty folder: an export never mixes with, or
    overwrites, files already there.
    """
    from labelwise._validation import check_writable

    check_writable(dest, flag=flag, folder=True)
    if dest.exists() and any(dest.iterdir()):
        raise InvalidInputError(
            f"{flag} {shorten(str(dest))} is a folder that is not empty; give a new or empty "
            "folder (an export does not overwrite files)."
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        fill(tmp)
        if dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def place_image(src: str | None, dest: Path, *, uid: str) -> None:
    """Hard-link (or copy) a sample's image to ``dest``."""
    if not src or not Path(src).is_file():
        raise DataFileError(
            f"sample {shorten(uid)}: its image {shorten(str(src))} is missing; restore it or "
            "export a format that does not copy images (coco, label-studio, csv)."
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def safe_relative(uid: str) -> Path:
    """A sample id as a relative path inside an export folder (no ``..``, no root)."""
    rel = Path(uid.replace("\\", "/"))
    parts = [p for p in rel.parts if p not in ("", ".", "/")]
    if not parts or rel.is_absolute() or ".." in parts:
        raise DataFileError(
            f"sample {shorten(uid)}: its id is not a relative file path, so it cannot name a "
            "file in the export folder; export coco or label-studio instead."
        )
    return Path(*parts)


def write_image_folder(project: Project, dest: Path) -> int:
    """Copy (hard-link) every labeled image to ``dest/<class>/<id>``; classification only.

    A sample id that starts with its own class folder (as an import of class folders
    gives: ``cat/a.png``) is not nested twice, so importing the folder again gives back
    the same ids and labels.
    """
    if project.task != "classification":
        raise InvalidInputError(
            f"--format image-folder writes one folder per class: classification projects "
            f"only (this one is {project.task}); use coco or yolo."
        )
    rows = labeled_samples(project)

    def fill(tmp: Path) -> None:
        for _sid, uid, uri, _text, _meta, value in rows:
            rel = safe_relative(uid)
            if rel.parts[0] == value and len(rel.parts) > 1:
                rel = Path(*rel.parts[1:])
            if value in ("", ".", "..") or "/" in value or "\\" in value:
                raise DataFileError(
                    f"sample {shorten(uid)}: class {shorten(value)} cannot be a folder name."
                )
            place_image(uri, tmp / value / rel, uid=uid)

    write_folder(dest, fill, flag="the export folder")
    return len(rows)


def export_annotations(project: Project, path: str | Path, fmt: str) -> int:
    """Write every labeled sample in an annotation format; returns the number of labels."""
    path = Path(path)
    if fmt == "image-folder":
        return write_image_folder(project, path)
    if fmt == "coco":
        from labelwise.io._coco import write_coco

        return write_coco(project, path)
    if fmt == "yolo":
        from labelwise.io._yolo import write_yolo

        return write_yolo(project, path)
    if fmt == "label-studio":
        from labelwise.io._label_studio import write_label_studio

        return write_label_studio(project, path)
    raise InvalidInputError(
        f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {shorten(fmt)}."
    )
