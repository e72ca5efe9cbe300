"""A real seglab server on loopback for browser tests and benchmarks: uvicorn in a thread, a temporary data
directory, an administrator with a known password, and an API client acting as that administrator."""

from __future__ import annotations

import io
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from PIL import Image

from seglab.api.app import build_services, create_app
from seglab.api.deps import Services
from seglab.service import auth, bootstrap
from seglab.service.access import Actor
from seglab.settings import Settings

ADMIN = "admin"
ADMIN_PASSWORD = "admin password 123"
FAST_HASH = {"password_time_cost": 1, "password_memory_kib": 1024}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """Debian's Chromium (never a browser download), or None when it is not installed."""
    return shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    services: Services
    api: httpx.Client
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.api.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.services.db.dispose()

    # ------------------------------------------------------------------------------ setup through the API

    def project(self, name: str, ontology: dict[str, Any] | None = None) -> int:
        r = self.api.post("/api/projects", json={"name": name, "ontology": ontology or {"classes": []}})
        r.raise_for_status()
        return int(r.json()["id"])

    def upload(self, project_id: int, files: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
        r = self.api.post(
            f"/api/projects/{project_id}/images",
            files=[("files", (name, data, "image/png")) for name, data in files],
        )
        r.raise_for_status()
        return list(r.json())

    def annotations(self, project_id: int, image_id: int) -> dict[str, Any]:
        r = self.api.get(f"/api/projects/{project_id}/images/{image_id}/annotations")
        r.raise_for_status()
        return dict(r.json())

    def save(self, project_id: int, image_id: int, objects: list[dict[str, Any]]) -> dict[str, Any]:
        version = self.annotations(project_id, image_id)["version"]
        r = self.api.put(
            f"/api/projects/{project_id}/images/{image_id}/annotations",
            json={"annotations": objects},
            headers={"If-Match": f'"{version}"'},
        )
        r.raise_for_status()
        return dict(r.json())

    def image(self, project_id: int, image_id: int) -> dict[str, Any]:
        r = self.api.get(f"/api/projects/{project_id}/images/{image_id}")
        r.raise_for_status()
        return dict(r.json())


def start_server(data_dir: Path) -> LiveServer:
    """Start seglab on a free loopback port and wait until it answers."""
    port = free_port()
    settings = Settings(data_dir=data_dir, host="127.0.0.1", port=port, **FAST_HASH)
    services = build_services(settings)
    bootstrap.ensure_admin(services.db, services.passwords, username=ADMIN, password=ADMIN_PASSWORD)
    admin = bootstrap.admin_actor(services.db, ADMIN)
    token = auth.create_token(
        services.db, actor=Actor(admin.user_id, admin.username, True), name="tests"
    ).value
    config = uvicorn.Config(
        create_app(services=services), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="seglab-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the seglab server did not start")
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    return LiveServer(url, services, api, server, thread)


def png(width: int, height: int, seed: int = 0) -> bytes:
    """A PNG with smooth, distinct content per seed (gradients and a few discs), so screenshots read well."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)  # (H, W) each
    base = rng.uniform(40, 120, 3)
    img = np.stack([base[c] + 60 * np.sin(xx / (37 + 11 * c) + yy / (53 + 7 * c)) for c in range(3)], axis=-1)
    for _ in range(6):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.05, 0.2) * min(width, height)
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r  # (H, W)
        img[inside] = rng.uniform(60, 230, 3)
    out = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()
