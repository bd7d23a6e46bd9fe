"""Initial schema: project, sample, class, round, selection, label, artifact, event.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _created():
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:  # noqa: D103
    op.create_table(
        "project",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        _created(),
    )
    op.create_table(
        "sample",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(512), nullable=False, unique=True),
        sa.Column("uri", sa.Text, nullable=True),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("data", sa.JSON, nullable=True),
        sa.Column("meta", sa.JSON, nullable=True),
        sa.Column("split", sa.String(16), nullable=False),
        sa.Column("import_id", sa.Integer, nullable=True),
        _created(),
    )
    op.create_table(
        "class",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        _created(),
    )
    op.create_table(
        "round",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.Integer, nullable=False, unique=True),
        sa.Column("strategy", sa.String(64), nullable=False),
        sa.Column("model_version", sa.Integer, nullable=True),
        sa.Column("batch_size", sa.Integer, nullable=False),
        sa.Column("n_labeled", sa.Integer, nullable=False),
        sa.Column("metric_name", sa.String(32), nullable=True),
        sa.Column("metric", sa.Float, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        _created(),
    )
    op.create_table(
        "selection",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "round_id", sa.Integer, sa.ForeignKey("round.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "sample_id", sa.Integer, sa.ForeignKey("sample.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("strategy", sa.String(64), nullable=False),
        sa.Column("model_version", sa.Integer, nullable=True),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("normalized", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        _created(),
        sa.UniqueConstraint("round_id", "sample_id"),
    )
    op.create_table(
        "label",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "sample_id", sa.Integer, sa.ForeignKey("sample.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("annotator", sa.String(200), nullable=True),
        sa.Column("duration", sa.Float, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=True),
        _created(),
    )
    op.create_index("ix_label_sample_status", "label", ["sample_id", "status"])
    op.create_table(
        "artifact",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("info", sa.JSON, nullable=False),
        _created(),
        sa.UniqueConstraint("kind", "version"),
    )
    op.create_table(
        "event",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("payload", sa.JSON, nullable=False),
        _created(),
    )


def downgrade() -> None:  # noqa: D103
    for table in ("event", "artifact", "label", "selection", "round", "class", "sample", "project"):
        op.drop_table(table)
