"""The kinds of background job the server runs, bound to this process's database and blob store.

Servers and ``seglab worker`` processes build the same table, so any of them can run any job.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from pathlib import Path

from seglab.jobs import JobKind, JobSystem
from seglab.service import autolabel, exports, imports, maintenance, predictions
from seglab.settings import Settings
from seglab.storage.blobs import BlobStore
from seglab.storage.db import Database


def job_kinds(
    *,
    db: Database,
    blobs: BlobStore,
    import_roots: list[Path],
    max_image_pixels: int,
    s3_import: imports.S3Source | None = None,
    export_keep: timedelta = timedelta(hours=24),
) -> dict[str, JobKind]:
    return {
        imports.KIND: JobKind(
            run=partial(
                imports.run_import,
                db=db,
                blobs=blobs,
                roots=import_roots,
                max_pixels=max_image_pixels,
                s3=s3_import,
            ),
            cleanup=partial(imports.cleanup_import, db=db, blobs=blobs),
        ),
        exports.KIND: JobKind(
            run=partial(exports.run_export, db=db, blobs=blobs, keep=export_keep),
            cleanup=partial(exports.cleanup_export, blobs=blobs),
        ),
        predictions.KIND: JobKind(
            run=partial(predictions.run_import, db=db, blobs=blobs),
            cleanup=partial(imports.cleanup_import, blobs=blobs),
        ),
        autolabel.TRAIN: JobKind(
            run=partial(autolabel.run_train, db=db, blobs=blobs),
            cleanup=partial(autolabel.cleanup_train, blobs=blobs),
        ),
        autolabel.PREDICT: JobKind(
            run=partial(autolabel.run_predict, db=db, blobs=blobs),
            cleanup=partial(autolabel.cleanup_predict, blobs=blobs),
        ),
        autolabel.AUDIT: JobKind(run=partial(autolabel.run_audit, db=db, blobs=blobs)),
    }


def make_job_system(settings: Settings, db: Database, blobs: BlobStore) -> JobSystem:
    """The job system a server or worker process runs, as the settings say (RQ when a Redis URL is set)."""
    kinds = job_kinds(
        db=db,
        blobs=blobs,
        import_roots=list(settings.import_roots),
        max_image_pixels=settings.max_image_pixels,
        s3_import=imports.S3Source(list(settings.s3_import_roots), settings.s3_endpoint_url),
        export_keep=timedelta(hours=settings.export_keep_hours),
    )
    return JobSystem(
        db,
        kinds,
        scratch_root=settings.data_dir / "tmp" / "jobs",
        redis_url=settings.redis_url,
        queue_name=settings.redis_queue,
        threads=settings.job_threads,
        heartbeat_s=settings.job_heartbeat_s,
        stale_s=settings.job_stale_s,
        max_attempts=settings.job_max_attempts,
        timeout_s=settings.job_timeout_s,
        housekeeping=maintenance.housekeeping(settings, db, blobs),
    )
