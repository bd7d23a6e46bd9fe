"""SQLAlchemy models of a project store.

Labels, selections, rounds, classes and the audit log live in the database;
feature matrices and fitted models live as files under the project folder,
referenced from the database with their checksum and version.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "ProjectRow",
    "Sample",
    "ClassRow",
    "Round",
    "SelectionRow",
    "Label",
    "Artifact",
    "Event",
    "User",
    "WebSession",
    "Assignment",
    "Gold",
    "UTCDateTime",
]


def now() -> datetime:
    """Timezone-aware current time (UTC)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL's ``timestamptz`` returns aware times in the session's time zone and
    SQLite returns naive ones; both are stored as UTC and read back aware, in UTC.
    A naive value given to it is taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class ProjectRow(Base):
    """The project's own settings (one row)."""

    __tablename__ = "project"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(32))
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Sample(Base):
    """One pool item: a stable id, where its content is, and its metadata."""

    __tablename__ = "sample"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(512), unique=True)
    uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    meta: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    split: Mapped[str] = mapped_column(String(16), default="pool", index=True)  # or "eval"
    import_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class ClassRow(Base):
    """A class of the ontology; retired classes stay for history."""

    __tablename__ = "class"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Round(Base):
    """One select -> label -> retrain cycle."""

    __tablename__ = "round"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    strategy: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    batch_size: Mapped[int] = mapped_column(Integer)
    n_labeled: Mapped[int] = mapped_column(Integer)
    metric_name: Mapped[str | None] = mapped_column(String(32), nullable=True)
    metric: Mapped[float | None] = mapped_column(Float, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # migration 0004: the model trained after the round, its evaluation metric with
    # interval and n_eval, CV accuracy on the selected labels, per-item hits
    info: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class SelectionRow(Base):
    """A sample picked in a round, with its provenance."""

    __tablename__ = "selection"
    __table_args__ = (UniqueConstraint("round_id", "sample_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id", ondelete="CASCADE"))
    sample_id: Mapped[int] = mapped_column(ForeignKey("sample.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    strategy: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    scores: Mapped[dict] = mapped_column(JSON, default=dict)
    normalized: Mapped[dict] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Label(Base):
    """A label given to a sample: its one accepted label (the newest) is its label."""

    __tablename__ = "label"
    __table_args__ = (
        Index("ix_label_sample_status", "sample_id", "status"),
        Index(
            "ux_label_one_accepted",
            "sample_id",
            unique=True,
            sqlite_where=text("status = 'accepted'"),
            postgresql_where=text("status = 'accepted'"),
        ),
        Index("ix_label_review", "review_status", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("sample.id", ondelete="CASCADE"))
    # a class name, or an image's objects as canonical JSON (io/_objects.py; migration 0005)
    value: Mapped[str] = mapped_column(Text)
    annotator: Mapped[str | None] = mapped_column(String(200), nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="accepted")
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # given in the web app (migration 0003)
    assignment_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    unsure: Mapped[bool] = mapped_column(Boolean, default=False)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    review_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    review_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewer: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    issue: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class Artifact(Base):
    """A file under the project folder: features or a fitted model, with checksum."""

    __tablename__ = "artifact"
    __table_args__ = (UniqueConstraint("kind", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # "features" | "model"
    version: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    info: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Event(Base):
    """The audit log: every change, who made it and what it was."""

    __tablename__ = "event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class User(Base):
    """A person who logs in to the web app: admin, reviewer or annotator."""

    __tablename__ = "user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class WebSession(Base):
    """A logged-in browser: the SHA-256 of its cookie token, its CSRF token, its expiry."""

    __tablename__ = "web_session"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Assignment(Base):
    """One unit of labeling work: a sample to be labeled once by one person.

    ``status``: queued (nobody yet) -> assigned (one annotator) -> done or skipped.
    ``kind``: label, overlap (an extra annotator on purpose), relabel (after a
    rejection; ``note`` holds the reviewer's note) or gold (a control sample).
    """

    __tablename__ = "assignment"
    __table_args__ = (
        Index("ix_assignment_queue", "status", "priority", "id"),
        Index("ix_assignment_who", "annotator", "status"),
        Index("ix_assignment_sample", "sample_id", "annotator"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("sample.id", ondelete="CASCADE"))
    annotator: Mapped[str | None] = mapped_column(String(200), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), default="label")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    priority: Mapped[int] = mapped_column(Integer, default=1)
    round: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    suggestion: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Gold(Base):
    """A control sample with its known answer, mixed into annotators' work."""

    __tablename__ = "gold"
    sample_id: Mapped[int] = mapped_column(
        ForeignKey("sample.id", ondelete="CASCADE"), primary_key=True
    )
    value: Mapped[str] = mapped_column(Text)  # migration 0005
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
