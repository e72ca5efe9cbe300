"""Interactive segmentation of a stored image: clicks, strokes, a box and the last mask in; a mask, its
polygon and its box out.

The per-image work of :mod:`seglab.assist` (working image, superpixels, SAM embeddings) lives in an
:class:`~seglab.assist.AssistSession`. Sessions are kept here in a small LRU keyed by ``(image id,
checksum)``: the image's bytes are decoded only on a miss, so the corrective clicks that follow the first
answer skip both the decode and the precompute. The checksum in the key means a replaced file can never be
answered from a stale session.

Prompts are checked against the image before any work, and every problem is :class:`Invalid` (422) with
the request field it is about.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import ImageOps
from sqlalchemy.orm import Session

from seglab.assist import METHODS, AssistSession, segment
from seglab.assist.onnx_sam import DECODER_ENV, ENCODER_ENV
from seglab.core.conventions import ImageSize
from seglab.core.mask import Mask
from seglab.core.raster import mask_to_polygon, shape_to_mask
from seglab.service.access import Actor, Role, require_image, require_project
from seglab.service.errors import Invalid
from seglab.service.imaging import _open, _to_rgb
from seglab.storage.blobs import BlobStore
from seglab.storage.codec import CodecError, mask_from_json, shape_from_json, shape_to_json
from seglab.storage.db import Database

#: Sessions kept at once. Each holds the decoded image plus its superpixels (a few bytes per pixel), so
#: eight 12-megapixel images stay under about a gigabyte.
SESSION_CAPACITY = 8

Point = Sequence[float]


@dataclass(frozen=True)
class Scribble:
    """A stroke of the user: points along it, on the object (``positive``) or on the background."""

    points: Sequence[Point]
    positive: bool = True


@dataclass(frozen=True)
class AssistAnswer:
    """What one round returns, ready for JSON."""

    mask: dict[str, Any]  # COCO RLE, counts compressed, size [height, width]
    polygon: dict[str, Any] | None  # the polygon document, None for an empty mask
    bbox: dict[str, float] | None
    area: int
    method: str
    seconds: float


class ImageSessions:
    """A thread-safe LRU of :class:`AssistSession` keyed by ``(image id, checksum)``."""

    def __init__(self, capacity: int = SESSION_CAPACITY) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[int, str], AssistSession] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, image_id: int, checksum: str, load: Callable[[], np.ndarray]) -> AssistSession:
        """The cached session, or one made from ``load()`` (an ``(H, W, 3)`` uint8 array) on a miss."""
        key = (image_id, checksum)
        with self._lock:
            session = self._items.get(key)
            if session is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return session
            self.misses += 1
        fresh = AssistSession(load(), key=f"image:{image_id}:{checksum}")  # decoded outside the lock
        with self._lock:
            session = self._items.setdefault(key, fresh)  # a concurrent miss may have won: use its session
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
            return session

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


SESSIONS = ImageSessions()


def sam_configured() -> bool:
    return bool(os.environ.get(ENCODER_ENV) and os.environ.get(DECODER_ENV))


def available_methods() -> list[str]:
    """The methods this server can run: ``sam`` only when a model is configured."""
    return [m for m in METHODS if m != "sam" or sam_configured()]


def describe(db: Database, *, actor: Actor, project_id: int) -> dict[str, Any]:
    """The methods on offer, for the editor's tool options (annotators and above)."""
    db.read(lambda s: require_project(s, actor, project_id, Role.ANNOTATOR))
    return {
        "methods": available_methods(),
        "default_method": "sam" if sam_configured() else "combined",
        "sam_configured": sam_configured(),
    }


def decode_rgb(data: bytes, *, expected: ImageSize, what: str) -> np.ndarray:
    """A stored image as ``(H, W, 3)`` uint8 RGB, upright as the editor shows it.

    Stored images are upright already (:mod:`seglab.service.imaging` applies EXIF orientation at upload);
    the transpose here is a no-op for them and keeps any file stored before that rule upright too. The
    size is checked against the database's so that coordinates mean the same here as in the editor.
    """
    with _open(data, what) as img:
        rgb = _to_rgb(ImageOps.exif_transpose(img))
    array = np.asarray(rgb, dtype=np.uint8)
    if (array.shape[1], array.shape[0]) != (expected.width, expected.height):
        raise Invalid(
            f"{what}: the stored file is {array.shape[1]}x{array.shape[0]}, the image record says "
            f"{expected.width}x{expected.height}"
        )
    return array


