"""Import and export through every format as jobs: round trips, all-or-nothing imports with a report,
hostile archives refused at upload, server folders confined to the import roots, and export downloads
through personal, expiring links."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import stat
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from seglab.api.app import create_app
from seglab.core.dataset import Dataset
from seglab.core.validation import validate
from seglab.demo import build_sample_dataset
from seglab.formats.registry import list_formats, read_dataset, write_dataset
from seglab.service import jobs as job_service
from seglab.service.job_kinds import make_job_system
from seglab.storage.models import Base
from seglab.storage.repositories import to_doc
from tests.server.conftest import Client, World, box, image_bytes, wait_job, write_headers, zip_bytes


def _folder_zip(folder: Path) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return out.getvalue()


def _written(dataset: Dataset, fmt: str, tmp: Path) -> bytes:
    folder = tmp / f"written-{fmt}-{time.monotonic_ns()}"
    write_dataset(dataset, folder, fmt)
    return _folder_zip(folder)


def _import(client: Client, pid: int, data: bytes, name: str, **form: Any) -> dict[str, Any]:
    r = client.post(
        f"/api/projects/{pid}/imports",
        files=[("file", (name, data, "application/octet-stream"))],
        data={k: str(v).lower() if isinstance(v, bool) else v for k, v in form.items()},
    )
    assert r.status_code == 202, r.text
    return wait_job(client, pid, r.json())


def _key(doc: dict[str, Any]) -> str:
    return json.dumps([doc["label"], doc["kind"], doc[doc["kind"]]], sort_keys=True)


def _stored(client: Client, pid: int) -> dict[str, Counter[str]]:
    """file name -> multiset of (label, kind, geometry) of the project's objects."""
    out = {}
    for image in client.get(f"/api/projects/{pid}/images", params={"limit": 500}).json()["items"]:
        docs = client.get(f"/api/projects/{pid}/images/{image['id']}/annotations").json()["annotations"]
        out[image["file_name"]] = Counter(_key(d) for d in docs)
    return out


def _expected(dataset: Dataset) -> dict[str, Counter[str]]:
    return {i.file_name: Counter(_key(to_doc(a)) for a in i.annotations) for i in dataset.images}


def _counts(world: World) -> dict[str, int]:
    def count(s: Any) -> dict[str, int]:
        return {
            t.name: s.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
            if t.name != "jobs"
        }

    return world.services.db.read(count)


def _blob_files(world: World) -> set[str]:
    root = Path(world.services.blobs.root)
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _download(client: Client, pid: int, job: dict[str, Any]) -> bytes:
    r = client.post(f"/api/projects/{pid}/jobs/{job['id']}/link")
    assert r.status_code == 200, r.text
    got = client.get(r.json()["url"])
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/zip"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert hashlib.sha256(got.content).hexdigest() == job["result"]["sha256"]
    return got.content


