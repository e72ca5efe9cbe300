"""Zoom-in: segment a small object on an enlarged crop around it, as interactive segmentation papers do.

On the working image a small object is a few dozen superpixels, so its boundary is coarse and its colour
model is learnt against the whole image. Once there is a mask (or for a second look at a first click's
answer), the object's neighbourhood is cut out, resized so that it spans about ``side`` pixels, and
segmented as an image of its own: its own superpixels and palette, at a finer scale. The answer is pasted
back; outside the crop the previous mask stays.

Crops live in the image's :class:`~seglab.assist.cache.AssistSession` (a few per image), and a later click
reuses a cached crop that still holds everything and is not much larger than needed, so corrective clicks
on one object build the crop's superpixels once.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from seglab.assist.cache import AssistSession
from seglab.assist.prompts import Prompts, click_pixels, resize_mask
from seglab.core.conventions import ImageSize

#: Crop sessions kept per image (most recent first).
MAX_CROPS = 4


@dataclass(frozen=True)
class Crop:
    """A full-resolution pixel box ``[x0, x1) x [y0, y1)`` and the size it is resampled to."""

    x0: int
    y0: int
    x1: int
    y1: int
    size: ImageSize  # of the resampled crop

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def scale(self) -> float:
        """Crop pixels per full-resolution pixel (the same on both axes up to rounding)."""
        return self.size.width / self.width

    def contains(self, box: tuple[int, int, int, int]) -> bool:
        x0, y0, x1, y1 = box
        return self.x0 <= x0 and self.y0 <= y0 and x1 <= self.x1 and y1 <= self.y1


def object_box(prompts: Prompts, mask: np.ndarray | None) -> tuple[int, int, int, int] | None:
    """Pixel bounding box ``(x0, y0, x1, y1)`` (exclusive ends) of the mask and every prompt."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    if mask is not None and mask.any():
        rows = np.flatnonzero(mask.any(1))
        cols = np.flatnonzero(mask.any(0))
        ys += [rows[[0, -1]]]
        xs += [cols[[0, -1]]]
    for points in (prompts.positives, prompts.negatives, *prompts.scribbles_pos, *prompts.scribbles_neg):
        if len(points):
            r, c = click_pixels(points)
            ys.append(r)
            xs.append(c)
    if prompts.box is not None:
        x0, y0, x1, y1 = prompts.box
        xs.append(np.array([int(x0), int(np.ceil(x1)) - 1]))
        ys.append(np.array([int(y0), int(np.ceil(y1)) - 1]))
    if not xs:
        return None
    x, y = np.concatenate(xs), np.concatenate(ys)
    return int(x.min()), int(y.min()), int(x.max()) + 1, int(y.max()) + 1


def plan(
    session: AssistSession,
    box: tuple[int, int, int, int],
    *,
    margin: float,
    min_margin: int,
    side: int,
    min_gain: float,
) -> Crop | None:
    """The crop to segment on for an object in ``box``, or None when zooming would not gain resolution.

    The box grows by ``margin`` of its size on each side (at least ``min_margin`` full-resolution pixels),
    and the crop is resampled so that its longer side is ``side`` pixels, capped at the session's working
    pixel budget. None when that scale is under ``min_gain`` times the working image's. A cached crop is
    reused while it holds the box with half that margin and is at most twice the size a new one would be.
    """
    want = _grown(session, box, margin, min_margin)
    need = _grown(session, box, margin / 2, min_margin // 2)
    for crop in _crops(session):  # a cached crop that holds the object with half the margin, not too big
        if crop.contains(need) and crop.width * crop.height <= 2.0 * _area(want):
            return crop
    cw, ch = want[2] - want[0], want[3] - want[1]
    scale = min(side / max(cw, ch), float(np.sqrt(session.work_pixels / (cw * ch))))
    if scale < min_gain * session.work_scale:
        return None
    size = ImageSize(max(2, round(cw * scale)), max(2, round(ch * scale)))
    return Crop(*want, size=size)


def _grown(
    session: AssistSession, box: tuple[int, int, int, int], margin: float, min_margin: int
) -> tuple[int, int, int, int]:
    """The box grown by ``margin`` of its size on each side (at least ``min_margin``), within the image."""
    x0, y0, x1, y1 = box
    mx = max(margin * (x1 - x0), min_margin)
    my = max(margin * (y1 - y0), min_margin)
    w, h = session.size.width, session.size.height
    return (
        max(0, int(x0 - mx)),
        max(0, int(y0 - my)),
        min(w, int(np.ceil(x1 + mx))),
        min(h, int(np.ceil(y1 + my))),
    )


def _area(box: tuple[int, int, int, int]) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _crops(session: AssistSession) -> list[Crop]:
    return [c for c, _ in session.slot("zoom_crops", list)]


def crop_session(session: AssistSession, crop: Crop) -> AssistSession:
    """The session of the resampled crop (its own superpixels and palette), cached in ``session``."""
    entries: list[tuple[Crop, AssistSession]] = session.slot("zoom_crops", list)
    with session._lock:
        for k, (c, sub) in enumerate(entries):
            if c == crop:
                entries.insert(0, entries.pop(k))
                return sub
        pixels = session.image[crop.y0 : crop.y1, crop.x0 : crop.x1]
        interp = cv2.INTER_AREA if crop.size.width < crop.width else cv2.INTER_LINEAR
        image = cv2.resize(pixels, (crop.size.width, crop.size.height), interpolation=interp)
        sub = AssistSession(image, key=f"{session.key}:zoom:{crop}", work_pixels=crop.size.area)
        entries.insert(0, (crop, sub))
        del entries[MAX_CROPS:]
        session.counts["zoom_crop"] += 1
        return sub


def to_crop(prompts: Prompts, crop: Crop) -> Prompts:
    """The prompts in the resampled crop's coordinates (everything outside it moved to its edge)."""
    return prompts.window(crop.x0, crop.y0, crop.width, crop.height, crop.size)


def paste(mask: np.ndarray, crop: Crop, outside: np.ndarray) -> np.ndarray:
    """The crop's answer at full resolution inside the crop, ``outside`` elsewhere."""
    out = outside.copy()
    out[crop.y0 : crop.y1, crop.x0 : crop.x1] = resize_mask(mask, ImageSize(crop.width, crop.height))
    return out
