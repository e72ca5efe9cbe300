"""Housekeeping of the blob store: export files past their keeping time, and blobs nothing refers to.

Every blob key says what would refer to it:

- ``images/ab/cd/<sha256>.<ext>``: an image row with that storage key;
- ``thumbs/<size>/ab/cd/<sha256>.jpg`` and ``tiles/<level>/<column>/<row>/ab/cd/<sha256>.jpg``: an image
  row with that checksum (thumbnails and pyramid tiles are made again on demand, so losing one is
  harmless, but a referenced one is never collected);
- ``exports/<job>/attempt-<n>.zip``: its export job while it is queued or running, or the succeeded job
  whose result offers this file;
- ``uploads/<uuid>/<name>``: a queued or running job that imports it;
- ``.tmp-*`` anywhere: a write in progress, or one a crash interrupted; never referenced, collected once
  it is an hour old (or older than the grace period, if that is longer).

Keys of other namespaces are left alone (garbage collection never deletes what it does not understand).

A blob is collected only when it is older than the grace period (so a write in flight, whose row does not
exist yet, is safe) and, checked in one transaction that holds the blob's key lock, no row refers to it and
no live :class:`~seglab.storage.models.BlobClaim` holds it. Writers that reuse a stored blob claim its key
under the same lock before they look at the blob, so either garbage collection deleted it first (the writer
sees it missing and stores it again) or it sees the claim: a referenced blob is never deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seglab.jobs import Periodic
from seglab.jobs.store import JobStatus
from seglab.service import exports
from seglab.settings import Settings
from seglab.storage import repositories as repo
from seglab.storage.blobs import TEMP_PREFIX, BlobStore, StoredFile
from seglab.storage.db import Database
from seglab.storage.models import Image, Job, utcnow

log = logging.getLogger("seglab.maintenance")

BATCH = 200  # keys checked and deleted per transaction
# A temporary file is the target of a write in progress until it is renamed: never collected this young,
# whatever the grace period (a write of a large file to slow storage may take this long).
TEMP_MIN_AGE = timedelta(hours=1)
LIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
_HEX = frozenset("0123456789abcdef")


@dataclass
class GcReport:
    """What one garbage collection found and did."""

    scanned: int = 0
    young: int = 0  # inside the grace period
    referenced: int = 0
    unknown: int = 0  # namespaces garbage collection does not manage
    deleted: int = 0
    freed_bytes: int = 0
    deleted_keys: list[str] = field(default_factory=list)  # the first thousand, for the log and tests

    def summary(self) -> str:
        return (
            f"{self.deleted} blob(s) deleted ({self.freed_bytes} bytes) of {self.scanned} scanned; kept"
            f" {self.referenced} referenced, {self.young} inside the grace period, {self.unknown} unmanaged"
        )


def _checksum(name: str) -> str | None:
    stem = name.rsplit(".", 1)[0]
    return stem if len(stem) == 64 and set(stem) <= _HEX else None


def classify(key: str) -> tuple[str, str] | None:
    """What kind of blob ``key`` is and the value its references are looked up by; None if unmanaged."""
    parts = key.split("/")
    name = parts[-1]
    if name.startswith(TEMP_PREFIX):
        return "temp", key
    namespace = parts[0]
    if namespace in ("images", "thumbs", "tiles"):
        checksum = _checksum(name)
        expected = {"images": 4, "thumbs": 5, "tiles": 7}[namespace]
        kind = "thumbs" if namespace == "tiles" else namespace  # derived from the pixels, like thumbnails
        return None if checksum is None or len(parts) != expected else (kind, checksum)
    if namespace == "exports" and len(parts) == 3 and parts[1].isdigit():
        return "exports", parts[1]
    if namespace == "uploads" and len(parts) == 3:
        return "uploads", key
    return None


def _referenced(s: Session, keys: Sequence[str]) -> set[str]:
    """Those of ``keys`` that a live claim holds or a row refers to (call with the keys locked).

    Claims are read first, on purpose. A writer drops its claim in the transaction that inserts its rows,
    and under READ COMMITTED each statement sees what was committed when it started: a claim found gone
    means its rows were committed before, so the row queries that follow see them. (Rows first, then
    claims, would miss a writer that commits between the two queries.) A claim committed after the first
    query is impossible: claiming takes the key locks this transaction holds."""
    keep = repo.claimed_keys(s, list(keys))
    kinds = {key: classify(key) for key in keys}
    by_kind: dict[str, list[tuple[str, str]]] = {}
    for key, found in kinds.items():
        if found is not None:
            by_kind.setdefault(found[0], []).append((key, found[1]))
    sums = sorted({value for kind in ("images", "thumbs") for _, value in by_kind.get(kind, [])})
    stored: dict[str, set[str]] = {}
    for start in range(0, len(sums), 500):
        rows = s.execute(
            select(Image.checksum, Image.storage_key).where(Image.checksum.in_(sums[start : start + 500]))
        )
        for checksum, storage_key in rows:
            stored.setdefault(checksum, set()).add(storage_key)
    keep.update(key for key, value in by_kind.get("images", []) if key in stored.get(value, ()))
    keep.update(key for key, value in by_kind.get("thumbs", []) if value in stored)
    job_ids = sorted({int(value) for _, value in by_kind.get("exports", [])})
    if job_ids:
        jobs = {j.id: j for j in s.execute(select(Job.id, Job.status, Job.result).where(Job.id.in_(job_ids)))}
        for key, value in by_kind.get("exports", []):
            job = jobs.get(int(value))
            if job is not None and (job.status in LIVE or (job.result or {}).get("_key") == key):
                keep.add(key)
    if by_kind.get("uploads"):
        live_uploads = {
            (params or {}).get("_upload")
            for params in s.scalars(select(Job.params).where(Job.status.in_(LIVE)))
        }
        keep.update(key for key, _ in by_kind["uploads"] if key in live_uploads)
    return keep


def _collect(
    db: Database, blobs: BlobStore, files: Sequence[StoredFile], report: GcReport, dry_run: bool
) -> None:
    def _sweep(s: Session) -> list[StoredFile]:
        repo.lock_blob_keys(s, [f.key for f in files])
        keep = _referenced(s, [f.key for f in files])
        doomed = [f for f in files if f.key not in keep]
        if not dry_run:
            # Inside the transaction, so the key locks cover the deletion. Deleting is idempotent and only
            # touches unreferenced blobs, so a retried transaction may safely delete again.
            blobs.delete_many(f.key for f in doomed)
        return doomed

    doomed = db.write(_sweep)
    report.referenced += len(files) - len(doomed)
    report.deleted += len(doomed)
    report.freed_bytes += sum(f.size for f in doomed)
    room = 1000 - len(report.deleted_keys)
    report.deleted_keys.extend(f.key for f in doomed[: max(room, 0)])


def collect_garbage(db: Database, blobs: BlobStore, *, grace: timedelta, dry_run: bool = False) -> GcReport:
    """Delete the managed blobs older than ``grace`` that nothing refers to (``dry_run``: only count)."""
    cutoff = utcnow() - grace
    temp_cutoff = utcnow() - max(grace, TEMP_MIN_AGE)
    report = GcReport()
    pending: list[StoredFile] = []
    for stored in blobs.iter_files():
        report.scanned += 1
        kind = classify(stored.key)
        if kind is None:
            report.unknown += 1
        elif stored.modified > (temp_cutoff if kind[0] == "temp" else cutoff):
            report.young += 1
        else:
            pending.append(stored)
            if len(pending) >= BATCH:
                _collect(db, blobs, pending, report, dry_run)
                pending = []
    if pending:
        _collect(db, blobs, pending, report, dry_run)
    if not dry_run:
        db.write(repo.purge_dead_claims)
    log.info("garbage collection: %s", report.summary())
    return report


def delete_unreferenced(db: Database, blobs: BlobStore, keys: Iterable[str]) -> list[str]:
    """Delete these blobs now if nothing refers to them (what a failed upload or import stored); returns
    the keys deleted. Same checks and locks as :func:`collect_garbage`, without the grace period."""
    now = utcnow()
    files = [StoredFile(key, now, 0) for key in dict.fromkeys(keys)]
    report = GcReport()
    for start in range(0, len(files), BATCH):
        _collect(db, blobs, files[start : start + BATCH], report, dry_run=False)
    return report.deleted_keys


def expire_exports(db: Database, blobs: BlobStore, *, keep: timedelta, limit: int = 500) -> list[int]:
    """Delete the files of exports that finished more than ``keep`` ago; their jobs say when. Returns the
    ids of the jobs whose file went (their download links then answer 410 Gone)."""
    cutoff = utcnow() - keep

    def _expire(s: Session) -> list[tuple[int, str]]:
        jobs = s.scalars(
            select(Job)
            .where(
                Job.kind == exports.KIND,
                Job.status == JobStatus.SUCCEEDED.value,
                Job.finished_at < cutoff,
                Job.result["_key"].as_string().is_not(None),
            )
            .order_by(Job.id)
            .limit(limit)
        )
        gone: list[tuple[int, str]] = []
        for job in jobs:
            result: dict[str, Any] = dict(job.result or {})
            key = result.pop("_key", None)
            if not isinstance(key, str):
                continue
            result["expired_at"] = utcnow().isoformat()
            job.result = result
            gone.append((job.id, key))
        return gone

    gone = db.write(_expire)  # first the job stops offering the file, then the file goes
    blobs.delete_many(key for _, key in gone)
    if gone:
        log.info("deleted the files of %d expired export(s)", len(gone))
    return [job_id for job_id, _ in gone]


def housekeeping(settings: Settings, db: Database, blobs: BlobStore) -> list[Periodic]:
    """The background tasks of a server or worker process, as the settings say."""
    keep = timedelta(hours=settings.export_keep_hours)

    def expire() -> None:
        while len(expire_exports(db, blobs, keep=keep)) == 500:
            pass  # a backlog: keep going until it is cleared
        db.write(repo.purge_dead_claims)

    tasks = [Periodic("expire exports", settings.maintenance_minutes * 60, expire, after_jobs=True)]
    if settings.gc_hours > 0:
        grace = timedelta(minutes=settings.gc_grace_minutes)
        tasks.append(
            Periodic(
                "collect unreferenced blobs",
                settings.gc_hours * 3600,
                lambda: collect_garbage(db, blobs, grace=grace),
            )
        )
    return tasks
