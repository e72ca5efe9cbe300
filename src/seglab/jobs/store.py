"""The job table's state machine, as compare-and-set statements.

queued -> running (a claim: ``attempts`` + 1) -> succeeded | failed | cancelled, and running -> queued
again when a worker was lost (stale heartbeat) or stopped, while attempts remain. Every transition out of
running names the attempt it belongs to, so a worker that lost its job (recovered elsewhere) can no longer
change it; ``complete`` runs inside the handler's own transaction, so a job's data and its "succeeded"
commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from seglab.storage.db import Database
from seglab.storage.models import Job, utcnow


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
MAX_MESSAGE = 2000


@dataclass(frozen=True)
class JobRecord:
    """A job row, detached from the session."""

    id: int
    kind: str
    status: JobStatus
    project_id: int | None
    created_by: int | None
    params: dict[str, Any]
    progress: float
    message: str
    result: dict[str, Any] | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    worker: str | None
    heartbeat_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, j: Job) -> JobRecord:
        return cls(
            j.id,
            j.kind,
            JobStatus(j.status),
            j.project_id,
            j.created_by,
            dict(j.params or {}),
            j.progress,
            j.message,
            None if j.result is None else dict(j.result),
            j.attempts,
            j.max_attempts,
            j.cancel_requested,
            j.worker,
            j.heartbeat_at,
            j.created_at,
            j.started_at,
            j.finished_at,
        )

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def _clip(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


def create(
    s: Session,
    *,
    kind: str,
    project_id: int | None,
    created_by: int | None,
    params: dict[str, Any],
    max_attempts: int,
    message: str = "waiting for a worker",
) -> JobRecord:
    """A queued job, in the caller's transaction (submit it to an executor after the commit)."""
    now = utcnow()
    job = Job(
        kind=kind,
        status=JobStatus.QUEUED.value,
        project_id=project_id,
        created_by=created_by,
        params=params,
        progress=0.0,
        message=message,
        result=None,
        attempts=0,
        max_attempts=max(1, max_attempts),
        cancel_requested=False,
        heartbeat_at=now,  # for queued jobs: when it was last handed to an executor
        created_at=now,
    )
    s.add(job)
    s.flush()
    return JobRecord.of(job)


def get(db: Database, job_id: int) -> JobRecord | None:
    return db.read(lambda s: (lambda j: None if j is None else JobRecord.of(j))(s.get(Job, job_id)))


def _running(job_id: int, attempt: int) -> Any:
    return (Job.id == job_id, Job.status == JobStatus.RUNNING.value, Job.attempts == attempt)


def claim(db: Database, job_id: int, worker: str) -> JobRecord | None:
    """Start the job if it is queued and nobody asked to cancel it; None when it is not (any more)."""

    def _claim(s: Session) -> JobRecord | None:
        now = utcnow()
        done = s.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.QUEUED.value, Job.cancel_requested.is_(False))
            .values(
                status=JobStatus.RUNNING.value,
                attempts=Job.attempts + 1,
                worker=worker[:200],
                heartbeat_at=now,
                started_at=now,
                progress=0.0,
                message="started",
            )
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return JobRecord.of(s.get_one(Job, job_id, populate_existing=True))

    return db.write(_claim)


