"""The bounding-box labelling of :mod:`seglab.assist.refine` against the whole-image computation it
replaced (kept here as the reference): bit-identical answers on random masks, clicks, boxes and previous
masks, masks touching the image border included."""

from __future__ import annotations

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from seglab.assist import refine
from seglab.assist.prompts import Prompts
from seglab.core.conventions import ImageSize


def _reference_components_touching(region: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    if not seeds.any() or not region.any():
        return np.zeros_like(region)
    _, labels = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
    hit = np.unique(labels[seeds & region])
    hit = hit[hit > 0]
    return np.isin(labels, hit)


def _reference_fill(mask: np.ndarray, max_area: int) -> np.ndarray:
    if max_area <= 0 or not mask.any():
        return mask
    n, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    if n <= 1:
        return mask
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    small = stats[:, cv2.CC_STAT_AREA] <= max_area
    small[0] = False
    small[border] = False
    return mask | small[labels]


def _reference_finish(
    prompts: Prompts, mask: np.ndarray, *, keep_components: bool, hole_fraction: float
) -> np.ndarray:
    pos = refine._seed_pixels(prompts, True)
    neg = refine._seed_pixels(prompts, False)
    m = mask.astype(bool, copy=True)
    inside = refine.box_mask(prompts)
    if inside is not None:
        m &= inside | pos
    m |= pos
    m &= ~neg
    if keep_components and m.any():
        n, labels, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
        keep = np.zeros(n, dtype=bool)
        if pos.any():
            keep[np.unique(labels[pos & m])] = True
        if prompts.previous is not None:
            keep[np.unique(labels[prompts.previous & m])] = True
        if not pos.any() and prompts.previous is None:
            areas = stats[:, cv2.CC_STAT_AREA].astype(np.int64)
            areas[0] = 0
            keep |= areas >= max(1, areas.max() // 10)
        keep[0] = False
        m = keep[labels]
    if hole_fraction > 0 and m.any():
        m = _reference_fill(m, int(m.sum() * hole_fraction))
        m &= ~neg
    return m


def _blobs(seed: int, h: int, w: int, density: float) -> np.ndarray:
    """Random blobby mask with pieces, holes and pinholes (a thresholded smoothed noise)."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.5)
    return noise > np.quantile(noise, 1.0 - density)


def _points(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    return np.column_stack([rng.uniform(0, w, n), rng.uniform(0, h, n)]) if n else np.zeros((0, 2))


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    h=st.integers(2, 40),
    w=st.integers(2, 40),
    density=st.floats(0.0, 1.0),
    n_pos=st.integers(0, 3),
    n_neg=st.integers(0, 3),
    with_previous=st.booleans(),
    with_box=st.booleans(),
    keep_components=st.booleans(),
    hole_fraction=st.sampled_from([0.0, 0.01, 0.1, 0.5]),
)
def test_finish_equals_whole_image_labelling(
    seed: int,
    h: int,
    w: int,
    density: float,
    n_pos: int,
    n_neg: int,
    with_previous: bool,
    with_box: bool,
    keep_components: bool,
    hole_fraction: float,
) -> None:
    rng = np.random.default_rng(seed)
    mask = _blobs(seed, h, w, density)
    box = None
    if with_box:
        x0, y0 = rng.uniform(0, w - 1), rng.uniform(0, h - 1)
        box = (x0, y0, rng.uniform(x0 + 1, w), rng.uniform(y0 + 1, h))
    prompts = Prompts.build(
        ImageSize(w, h),
        positives=_points(rng, n_pos, h, w),
        negatives=_points(rng, n_neg, h, w),
        box=box,
        scribbles_pos=[_points(rng, 3, h, w)] if rng.random() < 0.3 else [],
        previous=_blobs(seed + 1, h, w, 0.3) if with_previous else None,
    )
    got = refine.finish(prompts, mask, keep_components=keep_components, hole_fraction=hole_fraction)
    want = _reference_finish(prompts, mask, keep_components=keep_components, hole_fraction=hole_fraction)
    assert got.dtype == bool and got.shape == (h, w)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    h=st.integers(2, 40),
    w=st.integers(2, 40),
    density=st.floats(0.0, 1.0),
    max_area=st.integers(0, 400),
    n_seeds=st.integers(0, 4),
)
def test_holes_and_touching_components_equal_whole_image(
    seed: int, h: int, w: int, density: float, max_area: int, n_seeds: int
) -> None:
    mask = _blobs(seed, h, w, density)
    np.testing.assert_array_equal(refine.fill_small_holes(mask, max_area), _reference_fill(mask, max_area))
    rng = np.random.default_rng(seed)
    seeds = np.zeros((h, w), dtype=bool)
    seeds[rng.integers(0, h, n_seeds), rng.integers(0, w, n_seeds)] = True
    np.testing.assert_array_equal(
        refine._components_touching(mask, seeds), _reference_components_touching(mask, seeds)
    )


def test_hole_next_to_the_bounding_box_edge() -> None:
    """A ring whose hole is one pixel from the box edge, and a notch open to the outside (not a hole)."""
    mask = np.zeros((12, 12), dtype=bool)
    mask[3:8, 3:8] = True
    mask[4, 4] = False  # a hole
    mask[5, 3] = False  # a notch at the box edge: open to the outside
    out = refine.fill_small_holes(mask, 5)
    assert out[4, 4] and not out[5, 3]
    np.testing.assert_array_equal(out, _reference_fill(mask, 5))


def _reference_zone(
    prompts: Prompts,
    pos: np.ndarray,
    neg: np.ndarray,
    reach: float,
    far_reach: float | None = None,
    far_from: float = 8.0,
) -> np.ndarray:
    prev = prompts.previous
    assert prev is not None
    zone = np.zeros(prev.shape, dtype=np.uint8)
    for clicks, region in ((pos, ~prev), (neg, prev)):
        if not clicks.any():
            continue
        dist = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 3)
        for r, c in zip(*np.nonzero(clicks), strict=True):
            d = float(dist[r, c])
            factor = far_reach if far_reach is not None and d >= far_from else reach
            radius = int(np.ceil(factor * max(d, 2.0)))
            cv2.circle(zone, (int(c), int(r)), radius, 1, thickness=-1)
    return zone.astype(bool)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    h=st.integers(2, 60),
    w=st.integers(2, 60),
    density=st.floats(0.0, 1.0),
    n_pos=st.integers(0, 4),
    n_neg=st.integers(0, 4),
    reach=st.sampled_from([0.5, 1.0, 3.0]),
    far=st.sampled_from([(None, 8.0), (6.0, 2.0), (10.0, 3.0)]),
)
def test_correction_zone_and_local_update_equal_whole_image(
    seed: int,
    h: int,
    w: int,
    density: float,
    n_pos: int,
    n_neg: int,
    reach: float,
    far: tuple[float | None, float],
) -> None:
    """Distances measured on the box of the previous mask and the clicks, as on the whole image; clicks
    deep inside a wrong region (``far_from`` pixels or more) reach ``far_reach`` times their depth."""
    far_reach, far_from = far
    rng = np.random.default_rng(seed)
    prompts = Prompts.build(
        ImageSize(w, h),
        positives=_points(rng, n_pos, h, w),
        negatives=_points(rng, n_neg, h, w),
        previous=_blobs(seed, h, w, density),
    )
    pos, neg = refine.new_clicks(prompts)
    candidate = _blobs(seed + 7, h, w, 0.5)
    assert prompts.previous is not None
    want = candidate
    if prompts.previous.any():  # (an empty previous mask never gets a zone: no boundary to measure to)
        allowed = _reference_zone(prompts, pos, neg, reach, far_reach, far_from)
        np.testing.assert_array_equal(
            refine.correction_zone(prompts, pos, neg, reach, far_reach, far_from), allowed
        )
        want = prompts.previous.copy()
        if pos.any() or neg.any():
            added = _reference_components_touching(candidate & ~prompts.previous & allowed, pos)
            removed = _reference_components_touching(prompts.previous & ~candidate & allowed, neg)
            want = (prompts.previous | added) & ~removed
    np.testing.assert_array_equal(
        refine.local_update(prompts, candidate, reach=reach, far_reach=far_reach, far_from=far_from), want
    )
