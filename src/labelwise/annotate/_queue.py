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
from types import SimpleNamespace

import numpy as np
from sqlalchemy import and_, bindparam, case, exists, func, insert, select, update

from labelwise.errors import ConflictError, DataFileError, InvalidInputError, NotFoundError
from labelwise.io._objects import check_label, dumps_label, is_object_task
from labelwise.store import Project, advisory_lock, retry_on_disconnect, transaction
from labelwise.store._db import refresh_planner_stats
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
ANALYZE_AFTER = 500
"""Queueing this many assignments at once refreshes PostgreSQL's planner statistics."""


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
    return _settings_of(project.info.settings)


def _settings_of(stored: dict | None) -> QueueSettings:
    raw = (stored or {}).get("queue", {})
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
    if is_object_task(project.task):  # the boxes of the rounds' predictions files
        from labelwise.annotate._prelabels import object_prelabels

        hints, skipped = object_prelabels(project, todo)
        for why in skipped:
            project.log("queue.prelabels_skipped", why, actor)
    else:
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
    if len(rows) >= ANALYZE_AFTER:  # the claim's plan depends on how much is queued
        refresh_planner_stats(project.engine, Assignment.__tablename__)
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
    s.execute(_RENEW, {"who": user, "stamp": at})


def _claim(c, user: str, settings: QueueSettings, at: datetime, lease_minutes: float):
    """In the open transaction on connection ``c``: give ``user`` one item; its row or None."""
    gold = _gold_due(c, user, settings.gold_rate)
    stamp = at
    if gold is not None:
        return c.execute(
            _ADD_ASSIGNMENT,
            {
                "sample_id": gold,
                "annotator": user,
                "kind": "gold",
                "status": "assigned",
                "priority": 0,
                "created_at": stamp,
                "assigned_at": stamp,
            },
        ).one()
    params = {"user": user}
    postgresql = c.dialect.name == "postgresql"
    # work held by someone else past its lease is free again (gold is per person: never)
    cutoff = _cutoff(lease_minutes, at)
    stale = c.execute(_STALE[postgresql], {**params, "cutoff": cutoff}).first()
    if stale is None and postgresql:  # the usual case: pick, take and read in one statement
        return c.execute(_CLAIM, {"user": user, "who": user, "stamp": stamp}).first()
    pick = c.execute(_PICK[postgresql], params).first()
    # queue order: (priority, id), whichever of the two comes first
    if stale is not None and (pick is None or tuple(stale) < tuple(pick)):
        return _take_over(c, stale.id, user, stamp, cutoff, lease_minutes)
    if pick is None:
        return None
    return c.execute(_TAKE, {"aid": pick.id, "who": user, "stamp": stamp}).first()


#: What a new assignment for the same work copies from the old one (a take-over after the
#: lease, a skip, a release).
_CARRIED = ("sample_id", "kind", "priority", "round", "note", "suggestion")


def _carried(a) -> dict:
    """The fields of ``a`` (an Assignment or a selected row) that its successor keeps."""
    return {f: getattr(a, f) for f in _CARRIED}


def _take_over(c, old_id: int, user: str, stamp, cutoff, lease_minutes: float):
    """End an expired lease: the old assignment is ``expired``, a new one is ``user``'s."""
    got = c.execute(
        update(_A)
        .where(_A.c.id == old_id, _A.c.status == "assigned", _A.c.assigned_at < cutoff)
        .values(status="expired", done_at=stamp)
    )
    if got.rowcount != 1:
        return None  # its holder came back meanwhile
    old = c.execute(
        select(_A.c.annotator, *(_A.c[f] for f in _CARRIED)).where(_A.c.id == old_id)
    ).one()
    new = c.execute(
        _ADD_ASSIGNMENT,
        {
            **_carried(old),
            "annotator": user,
            "status": "assigned",
            "created_at": stamp,
            "assigned_at": stamp,
        },
    ).one()
    c.execute(
        _ADD_EVENT,
        {
            "kind": "queue.lease_expired",
            "actor": user,
            "payload": {
                "assignment_id": old_id,
                "holder": old.annotator,
                "new_assignment_id": new.id,
                "lease_minutes": lease_minutes,
            },
        },
    )
    return new


