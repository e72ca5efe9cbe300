"""Importing a dataset into a project, in any seglab format, as a background job.

Sources: an uploaded zip archive or single annotation file (checked at upload: traversal, links, entry
count, unpacked size and compression ratio, before the job exists), a folder on the server inside one
of the admin's import roots, or an S3 prefix inside one of the admin's S3 import roots (downloaded by the
job into its scratch folder, with the same limits on entries, names and size as an archive). Format
``images`` (or a source whose format cannot be detected that holds nothing but images) imports image
files alone, without annotations. The job reads the whole dataset, checks every image (allowlist, pixel limit,
EXIF orientation, size against the annotation file) and every object (against the merged ontology and
the image), and only then writes: blobs first (content-addressed), then every row in one transaction
that also marks the job succeeded. Any problem fails the whole import with a per-object report, unless
``skip_invalid`` was asked, which leaves bad objects and images out and counts them. A failed import
changes nothing; blobs it wrote that no image uses are deleted (and if its worker died, garbage
collection removes them: the job held claims on their keys only while it ran).

Images already in the project (same name and content) are matched instead of added, so an annotation
file can be imported onto images uploaded earlier; their annotation set is replaced by the imported one
as a new version, with a history row.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import fsspec

from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError, UnsafeInputError
from seglab.core.ontology import Ontology
from seglab.formats import registry
from seglab.formats.base import ErrorPolicy, InvalidDataError
from seglab.formats.media import FileMedia
from seglab.formats.safe_io import IMAGE_EXTENSIONS, MAX_ARCHIVE_ENTRIES, extract_archive, safe_relative
from seglab.jobs import JobContext, JobFailed, JobRecord, JobSystem
from seglab.service import maintenance
from seglab.service.access import Actor, Role, require_project
from seglab.service.errors import Invalid, NotFound, TooLarge, Unsupported
from seglab.service.import_plan import Problem, commit_plan, plan_import
from seglab.service.jobs import JobView, submit
from seglab.storage import repositories as repo
from seglab.storage.blobs import BlobStore, fs_options
from seglab.storage.db import Database

log = logging.getLogger("seglab.jobs")

KIND = "import"
ARCHIVE_MAX_BYTES = 50 * 1024**3
ARCHIVE_MAX_RATIO = 100  # a real dataset of images and JSON stays far below; bombs are far above
ARCHIVE_RATIO_FLOOR = 10 * 1024**2  # tiny archives of repetitive text may compress well; ignore below this
SINGLE_FILE_EXTENSIONS = (".json", ".xml", ".yaml", ".yml", ".txt", ".csv")
MAX_REPORTED = 1000
S3_BATCH = 32  # objects downloaded at once from S3 (between two progress reports)
IMAGES_ONLY = "images"  # not a dataset format: image files alone, no annotations
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class S3Source:
    """Where S3 imports may read: the admin's roots (``s3://bucket/prefix``) and the S3 endpoint."""

    roots: list[str]
    endpoint_url: str | None = None

    def filesystem(self) -> Any:
        return fsspec.filesystem("s3", **fs_options("s3://", endpoint_url=self.endpoint_url))


def _check_format(format: str | None) -> None:
    if format is not None and format != IMAGES_ONLY:
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


def _s3_parts(url: str) -> list[str]:
    """``s3://bucket/a/b/`` as ``[bucket, a, b]``; Invalid for anything that is not a plain S3 prefix."""
    if not url.startswith("s3://"):
        raise Invalid(f"{url!r} is not an S3 prefix (s3://bucket/prefix)")
    parts = url.removeprefix("s3://").rstrip("/").split("/")
    if not parts[0] or any(p in ("", ".", "..") for p in parts) or any(ord(c) < 32 or c == "\\" for c in url):
        raise Invalid(f"{url!r} is not a plain S3 prefix (no empty, '.' or '..' parts, no backslashes)")
    return parts


def confine_s3(prefix: str, roots: list[str]) -> str:
    """``s3://bucket/prefix`` for ``prefix`` if it lies inside one of ``roots`` (a prefix without ``s3://``
    is taken inside the first root); NotFound otherwise, so nothing outside the roots is even probed."""
    if not roots:
        raise Invalid("this server has no S3 import prefixes; an admin sets SEGLAB_S3_IMPORT_ROOTS")
    prefix = prefix.strip()
    url = prefix if prefix.startswith("s3://") else roots[0].rstrip("/") + "/" + prefix.lstrip("/")
    parts = _s3_parts(url)
    for root in roots:
        base = _s3_parts(root)
        if parts[: len(base)] == base:
            return "s3://" + "/".join(parts)
    raise NotFound(f"no prefix {prefix!r} in the S3 import prefixes")


