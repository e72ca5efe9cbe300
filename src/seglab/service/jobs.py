"""Jobs as users see them: start one (after the permission check), follow it, cancel it, and download
what an export produced through a signed, expiring link.

Every job belongs to a project; its id is looked up inside the project (another project's job is
NotFound). Members see the project's jobs; cancelling needs to be the job's creator or a manager.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seglab.jobs import JobRecord, JobStatus, JobSystem
from seglab.jobs import store as job_store
from seglab.service.access import Actor, Role, require_job, require_project
from seglab.service.errors import Conflict, Forbidden, Gone, NotFound, Unavailable
from seglab.storage.db import Database
from seglab.storage.models import Job

MAX_PAGE = 200
LINK_PURPOSE = b"seglab-export-download:"


@dataclass(frozen=True)
class JobView:
    """A job for the API: internal parameters (names starting with ``_``) are left out."""

    id: int
    kind: str
    status: str
    project_id: int | None
    created_by: int | None
    params: dict[str, Any]
    progress: float
    message: str
    result: dict[str, Any] | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, j: JobRecord) -> JobView:
        public = {k: v for k, v in j.params.items() if not k.startswith("_")}
        result = None if j.result is None else {k: v for k, v in j.result.items() if not k.startswith("_")}
        return cls(
            j.id,
            j.kind,
            j.status.value,
            j.project_id,
            j.created_by,
            public,
            j.progress,
            j.message,
            result,
            j.attempts,
            j.max_attempts,
            j.cancel_requested,
            j.created_at,
            j.started_at,
            j.finished_at,
        )


def submit(
    db: Database,
    jobs: JobSystem,
    *,
    actor: Actor,
    project_id: int,
    kind: str,
    params: dict[str, Any],
    need: Role,
) -> JobView:
    """Create a queued job (the actor needs ``need`` in the project) and hand it to the executor."""
    if kind not in jobs.kinds:
        raise NotFound(f"no job kind {kind!r}")

    def _create(s: Session) -> JobRecord:
        require_project(s, actor, project_id, need)
        return job_store.create(
            s,
            kind=kind,
            project_id=project_id,
            created_by=actor.user_id,
            params=params,
            max_attempts=jobs.max_attempts,
        )

    job = db.write(_create)
    try:
        jobs.submit(job.id)
    except Exception as exc:  # the queue (Redis) is down: say so, and leave no job waiting forever
        db.write(lambda s: _fail_queued(s, job.id))
        jobs.runner.cleanup(job)
        raise Unavailable(f"the job queue is unreachable ({type(exc).__name__}); try again later") from None
    return JobView.of(job)


def _fail_queued(s: Session, job_id: int) -> None:
    job = s.get(Job, job_id)
    if job is not None and job.status == JobStatus.QUEUED.value:
        job.status = JobStatus.FAILED.value
        job.message = "the job queue is unreachable"
        job.finished_at = datetime.now(UTC)


def get_job(db: Database, *, actor: Actor, project_id: int, job_id: int) -> JobView:
    return db.read(
        lambda s: JobView.of(JobRecord.of(require_job(s, actor, project_id, job_id, Role.VIEWER)[1]))
    )


def list_jobs(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    kind: str | None = None,
    status: JobStatus | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[JobView]:
    """The project's jobs, newest first; page with ``before_id`` = the last id of the previous page."""
    limit = max(1, min(limit, MAX_PAGE))

    def _list(s: Session) -> list[JobView]:
        require_project(s, actor, project_id, Role.VIEWER)
        query = select(Job).where(Job.project_id == project_id)
        if kind is not None:
            query = query.where(Job.kind == kind)
        if status is not None:
            query = query.where(Job.status == status.value)
        if before_id is not None:
            query = query.where(Job.id < before_id)
        rows = s.scalars(query.order_by(Job.id.desc()).limit(limit))
        return [JobView.of(JobRecord.of(j)) for j in rows]

    return db.read(_list)


