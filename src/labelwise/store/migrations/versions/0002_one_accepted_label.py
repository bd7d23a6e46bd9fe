"""At most one accepted label per sample, enforced by a partial unique index.

Older databases written by concurrent label imports may hold several accepted
labels for one sample; all but the newest become superseded first (that newest
one is what the sample's label already was).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ACCEPTED = sa.text("status = 'accepted'")


def upgrade() -> None:  # noqa: D103
    op.execute(
        "update label set status = 'superseded' where status = 'accepted' and id < "
        "(select max(l2.id) from label l2 where l2.sample_id = label.sample_id "
        "and l2.status = 'accepted')"
    )
    op.create_index(
        "ux_label_one_accepted",
        "label",
        ["sample_id"],
        unique=True,
        sqlite_where=ACCEPTED,
        postgresql_where=ACCEPTED,
    )


def downgrade() -> None:  # noqa: D103
    op.drop_index("ux_label_one_accepted", table_name="label")
