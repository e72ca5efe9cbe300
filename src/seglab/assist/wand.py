"""The magic wand: flood fill from the clicked pixel over pixels of similar colour (OpenCV floodFill).

``tolerance`` is the largest difference per RGB channel from the clicked pixel's colour (a fixed range, so
the fill cannot creep along a gradient). Positive clicks and strokes add their fills to the previous mask,
negative ones remove theirs; a box limits the fills to its inside. Runs at full resolution: a flood fill is
cheap and the wand is for exact pixel colours.
"""

from __future__ import annotations

import cv2
import numpy as np

from seglab.assist.prompts import Prompts, click_pixels
from seglab.assist.refine import box_mask

DEFAULT_TOLERANCE = 24.0


def flood(
    image: np.ndarray,
    seeds: np.ndarray,
    tolerance: float,
    *,
    limit: np.ndarray | None = None,
    connectivity: int = 4,
) -> np.ndarray:
    """Union of the flood fills from every seed point ((N, 2) x, y); ``limit`` (H, W) bool confines them."""
    h, w = image.shape[:2]
    filled = np.zeros((h + 2, w + 2), dtype=np.uint8)
    if limit is not None:
        filled[1:-1, 1:-1][~limit] = 1  # floodFill stops at non-zero mask pixels
    blocked = filled.copy()
    tol = (float(tolerance),) * 3
    flags = connectivity | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    rows, cols = click_pixels(seeds)
    canvas = np.array(image)  # floodFill wants a writable image even when it only writes the mask
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        if filled[r + 1, c + 1]:
            continue  # already inside an earlier fill (or outside the limit)
        cv2.floodFill(canvas, filled, (c, r), (0, 0, 0), tol, tol, flags)
    return filled[1:-1, 1:-1].astype(bool) & ~blocked[1:-1, 1:-1].astype(bool)


def _stroke_points(strokes: tuple[np.ndarray, ...], shape: tuple[int, int]) -> np.ndarray:
    """Every pixel centre along the strokes, as seed points."""
    if not strokes:
        return np.zeros((0, 2))
    from seglab.assist.prompts import stroke_pixels

    rows, cols = np.nonzero(stroke_pixels(shape, strokes))
    return np.stack([cols + 0.5, rows + 0.5], axis=1)


def segment_wand(image: np.ndarray, prompts: Prompts, *, tolerance: float = DEFAULT_TOLERANCE) -> np.ndarray:
    """The magic wand's mask for the prompts (full resolution)."""
    if not np.isfinite(tolerance) or tolerance < 0 or tolerance > 255:
        raise ValueError(f"tolerance must be between 0 and 255 (per RGB channel), got {tolerance}")
    shape = prompts.size.shape
    limit = box_mask(prompts)
    pos = np.concatenate([prompts.positives, _stroke_points(prompts.scribbles_pos, shape)])
    neg = np.concatenate([prompts.negatives, _stroke_points(prompts.scribbles_neg, shape)])
    mask = prompts.previous.copy() if prompts.previous is not None else np.zeros(shape, dtype=bool)
    if len(pos):
        mask |= flood(image, pos, tolerance, limit=limit)
    if len(neg):
        mask &= ~flood(image, neg, tolerance)
    if limit is not None:
        mask &= limit
    return mask
