"""The work queue: who labels what, submits, skips, undo, gold samples and overlap.

Every sample a round selected becomes one *assignment* (or ``k`` of them when it is
picked for overlap). An annotator asking for work first gets what is already
assigned to them, then a gold sample when one is due, then the next queued
assignment: relabels first, then in selection order. Claiming runs in one
transaction (``BEGIN IMMEDIATE`` on SQLite, ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), so two annotators never get the same assignment, and nobody gets two
assignments of the same sample.

Held work has a *lease* (``lease_minutes``, 30 by default; ``serve --lease-minutes``).
It starts when an item is handed out and is renewed whenever its holder labels, skips
or undoes. An item held past its lease goes to the next person who asks for work:
the old assignment becomes ``expired`` and the holder's late submit of it gets a 409
("your lease on this item expired"). Until someone else takes it, the holder may
still submit it: the lease only gives way when someone else needs the item. An
admin can hand back everything a user holds (:func:`release`); so does disabling a
user or taking away their labeling role. Released and expired assignments stay in
the table, and a fresh assignment of the same sample is created, so the history of
who held what is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import and_, exists, func, insert, select, update
from sqlalchemy.orm import aliased

from labelwise.errors import ConflictError, InvalidInputError, NotFoundError
from labelwise.store import Project, advisory_lock, transaction
from labelwise.store._models import (
    Assignment,
    ClassRow,
    Event,
    Gold,
    Label,
    ProjectRow,
    Round,
    Sample,
    SelectionRow,
    User,
)
from labelwise.store._models import now as utcnow
from labelwise.store._project import CHUNK as _CHUNK
from labelwise.store._project import ids_of

__all__ = [
    "LEASE_MINUTES",
    "QueueSettings",
    "add_gold",
    "assign",
    "enqueue",
    "get_settings",
    "holders",
    "next_item",
    "queue_counts",
    "release",
    "sample_payload",
    "set_settings",
    "skip",
    "submit",
    "undo",
]

LEASE_MINUTES = 30.0
"""How long an item may be held without a label before someone else may take it."""
LAPSED = ("released", "expired")
"""Assignments that ended without a label or a refusal: the work went back to the queue."""
REVIEWABLE = ("accepted", "overlap")
"""Label statuses a reviewer decides on; a withdrawn or superseded label is not one."""


@dataclass
class QueueSettings:
    """How work is handed out.

    overlap_fraction : share of each round's samples labeled by ``overlap_k`` people.
    gold_rate : share of an annotator's items that are gold samples (0 = none).
    """

    overlap_fraction: float = 0.0
    overlap_k: int = 2
    gold_rate: float = 0.0

    def check(self) -> QueueSettings:
        if not 0.0 <= self.overlap_fraction <= 1.0:
            raise InvalidInputError(
                f"overlap_fraction must be within [0, 1], got {self.overlap_fraction}."
            )
        if not 2 <= int(self.overlap_k) <= 10:
            raise InvalidInputError(f"overlap_k must be 2 to 10 people, got {self.overlap_k}.")
        if not 0.0 <= self.gold_rate <= 0.5:
            raise InvalidInputError(f"gold_rate must be within [0, 0.5], got {self.gold_rate}.")
        self.overlap_k = int(self.overlap_k)
        return self


def get_settings(project: Project) -> QueueSettings:
    """The project's queue settings (defaults where unset)."""
    raw = (project.info.settings or {}).get("queue", {})
    return QueueSettings(**{k: v for k, v in raw.items() if k in QueueSettings.__annotations__})


def set_settings(project: Project, *, actor: str | None = None, **changes) -> QueueSettings:
    """Change queue settings (unknown keys refused); applies to samples enqueued afterwards."""
    unknown = set(changes) - set(QueueSettings.__annotations__)
    if unknown:
        raise InvalidInputError(
            f"unknown queue setting(s) {sorted(unknown)}; known: "
            f"{sorted(QueueSettings.__annotations__)}."
        )
    merged = {**get_settings(project).__dict__, **changes}
    new = QueueSettings(**merged).check()
    with transaction(project.session) as s:
        row = s.scalars(select(ProjectRow)).one()
        row.settings = {**(row.settings or {}), "queue": dict(new.__dict__)}
        s.add(Event(kind="queue.settings", actor=actor, payload=dict(new.__dict__)))
    return new


