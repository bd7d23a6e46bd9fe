"""Label values as text: a detection or segmentation label is a JSON list of objects.

``label.value`` and ``gold.value`` were ``VARCHAR(200)`` (a class name); an image's
objects (boxes, polygons, RLE masks) are far longer. SQLite does not enforce a
VARCHAR length (both are TEXT affinity), so only PostgreSQL changes its column type;
no table is copied.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = (("label", "value"), ("gold", "value"))


def upgrade() -> None:  # noqa: D103
    if op.get_bind().dialect.name == "sqlite":
        return  # VARCHAR(200) and TEXT are the same to SQLite: nothing to change
    for table, column in _COLUMNS:
        op.alter_column(table, column, type_=sa.Text, existing_type=sa.String(200))


def downgrade() -> None:  # noqa: D103
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column in _COLUMNS:
        # values over 200 characters (objects) would not fit: refuse rather than cut them
        op.alter_column(table, column, type_=sa.String(200), existing_type=sa.Text)
