"""The fast paths of the superpixel graph give what the plain computations give, bit for bit."""

from __future__ import annotations

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from seglab.assist import AssistSession
from seglab.assist.superpixels import (
    _LUT_STEP,
    PALETTE_SIZE,
    _edges,
    build_graph,
    lab_image,
    nearest_centre,
    palette_indices,
    session_graph,
)
from tests.assist.scenes import make_scene


def _full_table_nearest(lab: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The lookup over all 64^3 cells, as it was before only the occupied cells were filled."""
    cells = 256 // _LUT_STEP
    mids = (np.arange(cells, dtype=np.float32) + 0.5) * _LUT_STEP
    grid = np.stack(np.meshgrid(mids, mids, mids, indexing="ij"), axis=-1).reshape(-1, 3)
    c = np.asarray(centres, dtype=np.float32)
    lut = np.argmin(grid @ (-2.0 * c.T) + (c**2).sum(1)[None, :], axis=1).astype(np.uint8)
    q = (np.asarray(lab, dtype=np.uint8) // _LUT_STEP).astype(np.intp)
    return lut[(q[..., 0] * cells + q[..., 1]) * cells + q[..., 2]]


def _edges_by_loop(labels: np.ndarray) -> dict[tuple[int, int], int]:
    shared: dict[tuple[int, int], int] = {}
    h, w = labels.shape
    for r in range(h):
        for c in range(w):
            for r2, c2 in ((r, c + 1), (r + 1, c)):
                if r2 < h and c2 < w and labels[r, c] != labels[r2, c2]:
                    a, b = sorted((int(labels[r, c]), int(labels[r2, c2])))
                    shared[(a, b)] = shared.get((a, b), 0) + 1
    return shared


@settings(max_examples=30, deadline=None)
@given(
    lab=arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12), st.just(3))),
    seed=st.integers(0, 2**16),
    k=st.integers(1, PALETTE_SIZE),
)
def test_nearest_centre_equals_the_full_lookup_table(lab: np.ndarray, seed: int, k: int) -> None:
    centres = np.random.default_rng(seed).uniform(0, 255, (k, 3)).astype(np.float32)
    got = nearest_centre(lab, centres)
    assert got.dtype == np.uint8 and got.shape == lab.shape[:2]
    assert np.array_equal(got, _full_table_nearest(lab, centres))


def test_nearest_centre_on_a_real_image_and_palette_equals_the_full_lookup_table() -> None:
    lab = lab_image(make_scene(4, 320, 240).image)
    flat = lab.reshape(-1, 3).astype(np.float32)
    cv2.setRNGSeed(0)
    _, _, centres = cv2.kmeans(flat[::7].copy(), 32, None, (3, 10, 1.0), 1, cv2.KMEANS_PP_CENTERS)
    assert np.array_equal(nearest_centre(lab, centres), _full_table_nearest(lab, centres))


def test_palette_of_few_colours_has_as_many_entries() -> None:
    img = np.zeros((40, 60, 3), np.uint8)
    img[:, 20:40] = (200, 30, 30)
    img[:, 40:] = (30, 200, 30)
    q = palette_indices(lab_image(img))
    assert len(np.unique(q)) == 3
    assert (palette_indices(lab_image(np.full((8, 8, 3), 77, np.uint8))) == 0).all()


@settings(max_examples=40, deadline=None)
@given(
    labels=arrays(np.int32, st.tuples(st.integers(1, 9), st.integers(1, 9)), elements=st.integers(0, 5)),
    offset=st.sampled_from([0, 50_000]),  # 50 000 ids: pair codes no longer fit int32
)
def test_edges_equal_a_pixel_loop(labels: np.ndarray, offset: int) -> None:
    labels = labels + np.int32(offset) * (labels > 0)
    edges, length = _edges(labels)
    expected = _edges_by_loop(labels)
    assert edges.dtype == np.int64 and length.dtype == np.float64
    assert {(int(a), int(b)): int(n) for (a, b), n in zip(edges, length, strict=True)} == expected
    assert [tuple(e) for e in edges.tolist()] == sorted(expected)


def test_session_graph_equals_the_sequential_build() -> None:
    """The session computes SLIC and the palette side by side; the graph must not notice."""
    img = make_scene(6, 300, 220).image
    s = AssistSession(img)
    threaded = session_graph(s)
    plain = build_graph(s.work_image)
    for name in (
        "labels",
        "area",
        "lab",
        "hist",
        "context",
        "centroid",
        "border",
        "edges",
        "edge_length",
        "palette_index",
    ):
        assert np.array_equal(getattr(threaded, name), getattr(plain, name)), name
    assert s.counts["palette"] == 1 and s.counts["superpixels:slic"] == 1 and s.counts["lab"] == 1


def test_session_graph_leaves_the_callers_opencv_rng_as_the_palette_does() -> None:
    """GrabCut after the graph draws from the calling thread's OpenCV RNG, which the palette's k-means
    seeds and advances: that must happen in the calling thread, or first clicks change."""
    img = make_scene(8, 300, 220).image
    session = AssistSession(img)
    palette_indices(lab_image(session.work_image))
    expected = cv2.randu(np.zeros(8, np.float64), 0.0, 1.0)
    cv2.setRNGSeed(12345)
    session_graph(AssistSession(img))
    assert np.array_equal(cv2.randu(np.zeros(8, np.float64), 0.0, 1.0), expected)