def _check_points(points: Sequence[Point], field: str, size: ImageSize) -> np.ndarray:
    """``(N, 2)`` points inside ``[0, width) x [0, height)``, or Invalid naming the field and index."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    outside = (pts[:, 0] < 0) | (pts[:, 0] >= size.width) | (pts[:, 1] < 0) | (pts[:, 1] >= size.height)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        x, y = pts[i]
        raise Invalid(
            f"{field}[{i}]: point ({x:g}, {y:g}) is outside the {size.width}x{size.height} image "
            f"(x must be in [0, {size.width}), y in [0, {size.height}))"
        )
    return pts


def _check_box(box: Sequence[float], size: ImageSize) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x0 < x1 and y0 < y1):
        raise Invalid(f"box: needs x_min < x_max and y_min < y_max, got ({x0:g}, {y0:g}, {x1:g}, {y1:g})")
    if x1 <= 0 or y1 <= 0 or x0 >= size.width or y0 >= size.height:
        raise Invalid(
            f"box: ({x0:g}, {y0:g}, {x1:g}, {y1:g}) does not overlap the {size.width}x{size.height} image"
        )
    # A box that runs over the edge is clipped to it: dragging past the border is a normal gesture.
    return max(0.0, x0), max(0.0, y0), min(float(size.width), x1), min(float(size.height), y1)


def _check_previous(previous: Mapping[str, Any], size: ImageSize) -> np.ndarray:
    try:
        mask = mask_from_json(previous, "previous")
    except CodecError as exc:
        raise Invalid(str(exc)) from None
    if mask.size != size:
        raise Invalid(
            f"previous: the mask is {mask.size.width}x{mask.size.height} (size [{mask.size.height}, "
            f"{mask.size.width}]), the image is {size.width}x{size.height}"
        )
    return np.asarray(mask.array, dtype=bool)


def _taken(exclude: Sequence[tuple[str, Mapping[str, Any]]], size: ImageSize) -> np.ndarray | None:
    """The union of the segments to keep out of the answer, or None when there are none."""
    if not exclude:
        return None
    taken = np.zeros(size.shape, dtype=bool)
    for i, (kind, doc) in enumerate(exclude):
        where = f"exclude[{i}].{kind}"
        if kind not in ("polygon", "mask"):
            raise Invalid(f"{where}: only polygons and masks can be excluded")
        try:
            shape = shape_from_json(kind, doc, where)
            taken |= shape_to_mask(shape, size).array
        except CodecError as exc:
            raise Invalid(str(exc)) from None
        except ValueError as exc:  # a mask of another size
            raise Invalid(f"{where}: {exc}") from None
    return taken


def run_assist(
    db: Database,
    blobs: BlobStore,
    *,
    actor: Actor,
    project_id: int,
    image_id: int,
    positives: Sequence[Point] = (),
    negatives: Sequence[Point] = (),
    scribbles: Sequence[Scribble] = (),
    box: Sequence[float] | None = None,
    previous: Mapping[str, Any] | None = None,
    method: str = "auto",
    tolerance: float = 1.0,
    wand_tolerance: float | None = None,
    exclude: Sequence[tuple[str, Mapping[str, Any]]] = (),
    sessions: ImageSessions = SESSIONS,
) -> AssistAnswer:
    """One round of interactive segmentation on an image of the project (annotators and above).

    ``exclude`` holds ``(kind, geometry document)`` pairs of segments already on the image (polygons or
    masks); their pixels, rasterized exactly as exports rasterize them, are removed from the answer.
    """
    started = time.perf_counter()

    def _image(s: Session) -> tuple[ImageSize, str, str]:
        image = require_image(s, actor, project_id, image_id, Role.ANNOTATOR).the_image
        return ImageSize(image.width, image.height), image.checksum, image.storage_key

    size, checksum, storage_key = db.read(_image)
    if method not in METHODS:
        raise Invalid(f"method: unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "sam" and not sam_configured():
        raise Invalid(
            f"method: 'sam' needs a SAM-style ONNX model; the server sets {ENCODER_ENV} and {DECODER_ENV}"
        )
    if not np.isfinite(tolerance) or tolerance < 0:
        raise Invalid(f"tolerance: must be a finite number of pixels >= 0, got {tolerance}")
    pos = _check_points(positives, "positives", size)
    neg = _check_points(negatives, "negatives", size)
    strokes_pos, strokes_neg = [], []
    for i, stroke in enumerate(scribbles):
        pts = _check_points(stroke.points, f"scribbles[{i}].points", size)
        (strokes_pos if stroke.positive else strokes_neg).append(pts)
    clipped_box = None if box is None else _check_box(box, size)
    previous_mask = None if previous is None else _check_previous(previous, size)
    taken = _taken(exclude, size)

    session = sessions.get(
        image_id,
        checksum,
        lambda: decode_rgb(blobs.get(storage_key), expected=size, what=f"image {image_id}"),
    )
    extra: dict[str, Any] = {} if wand_tolerance is None else {"wand_tolerance": float(wand_tolerance)}
    try:
        mask = segment(
            session.image,
            positives=pos,
            negatives=neg,
            box=clipped_box,
            previous=previous_mask,
            scribbles_pos=strokes_pos,
            scribbles_neg=strokes_neg,
            method=method,  # type: ignore[arg-type]
            session=session,
            **extra,
        )
    except ValueError as exc:  # the library names the argument; the checks above catch the common cases
        raise Invalid(f"prompts: {exc}") from None
    if taken is not None:
        mask = mask & ~taken
    return _answer(mask, tolerance, _resolved(method), time.perf_counter() - started)


def _resolved(method: str) -> str:
    if method != "auto":
        return method
    return "sam" if sam_configured() else "combined"


def _answer(mask: np.ndarray, tolerance: float, method: str, seconds: float) -> AssistAnswer:
    core = Mask.from_array(mask)
    area = core.area
    polygon = mask_to_polygon(core, tolerance=tolerance) if area else None
    bounds = core.bounds() if area else None
    return AssistAnswer(
        mask=core.rle_json(),
        polygon=shape_to_json(polygon) if polygon is not None and polygon.parts else None,
        bbox=None
        if bounds is None
        else {"x_min": bounds.x_min, "y_min": bounds.y_min, "x_max": bounds.x_max, "y_max": bounds.y_max},
        area=area,
        method=method,
        seconds=round(seconds, 4),
    )


__all__ = [
    "SESSIONS",
    "AssistAnswer",
    "ImageSessions",
    "Scribble",
    "available_methods",
    "decode_rgb",
    "describe",
    "run_assist",
]
