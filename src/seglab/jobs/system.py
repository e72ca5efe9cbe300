"""The job system of one process: the runner, the executor, and the recovery pass that runs in the
background of every server and worker process."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from seglab.jobs import store
from seglab.jobs.executors import RQ_QUEUE, Executor, RQExecutor, ThreadExecutor
from seglab.jobs.runner import JobKind, Runner
from seglab.jobs.store import Recovered
from seglab.storage.db import Database

log = logging.getLogger("seglab.jobs")


@dataclass(frozen=True)
class Periodic:
    """Housekeeping that every server and worker process runs in the background: at start, then every
    ``every_s`` seconds; with ``after_jobs`` also after each job the process ran (keep those cheap).
    Tasks must be safe to run in several processes at once."""

    name: str
    every_s: float
    run: Callable[[], object]
    after_jobs: bool = False


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
        housekeeping: Sequence[Periodic] = (),
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
        self.housekeeping = tuple(housekeeping)
        self._housekeeper: threading.Thread | None = None
        self.runner.after_job = self._after_job

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
            if self.housekeeping:  # a thread of its own: a long sweep must not hold up job recovery
                self._housekeeper = threading.Thread(
                    target=self._keep_house, name="seglab-housekeeping", daemon=True
                )
                self._housekeeper.start()

    def _run_task(self, task: Periodic) -> None:
        try:
            task.run()
        except Exception:  # e.g. the storage is briefly unreachable; the next round tries again
            log.warning("housekeeping task %r failed", task.name, exc_info=True)

    def _after_job(self) -> None:
        for task in self.housekeeping:
            if task.after_jobs:
                self._run_task(task)

    def _keep_house(self) -> None:
        due = dict.fromkeys(range(len(self.housekeeping)), 0.0)  # everything runs once at start
        while not self._stop.is_set():
            now = time.monotonic()
            for index, task in enumerate(self.housekeeping):
                if now >= due[index] and not self._stop.is_set():
                    self._run_task(task)
                    due[index] = time.monotonic() + max(task.every_s, 1.0)
            self._stop.wait(max(min(due.values()) - time.monotonic(), 0.05))

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
        if self._housekeeper is not None:  # let a pass in progress end before the database goes away
            self._housekeeper.join(5.0)
