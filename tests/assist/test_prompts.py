"""Bad input is refused with a clear ValueError; coordinates follow seglab's pixel convention."""

from __future__ import annotations

import numpy as np
import pytest

from seglab.assist import AssistSession, segment
from seglab.assist.prompts import Prompts, click_pixels, draw_seeds, stroke_pixels
from seglab.core.conventions import ImageSize

IMG = np.zeros((20, 30, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((20, 30, 3), dtype=np.float32), "uint8"),
        (np.zeros((20, 30), dtype=np.uint8), r"\(H, W, 3\)"),
        (np.zeros((20, 30, 4), dtype=np.uint8), r"\(H, W, 3\)"),
        (np.zeros((1, 30, 3), dtype=np.uint8), "at least 2x2"),
        ([[0, 0, 0]], "numpy array"),
    ],
)
def test_bad_image(image: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        segment(image, positives=[(1, 1)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"positives": [(30.0, 5.0)]}, r"positives: point \(30, 5\) is outside the 30x20 image"),
        ({"positives": [(-0.1, 5.0)]}, "outside"),
        ({"negatives": [(3.0, 20.0)]}, r"negatives: point \(3, 20\) is outside"),
        ({"positives": [(np.nan, 1.0)]}, "non-finite"),
        ({"positives": (3.0, 4.0)}, "single point"),
        ({"positives": [(1, 2, 3)]}, "shape"),
        ({"box": (5, 5, 5, 9)}, "empty"),
        ({"box": (1, 2, 3)}, "x_min, y_min"),
        ({"box": (40, 30, 50, 40)}, "less than one pixel"),
        ({"positives": [(1, 1)], "previous": np.zeros((30, 20), bool)}, r"previous mask has shape \(30,"),
        ({"scribbles_pos": [[(1, 1), (31, 1)]]}, r"scribbles_pos\[0\]: point \(31, 1\)"),
        ({"scribbles_neg": np.zeros((3, 2))}, "list of strokes"),
        ({"positives": [(1, 1)], "method": "magic"}, "unknown method 'magic'"),
        ({"positives": [(1, 1)], "method": "wand", "wand_tolerance": -1}, "tolerance"),
    ],
)
def test_bad_prompts(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        segment(IMG, **kwargs)


def test_session_must_hold_the_same_image() -> None:
    with pytest.raises(ValueError, match="session holds an image of shape"):
        segment(IMG, positives=[(1, 1)], session=AssistSession(np.zeros((10, 10, 3), np.uint8)))


def test_no_prompt_gives_an_empty_mask() -> None:
    out = segment(IMG)
    assert out.shape == (20, 30) and out.dtype == bool and not out.any()


def test_click_selects_the_pixel_it_falls_in() -> None:
    rows, cols = click_pixels(np.array([[3.99, 2.0], [0.0, 0.0], [29.999, 19.5]]))
    assert rows.tolist() == [2, 0, 19] and cols.tolist() == [3, 0, 29]


def test_box_is_clipped_to_the_image() -> None:
    p = Prompts.build(ImageSize(30, 20), box=(-5, -5, 10, 50))
    assert p.box == (0.0, 0.0, 10.0, 20.0)


def test_disk_seeds_are_centred_on_the_click() -> None:
    seeds = draw_seeds((40, 40), np.array([[20.5, 10.5]]), (), radius=3)
    ys, xs = np.nonzero(seeds)
    assert (ys.mean(), xs.mean()) == (10.0, 20.0)
    assert seeds[10, 17] and seeds[10, 23] and not seeds[10, 24] and not seeds[10, 16]


def test_stroke_covers_every_pixel_along_it() -> None:
    line = stroke_pixels((20, 30), [np.array([[2.5, 5.5], [25.5, 5.5]])])
    assert line[5, 2:26].all()
    assert line.sum() == 24  # one pixel wide
    diagonal = stroke_pixels((20, 30), [np.array([[0.5, 0.5], [10.5, 10.5]])])
    assert all(diagonal[i, i] for i in range(11))


def test_scaled_prompts_keep_points_inside() -> None:
    p = Prompts.build(ImageSize(30, 20), positives=[(29.99, 19.99)], box=(0, 0, 30, 20))
    s = p.scaled(0.5)
    assert s.size == ImageSize(15, 10)
    assert (s.positives < [15, 10]).all()
    assert s.box == (0.0, 0.0, 15.0, 10.0)
