"""Browsing the import folders: only what lies inside the admin's roots is listed (links out are left out),
managers only, and nothing is offered when the server has no roots."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fastapi.testclient import TestClient

from seglab.api.app import create_app
from tests.server.conftest import World


def test_folders_inside_the_roots_for_managers_only(world: World, tmp_path: Path) -> None:
    root = tmp_path / "imports"
    (root / "street" / "images").mkdir(parents=True)
    (root / "street" / "a.json").write_text("{}")
    (root / "b-set").mkdir()
    (root / ".hidden").mkdir()
    (root / "escape").symlink_to("/etc")
    (root / "inside-link").symlink_to(root / "b-set")
    settings = world.services.settings.model_copy(update={"import_roots": [root]})
    confined = dataclasses.replace(world.services, settings=settings)
    owner, annotator = world.user("owner"), world.user("annotator")
    pid = world.project(owner, annotator=annotator)
    client = TestClient(create_app(services=confined), headers=dict(owner.http.headers))
    url = f"/api/projects/{pid}/import-folders"

    roots = client.get(url).json()
    assert roots["path"] is None and [f["path"] for f in roots["folders"]] == [str(root.resolve())]
    listing = client.get(url, params={"path": str(root)}).json()
    assert [f["name"] for f in listing["folders"]] == ["b-set", "inside-link", "street"]  # no /etc, no dot
    assert listing["parent"] is None and listing["file_count"] == 0
    street = client.get(url, params={"path": str(root / "street")}).json()
    assert [f["name"] for f in street["folders"]] == ["images"] and street["file_count"] == 1
    assert street["parent"] == str(root.resolve())
    for outside in ("/etc", str(root / "escape"), str(root / "nowhere"), str(root / ".." / "..")):
        assert client.get(url, params={"path": outside}).status_code == 404, outside

    as_annotator = TestClient(create_app(services=confined), headers=dict(annotator.http.headers))
    assert as_annotator.get(url).status_code == 403
    assert owner.get(url).status_code == 422  # the default app has no import roots