def _suggestions(project: Project, sample_ids: list[int]) -> dict[int, dict]:
    """The latest model's prediction for these samples: the pre-label shown to annotators."""
    from labelwise.loop._project import _load_model

    model, art = _load_model(project)
    if model is None or not sample_ids:
        return {}
    from labelwise.embed import load_features

    X, ids, _ = load_features(project)
    where = {int(s): i for i, s in enumerate(ids)}
    pos = [where[s] for s in sample_ids if s in where]
    if not pos:
        return {}
    proba = np.asarray(model.predict_proba(X[pos]))
    classes = list(getattr(model, "classes_", art.info.get("classes", [])))
    best = proba.argmax(axis=1)
    return {
        int(ids[p]): {
            "label": str(classes[b]),
            "confidence": round(float(proba[i, b]), 4),
            "model_version": art.version,
        }
        for i, (p, b) in enumerate(zip(pos, best, strict=True))
    }


def enqueue(project: Project, *, actor: str | None = None) -> int:
    """Queue every selected or evaluation sample that has no label and no assignment yet.

    A seeded share (``overlap_fraction``) of each round's samples gets ``overlap_k``
    assignments, one per person. Samples of the random evaluation set are queued
    like any other (kind ``label``, the latest round's number), at seeded random
    places among the round's samples, so annotators cannot tell them apart; they
    carry no model pre-label, which would pull their labels toward the model's
    answers and flatter its measured accuracy. Returns how many assignments were
    created.
    """
    settings = get_settings(project)
    with project.session() as s:
        has_assignment = exists().where(Assignment.sample_id == SelectionRow.sample_id)
        accepted = exists().where(
            and_(Label.sample_id == SelectionRow.sample_id, Label.status == "accepted")
        )
        todo = s.execute(
            select(SelectionRow.sample_id, Round.number)
            .join(Round, Round.id == SelectionRow.round_id)
            .where(~has_assignment, ~accepted)
            .order_by(Round.number, SelectionRow.position)
        ).all()
        eval_todo = s.scalars(
            select(Sample.id)
            .where(
                Sample.split == "eval",
                ~exists().where(Assignment.sample_id == Sample.id),
                ~exists().where(and_(Label.sample_id == Sample.id, Label.status == "accepted")),
            )
            .order_by(Sample.id)
        ).all()
        latest_round = s.scalar(select(func.max(Round.number))) or 1
    if not todo and not eval_todo:
        return 0
    try:
        hints = _suggestions(project, [r[0] for r in todo])
    except Exception as e:  # a stale or unreadable model must not stop the labeling
        project.log("queue.suggestions_failed", {"error": str(e)[:300]}, actor)
        hints = {}
    rows = []
    stamp = utcnow()
    by_round: dict[int, list[int]] = {}
    for sid, rnd in todo:
        by_round.setdefault(rnd, []).append(sid)
    by_round = _mix_in_eval(by_round, list(eval_todo), latest_round)
    for rnd, sids in by_round.items():
        rng = np.random.default_rng(rnd)
        n_overlap = math.ceil(settings.overlap_fraction * len(sids))
        overlap = set(rng.choice(sids, size=n_overlap, replace=False).tolist()) if n_overlap else ()
        for sid in sids:
            k = settings.overlap_k if sid in overlap else 1
            for slot in range(k):
                rows.append(
                    {
                        "sample_id": sid,
                        "annotator": None,
                        "kind": "overlap" if slot else "label",
                        "status": "queued",
                        "priority": 1,
                        "round": rnd,
                        "note": None,
                        "suggestion": hints.get(sid),
                        "created_at": stamp,
                    }
                )
    with transaction(project.session) as s:
        advisory_lock(s, "enqueue")
        # another enqueue may have run meanwhile: keep only samples still without work
        fresh = set()
        sids = sorted({r["sample_id"] for r in rows})
        for start in range(0, len(sids), _CHUNK):
            chunk = sids[start : start + _CHUNK]
            fresh.update(chunk)
            fresh.difference_update(
                s.scalars(select(Assignment.sample_id).where(Assignment.sample_id.in_(chunk)))
            )
        rows = [r for r in rows if r["sample_id"] in fresh]
        for start in range(0, len(rows), _CHUNK):
            s.execute(insert(Assignment), rows[start : start + _CHUNK])
        if rows:
            s.add(Event(kind="queue.enqueue", actor=actor, payload={"n": len(rows)}))
    return len(rows)


