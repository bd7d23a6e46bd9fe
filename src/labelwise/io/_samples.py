"""Import a pool into a project: CSV, Parquet, JSONL or a folder of images.

One import is one transaction: a bad row anywhere (a duplicate id, an id that
is already in the project, an unknown class, NaN in a numeric column, a NUL
byte, an id longer than 512 characters, columns that differ from the samples
already in the project) stops it with the file and line named, and nothing is
written. Ids follow the one id rule (:func:`labelwise._validation.normalize_id`).

Images over :data:`MAX_IMAGE_PIXELS` are not imported: they are skipped and
named (:attr:`ImportResult.skipped`), since decoding one would take gigabytes.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import func, insert, select

from labelwise._validation import MAX_NAME_LENGTH, check_id, text_problem
from labelwise.errors import DataFileError, shorten
from labelwise.store import Project, advisory_lock, transaction
from labelwise.store._models import Event, Label, Sample
from labelwise.store._project import adopt_classes

__all__ = [
    "ImportResult",
    "import_pool",
    "store_samples",
    "add_samples",
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
#: Images with more pixels (width x height) are skipped at import and named: a
#: 60000 x 60000 PNG is a few hundred KB on disk and 3.6 billion pixels decoded.
#: Pillow's own guard (twice ``PIL.Image.MAX_IMAGE_PIXELS``) also counts as over.
MAX_IMAGE_PIXELS = 100_000_000
_CHUNK = 20_000


@dataclass
class ImportResult:
    """What an import added."""

    n_samples: int
    n_labels: int
    ids_assigned: bool
    first_ids: list[str]
    kind: str  # "table", "text", "images" or "frames" (decoded from videos)
    skipped: list[str] = field(default_factory=list)  # images over MAX_IMAGE_PIXELS
    n_videos: int = 0  # videos decoded (kind "frames")
    n_duplicates: int = 0  # near-duplicate frames among n_samples: stored, never selected


def _read_table(path: Path, id_column: str | None = None):
    """The file as a DataFrame; the id column of a CSV stays text (``007`` is not ``7``)."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".csv" and _pandas_drops_nul():
        _refuse_nul_bytes(path)
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype={id_column: str} if id_column else None)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".ndjson"):
            # utf-8-sig: a byte-order mark is read as in a CSV file, not refused
            return pd.read_json(path, lines=True, encoding="utf-8-sig")
    except ImportError as e:
        raise DataFileError(f"{path}: reading it needs {e.name}; pip install pyarrow.") from None
    except (ValueError, OSError) as e:
        raise DataFileError(f"{path}: cannot read ({shorten(str(e), 300)}).") from None
    raise DataFileError(
        f"{path}: unknown file type {suffix!r}; import a CSV, Parquet or JSONL file, or a "
        "folder of images."
    )


@functools.cache
def _pandas_drops_nul() -> bool:
    """Whether this pandas drops NUL bytes while parsing a CSV (before 3.1 it does).

    There ``q4`` + NUL would be read as ``q4`` and imported silently, so the raw bytes
    are checked first; later versions keep the NUL for the per-cell checks, whose
    messages name the column.
    """
    import pandas as pd

    major, minor = (int(x) for x in pd.__version__.split(".")[:2])
    return (major, minor) < (3, 1)


def check_unique(uids: list[str], where: Callable[[int], str]) -> None:
    """Refuse the first repeated id, naming both places (``where(i)``: file and line of row i)."""
    first_at: dict[str, int] = {}
    for i, u in enumerate(uids):
        if u in first_at:
            raise DataFileError(
                f"{where(i)}: duplicate id {shorten(u)} (first at "
                f"{where(first_at[u]).rsplit(', ', 1)[-1]}); ids must be unique."
            )
        first_at[u] = i


