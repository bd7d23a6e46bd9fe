"""Labels in and out of a project as CSV (``id,label`` plus optional columns).

An import is atomic (every row or none) and idempotent: a row whose label
equals the sample's current label changes nothing, so importing the same file
twice adds nothing the second time. A changed label supersedes the old one,
which stays in the history.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select, update

from labelwise.errors import DataFileError
from labelwise.store import Project, atomic_write, transaction
from labelwise.store._models import Event, Label, Sample, now
from labelwise.store._project import CHUNK as _CHUNK
from labelwise.store._project import adopt_classes, ids_of

__all__ = ["LabelImport", "import_labels", "export_labels"]


@dataclass
class LabelImport:
    """Counts of one label import."""

    new: int
    changed: int
    unchanged: int


def _read_label_rows(path: Path) -> list[dict]:
    if not path.exists():
        raise DataFileError(f"{path} not found.")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            missing = [c for c in ("id", "label") if c not in fields]
            if missing:
                raise DataFileError(
                    f"{path}: missing column(s) {missing}; a label file needs a header with "
                    f"'id' and 'label' (it has {fields})."
                )
            return list(reader)
    except UnicodeDecodeError:
        raise DataFileError(f"{path}: not UTF-8 text; save it as UTF-8 CSV.") from None


def import_labels(project: Project, path: str | Path, *, annotator: str | None = None):
    """Import ``id,label[,annotator][,duration]`` rows; all or nothing."""
    path = Path(path)
    rows = _read_label_rows(path)
    classes = set(project.classes())
    seen: dict[str, tuple[int, str]] = {}
    for i, r in enumerate(rows):
        line = i + 2
        uid, value = (r.get("id") or "").strip(), (r.get("label") or "").strip()
        if not uid:
            raise DataFileError(f"{path}, line {line}: the id is empty.")
        if not value:
            raise DataFileError(f"{path}, line {line}: the label of {uid!r} is empty.")
        if classes and value not in classes:
            raise DataFileError(
                f"{path}, line {line}: label {value!r} is not a class of the project "
                f"({', '.join(sorted(classes))}); add the class or fix the file."
            )
        if uid in seen and seen[uid][1] != value:
            raise DataFileError(
                f"{path}, line {line}: sample {uid!r} gets label {value!r} here but "
                f"{seen[uid][1]!r} on line {seen[uid][0]}; keep one."
            )
        dur = r.get("duration")
        if dur not in (None, ""):
            try:
                if float(dur) < 0:
                    raise ValueError
            except ValueError:
                raise DataFileError(
                    f"{path}, line {line}: duration {dur!r} must be a number of seconds >= 0."
                ) from None
        seen[uid] = (line, value)
    new = changed = unchanged = 0
    with transaction(project.session) as s:
        uids = list(seen)
        ids = ids_of(s, uids)
        unknown = [u for u in uids if u not in ids]
        if unknown:
            raise DataFileError(
                f"{path}, line {seen[unknown[0]][0]}: no sample with id {unknown[0]!r} in the "
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
            uid = r["id"].strip()
            value = r["label"].strip()
            sid = ids[uid]
            if sid in current and current[sid] == value:
                unchanged += 1
                continue
            if sid in current:
                supersede.append(sid)
                changed += 1
            else:
                new += 1
            dur = r.get("duration")
            inserts.append(
                {
                    "sample_id": sid,
                    "value": value,
                    "status": "accepted",
                    "source": str(path),
                    "annotator": r.get("annotator") or annotator or None,
                    "duration": float(dur) if dur not in (None, "") else None,
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
            adopt_classes(s, (r["value"] for r in inserts), str(path))
            s.execute(insert(Label), inserts)
        s.add(
            Event(
                kind="labels.import",
                payload={
                    "source": str(path),
                    "new": new,
                    "changed": changed,
                    "unchanged": unchanged,
                },
            )
        )
    return LabelImport(new, changed, unchanged)


def export_labels(project: Project, path: str | Path) -> int:
    """Write every sample's current label as CSV ``id,label,annotator,created_at``."""
    with project.session() as s:
        rows = s.execute(
            select(Sample.uid, Label.value, Label.annotator, Label.created_at)
            .join(Label, Label.sample_id == Sample.id)
            .where(Label.status == "accepted")
            .order_by(Sample.id)
        ).all()
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "label", "annotator", "created_at"])
    for uid, value, who, when in rows:
        w.writerow([uid, value, who or "", when.isoformat() if when else ""])
    atomic_write(Path(path), buf.getvalue().encode())
    return len(rows)