def _mix_in_eval(by_round: dict[int, list[int]], eval_sids: list[int], latest: int) -> dict:
    """Put evaluation samples at seeded random places among the latest round's samples."""
    if not eval_sids:
        return by_round
    rnd = max(by_round, default=latest)
    picks = by_round.get(rnd, [])
    rng = np.random.default_rng([rnd, len(eval_sids)])
    n = len(picks) + len(eval_sids)
    is_eval = np.zeros(n, dtype=bool)
    is_eval[rng.choice(n, size=len(eval_sids), replace=False)] = True
    ev, pk = iter(rng.permutation(eval_sids).tolist()), iter(picks)  # picks keep their order
    return {**by_round, rnd: [next(ev) if e else next(pk) for e in is_eval.tolist()]}


def assign(
    project: Project, annotators: list[str], *, n: int | None = None, actor: str | None = None
) -> dict[str, int]:
    """Hand queued work to these annotators in turn (``n`` items in all; default all).

    Overlap slots of one sample go to different people.
    """
    if not annotators:
        raise InvalidInputError("name at least one annotator to assign work to.")
    enqueue(project, actor=actor)
    with transaction(project.session) as s:
        advisory_lock(s, "claim")
        known = set(
            s.scalars(select(User.name).where(User.name.in_(annotators), User.active.is_(True)))
        )
        missing = [a for a in annotators if a not in known]
        if missing:
            raise NotFoundError(f"no active user named {missing[0]!r}; add the user first.")
        q = (
            select(Assignment.id, Assignment.sample_id)
            .where(Assignment.status == "queued", Assignment.annotator.is_(None))
            .order_by(Assignment.priority, Assignment.id)
        )
        if n is not None:
            q = q.limit(int(n) * 10)
        queued = s.execute(q).all()
        # who already has (or had) each queued sample: overlap slots go to different people
        queued_samples = select(Assignment.sample_id).where(
            Assignment.status == "queued", Assignment.annotator.is_(None)
        )
        taken: dict[int, set[str]] = {}
        for sid, who in s.execute(
            select(Assignment.sample_id, Assignment.annotator).where(
                Assignment.sample_id.in_(queued_samples),
                Assignment.annotator.is_not(None),
                Assignment.status.not_in(LAPSED),
            )
        ).all():
            taken.setdefault(sid, set()).add(who)
        counts = {a: 0 for a in annotators}
        turn = 0
        stamp = utcnow()
        done = 0
        changes: list[dict] = []
        for aid, sid in queued:
            if n is not None and done >= n:
                break
            for step in range(len(annotators)):
                who = annotators[(turn + step) % len(annotators)]
                if who not in taken.get(sid, set()):
                    break
            else:
                continue  # everybody already has this sample
            turn = (turn + step + 1) % len(annotators)
            changes.append(
                {"id": aid, "annotator": who, "status": "assigned", "assigned_at": stamp}
            )
            taken.setdefault(sid, set()).add(who)
            counts[who] += 1
            done += 1
        for start in range(0, len(changes), _CHUNK):  # bulk UPDATE by primary key
            s.execute(update(Assignment), changes[start : start + _CHUNK])
        s.add(Event(kind="queue.assign", actor=actor, payload={"counts": counts}))
    return counts


