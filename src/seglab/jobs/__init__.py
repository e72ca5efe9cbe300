"""Background jobs: a table that holds each job's state, executors that deliver job ids to workers, and a
runner that claims, heartbeats, reports progress and finishes them.

The database row is the truth (status, progress, result); an executor only says "run job 17". The
in-process thread pool is the default; with ``SEGLAB_REDIS_URL`` the ids go to an RQ queue for
``seglab worker`` processes. Either way a start is a compare-and-set on the row, so a job delivered twice
runs once, and a job whose worker died (its heartbeat went stale) is retried or failed by the recovery
pass, which every server and worker process runs.
"""

from seglab.jobs.runner import JobCancelled, JobContext, JobFailed, JobKind, JobLost, Runner
from seglab.jobs.store import JobRecord, JobStatus
from seglab.jobs.system import JobSystem, Periodic

__all__ = [
    "JobCancelled",
    "JobContext",
    "JobFailed",
    "JobKind",
    "JobLost",
    "JobRecord",
    "JobStatus",
    "JobSystem",
    "Periodic",
    "Runner",
]
