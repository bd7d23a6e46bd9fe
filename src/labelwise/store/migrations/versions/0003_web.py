"""The web app: users, sessions, assignments (the work queue), gold samples, review fields.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _created():
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:  # noqa: D103
    # plain ADD COLUMN (SQLite can): a batch copy of the label table is not needed
    for col in (
        sa.Column("assignment_id", sa.Integer, nullable=True),
        sa.Column("unsure", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("review_status", sa.String(16), nullable=True),
        sa.Column("review_note", sa.Text, nullable=True),
        sa.Column("reviewer", sa.String(200), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issue", sa.JSON, nullable=True),
    ):
        op.add_column("label", col)
    op.create_index("ix_label_review", "label", ["review_status", "id"])
    op.create_table(
        "user",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        _created(),
    )
    op.create_table(
        "web_session",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("user.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("csrf", sa.String(64), nullable=False),
        _created(),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "assignment",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "sample_id", sa.Integer, sa.ForeignKey("sample.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("annotator", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("round", sa.Integer, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("suggestion", sa.JSON, nullable=True),
        _created(),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_assignment_queue", "assignment", ["status", "priority", "id"])
    op.create_index("ix_assignment_who", "assignment", ["annotator", "status"])
    op.create_index("ix_assignment_sample", "assignment", ["sample_id", "annotator"])
    op.create_table(
        "gold",
        sa.Column(
            "sample_id",
            sa.Integer,
            sa.ForeignKey("sample.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("value", sa.String(200), nullable=False),
        _created(),
    )


def downgrade() -> None:  # noqa: D103
    op.drop_table("gold")
    op.drop_table("assignment")
    op.drop_table("web_session")
    op.drop_table("user")
    op.drop_index("ix_label_review", table_name="label")
    with op.batch_alter_table("label") as b:
        for c in (
            "issue",
            "reviewed_at",
            "reviewer",
            "review_note",
            "review_status",
            "comment",
            "unsure",
            "assignment_id",
        ):
            b.drop_column(c)