def add_gold(project: Project, answers: dict[str, str], *, actor: str | None = None) -> int:
    """Make samples gold (control) samples with these known answers (uid -> class)."""
    from labelwise._validation import normalize_id

    answers = {normalize_id(u): str(v).strip() for u, v in answers.items()}  # as at import
    classes = set(project.classes())
    bad = {u: v for u, v in answers.items() if v not in classes}
    if bad:
        u, v = next(iter(bad.items()))
        raise InvalidInputError(
            f"gold answer {v!r} for {u!r} is not an active class ({', '.join(sorted(classes))})."
        )
    with transaction(project.session) as s:
        ids = ids_of(s, answers)
        unknown = [u for u in answers if u not in ids]
        if unknown:
            raise NotFoundError(f"no sample with id {unknown[0]!r} ({len(unknown)} unknown).")
        for uid, value in answers.items():
            row = s.get(Gold, ids[uid])
            if row is None:
                s.add(Gold(sample_id=ids[uid], value=value))
            else:
                row.value = value
        s.add(Event(kind="gold.add", actor=actor, payload={"n": len(answers)}))
    return len(answers)


def _gold_due(s, user: str, rate: float) -> int | None:
    """A gold sample this user has not answered, when one is due; else None."""
    if rate <= 0:
        return None
    every = max(1, round(1 / rate))
    # counted in labels (they are numbered in the order they were given; assignment ids
    # are not: queued work is created before the gold items mixed into it)
    last_gold = s.scalar(
        select(func.max(Label.id)).where(Label.annotator == user, Label.status == "gold")
    )
    since = s.scalar(
        select(func.count())
        .select_from(Label)
        .where(
            Label.annotator == user,
            Label.source == "web",
            Label.status.not_in(("gold", "withdrawn")),
            Label.id > (last_gold or 0),
        )
    )
    if since < every - 1:
        return None
    answered = select(Assignment.sample_id).where(
        Assignment.annotator == user, Assignment.kind == "gold"
    )
    return s.scalar(
        select(Gold.sample_id).where(Gold.sample_id.not_in(answered)).order_by(Gold.sample_id)
    )


def check_lease(lease_minutes: float) -> float:
    """The lease in minutes, checked: a number above 0 (at most a year)."""
    try:
        value = float(lease_minutes)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 525_600):
        raise InvalidInputError(
            f"the lease must be more than 0 and at most 525600 minutes (a year), "
            f"got {lease_minutes!r}; set it with 'serve --lease-minutes M'."
        )
    return value


def _cutoff(lease_minutes: float, at: datetime) -> datetime:
    """Held items assigned (or renewed) before this moment are past their lease."""
    return at - timedelta(minutes=check_lease(lease_minutes))


def _renew(s, user: str, at: datetime) -> None:
    """The holder is here: the lease on everything they hold starts again."""
    s.execute(
        update(Assignment)
        .where(Assignment.annotator == user, Assignment.status == "assigned")
        .values(assigned_at=at)
    )


def _claim(s, user: str, settings: QueueSettings, at: datetime, lease_minutes: float):
    gold = _gold_due(s, user, settings.gold_rate)
    stamp = at
    if gold is not None:
        a = Assignment(
            sample_id=gold,
            annotator=user,
            kind="gold",
            status="assigned",
            priority=0,
            created_at=stamp,
            assigned_at=stamp,
        )
        s.add(a)
        s.flush()
        return a.id
    mine = aliased(Assignment)
    not_mine = ~exists().where(  # lapsed work (released, expired) may come back to them
        and_(
            mine.sample_id == Assignment.sample_id,
            mine.annotator == user,
            mine.status.not_in(LAPSED),
        )
    )
    order = (Assignment.priority, Assignment.id)
    pick = s.execute(
        select(Assignment.id, Assignment.priority)
        .where(Assignment.status == "queued", Assignment.annotator.is_(None), not_mine)
        .order_by(*order)
        .limit(1)
        .with_for_update(skip_locked=True, of=Assignment)
    ).first()
    # work held by someone else past its lease is free again (gold is per person: never)
    cutoff = _cutoff(lease_minutes, at)
    stale = s.execute(
        select(Assignment.id, Assignment.priority)
        .where(
            Assignment.status == "assigned",
            Assignment.kind != "gold",
            Assignment.assigned_at < cutoff,
            not_mine,
        )
        .order_by(*order)
        .limit(1)
        .with_for_update(skip_locked=True, of=Assignment)
    ).first()
    if stale is not None and (pick is None or tuple(stale) < tuple(pick)):
        return _take_over(s, stale.id, user, stamp, cutoff, lease_minutes)
    if pick is None:
        return None
    got = s.execute(
        update(Assignment)
        .where(Assignment.id == pick.id, Assignment.status == "queued")
        .values(annotator=user, status="assigned", assigned_at=stamp)
    )
    return pick.id if got.rowcount == 1 else None