def start_located(
    db: Database,
    jobs: JobSystem,
    *,
    actor: Actor,
    project_id: int,
    source: Literal["folder", "s3"],
    location: str,
    import_roots: list[Path],
    s3_roots: list[str],
    format: str | None,
    skip_invalid: bool,
) -> JobView:
    """Queue the import of a place the server reads itself (managers): a folder inside ``import_roots``
    or an S3 prefix inside ``s3_roots``. The place is checked only after the role, so someone who may not
    import cannot probe what lies in the roots."""
    db.read(lambda s: require_project(s, actor, project_id, Role.MANAGER))
    _check_format(format)
    if source == "folder":
        params: dict[str, Any] = {"source": "folder", "folder": str(confine(location, import_roots))}
    else:
        params = {"source": "s3", "prefix": confine_s3(location, s3_roots)}
    params |= {"format": format, "skip_invalid": skip_invalid}
    return submit(db, jobs, actor=actor, project_id=project_id, kind=KIND, params=params, need=Role.MANAGER)


def _download_s3(ctx: JobContext, s3: S3Source, url: str, target: Path) -> None:
    """Copy every object under ``url`` into ``target`` (progress 0 to 0.15), refusing what an archive
    would be refused for: unsafe names, too many entries, too many bytes."""
    fs = s3.filesystem()
    base = url.removeprefix("s3://").rstrip("/")
    try:
        found = fs.find(base, detail=True)
    except (OSError, ValueError) as exc:
        raise JobFailed(f"cannot list {url} ({type(exc).__name__}: {exc})") from None
    objects = sorted(
        (path, int(info.get("size") or 0))
        for path, info in found.items()
        if info.get("type") != "directory" and not path.endswith("/")
    )
    if not objects:
        raise JobFailed(f"nothing to import: no objects under {url}")
    if len(objects) > MAX_ARCHIVE_ENTRIES:
        raise JobFailed(f"{url} holds {len(objects)} objects, over the limit of {MAX_ARCHIVE_ENTRIES}")
    total = sum(size for _, size in objects)
    if total > ARCHIVE_MAX_BYTES:
        raise JobFailed(f"{url} holds {total} bytes, over the limit of {ARCHIVE_MAX_BYTES}")
    plan: list[tuple[str, Path, int]] = []
    for path, size in objects:
        # A prefix that names one object (an annotation file) is that object alone.
        relative = path[len(base) :].lstrip("/") or path.rsplit("/", 1)[-1]
        try:
            name = safe_relative(relative, file=url, where=f"object {relative!r}")
        except UnsafeInputError as exc:
            raise JobFailed(str(exc)) from None
        plan.append((path, target / name, size))
    done = 0
    for start in range(0, len(plan), S3_BATCH):  # s3fs fetches the objects of a batch concurrently
        batch = plan[start : start + S3_BATCH]
        for _, local, _ in batch:
            local.parent.mkdir(parents=True, exist_ok=True)
        try:
            fs.get([p for p, _, _ in batch], [str(local) for _, local, _ in batch])
        except (OSError, ValueError) as exc:
            raise JobFailed(f"cannot read the objects under {url} ({type(exc).__name__})") from None
        done += sum(size for _, _, size in batch)
        count = start + len(batch)
        ctx.progress(0.15 * done / max(total, 1), f"downloaded {count} of {len(plan)} objects from S3")


# ---------------------------------------------------------------------------------------------- the job


