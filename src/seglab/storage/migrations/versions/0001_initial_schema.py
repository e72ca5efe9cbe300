"""Initial schema: users, sessions, tokens, projects, members, images, annotations, history, comments.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
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
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    for table in ("api_tokens", "auth_sessions"):
        token_columns = (
            [
                sa.Column("name", sa.String(length=200), nullable=False),
                sa.Column("prefix", sa.String(length=16), nullable=False),
            ]
            if table == "api_tokens"
            else []
        )
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("user_id", sa.Integer(), nullable=False),
            *token_columns,
            sa.Column("token_hash", sa.String(length=64), nullable=False),
            _time("created_at"),
            _time("expires_at", nullable=table == "api_tokens"),
            _fk("user_id", table, "users", "CASCADE"),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
            sa.UniqueConstraint("token_hash", name=op.f(f"uq_{table}_token_hash")),
        )
        op.create_index(op.f(f"ix_{table}_user_id"), table, ["user_id"])

    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("ontology", _json(), nullable=False),
        sa.Column("ontology_version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        _fk("created_by", "projects", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_projects_name")),
    )
    op.create_table(
        "members",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        _time("created_at"),
        _fk("project_id", "members", "projects", "CASCADE"),
        _fk("user_id", "members", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "user_id", name=op.f("pk_members")),
    )
    op.create_index(op.f("ix_members_user_id"), "members", ["user_id"])

    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=1024), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=50), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("annotation_version", sa.Integer(), nullable=False),
        sa.Column("next_object_id", sa.Integer(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _fk("assignee_id", "images", "users", "SET NULL"),
        _fk("project_id", "images", "projects", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
        sa.UniqueConstraint("project_id", "checksum", name="uq_images_project_checksum"),
        sa.UniqueConstraint("project_id", "file_name", name="uq_images_project_file_name"),
    )
    op.create_index("ix_images_project_assignee", "images", ["project_id", "assignee_id"])
    op.create_index("ix_images_project_status", "images", ["project_id", "status"])

    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("geometry", _json(), nullable=False),
        sa.Column("attributes", _json(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("uncertainty", sa.Float(), nullable=True),
        sa.Column("z_order", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("track_id", sa.Integer(), nullable=True),
        sa.Column("crowd", sa.Boolean(), nullable=False),
        sa.Column("extra", _json(), nullable=False),
        _fk("image_id", "annotations", "images", "CASCADE"),
        _fk("project_id", "annotations", "projects", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotations")),
        sa.UniqueConstraint("image_id", "object_id", name="uq_annotations_image_object"),
    )
    op.create_index("ix_annotations_project_label", "annotations", ["project_id", "label"])

    op.create_table(
        "annotation_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        _time("created_at"),
        sa.Column("changes", _json(), nullable=False),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        _fk("image_id", "annotation_history", "images", "CASCADE"),
        _fk("project_id", "annotation_history", "projects", "CASCADE"),
        _fk("user_id", "annotation_history", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_history")),
        sa.UniqueConstraint("image_id", "version", name="uq_annotation_history_image_version"),
    )
    op.create_index(op.f("ix_annotation_history_project_id"), "annotation_history", ["project_id"])

    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("x", sa.Float(), nullable=True),
        sa.Column("y", sa.Float(), nullable=True),
        sa.Column("object_id", sa.Integer(), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _fk("author_id", "comments", "users", "SET NULL"),
        _fk("image_id", "comments", "images", "CASCADE"),
        _fk("project_id", "comments", "projects", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    op.create_index(op.f("ix_comments_image_id"), "comments", ["image_id"])


def downgrade() -> None:
    for table in (
        "comments",
        "annotation_history",
        "annotations",
        "images",
        "members",
        "projects",
        "auth_sessions",
        "api_tokens",
        "users",
    ):
        op.drop_table(table)
