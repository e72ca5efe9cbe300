"""The RQ side: ``seglab worker`` installs its job system here and runs an RQ worker on the seglab queue.

RQ's default worker forks a work horse per job; the horse inherits the installed job system, and its
database pool is reset after the fork (connections are never shared between processes). If a horse or
the whole worker is killed, the job's heartbeat stops and the recovery pass retries or fails it.
"""

from __future__ import annotations

import os
from typing import Any

from seglab.jobs.system import JobSystem

_SYSTEM: JobSystem | None = None


def install(system: JobSystem) -> None:
    """Make ``system`` the one :func:`perform` uses in this process (and in the horses it forks)."""
    global _SYSTEM
    _SYSTEM = system
    engine = system.db.engine
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))


def perform(job_id: int) -> str | None:
    """RQ's entry point for one seglab job (the outcome is recorded in the job table)."""
    if _SYSTEM is None:
        raise RuntimeError("no seglab job system in this process; run jobs with `seglab worker`")
    status = _SYSTEM.runner.run(int(job_id))
    return None if status is None else status.value


def run_worker(system: JobSystem, redis_url: str, *, burst: bool = False, simple: bool = False) -> bool:
    """Work on the seglab queue until stopped (or, with ``burst``, until it is empty).

    ``simple`` runs jobs in this process instead of a forked horse (for platforms without fork).
    """
    from redis import Redis
    from rq import Queue, SimpleWorker, Worker

    install(system)
    connection = Redis.from_url(redis_url)
    queue = Queue(system.queue_name, connection=connection)
    worker_class: Any = SimpleWorker if simple else Worker
    worker = worker_class([queue], connection=connection)
    system.start()  # the recovery pass runs in workers too: servers may all be down
    try:
        return bool(worker.work(burst=burst, logging_level="WARNING"))
    finally:
        system.close()
