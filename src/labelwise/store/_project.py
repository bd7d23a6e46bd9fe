"""A labeling project on disk: a folder with a database, feature files and model files.

``DIR/labelwise.json`` says where the database is (default ``sqlite:///DIR/labelwise.db``;
a PostgreSQL URL when given at ``init``). Every write runs in one transaction:
an import or a label file goes in whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from labelwise.errors import InvalidInputError, LabelwiseError
from labelwise.store._db import advisory_lock, make_engine, migrate, transaction
from labelwise.store._models import Artifact, ClassRow, Event, Label, ProjectRow, Round, Sample

__all__ = ["Project", "ProjectError", "TASKS", "atomic_write", "sha256_of"]

CONFIG = "labelwise.json"
#: detection and segmentation labels are an image's objects (boxes, polygons, RLE masks)
#: stored as canonical JSON: see :mod:`labelwise.io._objects`
TASKS = ("classification", "regression", "multilabel", "detection", "segmentation")


class ProjectError(LabelwiseError, ValueError):
    """A project folder that is missing, not a project, or already one."""


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old content or the new, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Project:
    """An open project. Use :meth:`init` or :meth:`open`."""

    path: Path
    url: str
    #: SQLite writers queue on a file lock shared with other processes (``serve --workers``)
    process_lock: bool = False

    def __post_init__(self):
        self.engine = make_engine(self.url, process_lock=self.process_lock)
        self.session = sessionmaker(self.engine, expire_on_commit=False)

    # -- life cycle ----------------------------------------------------------------------
    @classmethod
    def init(
        cls,
        path: str | Path,
        *,
        task: str = "classification",
        classes: Sequence[str] = (),
        db: str | None = None,
        name: str | None = None,
    ) -> Project:
        """Create a project folder with its database, schema and classes."""
        path = Path(path)
        if (path / CONFIG).exists():
            raise ProjectError(f"{path} is already a labelwise project; open it instead.")
        if task not in TASKS:
            raise InvalidInputError(f"--task must be one of {list(TASKS)}, got {task!r}.")
        classes = [c.strip() for c in classes if c.strip()]
        if len(set(classes)) != len(classes):
            raise InvalidInputError(f"--classes has duplicates: {classes}.")
        if task == "classification" and len(classes) == 1:
            raise InvalidInputError("classification needs at least 2 classes (or none yet).")
        from labelwise._validation import check_writable

        check_writable(path, flag="the project folder", folder=True)
        # a folder made here is its owner's only (0700): it holds the database with the
        # password hashes (0600, see make_engine), features and models; a folder that
        # already existed keeps the mode its owner gave it
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        url = db or f"sqlite:///{(path / 'labelwise.db').resolve()}"
        project = cls(path, url)
        migrate(project.engine)
        with transaction(project.session) as s:
            advisory_lock(s, "project")
            if s.scalar(select(func.count()).select_from(ProjectRow)):
                raise ProjectError(f"the database {url} already holds a project.")
            s.add(ProjectRow(name=name or path.resolve().name, task=task, settings={}))
            for c in classes:
                s.add(ClassRow(name=c, status="active"))
            s.add(Event(kind="project.init", payload={"task": task, "classes": classes}))
        cfg = {"db": db, "format": 1}  # None = the SQLite file beside this config
        atomic_write(path / CONFIG, json.dumps(cfg, indent=1).encode())
        (path / "artifacts").mkdir(mode=0o700, exist_ok=True)
        return project

    @classmethod
    def open(cls, path: str | Path, *, process_lock: bool = False) -> Project:
        """Open an existing project folder (migrating its schema if it is older).

        ``process_lock``: this process is one of several writing to the project's SQLite
        file at once (``serve --workers N``); see :mod:`labelwise.store._db`.
        """
        path = Path(path)
        cfg_path = path / CONFIG
        if not cfg_path.exists():
            raise ProjectError(
                f"{path} is not a labelwise project (no {CONFIG}); create it with "
                f"'labelwise init {path} --classes a,b'."
            )
        try:
            cfg = json.loads(cfg_path.read_text())
        except json.JSONDecodeError as e:
            raise ProjectError(f"{cfg_path} is not valid JSON ({e}).") from None
        url = cfg.get("db") or f"sqlite:///{(path / 'labelwise.db').resolve()}"
        project = cls(path, url, process_lock)
        migrate(project.engine)
        return project

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    # -- reads ---------------------------------------------------------------------------
    @property
    def info(self) -> ProjectRow:
        """The project row (name, task, settings)."""
        with self.session() as s:
            return s.scalars(select(ProjectRow)).one()

    @property
    def task(self) -> str:
        """classification, regression, multilabel, detection or segmentation."""
        return self.info.task

    def classes(self, *, active_only: bool = True) -> list[str]:
        """Class names in the order they were added."""
        with self.session() as s:
            q = select(ClassRow.name).order_by(ClassRow.id)
            if active_only:
                q = q.where(ClassRow.status == "active")
            return list(s.scalars(q))

    def sample_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """(database ids, stable uids) of every sample, by database id."""
        with self.session() as s:
            rows = s.execute(select(Sample.id, Sample.uid).order_by(Sample.id)).all()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        return ids, np.asarray([r[1] for r in rows], dtype=object)

    def current_labels(self) -> dict[int, str]:
        """Map each sample's database id to its accepted (newest) label."""
        with self.session() as s:
            rows = s.execute(
                select(Label.sample_id, Label.value)
                .where(Label.status == "accepted")
                .order_by(Label.id)
            ).all()
        return {sid: v for sid, v in rows}

    def latest_artifact(self, kind: str) -> Artifact | None:
        """The newest features or model artifact, or None."""
        with self.session() as s:
            return s.scalars(
                select(Artifact).where(Artifact.kind == kind).order_by(Artifact.version.desc())
            ).first()

    def artifact_path(self, art: Artifact) -> Path:
        """Absolute path of an artifact, checked against its recorded checksum."""
        p = self.path / art.path
        if not p.exists():
            raise ProjectError(f"{art.kind} file {p} is missing; recompute it.")
        if sha256_of(p) != art.sha256:
            raise ProjectError(
                f"{art.kind} file {p} does not match its recorded checksum; it was changed "
                "outside labelwise. Recompute it."
            )
        return p

    def add_artifact(self, kind: str, data: bytes, suffix: str, info: dict) -> Artifact:
        """Store a file under artifacts/ with its checksum and a new version number."""
        with transaction(self.session) as s:
            advisory_lock(s, f"artifact:{kind}")  # one writer per version number and file
            version = (
                s.scalar(select(func.max(Artifact.version)).where(Artifact.kind == kind)) or 0
            ) + 1
            rel = Path("artifacts") / f"{kind}-v{version}{suffix}"
            atomic_write(self.path / rel, data)
            art = Artifact(
                kind=kind,
                version=version,
                path=str(rel),
                sha256=hashlib.sha256(data).hexdigest(),
                info=info,
            )
            s.add(art)
            s.add(Event(kind=f"{kind}.add", payload={"version": version, **info}))
        return art

    def rounds(self) -> list[Round]:
        """Every round, oldest first."""
        with self.session() as s:
            return list(s.scalars(select(Round).order_by(Round.number)))

    def log(self, kind: str, payload: dict, actor: str | None = None) -> None:
        """Append an event to the audit log."""
        with transaction(self.session) as s:
            s.add(Event(kind=kind, payload=payload, actor=actor))


CHUNK = 5000  # values per ``IN (...)``: far below SQLite's and PostgreSQL's bind limits


def ids_of(session, uids) -> dict[str, int]:
    """Database ids of the samples with these stable ids (unknown ones left out), in chunks."""
    uids = list(uids)
    found: dict[str, int] = {}
    for start in range(0, len(uids), CHUNK):
        chunk = uids[start : start + CHUNK]
        found.update(
            session.execute(select(Sample.uid, Sample.id).where(Sample.uid.in_(chunk))).all()
        )
    return found


def adopt_classes(session, values, source: str) -> list[str]:
    """Give a project without classes the classes its first labels use (logged).

    A project created without ``--classes`` takes its ontology from the first labels
    that arrive; once it has classes, labels outside them are refused instead.
    """
    if session.scalar(select(func.count()).select_from(ClassRow)):
        return []
    names = sorted({str(v) for v in values})
    for name in names:
        session.add(ClassRow(name=name, status="active"))
    if names:
        session.add(Event(kind="classes.adopt", payload={"classes": names, "source": source}))
    return names
