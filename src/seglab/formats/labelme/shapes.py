"""LabelMe vector shapes <-> seglab shapes: points parsing, the canonical form the writer uses, and the
check that a shape kept from the source still gives exactly the annotation's geometry."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from seglab.core.annotation import ShapeValue
from seglab.core.geometry import Box, Keypoints, Polygon, Polyline
from seglab.formats.labelme.constants import CIRCLE_VERTICES

MIN_POINTS = {"polygon": 3, "linestrip": 2, "points": 1}
EXACT_POINTS = {"rectangle": 2, "circle": 2, "line": 2, "point": 1, "mask": 2, "oriented_rectangle": 4}


def parse_points(raw: object) -> np.ndarray:
    """``[[x, y], ...]`` as a finite float ``(N, 2)`` array, or ValueError saying what is wrong."""
    if not isinstance(raw, list) or not raw:
        raise ValueError("points must be a non-empty list of [x, y] pairs")
    for p in raw:
        if (
            not isinstance(p, list)
            or len(p) != 2
            or any(isinstance(v, bool) or not isinstance(v, int | float) for v in p)
        ):
            raise ValueError(f"points must be [x, y] number pairs, found {str(p)[:40]}")
    try:
        arr = np.array(raw, dtype=np.float64)
    except OverflowError:
        raise ValueError("points hold a number too large for a float") from None
    if not np.isfinite(arr).all():
        raise ValueError("points contain NaN or infinity")
    return arr


def check_count(shape_type: str, n: int) -> None:
    """ValueError when a shape of ``shape_type`` cannot have ``n`` points."""
    if shape_type in EXACT_POINTS and n != EXACT_POINTS[shape_type]:
        raise ValueError(f"{shape_type} has {n} points, needs exactly {EXACT_POINTS[shape_type]}")
    if shape_type in MIN_POINTS and n < MIN_POINTS[shape_type]:
        raise ValueError(f"{shape_type} has {n} points, needs at least {MIN_POINTS[shape_type]}")


def circle_polygon(points: np.ndarray) -> Polygon:
    """The circle through ``points[1]`` about ``points[0]`` as a polygon starting at ``points[1]``."""
    centre, rim = points[0], points[1]
    radius = float(np.hypot(*(rim - centre)))
    start = math.atan2(rim[1] - centre[1], rim[0] - centre[0])
    angles = start + np.arange(CIRCLE_VERTICES) * (2.0 * math.pi / CIRCLE_VERTICES)  # (V,)
    return Polygon.from_rings(centre + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1))


def shape_from_points(shape_type: str, points: np.ndarray) -> ShapeValue:
    """The seglab shape of a LabelMe vector shape (not ``mask``); ValueError when it is not valid."""
    check_count(shape_type, len(points))
    if shape_type == "polygon":
        return Polygon.from_rings(points)
    if shape_type == "rectangle":
        lo, hi = points.min(axis=0), points.max(axis=0)
        return Box(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
    if shape_type == "oriented_rectangle":
        box = Box.from_corners(points)
        corners = box.corners()
        scale = max(1.0, float(np.abs(points).max()))
        if np.allclose(corners, points, rtol=0.0, atol=1e-9 * scale):
            return box
        return Polygon.from_rings(points)  # a general quadrilateral: keep it exactly as drawn
    if shape_type == "circle":
        if np.array_equal(points[0], points[1]):
            raise ValueError("circle has zero radius")
        return circle_polygon(points)
    if shape_type in ("line", "linestrip"):
        return Polyline(points)
    if shape_type in ("point", "points"):
        return Keypoints(np.concatenate([points, np.full((len(points), 1), 2.0)], axis=1))
    raise ValueError(f"unknown shape_type {shape_type!r}")


def canonical_points(shape: ShapeValue) -> tuple[str, np.ndarray] | None:
    """What the writer writes for a vector shape by default; None when LabelMe cannot hold it as one shape."""
    if isinstance(shape, Box):
        if shape.rotation != 0.0:
            return None
        return "rectangle", np.array([[shape.x_min, shape.y_min], [shape.x_max, shape.y_max]])
    if isinstance(shape, Polygon):
        if len(shape.parts) != 1 or shape.has_holes or len(shape.parts[0].exterior) < 3:
            return None
        return "polygon", shape.parts[0].exterior
    if isinstance(shape, Polyline):
        return ("linestrip", shape.points) if len(shape.points) >= 2 else None
    if isinstance(shape, Keypoints):
        if len(shape.points) == 0 or not np.all(shape.points[:, 2] == 2):
            return None
        pts = shape.points[:, :2]
        return ("point" if len(pts) == 1 else "points"), pts
    return None


def same_points(a: np.ndarray, raw: object) -> bool:
    """Whether the source's raw points are exactly ``a`` (same count, same numbers)."""
    try:
        b = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return False
    return a.shape == b.shape and bool(np.array_equal(a, b))


def restore_points(
    shape: ShapeValue, extra: Mapping[str, Any], canonical: tuple[str, np.ndarray] | None
) -> tuple[str, Any] | None:
    """The source's shape_type and points, when they still give exactly this geometry."""
    stored_type, stored_points = extra.get("labelme_shape"), extra.get("labelme_points")
    if stored_type is None and stored_points is None:
        return None
    shape_type = stored_type if stored_type is not None else (canonical[0] if canonical else None)
    points = stored_points if stored_points is not None else (canonical[1].tolist() if canonical else None)
    if not isinstance(shape_type, str) or points is None:
        return None
    try:
        same = shape_from_points(shape_type, parse_points(points)) == shape
    except ValueError:
        return None
    return (shape_type, points) if same else None
