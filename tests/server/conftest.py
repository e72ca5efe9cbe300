"""Server test fixtures: one app per database backend (SQLite, and the real PostgreSQL when reachable).

Each backend gets a fresh database for the test session (a temporary SQLite file; a uniquely named schema
in PostgreSQL's ``test`` database, dropped afterwards). Tests isolate themselves by creating their own
users and projects with unique names, which keeps the suite fast while every test runs on both backends.
"""

from __future__ import annotations

import io
import itertools
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
from fastapi.testclient import TestClient  # noqa: E402

from seglab.api.app import build_services, create_app  # noqa: E402
from seglab.api.deps import Services  # noqa: E402
from seglab.service import auth  # noqa: E402
from seglab.service.access import Actor  # noqa: E402
from seglab.settings import Settings  # noqa: E402

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
FAST_HASH = {"password_time_cost": 1, "password_memory_kib": 1024}
PASSWORD = "correct horse battery"
_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}-{uuid.uuid4().hex[:6]}"


def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it can."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:  # any failure to connect means: skip the PostgreSQL runs, say why
        return f"PostgreSQL at 127.0.0.1:5432/test is unreachable ({type(exc).__name__}: {exc})"


@dataclass
class Backend:
    name: str
    services: Services
    app: Any
    admin: Actor
    cleanup: list[Any] = field(default_factory=list)


def _postgres_url(schema: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    data_dir = tmp_path_factory.mktemp(f"seglab-{request.param}")
    schema = None
    if request.param == "postgresql":
        reason = postgres_unreachable()
        if reason:
            pytest.skip(reason)
        import psycopg

        schema = f"seglab_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        settings = Settings(data_dir=data_dir, database_url=_postgres_url(schema), **FAST_HASH)
    else:
        settings = Settings(data_dir=data_dir, **FAST_HASH)
    services = build_services(settings)
    admin = auth.create_user(
        services.db, services.passwords, actor=None, username="root", password=PASSWORD, is_admin=True
    )
    app = create_app(services=services)
    try:
        yield Backend(request.param, services, app, Actor(admin.id, admin.username, True))
    finally:
        services.jobs.close()
        services.db.dispose()
        if schema is not None:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


class Client:
    """A TestClient acting as one user through a personal API token."""

    def __init__(self, backend: Backend, user_id: int, username: str, token: str) -> None:
        self.backend = backend
        self.user_id = user_id
        self.username = username
        self.http = TestClient(backend.app, headers={"Authorization": f"Bearer {token}"})

    def __getattr__(self, name: str) -> Any:  # get, post, put, patch, delete, request
        return getattr(self.http, name)


@dataclass
class World:
    """Makes users, projects and images on one backend for a test."""

    backend: Backend

    @property
    def services(self) -> Services:
        return self.backend.services

    def user(self, name: str = "user", *, admin: bool = False) -> Client:
        view = auth.create_user(
            self.services.db,
            self.services.passwords,
            actor=self.backend.admin,
            username=unique(name),
            password=PASSWORD,
            is_admin=admin,
        )
        actor = Actor(view.id, view.username, admin)
        token = auth.create_token(self.services.db, actor=actor, name="tests").value
        return Client(self.backend, view.id, view.username, token)

    def cookie_client(self) -> TestClient:
        return TestClient(self.backend.app)

    def project(self, owner: Client, ontology: dict[str, Any] | None = None, **members: Client) -> int:
        """A project owned by ``owner`` with ``members`` given as role=client (e.g. annotator=alice)."""
        body: dict[str, Any] = {"name": unique("project"), "ontology": ontology or ONTOLOGY}
        r = owner.post("/api/projects", json=body)
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        for role, member in members.items():
            role_name = role.rstrip("0123456789")
            r = owner.post(
                f"/api/projects/{pid}/members", json={"user_id": member.user_id, "role": role_name}
            )
            assert r.status_code == 201, r.text
        return pid

    def image(
        self,
        client: Client,
        project_id: int,
        *,
        size: tuple[int, int] = (64, 48),
        name: str | None = None,
        fmt: str = "PNG",
    ) -> dict[str, Any]:
        data = image_bytes(size, fmt=fmt, seed=next(_counter))
        name = name or unique("img") + (".png" if fmt == "PNG" else ".jpg")
        r = client.post(f"/api/projects/{project_id}/images", files=[("files", (name, data, "image/png"))])
        assert r.status_code == 201, r.text
        return r.json()[0]


@pytest.fixture
def world(backend: Backend) -> World:
    return World(backend)


def image_bytes(
    size: tuple[int, int], *, fmt: str = "PNG", seed: int = 0, exif: bytes | None = None
) -> bytes:
    """A small image with distinct content per seed, ``size`` = (width, height)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)  # (H, W, 3)
    out = io.BytesIO()
    kwargs: dict[str, Any] = {"exif": exif} if exif is not None else {}
    Image.fromarray(pixels).save(out, format=fmt, **kwargs)
    return out.getvalue()


ONTOLOGY: dict[str, Any] = {
    "classes": [
        {
            "name": "car",
            "color": [200, 0, 0],
            "kind": "thing",
            "shapes": ["box", "polygon", "mask"],
            "attributes": [
                {"name": "occluded", "type": "bool"},
                {"name": "colour", "type": "choice", "choices": ["red", "blue"]},
            ],
        },
        {"name": "road", "color": [128, 64, 128], "kind": "stuff", "shapes": ["polygon", "mask"]},
        {"name": "lane", "color": [255, 255, 0], "shapes": ["polyline"]},
        {
            "name": "person",
            "color": [0, 0, 200],
            "shapes": ["box", "keypoints"],
            "skeleton": {"points": ["head", "left_hand", "right_hand"], "edges": [[0, 1], [0, 2]]},
        },
    ]
}


def box(label: str = "car", x: float = 1.5, **extra: Any) -> dict[str, Any]:
    return {
        "label": label,
        "kind": "box",
        "box": {"x_min": x, "y_min": 2.25, "x_max": x + 10.125, "y_max": 20.0},
        **extra,
    }


def write_headers(version: int | str) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


TERMINAL = ("succeeded", "failed", "cancelled")


def wait_job(
    client: Client, project_id: int, job: dict[str, Any] | int, timeout: float = 30.0
) -> dict[str, Any]:
    """Poll a job until it has ended; returns its last state."""
    import time

    job_id = job if isinstance(job, int) else job["id"]
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/api/projects/{project_id}/jobs/{job_id}")
        assert r.status_code == 200, r.text
        state = r.json()
        if state["status"] in TERMINAL:
            return state
        assert time.monotonic() < deadline, f"job {job_id} still {state['status']} after {timeout} s: {state}"
        time.sleep(0.05)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A zip archive holding ``files`` (name -> content)."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()
