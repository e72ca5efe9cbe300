"""GrabCut (OpenCV) seeded by clicks, strokes, a box and the previous mask.

Seeds: clicks are small disks of definite foreground / background, strokes definite along their length, the
outside of a box definite background and its inside probable foreground, the previous mask probable
foreground; everything else starts as probable background. GrabCut runs on the session's working image,
cropped to the box (with a margin so the background model sees the surroundings) when there is one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from seglab.assist.prompts import Prompts, draw_seeds, resize_mask

if TYPE_CHECKING:
    from seglab.assist.cache import AssistSession


def seed_mask(prompts: Prompts, radius: float) -> np.ndarray:
    """The GrabCut label mask (GC_BGD, GC_FGD, GC_PR_BGD, GC_PR_FGD) of the prompts, at their resolution."""
    shape = prompts.size.shape
    gc = np.full(shape, cv2.GC_PR_BGD, dtype=np.uint8)
    if prompts.box is not None:
        x0, y0, x1, y1 = prompts.box
        inside = np.zeros(shape, dtype=bool)
        r0, r1 = int(np.floor(y0)), int(np.ceil(y1))
        c0, c1 = int(np.floor(x0)), int(np.ceil(x1))
        inside[r0:r1, c0:c1] = True
        gc[~inside] = cv2.GC_BGD
        if prompts.previous is None:
            gc[inside] = cv2.GC_PR_FGD
    if prompts.previous is not None:
        gc[prompts.previous & (gc != cv2.GC_BGD)] = cv2.GC_PR_FGD
    gc[draw_seeds(shape, prompts.positives, prompts.scribbles_pos, radius)] = cv2.GC_FGD
    gc[draw_seeds(shape, prompts.negatives, prompts.scribbles_neg, radius)] = cv2.GC_BGD
    return gc


#: Seed of OpenCV's per-thread random generator before each GrabCut (its GMMs start from k-means), so that
#: an answer depends on the prompts alone, not on what ran before in the server's worker thread.
GRABCUT_SEED = 0


def grabcut(image: np.ndarray, labels: np.ndarray, iterations: int) -> None:
    """``cv2.grabCut`` from the label mask ``labels`` (updated in place), with a fixed random seed."""
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(GRABCUT_SEED)
    cv2.grabCut(np.ascontiguousarray(image), labels, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)


def run_grabcut(image: np.ndarray, gc: np.ndarray, iterations: int) -> np.ndarray:
    """GrabCut from a label mask; the foreground as bool. Empty when there is nothing to be foreground."""
    fg_seed = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    bg_seed = (gc == cv2.GC_BGD) | (gc == cv2.GC_PR_BGD)
    if not fg_seed.any():
        return np.zeros(gc.shape, dtype=bool)
    if not bg_seed.any():
        return np.ones(gc.shape, dtype=bool)
    labels = gc.copy()
    try:
        grabcut(image, labels, iterations)
    except cv2.error:  # too few distinct colours for its GMMs: fall back to the seeds themselves
        return fg_seed
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def segment_grabcut(session: AssistSession, prompts: Prompts, *, iterations: int = 3) -> np.ndarray:
    """Seeded GrabCut on the working image (cropped around a box), returned at full resolution."""
    scale = session.work_scale
    work = prompts.scaled(scale) if scale < 1.0 else prompts
    image = session.work_image
    radius = max(2.0, 0.006 * float(np.hypot(*work.size.shape)))
    gc = seed_mask(work, radius)
    r0, r1, c0, c1 = 0, gc.shape[0], 0, gc.shape[1]
    if work.box is not None:
        x0, y0, x1, y1 = work.box
        mh, mw = 0.15 * (y1 - y0) + 8, 0.15 * (x1 - x0) + 8
        r0, r1 = max(0, int(y0 - mh)), min(gc.shape[0], int(np.ceil(y1 + mh)))
        c0, c1 = max(0, int(x0 - mw)), min(gc.shape[1], int(np.ceil(x1 + mw)))
    mask = np.zeros(gc.shape, dtype=bool)
    mask[r0:r1, c0:c1] = run_grabcut(image[r0:r1, c0:c1], gc[r0:r1, c0:c1], iterations)
    if mask.shape != prompts.size.shape:
        mask = resize_mask(mask, prompts.size)
    return mask