def _refuse_nul_bytes(path: Path, *, chunk: int = 1 << 20) -> None:
    """Refuse a CSV holding a NUL byte anywhere, naming its line."""
    line = 1
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            at = block.find(b"\x00")
            if at >= 0:
                line += block.count(b"\n", 0, at)
                raise DataFileError(f"{path}, line {line}: holds a NUL byte (\\x00); remove it.")
            line += block.count(b"\n")


def _too_large(path: Path) -> bool:
    """Whether an image is over :data:`MAX_IMAGE_PIXELS` (reads its header only)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
    except Image.DecompressionBombError:
        return True
    except (OSError, ValueError, SyntaxError):
        return False  # unreadable: embed names it, as before
    return width * height > MAX_IMAGE_PIXELS


def _image_records(folder: Path, classes: list[str]):
    """(records, skipped): one record per image; names of the images over the pixel limit."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataFileError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found.")
    recs, skipped = [], []
    for n, p in enumerate(files, 1):
        rel = p.relative_to(folder)
        if _too_large(p):
            skipped.append(rel.as_posix())
            continue
        uid = check_id(rel.as_posix(), where=f"{folder}, item {n}", error=DataFileError)
        label = rel.parts[0] if len(rel.parts) > 1 else None
        recs.append({"uid": uid, "uri": str(p.resolve()), "label": label})
    if not recs:
        raise DataFileError(
            f"{folder}: every image is over {MAX_IMAGE_PIXELS:,} pixels "
            f"({shorten(', '.join(skipped), 200)}); nothing to import."
        )
    return recs, skipped


_FRAME = re.compile(r"^(?:.*[_-])?frame[_-]?(\d+)$", re.IGNORECASE)


def _frame_meta(uid: str) -> dict:
    """Video frames extracted as ``<video folder>/frame_000123.jpg``: which video, which frame.

    The web app shows such a frame with its neighbouring frames for context.
    """
    m = _FRAME.match(Path(uid).stem)
    if not m:
        return {}
    return {"video": str(Path(uid).parent), "frame": int(m.group(1))}