#: What a new assignment for the same work copies from the old one (a take-over after the
#: lease, a skip, a release).
_CARRIED = ("sample_id", "kind", "priority", "round", "note", "suggestion")


def _carried(a) -> dict:
    """The fields of ``a`` (an Assignment or a selected row) that its successor keeps."""
    return {f: getattr(a, f) for f in _CARRIED}


def _take_over(s, old_id: int, user: str, stamp, cutoff, lease_minutes: float) -> int | None:
    """End an expired lease: the old assignment is ``expired``, a new one is ``user``'s."""
    got = s.execute(
        update(Assignment)
        .where(
            Assignment.id == old_id,
            Assignment.status == "assigned",
            Assignment.assigned_at < cutoff,
        )
        .values(status="expired", done_at=stamp)
    )
    if got.rowcount != 1:
        return None  # its holder came back meanwhile
    old = s.get(Assignment, old_id)
    new = Assignment(
        **_carried(old), annotator=user, status="assigned", created_at=stamp, assigned_at=stamp
    )
    s.add(new)
    s.flush()
    s.add(
        Event(
            kind="queue.lease_expired",
            actor=user,
            payload={
                "assignment_id": old.id,
                "holder": old.annotator,
                "new_assignment_id": new.id,
                "lease_minutes": lease_minutes,
            },
        )
    )
    return new.id


def _open_for(s, user: str) -> Assignment | None:
    return s.scalars(
        select(Assignment)
        .where(Assignment.annotator == user, Assignment.status == "assigned")
        .order_by(Assignment.priority, Assignment.id)
        .limit(1)
    ).first()


def next_item(
    project: Project,
    user: str,
    *,
    lease_minutes: float = LEASE_MINUTES,
    now: datetime | None = None,
) -> dict | None:
    """The next piece of work for ``user`` (claiming one when they hold none), or None.

    ``now`` (default: the clock) is when the request happens; work others have held
    longer than ``lease_minutes`` without labeling it may be handed to ``user``.
    """
    at = _moment(now)
    check_lease(lease_minutes)
    with project.session() as s:
        mine = _open_for(s, user)
    if mine is not None and mine.assigned_at is not None:
        # coming back late: renew the lease (a write at most once per half lease)
        if at - mine.assigned_at > timedelta(minutes=lease_minutes / 2):
            with transaction(project.session) as s:
                _renew(s, user, at)
                mine = _open_for(s, user)
    if mine is None:
        settings = get_settings(project)
        for attempt in range(2):
            with transaction(project.session) as s:
                if _claim(s, user, settings, at, lease_minutes) is not None:
                    mine = _open_for(s, user)
            if mine is not None or attempt or not enqueue(project):
                break  # the second try follows a successful enqueue only
    if mine is None:
        return None
    return item_payload(project, mine)


def _moment(now: datetime | None) -> datetime:
    """``now`` as an aware UTC time (a naive one is taken as UTC); the clock when None."""
    if now is None:
        return utcnow()
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def item_payload(project: Project, a: Assignment) -> dict:
    """What the labeling page needs: the assignment, its sample, a pre-label, the classes."""
    classes = project.classes()
    hint = a.suggestion if a.suggestion and a.suggestion.get("label") in classes else None
    return {
        "assignment": {"id": a.id, "kind": a.kind, "note": a.note, "round": a.round},
        "sample": sample_payload(project, a.sample_id),
        "suggestion": hint,
        "classes": classes,
    }


