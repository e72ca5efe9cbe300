"""Tiled image pyramids for large images, so the editor fetches and decodes only what it shows.

Level 0 is the stored (upright) image; each next level halves it (a 2x2 box filter) until it fits one
tile. Tiles are ``TILE_SIZE`` px JPEGs cut from the top-left corner (the last column and row are smaller),
made once per image content on the first request and kept as blobs under
``tiles/<level>/<column>/<row>/ab/cd/<sha256>.jpg``, so images with the same pixels share them and garbage
collection drops them with the last image of that checksum (like thumbnails). One build per checksum runs
at a time in a process; a second process building the same tiles writes the same bytes (harmless).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image
from sqlalchemy.orm import Session

from seglab.service.access import Actor, Role, require_image
from seglab.service.errors import NotFound
from seglab.service.imaging import _open, _to_rgb
from seglab.storage.blobs import BlobStore, content_key
from seglab.storage.db import Database

TILE_SIZE = 512
JPEG_QUALITY = 88
_locks_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}


@dataclass(frozen=True)
class PyramidLevel:
    level: int
    scale: float  # this level's pixels per image pixel (1 / 2**level)
    width: int
    height: int
    columns: int
    rows: int


@dataclass(frozen=True)
class Pyramid:
    tile_size: int
    width: int
    height: int
    levels: tuple[PyramidLevel, ...]


def pyramid_of(width: int, height: int, tile_size: int = TILE_SIZE) -> Pyramid:
    """The levels of a ``width`` x ``height`` image: halved (rounding up) until one tile holds it."""
    levels = []
    level, w, h = 0, width, height
    while True:
        levels.append(PyramidLevel(level, 1 / 2**level, w, h, -(-w // tile_size), -(-h // tile_size)))
        if w <= tile_size and h <= tile_size:
            break
        level, w, h = level + 1, max(1, -(-w // 2)), max(1, -(-h // 2))
    return Pyramid(tile_size, width, height, tuple(levels))


def tile_key(checksum: str, level: int, column: int, row: int) -> str:
    return content_key(checksum, "jpg", namespace=f"tiles/{level}/{column}/{row}")


def _lock_for(checksum: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(checksum, threading.Lock())


def _tiles(rgb: Image.Image, pyramid: Pyramid) -> Iterator[tuple[int, int, int, bytes]]:
    """(level, column, row, JPEG) for every tile, each level made from the one before."""
    size = pyramid.tile_size
    current = rgb
    for info in pyramid.levels:
        if info.level > 0:
            current = current.reduce(2) if min(current.size) >= 2 else current
            if current.size != (info.width, info.height):  # odd sides: reduce() floors, the layout rounds up
                current = current.resize((info.width, info.height), Image.Resampling.BOX)
        for row in range(info.rows):
            for column in range(info.columns):
                right, bottom = min(info.width, (column + 1) * size), min(info.height, (row + 1) * size)
                box = (column * size, row * size, right, bottom)
                out = io.BytesIO()
                current.crop(box).save(out, format="JPEG", quality=JPEG_QUALITY)
                yield info.level, column, row, out.getvalue()


@dataclass(frozen=True)
class _Source:
    storage_key: str
    checksum: str
    width: int
    height: int


def _source(db: Database, actor: Actor, project_id: int, image_id: int) -> _Source:
    def _read(s: Session) -> _Source:
        image = require_image(s, actor, project_id, image_id, Role.VIEWER).the_image
        return _Source(image.storage_key, image.checksum, image.width, image.height)

    return db.read(_read)


def image_pyramid(db: Database, *, actor: Actor, project_id: int, image_id: int) -> Pyramid:
    """The tile layout of an image (viewers and above)."""
    source = _source(db, actor, project_id, image_id)
    return pyramid_of(source.width, source.height)


def tile(
    db: Database,
    blobs: BlobStore,
    *,
    actor: Actor,
    project_id: int,
    image_id: int,
    level: int,
    column: int,
    row: int,
) -> tuple[str, str]:
    """The blob key of one tile and its ETag; the image's whole pyramid is built on the first request."""
    source = _source(db, actor, project_id, image_id)
    pyramid = pyramid_of(source.width, source.height)
    if not 0 <= level < len(pyramid.levels):
        raise NotFound(f"image {image_id} has pyramid levels 0 to {len(pyramid.levels) - 1}, not {level}")
    info = pyramid.levels[level]
    if not (0 <= column < info.columns and 0 <= row < info.rows):
        raise NotFound(
            f"level {level} of image {image_id} has {info.columns} x {info.rows} tiles; "
            f"no tile at column {column}, row {row}"
        )
    key = tile_key(source.checksum, level, column, row)
    if not blobs.exists(key):
        with _lock_for(source.checksum):
            if not blobs.exists(key):  # another request may have built it while this one waited
                with _open(blobs.get(source.storage_key), "stored image") as img:
                    rgb = _to_rgb(img)
                for lvl, col, rw, data in _tiles(rgb, pyramid):
                    blobs.put(tile_key(source.checksum, lvl, col, rw), data)
    return key, f"{source.checksum[:32]}-t{level}-{column}-{row}"