# The hot path (every /api/next and /api/submit) runs these Core statements, built once:
# building a statement costs far more than running it, and the ORM's unit of work is not
# needed for a handful of rows.
_A = Assignment.__table__
_LABEL = Label.__table__
_EVENT = Event.__table__
_SAMPLE = Sample.__table__
_ITEM = (_A.c.id, _A.c.sample_id, _A.c.kind, _A.c.note, _A.c.round, _A.c.suggestion)
#: the item ``user`` holds first (relabels and undone items come back first)
_MINE = (
    select(*_ITEM, _A.c.assigned_at)
    .where(_A.c.annotator == bindparam("user"), _A.c.status == "assigned")
    .order_by(_A.c.priority, _A.c.id)
    .limit(1)
)
_EARLIER = _A.alias("earlier")
#: lapsed work (released, expired) may come back to the same person; other work may not
_NOT_MINE = ~exists().where(
    and_(
        _EARLIER.c.sample_id == _A.c.sample_id,
        _EARLIER.c.annotator == bindparam("user"),
        _EARLIER.c.status.not_in(LAPSED),
    )
)


def _first(query, postgresql: bool):
    query = query.order_by(_A.c.priority, _A.c.id).limit(1)
    # PostgreSQL: claimers skip each other's rows; SQLite: the write lock already orders them
    return query.with_for_update(skip_locked=True, of=_A) if postgresql else query


