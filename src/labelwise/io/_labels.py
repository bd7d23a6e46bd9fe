"""Labels in and out of a project: ``id,label`` rows plus optional columns.

A label file is CSV (UTF-8, with or without a byte-order mark), or JSONL or
Parquet by its extension. An import is atomic (every row or none) and
idempotent: a row whose label equals the sample's current label changes
nothing, so importing the same file twice adds nothing the second time. A
changed label supersedes the old one, which stays in the history.

Ids follow the one id rule (:func:`labelwise._validation.normalize_id`), and
cells that :mod:`labelwise.io._formats` escaped against spreadsheet formulas on
export read back as they were stored.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select, update

from labelwise._validation import MAX_NAME_LENGTH, check_id, text_problem
from labelwise.errors import DataFileError, shorten
from labelwise.io._formats import TABLE_FORMATS, table_bytes, unescape_cell
from labelwise.io._objects import check_label, dumps_label, is_object_task, object_classes
from labelwise.store import Project, atomic_write, transaction
from labelwise.store._models import Event, Label, Sample, now
from labelwise.store._project import CHUNK as _CHUNK
from labelwise.store._project import adopt_classes, ids_of

__all__ = [
    "LabelImport",
    "import_labels",
    "check_label_rows",
    "write_labels",
    "export_labels",
    "FIELD_LIMIT",
]

#: The most characters one CSV cell of a label file may hold (Python's csv module
#: stops at 128 KiB by default; a long text column beside the labels is fine, a
#: quote left open that swallows the rest of a huge file is not).
FIELD_LIMIT = 32 * 2**20
EXPORT_COLUMNS = ("id", "label", "annotator", "created_at")


@dataclass
class LabelImport:
    """Counts of one label import."""

    new: int
    changed: int
    unchanged: int


@dataclass
class _Row:
    where: str  # "FILE, line N" for messages
    uid: str
    value: str
    annotator: str | None
    duration: float | None
    typed_uid: str | None = None  # the cell as typed when unescaping changed it
    typed_value: str | None = None
    classes: list[str] | None = None  # an object label's classes (io/_objects.py)
    comment: str | None = None  # stored with the label (feedback: the rejected prediction)


def _read_csv_rows(path: Path) -> list[tuple[str, dict]]:
    old_limit = csv.field_size_limit(FIELD_LIMIT)
    reader = None
    try:
        # utf-8-sig: a byte-order mark (Excel writes one) is read like a sample file's
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [unescape_cell(h.strip()) for h in next(reader, [])]
            _check_header(path, header)
            rows = []
            for rec in reader:
                if not any(c.strip() for c in rec):
                    continue  # blank line
                raw = {h: c.strip() for h, c in zip(header, rec, strict=False)}
                cells = {h: unescape_cell(c) for h, c in raw.items()}
                for key in ("id", "label"):  # as typed, in case the ' was part of it
                    if cells.get(key) != raw.get(key):
                        cells[f"_typed_{key}"] = raw[key]
                rows.append((f"{path}, line {reader.line_num}", cells))
            return rows
    except UnicodeDecodeError:
        raise DataFileError(f"{path}: not UTF-8 text; save it as UTF-8 CSV.") from None
    except csv.Error as e:
        line = reader.line_num if reader is not None else 1
        raise DataFileError(
            f"{path}, line {line}: cannot read as CSV ({e}); a cell holds at most "
            f"{FIELD_LIMIT // 2**20} MiB: is a quote left open?"
        ) from None
    finally:
        csv.field_size_limit(old_limit)


def _read_table_rows(path: Path, fmt: str) -> list[tuple[str, dict]]:
    import pandas as pd

    try:
        if fmt == "parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_json(path, lines=True, dtype=False, encoding="utf-8-sig")
    except (ValueError, OSError) as e:
        raise DataFileError(f"{path}: cannot read as {fmt} ({shorten(str(e), 200)}).") from None
    header = [str(c).strip() for c in df.columns]
    _check_header(path, header)
    unit = "row" if fmt == "parquet" else "line"
    rows = []
    for i, rec in enumerate(df.astype(object).itertuples(index=False, name=None)):
        cells = {h: "" if _missing(v) else str(v).strip() for h, v in zip(header, rec, strict=True)}
        rows.append((f"{path}, {unit} {i + 1}", cells))
    return rows


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _check_header(path: Path, header: list[str]) -> None:
    missing = [c for c in ("id", "label") if c not in header]
    if missing:
        raise DataFileError(
            f"{path}: missing column(s) {missing}; a label file needs a header with "
            f"'id' and 'label' (it has {shorten(header, 200)})."
        )


def _read_label_rows(
    path: Path,
    annotator: str | None = None,
    *,
    fmt: str | None = None,
    objects: set[str] | None = None,
) -> list[_Row]:
    """Every row of a label file, checked: ids, labels, annotators and durations.

    ``objects``: the classes of an object task (:mod:`labelwise.io._objects`), whose
    labels are JSON objects checked and stored in their canonical form.
    """
    if not path.exists():
        raise DataFileError(f"{path} not found.")
    if path.is_dir():
        raise DataFileError(f"{path} is a folder; give a label file (CSV, JSONL or Parquet).")
    fmt = fmt or TABLE_FORMATS.get(path.suffix.lower(), "csv")
    raw = _read_csv_rows(path) if fmt == "csv" else _read_table_rows(path, fmt)
    if annotator is not None:
        _check_name(annotator, "the --annotator name", "labels import")
    rows = []
    for where, r in raw:
        uid = check_id(r.get("id") or "", where=where, error=DataFileError)
        value = r.get("label") or ""
        if not value:
            raise DataFileError(f"{where}: the label of {shorten(uid)} is empty.")
        labeled_objects = None
        if objects is not None:
            doc = check_label(value, where=f"{where} ({shorten(uid)})", classes=objects)
            value, labeled_objects = dumps_label(doc), object_classes(doc)
        else:
            _check_name(value, f"the label of {shorten(uid)}", where)
        who = r.get("annotator") or annotator or None
        if who is not None:
            _check_name(who, "the annotator", where)
        dur = r.get("duration") or None
        if dur is not None:
            try:
                dur = float(dur)
                if not (math.isfinite(dur) and dur >= 0):
                    raise ValueError
            except ValueError:
                raise DataFileError(
                    f"{where}: duration {shorten(r.get('duration'))} must be a number of "
                    "seconds >= 0."
                ) from None
        row = _Row(where, uid, value, who, dur, classes=labeled_objects)
        if r.get("_typed_id"):
            row.typed_uid = check_id(r["_typed_id"], where=where, error=DataFileError)
        if r.get("_typed_label") and objects is None:
            row.typed_value = r["_typed_label"]
            _check_name(row.typed_value, f"the label of {shorten(uid)}", where)
        rows.append(row)
    return rows


def _prefer_what_exists(project: Project, rows: list[_Row], classes: set[str]) -> None:
    """Read ``'=x`` as typed when the project has ``'=x`` and no ``=x``.

    Escaped cells (:func:`~labelwise.io._formats.unescape_cell`) read back as stored;
    a person who typed an id or class that really starts with ``'`` still gets it.
    """
    for r in rows:
        if r.typed_value is not None and r.value not in classes and r.typed_value in classes:
            r.value = r.typed_value
    typed = [r for r in rows if r.typed_uid is not None]
    if not typed:
        return
    with project.session() as s:
        known = ids_of(s, [r.uid for r in typed] + [r.typed_uid for r in typed])
    for r in typed:
        if r.uid not in known and r.typed_uid in known:
            r.uid = r.typed_uid


def _check_name(value: str, what: str, where: str) -> None:
    why = text_problem(value, max_length=MAX_NAME_LENGTH)
    if why:
        raise DataFileError(f"{where}: {what} {shorten(value)} {why}.")


def _match_by_image(project: Project, recs) -> None:
    """Give a record whose id is not a sample's the id of the sample with its image file.

    A Label Studio task without ``labelwise_id``, or a COCO ``file_name`` written relative
    to another folder, still finds the sample imported from the same image.
    """
    with project.session() as s:
        known = ids_of(s, [r.uid for r in recs])
        by_path = {str(r.path.resolve()): r for r in recs if r.uid not in known and r.path}
        uris = list(by_path)
        for start in range(0, len(uris), _CHUNK):
            chunk = uris[start : start + _CHUNK]
            for uri, uid in s.execute(select(Sample.uri, Sample.uid).where(Sample.uri.in_(chunk))):
                by_path[uri].uid = uid


def _annotation_rows(project: Project, path: Path, fmt: str, annotator: str | None):
    """The labeled records of a COCO, YOLO or Label Studio file as label rows."""
    from labelwise.io._annotations import label_classes, label_value, read_annotations

    if annotator is not None:
        _check_name(annotator, "the --annotator name", "labels import")
    recs = [r for r in read_annotations(project, path, fmt) if r.label is not None]
    _match_by_image(project, recs)
    rows = []
    for rec in recs:
        objs = None if isinstance(rec.label, str) else label_classes(rec)
        rows.append(_Row(rec.where, rec.uid, label_value(rec), annotator, None, classes=objs))
    return rows


def import_labels(
    project: Project,
    path: str | Path,
    *,
    annotator: str | None = None,
    fmt: str | None = None,
):
    """Import ``id,label[,annotator][,duration]`` rows; all or nothing.

    ``fmt``: ``csv``, ``jsonl``, ``parquet`` (default: by the file's extension), or
    ``coco``, ``yolo``, ``label-studio`` (see :mod:`labelwise.io._annotations`). The
    label of a detection or segmentation project is its objects' JSON
    (:mod:`labelwise.io._objects`), checked and stored in canonical form.
    """
    from labelwise.io._annotations import ANNOTATION_FORMATS

    path = Path(path)
    classes = set(project.classes())
    if fmt in ANNOTATION_FORMATS:
        rows = _annotation_rows(project, path, fmt, annotator)
    else:
        if fmt not in (None, *set(TABLE_FORMATS.values())):
            raise DataFileError(
                f"--format must be csv, jsonl, parquet, {', '.join(ANNOTATION_FORMATS)}; got "
                f"{shorten(fmt)}."
            )
        objects = classes if is_object_task(project.task) else None
        rows = _read_label_rows(path, annotator, fmt=fmt, objects=objects)
    _prefer_what_exists(project, rows, classes)
    check_label_rows(rows, classes)
    with transaction(project.session) as s:
        result = write_labels(s, rows, str(path))
        s.add(
            Event(
                kind="labels.import",
                payload={
                    "source": str(path),
                    "new": result.new,
                    "changed": result.changed,
                    "unchanged": result.unchanged,
                },
            )
        )
    return result


def check_label_rows(rows: list[_Row], classes) -> None:
    """Refuse a label that is not a class of the project, or two labels for one sample.

    Every way labels enter a project (label files, ``feedback``) checks its rows here,
    before its transaction, naming the row at fault.
    """
    seen: dict[str, tuple[str, str]] = {}
    for r in rows:
        uid, value = r.uid, r.value
        if r.classes is None and classes and value not in classes:
            raise DataFileError(
                f"{r.where}: label {shorten(value)} is not a class of the project "
                f"({shorten(', '.join(sorted(classes)), 300)}); add the class or fix the file."
            )
        if uid in seen and seen[uid][1] != value:
            raise DataFileError(
                f"{r.where}: sample {shorten(uid)} gets label {shorten(value)} here but "
                f"{shorten(seen[uid][1])} at {seen[uid][0].rsplit(', ', 1)[-1]}; keep one."
            )
        seen[uid] = (r.where, value)


def write_labels(s, rows: list[_Row], source: str) -> LabelImport:
    """Store checked label rows (:func:`check_label_rows`) inside the caller's transaction.

    A row whose label equals the sample's current one changes nothing; a different one
    supersedes it. Labels are accepted, from ``source``. An id the project does not
    know is refused, naming its row; nothing is written then.
    """
    first_at: dict[str, str] = {}
    for r in rows:
        first_at.setdefault(r.uid, r.where)
    new = changed = unchanged = 0
    uids = list(first_at)
    ids = ids_of(s, uids)
    unknown = [u for u in uids if u not in ids]
    if unknown:
        raise DataFileError(
            f"{first_at[unknown[0]]}: no sample with id {shorten(unknown[0])} in the "
            f"project ({len(unknown)} unknown id(s)); nothing was imported."
        )
    # Lock the samples (in id order, so two imports cannot deadlock) before reading
    # their labels: an import that shares samples with this one waits until this one
    # commits, then sees its labels. PostgreSQL: FOR NO KEY UPDATE; SQLite: the
    # transaction already holds the write lock.
    sids = sorted(set(ids.values()))
    current = {}
    for start in range(0, len(sids), _CHUNK):
        chunk = sids[start : start + _CHUNK]
        s.execute(
            select(Sample.id)
            .where(Sample.id.in_(chunk))
            .order_by(Sample.id)
            .with_for_update(key_share=True)
        ).all()
    for start in range(0, len(sids), _CHUNK):
        chunk = sids[start : start + _CHUNK]
        current.update(
            s.execute(
                select(Label.sample_id, Label.value)
                .where(Label.status == "accepted", Label.sample_id.in_(chunk))
                .order_by(Label.id)
            ).all()
        )
    supersede: list[int] = []
    inserts: list[dict] = []
    stamp = now()
    for r in rows:
        value = r.value
        sid = ids[r.uid]
        if sid in current and current[sid] == value:
            unchanged += 1
            continue
        if sid in current:
            supersede.append(sid)
            changed += 1
        else:
            new += 1
        inserts.append(
            {
                "sample_id": sid,
                "value": value,
                "status": "accepted",
                "source": source,
                "annotator": r.annotator,
                "duration": r.duration,
                "comment": r.comment,
                "created_at": stamp,
            }
        )
        current[sid] = value
    # set-based writes: supersede first (one accepted label per sample), then insert
    for start in range(0, len(supersede), _CHUNK):
        s.execute(
            update(Label)
            .where(
                Label.sample_id.in_(supersede[start : start + _CHUNK]),
                Label.status == "accepted",
            )
            .values(status="superseded")
        )
    if inserts:
        by_value = {r.value: r.classes for r in rows if r.classes is not None}
        names = (c for r in inserts for c in by_value.get(r["value"], [r["value"]]))
        adopt_classes(s, names, source)
        s.execute(insert(Label), inserts)
    return LabelImport(new, changed, unchanged)


def export_labels(project: Project, path: str | Path, *, fmt: str | None = None) -> int:
    """Write every sample's current label: ``id,label,annotator,created_at`` rows.

    Without ``fmt`` the format follows the extension: ``.csv`` (cells escaped against
    spreadsheet formulas, see :mod:`labelwise.io._formats`), ``.jsonl``/``.ndjson`` or
    ``.parquet``/``.pq``; any other extension is refused before anything is read.
    ``fmt`` ``coco``, ``yolo``, ``label-studio`` or ``image-folder`` writes that format
    (:func:`labelwise.io._annotations.export_annotations`); ``csv``, ``jsonl`` or
    ``parquet`` needs a matching extension.
    """
    from labelwise._validation import check_writable
    from labelwise.io._annotations import EXPORT_FORMATS, export_annotations

    path = Path(path)
    if fmt is not None and fmt not in EXPORT_FORMATS:
        raise DataFileError(
            f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {shorten(fmt)}."
        )
    if fmt is not None and fmt not in TABLE_FORMATS.values():
        return export_annotations(project, path, fmt)
    suffixes = tuple(k for k, v in TABLE_FORMATS.items() if fmt in (None, v))
    check_writable(path, flag="the label file", suffixes=suffixes)
    with project.session() as s:
        rows = s.execute(
            select(Sample.uid, Label.value, Label.annotator, Label.created_at)
            .join(Label, Label.sample_id == Sample.id)
            .where(Label.status == "accepted")
            .order_by(Sample.id)
        ).all()
    data = table_bytes(
        EXPORT_COLUMNS,
        [(uid, value, who, when.isoformat() if when else None) for uid, value, who, when in rows],
        path,
    )
    atomic_write(path, data)
    return len(rows)
