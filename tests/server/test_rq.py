"""Jobs on RQ with the real Redis at 127.0.0.1:6379 and real ``seglab worker`` processes: a job runs in a
worker; a worker killed with SIGKILL mid-export leaves no archive on offer and its job is retried (or
failed when no attempt is left); an unreachable queue is a 503, not a job waiting forever."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from seglab.api.app import create_app
from seglab.api.deps import Services
from seglab.jobs import store
from seglab.jobs.rq_worker import run_worker
from seglab.service.job_kinds import make_job_system
from seglab.storage.models import Image, Job
from tests.server.conftest import Backend, World, unique, wait_job

REDIS_URL = "redis://127.0.0.1:6379/0"
WORKER = "import typer; from seglab.cli.serve_cmd import worker_cmd; typer.run(worker_cmd)"


def redis_unreachable() -> str | None:
    try:
        from redis import Redis

        Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return None
    except Exception as exc:  # any failure to connect means: skip, and say why
        return f"Redis at 127.0.0.1:6379 is unreachable ({type(exc).__name__}: {exc})"


@dataclass
class Queued:
    services: Services
    env: dict[str, str]
    scratch: Path
    logs: Path

    def worker(self, *args: str) -> subprocess.Popen[bytes]:
        """A ``seglab worker`` process in its own process group (so a kill takes its work horse too)."""
        log = (self.logs / f"worker-{time.monotonic_ns()}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, "-c", WORKER, *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def logs_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))


@pytest.fixture
def queued(backend: Backend, tmp_path: Path) -> Iterator[Queued]:
    """Workers whose jobs go stale after 1.5 s of silence, for the tests of lost workers."""
    yield from _queued(backend, tmp_path, stale_s=1.5)


@pytest.fixture
def queued_patient(backend: Backend, tmp_path: Path) -> Iterator[Queued]:
    """Workers with a stale limit long enough for CPU-heavy jobs on a loaded machine (no worker is lost)."""
    yield from _queued(backend, tmp_path, stale_s=60.0)


def _queued(backend: Backend, tmp_path: Path, *, stale_s: float) -> Iterator[Queued]:
    reason = redis_unreachable()
    if reason:
        pytest.skip(reason)
    from redis import Redis
    from rq import Queue

    base = backend.services.settings
    settings = base.model_copy(
        update={
            "redis_url": REDIS_URL,
            "redis_queue": unique("seglab-test-"),
            "job_heartbeat_s": 0.2,
            "job_stale_s": stale_s,
            "job_max_attempts": 2,
        }
    )
    jobs = make_job_system(settings, backend.services.db, backend.services.blobs)
    jobs.start()  # this process plays the server: its recovery pass watches the workers' heartbeats
    services = dataclasses.replace(backend.services, settings=settings, jobs=jobs)
    assert settings.database_url and settings.storage_url and settings.secret_key
    env = {
        **os.environ,
        "SEGLAB_DATABASE_URL": settings.database_url,
        "SEGLAB_STORAGE_URL": settings.storage_url,
        "SEGLAB_SECRET_KEY": settings.secret_key.get_secret_value(),
        "SEGLAB_DATA_DIR": str(tmp_path / "worker"),
        "SEGLAB_REDIS_URL": REDIS_URL,
        "SEGLAB_REDIS_QUEUE": settings.redis_queue,
        "SEGLAB_JOB_HEARTBEAT_S": "0.2",
        "SEGLAB_JOB_STALE_S": str(stale_s),
    }
    (tmp_path / "logs").mkdir()
    try:
        yield Queued(services, env, tmp_path / "worker" / "tmp" / "jobs", tmp_path / "logs")
    finally:
        jobs.close()
        Queue(settings.redis_queue, connection=Redis.from_url(REDIS_URL)).delete(delete_jobs=True)


def _client(queued: Queued, world: World) -> tuple[TestClient, Any]:
    owner = world.user("owner")
    return TestClient(create_app(services=queued.services), headers=dict(owner.http.headers)), owner


def _status(queued: Queued, job_id: int) -> store.JobRecord:
    job = store.get(queued.services.db, job_id)
    assert job is not None
    return job


def _until(condition: Any, what: str, queued: Queued, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{queued.logs_text()}"
        time.sleep(0.05)


def test_a_worker_process_runs_queued_jobs(queued: Queued, world: World) -> None:
    client, owner = _client(queued, world)
    pid = world.project(owner)
    world.image(owner, pid)
    job = client.post(f"/api/projects/{pid}/exports", json={"format": "coco"}).json()
    time.sleep(0.3)
    assert _status(queued, job["id"]).status == "queued"  # nothing runs jobs in this process
    worker = queued.worker("--burst")
    assert worker.wait(60) == 0, queued.logs_text()
    done = wait_job(client, pid, job, timeout=10)
    assert done["status"] == "succeeded", (done, queued.logs_text())
    url = client.post(f"/api/projects/{pid}/jobs/{job['id']}/link").json()["url"]
    assert client.get(url).status_code == 200


def _block_image_reads(queued: Queued, world: World, client: TestClient, pid: int) -> tuple[Path, bytes]:
    """Make the project's image file a FIFO: a worker exporting it blocks on it, mid-job, until killed."""
    image_id = client.get(f"/api/projects/{pid}/images").json()["items"][0]["id"]
    key = queued.services.db.read(lambda s: s.get_one(Image, image_id).storage_key)
    blob = queued.services.blobs.local_path(key)
    assert blob is not None
    data = blob.read_bytes()
    blob.unlink()
    os.mkfifo(blob)
    return blob, data