_PICK = {
    pg: _first(
        select(_A.c.priority, _A.c.id).where(
            _A.c.status == "queued", _A.c.annotator.is_(None), _NOT_MINE
        ),
        pg,
    )
    for pg in (False, True)
}
_STALE = {
    pg: _first(
        select(_A.c.priority, _A.c.id).where(
            _A.c.status == "assigned",
            _A.c.kind != "gold",
            _A.c.assigned_at < bindparam("cutoff", type_=_A.c.assigned_at.type),
            _NOT_MINE,
        ),
        pg,
    )
    for pg in (False, True)
}
# (an UPDATE's parameters may not share a column's name)
_TAKE = (
    update(_A)
    .where(_A.c.id == bindparam("aid"), _A.c.status == "queued")
    .values(annotator=bindparam("who"), status="assigned", assigned_at=bindparam("stamp"))
    .returning(*_ITEM)
)
_RENEW = (
    update(_A)
    .where(_A.c.annotator == bindparam("who"), _A.c.status == "assigned")
    .values(assigned_at=bindparam("stamp"))
)
_ADD_ASSIGNMENT = insert(_A).returning(*_ITEM)
_ADD_LABEL = insert(_LABEL).returning(_LABEL.c.id)
_ADD_EVENT = insert(_EVENT)
_PROJECT_INFO = select(ProjectRow.__table__.c.task, ProjectRow.__table__.c.settings).limit(1)
_CLASSES = (
    select(ClassRow.__table__.c.name)
    .where(ClassRow.__table__.c.status == "active")
    .order_by(ClassRow.__table__.c.id)
)


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

    The claim and the item's payload are read in one transaction. It does not wait
    for the disk (``transaction(durable=False)``): a power cut may forget a claim,
    which only puts the item back in the queue; the holder's submit of it then gets a
    409, and no acknowledged label is lost.
    """
    at = _moment(now)
    check_lease(lease_minutes)
    return retry_on_disconnect(lambda: _next_item(project, user, lease_minutes, at))


def _next_item(project: Project, user: str, lease_minutes: float, at: datetime) -> dict | None:
    for attempt in range(2):
        with transaction(project.session, durable=False) as s:
            c = s.connection()
            mine = c.execute(_MINE, {"user": user}).first()
            if mine is not None and mine.assigned_at is not None:
                # coming back late: renew the lease (a write at most once per half lease)
                if at - mine.assigned_at > timedelta(minutes=lease_minutes / 2):
                    _renew(c, user, at)
            info = c.execute(_PROJECT_INFO).one()
            if mine is None:
                settings = _settings_of(info.settings)
                mine = _claim(c, user, settings, at, lease_minutes)
            if mine is not None:
                return _item(c, mine, info.task)
        if attempt or not enqueue(project):
            return None  # the second try follows a successful enqueue only
    return None


def _moment(now: datetime | None) -> datetime:
    """``now`` as an aware UTC time (a naive one is taken as UTC); the clock when None."""
    if now is None:
        return utcnow()
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def item_payload(project: Project, a: Assignment) -> dict:
    """What the labeling page needs: the assignment, its sample, a pre-label, the classes.

    In a detection or segmentation project the pre-label is ``{"objects": [...]}``, the
    model's boxes (see :mod:`labelwise.annotate._prelabels`), and ``task`` tells the
    page to show the box editor.
    """
    with project.engine.connect() as c, c.begin():
        return _item(c, a, c.execute(_PROJECT_INFO).one().task)


def _item(c, a, task: str) -> dict:
    """:func:`item_payload` read on the connection ``c`` (inside its transaction)."""
    classes = list(c.execute(_CLASSES).scalars())
    hint = a.suggestion or None
    if hint is not None and not (
        isinstance(hint.get("objects"), list)
        if is_object_task(task)
        else hint.get("label") in classes
    ):
        hint = None
    return {
        "assignment": {"id": a.id, "kind": a.kind, "note": a.note, "round": a.round},
        "sample": _sample(c, a.sample_id, _joined_sample(a)),
        "suggestion": hint,
        "classes": classes,
        "task": task,
    }


_SAMPLE_ROW = select(
    _SAMPLE.c.id,
    _SAMPLE.c.uid,
    _SAMPLE.c.text,
    _SAMPLE.c.data,
    _SAMPLE.c.meta,
    _SAMPLE.c.uri,
    _SAMPLE.c.split,
    _SAMPLE.c.import_id,
    select(_LABEL.c.value)  # its accepted label: at most one (ux_label_one_accepted)
    .where(_LABEL.c.sample_id == _SAMPLE.c.id, _LABEL.c.status == "accepted")
    .scalar_subquery()
    .label("label"),
).where(_SAMPLE.c.id == bindparam("id"))


_JOINED = "smp_"  # the sample's columns in a claim row
_PICKED = _PICK[True].cte("picked")
_TAKEN = (
    update(_A)
    .where(_A.c.id == _PICKED.c.id, _A.c.status == "queued")
    .values(annotator=bindparam("who"), status="assigned", assigned_at=bindparam("stamp"))
    .returning(*_ITEM)
    .cte("taken")
)
#: PostgreSQL: the first queued item ``user`` may have, taken and read with its sample in
#: one statement (one round trip); a row another claimer holds is skipped, not waited for
_CLAIM = select(
    *(_TAKEN.c[col.name] for col in _ITEM),
    *(col.label(f"{_JOINED}{col.name}") for col in _SAMPLE_ROW.selected_columns),
).join_from(_TAKEN, _SAMPLE, _SAMPLE.c.id == _TAKEN.c.sample_id)


def sample_payload(project: Project, sample_id: int) -> dict:
    """A sample as the web app shows it, with neighbouring video frames when it has them."""
    with project.engine.connect() as c, c.begin():
        return _sample(c, sample_id)


def _joined_sample(a) -> SimpleNamespace | None:
    """The sample read with a claim row (:data:`_CLAIM`); None for any other row."""
    m = getattr(a, "_mapping", None)
    if m is None or f"{_JOINED}id" not in m:
        return None
    n = len(_JOINED)
    return SimpleNamespace(**{k[n:]: v for k, v in m.items() if k.startswith(_JOINED)})


def _sample(c, sample_id: int, smp=None) -> dict:
    """:func:`sample_payload` read on the connection ``c`` (inside its transaction).

    ``smp``: the sample's row (:data:`_SAMPLE_ROW`'s columns), when already read.
    """
    if smp is None:
        smp = c.execute(_SAMPLE_ROW, {"id": sample_id}).first()
    if smp is None:
        raise NotFoundError(f"no sample with database id {sample_id}.")
    meta = smp.meta or {}
    neighbors = []
    if "video" in meta and "frame" in meta:
        neighbors = _frame_neighbors(c, smp, meta)
    return {
        "id": smp.id,
        "uid": smp.uid,
        "text": smp.text,
        "data": smp.data,
        "meta": meta,
        "has_media": bool(smp.uri),
        "label": smp.label,
        "neighbors": neighbors,
    }


def _frame_neighbors(s, smp: Sample, meta: dict, width: int = 2) -> list[dict]:
    """The ``width`` nearest frames before and after a video frame, from the same video.

    Nearest by frame index, so frames decoded at 2 per second from a 30 fps video
    (indices 0, 15, 30, ...) are neighbours as much as frames 0, 1, 2 of a frame
    folder. Near-duplicate frames (``split == "duplicate"``) are left out, and a
    duplicate itself has none: the relation is symmetric. Each neighbour has
    ``offset`` (in frames) and, for decoded videos, ``time_offset`` (in seconds).
    """
    if smp.split == "duplicate":
        return []
    try:
        frame = int(meta["frame"])
    except (TypeError, ValueError):
        return []
    # same import, nearby ids: frames of one video are imported together and in order
    near = s.execute(
        select(Sample.id, Sample.uid, Sample.meta).where(
            Sample.import_id == smp.import_id,
            Sample.split != "duplicate",
            Sample.id.between(smp.id - 50 * width, smp.id + 50 * width),
        )
    ).all()
    before, after = [], []
    for sid, uid, m in near:
        m = m or {}
        if sid == smp.id or m.get("video") != meta["video"]:
            continue
        try:
            f = int(m.get("frame"))
        except (TypeError, ValueError):
            continue
        row = {"id": sid, "uid": uid, "frame": f, "offset": f - frame}
        t, t0 = m.get("timestamp"), meta.get("timestamp")
        if isinstance(t, int | float) and isinstance(t0, int | float):
            row["time_offset"] = round(float(t) - float(t0), 6)
        (before if f < frame else after).append(row)
    before.sort(key=lambda r: r["frame"])
    after.sort(key=lambda r: r["frame"])
    return before[-width:] + after[:width]


def _owned(s, assignment_id: int, user: str) -> Assignment:
    a = s.scalars(
        select(Assignment).where(Assignment.id == assignment_id).with_for_update()
    ).first()
    return _check_owned(a, assignment_id, user)


def _check_owned(a, assignment_id: int, user: str):
    """``a`` (an assignment or its row), when ``user`` may label it now; else the reason."""
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


_OWNED = {
    pg: select(_A.c.id, _A.c.sample_id, _A.c.annotator, _A.c.status, _A.c.kind)
    .where(_A.c.id == bindparam("id"))
    .with_for_update(of=_A if pg else None)
    for pg in (False, True)
}
_CLASS_ACTIVE = select(ClassRow.__table__.c.id).where(
    ClassRow.__table__.c.name == bindparam("name"), ClassRow.__table__.c.status == "active"
)
#: the project's task, and whether the class given is an active one
_TASK_AND_CLASS = select(
    ProjectRow.__table__.c.task, exists(_CLASS_ACTIVE).label("class_ok")
).limit(1)
#: two people finishing the same overlap sample take turns (PostgreSQL; on SQLite the
#: write lock already does)
_LOCK_SAMPLE = (
    select(_SAMPLE.c.id).where(_SAMPLE.c.id == bindparam("id")).with_for_update(key_share=True)
)
_CURRENT = select(_LABEL.c.id).where(
    _LABEL.c.sample_id == bindparam("id"), _LABEL.c.status == "accepted"
)
_SUPERSEDE = update(_LABEL).where(_LABEL.c.id == bindparam("lid")).values(status="superseded")
_STAMP = bindparam("stamp", type_=_A.c.assigned_at.type)
#: the assignment is done, and the lease on the rest of its holder's work starts again
_DONE_AND_RENEW = (
    update(_A)
    .where(_A.c.annotator == bindparam("who"), _A.c.status == "assigned")
    .values(
        status=case((_A.c.id == bindparam("aid"), "done"), else_=_A.c.status),
        done_at=case((_A.c.id == bindparam("aid"), _STAMP), else_=_A.c.done_at),
        assigned_at=case((_A.c.id == bindparam("aid"), _A.c.assigned_at), else_=_STAMP),
    )
)


def submit(
    project: Project,
    user: str,
    assignment_id: int,
    label: str | dict,
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

    In a detection or segmentation project ``label`` is the image's objects,
    ``{"width", "height", "objects": [...]}`` in image pixels (a dict or its JSON
    text), checked by :func:`labelwise.io._objects.check_label` against the active
    classes and the image's size, and stored as its canonical text; a bad object
    raises :class:`~labelwise.errors.DataFileError` naming the object and key.

    One durable transaction of a few Core statements: nothing is acknowledged before
    the label, the assignment's end and the audit event are committed together.
    """
    if comment is not None and len(comment) > 5000:
        raise InvalidInputError("the comment is longer than 5000 characters; shorten it.")
    if duration is not None and (not math.isfinite(duration) or duration < 0):
        raise InvalidInputError(f"duration must be a number of seconds >= 0, got {duration}.")
    stamp = _moment(now)
    return retry_on_disconnect(
        lambda: _submit(project, user, assignment_id, label, unsure, comment, duration, stamp)
    )


