"""Crash safety: ``kill -9`` the server in the middle of a loop of saves, restart it, and find every
acknowledged save in the history and a database that passes SQLite's integrity check."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "crash test password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(data_dir: Path, port: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SEGLAB_ADMIN_PASSWORD": PASSWORD,
        "SEGLAB_PASSWORD_TIME_COST": "1",
        "SEGLAB_PASSWORD_MEMORY_KIB": "1024",
    }
    cmd = [
        sys.executable,
        "-m",
        "seglab.cli.serve_cmd",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        *extra,
    ]
    return subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server did not answer in 30 s:\n{log.read_text()}")


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def _boxes(n: int) -> list[dict[str, Any]]:
    return [
        {
            "label": "sign",
            "kind": "box",
            "box": {"x_min": 1.0 + k, "y_min": 2.0 + n % 50, "x_max": 40.0 + k, "y_max": 90.0 + n / 7},
        }
        for k in range(5)
    ]


def test_kill_9_during_saves_loses_no_acknowledged_save(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start(data_dir, port, log, "--demo")
    try:
        _wait_healthy(url, server, log)
        output = log.read_text()
        assert url in output and "SEGLAB_ADMIN_PASSWORD" in output and "Demo project" in output
        with httpx.Client(base_url=url, timeout=10) as http:
            session = http.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}).json()
            token = http.post(
                "/api/tokens", json={"name": "crash"}, headers={"X-CSRF-Token": session["csrf_token"]}
            ).json()["value"]
        auth = {"Authorization": f"Bearer {token}"}
        client = httpx.Client(base_url=url, headers=auth, timeout=10)
        project = client.get("/api/projects").json()[0]
        image = client.get(f"/api/projects/{project['id']}/images").json()["items"][0]
        ann_url = f"/api/projects/{project['id']}/images/{image['id']}/annotations"
        version = client.get(ann_url).json()["version"]

        acked: list[tuple[int, list[dict[str, Any]]]] = []
        refused: list[str] = []
        stop = threading.Event()

        def save_loop() -> None:
            nonlocal version
            n = 0
            while not stop.is_set():
                boxes = _boxes(n)
                try:
                    r = client.put(ann_url, json={"annotations": boxes}, headers={"If-Match": f'"{version}"'})
                except httpx.TransportError:
                    return  # the server died under us
                if r.status_code != 200:
                    refused.append(r.text)
                    return
                version = r.json()["version"]
                acked.append((version, boxes))
                n += 1

        saver = threading.Thread(target=save_loop)
        saver.start()
        deadline = time.monotonic() + 10
        while len(acked) < 25 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(server.pid, signal.SIGKILL)  # mid-loop: a save is usually in flight
        server.wait(10)
        stop.set()
        saver.join(10)
        client.close()
        assert refused == [] and len(acked) >= 10, (refused, log.read_text())
        db = data_dir / "seglab.db"
        assert _integrity(db) == "ok"

        server = _start(data_dir, port, log)
        _wait_healthy(url, server, log)
        with httpx.Client(base_url=url, headers=auth, timeout=10) as after:
            current = after.get(ann_url).json()
            last_acked = acked[-1][0]
            assert current["version"] in (last_acked, last_acked + 1)  # + the in-flight save, if it committed
            history = f"/api/projects/{project['id']}/images/{image['id']}/history"
            for saved_version, boxes in acked:
                state = after.get(f"{history}/{saved_version}").json()
                assert [a["box"] for a in state["annotations"]] == [
                    {**b["box"], "rotation": 0.0} for b in boxes
                ]
        assert _integrity(db) == "ok"
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
