"""Review: accept or reject labels; a rejection sends the sample back to be labeled again.

Labels given in the web app wait for review (``pending``); suspected label issues
found by the model are ``flagged`` with the model's suggestion. A rejected label
stops being the sample's label and a *relabel* assignment, carrying the reviewer's
note, goes to the front of the queue: for someone else when another active annotator
can take it, else straight back to the person whose label was rejected. Only current
labels (accepted or overlap) wait for review: one withdrawn by undo or superseded by a
newer label leaves the queue.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from labelwise.annotate._prelabels import rejected_prelabel
from labelwise.annotate._queue import LAPSED, REVIEWABLE
from labelwise.errors import ConflictError, InvalidInputError, NotFoundError
from labelwise.io._objects import is_object_task, loads_label, object_classes
from labelwise.store import Project, transaction
from labelwise.store._models import Assignment, Event, Label, Sample, User, now

__all__ = ["decide", "flag_issues", "review_queue"]

_STATES = {"pending": ("pending",), "flagged": ("flagged",), "open": ("pending", "flagged")}


def review_queue(
    project: Project, *, state: str = "open", limit: int = 50, offset: int = 0
) -> dict:
    """Labels waiting for a reviewer, oldest first (flagged issues first)."""
    if state not in _STATES:
        raise InvalidInputError(f"state must be one of {sorted(_STATES)}, got {state!r}.")
    limit = max(1, min(int(limit), 500))
    with project.session() as s:
        where = Label.review_status.in_(_STATES[state]) & Label.status.in_(REVIEWABLE)
        total = s.scalar(select(func.count()).select_from(Label).where(where))
        rows = s.execute(
            select(Label, Sample.uid, Sample.text, Sample.uri, Sample.data)
            .join(Sample, Sample.id == Label.sample_id)
            .where(where)
            .order_by((Label.review_status != "flagged"), Label.id)
            .offset(max(0, int(offset)))
            .limit(limit)
        ).all()
    items = [
        {
            "label_id": lab.id,
            "sample_id": lab.sample_id,
            "uid": uid,
            "text": text,
            "has_media": bool(uri),
            "data": _first(data, 12),
            "value": lab.value,
            "status": lab.status,
            "annotator": lab.annotator,
            "unsure": lab.unsure,
            "comment": lab.comment,
            "review_status": lab.review_status,
            "issue": lab.issue,
            "created_at": lab.created_at,
        }
        for lab, uid, text, uri, data in rows
    ]
    if is_object_task(project.task):  # "2 cat, 1 dog": what the boxes drawn hold
        for it in items:
            it["summary"] = _object_summary(it["value"])
    # the task and classes let the review page draw an object label's boxes over its image
    out = {"total": total, "offset": offset, "limit": limit, "items": items}
    return {**out, "task": project.task, "classes": project.classes()}


def _object_summary(value: str) -> str:
    try:
        names = object_classes(loads_label(value))
    except (ValueError, KeyError, TypeError):
        return value[:80]
    if not names:
        return "no objects"
    counts = Counter(names)
    return ", ".join(f"{n} {c}" for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _first(data: dict | None, n: int) -> dict | None:
    """The first ``n`` columns of a tabular sample (enough to recognise it in a list)."""
    return None if not data else dict(list(data.items())[:n])


def decide(
    project: Project, reviewer: str, label_id: int, decision: str, note: str | None = None
) -> dict:
    """Accept or reject one label; a rejection re-queues the sample with the note."""
    if decision not in ("accept", "reject"):
        raise InvalidInputError(f"decision must be 'accept' or 'reject', got {decision!r}.")
    note = (note or "").strip() or None
    if note is not None and len(note) > 5000:
        raise InvalidInputError("the note is longer than 5000 characters; shorten it.")
    if decision == "reject" and not note:
        raise InvalidInputError("say why in a note: the next annotator sees it.")
    objects = is_object_task(project.task)
    with transaction(project.session) as s:
        lab = s.scalars(select(Label).where(Label.id == label_id).with_for_update()).first()
        if lab is None:
            raise NotFoundError(f"no label {label_id}.")
        if lab.status == "withdrawn":
            raise ConflictError(
                f"label {label_id} was withdrawn by its annotator (undo); reload the review queue."
            )
        if lab.review_status not in ("pending", "flagged"):
            raise ConflictError(
                f"label {label_id} is not waiting for review ({lab.review_status})."
            )
        if lab.status not in ("accepted", "overlap"):
            raise ConflictError(
                f"label {label_id} is {lab.status}; only current labels are reviewed."
            )
        lab.reviewer = reviewer
        lab.reviewed_at = now()
        lab.review_note = note
        relabel_id = None
        if decision == "accept":
            lab.review_status = "approved"
        elif lab.status == "overlap":
            # a second opinion rejected: the sample keeps its label, nothing to relabel
            lab.review_status = "rejected"
            lab.status = "rejected"
        else:
            lab.review_status = "rejected"
            lab.status = "rejected"
            s.flush()
            back = _relabeler(s, lab)
            a = Assignment(
                sample_id=lab.sample_id,
                annotator=back,
                kind="relabel",
                status="queued" if back is None else "assigned",
                priority=0,
                note=note,
                # an image's objects go back as pre-labels to fix, not to draw again
                suggestion=rejected_prelabel(lab.value) if objects else _issue_hint(lab.issue),
                assigned_at=None if back is None else lab.reviewed_at,
            )
            s.add(a)
            s.flush()
            relabel_id = a.id
        s.add(
            Event(
                kind=f"label.{decision}",
                actor=reviewer,
                payload={"label_id": label_id, "sample_id": lab.sample_id, "note": note},
            )
        )
    return {"label_id": label_id, "review_status": lab.review_status, "relabel": relabel_id}


def _relabeler(s, lab: Label) -> str | None:
    """Who relabels a rejected sample (None: the queue, for someone else).

    The queue when another active annotator can take it, else the annotator of the
    rejected label when they still may label. (The queue never gives a sample to
    someone who already had it: with a single annotator a queued relabel would wait
    forever.)
    """
    had = select(Assignment.annotator).where(
        Assignment.sample_id == lab.sample_id,
        Assignment.annotator.is_not(None),
        Assignment.status.not_in(LAPSED),
    )
    others = s.scalar(
        select(func.count())
        .select_from(User)
        .where(User.active.is_(True), User.role == "annotator", User.name.not_in(had))
    )
    if others or lab.annotator is None:
        return None
    can = s.scalar(
        select(User.id).where(
            User.name == lab.annotator,
            User.active.is_(True),
            User.role.in_(("annotator", "admin")),
        )
    )
    return lab.annotator if can is not None else None


def _issue_hint(issue: dict | None) -> dict | None:
    if not issue or not issue.get("suggested"):
        return None
    return {"label": issue["suggested"], "confidence": issue.get("confidence"), "source": "issue"}


def flag_issues(project: Project, issues: list[dict], *, actor: str | None = None) -> int:
    """Queue suspected wrong labels for review: ``{"uid", "suggested", "confidence", "quality"}``.

    Only a sample's current label is flagged; labels already decided by a reviewer
    keep their decision. Returns how many labels were flagged.
    """
    uids = [i["uid"] for i in issues]
    flagged = 0
    with transaction(project.session) as s:
        rows = s.execute(
            select(Label, Sample.uid)
            .join(Sample, Sample.id == Label.sample_id)
            .where(Sample.uid.in_(uids), Label.status == "accepted")
            .with_for_update(of=Label)
        ).all()
        by_uid = {uid: lab for lab, uid in rows}
        for issue in issues:
            lab = by_uid.get(issue["uid"])
            if lab is None or lab.review_status in ("approved", "rejected", "flagged"):
                continue
            lab.review_status = "flagged"
            lab.issue = {k: issue.get(k) for k in ("suggested", "confidence", "quality")}
            flagged += 1
        s.add(Event(kind="label.issues", actor=actor, payload={"flagged": flagged}))
    return flagged