def _kill_mid_export(queued: Queued, world: World, attempts: int) -> tuple[TestClient, int, int, Path, bytes]:
    client, owner = _client(queued, world)
    pid = world.project(owner)
    world.image(owner, pid)
    blob, data = _block_image_reads(queued, world, client, pid)
    worker = queued.worker()
    horse = None
    try:
        job_id = client.post(f"/api/projects/{pid}/exports", json={"format": "coco"}).json()["id"]
        queued.services.db.write(
            lambda s: s.execute(update(Job).where(Job.id == job_id).values(max_attempts=attempts))
        )
        _until(lambda: _status(queued, job_id).status == "running", "the worker to start the export", queued)
        time.sleep(0.5)  # it is now blocked reading the image, heartbeat still beating
        running = _status(queued, job_id)
        assert running.status == "running" and running.result is None and running.worker
        horse = int(running.worker.split(":")[1])  # RQ forks a work horse (in its own process group)
        assert horse != worker.pid
        assert client.post(f"/api/projects/{pid}/jobs/{job_id}/link").status_code == 409
    finally:  # the machine dies: the worker and its horse, at once
        os.killpg(worker.pid, signal.SIGKILL)
        if horse is not None:
            os.kill(horse, signal.SIGKILL)
        worker.wait(10)
    return client, pid, job_id, blob, data


def _export_files(queued: Queued, job_id: int) -> list[Path]:
    folder = queued.services.blobs.local_path(f"exports/{job_id}/x")
    assert folder is not None
    return sorted(folder.parent.glob("*")) if folder.parent.exists() else []


def test_a_worker_killed_mid_export_is_retried_and_never_offers_a_partial_archive(
    queued: Queued, world: World
) -> None:
    client, pid, job_id, blob, data = _kill_mid_export(queued, world, attempts=2)
    _until(lambda: _status(queued, job_id).status == "queued", "recovery to requeue the job", queued)
    job = _status(queued, job_id)
    assert job.attempts == 1 and job.message.startswith("retrying: its worker") and job.result is None
    assert _export_files(queued, job_id) == []
    blob.unlink()
    blob.write_bytes(data)
    # The retry runs in RQ's SimpleWorker, burst mode, in this process (a worker process start is slow).
    assert run_worker(queued.services.jobs, REDIS_URL, burst=True, simple=True)
    done = wait_job(client, pid, job_id, timeout=10)
    assert done["status"] == "succeeded" and done["attempts"] == 2, (done, queued.logs_text())
    assert [p.name for p in _export_files(queued, job_id)] == ["attempt-2.zip"]
    url = client.post(f"/api/projects/{pid}/jobs/{job_id}/link").json()["url"]
    assert client.get(url).status_code == 200


def test_a_worker_killed_on_the_last_attempt_fails_the_job(queued: Queued, world: World) -> None:
    client, pid, job_id, blob, data = _kill_mid_export(queued, world, attempts=1)
    try:
        _until(lambda: _status(queued, job_id).status == "failed", "recovery to fail the job", queued)
        job = _status(queued, job_id)
        assert "stopped responding" in job.message and job.result is None and job.finished_at is not None
        assert _export_files(queued, job_id) == []
        assert client.post(f"/api/projects/{pid}/jobs/{job_id}/link").status_code == 409
    finally:
        blob.unlink()
        blob.write_bytes(data)


def test_an_unreachable_queue_is_a_503(backend: Backend, world: World) -> None:
    settings = backend.services.settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    jobs = make_job_system(settings, backend.services.db, backend.services.blobs)
    services = dataclasses.replace(backend.services, settings=settings, jobs=jobs)
    owner = world.user("owner")
    pid = world.project(owner)
    client = TestClient(create_app(services=services), headers=dict(owner.http.headers))
    r = client.post(f"/api/projects/{pid}/exports", json={"format": "coco"})
    assert r.status_code == 503 and "unreachable" in r.json()["detail"]
    (job,) = owner.get(f"/api/projects/{pid}/jobs").json()
    assert job["status"] == "failed" and job["message"] == "the job queue is unreachable"
    jobs.close()