def cancel_job(db: Database, jobs: JobSystem, *, actor: Actor, project_id: int, job_id: int) -> JobView:
    """Cancel a queued job at once, or ask a running one to stop (it ends ``cancelled`` at its next
    progress report, and whatever it had written is rolled back)."""

    def _cancel(s: Session) -> JobRecord:
        scope, job = require_job(s, actor, project_id, job_id, Role.VIEWER)
        if job.created_by != actor.user_id and not scope.role.at_least(Role.MANAGER):
            raise Forbidden("only the job's creator or a manager may cancel it")
        if job.status not in (JobStatus.QUEUED.value, JobStatus.RUNNING.value):
            raise Conflict(f"job {job.id} has already ended ({job.status})")
        job_store.request_cancel(s, job)
        return JobRecord.of(job)

    record = db.write(_cancel)
    if record.terminal:
        jobs.runner.cleanup(record)
    return JobView.of(record)


# --------------------------------------------------------------------------------------- download links


@dataclass(frozen=True)
class Download:
    """An export file to send: its blob key, the name to save it as and its size."""

    key: str
    file_name: str
    size: int


def _sign(secret: bytes, payload: str) -> str:
    return hmac.new(secret, LINK_PURPOSE + payload.encode(), hashlib.sha256).hexdigest()


def _file_expiry(result: dict[str, Any]) -> float | None:
    """When the export's file is deleted (a POSIX time), if the job recorded it."""
    value = result.get("expires_at")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _check_kept(result: dict[str, Any]) -> None:
    """Gone when the export's file was deleted after its keeping time, or is due to be."""
    expires = _file_expiry(result)
    if result.get("expired_at") or (expires is not None and time.time() > expires):
        raise Gone("this export's file has expired and was deleted; start a new export")


def download_link(
    db: Database, *, actor: Actor, project_id: int, job_id: int, secret: bytes, minutes: int
) -> tuple[str, datetime]:
    """A token for downloading a finished export, valid ``minutes`` for this user only."""

    def _check(s: Session) -> float | None:
        _, job = require_job(s, actor, project_id, job_id, Role.VIEWER)
        result = job.result or {}
        if job.status == JobStatus.SUCCEEDED.value:
            _check_kept(result)
        if job.status != JobStatus.SUCCEEDED.value or not result.get("_key"):
            raise Conflict(f"job {job.id} has no file to download ({job.status})")
        return _file_expiry(result)

    file_expires = db.read(_check)
    expires = int(time.time()) + max(1, minutes) * 60
    if file_expires is not None:  # a link never outlives the file it leads to
        expires = min(expires, int(file_expires))
    payload = f"{project_id}.{job_id}.{actor.user_id}.{expires}"
    return f"{payload}.{_sign(secret, payload)}", datetime.fromtimestamp(expires, UTC)


def resolve_download(db: Database, *, actor: Actor, token: str, secret: bytes) -> Download:
    """The file a download token names. A token that is forged, another user's, or whose job is gone is
    NotFound; a genuine token past its time, or whose export file has expired, is Gone."""
    payload, _, signature = token.rpartition(".")
    parts = payload.split(".")
    if (
        len(parts) != 4
        or not all(p.isdigit() for p in parts)
        or not hmac.compare_digest(signature.encode(), _sign(secret, payload).encode())
    ):
        raise NotFound("no such download")
    project_id, job_id, user_id, expires = (int(p) for p in parts)
    if user_id != actor.user_id:
        raise NotFound("no such download")
    if time.time() > expires:
        raise Gone("this download link has expired; ask for a new one")

    def _find(s: Session) -> Download:
        _, job = require_job(s, actor, project_id, job_id, Role.VIEWER)
        result = job.result or {}
        if job.status == JobStatus.SUCCEEDED.value:
            _check_kept(result)
        if job.status != JobStatus.SUCCEEDED.value or not result.get("_key"):
            raise NotFound("no such download")
        return Download(
            str(result["_key"]), str(result.get("file_name") or "export.zip"), int(result.get("size", 0))
        )

    return db.read(_find)
