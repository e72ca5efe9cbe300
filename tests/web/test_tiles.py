"""A large image opens from the server's tile pyramid: the full file is never downloaded, the tiles in
view arrive at the zoom's level, and the canvas shows the image's own colours where they should be."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from tests.web.conftest import shot, unique
from tests.web.helpers import ONTOLOGY, EditorDriver
from tests.web.live import LiveServer

WIDTH, HEIGHT = 9000, 2800  # 25 MP and wider than 8192 px: shown from tiles


def _large_jpeg() -> tuple[bytes, np.ndarray]:
    """Three vertical bands (red, green, blue) with a horizontal brightness ramp inside each."""
    x = np.arange(WIDTH)
    band = x * 3 // WIDTH
    ramp = (60 + 120 * (x % (WIDTH // 3)) / (WIDTH // 3)).astype(np.uint8)
    row = np.zeros((WIDTH, 3), dtype=np.uint8)
    row[np.arange(WIDTH), band] = ramp
    row[:, :] += 30
    pixels = np.broadcast_to(row, (HEIGHT, WIDTH, 3))
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(out, format="JPEG", quality=92)
    return out.getvalue(), row


def _canvas_rgb(page: Any, ed: EditorDriver, x: float, y: float) -> list[int]:
    return list(
        page.evaluate(
            """([x, y]) => {
              const canvas = document.querySelector('[data-testid=canvas]');
              const [sx, sy] = window.__seglab.editor.viewport.toScreen(x, y);
              const dpr = window.devicePixelRatio || 1;
              const ctx = canvas.getContext('2d');
              const px = ctx.getImageData(Math.round(sx * dpr), Math.round(sy * dpr), 1, 1);
              return [...px.data].slice(0, 3);
            }""",
            [x, y],
        )
    )


def test_a_large_image_is_shown_from_tiles_without_its_full_file(page: Any, live: LiveServer) -> None:
    pid = live.project(unique("tiles"), ONTOLOGY)
    data, row = _large_jpeg()
    iid = int(live.upload(pid, [("large.jpg", data)])[0]["id"])
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))

    ed = EditorDriver(page)
    page.goto(f"/projects/{pid}/images/{iid}")
    page.wait_for_selector("[data-testid=canvas][data-ready='1']", timeout=60000)
    assert page.evaluate("() => window.__seglab.editor.renderer.pyramid.tiled") is True
    # Fitted (about 1/8 scale): the one-tile top level as backdrop, then the few tiles of level 3.
    assert not any("/file" in url for url in requested)
    page.wait_for_function("() => window.__seglab.editor.renderer.pyramid.pending === 0", timeout=60000)
    fitted = {u.split("/tiles/")[1] for u in requested if "/tiles/" in u}
    assert {t.split("/")[0] for t in fitted} == {"5", "3"} and len(fitted) <= 8, fitted

    page.click("[data-testid=zoom-actual]")  # 1:1 on the middle: level 0 tiles, only those in view
    page.wait_for_function(
        "() => { const p = window.__seglab.editor.renderer.pyramid;"
        " return p.pending === 0 && p.cache.size > 0; }",
        timeout=60000,
    )
    page.wait_for_timeout(100)
    level0 = [u for u in requested if "/tiles/0/" in u]
    assert 0 < len(level0) < 40, level0  # the 18 x 6 = 108 tiles of level 0 are not all fetched
    centre = page.evaluate(
        "() => { const v = window.__seglab.editor.viewport; return v.toImage(v.width / 2, v.height / 2); }"
    )
    for dx in (-200, 0, 200):
        x, y = centre[0] + dx, centre[1]
        got = _canvas_rgb(page, ed, x, y)
        want = row[int(x)].tolist()
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) <= 24, (x, got, want)
    shot(page, "editor-tiled-large-image")
