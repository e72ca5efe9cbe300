"""Frozen vector shapes: Box, Polygon (parts with holes), Polyline and Keypoints.

All coordinates follow :mod:`seglab.core.conventions` (continuous pixels, origin at the top-left corner,
y down). Coordinate arrays are float64, read-only and never rounded. Shapes are values: every edit returns
a new object, and two shapes are equal when their coordinates are equal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Union

import numpy as np
import shapely
import shapely.geometry as sg

from seglab.core.ontology import ShapeType

if TYPE_CHECKING:
    from seglab.core.mask import Mask


def frozen_array(values: object, columns: int) -> np.ndarray:
    """A read-only float64 ``(N, columns)`` copy of ``values``."""
    arr = np.array(values, dtype=np.float64).reshape(-1, columns)
    arr.setflags(write=False)
    return arr


def all_finite(values: np.ndarray) -> bool:
    """No NaN or infinity in ``values``.

    ``count_nonzero`` of ``isfinite`` costs about half of ``isfinite().all()`` (whose Python-level
    wrapper dominates on short arrays) on the point lists of polygon rings, which a save of thousands of
    objects checks several times; unlike arithmetic tricks it raises no floating-point warnings.
    """
    return int(np.count_nonzero(np.isfinite(values))) == values.size


def _arrays_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box ``x_min, y_min, x_max, y_max``, optionally rotated.

    ``rotation`` is in degrees, clockwise on screen (y down), about the box centre, as in CVAT and
    Ultralytics' oriented boxes. A box [0, 0, 1, 1] covers exactly the first pixel.
    """

    x_min: float
    y_min: float
    x_max: float
    y_max: float
    rotation: float = 0.0

    kind: ClassVar[ShapeType] = ShapeType.BOX

    @classmethod
    def from_xywh(cls, x: float, y: float, w: float, h: float, rotation: float = 0.0) -> Box:
        return cls(float(x), float(y), float(x) + float(w), float(y) + float(h), float(rotation))

    @classmethod
    def from_cxcywh(cls, cx: float, cy: float, w: float, h: float, rotation: float = 0.0) -> Box:
        return cls(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0, float(rotation))

    @classmethod
    def from_corners(cls, corners: Sequence[Sequence[float]] | np.ndarray) -> Box:
        """The rotated box through four corners given in order (Ultralytics OBB / DOTA layout).

        The first edge (corner 0 -> 1) gives the width direction; the rotation is its angle.
        """
        c = np.asarray(corners, dtype=np.float64).reshape(4, 2)
        centre = c.mean(axis=0)
        edge_w = c[1] - c[0]
        edge_h = c[2] - c[1]
        width = float(np.hypot(*edge_w))
        height = float(np.hypot(*edge_h))
        rotation = math.degrees(math.atan2(edge_w[1], edge_w[0]))
        return cls.from_cxcywh(float(centre[0]), float(centre[1]), width, height, rotation)

    @property
    def width(self) -> float:
        return self.x_max - self.x_min

    @property
    def height(self) -> float:
        return self.y_max - self.y_min

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.x_min + self.x_max) / 2.0, (self.y_min + self.y_max) / 2.0)

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def xywh(self) -> tuple[float, float, float, float]:
        return (self.x_min, self.y_min, self.width, self.height)

    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x_min, self.y_min, self.x_max, self.y_max)

    def corners(self) -> np.ndarray:
        """The four corners ``(4, 2)``: top-left, top-right, bottom-right, bottom-left before rotation."""
        cx, cy = self.centre
        hw, hh = self.width / 2.0, self.height / 2.0
        local = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])  # (4, 2)
        theta = math.radians(self.rotation)
        rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
        return local @ rot.T + np.array([cx, cy])

    def bounds(self) -> Box:
        """The axis-aligned box that encloses this (possibly rotated) box."""
        if self.rotation == 0.0:
            return self
        c = self.corners()
        lo, hi = c.min(axis=0), c.max(axis=0)
        return Box(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))

    def to_polygon(self) -> Polygon:
        return Polygon.from_rings(self.corners())

    def coordinates(self) -> np.ndarray:
        return np.array([self.x_min, self.y_min, self.x_max, self.y_max], dtype=np.float64)