def import_pool(
    project: Project,
    source: str | Path,
    *,
    id_column: str | None = None,
    text_column: str | None = None,
    target: str | None = None,
    ignore_columns: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> ImportResult:
    """Add the samples of a file or image folder to the project's pool.

    Parameters
    ----------
    project : Project
    source : path
        CSV, Parquet or JSONL file, or a folder of images (class sub-folders become
        labels when their names are classes of the project).
    id_column : str, optional
        Column with stable sample ids; without it ids ``<file stem>-<row>`` are assigned.
    text_column : str, optional
        Column holding the text of a text sample; the other columns go to metadata.
    target : str, optional
        Column holding known labels (imported as accepted labels from "import").
    ignore_columns : sequence of str
        Columns left out entirely (e.g. hidden labels kept for a simulated oracle).
    """
    src = Path(source)
    if not src.exists():
        raise DataFileError(f"{src} not found.")
    classes = project.classes()
    skipped: list[str] = []
    if src.is_dir():
        recs, skipped = _image_records(src, classes)
        kind = "images"
        assigned = False
        where = _locator(src, "images")
        unknown = sorted({r["label"] for r in recs if r["label"] and r["label"] not in classes})
        if unknown and classes:
            # sub-folders that are not classes are just folders, unless none match
            # (video frames live in one sub-folder per video: those are not classes)
            frames = all(_frame_meta(r["uid"]) for r in recs)
            if not frames and not any(r["label"] in classes for r in recs):
                raise DataFileError(
                    f"{src}: sub-folders {unknown[:5]} are not classes of the project "
                    f"({classes}); add the classes or rename the folders."
                )
        for r in recs:
            if r["label"] not in classes:
                r["label"] = None
            r["meta"] = {"folder": str(Path(r["uid"]).parent), **_frame_meta(r["uid"])}
    else:
        recs, kind, assigned = _table_records(
            src, id_column, text_column, target, classes, ignore_columns
        )
        where = _locator(src, src.suffix.lower())
    n_labels = store_samples(project, src, kind, recs, where, progress=progress, on_total=on_total)
    return ImportResult(len(recs), n_labels, assigned, [r["uid"] for r in recs[:3]], kind, skipped)


def store_samples(
    project: Project,
    src: Path,
    kind: str,
    recs: list[dict],
    where: Callable[[int], str],
    *,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    before_commit: Callable[[], None] | None = None,
) -> int:
    """Insert checked records in one transaction; returns the number of labels stored.

    The records and checks are those of :func:`add_samples`; this opens the transaction
    and logs the import (a ``samples.import`` event). ``before_commit`` runs last inside
    the transaction (e.g. moving staged files into place); if it raises, nothing is stored.
    """
    with transaction(project.session) as s:
        added = add_samples(s, src, kind, recs, where, progress=progress, on_total=on_total)
        s.add(
            Event(
                kind="samples.import",
                payload={
                    "source": str(src),
                    "n": len(recs),
                    "labels": added.n_labels,
                    "import_id": added.import_id,
                },
            )
        )
        if before_commit is not None:
            before_commit()
    return added.n_labels


@dataclass
class AddedSamples:
    """What :func:`add_samples` stored: database ids (in record order), labels, batch."""

    sample_ids: list[int]
    n_labels: int
    import_id: int


def record_kind(rec: dict) -> str:
    """The kind of sample a record is, as :func:`add_samples` names it: by what it carries."""
    for key, kind in (("data", "table"), ("text", "text"), ("uri", "images")):
        if rec.get(key) is not None:
            return kind
    raise DataFileError(f"sample {shorten(rec.get('uid'))} has neither data, text nor a file.")


def add_samples(
    s,
    src: str | Path,
    kind: str,
    recs: list[dict],
    where: Callable[[int], str],
    *,
    import_id: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> AddedSamples:
    """Check and insert sample records inside the caller's transaction ``s``.

    The one way samples enter a project (``import``, ``monitor --enqueue``, ``stream``,
    ``feedback``): the caller owns the transaction, so it can store more with them (a
    round's picks, labels, queue items) all or nothing.

    A record has ``uid``, one of ``uri`` / ``text`` / ``data``, and optionally ``meta``,
    ``label`` (with ``label_classes``, the classes it uses, when it is not a class
    name itself) and ``split`` (default ``"pool"``; a near-duplicate video frame is
    ``"duplicate"`` and never a candidate). Refuses ids repeated in ``recs`` or already
    in the project, samples unlike the project's and a NUL byte in metadata, naming
    ``where(i)``; nothing is written then. ``import_id``: the import batch the samples
    join (default: a new one). Labels from a record are accepted, annotator ``import``,
    source ``src``.
    """
    uids = [r["uid"] for r in recs]
    check_unique(uids, where)
    _check_meta(recs, where)
    advisory_lock(s, "import")  # PostgreSQL: one pool import at a time, like SQLite
    if import_id is None:
        import_id = (s.scalar(select(func.max(Sample.import_id))) or 0) + 1
    _check_like_project(s, src, kind, recs)
    existing = set()
    for start in range(0, len(uids), 5000):
        chunk = uids[start : start + 5000]
        existing.update(s.scalars(select(Sample.uid).where(Sample.uid.in_(chunk))))
    if existing:
        first = next(i for i, u in enumerate(uids) if u in existing)
        raise DataFileError(
            f"{where(first)}: sample id {shorten(uids[first])} is already in the project "
            f"({len(existing)} such id(s)); nothing was imported. Import only new samples; "
            "labels for samples already imported go in with 'labelwise labels PROJECT "
            "import FILE' (--format coco, yolo or label-studio for annotation files)."
        )
    if on_total:  # every check passed: the progress bar starts (errors print alone)
        on_total(len(recs))
    # the database numbers the samples (a sequence on PostgreSQL, so explicit ids
    # would leave it behind); labels refer to them by position in the file
    rows, labels = [], []
    for i, r in enumerate(recs):
        rows.append(
            {
                "uid": r["uid"],
                "uri": r.get("uri"),
                "text": r.get("text"),
                "data": r.get("data"),
                "meta": r.get("meta"),
                "split": r.get("split", "pool"),
                "import_id": import_id,
                "created_at": _now(),
            }
        )
        if r.get("label") is not None:
            labels.append(
                {
                    "sample_id": i,  # the position until the id is known
                    "value": str(r["label"]),
                    "annotator": "import",
                    "status": "accepted",
                    "source": str(src),
                    "created_at": _now(),
                }
            )
    sids: list[int] = []
    returning = insert(Sample).returning(Sample.id, sort_by_parameter_order=True)
    for start in range(0, len(rows), _CHUNK):
        sids.extend(s.scalars(returning, rows[start : start + _CHUNK]))
        if progress:
            progress(len(rows[start : start + _CHUNK]))
    for lab in labels:
        lab["sample_id"] = sids[lab["sample_id"]]
    if labels:
        # an object label (io/_objects.py) names its classes in ``label_classes``
        names = (c for r in recs if r.get("label") is not None for c in _classes_of(r))
        adopt_classes(s, names, str(src))
        s.execute(insert(Label), labels)
    return AddedSamples(sids, len(labels), import_id)


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(str(k)) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(v) for v in value)
    return False


def _check_meta(recs: list[dict], where: Callable[[int], str]) -> None:
    """Refuse a NUL byte anywhere in a record's metadata (PostgreSQL cannot store it)."""
    for i, r in enumerate(recs):
        for key, value in (r.get("meta") or {}).items():
            if not (_holds_nul(str(key)) or _holds_nul(value)):
                continue
            raise DataFileError(
                f"{where(i)}: column {shorten(str(key))} holds a NUL byte (\\x00); remove it."
            )


def _classes_of(rec: dict) -> list[str]:
    """The classes a record's label uses: its ``label_classes``, or the label itself."""
    return rec["label_classes"] if "label_classes" in rec else [str(rec["label"])]


def _locator(src: Path, suffix: str) -> Callable[[int], str]:
    """Row index -> "FILE, line N" (CSV: after the header; JSONL: from 1; else row/item N)."""
    if suffix == ".csv":
        return lambda i: f"{src}, line {i + 2}"
    if suffix in (".jsonl", ".ndjson"):
        return lambda i: f"{src}, line {i + 1}"
    unit = "item" if suffix == "images" else "row"
    return lambda i: f"{src}, {unit} {i + 1}"


_KIND_HINT = {
    "text": "give --text-column with the column that holds the text",
    "table": "import a table with the same numeric columns",
    "images": "import a folder of images",
}


def _check_like_project(s, src: Path, kind: str, recs: list[dict]) -> None:
    """Refuse samples unlike those already in the project.

    Features are computed for the whole pool at once, so it holds one kind of sample
    (table rows, texts or images) and every table row has the same numeric columns.
    """
    first = s.execute(
        select(Sample.text, Sample.data, Sample.uri).order_by(Sample.id).limit(1)
    ).first()
    if first is None:
        return
    if first.text is not None:
        have = "text"
    elif first.data is not None:
        have = "table"
    elif first.uri is not None:
        have = "images"
    else:
        return
    if have != kind:
        raise DataFileError(
            f"{src}: the project holds {have} samples but this import gives {kind} samples; "
            f"{_KIND_HINT[have]}. Nothing was imported."
        )
    if kind == "table":
        old, new = list(first.data), list(recs[0]["data"])
        missing = [c for c in old if c not in new]
        extra = [c for c in new if c not in old]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing column(s) {shorten(missing, 300)}")
            if extra:
                parts.append(f"extra column(s) {shorten(extra, 300)}")
            raise DataFileError(
                f"{src}: {' and '.join(parts)} compared with the samples already in the "
                f"project ({shorten(old, 300)}); import files with the same columns into one "
                "project. Nothing was imported."
            )


def _now():
    from labelwise.store._models import now

    return now()


def _table_records(src: Path, id_column, text_column, target, classes, ignore_columns=()):
    import pandas as pd

    df = _read_table(src, id_column)
    cols = [str(c) for c in df.columns]
    where = _locator(src, src.suffix.lower())
    if df.shape[0] == 0:
        raise DataFileError(f"{src}: no rows to import.")
    for flag, col in (
        ("--id-column", id_column),
        ("--text-column", text_column),
        ("--target", target),
    ):
        if col is not None and col not in df.columns:
            from labelwise.errors import did_you_mean

            raise DataFileError(
                f"{src}: {flag} {shorten(col)} is not a column; the columns are: "
                f"{shorten(', '.join(cols), 300)}." + did_you_mean(col, cols)
            )
    for c in cols:
        why = text_problem(c)
        if why:
            raise DataFileError(f"{src}: the column name {shorten(c)} {why}.")
    if id_column is not None:
        ids = df[id_column]
        if ids.isna().any():
            i = int(np.flatnonzero(ids.isna().to_numpy())[0])
            raise DataFileError(f"{where(i)}: the id in {id_column!r} is empty.")
        uids = [
            check_id(v, where=where(i), error=DataFileError) for i, v in enumerate(ids.tolist())
        ]
        assigned = False
    else:
        uids = [f"{src.stem}-{i + 1}" for i in range(df.shape[0])]
        assigned = True
    y = None
    if target is not None:
        y = [None if pd.isna(v) else str(v).strip() or None for v in df[target].tolist()]
        for i, v in enumerate(y):
            if v is None:
                continue
            why = text_problem(v, max_length=MAX_NAME_LENGTH)
            if why:
                raise DataFileError(f"{where(i)}: the label in {target!r} {shorten(v)} {why}.")
            if classes and v not in classes:
                raise DataFileError(
                    f"{where(i)}: label {shorten(v)} in {target!r} is not a class of the "
                    f"project ({shorten(', '.join(classes), 300)}); add it or fix the file."
                )
    dropped = [c for c in (id_column, text_column, target) if c is not None]
    dropped += [c for c in ignore_columns if c in df.columns and c not in dropped]
    rest = df.drop(columns=dropped)
    kind = "text" if text_column is not None else "table"
    if kind == "table":
        non_numeric = [str(c) for c in rest.columns if not pd.api.types.is_numeric_dtype(rest[c])]
        if non_numeric:
            raise DataFileError(
                f"{src}: column(s) {shorten(non_numeric[:5], 300)} are not numeric; give "
                "--text-column for text, or drop/encode them."
            )
        values = rest.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            r, c = (int(v) for v in np.argwhere(bad)[0])
            raise DataFileError(
                f"{where(r)}: column {shorten(str(rest.columns[c]))} is empty, NaN or inf; "
                "impute or drop it."
            )
        names = [str(c) for c in rest.columns]
        data = [dict(zip(names, row, strict=True)) for row in values.tolist()]
        meta = [None] * len(uids)
        texts = [None] * len(uids)
    else:
        texts = df[text_column].tolist()
        for i, t in enumerate(texts):
            if not isinstance(t, str) or not t.strip():
                raise DataFileError(f"{where(i)}: the text in {text_column!r} is empty.")
            if "\x00" in t:
                raise DataFileError(f"{where(i)}: the text in {text_column!r} {text_problem(t)}.")
        data = [None] * len(uids)
        meta = (
            rest.astype(object).where(rest.notna(), None).to_dict("records")
            if rest.shape[1]
            else [None] * len(uids)
        )
    recs = []
    for i, uid in enumerate(uids):
        label = None if y is None else y[i]
        recs.append(
            {"uid": uid, "text": texts[i], "data": data[i], "meta": meta[i], "label": label}
        )
    return recs, kind, assigned
