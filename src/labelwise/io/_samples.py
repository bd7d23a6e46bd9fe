"""Import a pool into a project: CSV, Parquet, JSONL or a folder of images.

One import is one transaction: a bad row anywhere (a duplicate id, an id that
is already in the project, an unknown class, NaN in a numeric column) stops it
with the file and line named, and nothing is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import func, insert, select

from labelwise.errors import DataFileError
from labelwise.store import Project, advisory_lock, transaction
from labelwise.store._models import Event, Label, Sample
from labelwise.store._project import adopt_classes, check_unique

__all__ = ["ImportResult", "import_pool", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
_CHUNK = 20_000


@dataclass
class ImportResult:
    """What an import added."""

    n_samples: int
    n_labels: int
    ids_assigned: bool
    first_ids: list[str]
    kind: str  # "table", "text" or "images"


def _read_table(path: Path):
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True)
    except ImportError as e:
        raise DataFileError(f"{path}: reading it needs {e.name}; pip install pyarrow.") from None
    except ValueError as e:
        raise DataFileError(f"{path}: cannot read ({e}).") from None
    raise DataFileError(
        f"{path}: unknown file type {suffix!r}; import a CSV, Parquet or JSONL file, or a "
        "folder of images."
    )


def _image_records(folder: Path, classes: list[str]):
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataFileError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found.")
    recs = []
    for p in files:
        rel = p.relative_to(folder)
        label = rel.parts[0] if len(rel.parts) > 1 else None
        recs.append({"uid": rel.as_posix(), "uri": str(p.resolve()), "label": label})
    return recs


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
    if src.is_dir():
        recs = _image_records(src, classes)
        kind = "images"
        assigned = False
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
    uids = [r["uid"] for r in recs]
    check_unique(uids, "id", str(src))
    if on_total:
        on_total(len(recs))
    n_labels = 0
    with transaction(project.session) as s:
        advisory_lock(s, "import")  # PostgreSQL: one pool import at a time, like SQLite
        batch_no = (s.scalar(select(func.max(Sample.import_id))) or 0) + 1
        existing = set()
        for start in range(0, len(uids), 5000):
            chunk = uids[start : start + 5000]
            existing.update(s.scalars(select(Sample.uid).where(Sample.uid.in_(chunk))))
        if existing:
            first = next(i for i, u in enumerate(uids) if u in existing)
            line = first + (1 if kind == "images" else 2)
            raise DataFileError(
                f"{src}, {'item' if kind == 'images' else 'line'} {line}: sample id "
                f"{uids[first]!r} is already in the project ({len(existing)} such id(s)); "
                "nothing was imported."
            )
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
                    "split": "pool",
                    "import_id": batch_no,
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
            adopt_classes(s, (lab["value"] for lab in labels), str(src))
            s.execute(insert(Label), labels)
            n_labels = len(labels)
        s.add(
            Event(
                kind="samples.import",
                payload={
                    "source": str(src),
                    "n": len(rows),
                    "labels": n_labels,
                    "import_id": batch_no,
                },
            )
        )
    return ImportResult(len(recs), n_labels, assigned, uids[:3], kind)


def _now():
    from labelwise.store._models import now

    return now()


def _table_records(src: Path, id_column, text_column, target, classes, ignore_columns=()):
    import pandas as pd

    df = _read_table(src)
    cols = [str(c) for c in df.columns]
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
                f"{src}: {flag} {col!r} is not a column; the columns are: {', '.join(cols)}."
                + did_you_mean(col, cols)
            )
    if id_column is not None:
        ids = df[id_column]
        if ids.isna().any():
            line = int(np.flatnonzero(ids.isna().to_numpy())[0]) + 2
            raise DataFileError(f"{src}, line {line}: the id in {id_column!r} is empty.")
        uids = [str(v) for v in ids.tolist()]
        assigned = False
    else:
        uids = [f"{src.stem}-{i + 1}" for i in range(df.shape[0])]
        assigned = True
    y = None
    if target is not None:
        y = df[target]
        if classes:
            bad = [
                (i, v) for i, v in enumerate(y.tolist()) if not pd.isna(v) and str(v) not in classes
            ]
            if bad:
                i, v = bad[0]
                raise DataFileError(
                    f"{src}, line {i + 2}: label {v!r} in {target!r} is not a class of the "
                    f"project ({', '.join(classes)}); add it or fix the file."
                )
    dropped = [c for c in (id_column, text_column, target) if c is not None]
    dropped += [c for c in ignore_columns if c in df.columns and c not in dropped]
    rest = df.drop(columns=dropped)
    kind = "text" if text_column is not None else "table"
    if kind == "table":
        non_numeric = [str(c) for c in rest.columns if not pd.api.types.is_numeric_dtype(rest[c])]
        if non_numeric:
            raise DataFileError(
                f"{src}: column(s) {non_numeric[:5]} are not numeric; give --text-column for "
                "text, or drop/encode them."
            )
        values = rest.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            r, c = (int(v) for v in np.argwhere(bad)[0])
            raise DataFileError(
                f"{src}, line {r + 2}: column {str(rest.columns[c])!r} is empty, NaN or inf; "
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
                raise DataFileError(f"{src}, line {i + 2}: the text in {text_column!r} is empty.")
        data = [None] * len(uids)
        meta = (
            rest.astype(object).where(rest.notna(), None).to_dict("records")
            if rest.shape[1]
            else [None] * len(uids)
        )
    recs = []
    for i, uid in enumerate(uids):
        label = None if y is None or pd.isna(y.iloc[i]) else str(y.iloc[i])
        recs.append(
            {"uid": uid, "text": texts[i], "data": data[i], "meta": meta[i], "label": label}
        )
    return recs, kind, assigned
