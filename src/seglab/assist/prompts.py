"""What the user gave: clicks, strokes, a box and the last mask, checked once and turned into pixels.

Coordinates follow :mod:`seglab.core.conventions`: continuous pixels, origin at the top-left corner of the
top-left pixel. A click at ``(x, y)`` selects pixel ``(floor(y), floor(x))``, so a click must lie in
``[0, width) x [0, height)``. Everything a caller can get wrong raises :class:`ValueError` with a message
that names the argument, so the API layer can answer 422 without guessing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from seglab.core.conventions import ImageSize

MAX_CLICKS = 1000
MAX_STROKE_POINTS = 100_000


def check_image(image: object) -> np.ndarray:
    """The image as a C-contiguous ``(H, W, 3)`` uint8 array, or a ValueError that says what is wrong."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array (H, W, 3) uint8 RGB, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 RGB, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"image must be at least 2x2 pixels, got {image.shape[1]}x{image.shape[0]}")
    return np.ascontiguousarray(image)


def _points(value: object, what: str, size: ImageSize, limit: int) -> np.ndarray:
    """Validated ``(N, 2)`` float64 points inside the image."""
    try:
        pts = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a list of (x, y) points: {exc}") from None
    if pts.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if pts.ndim == 1 and pts.shape[0] == 2:
        raise ValueError(
            f"{what} must be a list of (x, y) points, got a single point {pts.tolist()}; wrap it"
        )
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"{what} must be a list of (x, y) points, got an array of shape {pts.shape}")
    if len(pts) > limit:
        raise ValueError(f"{what} has {len(pts)} points; at most {limit} are accepted")
    if not np.isfinite(pts).all():
        raise ValueError(f"{what} contains a non-finite coordinate")
    outside = (pts[:, 0] < 0) | (pts[:, 0] >= size.width) | (pts[:, 1] < 0) | (pts[:, 1] >= size.height)
    if outside.any():
        x, y = pts[int(np.flatnonzero(outside)[0])]
        raise ValueError(
            f"{what}: point ({x:g}, {y:g}) is outside the {size.width}x{size.height} image "
            f"(x must be in [0, {size.width}), y in [0, {size.height}))"
        )
    return pts


def _box(value: object, size: ImageSize) -> tuple[float, float, float, float] | None:
    """A box clipped to the image; ValueError when it is malformed or misses the image."""
    if value is None:
        return None
    try:
        b = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"box must be (x_min, y_min, x_max, y_max): {exc}") from None
    if b.shape != (4,):
        raise ValueError(f"box must be (x_min, y_min, x_max, y_max), got {b.size} numbers")
    if not np.isfinite(b).all():
        raise ValueError("box contains a non-finite coordinate")
    x0, y0, x1, y1 = (float(v) for v in b)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(
            f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) is empty: x_max must exceed x_min, y_max y_min"
        )
    cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(size.width)), min(y1, float(size.height))
    if cx1 - cx0 < 1.0 or cy1 - cy0 < 1.0:
        raise ValueError(
            f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) covers less than one pixel of the "
            f"{size.width}x{size.height} image"
        )
    return (cx0, cy0, cx1, cy1)


def _strokes(value: Iterable[object], what: str, size: ImageSize) -> tuple[np.ndarray, ...]:
    if isinstance(value, np.ndarray) and value.ndim == 2:
        raise ValueError(f"{what} must be a list of strokes (each a list of (x, y) points), not one stroke")
    strokes = []
    for k, stroke in enumerate(value):
        pts = _points(stroke, f"{what}[{k}]", size, MAX_STROKE_POINTS)
        if len(pts):
            strokes.append(pts)
    return tuple(strokes)


def _previous(value: object, size: ImageSize) -> np.ndarray | None:
    if value is None:
        return None
    arr = getattr(value, "array", value)  # accept a seglab Mask as well as an array
    arr = np.asarray(arr)
    if arr.shape != size.shape:
        raise ValueError(f"previous mask has shape {arr.shape}, the image is {size.shape} (height, width)")
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"previous mask must be boolean, got dtype {arr.dtype}")
        arr = arr > 0
    return arr