def beat(
    db: Database, job_id: int, attempt: int, *, progress: float | None = None, message: str | None = None
) -> bool | None:
    """Refresh the heartbeat (and progress); returns whether a cancel was asked, None if the job is lost."""

    def _beat(s: Session) -> bool | None:
        values: dict[str, Any] = {"heartbeat_at": utcnow()}
        if progress is not None:
            values["progress"] = min(max(float(progress), 0.0), 1.0)
        if message is not None:
            values["message"] = _clip(message)
        done = s.execute(
            update(Job)
            .where(*_running(job_id, attempt))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return bool(s.scalar(select(Job.cancel_requested).where(Job.id == job_id)))

    return db.write(_beat)


def complete(s: Session, job_id: int, attempt: int, result: dict[str, Any], message: str) -> bool:
    """Mark the attempt succeeded in the caller's transaction; False when it is no longer ours to finish
    or a cancel was asked (the caller then rolls its work back)."""
    done = s.execute(
        update(Job)
        .where(*_running(job_id, attempt), Job.cancel_requested.is_(False))
        .values(
            status=JobStatus.SUCCEEDED.value,
            progress=1.0,
            message=_clip(message),
            result=result,
            finished_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    return done.rowcount == 1  # type: ignore[attr-defined]


def finish(
    db: Database,
    job_id: int,
    attempt: int,
    status: JobStatus,
    message: str,
    result: dict[str, Any] | None = None,
) -> bool:
    """End a running attempt as failed or cancelled, or put it back in the queue (``QUEUED``).

    A job put back by a worker that is shutting down gets its attempt back: only attempts that ended in a
    crash (recovered from a stale heartbeat) count towards ``max_attempts``.
    """

    def _finish(s: Session) -> bool:
        values: dict[str, Any] = {"status": status.value, "message": _clip(message)}
        if status is JobStatus.QUEUED:
            values["heartbeat_at"] = utcnow()
            values["attempts"] = attempt - 1
        else:
            values["finished_at"] = utcnow()
            values["result"] = result
        done = s.execute(
            update(Job)
            .where(*_running(job_id, attempt))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return done.rowcount == 1  # type: ignore[attr-defined]

    return db.write(_finish)


def request_cancel(s: Session, job: Job) -> None:
    """Cancel now when queued; ask the worker to stop when running; nothing when it has finished."""
    if job.status == JobStatus.QUEUED.value:
        job.status = JobStatus.CANCELLED.value
        job.cancel_requested = True
        job.message = "cancelled before it started"
        job.finished_at = utcnow()
    elif job.status == JobStatus.RUNNING.value:
        job.cancel_requested = True
        job.message = _clip(f"{job.message} (cancel requested)")
    s.flush()


@dataclass(frozen=True)
class Recovered:
    job: JobRecord
    retried: bool  # back in the queue; else failed


def recover_stale(db: Database, *, stale_after_s: float) -> list[Recovered]:
    """Running jobs whose heartbeat is older than ``stale_after_s``: their worker died. Each goes back to
    the queue while it has attempts left, else fails (or ends cancelled when a cancel was asked)."""
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    stale = db.read(
        lambda s: [
            JobRecord.of(j)
            for j in s.scalars(
                select(Job).where(Job.status == JobStatus.RUNNING.value, Job.heartbeat_at < cutoff).limit(500)
            )
        ]
    )
    out = []
    for job in stale:
        silent = f"its worker ({job.worker or 'unknown'}) stopped responding during attempt {job.attempts}"
        if job.cancel_requested:
            status, message = JobStatus.CANCELLED, f"cancelled; {silent}"
        elif job.attempts < job.max_attempts:
            status, message = JobStatus.QUEUED, f"retrying: {silent}"
        else:
            status, message = JobStatus.FAILED, f"failed: {silent}; no attempts left ({job.max_attempts})"

        def _recover(
            s: Session, job: JobRecord = job, status: JobStatus = status, message: str = message
        ) -> bool:
            values: dict[str, Any] = {"status": status.value, "message": message, "heartbeat_at": utcnow()}
            if status is not JobStatus.QUEUED:
                values["finished_at"] = utcnow()
            done = s.execute(
                update(Job)
                .where(*_running(job.id, job.attempts), Job.heartbeat_at == job.heartbeat_at)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return done.rowcount == 1  # type: ignore[attr-defined]

        if db.write(_recover):
            out.append(Recovered(job, status is JobStatus.QUEUED))
    return out


def waiting(db: Database, *, idle_s: float) -> list[int]:
    """Queued jobs no executor touched for ``idle_s`` (their delivery was lost with a process or a queue);
    marked as handed out again now."""
    cutoff = utcnow() - timedelta(seconds=idle_s)

    def _take(s: Session) -> list[int]:
        ids = list(
            s.scalars(
                select(Job.id)
                .where(Job.status == JobStatus.QUEUED.value, Job.heartbeat_at < cutoff)
                .order_by(Job.id)
                .limit(500)
            )
        )
        if ids:
            s.execute(
                update(Job)
                .where(Job.id.in_(ids), Job.status == JobStatus.QUEUED.value)
                .values(heartbeat_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        return ids

    return db.write(_take)


def running_attempts(db: Database, ids: list[int]) -> dict[int, int]:
    """job id -> current attempt, for those of ``ids`` that are running."""
    if not ids:
        return {}
    rows = db.read(
        lambda s: list(
            s.execute(
                select(Job.id, Job.attempts).where(Job.id.in_(ids), Job.status == JobStatus.RUNNING.value)
            )
        )
    )
    return {int(i): int(a) for i, a in rows}
