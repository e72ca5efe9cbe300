"""Alembic environment: runs on the engine the caller passes (see :func:`seglab.storage.db.upgrade`)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from seglab.storage.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no database: pass an engine in config.attributes['engine'] or sqlalchemy.url")
        engine = create_engine(url)
    # A write transaction (BEGIN IMMEDIATE on SQLite): two servers starting at once migrate one by one.
    with engine.execution_options(seglab_write=True).connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("seglab migrations run online only (seglab serve applies them at startup)")
run_migrations_online()