@dataclass(frozen=True, eq=False)
class Prompts:
    """Validated prompts in image coordinates. Arrays are ``(N, 2)`` float64 ``(x, y)``."""

    size: ImageSize
    positives: np.ndarray
    negatives: np.ndarray
    box: tuple[float, float, float, float] | None = None
    scribbles_pos: tuple[np.ndarray, ...] = ()
    scribbles_neg: tuple[np.ndarray, ...] = ()
    previous: np.ndarray | None = None

    @classmethod
    def build(
        cls,
        size: ImageSize,
        *,
        positives: Sequence[Sequence[float]] | np.ndarray = (),
        negatives: Sequence[Sequence[float]] | np.ndarray = (),
        box: Sequence[float] | None = None,
        scribbles_pos: Iterable[object] = (),
        scribbles_neg: Iterable[object] = (),
        previous: object = None,
    ) -> Prompts:
        return cls(
            size=size,
            positives=_points(positives, "positives", size, MAX_CLICKS),
            negatives=_points(negatives, "negatives", size, MAX_CLICKS),
            box=_box(box, size),
            scribbles_pos=_strokes(scribbles_pos, "scribbles_pos", size),
            scribbles_neg=_strokes(scribbles_neg, "scribbles_neg", size),
            previous=_previous(previous, size),
        )

    @property
    def has_positive(self) -> bool:
        return len(self.positives) > 0 or len(self.scribbles_pos) > 0

    @property
    def has_seed(self) -> bool:
        """Whether there is anything that says where the object is."""
        return (
            self.has_positive
            or self.box is not None
            or (self.previous is not None and bool(self.previous.any()))
        )

    def scaled(self, scale: float) -> Prompts:
        """The same prompts for the image resized by ``scale`` (continuous coordinates just multiply)."""
        size = ImageSize(max(1, round(self.size.width * scale)), max(1, round(self.size.height * scale)))
        return self.window(0, 0, self.size.width, self.size.height, size)

    def window(self, x0: int, y0: int, width: int, height: int, size: ImageSize) -> Prompts:
        """The prompts of the pixel window ``[x0, x0 + width) x [y0, y0 + height)`` resampled to ``size``
        (a reduced image, or a zoomed crop): points outside the window move to its edge."""
        f = np.array([size.width / width, size.height / height])
        origin = np.array([x0, y0], dtype=np.float64)
        clip = np.array([size.width, size.height]) - 1e-6

        def pts(a: np.ndarray) -> np.ndarray:
            return np.clip((a - origin) * f, 0.0, clip)

        prev = None
        if self.previous is not None:
            prev = resize_mask(self.previous[y0 : y0 + height, x0 : x0 + width], size)
        box = None
        if self.box is not None:
            lo = np.clip((np.array(self.box[:2]) - origin) * f, 0.0, (size.width, size.height))
            hi = np.clip((np.array(self.box[2:]) - origin) * f, 0.0, (size.width, size.height))
            box = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
        return Prompts(
            size=size,
            positives=pts(self.positives),
            negatives=pts(self.negatives),
            box=box,
            scribbles_pos=tuple(pts(s) for s in self.scribbles_pos),
            scribbles_neg=tuple(pts(s) for s in self.scribbles_neg),
            previous=prev,
        )


def click_pixels(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the pixels the points fall in (``floor`` of y and x)."""
    p = np.floor(points).astype(np.intp)  # (N, 2) x, y
    return p[:, 1], p[:, 0]


def _cv_points(points: np.ndarray, shift: int) -> np.ndarray:
    # OpenCV draws with integer coordinates at pixel centres; seglab's centre of pixel j is j + 0.5.
    return np.round((points - 0.5) * (1 << shift)).astype(np.int32)


def _disks(mask: np.ndarray, points: np.ndarray, radius: float) -> None:
    """Set the pixels whose centre is within ``radius`` of each point (exact and symmetric)."""
    h, w = mask.shape
    r = max(radius, 0.0)
    for x, y in np.asarray(points, dtype=np.float64).reshape(-1, 2):
        r0, r1 = max(0, int(np.floor(y - r))), min(h, int(np.ceil(y + r)) + 1)
        c0, c1 = max(0, int(np.floor(x - r))), min(w, int(np.ceil(x + r)) + 1)
        yy = np.arange(r0, r1)[:, None] + 0.5
        xx = np.arange(c0, c1)[None, :] + 0.5
        mask[r0:r1, c0:c1] |= (xx - x) ** 2 + (yy - y) ** 2 <= r * r


def draw_seeds(
    shape: tuple[int, int],
    points: np.ndarray,
    strokes: Sequence[np.ndarray],
    radius: float,
) -> np.ndarray:
    """A bool mask of disks of ``radius`` around points and strokes of that half-width, clicked pixels
    always included (so a tiny radius still marks the pixel the user hit)."""
    mask = np.zeros(shape, dtype=bool)
    _disks(mask, points, radius)
    if strokes:
        canvas = np.zeros(shape, dtype=np.uint8)
        shift = 4
        thickness = max(1, math.ceil(2 * radius))
        for stroke in strokes:
            if len(stroke) > 1:
                pts = _cv_points(stroke, shift).reshape(-1, 1, 2)
                cv2.polylines(canvas, [pts], False, 1, thickness=thickness, lineType=cv2.LINE_8, shift=shift)
            _disks(mask, stroke[[0, -1]], radius)  # round caps, and single-point strokes
        mask |= canvas.astype(bool)
    for arr in (points, *strokes):
        rows, cols = click_pixels(arr)
        mask[rows, cols] = True
    return mask


def stroke_pixels(shape: tuple[int, int], strokes: Sequence[np.ndarray]) -> np.ndarray:
    """The one-pixel-wide rasterized strokes (every pixel the pen passed through)."""
    return draw_seeds(shape, np.zeros((0, 2)), strokes, radius=0.5)


def resize_mask(mask: np.ndarray, size: ImageSize) -> np.ndarray:
    """A bool mask resized to ``size`` (area averaging down, linear up, then threshold at one half)."""
    if mask.shape == size.shape:
        return mask.copy()
    down = size.width < mask.shape[1]
    interp = cv2.INTER_AREA if down else cv2.INTER_LINEAR
    out = cv2.resize(mask.astype(np.float32), (size.width, size.height), interpolation=interp)
    return out >= 0.5
