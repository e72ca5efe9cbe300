"""Object documents as ``json`` on PostgreSQL: geometry, attributes and extra of annotations and
predictions, and the changes of the annotation history.

JSONB parsed every coordinate into a ``numeric`` on insert and printed it back on read; these columns are
only ever written and read whole, so ``json`` (the text as written, checked on insert) serves them at a
third of the cost. The large ones (a history row holds every changed object) are compressed with LZ4
where the server has it, which costs a fraction of the default pglz. SQLite stores JSON as text already:
nothing changes there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DOCUMENT_COLUMNS = {
    "annotations": ("geometry", "attributes", "extra"),
    "predictions": ("geometry", "attributes", "extra"),
    "annotation_history": ("changes",),
}
COMPRESSED = (("annotation_history", "changes"), ("annotations", "geometry"), ("predictions", "geometry"))


def _retype(to: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in DOCUMENT_COLUMNS.items():
        new_type = postgresql.JSON() if to == "json" else postgresql.JSONB(astext_type=sa.Text())
        for column in columns:
            op.alter_column(table, column, type_=new_type, postgresql_using=f"{column}::{to}")


def _lz4_available() -> bool:
    """PostgreSQL 14+ built with LZ4 (Debian's and the official images are); otherwise the default stays."""
    bind = op.get_bind()
    if bind.dialect.server_version_info < (14,):
        return False
    options = bind.execute(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    ).scalar()
    return bool(options) and "lz4" in options


def upgrade() -> None:
    _retype("json")
    if op.get_bind().dialect.name == "postgresql" and _lz4_available():
        for table, column in COMPRESSED:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


def downgrade() -> None:
    _retype("jsonb")  # the column's compression goes with its old values: jsonb is written anew
