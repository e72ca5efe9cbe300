"""Housekeeping: export files expire (410 Gone afterwards), and garbage collection removes the blobs nothing
refers to, on local storage and S3, without ever deleting one that a row refers to or an upload reuses."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from seglab.api.app import build_services, create_app
from seglab.api.deps import Services
from seglab.jobs import JobSystem, Periodic
from seglab.jobs import store as job_store
from seglab.service import auth, maintenance
from seglab.service.access import Actor
from seglab.settings import Settings
from seglab.storage import repositories as repo
from seglab.storage.blobs import content_key, sha256_hex
from seglab.storage.models import Job, utcnow
from tests.server.conftest import (
    FAST_HASH,
    ONTOLOGY,
    PASSWORD,
    Backend,
    World,
    image_bytes,
    unique,
    wait_job,
)
from tests.server.test_s3 import BUCKET, s3, s3_endpoint  # noqa: F401 (fixtures)

_seed = iter(range(10_000, 1_000_000))


# ------------------------------------------------------------------------------------------ exports


def _backdate(world: World, job_id: int, hours: float) -> None:
    """Make an export look ``hours`` older: finished then, and its file due that much earlier."""

    def _move(s: Any) -> None:
        job = s.get(Job, job_id)
        result = dict(job.result)
        result["expires_at"] = (utcnow() - timedelta(hours=hours - 24)).isoformat()
        job.result = result
        job.finished_at = utcnow() - timedelta(hours=hours)

    world.services.db.write(_move)


def _export(client: Any, pid: int) -> dict[str, Any]:
    job = wait_job(client, pid, client.post(f"/api/projects/{pid}/exports", json={"format": "coco"}).json())
    assert job["status"] == "succeeded", job
    return job


def _exported_project(world: World) -> tuple[Any, int, dict[str, Any], str]:
    """An owner's project with one image, exported once: (owner, project id, the export, its zip's key)."""
    owner = world.user("owner")
    pid = world.project(owner)
    world.image(owner, pid)
    export = _export(owner, pid)
    return owner, pid, export, f"exports/{export['id']}/attempt-1.zip"


def test_export_files_expire_and_their_links_answer_410(world: World) -> None:
    owner, pid, export, key = _exported_project(world)
    expires = export["result"]["expires_at"]
    assert "_key" not in export["result"] and expires > utcnow().isoformat()
    link = owner.post(f"/api/projects/{pid}/jobs/{export['id']}/link").json()
    assert link["expires_at"] <= expires.replace("+00:00", "Z")  # a link never outlives the file
    assert owner.get(link["url"]).status_code == 200

    _backdate(world, export["id"], hours=25)
    r = owner.get(link["url"])  # due: refused even before housekeeping has deleted the file
    assert r.status_code == 410 and "expired" in r.json()["detail"], r.text

    # (The housekeeping that follows every job may be finishing the export's own run: either deletes it.)
    expired = maintenance.expire_exports(world.services.db, world.services.blobs, keep=timedelta(hours=24))
    assert not world.services.blobs.exists(key) and expired in ([export["id"]], [])
    job = owner.get(f"/api/projects/{pid}/jobs/{export['id']}").json()
    assert job["status"] == "succeeded" and "expired_at" in job["result"]
    r = owner.get(link["url"])
    assert r.status_code == 410 and "start a new export" in r.json()["detail"]
    r = owner.post(f"/api/projects/{pid}/jobs/{export['id']}/link")
    assert r.status_code == 410, r.text
    again = maintenance.expire_exports(world.services.db, world.services.blobs, keep=timedelta(hours=24))
    assert export["id"] not in again  # each export expires once


def test_exports_expire_whenever_a_job_runs(world: World) -> None:
    owner, pid, old, key = _exported_project(world)
    _backdate(world, old["id"], hours=30)
    assert world.services.blobs.exists(key)
    _export(owner, pid)  # any job run is followed by the expiry pass (the server's setting: 24 hours)
    deadline = time.monotonic() + 10
    while world.services.blobs.exists(key) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not world.services.blobs.exists(key)
    assert "expired_at" in owner.get(f"/api/projects/{pid}/jobs/{old['id']}").json()["result"]


def test_housekeeping_runs_at_start_then_periodically(tmp_path: Path, world: World) -> None:
    calls: list[str] = []

    def broken() -> None:
        calls.append("broken")
        raise OSError("storage unreachable")

    system = JobSystem(
        world.services.db,
        {},
        scratch_root=tmp_path / "scratch",
        housekeeping=[
            Periodic("count", 0.05, lambda: calls.append("count")),
            Periodic("broken", 0.05, broken),
        ],
    )
    try:
        assert calls == []
        system.start()
        deadline = time.monotonic() + 5
        while calls.count("count") < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert calls.count("count") >= 3 and calls.count("broken") >= 2  # a failing task stops nothing
    finally:
        system.close()


# ------------------------------------------------------------------------------- garbage collection


@dataclass
class Isolated:
    """A server with a blob store of its own on the shared test database (other tests' blobs are not in
    it, so garbage collection with no grace period can be asserted exactly)."""

    services: Services
    client: TestClient

    def upload(self, pid: int, name: str, data: bytes) -> dict[str, Any]:
        r = self.client.post(f"/api/projects/{pid}/images", files=[("files", (name, data, "image/png"))])
        assert r.status_code == 201, r.text
        return dict(r.json()[0])

    def project(self) -> int:
        r = self.client.post("/api/projects", json={"name": unique("gc"), "ontology": ONTOLOGY})
        assert r.status_code == 201, r.text
        return int(r.json()["id"])


@pytest.fixture(params=["local", "s3"])
def isolated(request: pytest.FixtureRequest, backend: Backend, tmp_path: Path) -> Iterator[Isolated]:
    overrides: dict[str, Any] = {}
    if request.param == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        request.getfixturevalue("s3")
        overrides = {"storage_url": f"s3://{BUCKET}/gc-{uuid.uuid4().hex[:8]}", "s3_endpoint_url": endpoint}
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=backend.services.settings.database_url,
        gc_hours=0,
        **FAST_HASH,
        **overrides,
    )
    services = build_services(settings)
    user = auth.create_user(
        services.db,
        services.passwords,
        actor=backend.admin,
        username=unique("gc"),
        password=PASSWORD,
        is_admin=True,
    )
    token = auth.create_token(services.db, actor=Actor(user.id, user.username, True), name="gc").value
    client = TestClient(create_app(services=services), headers={"Authorization": f"Bearer {token}"})
    try:
        yield Isolated(services, client)
    finally:
        services.jobs.close()
        services.db.dispose()


def test_garbage_collection_deletes_only_unreferenced_blobs(isolated: Isolated) -> None:
    services, client = isolated.services, isolated.client
    blobs, db = services.blobs, services.db
    pid = isolated.project()
    data_a, data_b, data_c = (image_bytes((30, 20), seed=next(_seed)) for _ in range(3))
    a = isolated.upload(pid, "a.png", data_a)
    b = isolated.upload(pid, "b.png", data_b)
    for image in (a, b):
        r = client.get(f"/api/projects/{pid}/images/{image['id']}/thumbnail", params={"size": 128})
        assert r.status_code == 200
    export = client.post(f"/api/projects/{pid}/exports", json={"format": "coco"}).json()
    export = wait_job(client, pid, export)  # type: ignore[arg-type]
    assert export["status"] == "succeeded", export
    assert client.delete(f"/api/projects/{pid}/images/{b['id']}").status_code == 204

    key_a, key_b = content_key(sha256_hex(data_a), "png"), content_key(sha256_hex(data_b), "png")
    thumb_a = content_key(sha256_hex(data_a), "jpg", namespace="thumbs/128")
    thumb_b = content_key(sha256_hex(data_b), "jpg", namespace="thumbs/128")
    export_key = f"exports/{export['id']}/attempt-1.zip"
    stray_upload = f"uploads/{uuid.uuid4().hex}/dataset.zip"  # a failed upload's staging file
    torn = "images/00/00/.tmp-crashed"  # a write a crash interrupted
    unmanaged = "autolabel/models/1/attempt-1.seglab-model"
    claimed = content_key(sha256_hex(data_c), "png")  # on its way into a project right now
    for key, payload in ((stray_upload, b"PK"), (torn, b"half"), (unmanaged, b"model"), (claimed, data_c)):
        blobs.put(key, payload)
    db.write(lambda s: repo.claim_blobs(s, [claimed], ttl=timedelta(hours=1)))
    everything = {key_a, key_b, thumb_a, thumb_b, export_key, stray_upload, torn, unmanaged, claimed}
    assert {f.key for f in blobs.iter_files()} == everything

    young = maintenance.collect_garbage(db, blobs, grace=timedelta(hours=1))
    assert young.deleted == 0 and young.young == len(everything) - 1 and young.unknown == 1
    # A temporary file is collected once it is an hour old, whatever the grace period: a write may still
    # be in progress. S3 has no temporary objects (an upload appears whole), so there it stays young.
    garbage = {key_b, thumb_b, stray_upload}
    if blobs.local:
        path = blobs.local_path(torn)
        assert path is not None
        two_hours_ago = time.time() - 2 * 3600
        os.utime(path, (two_hours_ago, two_hours_ago))
        garbage.add(torn)
    dry = maintenance.collect_garbage(db, blobs, grace=timedelta(0), dry_run=True)
    assert set(dry.deleted_keys) == garbage
    assert {f.key for f in blobs.iter_files()} == everything

    thumb_bytes = blobs.size(thumb_b)
    report = maintenance.collect_garbage(db, blobs, grace=timedelta(0))
    assert set(report.deleted_keys) == garbage, report
    assert report.freed_bytes == len(data_b) + thumb_bytes + len(b"PK") + (len(b"half") if blobs.local else 0)
    assert {f.key for f in blobs.iter_files()} == everything - garbage
    assert client.get(f"/api/projects/{pid}/images/{a['id']}/file").content == data_a
    link = client.post(f"/api/projects/{pid}/jobs/{export['id']}/link").json()["url"]
    assert client.get(link).status_code == 200


def test_an_upload_reusing_a_blob_wins_against_a_collection_running_at_that_moment(
    isolated: Isolated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race garbage collection must not lose: the blob of a deleted image is unreferenced and old,
    and the same content is uploaded again. The collection runs exactly when the upload has found the
    blob in the store (and so will not store it again) but has not inserted its row yet."""
    services = isolated.services
    blobs, db = services.blobs, services.db
    pid = isolated.project()
    data = image_bytes((24, 24), seed=next(_seed))
    key = content_key(sha256_hex(data), "png")
    first = isolated.upload(pid, "first.png", data)
    assert isolated.client.delete(f"/api/projects/{pid}/images/{first['id']}").status_code == 204
    assert blobs.exists(key)  # an orphan now

    reports: list[maintenance.GcReport] = []
    real_exists = blobs.exists

    def exists_then_collect(k: str) -> bool:
        found = real_exists(k)
        if k == key and not reports:
            gc = threading.Thread(
                target=lambda: reports.append(maintenance.collect_garbage(db, blobs, grace=timedelta(0)))
            )
            gc.start()
            gc.join(30)
        return found

    monkeypatch.setattr(blobs, "exists", exists_then_collect)
    again = isolated.upload(pid, "again.png", data)
    monkeypatch.setattr(blobs, "exists", real_exists)
    assert reports and key not in reports[0].deleted_keys  # the upload's claim kept it
    r = isolated.client.get(f"/api/projects/{pid}/images/{again['id']}/file")
    assert r.status_code == 200 and r.content == data
    # Once the row exists the blob is referenced; the claim is gone with the upload's transaction.
    assert key not in maintenance.collect_garbage(db, blobs, grace=timedelta(0)).deleted_keys
    assert db.read(lambda s: repo.claimed_keys(s, [key])) == set()

    # The other order: the collection deletes the orphan first; the upload then stores it again.
    assert isolated.client.delete(f"/api/projects/{pid}/images/{again['id']}").status_code == 204
    assert key in maintenance.collect_garbage(db, blobs, grace=timedelta(0)).deleted_keys
    third = isolated.upload(pid, "third.png", data)
    assert isolated.client.get(f"/api/projects/{pid}/images/{third['id']}/file").content == data


