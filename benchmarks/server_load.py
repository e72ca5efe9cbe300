"""Server load: simulated annotators editing and saving at once, and very large images, on SQLite and on
PostgreSQL. Not a test.

For each backend a real ``seglab serve`` process is started on 127.0.0.1 with a temporary data directory
(PostgreSQL: a fresh schema in the ``test`` database at 127.0.0.1:5432, dropped afterwards). Then:

- ``--annotators`` clients (async httpx, one connection each) each own an image holding 200 polygons of
  ``--vertices`` vertices. For ``--seconds`` each one loops: edit for ``--think`` seconds (jittered +-50%),
  move a vertex of one polygon, save the whole set (PUT with If-Match; the server stores the difference);
  the editor reloads (GET) every fifth save. ``--think 0`` measures saturation: every client saving back
  to back, so latency there is mostly queueing. Latencies are measured per request, bodies encoded
  before the clock starts so the client's JSON work is not counted. At the end the
  server's version of each image is compared with the saves the client had acknowledged: ``lost`` must
  be 0 (a save acknowledged but missing), and so must ``refused`` (a 409/412/5xx, which cannot happen
  here: each annotator edits only its own image).
- One image with 1,000 and one with 10,000 polygons of 50 vertices: the first save (every object new),
  an edit save (one vertex moved; the whole set sent, the difference stored), a load, and a load right
  after a per-object edit (PATCH), which the server's cache of encoded images does not hold yet, so it
  is served from the database; the median of ``--repeat`` runs.

    python benchmarks/server_load.py --seconds 20 --annotators 20

prints markdown tables: wall-clock latencies as the clients saw them, and the CPU the server process
spent per request (read from /proc), which does not depend on what else the machine runs (PostgreSQL's
own processes are not counted). Targets (issue 4): p95 save <= 50 ms with 20 annotators on SQLite; an
image of 1,000 polygons loads and saves in <= 100 ms each.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
from PIL import Image

PASSWORD = "benchmark password"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
WIDTH, HEIGHT = 1024, 768


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _postgres_schema() -> Iterator[str]:
    import psycopg

    schema = f"seglab_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@dataclass
class Server:
    url: str
    pid: int

    def cpu(self) -> float:
        """CPU seconds the server process has used (all its threads; Linux /proc), NaN elsewhere."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _server(database_url: str | None) -> Iterator[Server]:
    """A ``seglab serve`` process."""
    with tempfile.TemporaryDirectory(prefix="seglab-bench-") as tmp:
        port = _free_port()
        env = {
            **os.environ,
            "SEGLAB_ADMIN_PASSWORD": PASSWORD,
            "SEGLAB_PASSWORD_TIME_COST": "1",
            "SEGLAB_PASSWORD_MEMORY_KIB": "1024",
        }
        if database_url:
            env["SEGLAB_DATABASE_URL"] = database_url
        log = Path(tmp) / "server.log"
        cmd = [sys.executable, "-m", "seglab.cli.serve_cmd", "--data-dir", f"{tmp}/data", "--port", str(port)]
        process = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited:\n{log.read_text()}")
                try:
                    if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start:\n{log.read_text()}")
                time.sleep(0.1)
            yield Server(url, process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def _token(url: str) -> str:
    with httpx.Client(base_url=url, timeout=30) as http:
        session = http.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}).json()
        r = http.post("/api/tokens", json={"name": "bench"}, headers={"X-CSRF-Token": session["csrf_token"]})
        return str(r.json()["value"])


