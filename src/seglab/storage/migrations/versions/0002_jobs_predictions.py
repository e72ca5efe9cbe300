"""Background jobs, model predictions, and image subset / image-level labels from imports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(column: str, table: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("subset", sa.String(length=100), nullable=True))
        # The default fills the rows that exist; new rows always get their value from the application.
        batch.add_column(sa.Column("meta", _json(), nullable=False, server_default=sa.text("'{}'")))
    with op.batch_alter_table("images") as batch:
        batch.alter_column("meta", server_default=None)

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("params", _json(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("result", _json(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        _time("heartbeat_at", nullable=True),
        _time("created_at"),
        _time("started_at", nullable=True),
        _time("finished_at", nullable=True),
        _fk("created_by", "jobs", "users", "SET NULL"),
        _fk("project_id", "jobs", "projects", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_project_created", "jobs", ["project_id", "id"])
    op.create_index("ix_jobs_status", "jobs", ["status"])

    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("geometry", _json(), nullable=False),
        sa.Column("attributes", _json(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("uncertainty", sa.Float(), nullable=True),
        sa.Column("extra", _json(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        _time("decided_at", nullable=True),
        _time("created_at"),
        _fk("decided_by", "predictions", "users", "SET NULL"),
        _fk("image_id", "predictions", "images", "CASCADE"),
        _fk("job_id", "predictions", "jobs", "SET NULL"),
        _fk("project_id", "predictions", "projects", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
    )
    op.create_index("ix_predictions_image_status", "predictions", ["image_id", "status"])
    op.create_index("ix_predictions_project_model", "predictions", ["project_id", "model"])


def downgrade() -> None:
    op.drop_table("predictions")
    op.drop_table("jobs")
    with op.batch_alter_table("images") as batch:
        batch.drop_column("meta")
        batch.drop_column("subset")
