"""Blob claims (keys that uploads and imports are about to reference, which garbage collection keeps)
and an index on image checksums (garbage collection asks which blobs images still use).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blob_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_blob_claims_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blob_claims")),
    )
    op.create_index("ix_blob_claims_key", "blob_claims", ["key"])
    op.create_index("ix_blob_claims_job", "blob_claims", ["job_id"])
    op.create_index("ix_images_checksum", "images", ["checksum"])


def downgrade() -> None:
    op.drop_index("ix_images_checksum", table_name="images")
    op.drop_table("blob_claims")
