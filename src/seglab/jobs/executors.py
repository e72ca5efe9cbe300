"""Executors deliver job ids to something that runs them: threads of this process, or RQ workers.

Delivery is at-least-once and carries nothing but the id: the row says what to do, and the runner's
claim makes a second delivery of the same job a no-op.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Protocol

from seglab.jobs.runner import Runner

log = logging.getLogger("seglab.jobs")

RQ_QUEUE = "seglab"
RQ_ENTRY = "seglab.jobs.rq_worker.perform"  # imported by the worker by name; the server never runs it


class Executor(Protocol):
    """Hands job ids to workers."""

    def submit(self, job_id: int) -> None: ...

    def close(self) -> None: ...


class ThreadExecutor:
    """Jobs on daemon threads of this process (the default: nothing else to run).

    The threads are daemons on purpose: a process that exits mid-job behaves like a crashed worker, and
    the recovery pass of the next process (or another one) retries the job from its stale heartbeat.
    """

    def __init__(self, runner: Runner, threads: int) -> None:
        self.runner = runner
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._work, name=f"seglab-job-{i}", daemon=True)
            for i in range(max(1, threads))
        ]
        self._started = False
        self._lock = threading.Lock()

    def submit(self, job_id: int) -> None:
        with self._lock:
            if not self._started:
                for thread in self._threads:
                    thread.start()
                self._started = True
        self._queue.put(job_id)

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                self.runner.run(job_id)
            except Exception:  # the runner records job failures; this is a failure to even record one
                log.exception("running job %s failed", job_id)

    def close(self) -> None:
        """Ask running jobs to stop (they go back to the queue) and let the threads end."""
        self.runner.stop.set()
        for _ in self._threads:
            self._queue.put(None)
        if self._started:
            for thread in self._threads:
                thread.join(2.0)


class RQExecutor:
    """Jobs on an RQ queue in Redis, for ``seglab worker`` processes on any machine."""

    def __init__(self, redis_url: str, *, timeout_s: int, queue_name: str = RQ_QUEUE) -> None:
        from redis import Redis
        from rq import Queue

        self.connection = Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=30)
        self.queue = Queue(queue_name, connection=self.connection)
        self.timeout_s = timeout_s

    def submit(self, job_id: int) -> None:
        self.queue.enqueue_call(
            RQ_ENTRY,
            args=(job_id,),
            timeout=self.timeout_s,
            result_ttl=0,  # the outcome lives in seglab's job table
            failure_ttl=7 * 24 * 3600,
            description=f"seglab job {job_id}",
        )

    def close(self) -> None:
        self.connection.close()
