"""seglab.client against a live server: credentials, projects, images, versioned annotations with
conflicts that carry the server's copy, and import/export jobs followed to the end."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from seglab.client import (
    AuthError,
    Client,
    ClientError,
    ConflictError,
    InvalidError,
    Job,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
)
from seglab.demo import build_sample_dataset
from seglab.formats.registry import read_dataset, write_dataset
from tests.client.conftest import ONTOLOGY, image_files, unique
from tests.web.live import ADMIN, ADMIN_PASSWORD, LiveServer, png

BAD_COCO = {
    "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
    "categories": [{"id": 1, "name": "car"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10], "area": 100, "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 7, "bbox": [1, 1, 4, 4], "area": 16, "iscrowd": 0},
    ],
}


def _box(x: float, label: str = "car") -> dict[str, Any]:
    return {
        "label": label,
        "kind": "box",
        "box": {"x_min": x, "y_min": 2.5, "x_max": x + 10.25, "y_max": 20.0},
    }


def _project(client: Client) -> int:
    return int(client.create_project(unique("client"), ontology=ONTOLOGY)["id"])


def test_the_token_comes_from_the_environment_and_bad_credentials_are_clear(
    live: LiveServer, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGLAB_TOKEN", token)
    with Client(live.url) as client:
        assert client.me()["user"]["username"] == ADMIN
    monkeypatch.delenv("SEGLAB_TOKEN")
    with pytest.raises(AuthError, match="SEGLAB_TOKEN"):
        Client(live.url)
    with Client(live.url, token="not-a-token") as client, pytest.raises(AuthError) as info:
        client.projects()
    assert info.value.status == 401
    with pytest.raises(ClientError, match="http://host:port"):
        Client("127.0.0.1:8000", token=token)


def test_password_login_sends_the_csrf_token_with_writes(live: LiveServer) -> None:
    with Client.login(live.url, ADMIN, ADMIN_PASSWORD) as client:
        project = client.create_project(unique("login"))  # a cookie write: refused without CSRF
        assert client.project(project["name"])["id"] == project["id"]
        new_token = client.create_token(unique("script"))
    with Client(live.url, token=new_token) as scripted:
        assert scripted.project(project["id"])["name"] == project["name"]
    with pytest.raises(AuthError) as info:
        Client.login(live.url, ADMIN, "wrong password")
    assert info.value.status == 401


def test_projects_are_found_by_name_and_unknown_ones_are_a_clear_error(client: Client) -> None:
    name = unique("named")
    created = client.create_project(name, ontology=ONTOLOGY, description="for the client tests")
    assert any(p["id"] == created["id"] for p in client.projects())
    assert client.project(name)["id"] == created["id"]
    with pytest.raises(NotFoundError, match="no project named"):
        client.project(unique("missing"))
    with pytest.raises(NotFoundError):
        client.project(10**9)
    with pytest.raises(ClientError) as info:
        client.create_project(name)  # the name is taken
    assert info.value.status == 409


def test_images_upload_in_batches_and_list_page_by_page(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = _project(client)
    monkeypatch.setattr("seglab.client.api.UPLOAD_BATCH_FILES", 2)  # 5 files: three requests
    paths = image_files(tmp_path, 5)
    stored = client.upload_images(pid, paths)
    assert [s["file_name"] for s in stored] == [p.name for p in paths]
    listed = list(client.images(pid, page_size=2))
    assert [i["id"] for i in listed] == sorted(s["id"] for s in stored)
    assert all(i["width"] == 64 and i["height"] == 48 for i in listed)

    fake = tmp_path / "not_an_image.png"
    fake.write_text("hello")
    with pytest.raises(ClientError, match=r"not_an_image\.png") as info:
        client.upload_images(pid, [fake])
    assert info.value.status in (415, 422)
    with pytest.raises(ClientError, match="no such file"):
        client.upload_images(pid, [tmp_path / "missing.png"])


def test_annotations_round_trip_with_versions_and_a_conflict_carries_the_server_copy(
    client: Client, live: LiveServer, token: str, tmp_path: Path
) -> None:
    pid = _project(client)
    image_id = client.upload_images(pid, image_files(tmp_path, 1))[0]["id"]
    empty = client.get_annotations(pid, image_id)
    assert (empty.version, empty.annotations) == (0, [])

    first = client.save_annotations(pid, image_id, [_box(1.5), _box(20.125)], version=0)
    assert first.version == 1
    assert [a["box"]["x_min"] for a in first.annotations] == [1.5, 20.125]
    assert client.get_annotations(pid, image_id) == first

    with Client(live.url, token=token) as other, pytest.raises(ConflictError) as info:
        other.save_annotations(pid, image_id, [_box(40.0)], version=0)  # edited the old copy
    conflict = info.value
    assert conflict.status == 412 and conflict.expected_version == 0
    assert conflict.current is not None
    assert conflict.current.version == 1 and conflict.current.annotations == first.annotations
    assert client.get_annotations(pid, image_id) == first  # nothing was overwritten

    merged = [*conflict.current.annotations, _box(40.0)]
    second = client.save_annotations(pid, image_id, merged, version=conflict.current.version)
    assert second.version == 2 and len(second.annotations) == 3

    with pytest.raises(InvalidError) as bad:
        client.save_annotations(pid, image_id, [_box(1.0, label="boat")], version=2)
    assert any("boat" in str(p) for p in bad.value.problems)
    with pytest.raises(NotFoundError):
        client.get_annotations(pid, 10**9)


def _coco_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "coco"
    write_dataset(build_sample_dataset(), folder, "coco")
    return folder


def test_import_a_folder_follow_its_progress_then_export_and_download(client: Client, tmp_path: Path) -> None:
    pid = int(client.create_project(unique("import"))["id"])  # no ontology: the import brings its classes
    folder = _coco_folder(tmp_path)
    sample, _ = read_dataset(folder, "coco")  # what COCO holds of the sample (it has no polylines)
    states: list[Job] = []
    job = client.start_import(pid, folder, format="coco")
    assert job.kind == "import" and job.project_id == pid
    done = client.wait(job, timeout=120, poll=0.1, progress=states.append)
    assert done.status == "succeeded" and states[-1] == done
    assert [s.progress for s in states] == sorted(s.progress for s in states)
    assert done.result is not None
    assert done.result["images_added"] == len(sample.images)
    assert done.result["annotations"] == sum(len(i.annotations) for i in sample.images)
    assert len(list(client.images(pid))) == len(sample.images)

    export = client.wait(client.start_export(pid, "coco"), timeout=120, poll=0.1)
    archive = client.download_export(pid, export, tmp_path / "out" / "export.zip")
    assert archive == tmp_path / "out" / "export.zip"
    assert [p.name for p in archive.parent.iterdir()] == ["export.zip"]  # no partial file left
    with zipfile.ZipFile(archive) as z:
        assert z.testzip() is None
    exported, _ = read_dataset(archive, "coco")
    assert sorted(len(i.annotations) for i in exported.images) == sorted(
        len(i.annotations) for i in sample.images
    )


def test_a_refused_import_raises_with_every_problem_and_skip_invalid_imports_the_rest(
    client: Client, tmp_path: Path
) -> None:
    pid = _project(client)
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("annotations/instances.json", json.dumps(BAD_COCO))
        z.writestr("images/a.png", png(64, 48, seed=3))
    with pytest.raises(JobFailedError) as info:
        client.wait(client.start_import(pid, archive, format="coco"), timeout=120, poll=0.1)
    assert info.value.job.status == "failed"
    assert info.value.problems, "the failed import reports its problems"
    assert list(client.images(pid)) == []  # all or nothing

    done = client.wait(client.start_import(pid, archive, format="coco", skip_invalid=True), timeout=120)
    assert done.result is not None and done.result["annotations"] == 1
    assert len(list(client.images(pid))) == 1


def test_waiting_gives_up_after_the_timeout_and_transport_errors_are_client_errors(
    client: Client, token: str
) -> None:
    queued = Job.from_json({"id": 1, "project_id": 1, "kind": "export", "status": "running", "progress": 0.5})

    def stuck(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={**queued.raw})

    stuck_server = Client("http://seglab.invalid", token=token, transport=httpx.MockTransport(stuck))
    with stuck_server, pytest.raises(JobTimeoutError, match="still running"):
        stuck_server.wait(queued, timeout=0.3, poll=0.05)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    unreachable = Client("http://seglab.invalid", token=token, transport=httpx.MockTransport(down))
    with unreachable, pytest.raises(ClientError, match=r"cannot reach http://seglab\.invalid") as info:
        unreachable.projects()
    assert info.value.status is None
