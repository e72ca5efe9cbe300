"""Mask <-> polygon <-> RLE exactness, and polygon rasterization identical to pycocotools."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pycocotools import mask as coco_mask

from seglab.core import Box, Mask, Polygon
from seglab.core.raster import mask_to_polygon, polygon_to_mask, simplify

masks = st.integers(1, 24).flatmap(lambda h: st.integers(1, 24).flatmap(lambda w: arrays(np.bool_, (h, w))))


@given(masks)
def test_mask_polygon_mask_is_bit_exact(mask: np.ndarray) -> None:
    polygon = mask_to_polygon(mask)
    back = polygon_to_mask(polygon, mask.shape[1], mask.shape[0])
    assert np.array_equal(back.array, mask)


@given(masks)
def test_mask_rle_roundtrip(mask: np.ndarray) -> None:
    m = Mask.from_array(mask)
    again = Mask.from_rle(m.rle_json())
    assert np.array_equal(again.array, mask)
    assert again.area == int(mask.sum())
    uncompressed = Mask.from_rle({"size": list(mask.shape), "counts": m.uncompressed_counts()})
    assert uncompressed == m


def test_holes_survive_and_are_rings() -> None:
    mask = np.zeros((20, 20), bool)
    mask[2:18, 2:18] = True
    mask[6:10, 6:10] = False
    mask[12:15, 12:15] = False
    polygon = mask_to_polygon(mask)
    assert len(polygon.parts) == 1 and len(polygon.parts[0].holes) == 2
    assert polygon.area == mask.sum()
    assert np.array_equal(polygon_to_mask(polygon, 20, 20).array, mask)


def test_pixel_edge_coordinates_follow_the_convention() -> None:
    mask = np.zeros((4, 5), bool)
    mask[1, 2] = True  # row 1, column 2 covers [2, 3) x [1, 2)
    polygon = mask_to_polygon(mask)
    assert polygon.bounds() == Box(2.0, 1.0, 3.0, 2.0)


@given(
    st.lists(
        st.tuples(st.floats(0, 40, allow_nan=False), st.floats(0, 30, allow_nan=False)),
        min_size=3,
        max_size=12,
    )
)
def test_polygon_raster_equals_pycocotools(points: list[tuple[float, float]]) -> None:
    flat = [v for p in points for v in p]
    ours = polygon_to_mask(Polygon.from_flat([flat]), 40, 30).array
    theirs = coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects([flat], 30, 40))).astype(bool)
    assert np.array_equal(ours, theirs)


def test_simplify_needs_an_explicit_tolerance() -> None:
    yy, xx = np.mgrid[:100, :100]
    disc = (xx - 50) ** 2 + (yy - 50) ** 2 < 40**2
    exact = mask_to_polygon(disc)
    assert simplify(exact, 0.0) == exact
    coarse = mask_to_polygon(disc, tolerance=1.0)
    assert coarse.vertex_count < exact.vertex_count
    iou = Mask.from_array(disc).iou(polygon_to_mask(coarse, 100, 100))
    assert iou > 0.98
