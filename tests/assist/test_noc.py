"""The simulated user of the NoC protocol clicks where the papers say."""

from __future__ import annotations

import numpy as np

from seglab.assist.noc import iou, next_click, run_clicks


def _rect(h: int, w: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[r0:r1, c0:c1] = True
    return m


def test_first_click_is_the_interior_point_farthest_from_the_boundary() -> None:
    gt = _rect(40, 60, 10, 21, 5, 50)  # 11 rows high: the middle row is 15
    x, y, positive = next_click(gt, None)
    assert positive and y == 15.5 and 5 + 5 <= x <= 50 - 5


def test_image_border_counts_as_boundary() -> None:
    gt = _rect(20, 20, 0, 20, 0, 9)  # touches three borders; 9 columns wide
    x, y, _ = next_click(gt, None)
    assert x == 4.5 and 4 <= y <= 16  # 5 pixels from the left border as from the right edge; rows tie


def test_largest_error_region_decides_the_sign() -> None:
    gt = _rect(50, 50, 10, 40, 10, 40)
    pred = gt.copy()
    pred[10:20, 10:20] = False  # 100 missed
    pred[0:5, 0:50] = True  # 250 spurious
    x, y, positive = next_click(gt, pred)
    assert not positive and y == 2.5
    pred[0:5] = False
    x, y, positive = next_click(gt, pred)
    assert positive and 10 <= x < 20 and 10 <= y < 20


def test_exact_prediction_needs_no_click() -> None:
    gt = _rect(10, 10, 2, 5, 2, 5)
    assert next_click(gt, gt.copy()) is None


def test_run_clicks_with_an_oracle_and_a_lazy_segmenter() -> None:
    gt = _rect(30, 30, 5, 25, 5, 25)
    oracle = run_clicks(gt, lambda pos, neg, prev: gt.copy(), max_clicks=20)
    assert oracle.ious == [1.0] and oracle.noc(0.9, 20) == 1

    # Adds a 5x5 square around every positive click: needs several clicks, never reaches 1.0 in one.
    def squares(pos: list, neg: list, prev: np.ndarray | None) -> np.ndarray:
        m = np.zeros_like(gt)
        for x, y in pos:
            m[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3] = True
        return m & gt

    trace = run_clicks(gt, squares, max_clicks=20)
    assert trace.ious == sorted(trace.ious) and trace.ious[0] < 0.1
    assert all(c[2] for c in trace.clicks)
    assert trace.noc(0.99, 20) == 20 or trace.ious[-1] >= 0.99
    assert trace.iou_at(3) == trace.ious[2]
    assert iou(gt, gt) == 1.0 and iou(np.zeros_like(gt), np.zeros_like(gt)) == 1.0
