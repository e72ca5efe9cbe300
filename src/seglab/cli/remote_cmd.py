"""``seglab import`` and ``seglab export``: move a whole dataset into or out of a project on a seglab
server, through :mod:`seglab.client` (the token comes from ``SEGLAB_TOKEN``).

The server does the work as a background job; the command follows it with a progress bar and prints the
counts (or every problem of a refused import). ``export`` writes a ``.zip`` as it is, or unpacks it into a
folder; either way the destination appears whole or not at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from seglab.cli.common import check_format, handle_errors, is_nonempty_dir, say, stderr, usage_error
from seglab.client import Client, JobFailedError
from seglab.client.api import TOKEN_ENV, Job
from seglab.formats.safe_io import extract_archive

ServerOption = Annotated[
    str, typer.Option("--server", help="The server's URL, e.g. http://127.0.0.1:8000.", show_default=False)
]
ProjectOption = Annotated[
    str, typer.Option("--project", help="The project's name (or its numeric id).", show_default=False)
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for the server's job (it keeps running after).")
]
SHOWN_PROBLEMS = 20


def _connect(server: str) -> Client:
    if not os.environ.get(TOKEN_ENV, "").strip():
        raise usage_error(
            f"set {TOKEN_ENV} to a personal API token (create one in the web app, or POST /api/tokens)",
            "--server",
        )
    return Client(server)


def _project_id(client: Client, name: str) -> int:
    return int(client.project(int(name) if name.isdigit() else name)["id"])


@contextmanager
def _following(title: str) -> Iterator[Any]:
    """A progress bar on stderr, fed with the job's states."""
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr(), transient=True) as bar:
        task = bar.add_task(title, total=1.0)

        def update(job: Job) -> None:
            message = f"{title}: {job.message}" if job.message else f"{title} ({job.status})"
            bar.update(task, completed=job.progress, description=message[:80])

        yield update


def _problem_text(problem: Any) -> str:
    """One problem of an import report (``{file, where, reason}``) as a line."""
    if not isinstance(problem, dict):
        return str(problem)
    where = ": ".join(str(problem[k]) for k in ("file", "where") if problem.get(k))
    reason = problem.get("reason", problem)
    return f"{where}: {reason}" if where else str(reason)


def _report_failure(exc: JobFailedError) -> None:
    err = stderr()
    err.print(Text(f"error: {exc}", style="bold red"))
    problems = exc.job.problems
    for problem in problems[:SHOWN_PROBLEMS]:
        err.print(Text(f"  {_problem_text(problem)}"))
    if len(problems) > SHOWN_PROBLEMS:
        err.print(Text(f"  ... and {len(problems) - SHOWN_PROBLEMS} more"))
    if problems:
        err.print(Text("Fix them, or pass --skip-invalid to leave them out (they are counted and listed)."))


def _wait_or_exit(client: Client, job: Job, kind: str, timeout: float) -> Job:
    """The finished job, followed with a progress bar; a failed one is reported and exits with status 1."""
    try:
        with _following(f"{kind} job {job.id}") as update:
            return client.wait(job, timeout=timeout, progress=update)
    except JobFailedError as exc:
        _report_failure(exc)
        raise typer.Exit(1) from None


@handle_errors
def import_cmd(
    src: Annotated[Path, typer.Argument(help="Dataset folder, zip archive or annotation file.")],
    server: ServerOption,
    project: ProjectOption,
    format: Annotated[
        str | None,
        typer.Option("--format", help="The dataset's format (detected by the server when left out)."),
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Leave bad objects out (counted) instead of refusing all.")
    ] = False,
    timeout: TimeoutOption = 3600.0,
) -> None:
    """Import a dataset into a project on a seglab server, all or nothing (token from SEGLAB_TOKEN)."""
    if format != "images":
        check_format(format, "--format")
    if not src.exists():
        raise usage_error(f"{src}: no such file or folder", "SRC")
    with _connect(server) as client:
        pid = _project_id(client, project)
        say(f"uploading {src} to project {project!r} on {client.url} ...", err=True)
        job = client.start_import(pid, src, format=format, skip_invalid=skip_invalid)
        job = _wait_or_exit(client, job, "import", timeout)
    result = job.result or {}
    counts = ", ".join(
        f"{key.replace('_', ' ')} {value}" for key, value in result.items() if isinstance(value, int)
    )
    say(f"imported into {project!r}: {counts or 'done'}")
    skipped = job.problems
    for problem in skipped[:SHOWN_PROBLEMS]:
        say(f"  skipped: {_problem_text(problem)}", err=True)
    if len(skipped) > SHOWN_PROBLEMS:
        say(f"  ... and {len(skipped) - SHOWN_PROBLEMS} more skipped", err=True)


@handle_errors
def export_cmd(
    dst: Annotated[Path, typer.Argument(help="A .zip file to write, or a folder to unpack the export into.")],
    server: ServerOption,
    project: ProjectOption,
    to: Annotated[
        str, typer.Option("--to", help="Target format (see `seglab formats`).", show_default=False)
    ],
    no_images: Annotated[
        bool, typer.Option("--no-images", help="Annotations only, without image files.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing destination.")] = False,
    timeout: TimeoutOption = 3600.0,
) -> None:
    """Export a project from a seglab server in a format, to a zip or a folder (token from SEGLAB_TOKEN)."""
    check_format(to, "--to")
    archive_only = dst.suffix.lower() == ".zip"
    if (dst.is_file() or is_nonempty_dir(dst)) and not overwrite:
        raise usage_error(f"{dst} exists; choose another destination or pass --overwrite", "DST")
    with _connect(server) as client:
        pid = _project_id(client, project)
        job = client.start_export(pid, to, include_images=not no_images)
        job = _wait_or_exit(client, job, "export", timeout)
        if archive_only:
            client.download_export(pid, job, dst)
        else:
            with tempfile.TemporaryDirectory(prefix="seglab-export-") as tmp:
                archive = client.download_export(pid, job, Path(tmp) / "export.zip")
                _unpack(archive, dst)
    say(f"exported {project!r} as {to} to {dst}")


def _unpack(archive: Path, dst: Path) -> None:
    """Unpack the export (entries checked) into a folder beside ``dst``, then rename it into place."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        with extract_archive(archive) as unpacked:
            for entry in unpacked.iterdir():
                shutil.move(str(entry), staging / entry.name)
        if dst.exists():
            shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
        staging.rename(dst)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