def sample_payload(project: Project, sample_id: int) -> dict:
    """A sample as the web app shows it, with neighbouring video frames when it has them."""
    with project.session() as s:
        smp = s.get(Sample, sample_id)
        if smp is None:
            raise NotFoundError(f"no sample with database id {sample_id}.")
        label = s.scalar(
            select(Label.value).where(Label.sample_id == sample_id, Label.status == "accepted")
        )
        meta = smp.meta or {}
        neighbors = []
        if "video" in meta and "frame" in meta:
            neighbors = _frame_neighbors(s, smp, meta)
    return {
        "id": smp.id,
        "uid": smp.uid,
        "text": smp.text,
        "data": smp.data,
        "meta": meta,
        "has_media": bool(smp.uri),
        "label": label,
        "neighbors": neighbors,
    }


def _frame_neighbors(s, smp: Sample, meta: dict, width: int = 2) -> list[dict]:
    """Up to ``width`` frames either side of a video frame, from the same video."""
    try:
        frame = int(meta["frame"])
    except (TypeError, ValueError):
        return []
    # same import, nearby ids: frames of one video are imported together and in order
    near = s.execute(
        select(Sample.id, Sample.uid, Sample.meta).where(
            Sample.import_id == smp.import_id,
            Sample.id.between(smp.id - 50 * width, smp.id + 50 * width),
        )
    ).all()
    out = []
    for sid, uid, m in near:
        m = m or {}
        if sid == smp.id or m.get("video") != meta["video"]:
            continue
        try:
            f = int(m.get("frame"))
        except (TypeError, ValueError):
            continue
        if abs(f - frame) <= width:
            out.append({"id": sid, "uid": uid, "frame": f, "offset": f - frame})
    return sorted(out, key=lambda r: r["frame"])


def _owned(s, assignment_id: int, user: str) -> Assignment:
    a = s.scalars(
        select(Assignment).where(Assignment.id == assignment_id).with_for_update()
    ).first()
    if a is None:
        raise NotFoundError(f"no assignment {assignment_id}.")
    if a.annotator != user:
        raise ConflictError(f"assignment {assignment_id} is not assigned to you.")
    if a.status == "expired":
        raise ConflictError(
            f"your lease on this item expired (assignment {assignment_id}): you held it past "
            "the lease without a label and it went to someone else; nothing was saved. "
            "Ask for the next item."
        )
    if a.status == "released":
        raise ConflictError(
            f"assignment {assignment_id} was released back to the queue by an admin; "
            "nothing was saved. Ask for the next item."
        )
    if a.status != "assigned":
        raise ConflictError(f"assignment {assignment_id} is already {a.status}.")
    return a


def submit(
    project: Project,
    user: str,
    assignment_id: int,
    label: str,
    *,
    unsure: bool = False,
    comment: str | None = None,
    duration: float | None = None,
    now: datetime | None = None,
) -> dict:
    """Record ``user``'s label for an assignment; exactly once, never lost.

    The first label of a sample becomes its accepted label (pending review); a second
    person's label on an overlap sample is kept as ``overlap`` for agreement; a
    gold answer is kept as ``gold`` and never changes the sample's label. An
    assignment that went to someone else after its lease expired is refused (409);
    one still held (even past its lease) is accepted, and renews the lease on the
    rest of ``user``'s work.
    """
    label = (label or "").strip()
    if comment is not None and len(comment) > 5000:
        raise InvalidInputError("the comment is longer than 5000 characters; shorten it.")
    if duration is not None and (not math.isfinite(duration) or duration < 0):
        raise InvalidInputError(f"duration must be a number of seconds >= 0, got {duration}.")
    with transaction(project.session) as s:
        a = _owned(s, assignment_id, user)
        active = set(s.scalars(select(ClassRow.name).where(ClassRow.status == "active")))
        if label not in active:
            raise InvalidInputError(
                f"{label!r} is not an active class ({', '.join(sorted(active))})."
            )
        # lock the sample: two people finishing the same overlap sample take turns
        s.execute(
            select(Sample.id).where(Sample.id == a.sample_id).with_for_update(key_share=True)
        ).all()
        current = s.scalars(
            select(Label).where(Label.sample_id == a.sample_id, Label.status == "accepted")
        ).first()
        if a.kind == "gold":
            status = "gold"
        elif current is None:
            status = "accepted"
        elif a.kind == "relabel":
            current.status = "superseded"
            s.flush()
            status = "accepted"
        else:
            status = "overlap"
        stamp = _moment(now)
        row = Label(
            sample_id=a.sample_id,
            value=label,
            annotator=user,
            duration=duration,
            status=status,
            source="web",
            created_at=stamp,
            assignment_id=a.id,
            unsure=bool(unsure),
            comment=comment or None,
            review_status=None if status == "gold" else "pending",
        )
        s.add(row)
        a.status = "done"
        a.done_at = stamp
        _renew(s, user, stamp)
        s.flush()
        s.add(
            Event(
                kind="label.submit",
                actor=user,
                payload={"label_id": row.id, "sample_id": a.sample_id, "value": label},
            )
        )
    return {"label_id": row.id, "status": status, "assignment_id": a.id}