def _png(seed: int) -> bytes:
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    pixels = np.stack([(x + seed) % 256, (y * 3) % 256, np.full_like(x, seed % 256)], axis=2).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _polygons(n: int, vertices: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``n`` star-free convex-ish polygons (points on a circle with jittered radius) inside the image."""
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    out = []
    for _ in range(n):
        cx, cy = rng.uniform(60, WIDTH - 60), rng.uniform(60, HEIGHT - 60)
        radius = rng.uniform(10, 50) * rng.uniform(0.8, 1.0, vertices)
        ring = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1).round(2)
        out.append(
            {"label": "region", "kind": "polygon", "polygon": {"parts": [{"exterior": ring.tolist()}]}}
        )
    return out


def _setup(http: httpx.Client, images: int) -> tuple[int, list[int]]:
    ontology = {"classes": [{"name": "region", "color": [0, 128, 255], "shapes": ["polygon"]}]}
    pid = http.post(
        "/api/projects", json={"name": f"bench-{uuid.uuid4().hex[:6]}", "ontology": ontology}
    ).json()["id"]
    ids = []
    for i in range(images):
        r = http.post(
            f"/api/projects/{pid}/images", files=[("files", (f"img_{i:04d}.png", _png(i), "image/png"))]
        )
        r.raise_for_status()
        ids.append(r.json()[0]["id"])
    return pid, ids


def _save(
    http: httpx.Client, pid: int, iid: int, objects: list[dict[str, Any]], version: int
) -> dict[str, Any]:
    r = http.put(
        f"/api/projects/{pid}/images/{iid}/annotations",
        content=json.dumps({"annotations": objects}),
        headers={"If-Match": f'"{version}"', "Content-Type": "application/json"},
    )
    r.raise_for_status()
    return r.json()


@dataclass
class Annotator:
    image_id: int
    version: int
    acked: int = 0
    refused: list[str] = field(default_factory=list)


@dataclass
class LoadResult:
    backend: str
    annotators: int
    seconds: float
    think: float
    saves: list[float]
    loads: list[float]
    acked: int
    lost: int
    refused: int
    server_cpu: float = float("nan")  # CPU seconds of the server process during the phase


async def _annotate(
    url: str, token: str, pid: int, who: Annotator, stop: float, think: float, out: LoadResult
) -> None:
    """Load the image, then edit and save until ``stop``: ``think`` seconds of editing (jittered) before
    each save; the save's response is the new state, so the editor reloads only every fifth save."""
    rng = np.random.default_rng(who.image_id)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/api/projects/{pid}/images/{who.image_id}/annotations"
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        current: dict[str, Any] = {}
        cycle = 0
        while time.perf_counter() < stop:
            if cycle % 5 == 0:
                start = time.perf_counter()
                r = await http.get(base)
                out.loads.append(time.perf_counter() - start)
                current = orjson.loads(r.content)
            cycle += 1
            if think > 0:
                await asyncio.sleep(think * float(rng.uniform(0.5, 1.5)))
            objects = current["annotations"]
            k = int(rng.integers(len(objects)))
            ring = objects[k]["polygon"]["parts"][0]["exterior"]
            v = int(rng.integers(len(ring)))
            ring[v] = [min(max(ring[v][0] + float(rng.normal(0, 1)), 0.0), WIDTH), ring[v][1]]
            body = orjson.dumps({"annotations": objects})  # orjson: the clients share one event loop
            start = time.perf_counter()
            r = await http.put(
                base,
                content=body,
                headers={"If-Match": f'"{current["version"]}"', "Content-Type": "application/json"},
            )
            elapsed = time.perf_counter() - start
            if r.status_code != 200:
                who.refused.append(f"{r.status_code} {r.text[:200]}")
                cycle = 0  # reload before the next edit
                continue
            out.saves.append(elapsed)
            who.acked += 1
            current = orjson.loads(r.content)


def run_load(
    backend: str, server: Server, annotators: int, seconds: float, vertices: int, think: float
) -> LoadResult:
    url = server.url
    token = _token(url)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        pid, ids = _setup(http, annotators)
        people = []
        for i, iid in enumerate(ids):
            saved = _save(http, pid, iid, _polygons(200, vertices, np.random.default_rng(i)), 0)
            people.append(Annotator(iid, saved["version"]))
    result = LoadResult(backend, annotators, seconds, think, [], [], 0, 0, 0)

    async def main() -> None:
        stop = time.perf_counter() + seconds
        await asyncio.gather(*(_annotate(url, token, pid, who, stop, think, result) for who in people))

    cpu = server.cpu()
    asyncio.run(main())
    result.server_cpu = server.cpu() - cpu
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        for who in people:
            version = http.get(f"/api/projects/{pid}/images/{who.image_id}/annotations").json()["version"]
            stored = version - who.version  # saves the server holds beyond the first one
            result.lost += max(who.acked - stored, 0)
    result.acked = sum(p.acked for p in people)
    result.refused = sum(len(p.refused) for p in people)
    return result


@dataclass
class BigResult:
    polygons: int
    payload: int
    wall: dict[str, float]  # median seconds per operation (BIG_OPS)
    cpu: dict[str, float]  # median server CPU seconds per operation


BIG_OPS = ("first", "edit", "load", "cold")


def run_big(server: Server, counts: list[int], repeat: int) -> list[BigResult]:
    token = _token(server.url)
    rows = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=600) as http:
        pid, ids = _setup(http, len(counts) * repeat)

        def timed(op: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
            cpu, start = server.cpu(), time.perf_counter()
            r = http.request(method, url, **kwargs)
            wall[op].append(time.perf_counter() - start)
            used[op].append(server.cpu() - cpu)
            r.raise_for_status()
            return r

        for n_index, n in enumerate(counts):
            wall: dict[str, list[float]] = {op: [] for op in BIG_OPS}
            used: dict[str, list[float]] = {op: [] for op in BIG_OPS}
            payload = 0
            for r in range(repeat):
                url = f"/api/projects/{pid}/images/{ids[n_index * repeat + r]}/annotations"
                body = json.dumps({"annotations": _polygons(n, 50, np.random.default_rng(n + r))})
                payload = len(body)
                json_headers = {"Content-Type": "application/json"}
                timed("first", "PUT", url, content=body, headers={"If-Match": '"0"', **json_headers})
                doc = timed("load", "GET", url).json()
                doc["annotations"][0]["polygon"]["parts"][0]["exterior"][0][0] += 0.5
                body = json.dumps({"annotations": doc["annotations"]})
                edited = timed(
                    "edit",
                    "PUT",
                    url,
                    content=body,
                    headers={"If-Match": f'"{doc["version"]}"', **json_headers},
                ).json()
                http.patch(
                    f"{url}/{edited['annotations'][-1]['id']}",
                    json={"z_order": 1},
                    headers={"If-Match": f'"{edited["version"]}"'},
                ).raise_for_status()
                timed("cold", "GET", url)
            rows.append(
                BigResult(
                    n,
                    payload,
                    {k: statistics.median(v) for k, v in wall.items()},
                    {k: statistics.median(v) for k, v in used.items()},
                )
            )
    return rows


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="load phase per backend")
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--vertices", type=int, default=20, help="vertices per polygon in the load phase")
    parser.add_argument(
        "--think",
        default="1,0",
        help="seconds each annotator edits before a save, one load phase per value (0: saturation)",
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--big", default="1000,10000", help="polygon counts of the big-image runs")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    loads: list[LoadResult] = []
    bigs: dict[str, list[BigResult]] = {}
    for backend in args.backends.split(","):
        context = _postgres_schema() if backend == "postgresql" else _nothing()
        with context as database_url, _server(database_url) as server:
            print(f"{backend}: {args.annotators} annotators for {args.seconds:g} s ...", file=sys.stderr)
            for think in (float(t) for t in args.think.split(",")):
                loads.append(run_load(backend, server, args.annotators, args.seconds, args.vertices, think))
            if args.big:
                print(f"{backend}: big images ...", file=sys.stderr)
                bigs[backend] = run_big(server, [int(n) for n in args.big.split(",")], args.repeat)

    load_avg = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\nMachine: {os.cpu_count()} CPUs, load average {load_avg} at the end (1, 5, 15 min).")
    title = f"{args.annotators} annotators, 200 polygons of {args.vertices} vertices each, {args.seconds:g} s"
    print(f"\n### {title}\n")
    print(
        "| backend | think s | saves/s | save p50 ms | save p95 ms | save p99 ms | load p50 ms | load p95 ms "
        "| server CPU ms/request | acked saves | lost | refused |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in loads:
        save = " | ".join(f"{_pct(r.saves, q):.1f}" for q in (50, 95, 99))
        load = " | ".join(f"{_pct(r.loads, q):.1f}" for q in (50, 95))
        rate = len(r.saves) / r.seconds
        per_request = 1000 * r.server_cpu / max(len(r.saves) + len(r.loads), 1)
        print(
            f"| {r.backend} | {r.think:g} | {rate:.1f} | {save} | {load} | {per_request:.1f} | {r.acked} "
            f"| {r.lost} | {r.refused} |"
        )
    if bigs:
        print(f"\n### One image, polygons of 50 vertices (median of {args.repeat}; wall / server CPU, ms)\n")
        print("| backend | polygons | payload MB | first save | edit save | load | load after a PATCH |")
        print("|---|---|---|---|---|---|---|")
        for backend, rows in bigs.items():
            for b in rows:
                cells = " | ".join(f"{b.wall[k] * 1000:.0f} / {b.cpu[k] * 1000:.0f}" for k in BIG_OPS)
                print(f"| {backend} | {b.polygons:,} | {b.payload / 1e6:.1f} | {cells} |")


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    main()
