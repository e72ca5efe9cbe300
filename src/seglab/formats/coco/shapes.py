"""COCO geometry in and out: checked parsing of polygons, RLE, boxes and keypoints, and the derived fields.

COCO coordinates are seglab's, so geometry passes through unchanged. The derived fields (``bbox``,
``area``, ``num_keypoints``) are computed here for both directions, so that the reader can tell whether a
file's value is the one the writer would write again (and keep it in ``extra`` when it is not).
Polygon areas are shoelace areas, as in COCO's own ground truth (its ``area`` of a polygon is the
polygon's area, not a pixel count); they are computed for many polygons in one vectorised pass.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any

import numpy as np

from seglab.core.geometry import Box, Keypoints, Polygon, PolygonPart
from seglab.core.mask import Mask
from seglab.formats.coco.constants import BBOX_TOLERANCE, BadObjectError, is_int

Shape = Box | Polygon | Mask | Keypoints
_HOLES, _EXTERIOR = attrgetter("holes"), attrgetter("exterior")


def decode_counts(counts: str | bytes) -> np.ndarray:
    """The runs of a compressed RLE string (pycocotools' ``rleFrString``), vectorised, checked as it goes.

    pycocotools trusts these strings; decoding them here first means a hostile or corrupt RLE is rejected
    with a reason instead of giving a wrong area or a failed decode much later. Takes pycocotools' own
    ``bytes`` too (the VOC writer paints its runs without decoding them to pixels).
    """
    try:
        raw = counts if isinstance(counts, bytes) else counts.encode("ascii")
    except UnicodeEncodeError:
        raise BadObjectError("RLE counts hold non-ASCII characters") from None
    chars = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 48  # (L,)
    if chars.size == 0:
        return np.zeros(0, dtype=np.int64)
    if ((chars < 0) | (chars > 63)).any():
        raise BadObjectError("RLE counts hold characters outside the RLE alphabet")
    more = (chars & 0x20) != 0
    if more[-1]:
        raise BadObjectError("RLE counts end in the middle of a number (truncated)")
    ends = np.flatnonzero(~more)  # last character of each number
    starts = np.concatenate(([0], ends[:-1] + 1))
    pos = np.arange(len(chars)) - np.repeat(starts, ends - starts + 1)  # chunk index within its number
    if pos.max() > 6:
        raise BadObjectError("RLE counts hold a run too long for any image")
    values = np.add.reduceat((chars & 0x1F) << (5 * pos), starts)
    negative = (chars[ends] & 0x10) != 0
    values = values - np.where(negative, 1 << (5 * (pos[ends] + 1)), 0)
    runs = values.copy()  # runs from index 3 on are stored as differences to the run two before
    runs[1::2] = np.cumsum(values[1::2])
    runs[2::2] = np.cumsum(values[2::2])
    return runs


def mask_from_rle(seg: Mapping[str, Any]) -> Mask:
    size, counts = seg.get("size"), seg.get("counts")
    if not (isinstance(size, list) and len(size) == 2 and all(is_int(v) and v > 0 for v in size)):
        raise BadObjectError(f"RLE size {size!r} is not [height, width] of positive integers")
    h, w = size
    if isinstance(counts, list):
        if not counts:
            raise BadObjectError("empty RLE: no counts")
        if not all(is_int(c) for c in counts):
            raise BadObjectError("RLE counts must be integers")
        runs = np.asarray(counts, dtype=np.int64)
    elif isinstance(counts, str):
        if not counts:
            raise BadObjectError("empty RLE: no counts")
        runs = decode_counts(counts)
    else:
        raise BadObjectError(
            f"RLE counts must be a string or a list of integers, not {type(counts).__name__}"
        )
    if (runs < 0).any():
        raise BadObjectError("RLE has a negative run length")
    if int(runs.sum()) != h * w:
        raise BadObjectError(f"RLE runs cover {int(runs.sum())} pixels but its {w}x{h} size has {h * w}")
    if not runs[1::2].any():
        raise BadObjectError("empty RLE: the mask covers no pixel")
    return Mask.from_rle({"size": [h, w], "counts": counts})


def polygon(seg: list[Any]) -> Polygon:
    """A polygon from COCO's list of flat rings, checked ring by ring (built without re-checking)."""
    parts = []
    for ring in seg:
        if not isinstance(ring, list) or (ring and isinstance(ring[0], list | dict)):
            raise BadObjectError("segmentation must be a list of polygons, each a flat list of x, y numbers")
        n = len(ring)
        if n % 2:
            raise BadObjectError(f"polygon has an odd number of coordinates ({n})")
        if n < 6:
            raise BadObjectError(f"polygon has {n // 2} points, a polygon needs at least 3")
        # filled in place: a reshaped view of a flat array would keep two array objects per ring alive
        ring_xy = np.empty((n // 2, 2), dtype=np.float64)  # (N, 2)
        try:
            ring_xy.reshape(-1)[...] = ring  # a nested or non-numeric value raises here
        except (TypeError, ValueError, OverflowError):
            raise BadObjectError("polygon must be a flat list of numbers [x0, y0, x1, y1, ...]") from None
        if not np.isfinite(ring_xy).all():
            raise BadObjectError("polygon has NaN, infinite or missing coordinates")
        if ring_xy[0, 0] == ring_xy[-1, 0] and ring_xy[0, 1] == ring_xy[-1, 1]:  # closed: stored open
            if n < 8:
                raise BadObjectError(
                    "polygon has fewer than 3 distinct points (its last point repeats the first)"
                )
            ring_xy = ring_xy[:-1].copy()
        ring_xy.setflags(write=False)
        parts.append(PolygonPart.trusted(ring_xy))
    return Polygon(tuple(parts))


def box(bbox: object) -> Box:
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise BadObjectError(f"bbox must be [x, y, width, height], got {bbox!r}")
    x, y, w, h = bbox
    for v in (x, y, w, h):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise BadObjectError(f"bbox must hold numbers, got {bbox!r}")
        if not math.isfinite(v):
            raise BadObjectError(f"bbox has NaN or infinite values: {bbox!r}")
    if w < 0 or h < 0:
        raise BadObjectError(f"bbox has a negative width or height: {bbox!r}")
    return Box(float(x), float(y), float(x) + float(w), float(y) + float(h))


def keypoints(values: list[Any]) -> Keypoints:
    if len(values) % 3:
        raise BadObjectError(f"keypoints hold {len(values)} numbers, not x, y, v triplets")
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadObjectError("keypoints must be numbers") from None
    if arr.ndim != 1 or not np.isfinite(arr).all():
        raise BadObjectError("keypoints must be a flat list of finite numbers")
    return Keypoints(arr.reshape(-1, 3))


def crowd_flag(raw: Mapping[str, Any]) -> bool:
    value = raw.get("iscrowd", 0)
    if value not in (0, 1):  # also matches True/False
        raise BadObjectError(f"iscrowd must be 0 or 1, got {value!r}")
    return bool(value)


# --------------------------------------------------------------------------------------------- derived


def bbox_close(kept: object, derived: Sequence[float]) -> bool:
    """Whether a file's bbox is the shape's bounds, up to rounding and rasterization (a pixel)."""
    if type(kept) is not list or len(kept) != 4:
        return False
    a0, a1, a2, a3 = kept
    b0, b1, b2, b3 = derived
    t = BBOX_TOLERANCE
    try:  # written out: this runs once per annotation written
        return (
            abs(a0 - b0) <= t + 1e-9 * abs(b0)
            and abs(a1 - b1) <= t + 1e-9 * abs(b1)
            and abs(a2 - b2) <= t + 1e-9 * abs(b2)
            and abs(a3 - b3) <= t + 1e-9 * abs(b3)
        )
    except TypeError:  # not numbers
        return False


def xywh(b: Box) -> list[float]:
    return [float(b.x_min), float(b.y_min), float(b.x_max - b.x_min), float(b.y_max - b.y_min)]


def keypoints_bbox(shape: Keypoints) -> list[float]:
    """The ``bbox`` written for keypoints that stand alone: the labeled points' box."""
    return xywh(shape.bounds())


def polygon_stats(polygons: Sequence[Polygon]) -> tuple[np.ndarray, np.ndarray]:
    """Shoelace areas ``(P,)`` (parts summed, holes subtracted) and bboxes ``(P, 4)`` x, y, w, h.

    One vectorised pass over every vertex; each polygon's numbers do not depend on the others, so the
    reader and the writer get the very same floats. Polygons without parts get area 0 and a zero box.
    """
    count = len(polygons)
    parts_of = [poly.parts for poly in polygons]
    parts = list(itertools.chain.from_iterable(parts_of))
    if not any(map(_HOLES, parts)):  # the common case: one ring per part, gathered without a Python loop
        rings: list[np.ndarray] = list(map(_EXTERIOR, parts))
        owner = np.repeat(np.arange(count), np.fromiter(map(len, parts_of), dtype=np.int64, count=count))
        signs = np.ones(len(rings))
    else:
        rings, sign_list, ring_owner = [], [], []
        for i, poly in enumerate(polygons):
            for part in poly.parts:
                rings.append(part.exterior)
                sign_list.append(1.0)
                ring_owner.append(i)
                for hole in part.holes:
                    rings.append(hole)
                    sign_list.append(-1.0)
                    ring_owner.append(i)
        owner, signs = np.asarray(ring_owner, dtype=np.int64), np.asarray(sign_list)
    areas = np.zeros(count)
    boxes = np.zeros((count, 4))
    if not rings:
        return areas, boxes
    lengths = np.fromiter(map(len, rings), dtype=np.int64, count=len(rings))  # (R,)
    pts = np.concatenate(rings)  # (V, 2)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))  # (R,)
    nxt = np.arange(1, len(pts) + 1)  # (V,) index of the next vertex of the same ring
    nxt[starts + lengths - 1] = starts
    x, y = pts[:, 0], pts[:, 1]
    cross = x * y[nxt] - x[nxt] * y  # (V,)
    nonempty = lengths > 0
    ring_area = np.zeros(len(rings))
    ring_area[nonempty] = np.abs(np.add.reduceat(cross, starts[nonempty])) / 2.0
    np.add.at(areas, owner, ring_area * signs)
    # bounds from exteriors only (holes lie inside), per polygon
    exterior = signs > 0
    ext_starts, ext_owner = starts[exterior & nonempty], owner[exterior & nonempty]
    if len(ext_starts):
        lo_x = np.minimum.reduceat(x, ext_starts)
        hi_x = np.maximum.reduceat(x, ext_starts)
        lo_y = np.minimum.reduceat(y, ext_starts)
        hi_y = np.maximum.reduceat(y, ext_starts)
        # reduceat runs to the next start, which may be a hole: those lie inside the exterior's bounds
        lo = np.full((count, 2), np.inf)
        hi = np.full((count, 2), -np.inf)
        np.minimum.at(lo, ext_owner, np.column_stack([lo_x, lo_y]))
        np.maximum.at(hi, ext_owner, np.column_stack([hi_x, hi_y]))
        found = np.zeros(count, dtype=bool)
        found[ext_owner] = True
        boxes[found, :2] = lo[found]
        boxes[found, 2:] = hi[found] - lo[found]
    return areas, boxes
