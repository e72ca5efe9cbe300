"""The job system of one process: the runner, the executor, and the recovery pass that runs in the
background of every server and worker process."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Mapping
from pathlib import Path

from seglab.jobs import store
from seglab.jobs.executors import RQ_QUEUE, Executor, RQExecutor, ThreadExecutor
from seglab.jobs.runner import JobKind, Runner
from seglab.jobs.store import Recovered
from seglab.storage.db import Database

log = logging.getLogger("seglab.jobs")


class JobSystem:
    """Submits jobs, and keeps them moving when workers die.

    ``redis_url`` set: jobs go to RQ (run them with ``seglab worker``); unset: ``threads`` threads here.
    """

    def __init__(
        self,
        db: Database,
        kinds: Mapping[str, JobKind],
        *,
        scratch_root: Path,
        redis_url: str | None = None,
        queue_name: str = RQ_QUEUE,
        threads: int = 2,
        heartbeat_s: float = 5.0,
        stale_s: float = 60.0,
        max_attempts: int = 2,
        timeout_s: int = 6 * 3600,
    ) -> None:
        if stale_s <= 2 * heartbeat_s:
            raise ValueError("job_stale_s must be more than twice job_heartbeat_s")
        self.db = db
        self.runner = Runner(db, kinds, scratch_root=scratch_root, heartbeat_s=heartbeat_s)
        self.executor: Executor = (
            RQExecutor(redis_url, timeout_s=timeout_s, queue_name=queue_name)
            if redis_url
            else ThreadExecutor(self.runner, threads)
        )
        self.uses_queue = redis_url is not None
        self.queue_name = queue_name
        self.stale_s = stale_s
        self.max_attempts = max_attempts
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def kinds(self) -> Mapping[str, JobKind]:
        return self.runner.kinds

    def submit(self, job_id: int) -> None:
        self.start()
        self.executor.submit(job_id)

    def recover(self, *, idle_s: float | None = None) -> list[Recovered]:
        """One recovery pass: retry or fail jobs with a stale heartbeat, hand out queued jobs nobody took,
        and remove scratch folders of attempts that are over. Safe to run in many processes at once."""
        recovered = store.recover_stale(self.db, stale_after_s=self.stale_s)
        for item in recovered:
            log.warning(
                "job %s: %s", item.job.id, "retrying (worker lost)" if item.retried else "worker lost"
            )
            if item.retried:
                self.executor.submit(item.job.id)
            else:
                final = store.get(self.db, item.job.id)
                if final is not None:
                    self.runner.cleanup(final)
        for job_id in store.waiting(self.db, idle_s=self.stale_s if idle_s is None else idle_s):
            self.executor.submit(job_id)
        self.sweep_scratch()
        return recovered

    def sweep_scratch(self) -> None:
        """Remove scratch folders (``<job>-<attempt>``) whose attempt is no longer running anywhere."""
        root = self.runner.scratch_root
        if not root.is_dir():
            return
        found: dict[Path, tuple[int, int]] = {}
        for entry in root.iterdir():
            job, _, attempt = entry.name.partition("-")
            if entry.is_dir() and job.isdigit() and attempt.isdigit():
                found[entry] = (int(job), int(attempt))
        running = store.running_attempts(self.db, sorted({j for j, _ in found.values()}))
        for path, (job_id, attempt) in found.items():
            if running.get(job_id) != attempt:
                shutil.rmtree(path, ignore_errors=True)

    def start(self) -> None:
        """Start the background recovery pass (once); its first pass picks up what a dead process left."""
        with self._lock:
            if self._supervisor is not None:
                return
            self._supervisor = threading.Thread(
                target=self._supervise, name="seglab-job-recovery", daemon=True
            )
            self._supervisor.start()

    def _supervise(self) -> None:
        interval = min(max(self.stale_s / 3, 0.2), 30.0)
        first = True
        while not self._stop.is_set():
            try:
                # At start, thread executors take every queued job: their deliveries died with the process.
                self.recover(idle_s=0.0 if first and not self.uses_queue else None)
                first = False
            except Exception:  # e.g. the database is briefly unreachable; try again next round
                log.warning("job recovery pass failed", exc_info=True)
            self._stop.wait(interval)

    def close(self) -> None:
        self._stop.set()
        self.executor.close()