def test_uploads_and_deletes_racing_collections_never_lose_a_referenced_blob(isolated: Isolated) -> None:
    """Three clients upload the same few images, read them back and delete them, in a loop, while
    collections with no grace period run back to back: every uploaded image's file is always there."""
    services = isolated.services
    blobs, db = services.blobs, services.db
    contents = [image_bytes((16, 16), seed=next(_seed)) for _ in range(3)]
    projects = [isolated.project() for _ in range(3)]
    stop = threading.Event()
    errors: list[str] = []
    rounds = [0]
    collections = [0]

    def churn(pid: int) -> None:
        try:
            _churn(pid)
        except Exception as exc:  # a server error raised through the test client
            errors.append(repr(exc))

    def _churn(pid: int) -> None:
        n = 0
        while not stop.is_set():
            data = contents[n % len(contents)]
            base = f"/api/projects/{pid}/images"
            r = isolated.client.post(base, files=[("files", (f"{n}.png", data, "image/png"))])
            if r.status_code != 201:
                errors.append(r.text)
                return
            image_id = r.json()[0]["id"]
            got = isolated.client.get(f"{base}/{image_id}/file")
            if got.status_code != 200 or got.content != data:
                errors.append(f"image {image_id}: {got.status_code}")
                return
            assert isolated.client.delete(f"{base}/{image_id}").status_code == 204
            n += 1
            rounds[0] += 1

    def collect() -> None:
        while not stop.is_set():
            maintenance.collect_garbage(db, blobs, grace=timedelta(0))
            collections[0] += 1

    threads = [threading.Thread(target=churn, args=(pid,)) for pid in projects]
    threads.append(threading.Thread(target=collect))
    for t in threads:
        t.start()
    time.sleep(2.5 if blobs.local else 4.0)
    stop.set()
    for t in threads:
        t.join(60)
    assert errors == [] and rounds[0] >= 6 and collections[0] >= 2, (errors, rounds, collections)


def test_claims_of_a_job_live_while_it_runs(world: World) -> None:
    db = world.services.db
    key = f"images/ff/ff/{'f' * 64}.png"
    owner = world.user("owner")
    pid = world.project(owner)
    job = db.write(
        lambda s: job_store.create(
            s, kind="import", project_id=pid, created_by=owner.user_id, params={}, max_attempts=1
        )
    )
    db.write(lambda s: repo.claim_blobs(s, [key], job_id=job.id))
    db.write(lambda s: repo.claim_blobs(s, [key], ttl=timedelta(seconds=-1)))  # already expired
    assert db.read(lambda s: repo.claimed_keys(s, [key])) == {key}
    db.write(lambda s: s.execute(update(Job).where(Job.id == job.id).values(status="failed")))
    assert db.read(lambda s: repo.claimed_keys(s, [key])) == set()
    assert db.write(repo.purge_dead_claims) >= 2
    with pytest.raises(ValueError):
        db.write(lambda s: repo.claim_blobs(s, [key]))
