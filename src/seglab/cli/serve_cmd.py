"""``seglab serve``: the labeling server on one machine, with nothing else to install or start; and
``seglab worker``: a process that runs background jobs from Redis when the server is set up at scale.

SQLite and the image files live in the data directory; the schema is migrated at start. On the first start
an administrator is created and its password printed once (or taken from ``SEGLAB_ADMIN_PASSWORD``).
Every setting can also come from ``SEGLAB_*`` environment variables (see :mod:`seglab.settings`), e.g.
``SEGLAB_DATABASE_URL=postgresql+psycopg://...`` to share one database between several server processes.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Annotated, Any

import typer

from seglab.cli.common import handle_errors, say


def tune_gc() -> None:
    """Collect garbage far less often than Python's defaults do, in the long-running server processes.

    Loading or saving an image of thousands of polygons builds hundreds of thousands of small lists and
    floats; with the default thresholds (a collection every 700 allocations) the cyclic collector takes
    most of such a request, scanning every long-lived object again and again. Objects made at start-up
    are frozen out of the scans, and the youngest generation is collected every 50,000 allocations.
    Memory stays bounded: request data is freed by reference counting as soon as the response is sent.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


@handle_errors
def serve_cmd(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Where the database and images live (default ~/.local/share/seglab)."
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on (default 8000).")] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="Add a demo project: every shape type, thing and stuff classes, sample images."
        ),
    ] = False,
) -> None:
    """Run the labeling server (REST API under /api, OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from seglab.api.app import build_services, create_app
    from seglab.service import bootstrap
    from seglab.settings import Settings

    overrides: dict[str, Any] = {"data_dir": data_dir, "host": host, "port": port}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    services = build_services(settings)
    settings = services.settings
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    account = bootstrap.ensure_admin(
        services.db, services.passwords, username=settings.admin_username, password=password
    )
    if demo:
        admin = bootstrap.admin_actor(services.db, settings.admin_username)
        project = bootstrap.create_demo_project(services.db, services.blobs, actor=admin)
        say(f"Demo project {bootstrap.DEMO_PROJECT!r} " + ("created" if project else "is already there"))
    say(f"seglab server at {settings.url}  (API {settings.url}/api, docs {settings.url}/docs)")
    say(f"Data directory: {settings.data_dir}")
    if account is not None and account.password is not None:
        say(f"Administrator created: user {account.username!r}, password {account.password!r}")
        say("The password is shown only now; change it with POST /api/auth/password.", style="bold")
    elif account is not None:
        say(f"Administrator created: user {account.username!r}, password from SEGLAB_ADMIN_PASSWORD")
    app = create_app(services=services)
    tune_gc()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False)


@handle_errors
def worker_cmd(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Scratch space for jobs (default ~/.local/share/seglab)."),
    ] = None,
    redis_url: Annotated[
        str | None, typer.Option("--redis-url", help="The job queue (default: SEGLAB_REDIS_URL).")
    ] = None,
    burst: Annotated[
        bool, typer.Option("--burst", help="Run the jobs waiting now, then exit (for scripts and tests).")
    ] = False,
    simple: Annotated[
        bool, typer.Option("--simple", help="Run jobs in this process instead of a forked child per job.")
    ] = False,
) -> None:
    """Run background jobs (imports, exports, predictions) from the Redis queue.

    Use the same SEGLAB_DATABASE_URL, SEGLAB_STORAGE_URL and SEGLAB_REDIS_URL as the servers; start as many
    workers as you like, on any machine. A worker that dies mid-job leaves nothing half-written: the job is
    retried (or failed) once its heartbeat goes stale.
    """
    from seglab.api.app import build_services
    from seglab.jobs.rq_worker import run_worker
    from seglab.settings import Settings

    overrides: dict[str, Any] = {"data_dir": data_dir, "redis_url": redis_url}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    if not settings.redis_url:
        raise typer.BadParameter("set SEGLAB_REDIS_URL (or --redis-url): workers take jobs from Redis")
    services = build_services(settings)
    say(
        f"seglab worker on {settings.redis_url.split('@')[-1]} (jobs scratch in {services.settings.data_dir})"
    )
    tune_gc()
    run_worker(services.jobs, settings.redis_url, burst=burst, simple=simple)


@handle_errors
def gc_cmd(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="The server's data directory (default ~/.local/share/seglab)."),
    ] = None,
    grace_minutes: Annotated[
        float | None,
        typer.Option(
            "--grace-minutes",
            min=0,
            help="Keep blobs younger than this (default SEGLAB_GC_GRACE_MINUTES, 120): writes in flight.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
) -> None:
    """Delete expired export files and the blobs no image, job or upload refers to any more.

    Safe while servers and workers run: a blob is deleted only when it is older than the grace period and,
    checked under its key's lock, no row refers to it and no upload or import has claimed it. Servers and
    workers also do this in the background (SEGLAB_GC_HOURS); this command runs it now.
    """
    from datetime import timedelta

    from seglab.service import maintenance
    from seglab.settings import Settings
    from seglab.storage.blobs import BlobStore
    from seglab.storage.db import Database

    settings = Settings(**({"data_dir": data_dir} if data_dir is not None else {})).resolved()
    assert settings.database_url and settings.storage_url  # resolved() fills them in
    db = Database(settings.database_url, busy_timeout_s=settings.sqlite_busy_timeout_s)
    try:
        db.migrate()
        blobs = BlobStore(settings.storage_url, endpoint_url=settings.s3_endpoint_url)
        if not dry_run:
            expired = maintenance.expire_exports(
                db, blobs, keep=timedelta(hours=settings.export_keep_hours), limit=1_000_000
            )
            say(f"Expired exports: {len(expired)} file(s) deleted")
        grace = settings.gc_grace_minutes if grace_minutes is None else grace_minutes
        report = maintenance.collect_garbage(db, blobs, grace=timedelta(minutes=grace), dry_run=dry_run)
        say(("Would delete: " if dry_run else "Garbage collection: ") + report.summary())
    finally:
        db.dispose()


if __name__ == "__main__":
    typer.run(serve_cmd)
