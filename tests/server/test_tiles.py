"""Tiled pyramids: layout, tile pixels against the stored image, bounds, access, and garbage collection's
view of tile blobs."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from seglab.service import maintenance
from seglab.service.tiles import pyramid_of, tile_key
from tests.server.conftest import World


def _gradient(width: int, height: int) -> bytes:
    """A smooth image (JPEG tiles stay close to it) with a different colour in each corner."""
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // (width - 1), y * 255 // (height - 1), (x + y) % 256], axis=-1)
    out = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def test_pyramid_layout_halves_until_one_tile_holds_the_image() -> None:
    pyramid = pyramid_of(1100, 700, tile_size=512)
    layout = [(lv.level, lv.width, lv.height, lv.columns, lv.rows) for lv in pyramid.levels]
    assert layout == [(0, 1100, 700, 3, 2), (1, 550, 350, 2, 1), (2, 275, 175, 1, 1)]
    assert [lv.level for lv in pyramid_of(300, 200).levels] == [0]
    assert len(pyramid_of(8192, 8192).levels) == 5  # 8192 -> 4096 -> 2048 -> 1024 -> 512


def test_tiles_show_the_image_and_are_refused_out_of_bounds(world: World) -> None:
    owner, outsider = world.user("owner"), world.user("outsider")
    pid = world.project(owner)
    data = _gradient(1100, 700)
    r = owner.post(f"/api/projects/{pid}/images", files=[("files", ("big.png", data, "image/png"))])
    iid = r.json()[0]["id"]
    base = f"/api/projects/{pid}/images/{iid}/tiles"
    layout = owner.get(base).json()
    assert layout["tile_size"] == 512 and [lv["columns"] for lv in layout["levels"]] == [3, 2, 1]

    original = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)
    corner = owner.get(f"{base}/0/2/1")
    assert corner.status_code == 200 and corner.headers["content-type"] == "image/jpeg"
    assert corner.headers["x-content-type-options"] == "nosniff"
    tile = np.asarray(Image.open(io.BytesIO(corner.content)).convert("RGB"), dtype=np.int16)
    assert tile.shape == (700 - 512, 1100 - 1024, 3)  # the last column and row are cut short
    assert np.abs(tile - original[512:, 1024:]).mean() < 3

    top_jpeg = owner.get(f"{base}/2/0/0").content
    top = np.asarray(Image.open(io.BytesIO(top_jpeg)).convert("RGB"), dtype=np.int16)
    assert top.shape == (175, 275, 3)
    assert np.abs(top - original[::4, ::4][:175, :275]).mean() < 6  # a quarter-size view of the same image

    again = owner.get(f"{base}/0/2/1", headers={"If-None-Match": corner.headers["etag"]})
    assert again.status_code == 304
    for path in ("3/0/0", "0/3/0", "0/0/2", "1/2/0"):
        assert owner.get(f"{base}/{path}").status_code == 404, path
    assert owner.get(f"{base}/-1/0/0").status_code == 422
    assert outsider.get(f"{base}/0/0/0").status_code == 404
    assert outsider.get(base).status_code == 404


def test_garbage_collection_treats_tiles_like_thumbnails() -> None:
    checksum = "ab" * 32
    assert maintenance.classify(tile_key(checksum, 1, 2, 3)) == ("thumbs", checksum)
    assert maintenance.classify(f"tiles/1/2/ab/ab/{checksum}.jpg") is None  # not a tile layout: left alone