@dataclass(frozen=True, eq=False, slots=True)
class PolygonPart:
    """One connected part of a polygon: an exterior ring and zero or more holes, each ``(N, 2)``.

    Rings are stored open (the first vertex is not repeated at the end).
    """

    exterior: np.ndarray
    holes: tuple[np.ndarray, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "exterior", _open_ring(self.exterior))
        object.__setattr__(self, "holes", tuple(_open_ring(h) for h in self.holes))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PolygonPart):
            return NotImplemented
        return (
            _arrays_equal(self.exterior, other.exterior)
            and len(self.holes) == len(other.holes)
            and all(_arrays_equal(a, b) for a, b in zip(self.holes, other.holes, strict=True))
        )

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def trusted(cls, exterior: np.ndarray, holes: tuple[np.ndarray, ...] = ()) -> PolygonPart:
        """A part from rings the caller has already checked: float64 ``(N, 2)``, open, read-only.

        Skips the copy and the closing-vertex test of the normal constructor, which dominate the cost of
        reading a file of 100,000 polygons; readers that validate their rings in bulk use it.
        """
        part = object.__new__(cls)
        object.__setattr__(part, "exterior", exterior)
        object.__setattr__(part, "holes", holes)
        return part

    def to_shapely(self) -> sg.Polygon:
        return sg.Polygon(self.exterior, [h for h in self.holes])


def _open_ring(ring: object) -> np.ndarray:
    arr = np.array(ring, dtype=np.float64).reshape(-1, 2)
    if len(arr) > 1 and np.array_equal(arr[0], arr[-1]):
        arr = arr[:-1]
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False, slots=True)
class Polygon:
    """A polygon of one or more parts, each with an exterior ring and holes.

    COCO's list of flat coordinate lists maps to several parts without holes; a mask traced by
    :func:`seglab.core.raster.mask_to_polygon` gives parts with holes.
    """

    parts: tuple[PolygonPart, ...]

    kind: ClassVar[ShapeType] = ShapeType.POLYGON

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))

    @classmethod
    def from_rings(cls, exterior: object, holes: Iterable[object] = ()) -> Polygon:
        """A single-part polygon."""
        return cls(
            (PolygonPart(np.asarray(exterior, dtype=np.float64), tuple(np.asarray(h) for h in holes)),)
        )

    @classmethod
    def from_flat(cls, rings: Iterable[Sequence[float]]) -> Polygon:
        """Parts without holes from flat ``[x0, y0, x1, y1, ...]`` lists (COCO, YOLO, LabelMe order)."""
        return cls(tuple(PolygonPart(np.asarray(r, dtype=np.float64).reshape(-1, 2)) for r in rings))

    @classmethod
    def from_shapely(cls, geom: sg.Polygon | sg.MultiPolygon) -> Polygon:
        polys = list(geom.geoms) if isinstance(geom, sg.MultiPolygon) else [geom]
        return cls(
            tuple(
                PolygonPart(np.asarray(p.exterior.coords), tuple(np.asarray(i.coords) for i in p.interiors))
                for p in polys
                if not p.is_empty
            )
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Polygon):
            return NotImplemented
        return len(self.parts) == len(other.parts) and all(
            a == b for a, b in zip(self.parts, other.parts, strict=True)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def has_holes(self) -> bool:
        return any(p.holes for p in self.parts)

    @property
    def vertex_count(self) -> int:
        return sum(len(p.exterior) + sum(len(h) for h in p.holes) for p in self.parts)

    def rings(self) -> list[np.ndarray]:
        """Every ring, exteriors and holes, in order."""
        return [r for p in self.parts for r in (p.exterior, *p.holes)]

    def exteriors_flat(self) -> list[list[float]]:
        """The exterior of each part as a flat coordinate list (COCO layout; holes are not included)."""
        return [p.exterior.ravel().tolist() for p in self.parts]

    def to_shapely(self) -> sg.MultiPolygon | sg.Polygon:
        polys = [p.to_shapely() for p in self.parts]
        return polys[0] if len(polys) == 1 else sg.MultiPolygon(polys)

    @property
    def area(self) -> float:
        """Geometric area (holes subtracted); for the COCO pixel area use the rasterized mask."""
        return float(sum(p.to_shapely().area for p in self.parts))

    def bounds(self) -> Box:
        pts = np.concatenate([p.exterior for p in self.parts]) if self.parts else np.zeros((1, 2))
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        return Box(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))

    def coordinates(self) -> np.ndarray:
        return np.concatenate(self.rings()) if self.parts else np.zeros((0, 2))

    def explain_invalid(self) -> list[str]:
        """Why this polygon is not a valid simple polygon (shapely's reasons); empty when it is valid."""
        reasons: list[str] = []
        for i, part in enumerate(self.parts):
            for j, ring in enumerate((part.exterior, *part.holes)):
                name = f"part {i}" + (f" hole {j - 1}" if j else " exterior")
                if len(ring) < 3:
                    reasons.append(f"{name} has {len(ring)} points, a ring needs at least 3")
                elif not np.isfinite(ring).all():
                    reasons.append(f"{name} has non-finite coordinates")
            if reasons:
                continue
            geom = part.to_shapely()
            if not geom.is_valid:
                reasons.append(f"part {i}: {shapely.is_valid_reason(geom)}")
            elif geom.area == 0:
                reasons.append(f"part {i} has zero area")
        return reasons

    def to_mask(self, width: int, height: int) -> Mask:
        from seglab.core.raster import polygon_to_mask

        return polygon_to_mask(self, width, height)


