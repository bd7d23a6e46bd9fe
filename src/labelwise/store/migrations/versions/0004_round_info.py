"""Round info: a round's evaluation metric with its interval, n_eval and CV accuracy.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:  # noqa: D103
    op.add_column("round", sa.Column("info", sa.JSON, nullable=True))
    op.create_index("ix_sample_split", "sample", ["split"])


def downgrade() -> None:  # noqa: D103
    op.drop_index("ix_sample_split", table_name="sample")
    op.drop_column("round", "info")
