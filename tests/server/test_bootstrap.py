"""First start: the administrator account and the demo project."""

from __future__ import annotations

from pathlib import Path

from seglab.api.app import build_services
from seglab.service import annotations, auth, bootstrap, images, projects
from seglab.settings import Settings


def test_first_start_creates_one_admin_and_a_demo_with_every_shape(tmp_path: Path) -> None:
    services = build_services(Settings(data_dir=tmp_path, password_time_cost=1, password_memory_kib=1024))
    try:
        account = bootstrap.ensure_admin(services.db, services.passwords, username="admin", password=None)
        assert account is not None and account.password and len(account.password) >= 12
        assert (
            bootstrap.ensure_admin(services.db, services.passwords, username="admin", password="x" * 9)
            is None
        )
        value, actor = auth.login(
            services.db, services.passwords, username="admin", password=account.password, hours=1
        )
        assert actor.is_admin and value
        assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
        project = bootstrap.create_demo_project(services.db, services.blobs, actor=actor)
        assert project is not None
        assert bootstrap.create_demo_project(services.db, services.blobs, actor=actor) is None
        ontology = projects.get_ontology(services.db, actor=actor, project_id=project.id).ontology
        assert {c.kind.value for c in ontology.classes} == {"thing", "stuff"}
        page = images.list_images(services.db, actor=actor, project_id=project.id)
        assert page.total >= 3
        kinds = set()
        for image in page.items:
            got = annotations.get_annotations(
                services.db, actor=actor, project_id=project.id, image_id=image.id
            )
            kinds |= {a.kind.value for a in got.annotations}
            assert got.version == 1
        assert kinds == {"box", "polygon", "polyline", "keypoints", "mask"}
    finally:
        services.db.dispose()


def test_the_secret_key_is_made_once_and_reused(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).resolved().secret_key
    second = Settings(data_dir=tmp_path).resolved().secret_key
    assert first is not None and second is not None
    assert first.get_secret_value() == second.get_secret_value() and len(first.get_secret_value()) >= 40
