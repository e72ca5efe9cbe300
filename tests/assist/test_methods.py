"""Unit behaviour of the magic wand, superpixel selection, seeded GrabCut and the graph cut solver."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seglab.assist import AssistSession, segment
from seglab.assist.graphcut import min_cut
from seglab.assist.noc import iou
from seglab.assist.superpixels import _LUT_STEP, build_graph, lab_image, nearest_centre, session_graph
from tests.assist.scenes import make_scene


def _two_squares() -> np.ndarray:
    """Grey background, a red square at rows/cols 10..29 and a slightly darker red one at 40..59."""
    img = np.full((80, 80, 3), 128, dtype=np.uint8)
    img[10:30, 10:30] = (200, 30, 30)
    img[40:60, 40:60] = (180, 30, 30)
    return img


# ---- magic wand ----------------------------------------------------------------------------------------


def test_wand_fills_the_clicked_colour_region_only() -> None:
    img = _two_squares()
    out = segment(img, positives=[(15.5, 15.5)], method="wand", wand_tolerance=10)
    expected = np.zeros((80, 80), bool)
    expected[10:30, 10:30] = True
    assert np.array_equal(out, expected)


def test_wand_tolerance_is_per_channel_from_the_seed_colour() -> None:
    img = _two_squares()
    img[29, 10:30] = (200, 30, 45)  # within 20 of the seed, beyond 10
    small = segment(img, positives=[(15.5, 15.5)], method="wand", wand_tolerance=10)
    large = segment(img, positives=[(15.5, 15.5)], method="wand", wand_tolerance=20)
    assert not small[29].any() and large[29, 10:30].all()


def test_wand_negative_click_removes_its_fill_and_box_limits() -> None:
    img = _two_squares()
    both = segment(img, positives=[(15.5, 15.5), (45.5, 45.5)], method="wand", wand_tolerance=10)
    assert both.sum() == 800
    fewer = segment(img, negatives=[(45.5, 45.5)], previous=both, method="wand", wand_tolerance=10)
    assert fewer.sum() == 400 and fewer[15, 15]
    boxed = segment(img, positives=[(15.5, 15.5)], box=(0, 0, 20, 80), method="wand", wand_tolerance=10)
    assert boxed.sum() == 20 * 10 and not boxed[:, 20:].any()


def test_wand_scribble_seeds_every_pixel_it_crosses() -> None:
    img = _two_squares()
    out = segment(img, scribbles_pos=[[(15.5, 15.5), (50.5, 50.5)]], method="wand", wand_tolerance=10)
    assert out[10:30, 10:30].all() and out[40:60, 40:60].all() and out[0, 0] == bool(out[35, 35])


# ---- superpixels ---------------------------------------------------------------------------------------


def test_superpixel_graph_is_consistent() -> None:
    g = build_graph(make_scene(3).image)
    assert g.labels.min() == 0 and g.labels.max() == g.count - 1
    assert g.area.sum() == g.labels.size
    assert np.allclose(g.hist.sum(1), 1, atol=1e-5) and np.allclose(g.context.sum(1), 1, atol=1e-5)
    assert (g.edges[:, 0] < g.edges[:, 1]).all()
    assert len(np.unique(g.edges, axis=0)) == len(g.edges)
    # every horizontally touching pair of different labels is an edge
    a, b = g.labels[:, :-1].ravel(), g.labels[:, 1:].ravel()
    pairs = {(min(x, y), max(x, y)) for x, y in zip(a[a != b].tolist(), b[a != b].tolist(), strict=True)}
    assert pairs <= set(map(tuple, g.edges.tolist()))


def test_palette_lookup_is_within_one_cell_of_the_exact_nearest_centre() -> None:
    lab = lab_image(make_scene(4).image)
    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 255, (32, 3)).astype(np.float32)
    got = nearest_centre(lab, centres)
    x = lab.reshape(-1, 3).astype(np.float64)
    dist = np.linalg.norm(x[:, None, :] - centres[None, :, :], axis=2)  # (P, K)
    exact = dist.argmin(1)
    chosen = dist[np.arange(len(x)), got.ravel()]
    assert (chosen <= dist.min(1) + _LUT_STEP * np.sqrt(3) + 1e-6).all()
    assert (got.ravel() == exact).mean() > 0.95


def test_felzenszwalb_graph() -> None:
    g = build_graph(make_scene(3).image, algorithm="felzenszwalb")
    assert g.count > 20 and g.area.sum() == g.labels.size
    with pytest.raises(ValueError, match="unknown superpixel algorithm"):
        build_graph(make_scene(3).image, algorithm="watershed")  # type: ignore[arg-type]


def test_superpixel_selection_grows_and_shrinks() -> None:
    img = _two_squares()
    s = AssistSession(img)
    one = segment(img, positives=[(15.5, 15.5)], method="superpixels", session=s)
    square = np.zeros((80, 80), bool)
    square[10:30, 10:30] = True
    assert iou(one, square) > 0.9
    both = segment(img, positives=[(15.5, 15.5), (50.5, 50.5)], previous=one, method="superpixels", session=s)
    assert both[45, 45] and both[15, 15]
    back = segment(img, positives=[(15.5, 15.5)], negatives=[(50.5, 50.5)], previous=both,
                   method="superpixels", session=s)
    assert iou(back, square) > 0.9
    assert s.counts["superpixels:slic"] == 1


# ---- GrabCut -------------------------------------------------------------------------------------------


def test_grabcut_from_a_box_finds_the_object() -> None:
    scene = make_scene(5)
    ys, xs = np.nonzero(scene.mask)
    box = (xs.min() - 3.0, ys.min() - 3.0, xs.max() + 4.0, ys.max() + 4.0)
    out = segment(scene.image, box=box, method="grabcut")
    assert iou(out, scene.mask) > 0.85
    x0, y0, _, _ = box
    assert not out[:, : int(x0)].any() and not out[: int(y0)].any()


def test_grabcut_respects_clicks() -> None:
    scene = make_scene(5)
    ys, xs = np.nonzero(scene.mask)
    pos = (xs[0] + 0.5, ys[0] + 0.5)
    neg = (xs[len(xs) // 2] + 0.5, ys[len(ys) // 2] + 0.5)
    out = segment(scene.image, positives=[pos], negatives=[neg], method="grabcut")
    assert out[int(pos[1]), int(pos[0])] and not out[int(neg[1]), int(neg[0])]


# ---- graph cut -----------------------------------------------------------------------------------------


@settings(max_examples=25)
@given(st.integers(2, 7), st.integers(0, 10_000))
def test_min_cut_matches_brute_force(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cost_fg, cost_bg = rng.random(n) * 5, rng.random(n) * 5
    edges = np.array([(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.6]).reshape(-1, 2)
    weights = rng.random(len(edges)) * 3

    def energy(x: np.ndarray) -> float:
        cut = x[edges[:, 0]] != x[edges[:, 1]] if len(edges) else np.zeros(0, bool)
        return float(np.where(x, cost_fg, cost_bg).sum() + weights[cut].sum())

    best = min(energy(np.array(bits, bool)) for bits in itertools.product([0, 1], repeat=n))
    got = min_cut(cost_fg, cost_bg, edges, weights)
    assert energy(got) <= best + 1e-3 * (1 + best)


def test_min_cut_hard_constraints_win() -> None:
    got = min_cut(np.zeros(3), np.full(3, 10.0), np.array([[0, 1], [1, 2]]), np.array([1.0, 1.0]),
                  hard_bg=np.array([False, True, False]))
    assert got.tolist() == [True, False, True]


def test_session_graph_is_cached() -> None:
    s = AssistSession(make_scene(1).image)
    assert session_graph(s) is session_graph(s)
    assert s.counts["superpixels:slic"] == 1 and s.counts["palette"] == 1