def test_export_and_reimport_through_every_format(world: World, tmp_path: Path) -> None:
    owner = world.user("owner")
    source = world.project(owner, ontology={"classes": []})  # an empty project adopts the dataset's classes
    demo = build_sample_dataset()
    job = _import(owner, source, _written(demo, "coco", tmp_path), "demo.zip", format="coco")
    assert job["status"] == "succeeded", job
    coco_demo, _ = read_dataset(_ref(demo, tmp_path), "coco")
    assert job["result"]["images_added"] == 3 and job["result"]["annotations"] == coco_demo.annotation_count
    assert job["result"]["skipped_objects"] == 0 and job["progress"] == 1.0
    assert _stored(owner, source) == _expected(coco_demo)
    images = owner.get(f"/api/projects/{source}/images").json()["items"]
    assert sorted(i["subset"] for i in images) == ["train", "train", "val"]

    for spec in list_formats():
        r = owner.post(f"/api/projects/{source}/exports", json={"format": spec.name})
        assert r.status_code == 202 and r.json()["status"] in ("queued", "running", "succeeded")
        export = wait_job(owner, source, r.json())
        assert export["status"] == "succeeded", export
        assert export["result"]["images"] == 3 and "_key" not in export["result"]
        data = _download(owner, source, export)
        archive = tmp_path / f"{spec.name}.zip"
        archive.write_bytes(data)
        written, _ = read_dataset(archive, spec.name)
        target = world.project(owner, ontology={"classes": []})
        job = _import(owner, target, data, f"{spec.name}.zip", format=spec.name)
        refused = {(i.image, i.annotation_id) for i in validate(written) if i.code == "shape-not-allowed"}
        if refused:  # files that do not validate against their own classes are reported, not imported
            assert job["status"] == "failed" and job["result"]["problem_count"] == len(refused), job
            job = _import(owner, target, data, f"{spec.name}.zip", format=spec.name, skip_invalid=True)
            assert job["result"]["skipped_objects"] == len(refused)
            written = written.with_images(
                [
                    i.with_annotations(a for a in i.annotations if (i.file_name, a.id) not in refused)
                    for i in written.images
                ]
            )
        assert job["status"] == "succeeded", (spec.name, job["message"], job["result"])
        # Object-count and geometry conservation: the project holds exactly what the files hold.
        assert _stored(owner, target) == _expected(written), spec.name
        assert job["result"]["annotations"] == written.annotation_count
        kept = {"coco": {"box", "keypoints"}, "cvat": {"keypoints", "polyline"}, "labelme": {"box"}}
        if spec.name in kept:
            before, after = _stored(owner, source), _stored(owner, target)
            for name in before:
                assert _only(before[name], kept[spec.name]) == _only(after[name], kept[spec.name]), name


def _only(objects: Counter[str], kinds: set[str]) -> Counter[str]:
    return Counter({k: n for k, n in objects.items() if json.loads(k)[1] in kinds})


def _ref(dataset: Dataset, tmp: Path) -> Path:
    folder = tmp / "demo-ref"
    if not folder.exists():
        write_dataset(dataset, folder, "coco")
    return folder


def _coco(images: list[dict[str, Any]], annotations: list[dict[str, Any]], classes: list[str]) -> bytes:
    doc = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(classes)],
    }
    return json.dumps(doc).encode()


def test_a_failed_import_changes_nothing_and_skip_invalid_counts(world: World) -> None:
    owner = world.user("owner")
    pid = world.project(owner)
    image = world.image(owner, pid, size=(64, 48))
    url = f"/api/projects/{pid}/images/{image['id']}/annotations"
    assert owner.put(url, json={"annotations": [box()]}, headers=write_headers(0)).status_code == 200
    counts, blobs = _counts(world), _blob_files(world)

    # Bad objects the reader finds: a 2-point polygon and an unknown category.
    bad = _coco(
        [{"id": 1, "file_name": "new.png", "width": 40, "height": 30}],
        [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 2, 2]], "bbox": [1, 1, 1, 1]},
            {"id": 3, "image_id": 1, "category_id": 9, "bbox": [1, 1, 5, 5], "area": 25},
        ],
        ["car"],
    )
    files = {"annotations/instances_default.json": bad, "images/new.png": image_bytes((40, 30), seed=77)}
    job = _import(owner, pid, zip_bytes(files), "bad.zip", format="coco")
    assert job["status"] == "failed" and "nothing was imported" in job["message"]
    problems = job["result"]["problems"]
    assert job["result"]["problem_count"] == len(problems) == 2
    assert all(p["file"] == "annotations/instances_default.json" and p["reason"] for p in problems), problems
    assert _counts(world) == counts and _blob_files(world) == blobs

    # Problems found against the project: class 'lane' allows polylines only; the image file is new.
    lane = _coco(
        [{"id": 1, "file_name": "new.png", "width": 40, "height": 30}],
        [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [2, 2, 5, 5], "area": 25},
        ],
        ["car", "lane"],
    )
    files["annotations/instances_default.json"] = lane
    job = _import(owner, pid, zip_bytes(files), "lane.zip", format="coco")
    assert job["status"] == "failed", job
    assert [p["where"] for p in job["result"]["problems"]] == ["annotation 2"]
    assert "allows polyline, not box" in job["result"]["problems"][0]["reason"]
    assert _counts(world) == counts and _blob_files(world) == blobs  # the stored image file was removed

    job = _import(owner, pid, zip_bytes(files), "lane.zip", format="coco", skip_invalid=True)
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert (result["images_added"], result["annotations"], result["skipped_objects"]) == (1, 1, 1)
    assert result["problem_count"] == 1
    images = owner.get(f"/api/projects/{pid}/images").json()["items"]
    added = next(i for i in images if i["file_name"] == "images/new.png" or i["file_name"] == "new.png")
    history = owner.get(f"/api/projects/{pid}/images/{added['id']}/history").json()
    assert [h["action"] for h in history] == ["import"]


