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


def _window(mask: np.ndarray, margin: int) -> tuple[slice, slice] | None:
    """Slices of the bounding box of ``mask`` grown by ``margin`` (within the image), None when empty."""
    rows = np.flatnonzero(mask.any(1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(0))
    h, w = mask.shape
    return (
        slice(max(0, int(rows[0]) - margin), min(h, int(rows[-1]) + margin + 1)),
        slice(max(0, int(cols[0]) - margin), min(w, int(cols[-1]) + margin + 1)),
    )


def _components_touching(region: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The 8-connected components of ``region`` that contain a seed pixel (labelled on the bounding box
    of ``region`` only: every component lies inside it)."""
    out = np.zeros_like(region)
    win = _window(region, 0) if seeds.any() else None
    if win is None:
        return out
    sub = region[win]
    _, labels = cv2.connectedComponents(sub.view(np.uint8), connectivity=8)
    hit = np.zeros(int(labels.max()) + 1, dtype=bool)
    hit[labels[seeds[win] & sub]] = True
    hit[0] = False
    out[win] = hit[labels]
    return out


def correction_zone(
    prompts: Prompts,
    pos: np.ndarray,
    neg: np.ndarray,
    reach: float,
    far_reach: float | None = None,
    far_from: float = 8.0,
) -> np.ndarray:
    """Pixels a correction may change: disks around the corrective clicks, each ``reach`` times the
    click's distance to the previous boundary (a click in the middle of a wrong region tells its size), or
    ``far_reach`` times it for a click at least ``far_from`` pixels deep: such a click sits in a large wrong
    region (a missed limb, a leak into a neighbour) whose extent its depth understates."""
    prev = prompts.previous
    assert prev is not None
    zone = np.zeros(prev.shape, dtype=np.uint8)
    prev_rows, prev_cols = np.flatnonzero(prev.any(1)), np.flatnonzero(prev.any(0))
    h, w = prev.shape
    for clicks, inside in ((pos, False), (neg, True)):
        rows, cols = np.nonzero(clicks)
        if rows.size == 0:
            continue
        # The distances are taken on the box of the previous mask and these clicks grown by one pixel: the
        # shortest chamfer path from a click to the nearest pixel on the other side of the boundary stays
        # in the box of the two, and any path out of the box meets such a pixel in the grown edge first.
        r0, r1, c0, c1 = 0, h, 0, w  # an empty previous mask: no boundary to measure to, whole image
        if prev_rows.size:
            r0 = max(0, int(min(rows.min(), prev_rows[0])) - 1)
            r1 = min(h, int(max(rows.max(), prev_rows[-1])) + 2)
            c0 = max(0, int(min(cols.min(), prev_cols[0])) - 1)
            c1 = min(w, int(max(cols.max(), prev_cols[-1])) + 2)
        window = prev[r0:r1, c0:c1]
        region = window if inside else ~window
        dist = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 3)
        for r, c in zip(rows, cols, strict=True):
            d = float(dist[r - r0, c - c0])
            factor = far_reach if far_reach is not None and d >= far_from else reach
            radius = int(np.ceil(factor * max(d, 2.0)))
            cv2.circle(zone, (int(c), int(r)), radius, 1, thickness=-1)
    return zone.astype(bool)


def local_update(
    prompts: Prompts,
    candidate: np.ndarray,
    *,
    reach: float | None = None,
    far_reach: float | None = None,
    far_from: float = 8.0,
) -> np.ndarray:
    """Apply ``candidate`` only where the corrective clicks are; elsewhere keep ``previous``.

    Changes are the pieces of ``candidate`` that differ from ``previous`` and hold a corrective click; with
    ``reach`` they are also clipped to :func:`correction_zone` (with ``far_reach`` and ``far_from``).
    Without a previous mask, or when no click disagrees with it (a new box or stroke, say), the candidate
    is the answer.
    """
    prev = prompts.previous
    if prev is None or not prev.any():
        return candidate
    pos, neg = new_clicks(prompts)
    if not pos.any() and not neg.any():
        return candidate if (prompts.scribbles_pos or prompts.scribbles_neg) else prev.copy()
    allowed = (
        correction_zone(prompts, pos, neg, reach, far_reach, far_from)
        if reach
        else np.ones(prev.shape, dtype=bool)
    )
    added = _components_touching(candidate & ~prev & allowed, pos)
    removed = _components_touching(prev & ~candidate & allowed, neg)
    return (prev | added) & ~removed


def _fill_holes_inplace(mask: np.ndarray, max_area: int) -> None:
    """Fill holes of at most ``max_area`` pixels in ``mask`` (modified in place).

    Labelled on the mask's bounding box only: a background piece that reaches the box's edge reaches the
    image's edge (every pixel outside the box does, along its row or column), and a hole never leaves the
    box, so the holes are the same as on the whole image, at a fraction of the cost.
    """
    win = _window(mask, 0)
    if win is None:
        return
    sub = mask[win]
    # connectedComponents and a bincount: WithStats costs ten times as much for the same areas.
    n, labels = cv2.connectedComponents((~sub).view(np.uint8), connectivity=4)
    if n <= 1:
        return
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    small = np.bincount(labels.ravel(), minlength=n) <= max_area
    small[0] = False
    small[border] = False
    if small.any():
        sub |= small[labels]


def fill_small_holes(mask: np.ndarray, max_area: int) -> np.ndarray:
    """Fill holes (background pieces not touching the border) of at most ``max_area`` pixels."""
    if max_area <= 0 or not mask.any():
        return mask
    out = mask.astype(bool, copy=True)
    _fill_holes_inplace(out, max_area)
    return out


def _keep_components(prompts: Prompts, m: np.ndarray, pos: np.ndarray) -> None:
    """Drop (in place) the 8-connected pieces of ``m`` that hold no positive prompt and no previous mask
    pixel; with a box alone, keep the main piece and any at least a tenth of its size. Labelled on the
    bounding box of ``m``, which holds every piece."""
    win = _window(m, 0)
    if win is None:
        return
    sub = m[win]
    n, labels = cv2.connectedComponents(sub.view(np.uint8), connectivity=8)
    keep = np.zeros(n, dtype=bool)
    keep[0] = True  # (the background: set so that "every piece kept" reads keep.all())
    has_pos = bool(pos.any())
    if has_pos:
        keep[labels[pos[win] & sub]] = True
    if prompts.previous is not None and not keep.all():
        keep[labels[prompts.previous[win] & sub]] = True
    if not has_pos and prompts.previous is None:
        areas = np.bincount(labels.ravel(), minlength=n)
        areas[0] = 0
        keep |= areas >= max(1, areas.max() // 10)
    if not keep.all():
        keep[0] = False
        sub[...] = keep[labels]


def finish(
    prompts: Prompts,
    mask: np.ndarray,
    *,
    keep_components: bool = True,
    hole_fraction: float = 0.01,
) -> np.ndarray:
    """Impose the rules above on a method's raw answer (full image resolution).

    Component and hole labelling run on the mask's bounding box (see :func:`_fill_holes_inplace`), not on
    the whole image: the same answer at a fraction of the cost on a megapixel image.
    """
    pos = _seed_pixels(prompts, True)
    neg = _seed_pixels(prompts, False)
    m = mask.astype(bool, copy=True)
    inside = box_mask(prompts)
    if inside is not None:
        m &= inside | pos
    m |= pos
    m &= ~neg
    if keep_components:
        _keep_components(prompts, m, pos)
    if hole_fraction > 0:
        max_area = int(np.count_nonzero(m) * hole_fraction)
        if max_area > 0:
            _fill_holes_inplace(m, max_area)
            m &= ~neg
    return m
