"""The job machinery on both databases: claim once, progress, results and failure reasons, cancel (queued
and running, with the running job's writes rolled back), workers lost mid-job (retried, then failed),
interrupted workers, scratch clean-up, and the job routes."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from seglab.api.app import create_app
from seglab.jobs import JobContext, JobFailed, JobKind, JobRecord, JobStatus, JobSystem, store
from seglab.service import auth
from seglab.service.access import Actor
from seglab.storage.models import Job, Project, User, utcnow
from tests.server.conftest import World, wait_job


def _system(world: World, tmp_path: Path, kinds: dict[str, JobKind], **options: Any) -> JobSystem:
    settings = {"heartbeat_s": 0.1, "stale_s": 0.6, "max_attempts": 2, "threads": 2, **options}
    return JobSystem(world.services.db, kinds, scratch_root=tmp_path / "scratch", **settings)


def _create(world: World, project_id: int, kind: str, user_id: int, attempts: int = 2, **params: Any) -> int:
    return world.services.db.write(
        lambda s: (
            store.create(
                s, kind=kind, project_id=project_id, created_by=user_id, params=params, max_attempts=attempts
            ).id
        )
    )


def _wait(world: World, job_id: int, statuses: tuple[str, ...], timeout: float = 10.0) -> JobRecord:
    deadline = time.monotonic() + timeout
    while True:
        job = store.get(world.services.db, job_id)
        assert job is not None
        if job.status.value in statuses:
            return job
        assert time.monotonic() < deadline, f"job {job_id} is {job.status}, waiting for {statuses}"
        time.sleep(0.02)


@pytest.fixture
def project(world: World) -> tuple[int, int]:
    owner = world.user("owner")
    return world.project(owner), owner.user_id


@pytest.fixture
def systems() -> Iterator[list[JobSystem]]:
    made: list[JobSystem] = []
    yield made
    for system in made:
        system.close()


def _describe(project_id: int, text: str) -> Callable[[Any], None]:
    def write(s: Any) -> None:
        s.execute(update(Project).where(Project.id == project_id).values(description=text))

    return write


def test_a_job_runs_once_reports_progress_and_keeps_its_result(
    world: World, tmp_path: Path, project: tuple[int, int], systems: list[JobSystem]
) -> None:
    pid, uid = project
    runs: list[int] = []
    seen: list[float] = []

    def work(ctx: JobContext) -> dict[str, Any]:
        runs.append(ctx.job.attempts)
        assert ctx.scratch.is_dir() and ctx.params == {"n": 3}
        for i in range(3):
            ctx.progress(i / 3, f"step {i}")
            seen.append(store.get(world.services.db, ctx.job.id).progress)  # type: ignore[union-attr]
            time.sleep(0.6)  # past the write throttle, so each step is recorded
        return {"total": 3}

    system = _system(world, tmp_path, {"work": JobKind(work)})
    systems.append(system)
    job_id = _create(world, pid, "work", uid, n=3)
    for _ in range(3):  # delivered several times (at-least-once): it still runs once
        system.submit(job_id)
    job = _wait(world, job_id, ("succeeded",))
    assert runs == [1] and job.result == {"total": 3} and job.progress == 1.0 and job.attempts == 1
    assert seen == pytest.approx([0.0, 1 / 3, 2 / 3])
    assert job.started_at is not None and job.finished_at is not None and job.finished_at >= job.started_at
    scratch = tmp_path / "scratch" / f"{job_id}-1"
    deadline = time.monotonic() + 10  # removed by the runner just after the status commit
    while scratch.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not scratch.exists()


def test_failures_keep_their_reason(
    world: World, tmp_path: Path, project: tuple[int, int], systems: list[JobSystem]
) -> None:
    pid, uid = project

    def expected(ctx: JobContext) -> None:
        raise JobFailed("2 bad objects", {"problems": [{"where": "a", "reason": "b"}]})

    def bug(ctx: JobContext) -> None:
        raise KeyError("secret internal detail")

    system = _system(world, tmp_path, {"expected": JobKind(expected), "bug": JobKind(bug)})
    systems.append(system)
    first, second = _create(world, pid, "expected", uid), _create(world, pid, "bug", uid)
    unknown = _create(world, pid, "nonexistent", uid)
    for job_id in (first, second, unknown):
        system.submit(job_id)
    job = _wait(world, first, ("failed",))
    assert job.message == "2 bad objects" and job.result == {"problems": [{"where": "a", "reason": "b"}]}
    job = _wait(world, second, ("failed",))
    assert job.message.startswith("internal error (KeyError)") and "secret" not in job.message
    assert "unknown job kind" in _wait(world, unknown, ("failed",)).message


def test_cancel_stops_a_running_job_and_rolls_back_its_writes(
    world: World, tmp_path: Path, project: tuple[int, int], systems: list[JobSystem]
) -> None:
    pid, uid = project
    started = threading.Event()
    release = threading.Event()

    def slow(ctx: JobContext) -> None:
        started.set()
        release.wait(10)

        def finish(s: Any) -> None:
            _describe(pid, "written by the job")(s)
            ctx.complete(s, {"done": True})

        world.services.db.write(finish)

    system = _system(world, tmp_path, {"slow": JobKind(slow)}, threads=1)
    systems.append(system)
    services = dataclasses.replace(world.services, jobs=system)
    other = world.user("other")
    client = TestClient(create_app(services=services))
    running = _create(world, pid, "slow", uid)
    queued = _create(world, pid, "slow", uid)
    system.submit(running)
    system.submit(queued)
    assert started.wait(5)
    owner = _client_for(world, client, uid)
    assert owner.post(f"/api/projects/{pid}/jobs/{queued}/cancel").json()["status"] == "cancelled"
    r = owner.post(f"/api/projects/{pid}/jobs/{running}/cancel")
    assert r.status_code == 200 and r.json()["cancel_requested"] is True and r.json()["status"] == "running"
    release.set()
    assert _wait(world, running, ("cancelled",)).message == "cancelled"
    assert world.services.db.read(lambda s: s.get_one(Project, pid).description) == ""
    assert _wait(world, queued, ("cancelled",)).attempts == 0  # never started
    assert owner.post(f"/api/projects/{pid}/jobs/{running}/cancel").status_code == 409
    stranger = _client_for(world, client, other.user_id)
    assert stranger.post(f"/api/projects/{pid}/jobs/{running}/cancel").status_code == 404


def _client_for(world: World, client: TestClient, user_id: int) -> TestClient:
    name = world.services.db.read(lambda s: s.get_one(User, user_id).username)
    token = auth.create_token(world.services.db, actor=Actor(user_id, name), name="t").value
    return TestClient(client.app, headers={"Authorization": f"Bearer {token}"})


def test_a_lost_worker_is_retried_then_failed_and_cleaned_up(
    world: World, tmp_path: Path, project: tuple[int, int], systems: list[JobSystem]
) -> None:
    pid, uid = project
    cleaned: list[JobRecord] = []
    attempts: list[int] = []

    def work(ctx: JobContext) -> dict[str, Any]:
        attempts.append(ctx.job.attempts)
        return {"attempt": ctx.job.attempts}

    system = _system(world, tmp_path, {"work": JobKind(work, cleanup=cleaned.append)})
    systems.append(system)
    db = world.services.db

    def lose(job_id: int) -> None:
        """A worker claims the job, writes part of its output, and dies (its heartbeat stops)."""
        claimed = store.claim(db, job_id, "dead-host:1:1")
        assert claimed is not None
        (tmp_path / "scratch" / f"{job_id}-{claimed.attempts}").mkdir(parents=True)
        old = utcnow() - timedelta(seconds=30)
        db.write(lambda s: s.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=old)))

    retried = _create(world, pid, "work", uid)
    lose(retried)
    assert [(r.job.id, r.retried) for r in system.recover()] == [(retried, True)]
    job = _wait(world, retried, ("succeeded",))
    assert attempts == [2] and job.result == {"attempt": 2} and job.attempts == 2
    assert not (tmp_path / "scratch" / f"{retried}-1").exists()  # the dead attempt's scratch is gone

    failed = _create(world, pid, "work", uid, attempts=1)
    lose(failed)
    assert [(r.job.id, r.retried) for r in system.recover()] == [(failed, False)]
    job = _wait(world, failed, ("failed",))
    assert "stopped responding" in job.message and "no attempts left" in job.message and job.attempts == 1
    assert [c.id for c in cleaned] == [retried, failed]


def test_a_stopping_worker_hands_its_job_back(world: World, tmp_path: Path, project: tuple[int, int]) -> None:
    pid, uid = project
    started = threading.Event()

    def patient(ctx: JobContext) -> None:
        started.set()
        while True:
            ctx.progress(0.5)
            time.sleep(0.02)

    system = _system(world, tmp_path, {"patient": JobKind(patient)})
    job_id = _create(world, pid, "patient", uid)
    system.submit(job_id)
    assert started.wait(5)
    system.close()
    job = _wait(world, job_id, ("queued",))
    assert job.attempts == 0 and "interrupted" in job.message  # a clean stop costs no attempt


def test_queued_jobs_left_by_a_dead_process_are_picked_up(
    world: World, tmp_path: Path, project: tuple[int, int], systems: list[JobSystem]
) -> None:
    pid, uid = project
    job_id = _create(world, pid, "work", uid)  # created, but its process died before handing it out
    system = _system(world, tmp_path, {"work": JobKind(lambda ctx: {"ok": True})})
    systems.append(system)
    system.start()  # the first recovery pass of a new process takes every queued job
    assert _wait(world, job_id, ("succeeded",)).result == {"ok": True}


def test_job_routes_list_and_show_a_projects_jobs(world: World) -> None:
    owner, viewer = world.user("owner"), world.user("viewer")
    pid = world.project(owner, viewer=viewer)
    world.image(owner, pid)
    first = owner.post(f"/api/projects/{pid}/exports", json={"format": "coco"}).json()
    second = viewer.post(
        f"/api/projects/{pid}/exports", json={"format": "voc", "include_images": False}
    ).json()
    for job in (first, second):
        assert wait_job(owner, pid, job)["status"] == "succeeded"
    listed = viewer.get(f"/api/projects/{pid}/jobs").json()
    assert [j["id"] for j in listed] == [second["id"], first["id"]]
    assert (
        listed[0]["params"] == {"format": "voc", "include_images": False}
        and listed[0]["created_by"] == viewer.user_id
    )
    assert [
        j["id"] for j in viewer.get(f"/api/projects/{pid}/jobs", params={"before_id": second["id"]}).json()
    ] == [first["id"]]
    assert viewer.get(f"/api/projects/{pid}/jobs", params={"status": "failed"}).json() == []
    assert viewer.get(f"/api/projects/{pid}/jobs", params={"kind": "bogus"}).status_code == 422
    assert viewer.post(f"/api/projects/{pid}/jobs/{first['id']}/cancel").status_code == 403
    assert JobStatus(listed[0]["status"]) is JobStatus.SUCCEEDED