def test_annotation_files_import_onto_uploaded_images(world: World) -> None:
    owner = world.user("owner")
    pid = world.project(owner)
    image = world.image(owner, pid, size=(64, 48), name="scene.png")
    url = f"/api/projects/{pid}/images/{image['id']}/annotations"
    assert owner.put(url, json={"annotations": [box(x=3.0)]}, headers=write_headers(0)).status_code == 200
    coco = _coco(
        [{"id": 7, "file_name": "scene.png", "width": 64, "height": 48}],
        [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [1.5, 2.5, 10, 20], "area": 200}],
        ["car"],
    )
    job = _import(owner, pid, coco, "instances.json", format="coco")
    assert job["status"] == "succeeded", job
    assert (job["result"]["images_added"], job["result"]["images_updated"]) == (0, 1)
    current = owner.get(url).json()
    assert current["version"] == 2
    assert [a["box"] for a in current["annotations"]] == [
        {"x_min": 1.5, "y_min": 2.5, "x_max": 11.5, "y_max": 22.5, "rotation": 0.0}
    ]
    history = owner.get(f"/api/projects/{pid}/images/{image['id']}/history").json()
    assert [h["action"] for h in history] == ["import", "save"]  # the replaced set stays restorable
    missing = _coco([{"id": 1, "file_name": "absent.png", "width": 5, "height": 5}], [], ["car"])
    job = _import(owner, pid, missing, "instances.json", format="coco")
    assert job["status"] == "failed" and "no image file" in job["result"]["problems"][0]["reason"]


def _zip_entry(name: str, data: bytes = b"{}", *, symlink: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        info = zipfile.ZipInfo(name)
        if symlink:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, data)
    return out.getvalue()


def test_hostile_archives_are_refused_at_upload_with_4xx(world: World) -> None:
    owner, viewer = world.user("owner"), world.user("viewer")
    pid = world.project(owner, viewer=viewer)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("annotations.json", b"\0" * (30 * 1024**2))
    cases = {
        "slip.zip": (_zip_entry("../../evil.json"), 422),
        "abs.zip": (_zip_entry("/etc/evil.json"), 422),
        "win.zip": (_zip_entry("..\\..\\evil.json"), 422),
        "link.zip": (_zip_entry("annotations.json", b"/etc/passwd", symlink=True), 422),
        "bomb.zip": (bomb.getvalue(), 413),
        "junk.zip": (b"PK\x03\x04 not really a zip", 422),
        "run.exe": (b"MZ", 415),
    }
    uploads = Path(world.services.blobs.root) / "uploads"
    before = set(uploads.rglob("*")) if uploads.exists() else set()
    for name, (data, code) in cases.items():
        r = owner.post(f"/api/projects/{pid}/imports", files=[("file", (name, data, "application/zip"))])
        assert r.status_code == code, (name, r.status_code, r.text)
    r = owner.post(
        f"/api/projects/{pid}/imports",
        files=[("file", ("a.json", b"{}", "application/json"))],
        data={"format": "no-such-format"},
    )
    assert r.status_code == 422
    r = viewer.post(f"/api/projects/{pid}/imports", files=[("file", ("a.json", b"{}", "application/json"))])
    assert r.status_code == 403
    assert owner.get(f"/api/projects/{pid}/jobs").json() == []
    assert (set(uploads.rglob("*")) if uploads.exists() else set()) == before


