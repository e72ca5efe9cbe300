"""The click protocol of interactive segmentation papers, to measure an assist in clicks, not impressions.

A simulated user looks at the ground truth and the current prediction and clicks once per round:

- the first click at the interior point of the object farthest from its boundary;
- each next click at the point farthest from the boundary of the largest error region (8-connected), positive
  when the region was missed, negative when it is spurious. The image border counts as boundary.

``NoC@t`` is the number of clicks until IoU reaches ``t``, ``max_clicks`` when it never does (a failure).
Clicks are pixel centres in seglab's coordinates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

Click = tuple[float, float, bool]  # x, y, positive


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def _farthest_inside(region: np.ndarray) -> tuple[int, int]:
    """Row and column of the pixel of ``region`` farthest from its boundary (image border included)."""
    padded = np.pad(region.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    flat = int(np.argmax(dist))
    return flat // region.shape[1], flat % region.shape[1]


def next_click(gt: np.ndarray, pred: np.ndarray | None) -> Click | None:
    """The simulated user's next click, or None when the prediction is already exact."""
    if pred is None or not pred.any():
        if not gt.any():
            return None
        r, c = _farthest_inside(gt)
        return (c + 0.5, r + 0.5, True)
    best: tuple[int, np.ndarray, bool] | None = None
    for region, positive in ((gt & ~pred, True), (pred & ~gt, False)):
        if not region.any():
            continue
        _, labels, stats, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), connectivity=8)
        k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        area = int(stats[k, cv2.CC_STAT_AREA])
        if best is None or area > best[0]:
            best = (area, labels == k, positive)
    if best is None:
        return None
    r, c = _farthest_inside(best[1])
    return (c + 0.5, r + 0.5, best[2])


Segmenter = Callable[[list[tuple[float, float]], list[tuple[float, float]], np.ndarray | None], np.ndarray]


@dataclass
class ClickTrace:
    """IoU after each click and the seconds each click took, for one object."""

    ious: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    clicks: list[Click] = field(default_factory=list)

    def noc(self, threshold: float, max_clicks: int) -> int:
        for k, v in enumerate(self.ious, start=1):
            if v >= threshold:
                return k
        return max_clicks

    def iou_at(self, k: int) -> float:
        """IoU after ``k`` clicks (the last one reached when the run stopped early at IoU 1)."""
        if not self.ious:
            return 0.0
        return self.ious[min(k, len(self.ious)) - 1]


def run_clicks(
    gt: np.ndarray,
    segmenter: Segmenter,
    *,
    max_clicks: int = 20,
    stop_at: float | None = None,
    min_clicks: int = 1,
) -> ClickTrace:
    """Play the protocol: click, segment with all clicks so far and the previous mask, measure.

    ``segmenter(positives, negatives, previous)`` returns a bool mask. ``stop_at`` ends the run early once
    IoU reaches it after at least ``min_clicks`` clicks (NoC needs nothing past the highest threshold).
    """
    gt = np.asarray(gt, dtype=bool)
    trace = ClickTrace()
    pos: list[tuple[float, float]] = []
    neg: list[tuple[float, float]] = []
    pred: np.ndarray | None = None
    for _ in range(max_clicks):
        click = next_click(gt, pred)
        if click is None:
            break
        trace.clicks.append(click)
        (pos if click[2] else neg).append((click[0], click[1]))
        t0 = time.perf_counter()
        pred = np.asarray(segmenter(list(pos), list(neg), pred), dtype=bool)
        trace.seconds.append(time.perf_counter() - t0)
        trace.ious.append(iou(gt, pred))
        if stop_at is not None and trace.ious[-1] >= stop_at and len(trace.ious) >= min_clicks:
            break
    return trace
