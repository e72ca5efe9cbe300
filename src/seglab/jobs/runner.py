"""Running one job: claim it, keep its heartbeat, pass progress and cancel requests, record how it ended.

A handler is a function of a :class:`JobContext`. It reports progress (which is also where a cancel or a
stopping process interrupts it), works in a private scratch folder that is removed afterwards, and ends
either by returning a result (the runner marks the job succeeded) or by calling :meth:`JobContext.complete`
inside its own final database transaction, so that what it wrote and the "succeeded" status commit
together. A failure records the reason; nothing a failed attempt wrote may stay visible.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from seglab.core.errors import SeglabError
from seglab.jobs import store
from seglab.jobs.store import JobRecord, JobStatus
from seglab.storage.db import Database

log = logging.getLogger("seglab.jobs")

PROGRESS_EVERY_S = 0.5  # progress is written at most this often (plus the final value)


class JobCancelled(Exception):  # noqa: N818 (an outcome, not an error)
    """A user asked to cancel the job."""


class JobLost(Exception):  # noqa: N818 (an outcome, not an error)
    """The job is no longer this attempt's: recovery gave it to another worker or ended it."""


class JobInterrupted(Exception):  # noqa: N818 (an outcome, not an error)
    """This process is stopping; the job goes back to the queue."""


class JobFailed(SeglabError):  # noqa: N818 (an outcome, not an error)
    """An expected failure with a reason for the user and an optional structured ``result`` (a report)."""

    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.result = result


@dataclass(frozen=True)
class JobKind:
    """What a kind of job does. ``cleanup`` runs once the job has ended for good (succeeded, failed or
    cancelled, by its runner or by recovery), to remove inputs kept for retries and unused outputs."""

    run: Callable[[JobContext], dict[str, Any] | None]
    cleanup: Callable[[JobRecord], None] | None = None


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class JobContext:
    """What a running handler sees: its job, a scratch folder, progress, cancellation and completion."""

    def __init__(self, db: Database, job: JobRecord, scratch: Path, stop: threading.Event) -> None:
        self.db = db
        self.job = job
        self.scratch = scratch
        self._stop = stop
        self._cancel = False
        self._lost = False
        self._last_write = 0.0
        self.completed = False

    @property
    def params(self) -> dict[str, Any]:
        return self.job.params

    def _signal(self, cancel: bool | None) -> None:
        if cancel is None:
            self._lost = True
        elif cancel:
            self._cancel = True

    def check(self) -> None:
        """Raise when the job should stop: cancelled, lost to recovery, or the process is stopping."""
        if self._lost:
            raise JobLost(f"job {self.job.id} attempt {self.job.attempts} was taken over")
        if self._cancel:
            raise JobCancelled("cancelled")
        if self._stop.is_set():
            raise JobInterrupted("the worker is stopping")

    def progress(self, fraction: float, message: str | None = None) -> None:
        """Record progress in [0, 1] (throttled) and stop here if the job should stop."""
        now = time.monotonic()
        if now - self._last_write >= PROGRESS_EVERY_S or fraction >= 1.0:
            self._last_write = now
            self._signal(
                store.beat(self.db, self.job.id, self.job.attempts, progress=fraction, message=message)
            )
        self.check()

    def complete(self, s: Session, result: dict[str, Any], message: str = "done") -> None:
        """Mark the job succeeded inside the handler's final transaction ``s``; raises (rolling the handler's
        work back with it) when the job was cancelled or taken over meanwhile."""
        self.check()
        if not store.complete(s, self.job.id, self.job.attempts, result, message):
            raise JobLost(f"job {self.job.id} was cancelled or taken over before it could finish")
        self.completed = True


class _Heartbeat(threading.Thread):
    def __init__(self, ctx: JobContext, every_s: float) -> None:
        super().__init__(name=f"seglab-heartbeat-{ctx.job.id}", daemon=True)
        self.ctx = ctx
        self.every_s = every_s
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every_s):
            try:
                self.ctx._signal(store.beat(self.ctx.db, self.ctx.job.id, self.ctx.job.attempts))
            except Exception:  # a database hiccup must not kill the heartbeat; the next beat retries
                log.warning("heartbeat of job %s failed", self.ctx.job.id, exc_info=True)