def skip(project: Project, user: str, assignment_id: int, *, now: datetime | None = None) -> None:
    """Give the sample back: someone else gets it (never the same person again)."""
    stamp = _moment(now)
    with transaction(project.session) as s:
        a = _owned(s, assignment_id, user)
        a.status = "skipped"
        a.done_at = stamp
        _renew(s, user, stamp)
        if a.kind != "gold":
            s.add(Assignment(**_carried(a), status="queued"))
        s.add(Event(kind="label.skip", actor=user, payload={"assignment_id": a.id}))


def undo(project: Project, user: str, *, now: datetime | None = None) -> dict:
    """Take back ``user``'s latest label (not yet reviewed); its item becomes theirs again.

    The label leaves the review queue; the item comes back first, with a fresh lease.
    """
    stamp = _moment(now)
    with transaction(project.session) as s:
        row = s.scalars(
            select(Label)
            .where(
                Label.annotator == user,
                Label.source == "web",
                Label.status.in_(("accepted", "overlap", "gold")),
            )
            .order_by(Label.id.desc())
            .limit(1)
            .with_for_update()
        ).first()
        if row is None:
            raise ConflictError("nothing to undo: you have no label that can be taken back.")
        if row.review_status not in (None, "pending"):
            raise ConflictError(
                f"your last label was already {row.review_status} by a reviewer; "
                "it cannot be undone."
            )
        was_accepted = row.status == "accepted"
        row.status = "withdrawn"
        row.review_status = None  # nothing left to review: it must leave the review queue
        s.flush()
        if was_accepted:  # an overlap label of someone else becomes the label
            other = s.scalars(
                select(Label)
                .where(Label.sample_id == row.sample_id, Label.status == "overlap")
                .order_by(Label.id)
                .limit(1)
            ).first()
            if other is not None:
                other.status = "accepted"
        a = s.get(Assignment, row.assignment_id) if row.assignment_id else None
        _renew(s, user, stamp)
        if a is not None:
            a.status = "assigned"
            a.done_at = None
            a.assigned_at = stamp  # a fresh lease: the old one may be long past
            a.priority = -1  # it comes back first
        s.add(Event(kind="label.undo", actor=user, payload={"label_id": row.id}))
    if a is None:
        return {"undone": row.id, "item": None}
    return {"undone": row.id, "item": item_payload(project, a)}


def queue_counts(project: Project) -> dict:
    """Assignments by status and kind, and labels waiting for review."""
    with project.session() as s:
        rows = s.execute(
            select(Assignment.status, Assignment.kind, func.count()).group_by(
                Assignment.status, Assignment.kind
            )
        ).all()
        review = dict(
            s.execute(
                select(Label.review_status, func.count())
                .where(
                    Label.review_status.in_(("pending", "flagged")),
                    Label.status.in_(REVIEWABLE),
                )
                .group_by(Label.review_status)
            ).all()
        )
        per_user = dict(
            s.execute(
                select(Assignment.annotator, func.count())
                .where(Assignment.status == "assigned")
                .group_by(Assignment.annotator)
            ).all()
        )
    by_status: dict[str, int] = {}
    relabel = 0
    for status, kind, n in rows:
        by_status[status] = by_status.get(status, 0) + n
        if kind == "relabel" and status in ("queued", "assigned"):
            relabel += n
    return {
        "queued": by_status.get("queued", 0),
        "assigned": by_status.get("assigned", 0),
        "done": by_status.get("done", 0),
        "skipped": by_status.get("skipped", 0),
        "expired": by_status.get("expired", 0),
        "released": by_status.get("released", 0),
        "relabel": relabel,
        "review_pending": review.get("pending", 0),
        "review_flagged": review.get("flagged", 0),
        "assigned_per_user": per_user,
    }