@dataclass(frozen=True, eq=False, slots=True)
class Polyline:
    """An open chain of points ``(N, 2)``, N >= 2 (lanes, wires, edges)."""

    points: np.ndarray

    kind: ClassVar[ShapeType] = ShapeType.POLYLINE

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", frozen_array(self.points, 2))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Polyline) and _arrays_equal(self.points, other.points)

    __hash__ = None  # type: ignore[assignment]

    @property
    def length(self) -> float:
        return float(np.hypot(*np.diff(self.points, axis=0).T).sum()) if len(self.points) > 1 else 0.0

    def bounds(self) -> Box:
        lo, hi = self.points.min(axis=0), self.points.max(axis=0)
        return Box(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))

    def coordinates(self) -> np.ndarray:
        return self.points


@dataclass(frozen=True, eq=False, slots=True)
class Keypoints:
    """Points ``(N, 3)`` of x, y and COCO visibility v: 0 not labeled, 1 labeled but occluded, 2 visible.

    The point names and edges come from the label class's :class:`~seglab.core.ontology.Skeleton`.
    A point with v = 0 keeps whatever coordinates the source gave (COCO writes 0, 0).
    """

    points: np.ndarray

    kind: ClassVar[ShapeType] = ShapeType.KEYPOINTS

    def __post_init__(self) -> None:
        pts = frozen_array(self.points, 3)
        object.__setattr__(self, "points", pts)

    @classmethod
    def from_flat(cls, values: Sequence[float]) -> Keypoints:
        """From COCO's flat ``[x0, y0, v0, x1, y1, v1, ...]``."""
        return cls(np.asarray(values, dtype=np.float64).reshape(-1, 3))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Keypoints) and _arrays_equal(self.points, other.points)

    __hash__ = None  # type: ignore[assignment]

    @property
    def labeled(self) -> np.ndarray:
        """Boolean ``(N,)``: which points are labeled (v > 0)."""
        return self.points[:, 2] > 0

    @property
    def num_labeled(self) -> int:
        return int(self.labeled.sum())

    def bounds(self) -> Box:
        pts = self.points[self.labeled, :2]
        if len(pts) == 0:
            return Box(0.0, 0.0, 0.0, 0.0)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        return Box(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))

    def flat(self) -> list[float]:
        return self.points.ravel().tolist()

    def coordinates(self) -> np.ndarray:
        return self.points[:, :2]


Shape = Union[Box, Polygon, Polyline, Keypoints, "Mask"]
