"""The project store: SQLAlchemy models, Alembic migrations, artifact files."""

from labelwise.store._db import (
    advisory_lock,
    current_revision,
    make_engine,
    migrate,
    retry_on_disconnect,
    transaction,
)
from labelwise.store._project import Project, ProjectError, atomic_write, sha256_of

__all__ = [
    "Project",
    "ProjectError",
    "advisory_lock",
    "atomic_write",
    "current_revision",
    "make_engine",
    "migrate",
    "retry_on_disconnect",
    "sha256_of",
    "transaction",
]
