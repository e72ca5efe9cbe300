"""Importing a dataset into a project, in any seglab format, as a background job.

Sources: an uploaded zip archive or single annotation file (checked at upload: traversal, links, entry
count, unpacked size and compression ratio, before the job exists), or a folder on the server inside one
of the admin's import roots. The job reads the whole dataset, checks every image (allowlist, pixel limit,
EXIF orientation, size against the annotation file) and every object (against the merged ontology and
the image), and only then writes: blobs first (content-addressed), then every row in one transaction
that also marks the job succeeded. Any problem fails the whole import with a per-object report, unless
``skip_invalid`` was asked, which leaves bad objects and images out and counts them. A failed import
changes nothing; blobs it wrote that no image uses are deleted.

Images already in the project (same name and content) are matched instead of added, so an annotation
file can be imported onto images uploaded earlier; their annotation set is replaced by the imported one
as a new version, with a history row.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from seglab.core.errors import FormatError, UnsafeInputError
from seglab.formats import registry
from seglab.formats.base import ErrorPolicy, InvalidDataError
from seglab.formats.safe_io import MAX_ARCHIVE_ENTRIES, extract_archive, safe_relative
from seglab.jobs import JobContext, JobFailed, JobRecord, JobSystem
from seglab.service.access import Actor, Role, require_project
from seglab.service.errors import Invalid, NotFound, TooLarge, Unsupported
from seglab.service.import_plan import Problem, commit_plan, plan_import
from seglab.service.jobs import JobView, submit
from seglab.storage.blobs import BlobStore
from seglab.storage.db import Database

KIND = "import"
ARCHIVE_MAX_BYTES = 50 * 1024**3
ARCHIVE_MAX_RATIO = 100  # a real dataset of images and JSON stays far below; bombs are far above
ARCHIVE_RATIO_FLOOR = 10 * 1024**2  # tiny archives of repetitive text may compress well; ignore below this
SINGLE_FILE_EXTENSIONS = (".json", ".xml", ".yaml", ".yml", ".txt", ".csv")
MAX_REPORTED = 1000
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _check_format(format: str | None) -> None:
    if format is not None:
        try:
            registry.get_format(format)
        except FormatError as exc:
            raise Invalid(str(exc)) from None


def check_archive(fileobj: IO[bytes], *, name: str) -> None:
    """Refuse a zip that is unsafe to extract, from its directory alone (nothing is written).

    Traversal, absolute names and links are Invalid; too many entries, too many bytes or a bomb-like
    compression ratio are TooLarge. The worker extracts it again with the same checks.
    """
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError):
        raise Invalid(f"{name}: not a readable zip archive") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ARCHIVE_ENTRIES:
            raise TooLarge(f"{name}: {len(infos)} entries, over the limit of {MAX_ARCHIVE_ENTRIES}")
        total = sum(i.file_size for i in infos)
        packed = max(sum(i.compress_size for i in infos), 1)
        if total > ARCHIVE_MAX_BYTES:
            raise TooLarge(f"{name}: unpacks to {total} bytes, over the limit of {ARCHIVE_MAX_BYTES}")
        if total > ARCHIVE_RATIO_FLOOR and total / packed > ARCHIVE_MAX_RATIO:
            raise TooLarge(
                f"{name}: expands {total / packed:.0f} times (a zip bomb?); the limit is {ARCHIVE_MAX_RATIO}"
            )
        for info in infos:
            try:
                safe_relative(info.filename, file=name, where=f"entry {info.filename!r}")
            except UnsafeInputError as exc:
                raise Invalid(str(exc)) from None
            if stat.S_ISLNK(info.external_attr >> 16):
                raise Invalid(f"{name}: entry {info.filename!r} is a symbolic link")


def _safe_file_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _SAFE_NAME.sub("_", base).strip("._") or "upload"
    return cleaned[-120:]


def start_upload(
    db: Database,
    jobs: JobSystem,
    blobs: BlobStore,
    *,
    actor: Actor,
    project_id: int,
    file_name: str,
    fileobj: IO[bytes],
    format: str | None,
    skip_invalid: bool,
) -> JobView:
    """Queue the import of an uploaded zip archive or annotation file (managers)."""
    db.read(lambda s: require_project(s, actor, project_id, Role.MANAGER))
    _check_format(format)
    safe = _safe_file_name(file_name)
    suffix = Path(safe).suffix.lower()
    if suffix == ".zip":
        check_archive(fileobj, name=safe)
    elif suffix not in SINGLE_FILE_EXTENSIONS:
        raise Unsupported(
            f"{safe}: upload a .zip archive or an annotation file ({', '.join(SINGLE_FILE_EXTENSIONS)})"
        )
    fileobj.seek(0)
    key = f"uploads/{uuid.uuid4().hex}/{safe}"
    with tempfile.TemporaryDirectory(prefix="seglab-upload-") as tmp:
        local = Path(tmp) / safe
        with local.open("wb") as out:
            shutil.copyfileobj(fileobj, out, 1 << 20)
        blobs.put_file(key, local)
    params = {
        "source": "upload",
        "file_name": file_name[:300],
        "format": format,
        "skip_invalid": skip_invalid,
        "_upload": key,
    }
    try:
        return submit(
            db, jobs, actor=actor, project_id=project_id, kind=KIND, params=params, need=Role.MANAGER
        )
    except BaseException:
        blobs.delete(key)
        raise


def confine(path: str, roots: list[Path]) -> Path:
    """The folder ``path`` names, if it lies inside one of ``roots`` (after resolving links) and nothing
    inside it links out of them; Invalid otherwise. A relative path is taken inside the first root."""
    if not roots:
        raise Invalid("this server has no import folders; an admin sets SEGLAB_IMPORT_ROOTS")
    resolved_roots = [r.expanduser().resolve() for r in roots]
    raw = Path(path).expanduser()
    candidate = raw if raw.is_absolute() else resolved_roots[0] / raw
    try:
        folder = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        raise NotFound(f"no folder {path!r} in the import folders") from None
    if not any(folder.is_relative_to(r) for r in resolved_roots):
        raise NotFound(f"no folder {path!r} in the import folders")
    count = 0
    for current, dirs, files in os.walk(folder, followlinks=False):
        for entry in (*dirs, *files):
            count += 1
            if count > MAX_ARCHIVE_ENTRIES:
                raise TooLarge(f"{path!r} holds more than {MAX_ARCHIVE_ENTRIES} files")
            full = Path(current) / entry
            if full.is_symlink():
                target = full.resolve()
                if not any(target.is_relative_to(r) for r in resolved_roots):
                    raise Invalid(f"{full.relative_to(folder)} links outside the import folders")
    return folder


def start_folder(
    db: Database,
    jobs: JobSystem,
    *,
    actor: Actor,
    project_id: int,
    path: str,
    roots: list[Path],
    format: str | None,
    skip_invalid: bool,
) -> JobView:
    """Queue the import of a server-side folder inside the configured import roots (managers)."""
    db.read(lambda s: require_project(s, actor, project_id, Role.MANAGER))
    _check_format(format)
    folder = confine(path, roots)
    params = {"source": "folder", "folder": str(folder), "format": format, "skip_invalid": skip_invalid}
    return submit(db, jobs, actor=actor, project_id=project_id, kind=KIND, params=params, need=Role.MANAGER)


# ---------------------------------------------------------------------------------------------- the job


def _dataset_root(folder: Path) -> Path:
    """An archive of one folder (``zip -r data.zip data``) is read from inside that folder."""
    entries = [e for e in folder.iterdir() if e.name not in ("__MACOSX", ".DS_Store")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return folder


@contextmanager
def _source(ctx: JobContext, blobs: BlobStore, roots: list[Path]) -> Iterator[Path]:
    """The local path to read: an upload fetched (and extracted), or the folder checked again."""
    params = ctx.params
    if params.get("source") == "folder":
        try:
            yield confine(str(params["folder"]), roots)
        except (Invalid, NotFound, TooLarge) as exc:
            raise JobFailed(exc.detail) from None
        return
    key = str(params["_upload"])
    local = ctx.scratch / key.rsplit("/", 1)[-1]
    blobs.get_file(key, local)
    if local.suffix.lower() != ".zip":
        yield local
        return
    with extract_archive(local) as folder:
        yield _dataset_root(folder)


def _hide(text: str, root: Path) -> str:
    """Messages name files relative to the dataset, never by their place on the server."""
    return text.replace(str(root) + os.sep, "").replace(str(root), ".")


def _report(problems: list[Problem], root: Path) -> list[dict[str, str]]:
    return [
        {"file": _hide(p.file, root), "where": _hide(p.where, root), "reason": _hide(p.reason, root)}
        for p in problems[:MAX_REPORTED]
    ]


def run_import(
    ctx: JobContext, *, db: Database, blobs: BlobStore, roots: list[Path], max_pixels: int
) -> None:
    params = ctx.params
    skip = bool(params.get("skip_invalid"))
    project_id = ctx.job.project_id
    if project_id is None or ctx.job.created_by is None:
        raise JobFailed("the project or the user who started this import no longer exists")
    with _source(ctx, blobs, roots) as root:
        ctx.progress(0.05, "reading the dataset")
        base = root if root.is_dir() else root.parent
        fmt = params.get("format")
        if fmt is None:
            found = registry.detect(root)
            if not found:
                raise JobFailed("cannot tell which format this is; choose the format and import again")
            fmt = found[0][0]
        try:
            dataset, skipped = registry.read_dataset(
                root, fmt, policy=ErrorPolicy.SKIP if skip else ErrorPolicy.FAIL
            )
        except InvalidDataError as exc:
            problems = [Problem(p.file, p.where, p.reason) for p in exc.problems]
            raise JobFailed(
                f"{len(problems)} invalid object(s); nothing was imported",
                {"problems": _report(problems, base), "problem_count": len(problems)},
            ) from None
        except FormatError as exc:
            raise JobFailed(_hide(str(exc), base)) from None
        ctx.progress(0.2, f"checking {len(dataset)} image(s)")
        reader_problems = [Problem(p.file, p.where, p.reason) for p in skipped]
        plan = plan_import(
            ctx,
            db=db,
            blobs=blobs,
            project_id=project_id,
            user_id=ctx.job.created_by,
            dataset=dataset,
            max_pixels=max_pixels,
            skip_invalid=skip,
        )
        problems = reader_problems + plan.problems
        report = {"problems": _report(problems, base), "problem_count": len(problems)}
        if plan.problems and not skip:
            plan.discard_blobs(db, blobs)
            raise JobFailed(f"{len(plan.problems)} problem(s) found; nothing was imported", report)
        ctx.progress(0.8, "saving")
        result = {
            "format": fmt,
            **plan.counts(),
            "skipped_objects": plan.skipped_objects + len(reader_problems),
            **report,
        }
        try:
            commit_plan(ctx, db, plan, result)
        except BaseException:
            plan.discard_blobs(db, blobs)
            raise


def cleanup_import(job: JobRecord, *, blobs: BlobStore) -> None:
    """The uploaded source is kept for retries until the job has ended; then it goes."""
    key = job.params.get("_upload")
    if isinstance(key, str) and key.startswith("uploads/"):
        blobs.delete(key)