def holders(project: Project, *, lease_minutes: float = LEASE_MINUTES) -> list[dict]:
    """Who holds work: every user holding items, and every active annotator.

    Each row: ``name``, ``role``, ``active``, ``held`` (items assigned to them now) and
    ``overdue`` (of those, how many are past the lease: the next person asking for
    work may take them).
    """
    cutoff = _cutoff(lease_minutes, utcnow())
    with project.session() as s:
        users = s.execute(select(User.name, User.role, User.active).order_by(User.id)).all()
        held = dict(
            s.execute(
                select(Assignment.annotator, func.count())
                .where(Assignment.status == "assigned")
                .group_by(Assignment.annotator)
            ).all()
        )
        overdue = dict(
            s.execute(
                select(Assignment.annotator, func.count())
                .where(
                    Assignment.status == "assigned",
                    Assignment.kind != "gold",
                    Assignment.assigned_at < cutoff,
                )
                .group_by(Assignment.annotator)
            ).all()
        )
    return [
        {
            "name": name,
            "role": role,
            "active": active,
            "held": held.get(name, 0),
            "overdue": overdue.get(name, 0),
        }
        for name, role, active in users
        if held.get(name) or (active and role == "annotator")
    ]


def release(
    project: Project, annotator: str, *, actor: str | None = None, now: datetime | None = None
) -> int:
    """Hand everything ``annotator`` holds back to the queue; returns how many items.

    Each held assignment becomes ``released`` and a queued copy takes its place at the
    front of the queue (a gold item is only released: gold is per person). The
    holder's later submit of a released item gets a 409. Logged as ``queue.release``.
    """
    with transaction(project.session) as s:
        if s.scalar(select(User.id).where(User.name == annotator)) is None:
            raise NotFoundError(f"no user named {annotator!r}.")
        ids = release_held(s, annotator, reason="admin", actor=actor, now=now)
        if not ids:  # an admin's action is logged even when there was nothing to hand back
            s.add(
                Event(
                    kind="queue.release",
                    actor=actor,
                    payload={"annotator": annotator, "n": 0, "reason": "admin"},
                )
            )
    return len(ids)


def release_held(
    s, annotator: str, *, reason: str, actor: str | None = None, now: datetime | None = None
) -> list[int]:
    """In the open transaction ``s``: release what ``annotator`` holds; the ids released."""
    stamp = _moment(now)
    held = s.execute(
        select(Assignment.id, *(getattr(Assignment, f) for f in _CARRIED))
        .where(Assignment.annotator == annotator, Assignment.status == "assigned")
        .order_by(Assignment.id)
        .with_for_update()
    ).all()
    if not held:
        return []
    s.execute(
        update(Assignment)
        .where(Assignment.annotator == annotator, Assignment.status == "assigned")
        .values(status="released", done_at=stamp)
    )
    copies = [
        {
            **_carried(h),
            "annotator": None,
            "status": "queued",
            "priority": min(h.priority, 0),  # handed out before: to the front, with relabels
            "created_at": stamp,
        }
        for h in held
        if h.kind != "gold"
    ]
    for start in range(0, len(copies), _CHUNK):
        s.execute(insert(Assignment), copies[start : start + _CHUNK])
    ids = [h.id for h in held]
    s.add(
        Event(
            kind="queue.release",
            actor=actor,
            payload={"annotator": annotator, "n": len(ids), "reason": reason, "ids": ids},
        )
    )
    return ids