class Runner:
    """Runs jobs by id with the handlers of their kinds."""

    def __init__(
        self,
        db: Database,
        kinds: Mapping[str, JobKind],
        *,
        scratch_root: Path,
        heartbeat_s: float,
        stop: threading.Event | None = None,
    ) -> None:
        self.db = db
        self.kinds = dict(kinds)
        self.scratch_root = scratch_root
        self.heartbeat_s = heartbeat_s
        self.stop = stop or threading.Event()
        # Called after every job this runner ran (housekeeping that should keep pace with the work).
        self.after_job: Callable[[], None] | None = None

    def scratch_dir(self, job_id: int, attempt: int) -> Path:
        return self.scratch_root / f"{job_id}-{attempt}"

    def cleanup(self, job: JobRecord) -> None:
        """Run the kind's cleanup for a job that ended for good (errors are logged, never raised)."""
        kind = self.kinds.get(job.kind)
        if kind is None or kind.cleanup is None:
            return
        try:
            kind.cleanup(job)
        except Exception:  # cleanup is best effort; a leftover is collected on a later pass
            log.warning("cleanup of job %s failed", job.id, exc_info=True)

    def run(self, job_id: int) -> JobStatus | None:
        """Run the job if it can be claimed; returns how it ended (None when it was not ours to run)."""
        if self.stop.is_set():
            return None  # a stopping process takes no new work
        job = store.claim(self.db, job_id, worker_name())
        if job is None:
            return None
        kind = self.kinds.get(job.kind)
        if kind is None:
            store.finish(self.db, job.id, job.attempts, JobStatus.FAILED, f"unknown job kind {job.kind!r}")
            return JobStatus.FAILED
        scratch = self.scratch_dir(job.id, job.attempts)
        scratch.mkdir(parents=True, exist_ok=True)
        ctx = JobContext(self.db, job, scratch, self.stop)
        heartbeat = _Heartbeat(ctx, self.heartbeat_s)
        heartbeat.start()
        try:
            status = self._run(kind, ctx)
        finally:
            heartbeat.done.set()
            heartbeat.join(self.heartbeat_s + 5)
            shutil.rmtree(scratch, ignore_errors=True)
        if status in store.TERMINAL:
            final = store.get(self.db, job.id)
            if final is not None:
                self.cleanup(final)
        if self.after_job is not None:
            try:
                self.after_job()
            except Exception:  # housekeeping is best effort; the periodic pass tries again
                log.warning("housekeeping after job %s failed", job.id, exc_info=True)
        return status

    def _run(self, kind: JobKind, ctx: JobContext) -> JobStatus | None:
        job = ctx.job
        try:
            result = kind.run(ctx)
            if not ctx.completed:
                self.db.write(lambda s: ctx.complete(s, result or {}, "done"))
            return JobStatus.SUCCEEDED
        except JobCancelled:
            return self._end(job, JobStatus.CANCELLED, "cancelled")
        except JobInterrupted:
            return self._end(job, JobStatus.QUEUED, "interrupted: its worker stopped; waiting to run again")
        except JobLost as exc:
            current = store.get(self.db, job.id)
            if current is not None and current.cancel_requested:
                return self._end(job, JobStatus.CANCELLED, "cancelled")
            log.warning("job %s: %s", job.id, exc)
            return None
        except JobFailed as exc:
            return self._end(job, JobStatus.FAILED, exc.message, exc.result)
        except SeglabError as exc:  # bad input: the message is for the user
            return self._end(job, JobStatus.FAILED, str(exc))
        except Exception as exc:  # a bug or an outage: log the details, show the kind only
            log.exception("job %s (%s) failed", job.id, job.kind)
            return self._end(
                job, JobStatus.FAILED, f"internal error ({type(exc).__name__}); see the server log"
            )

    def _end(
        self, job: JobRecord, status: JobStatus, message: str, result: dict[str, Any] | None = None
    ) -> JobStatus | None:
        return status if store.finish(self.db, job.id, job.attempts, status, message, result) else None