def _dataset_root(folder: Path) -> Path:
    """An archive of one folder (``zip -r data.zip data``) is read from inside that folder."""
    entries = [e for e in folder.iterdir() if e.name not in ("__MACOSX", ".DS_Store")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return folder


@contextmanager
def _source(ctx: JobContext, blobs: BlobStore, roots: list[Path], s3: S3Source | None) -> Iterator[Path]:
    """The local path to read: an upload fetched (and extracted), an S3 prefix downloaded, or the folder
    checked again (the roots may have changed since the job was queued)."""
    params = ctx.params
    if params.get("source") == "folder":
        try:
            folder = confine(str(params["folder"]), roots)
        except (Invalid, NotFound, TooLarge) as exc:
            raise JobFailed(exc.detail) from None
        yield folder
        return
    if params.get("source") == "s3":
        try:
            url = confine_s3(str(params["prefix"]), s3.roots if s3 is not None else [])
        except (Invalid, NotFound) as exc:
            raise JobFailed(exc.detail) from None
        assert s3 is not None  # confine_s3 refuses an empty list of roots
        folder = ctx.scratch / "s3"
        folder.mkdir()
        _download_s3(ctx, s3, url, folder)
        yield folder
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


def _image_files(root: Path) -> tuple[list[Path], int]:
    """The image files under ``root`` (sorted) and how many other files there are."""
    if root.is_file():
        return ([root], 0) if root.suffix.lower() in IMAGE_EXTENSIONS else ([], 1)
    images, others = [], 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            images.append(path)
        elif path.name not in (".DS_Store", "Thumbs.db"):
            others += 1
    return images, others


def _images_only(root: Path, base: Path) -> tuple[Dataset, int]:
    """A dataset of the image files under ``root`` with no annotations, and the other files' count."""
    files, others = _image_files(root)
    if not files:
        raise JobFailed("no image files (JPEG, PNG, TIFF, BMP or WebP) to import")
    records = [
        ImageRecord(id=i, file_name=path.relative_to(base).as_posix(), size=None, media=FileMedia(path))
        for i, path in enumerate(files, 1)
    ]
    return Dataset(Ontology(), tuple(records)), others


def _detect(root: Path) -> str:
    found = registry.detect(root)
    if found:
        return found[0][0]
    images, others = _image_files(root)
    if images and not others:
        return IMAGES_ONLY
    raise JobFailed("cannot tell which format this is; choose the format and import again")


def _discard(ctx: JobContext, db: Database, blobs: BlobStore, stored: list[str]) -> None:
    """Drop the job's claims and delete the blobs this attempt stored that nothing else uses. Best effort:
    what is left (the database or storage failing now) is garbage collection's once the job has ended."""
    try:
        db.write(lambda s: repo.release_claims(s, job_id=ctx.job.id))
        maintenance.delete_unreferenced(db, blobs, stored)
        stored.clear()
    except Exception:
        log.warning("job %s: could not remove the files of the failed import", ctx.job.id, exc_info=True)


def run_import(
    ctx: JobContext,
    *,
    db: Database,
    blobs: BlobStore,
    roots: list[Path],
    max_pixels: int,
    s3: S3Source | None = None,
) -> None:
    params = ctx.params
    skip = bool(params.get("skip_invalid"))
    project_id = ctx.job.project_id
    if project_id is None or ctx.job.created_by is None:
        raise JobFailed("the project or the user who started this import no longer exists")
    with _source(ctx, blobs, roots, s3) as root:
        ctx.progress(0.15, "reading the dataset")
        base = root if root.is_dir() else root.parent
        fmt = params.get("format") or _detect(root)
        ignored_files = 0
        try:
            if fmt == IMAGES_ONLY:
                dataset, ignored_files = _images_only(root, base)
                skipped = []
            else:
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
        stored: list[str] = []
        try:
            plan = plan_import(
                ctx,
                db=db,
                blobs=blobs,
                project_id=project_id,
                user_id=ctx.job.created_by,
                dataset=dataset,
                max_pixels=max_pixels,
                skip_invalid=skip,
                stored=stored,
            )
        except BaseException:  # cancelled, or the process is stopping: what was stored goes
            _discard(ctx, db, blobs, stored)
            raise
        problems = reader_problems + plan.problems
        report = {"problems": _report(problems, base), "problem_count": len(problems)}
        if plan.problems and not skip:
            _discard(ctx, db, blobs, plan.new_blobs)
            raise JobFailed(f"{len(plan.problems)} problem(s) found; nothing was imported", report)
        ctx.progress(0.8, "saving")
        result = {
            "format": fmt,
            **plan.counts(),
            "skipped_objects": plan.skipped_objects + len(reader_problems),
            **({"ignored_files": ignored_files} if ignored_files else {}),
            **report,
        }
        try:
            commit_plan(ctx, db, plan, result)
        except BaseException:
            _discard(ctx, db, blobs, plan.new_blobs)
            raise


def cleanup_import(job: JobRecord, *, blobs: BlobStore, db: Database | None = None) -> None:
    """The uploaded source is kept for retries until the job has ended; then it goes, with the job's blob
    claims (blobs a dead attempt stored and nothing uses are then garbage collection's)."""
    key = job.params.get("_upload")
    if isinstance(key, str) and key.startswith("uploads/"):
        blobs.delete(key)
    if db is not None:
        db.write(lambda s: repo.release_claims(s, job_id=job.id))
