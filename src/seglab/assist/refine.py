"""Rules every method's answer obeys, so a corrective click can only help where the user clicked.

- The pixel under a positive click (or stroke) is in the mask and the pixel under a negative one is out.
- With a previous mask, only the regions the new clicks touch change (a click in the missed part of an
  object adds the piece around it; a click in a spurious part removes that piece); nothing far away moves.
- Pieces that hold no positive prompt are dropped (a stray blob elsewhere is never what the user asked for),
  and pinholes are filled.
"""

from __future__ import annotations

import cv2
import numpy as np

from seglab.assist.prompts import Prompts, click_pixels, stroke_pixels


def _seed_pixels(prompts: Prompts, positive: bool) -> np.ndarray:
    shape = prompts.size.shape
    points = prompts.positives if positive else prompts.negatives
    strokes = prompts.scribbles_pos if positive else prompts.scribbles_neg
    mask = stroke_pixels(shape, strokes) if strokes else np.zeros(shape, dtype=bool)
    rows, cols = click_pixels(points)
    mask[rows, cols] = True
    return mask


def box_mask(prompts: Prompts) -> np.ndarray | None:
    """Pixels whose centre lies inside the box, or None without a box."""
    if prompts.box is None:
        return None
    h, w = prompts.size.shape
    x0, y0, x1, y1 = prompts.box
    cols = (np.arange(w) + 0.5 > x0) & (np.arange(w) + 0.5 < x1)  # (W,)
    rows = (np.arange(h) + 0.5 > y0) & (np.arange(h) + 0.5 < y1)  # (H,)
    inside = rows[:, None] & cols[None, :]
    if not inside.any():  # a box thinner than a pixel still holds the pixel it covers most
        inside[int(min((y0 + y1) / 2, h - 1)), int(min((x0 + x1) / 2, w - 1))] = True
    return inside


def new_clicks(prompts: Prompts) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the positive click pixels outside ``previous`` and negative ones inside it: the
    corrections. Clicks that agree with the previous mask change nothing."""
    shape = prompts.size.shape
    pos = np.zeros(shape, dtype=bool)
    neg = np.zeros(shape, dtype=bool)
    prev = prompts.previous
    for arr, out, wanted in ((prompts.positives, pos, False), (prompts.negatives, neg, True)):
        rows, cols = click_pixels(arr)
        if prev is not None:
            keep = prev[rows, cols] == wanted
            rows, cols = rows[keep], cols[keep]
        out[rows, cols] = True
    return pos, neg


def _components_touching(region: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The 8-connected components of ``region`` that contain a seed pixel."""
    if not seeds.any() or not region.any():
        return np.zeros_like(region)
    _, labels = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
    hit = np.unique(labels[seeds & region])
    hit = hit[hit > 0]
    return np.isin(labels, hit)


def correction_zone(prompts: Prompts, pos: np.ndarray, neg: np.ndarray, reach: float) -> np.ndarray:
    """Pixels a correction may change: disks around the corrective clicks, each ``reach`` times the
    click's distance to the previous boundary (a click in the middle of a wrong region tells its size)."""
    prev = prompts.previous
    assert prev is not None
    zone = np.zeros(prev.shape, dtype=np.uint8)
    for clicks, region in ((pos, ~prev), (neg, prev)):
        if not clicks.any():
            continue
        dist = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 3)
        for r, c in zip(*np.nonzero(clicks), strict=True):
            radius = int(np.ceil(reach * max(float(dist[r, c]), 2.0)))
            cv2.circle(zone, (int(c), int(r)), radius, 1, thickness=-1)
    return zone.astype(bool)


def local_update(prompts: Prompts, candidate: np.ndarray, *, reach: float | None = None) -> np.ndarray:
    """Apply ``candidate`` only where the corrective clicks are; elsewhere keep ``previous``.

    Changes are the pieces of ``candidate`` that differ from ``previous`` and hold a corrective click; with
    ``reach`` they are also clipped to :func:`correction_zone`. Without a previous mask, or when no click
    disagrees with it (a new box or stroke, say), the candidate is the answer.
    """
    prev = prompts.previous
    if prev is None or not prev.any():
        return candidate
    pos, neg = new_clicks(prompts)
    if not pos.any() and not neg.any():
        return candidate if (prompts.scribbles_pos or prompts.scribbles_neg) else prev.copy()
    allowed = correction_zone(prompts, pos, neg, reach) if reach else np.ones(prev.shape, dtype=bool)
    added = _components_touching(candidate & ~prev & allowed, pos)
    removed = _components_touching(prev & ~candidate & allowed, neg)
    return (prev | added) & ~removed


def fill_small_holes(mask: np.ndarray, max_area: int) -> np.ndarray:
    """Fill holes (background pieces not touching the border) of at most ``max_area`` pixels."""
    if max_area <= 0 or not mask.any():
        return mask
    bg = ~mask
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bg.astype(np.uint8), connectivity=4)
    if n <= 1:
        return mask
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    small = stats[:, cv2.CC_STAT_AREA] <= max_area
    small[0] = False
    small[border] = False
    return mask | small[labels]


def finish(
    prompts: Prompts,
    mask: np.ndarray,
    *,
    keep_components: bool = True,
    hole_fraction: float = 0.01,
) -> np.ndarray:
    """Impose the rules above on a method's raw answer (full image resolution)."""
    pos = _seed_pixels(prompts, True)
    neg = _seed_pixels(prompts, False)
    m = mask.astype(bool, copy=True)
    inside = box_mask(prompts)
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
            # Only a box: keep the main piece and any other piece at least a tenth of its size.
            areas = stats[:, cv2.CC_STAT_AREA].astype(np.int64)
            areas[0] = 0
            keep |= areas >= max(1, areas.max() // 10)
        keep[0] = False
        m = keep[labels]
    if hole_fraction > 0 and m.any():
        m = fill_small_holes(m, int(m.sum() * hole_fraction))
        m &= ~neg
    return m
