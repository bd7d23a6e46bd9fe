"""``labelwise feedback``: production predictions that users rejected, back into the project.

A feedback file (CSV, JSONL or Parquet) has ``id``, ``predicted`` (what the deployed
model said) and optionally ``label`` (the correct class) and ``annotator``. A row
with a label counts as a label (source ``feedback:FILE``, the rejected prediction in
its comment; a different current label is superseded, the same one changes nothing).
A row without one puts the sample at the front of the labeling queue (priority 0,
its note says which prediction was rejected). An id the project does not know is
imported as a new sample when the row carries the sample's content (the table's
columns, ``text`` or ``path``), else refused with its line. Everything is checked
first, then written in one transaction: all rows or none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update

from labelwise._validation import MAX_NAME_LENGTH, check_id, text_problem
from labelwise.errors import DataFileError, shorten
from labelwise.loop._stream import parse_record, project_content
from labelwise.store import Project, advisory_lock, transaction
from labelwise.store._models import Assignment, Event, Label, now
from labelwise.store._project import ids_of

__all__ = ["FeedbackResult", "record_feedback"]

_KNOWN = ("id", "predicted", "label", "annotator")


@dataclass
class FeedbackResult:
    """Counts of one feedback file."""

    rows: int
    labels_new: int
    labels_changed: int
    labels_unchanged: int
    queued: int
    already_queued: int
    new_samples: int


@dataclass
class _Fb:
    where: str
    uid: str
    predicted: str
    label: str | None
    annotator: str | None
    record: dict | None  # the sample's content, when the row carries it


def _cell(v):
    if hasattr(v, "item") and not isinstance(v, str):
        v = v.item()  # a numpy scalar from pandas
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.strip() or None if isinstance(v, str) else v


def _read(path: Path, project: Project) -> list[_Fb]:
    from labelwise.io._samples import _locator, _read_table, check_unique

    if not path.exists() or path.is_dir():
        raise DataFileError(f"{path} not found; give a CSV, JSONL or Parquet file.")
    df = _read_table(path, "id")
    cols = [str(c) for c in df.columns]
    missing = [c for c in ("id", "predicted") if c not in cols]
    if missing:
        raise DataFileError(
            f"{path}: missing column(s) {missing}; a feedback file needs 'id' and 'predicted' "
            f"(optional: 'label', 'annotator', and the sample's content). It has {shorten(cols)}."
        )
    where = _locator(path, path.suffix.lower())
    fieldname, columns = project_content(project)
    content = [c for c in cols if c not in _KNOWN]
    classes = set(project.classes())
    rows: list[_Fb] = []
    for i, rec in enumerate(df.astype(object).to_dict("records")):
        w = where(i)
        if _cell(rec["id"]) is None:
            raise DataFileError(f"{w}: the id is empty.")
        uid = check_id(rec["id"], where=w, error=DataFileError)
        names = {}
        for key in ("predicted", "label", "annotator"):
            v = _cell(rec.get(key))
            if v is not None:
                v = str(v)
                why = text_problem(v, max_length=MAX_NAME_LENGTH)
                if why:
                    raise DataFileError(f"{w}: {key} {shorten(v)} {why}.")
            names[key] = v
        if names["predicted"] is None:
            raise DataFileError(f"{w}: 'predicted' is empty; give the rejected prediction.")
        if classes and names["predicted"] not in classes:
            raise DataFileError(
                f"{w}: predicted {shorten(names['predicted'])} is not a class of the project "
                f"({shorten(', '.join(sorted(classes)), 300)})."
            )
        if names["label"] is not None and names["label"] == names["predicted"]:
            raise DataFileError(
                f"{w}: label {shorten(names['label'])} equals the rejected prediction; give "
                "the correct label, or leave it empty to queue the sample for labeling."
            )
        record = None
        given = {c: _cell(rec[c]) for c in content if _cell(rec[c]) is not None}
        if given:
            record = {"id": uid, **given}
        rows.append(_Fb(w, uid, names["predicted"], names["label"], names["annotator"], record))
    check_unique([r.uid for r in rows], where)
    with project.session() as s:
        known = ids_of(s, [r.uid for r in rows])
    for r in rows:
        if r.uid in known:
            r.record = None
            continue
        if r.record is None:
            need = {"data": columns, "text": ["text"], "uri": ["path"]}[fieldname]
            raise DataFileError(
                f"{r.where}: no sample with id {shorten(r.uid)} in the project; fix the id, or "
                f"give the sample's content in column(s) {shorten(need, 300)} to import it."
            )
        rec = parse_record(r.record, r.where, fieldname, columns)
        rec["meta"] = {**(rec.get("meta") or {}), "source": "feedback", "file": path.name}
        r.record = rec
    return rows


def record_feedback(project: Project, path: str | Path) -> FeedbackResult:
    """Record a feedback file: labels, priority queue items and new samples, atomically.

    New samples go in through :func:`labelwise.io._samples.add_samples` and labels
    through :func:`labelwise.io._labels.write_labels`, the import's own checks and
    writes, all in one transaction with the queue items.
    """
    from labelwise.io._labels import _Row, check_label_rows, write_labels
    from labelwise.io._samples import add_samples, record_kind

    path = Path(path)
    rows = _read(path, project)
    source = f"feedback:{path.name}"
    labeled = [
        _Row(r.where, r.uid, r.label, r.annotator or "feedback", None, comment=_note(r))
        for r in rows
        if r.label is not None
    ]
    check_label_rows(labeled, set(project.classes()))
    fresh = [r for r in rows if r.record is not None]
    queued = already = unchanged = 0
    stamp = now()
    with transaction(project.session) as s:
        advisory_lock(s, "import")
        if fresh:
            recs = [r.record for r in fresh]
            add_samples(s, path, record_kind(recs[0]), recs, lambda i: fresh[i].where)
        labels = write_labels(s, labeled, source)
        waiting = [r for r in rows if r.label is None]
        sid = ids_of(s, [r.uid for r in waiting])
        current = set(
            s.scalars(
                select(Label.sample_id).where(
                    Label.status == "accepted", Label.sample_id.in_(list(sid.values()))
                )
            )
        )
        open_work = set(
            s.scalars(
                select(Assignment.sample_id).where(
                    Assignment.sample_id.in_(list(sid.values())),
                    Assignment.status.in_(("queued", "assigned")),
                )
            )
        )
        for r in waiting:
            i = sid[r.uid]
            if i in current:
                unchanged += 1  # labeled meanwhile: nothing to queue
            elif i in open_work:
                # already waiting: move its queued work to the front
                s.execute(
                    update(Assignment)
                    .where(Assignment.sample_id == i, Assignment.status == "queued")
                    .values(priority=0, note=_note(r))
                )
                already += 1
            else:
                s.add(
                    Assignment(
                        sample_id=i,
                        kind="label",
                        status="queued",
                        priority=0,
                        note=_note(r),
                        created_at=stamp,
                    )
                )
                queued += 1
        s.add(
            Event(
                kind="feedback.import",
                payload={
                    "source": str(path),
                    "rows": [
                        {"id": r.uid, "predicted": r.predicted, "label": r.label} for r in rows
                    ],
                    "new_samples": len(fresh),
                    "labels": labels.new + labels.changed,
                    "queued": queued + already,
                },
            )
        )
    return FeedbackResult(
        len(rows),
        labels.new,
        labels.changed,
        labels.unchanged + unchanged,
        queued,
        already,
        len(fresh),
    )


def _note(r: _Fb) -> str:
    return f"feedback: a user rejected the production prediction {r.predicted!r}"