def _submit(project, user, assignment_id, label, unsure, comment, duration, stamp) -> dict:
    with transaction(project.session) as s:
        c = s.connection()
        postgresql = c.dialect.name == "postgresql"
        name = label.strip() if isinstance(label, str) else ""
        task, class_ok = c.execute(_TASK_AND_CLASS, {"name": name}).one()
        objects = is_object_task(task)
        if objects:
            if not isinstance(label, dict | str) or (
                isinstance(label, str) and not label.lstrip().startswith("{")
            ):
                raise InvalidInputError(
                    f"this project's task is {task}: give the image's objects "
                    "{width, height, objects: [...]}, not a class name."
                )
        elif isinstance(label, dict):
            raise InvalidInputError(
                f"this project's task is {task}: give a class name, not objects."
            )
        else:
            label = (label or "").strip()
        a = _check_owned(
            c.execute(_OWNED[postgresql], {"id": assignment_id}).first(), assignment_id, user
        )
        if objects:
            label = _object_value(c, label, a.sample_id, set(c.execute(_CLASSES).scalars()))
        elif not class_ok:
            active = c.execute(_CLASSES).scalars()
            raise InvalidInputError(
                f"{label!r} is not an active class ({', '.join(sorted(active))})."
            )
        if postgresql:
            c.execute(_LOCK_SAMPLE, {"id": a.sample_id}).all()
        current = c.execute(_CURRENT, {"id": a.sample_id}).scalar()
        if a.kind == "gold":
            status = "gold"
        elif current is None:
            status = "accepted"
        elif a.kind == "relabel":
            c.execute(_SUPERSEDE, {"lid": current})
            status = "accepted"
        else:
            status = "overlap"
        label_id = c.execute(
            _ADD_LABEL,
            {
                "sample_id": a.sample_id,
                "value": label,
                "annotator": user,
                "duration": duration,
                "status": status,
                "source": "web",
                "created_at": stamp,
                "assignment_id": a.id,
                "unsure": bool(unsure),
                "comment": comment or None,
                "review_status": None if status == "gold" else "pending",
            },
        ).scalar_one()
        c.execute(_DONE_AND_RENEW, {"aid": a.id, "who": user, "stamp": stamp})
        c.execute(
            _ADD_EVENT,
            {
                "kind": "label.submit",
                "actor": user,
                "payload": {"label_id": label_id, "sample_id": a.sample_id, "value": label},
            },
        )
    return {"label_id": label_id, "status": status, "assignment_id": a.id}


def _object_value(s, doc, sample_id: int, active: set[str]) -> str:
    """The canonical text of an image's objects, checked against the classes and the image."""
    if not active:
        raise InvalidInputError("the project has no active class; an admin adds classes first.")
    checked = check_label(doc, where="objects", classes=active)
    meta = s.scalar(select(Sample.meta).where(Sample.id == sample_id)) or {}
    size = (meta.get("width"), meta.get("height"))
    if all(isinstance(v, int) for v in size) and size != (checked["width"], checked["height"]):
        raise DataFileError(
            f"objects: the image is {size[0]}x{size[1]} pixels, but the objects were drawn on "
            f"{checked['width']}x{checked['height']}; reload the page."
        )
    return dumps_label(checked)


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
