"""Client test fixtures: one real seglab server on loopback (uvicorn in a thread, as the browser tests
use) for the whole session, and its administrator's API token."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from seglab.client import Client
from tests.web.live import LiveServer, png, start_server


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("seglab-client") / "data")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def token(live: LiveServer) -> str:
    return str(live.api.headers["Authorization"]).split(" ", 1)[1]


@pytest.fixture
def client(live: LiveServer, token: str) -> Iterator[Client]:
    with Client(live.url, token=token) as c:
        yield c


ONTOLOGY = {
    "classes": [
        {"name": "car", "color": [200, 0, 0], "shapes": ["box", "polygon"]},
        {"name": "road", "color": [128, 64, 128], "kind": "stuff", "shapes": ["polygon", "mask"]},
    ]
}


_seeds = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def image_files(folder: Path, count: int, size: tuple[int, int] = (64, 48)) -> list[Path]:
    """``count`` distinct PNG files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"img_{i:02d}_{uuid.uuid4().hex[:4]}.png"
        path.write_bytes(png(*size, seed=next(_seeds)))
        paths.append(path)
    return paths
