"""The ontology: add, rename, merge and retire classes; every label follows, history kept.

A rename or merge rewrites the value of every label (current and past), gold answer
and pre-label of the class in one transaction, and the audit log keeps what was
changed (the ids of the labels moved by a merge). Retired and merged classes stay
in the class table, so old labels and events still name something.
"""

from __future__ import annotations

from sqlalchemy import select, update

from labelwise.errors import ConflictError, InvalidInputError, NotFoundError
from labelwise.store import Project, advisory_lock, transaction
from labelwise.store._models import ClassRow, Event, Gold, Label

__all__ = ["add_class", "merge_classes", "rename_class", "retire_class", "class_table"]


def _clean(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200 or any(c in name for c in "\n\r\t,"):
        raise InvalidInputError(
            f"class name {name!r} is not valid: 1 to 200 characters, one line, no commas."
        )
    return name


def _get(s, name: str) -> ClassRow:
    row = s.scalars(select(ClassRow).where(ClassRow.name == name).with_for_update()).first()
    if row is None:
        raise NotFoundError(f"no class named {name!r}.")
    return row


def class_table(project: Project) -> list[dict]:
    """Every class with its status and how many current labels it has."""
    from sqlalchemy import func

    with project.session() as s:
        counts = dict(
            s.execute(
                select(Label.value, func.count())
                .where(Label.status == "accepted")
                .group_by(Label.value)
            ).all()
        )
        rows = s.scalars(select(ClassRow).order_by(ClassRow.id)).all()
    return [{"name": r.name, "status": r.status, "n_labels": counts.get(r.name, 0)} for r in rows]


def add_class(project: Project, name: str, *, actor: str | None = None) -> None:
    """Add a class (or bring a retired one back)."""
    name = _clean(name)
    with transaction(project.session) as s:
        advisory_lock(s, "ontology")
        row = s.scalars(select(ClassRow).where(ClassRow.name == name)).first()
        if row is not None and row.status == "active":
            raise ConflictError(f"class {name!r} already exists.")
        if row is not None and row.status == "merged":
            raise ConflictError(f"class {name!r} was merged into another; pick a new name.")
        if row is None:
            s.add(ClassRow(name=name, status="active"))
        else:
            row.status = "active"
        s.add(Event(kind="class.add", actor=actor, payload={"name": name}))


def _move(s, old: str, new: str) -> list[int]:
    moved = list(s.scalars(select(Label.id).where(Label.value == old)))
    s.execute(update(Label).where(Label.value == old).values(value=new))
    s.execute(update(Gold).where(Gold.value == old).values(value=new))
    return moved


def rename_class(project: Project, old: str, new: str, *, actor: str | None = None) -> int:
    """Rename a class; every label of it follows. Returns the number of labels changed."""
    new = _clean(new)
    with transaction(project.session) as s:
        advisory_lock(s, "ontology")
        row = _get(s, old)
        if s.scalar(select(ClassRow.id).where(ClassRow.name == new)) is not None:
            raise ConflictError(
                f"class {new!r} already exists; merge {old!r} into it instead of renaming."
            )
        row.name = new
        moved = _move(s, old, new)
        s.add(
            Event(
                kind="class.rename",
                actor=actor,
                payload={"old": old, "new": new, "n_labels": len(moved)},
            )
        )
    return len(moved)


def merge_classes(project: Project, source: str, target: str, *, actor: str | None = None) -> int:
    """Merge ``source`` into ``target``: its labels become ``target``'s; it is kept as merged."""
    if source == target:
        raise InvalidInputError("merge needs two different classes.")
    with transaction(project.session) as s:
        advisory_lock(s, "ontology")
        src, dst = _get(s, source), _get(s, target)
        if dst.status != "active":
            raise ConflictError(f"class {target!r} is {dst.status}; merge into an active class.")
        moved = _move(s, source, target)
        src.status = "merged"
        # the merged class keeps its row under a new name, so the name is free again
        src.name = f"{source} (merged into {target} #{src.id})"
        s.add(
            Event(
                kind="class.merge",
                actor=actor,
                payload={"source": source, "target": target, "label_ids": moved},
            )
        )
    return len(moved)


def retire_class(project: Project, name: str, *, actor: str | None = None) -> None:
    """Stop offering a class; its labels stay as they are."""
    with transaction(project.session) as s:
        advisory_lock(s, "ontology")
        row = _get(s, name)
        if row.status != "active":
            raise ConflictError(f"class {name!r} is already {row.status}.")
        active = s.scalars(select(ClassRow.id).where(ClassRow.status == "active")).all()
        if len(active) <= 2:
            raise ConflictError("a project keeps at least 2 active classes; add one first.")
        row.status = "retired"
        s.add(Event(kind="class.retire", actor=actor, payload={"name": name}))