def test_server_folders_are_confined_to_the_import_roots(world: World, tmp_path: Path) -> None:
    root = tmp_path / "imports"
    data = root / "street"
    write_dataset(build_sample_dataset(), data, "labelme")
    (root / "escape").symlink_to("/etc")
    outside = tmp_path / "outside"
    outside.mkdir()
    services = world.services
    settings = services.settings.model_copy(update={"import_roots": [root]})
    confined = dataclasses.replace(
        services, settings=settings, jobs=make_job_system(settings, services.db, services.blobs)
    )
    owner = world.user("owner")
    client = TestClient(create_app(services=confined), headers=dict(owner.http.headers))
    try:
        _import_confined(world, client, owner, root, data, outside)
    finally:
        confined.jobs.close()


def _import_confined(
    world: World, client: TestClient, owner: Client, root: Path, data: Path, outside: Path
) -> None:
    pid = world.project(owner, ontology={"classes": []})
    url = f"/api/projects/{pid}/imports/folder"
    for path, code in (
        (str(outside), 404),
        ("../outside", 404),
        ("/etc", 404),
        ("escape", 404),  # resolves to /etc
        ("nowhere", 404),
    ):
        r = client.post(url, json={"path": path})
        assert r.status_code == code, (path, r.text)
    (data / "link").symlink_to(outside)
    assert client.post(url, json={"path": "street"}).status_code == 422  # a link out of the roots inside
    (data / "link").unlink()
    r = client.post(url, json={"path": "street", "format": "labelme"})
    assert r.status_code == 202, r.text
    job = wait_job(owner, pid, r.json())
    assert job["status"] == "succeeded", job
    assert job["params"]["folder"] == str(data.resolve()) and job["result"]["images_added"] == 3
    assert owner.post(url, json={"path": "street"}).status_code == 422  # the default app has no roots


def test_export_links_are_personal_and_expire(world: World) -> None:
    owner, viewer, annotator = world.user("owner"), world.user("viewer"), world.user("annotator")
    pid = world.project(owner, viewer=viewer, annotator=annotator)
    world.image(owner, pid)
    export = wait_job(
        viewer, pid, viewer.post(f"/api/projects/{pid}/exports", json={"format": "yolo"}).json()
    )
    assert export["status"] == "succeeded", export
    url = viewer.post(f"/api/projects/{pid}/jobs/{export['id']}/link").json()["url"]
    assert viewer.get(url).status_code == 200
    assert annotator.get(url).status_code == 404  # a link works for the user it was made for
    token = url.rsplit("/", 1)[-1]
    assert viewer.get(url.replace(token, token[:-1] + ("0" if token[-1] != "0" else "1"))).status_code == 404
    secret = world.services.secret
    payload = f"{pid}.{export['id']}.{viewer.user_id}.{int(time.time()) - 1}"
    expired = f"{payload}.{job_service._sign(secret, payload)}"
    assert viewer.get(f"/api/downloads/{expired}").status_code == 410
    assert TestClient(world.backend.app).get(url).status_code == 401
    failed = owner.post(f"/api/projects/{pid}/exports", json={"format": "nope"})
    assert failed.status_code == 422
    # Losing access to the project closes the link too.
    assert owner.delete(f"/api/projects/{pid}/members/{viewer.user_id}").status_code == 204
    assert viewer.get(url).status_code == 404


def test_formats_are_listed(world: World) -> None:
    client = world.user("someone")
    names = [f["name"] for f in client.get("/api/formats").json()]
    assert names == [s.name for s in list_formats()] and "coco" in names


@pytest.fixture(autouse=True)
def _no_leftover_scratch(world: World) -> Any:
    yield
    root = world.services.jobs.runner.scratch_root
    deadline = time.monotonic() + 5
    while root.exists() and any(root.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not root.exists() or not any(root.iterdir()), list(root.iterdir())
