"""Exporting a project in any seglab format, as a background job.

The job reads the project in one consistent snapshot (annotations in memory; image files are fetched one
at a time while the format writer copies them, so memory holds one image), writes the format into its
scratch folder, zips it into a temporary file that is fsynced and then moved into the blob store under a
key of this attempt. Only the transaction that marks the job succeeded makes the file downloadable, so a
worker killed at any point leaves no truncated archive on offer; unused attempt files are deleted when
the job ends. The file is kept for a while (``SEGLAB_EXPORT_KEEP_HOURS``, recorded as the result's
``expires_at``); then housekeeping deletes it and its download links answer 410 Gone.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from seglab.core.annotation import Annotation
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError
from seglab.formats import registry
from seglab.formats.base import WriteOptions
from seglab.formats.safe_io import IMAGE_EXTENSIONS, decode_image, open_image_bytes
from seglab.jobs import JobContext, JobFailed, JobRecord, JobSystem
from seglab.service.access import Actor, Role, require_project
from seglab.service.errors import Invalid
from seglab.service.import_plan import job_actor
from seglab.service.jobs import JobView, submit
from seglab.storage import repositories as repo
from seglab.storage.blobs import CHUNK, BlobStore
from seglab.storage.db import Database
from seglab.storage.models import Image, utcnow

KIND = "export"
PAGE = 500


def start_export(
    db: Database, jobs: JobSystem, *, actor: Actor, project_id: int, format: str, include_images: bool = True
) -> JobView:
    """Queue an export of the project (any member may export what they can read)."""
    try:
        registry.get_format(format)
    except FormatError as exc:
        raise Invalid(str(exc)) from None
    params = {"format": format, "include_images": include_images}
    return submit(db, jobs, actor=actor, project_id=project_id, kind=KIND, params=params, need=Role.VIEWER)


@dataclass(frozen=True)
class BlobMedia:
    """An image in the blob store, fetched only when a writer asks for it (then one at a time)."""

    blobs: BlobStore
    key: str
    image_size: ImageSize
    on_use: Callable[[], None]

    def raw_bytes(self) -> tuple[bytes, str]:
        self.on_use()
        return self.blobs.get(self.key), "." + self.key.rsplit(".", 1)[-1]

    def read(self) -> np.ndarray:
        data, _ = self.raw_bytes()
        with open_image_bytes(data, origin=self.key) as img:
            return decode_image(img, origin=self.key)

    def size(self) -> ImageSize:
        return self.image_size


def _annotation(row_id: int, doc: repo.Doc) -> Annotation:
    return repo.from_doc(doc).with_(id=row_id)


def load_dataset(
    db: Database, blobs: BlobStore, *, actor: Actor, project_id: int, on_use: Callable[[], None]
) -> tuple[Dataset, str]:
    """The project as a Dataset (one snapshot) and its name; image pixels stay in the store."""

    def _load(s: Session) -> tuple[Dataset, str]:
        if s.get_bind().dialect.name == "postgresql":
            s.connection(execution_options={"isolation_level": "REPEATABLE READ"})  # one snapshot
        project = require_project(s, actor, project_id, Role.VIEWER).project
        records: list[ImageRecord] = []
        last = 0
        while True:
            page = list(
                s.scalars(
                    select(Image)
                    .where(Image.project_id == project_id, Image.id > last)
                    .order_by(Image.id)
                    .limit(PAGE)
                )
            )
            if not page:
                break
            docs = repo.docs_of_images(s, [i.id for i in page])
            for image in page:
                meta = image.meta or {}
                size = ImageSize(image.width, image.height)
                records.append(
                    ImageRecord(
                        id=image.id,
                        file_name=image.file_name,
                        size=size,
                        annotations=tuple(_annotation(rid, d) for rid, d in docs[image.id]),
                        media=BlobMedia(blobs, image.storage_key, size, on_use),
                        subset=image.subset,
                        tags=tuple(meta.get("tags") or ()),
                        attributes=dict(meta.get("attributes") or {}),
                        extra=dict(meta.get("extra") or {}),
                    )
                )
            last = page[-1].id
        return Dataset(repo.get_ontology(project), tuple(records)), project.name

    return db.read(_load)


def _zip(folder: Path, target: Path, ctx: JobContext) -> str:
    """Zip ``folder`` into ``target`` (images stored, text deflated), fsynced; returns its SHA-256."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    with zipfile.ZipFile(target, "w", allowZip64=True) as archive:
        for index, path in enumerate(files):
            ctx.progress(
                0.75 + 0.2 * index / max(len(files), 1), f"packing {index + 1} of {len(files)} files"
            )
            method = zipfile.ZIP_STORED if path.suffix.lower() in IMAGE_EXTENSIONS else zipfile.ZIP_DEFLATED
            archive.write(path, path.relative_to(folder).as_posix(), compress_type=method)
    digest = hashlib.sha256()
    with target.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
        os.fsync(fh.fileno())
    return digest.hexdigest()


def attempt_key(job_id: int, attempt: int) -> str:
    return f"exports/{job_id}/attempt-{attempt}.zip"


def run_export(
    ctx: JobContext, *, db: Database, blobs: BlobStore, keep: timedelta = timedelta(hours=24)
) -> None:
    job = ctx.job
    if job.project_id is None or job.created_by is None:
        raise JobFailed("the project or the user who started this export no longer exists")
    fmt = str(ctx.params["format"])
    include_images = bool(ctx.params.get("include_images", True))
    actor = db.read(lambda s: job_actor(s, job.created_by or 0))
    ctx.progress(0.02, "reading the project")
    used = [0]
    total = [1]

    def on_use() -> None:
        used[0] += 1
        ctx.progress(0.3 + 0.45 * min(used[0] / total[0], 1.0), f"writing image {used[0]} of {total[0]}")

    dataset, project_name = load_dataset(db, blobs, actor=actor, project_id=job.project_id, on_use=on_use)
    total[0] = max(len(dataset), 1)
    ctx.progress(0.3, f"writing {len(dataset)} image(s) as {fmt}")
    out = ctx.scratch / "out"
    report = registry.write_dataset(dataset, out, fmt, options=WriteOptions(copy_images=include_images))
    archive = ctx.scratch / "export.zip"
    sha256 = _zip(out, archive, ctx)
    size = archive.stat().st_size
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", project_name).strip("._")[:80] or "project"
    key = attempt_key(job.id, job.attempts)
    result = {
        "file_name": f"{slug}-{fmt}-{job.id}.zip",
        "size": size,
        "sha256": sha256,
        "images": len(dataset),
        "annotations": dataset.annotation_count,
        "losses": report.lines(),
        "_key": key,
    }
    blobs.put_file(key, archive)

    def _complete(s: Session) -> None:
        # The file is kept for ``keep`` from the commit; housekeeping deletes it after that.
        ctx.complete(
            s,
            {**result, "expires_at": (utcnow() + keep).isoformat()},
            f"export ready: {len(dataset)} image(s)",
        )

    try:
        db.write(_complete)
    except BaseException:
        blobs.delete(key)  # this attempt no longer owns the job: its file must never be offered
        raise


def cleanup_export(job: JobRecord, *, blobs: BlobStore) -> None:
    """Delete the files of attempts other than the one the job's result offers."""
    keep = (job.result or {}).get("_key") if job.status.value == "succeeded" else None
    for attempt in range(1, job.attempts + 1):
        key = attempt_key(job.id, attempt)
        if key != keep:
            blobs.delete(key)
