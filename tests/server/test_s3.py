"""S3-compatible storage through s3fs, against moto's S3 server on loopback: the blob store itself, and
the server with ``SEGLAB_STORAGE_URL=s3://bucket/prefix`` (uploads, downloads, an export and an import)."""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from seglab.api.app import build_services, create_app
from seglab.service import auth, imports
from seglab.service.access import Actor
from seglab.settings import Settings
from seglab.storage.blobs import BlobStore, content_key, sha256_hex
from tests.server.conftest import FAST_HASH, ONTOLOGY, image_bytes, wait_job

BUCKET = "seglab-test"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    pytest.importorskip("moto.server", reason="moto[server] is a dev dependency")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh bucket on the moto server, with credentials moto accepts."""
    import boto3

    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _keys(client: Any, prefix: str = "") -> set[str]:
    return {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])}


def test_blobs_write_read_and_delete_on_s3(s3: Any, s3_endpoint: str, tmp_path: Path) -> None:
    store = BlobStore(f"s3://{BUCKET}/blobs", endpoint_url=s3_endpoint)
    assert store.local_path("images/x.png") is None
    data = image_bytes((16, 12), seed=1)
    key = content_key(sha256_hex(data), "png")
    assert not store.exists(key)
    store.put(key, data)
    assert store.exists(key) and store.get(key) == data and store.size(key) == len(data)
    assert b"".join(store.iter_chunks(key)) == data
    assert _keys(s3) == {f"blobs/{key}"}
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 40_000)  # 10 MB: a multipart upload
    store.put_file("exports/1/attempt-1.zip", big)
    out = tmp_path / "back.bin"
    store.get_file("exports/1/attempt-1.zip", out)
    assert out.read_bytes() == big.read_bytes()
    store.delete(key)
    store.delete(key)  # deleting twice is fine
    assert not store.exists(key) and _keys(s3) == {"blobs/exports/1/attempt-1.zip"}
    with pytest.raises(ValueError):
        store.put("../escape", b"x")


def test_the_server_keeps_images_and_exports_on_s3(s3: Any, s3_endpoint: str, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        storage_url=f"s3://{BUCKET}/seglab",
        s3_endpoint_url=s3_endpoint,
        **FAST_HASH,
    )
    services = build_services(settings)
    try:
        admin = auth.create_user(
            services.db, services.passwords, actor=None, username="root", password="x" * 12, is_admin=True
        )
        token = auth.create_token(services.db, actor=Actor(admin.id, admin.username, True), name="t").value
        client = TestClient(create_app(services=services), headers={"Authorization": f"Bearer {token}"})
        pid = client.post("/api/projects", json={"name": "s3", "ontology": ONTOLOGY}).json()["id"]
        data = image_bytes((40, 30), seed=9)
        r = client.post(f"/api/projects/{pid}/images", files=[("files", ("a.png", data, "image/png"))])
        assert r.status_code == 201, r.text
        image = r.json()[0]
        assert f"seglab/{content_key(sha256_hex(data), 'png')}" in _keys(s3, "seglab/images/")
        assert not (tmp_path / "data" / "blobs").exists()  # nothing went to the local disk
        got = client.get(f"/api/projects/{pid}/images/{image['id']}/file")
        assert got.status_code == 200 and got.content == data and got.headers["content-type"] == "image/png"
        thumb = client.get(f"/api/projects/{pid}/images/{image['id']}/thumbnail", params={"size": 128})
        assert thumb.status_code == 200 and _keys(s3, "seglab/thumbs/")

        export = client.post(f"/api/projects/{pid}/exports", json={"format": "coco"}).json()
        export = wait_job(client, pid, export)
        assert export["status"] == "succeeded", export
        assert _keys(s3, f"seglab/exports/{export['id']}/") == {
            f"seglab/exports/{export['id']}/attempt-1.zip"
        }
        link = client.post(f"/api/projects/{pid}/jobs/{export['id']}/link").json()["url"]
        archive = client.get(link)
        assert archive.status_code == 200
        assert hashlib.sha256(archive.content).hexdigest() == export["result"]["sha256"]
        with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
            assert zf.read("images/default/a.png") == data

        other = client.post("/api/projects", json={"name": "s3-copy", "ontology": {"classes": []}}).json()[
            "id"
        ]
        r = client.post(
            f"/api/projects/{other}/imports",
            files=[("file", ("export.zip", archive.content, "application/zip"))],
            data={"format": "coco"},
        )
        job = wait_job(client, other, r.json())
        assert job["status"] == "succeeded" and job["result"]["images_added"] == 1, job
        # the uploaded source is removed once the job has ended (cleanup runs just after the final commit)
        deadline = time.monotonic() + 10
        while _keys(s3, "seglab/uploads/") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _keys(s3, "seglab/uploads/") == set()
        copied = client.get(f"/api/projects/{other}/images").json()["items"][0]
        assert client.get(f"/api/projects/{other}/images/{copied['id']}/file").content == data
    finally:
        services.jobs.close()
        services.db.dispose()


# ------------------------------------------------------------------------------------ import from S3


def _s3_import_client(tmp_path: Path, s3_endpoint: str, roots: list[str]) -> tuple[Any, TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        s3_endpoint_url=s3_endpoint,
        s3_import_roots=roots,
        gc_hours=0,
        **FAST_HASH,
    )
    services = build_services(settings)
    admin = auth.create_user(
        services.db, services.passwords, actor=None, username="root", password="x" * 12, is_admin=True
    )
    token = auth.create_token(services.db, actor=Actor(admin.id, admin.username, True), name="t").value
    return services, TestClient(create_app(services=services), headers={"Authorization": f"Bearer {token}"})


def test_images_and_datasets_import_from_an_allowed_s3_prefix(
    s3: Any, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seglab.demo import build_sample_dataset
    from seglab.formats.registry import read_dataset, write_dataset

    cats = {f"datasets/cats/{i}.png": image_bytes((20 + i, 10), seed=100 + i) for i in range(3)}
    cats["datasets/cats/nested/3.jpg"] = image_bytes((8, 8), fmt="JPEG", seed=103)
    coco = tmp_path / "coco"
    write_dataset(build_sample_dataset(), coco, "coco")
    for path in coco.rglob("*"):
        if path.is_file():
            s3.put_object(
                Bucket=BUCKET,
                Key=f"datasets/street/{path.relative_to(coco).as_posix()}",
                Body=path.read_bytes(),
            )
    for key, data in cats.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    s3.put_object(Bucket=BUCKET, Key="private/secret.png", Body=image_bytes((4, 4), seed=1))
    s3.put_object(Bucket=BUCKET, Key="datasets-evil/x.png", Body=image_bytes((4, 4), seed=2))

    services, client = _s3_import_client(tmp_path, s3_endpoint, [f"s3://{BUCKET}/datasets"])
    try:
        pid = client.post("/api/projects", json={"name": "from-s3", "ontology": ONTOLOGY}).json()["id"]
        url = f"/api/projects/{pid}/imports/s3"
        for prefix, code in (
            (f"s3://{BUCKET}/private", 404),
            (f"s3://{BUCKET}/datasets-evil", 404),  # a sibling that merely starts with the root's name
            (f"s3://{BUCKET}/datasets/../private", 422),
            ("s3://other-bucket/datasets", 404),
            ("https://169.254.169.254/latest", 422),
            ("../private", 422),
        ):
            r = client.post(url, json={"prefix": prefix})
            assert r.status_code == code, (prefix, r.text)
        assert client.post(url, json={"prefix": "cats", "format": "nope"}).status_code == 422

        r = client.post(url, json={"prefix": "cats"})  # relative: inside the first root; images only
        assert r.status_code == 202, r.text
        job = wait_job(client, pid, r.json())  # type: ignore[arg-type]
        assert job["status"] == "succeeded", job
        assert job["params"]["prefix"] == f"s3://{BUCKET}/datasets/cats"
        assert job["result"]["format"] == "images" and job["result"]["images_added"] == 4
        items = {i["file_name"]: i for i in client.get(f"/api/projects/{pid}/images").json()["items"]}
        assert set(items) == {"0.png", "1.png", "2.png", "nested/3.jpg"}
        assert (items["1.png"]["width"], items["1.png"]["height"]) == (21, 10)
        got = client.get(f"/api/projects/{pid}/images/{items['2.png']['id']}/file").content
        assert got == cats["datasets/cats/2.png"]

        street = client.post("/api/projects", json={"name": "street", "ontology": {"classes": []}}).json()[
            "id"
        ]
        r = client.post(
            f"/api/projects/{street}/imports/s3", json={"prefix": f"s3://{BUCKET}/datasets/street/"}
        )
        job = wait_job(client, street, r.json())  # type: ignore[arg-type]
        assert job["status"] == "succeeded", job
        assert job["result"]["format"] == "coco" and job["result"]["images_added"] == 3
        assert job["result"]["annotations"] == read_dataset(coco, "coco")[0].annotation_count

        single = client.post("/api/projects", json={"name": "one", "ontology": ONTOLOGY}).json()["id"]
        r = client.post(f"/api/projects/{single}/imports/s3", json={"prefix": "cats/1.png"})  # one object
        job = wait_job(client, single, r.json())  # type: ignore[arg-type]
        assert job["status"] == "succeeded" and job["result"]["images_added"] == 1, job

        limit = imports.MAX_ARCHIVE_ENTRIES
        monkeypatch.setattr(imports, "MAX_ARCHIVE_ENTRIES", 3)
        r = client.post(url, json={"prefix": "cats"})
        job = wait_job(client, pid, r.json())  # type: ignore[arg-type]
        assert job["status"] == "failed" and "4 objects, over the limit of 3" in job["message"], job
        monkeypatch.setattr(imports, "MAX_ARCHIVE_ENTRIES", limit)

        r = client.post(url, json={"prefix": "nothing-here"})
        job = wait_job(client, pid, r.json())  # type: ignore[arg-type]
        assert job["status"] == "failed" and "no objects under" in job["message"], job
        assert not any((tmp_path / "data" / "tmp" / "jobs").glob("*/s3"))  # scratch copies are removed
    finally:
        services.jobs.close()
        services.db.dispose()


def test_s3_import_needs_configured_roots(s3: Any, s3_endpoint: str, tmp_path: Path) -> None:
    services, client = _s3_import_client(tmp_path, s3_endpoint, [])
    try:
        pid = client.post("/api/projects", json={"name": "no-roots", "ontology": ONTOLOGY}).json()["id"]
        r = client.post(f"/api/projects/{pid}/imports/s3", json={"prefix": f"s3://{BUCKET}/x"})
        assert r.status_code == 422 and "SEGLAB_S3_IMPORT_ROOTS" in r.text
    finally:
        services.jobs.close()
        services.db.dispose()


def test_s3_import_roots_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGLAB_S3_IMPORT_ROOTS", "s3://a/datasets, s3://b")
    assert Settings().s3_import_roots == ["s3://a/datasets", "s3://b"]
    monkeypatch.setenv("SEGLAB_S3_IMPORT_ROOTS", "/local/folder")
    with pytest.raises(ValueError, match="S3 import root"):
        Settings()
