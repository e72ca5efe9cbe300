"""Exact conversions between vector shapes and pixel masks.

Polygon -> mask is pycocotools' rasterization (``frPyObjects`` + merge), because that is what every COCO
evaluation uses: a part is its exterior minus its holes, parts are united.

Mask -> polygon traces the pixel-edge boundary (vertices on pixel corners, 4-connected parts, holes as
their own rings; GDAL's polygonize through rasterio, collinear vertices dropped). The two are exact
inverses: ``polygon_to_mask(mask_to_polygon(m)) == m`` bit for bit. Simplification only happens when the
caller passes a tolerance, never implicitly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from affine import Affine
from pycocotools import mask as coco_mask
from rasterio.features import shapes as polygonize

from seglab.core.conventions import ImageSize
from seglab.core.geometry import Box, Keypoints, Polygon, PolygonPart, Polyline
from seglab.core.mask import Mask

if TYPE_CHECKING:
    from seglab.core.geometry import Shape


def _rings_rle(rings: list[np.ndarray], size: ImageSize) -> dict:
    """Union of rings rasterized by pycocotools, as one compressed RLE."""
    flat = [np.asarray(r, dtype=np.float64).ravel().tolist() for r in rings]
    rles = coco_mask.frPyObjects(flat, size.height, size.width)
    return coco_mask.merge(rles, intersect=False) if len(rles) > 1 else rles[0]


def _part_rle(part: PolygonPart, size: ImageSize) -> dict:
    exterior = _rings_rle([part.exterior], size)
    if not part.holes:
        return exterior
    holes = _rings_rle(list(part.holes), size)
    hole_arr = coco_mask.decode(holes).astype(bool)
    ext_arr = coco_mask.decode(exterior).astype(bool)
    return coco_mask.encode(np.asfortranarray((ext_arr & ~hole_arr).astype(np.uint8)))


def polygon_to_mask(polygon: Polygon, width: int, height: int) -> Mask:
    """Rasterize like pycocotools: each part's exterior minus its holes, parts united."""
    size = ImageSize(width, height)
    parts = [p for p in polygon.parts if len(p.exterior) >= 3]
    if not parts:
        return Mask.empty(size)
    if not polygon.has_holes:
        return Mask.from_rle(_rings_rle([p.exterior for p in parts], size))
    rles = [_part_rle(p, size) for p in parts]
    return Mask.from_rle(coco_mask.merge(rles, intersect=False) if len(rles) > 1 else rles[0])


def box_to_mask(box: Box, width: int, height: int) -> Mask:
    """Rasterize a box like pycocotools rasterizes a polygon through its corners."""
    return polygon_to_mask(box.to_polygon(), width, height)


def mask_to_polygon(mask: Mask | np.ndarray, tolerance: float = 0.0) -> Polygon:
    """Trace the exact pixel-edge outline of a mask, holes included.

    ``tolerance`` > 0 simplifies every ring (Douglas-Peucker in pixels, topology preserved); the result is
    then no longer exact, which is why it must be asked for.
    """
    arr = mask.array if isinstance(mask, Mask) else np.asarray(mask, dtype=bool)
    if not arr.any():
        return Polygon(())
    parts: list[PolygonPart] = []
    for geom, _value in polygonize(
        arr.astype(np.uint8), mask=arr, connectivity=4, transform=Affine.identity()
    ):
        rings = [np.asarray(r, dtype=np.float64) for r in geom["coordinates"]]
        parts.append(PolygonPart(rings[0], tuple(rings[1:])))
    # polygonize's order follows its scan; sort parts top-to-bottom, left-to-right so output is stable.
    parts.sort(key=lambda p: (float(p.exterior[:, 1].min()), float(p.exterior[:, 0].min())))
    polygon = Polygon(tuple(parts))
    if tolerance > 0:
        return simplify(polygon, tolerance)
    return polygon


def simplify(polygon: Polygon, tolerance: float) -> Polygon:
    """Douglas-Peucker simplification of every ring, topology preserved, with an explicit tolerance."""
    if tolerance <= 0:
        return polygon
    simplified = polygon.to_shapely().simplify(tolerance, preserve_topology=True)
    return Polygon.from_shapely(simplified)


def _stroke_mask(points: np.ndarray, size: ImageSize, thickness: float) -> Mask:
    import shapely.geometry as sg

    geom = sg.LineString(points).buffer(thickness / 2.0, cap_style="flat")
    return polygon_to_mask(Polygon.from_shapely(geom), size.width, size.height)


def shape_to_mask(shape: Shape, size: ImageSize, *, line_thickness: float = 1.0) -> Mask:
    """The pixels a shape covers: boxes and polygons rasterized like COCO; polylines as strokes.

    Keypoints cover no area and give an empty mask.
    """
    if isinstance(shape, Mask):
        if shape.size != size:
            raise ValueError(f"mask of size {tuple(shape.size)} does not fit image size {tuple(size)}")
        return shape
    if isinstance(shape, Polygon):
        return polygon_to_mask(shape, size.width, size.height)
    if isinstance(shape, Box):
        return box_to_mask(shape, size.width, size.height)
    if isinstance(shape, Polyline):
        if len(shape.points) < 2:
            return Mask.empty(size)
        return _stroke_mask(shape.points, size, line_thickness)
    if isinstance(shape, Keypoints):
        return Mask.empty(size)
    raise TypeError(f"cannot rasterize {type(shape).__name__}")
