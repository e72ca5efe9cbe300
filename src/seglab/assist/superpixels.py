"""Superpixels, their adjacency graph and colour statistics, and the superpixel selection tool.

The graph is computed once per image (on the session's working image) and cached: SLIC regions (or
Felzenszwalb's), each with its area, mean Lab colour, a histogram over a per-image palette of Lab colours
(its own pixels, and a context histogram with its neighbours' pixels, which is what tells a striped object
from a plain one), and the list of touching pairs with their shared boundary length and colour contrast.

The selection tool grows from the clicked superpixel to adjacent ones of similar colour (a flood over the
graph with a colour tolerance), adds that to the previous selection for a positive click and removes it for
a negative one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from skimage.segmentation import felzenszwalb, slic

from seglab.assist.prompts import Prompts, click_pixels, draw_seeds, resize_mask

if TYPE_CHECKING:
    from seglab.assist.cache import AssistSession

PALETTE_SIZE = 32
SEGMENTS = 3000  # superpixels asked of SLIC on the working image (about 100 pixels each)
_SLIC_ITERATIONS = 5  # SLIC's centres barely move after a few rounds; the default 10 doubles the cost
_LUT_BITS = 6  # bits per Lab channel of the palette lookup table's cells (64^3 cells)
_LUT_STEP = 1 << (8 - _LUT_BITS)  # Lab units per cell
Algorithm = Literal["slic", "felzenszwalb"]


@dataclass(frozen=True, eq=False)
class SuperpixelGraph:
    """Superpixels of one (working) image. Arrays are indexed by superpixel id ``0..count-1``."""

    labels: np.ndarray  # (H, W) int32 superpixel id of each pixel
    count: int
    area: np.ndarray  # (N,) float64 pixels
    lab: np.ndarray  # (N, 3) float32 mean Lab colour (OpenCV's 8-bit Lab scale)
    hist: np.ndarray  # (N, K) float32 palette histogram of its own pixels, rows sum to 1
    context: np.ndarray  # (N, K) float32 histogram of its pixels and its neighbours', rows sum to 1
    centroid: np.ndarray  # (N, 2) float64 x, y
    border: np.ndarray  # (N,) bool touches the image border
    edges: np.ndarray  # (E, 2) int64 touching pairs i < j
    edge_length: np.ndarray  # (E,) float64 shared boundary length in pixels
    palette_index: np.ndarray  # (H, W) uint8 palette entry of each pixel

    def mask_of(self, selected: np.ndarray) -> np.ndarray:
        """The (H, W) pixel mask of the selected superpixels ((N,) bool)."""
        return np.asarray(selected, dtype=bool)[self.labels]

    def coverage(self, mask: np.ndarray) -> np.ndarray:
        """Fraction (N,) of each superpixel's pixels inside a (H, W) mask."""
        inside = np.bincount(
            self.labels.ravel(), weights=mask.ravel().astype(np.float64), minlength=self.count
        )
        return inside / self.area

    def adjacency(self, weights: np.ndarray | None = None) -> sparse.csr_matrix:
        w = np.ones(len(self.edges)) if weights is None else weights
        i, j = self.edges[:, 0], self.edges[:, 1]
        m = sparse.coo_matrix(
            (np.concatenate([w, w]), (np.concatenate([i, j]), np.concatenate([j, i]))),
            shape=(self.count, self.count),
        )
        return m.tocsr()

    def touched(self, points: np.ndarray, strokes: tuple[np.ndarray, ...] = ()) -> np.ndarray:
        """(N,) bool: superpixels under the given points and strokes."""
        out = np.zeros(self.count, dtype=bool)
        rows, cols = click_pixels(points)
        out[self.labels[rows, cols]] = True
        if strokes:
            line = draw_seeds(self.labels.shape, np.zeros((0, 2)), strokes, radius=0.5)
            out[np.unique(self.labels[line])] = True
        return out


def lab_image(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)


def palette_indices(lab: np.ndarray, k: int = PALETTE_SIZE, seed: int = 0) -> np.ndarray:
    """Quantise a Lab image to ``k`` k-means colours fitted on a pixel sample; (H, W) uint8 indices."""
    flat = np.asarray(lab, dtype=np.uint8).reshape(-1, 3)
    rng = np.random.default_rng(seed)
    picked = flat[rng.choice(len(flat), size=min(len(flat), 20_000), replace=False)]
    # distinct colours counted on 24-bit codes: a 1-D unique, ten times cheaper than unique rows
    k = min(k, len(np.unique(_colour_codes(picked))))
    sample = picked.astype(np.float32)
    if k <= 1:
        return np.zeros(lab.shape[:2], dtype=np.uint8)
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    _, _, centres = cv2.kmeans(sample, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    return nearest_centre(lab, centres)


def nearest_centre(lab: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index (H, W) uint8 of the nearest of ``centres`` (K, 3) for each pixel of an 8-bit Lab image.

    Through a lookup table over Lab cells of ``_LUT_STEP`` units (the nearest centre of each cell's middle):
    one gather per pixel instead of K distances. A pixel's centre is at most ``_LUT_STEP * sqrt(3)`` units
    farther than the exact nearest one, far below the palette's spacing. Only the cells some pixel falls
    in are filled (a few thousand of the 64^3), which is most of the saving.
    """
    bits = _LUT_BITS
    q = np.asarray(lab, dtype=np.uint8) >> (8 - bits)
    cell = (q[..., 0].astype(np.int32) << (2 * bits)) | (q[..., 1].astype(np.int32) << bits) | q[..., 2]
    occupied = np.zeros(1 << (3 * bits), dtype=bool)
    occupied[cell.ravel()] = True
    used = np.flatnonzero(occupied)
    axis_mask = (1 << bits) - 1
    corner = np.stack([used >> (2 * bits), (used >> bits) & axis_mask, used & axis_mask], axis=1)
    mids = (corner.astype(np.float32) + 0.5) * _LUT_STEP
    c = np.asarray(centres, dtype=np.float32)
    # nearest centre: |x|^2 - 2 x.c + |c|^2, the |x|^2 term is common to all centres
    lut = np.zeros(len(occupied), dtype=np.uint8)
    lut[used] = np.argmin(mids @ (-2.0 * c.T) + (c**2).sum(1)[None, :], axis=1)
    return lut[cell]


def _colour_codes(pixels: np.ndarray) -> np.ndarray:
    """One int32 per (..., 3) uint8 colour: equal colours, equal codes."""
    p = np.asarray(pixels, dtype=np.uint8)
    return (p[..., 0].astype(np.int32) << 16) | (p[..., 1].astype(np.int32) << 8) | p[..., 2]


def _edges(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Touching pairs (4-neighbourhood) and the number of pixel edges they share."""
    n = int(labels.max()) + 1
    wide = n * n >= 2**31  # pair codes fit int32 (a cheaper sort) unless there are > 46340 superpixels
    codes = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        diff = a != b
        x, y = a[diff], b[diff]
        lo, hi = np.minimum(x, y), np.maximum(x, y)
        codes.append((lo.astype(np.int64) if wide else lo) * n + hi)
    pair, counts = np.unique(np.concatenate(codes), return_counts=True)
    pair = pair.astype(np.int64)
    return np.stack([pair // n, pair % n], axis=1), counts.astype(np.float64)


def build_graph(
    rgb: np.ndarray,
    *,
    algorithm: Algorithm = "slic",
    segments: int = SEGMENTS,
    palette: np.ndarray | None = None,
    lab: np.ndarray | None = None,
) -> SuperpixelGraph:
    """Superpixels of an RGB image and their statistics (vectorised; no loop over superpixels).

    ``lab`` is the image in OpenCV's 8-bit Lab when the caller has it already (the session caches it).
    """
    if lab is None:
        lab = lab_image(rgb)
    labels = superpixel_labels(rgb, lab, algorithm, segments)
    return graph_from_labels(labels, lab, palette if palette is not None else palette_indices(lab))


def superpixel_labels(rgb: np.ndarray, lab: np.ndarray, algorithm: Algorithm, segments: int) -> np.ndarray:
    """(H, W) int32 superpixel ids, consecutive from 0."""
    h, w = rgb.shape[:2]
    if algorithm == "slic":
        # SLIC wants CIE Lab (L 0..100, a and b centred on 0); rescaling OpenCV's 8-bit Lab is much cheaper
        # than letting scikit-image convert the RGB image in float64 again.
        cie = lab.astype(np.float32) * np.array([100.0 / 255.0, 1.0, 1.0], np.float32) - np.array(
            [0.0, 128.0, 128.0], np.float32
        )
        cie = cv2.GaussianBlur(cie, (0, 0), 0.8)
        raw = slic(
            cie,
            n_segments=segments,
            compactness=12,
            sigma=0,
            start_label=0,
            channel_axis=-1,
            convert2lab=False,
            max_num_iter=_SLIC_ITERATIONS,
        )
    elif algorithm == "felzenszwalb":
        min_size = max(8, (h * w) // (segments * 4))
        raw = felzenszwalb(rgb, scale=60, sigma=0.8, min_size=min_size, channel_axis=-1)
    else:
        raise ValueError(f"unknown superpixel algorithm {algorithm!r}; use 'slic' or 'felzenszwalb'")
    labels = np.asarray(raw, dtype=np.int32).reshape(h, w)
    if labels.min() != 0 or not np.bincount(labels.ravel()).all():  # ids must be consecutive from 0
        _, inverse = np.unique(raw, return_inverse=True)
        labels = inverse.reshape(h, w).astype(np.int32)
    return labels


def graph_from_labels(labels: np.ndarray, lab: np.ndarray, palette: np.ndarray) -> SuperpixelGraph:
    """The statistics of given superpixels ``labels`` over a Lab image and its palette indices."""
    h, w = labels.shape
    n = int(labels.max()) + 1
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n).astype(np.float64)
    lab_mean = (
        np.stack(
            [
                np.bincount(flat, weights=lab[..., c].ravel().astype(np.float64), minlength=n)
                for c in range(3)
            ],
            1,
        )
        / area[:, None]
    )
    q = palette
    k = PALETTE_SIZE
    counts = np.bincount(flat * k + q.ravel().astype(np.int64), minlength=n * k).reshape(n, k)
    hist = (counts / area[:, None]).astype(np.float32)
    edges, length = _edges(labels)
    adj = sparse.coo_matrix(
        (
            np.ones(2 * len(edges)),
            (np.concatenate([edges[:, 0], edges[:, 1]]), np.concatenate([edges[:, 1], edges[:, 0]])),
        ),
        shape=(n, n),
    ).tocsr()
    context_counts = counts + adj @ counts
    context = (context_counts / context_counts.sum(1, keepdims=True)).astype(np.float32)
    centre_x = np.broadcast_to(np.arange(w, dtype=np.float64) + 0.5, (h, w)).ravel()
    centre_y = np.repeat(np.arange(h, dtype=np.float64) + 0.5, w)
    centroid = (
        np.stack(
            [
                np.bincount(flat, weights=centre_x, minlength=n),
                np.bincount(flat, weights=centre_y, minlength=n),
            ],
            1,
        )
        / area[:, None]
    )
    border = np.zeros(n, dtype=bool)
    border[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = True
    return SuperpixelGraph(
        labels=labels,
        count=n,
        area=area,
        lab=lab_mean.astype(np.float32),
        hist=hist,
        context=context,
        centroid=centroid,
        border=border,
        edges=edges,
        edge_length=length,
        palette_index=q,
    )


def session_graph(
    session: AssistSession, algorithm: Algorithm = "slic", segments: int = SEGMENTS
) -> SuperpixelGraph:
    """The working image's superpixel graph, computed once per session, algorithm and segment count.

    The palette (k-means) does not depend on the superpixels, so on a first call SLIC runs in a second
    thread while the palette is fitted in this one (both release the GIL): the first click's wall time
    drops by about the palette's time on a machine with a spare core. The k-means stays in the calling
    thread because it seeds and advances that thread's OpenCV RNG, which the GrabCut after it draws from.
    """
    name = f"superpixels:{algorithm}" if segments == SEGMENTS else f"superpixels:{algorithm}:{segments}"

    def compute() -> SuperpixelGraph:
        lab = session.cached("lab", lambda: lab_image(session.work_image))
        if session.has("palette"):
            labels = superpixel_labels(session.work_image, lab, algorithm, segments)
            palette = session.cached("palette", lambda: palette_indices(lab))
        else:
            # the worker must not take the session's lock (this thread holds it while it waits)
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending = pool.submit(superpixel_labels, session.work_image, lab, algorithm, segments)
                palette = session.cached("palette", lambda: palette_indices(lab))
                labels = pending.result()
        return graph_from_labels(labels, lab, palette)

    return session.cached(name, compute)


def grow(
    graph: SuperpixelGraph, seeds: np.ndarray, tolerance: float, allowed: np.ndarray | None = None
) -> np.ndarray:
    """Superpixels reachable from ``seeds`` over edges whose ends differ by at most ``tolerance`` in mean
    Lab colour and each within ``2 * tolerance`` of the seeds' mean colour (so the flood cannot drift
    through a gradient to another colour)."""
    if not seeds.any():
        return np.zeros(graph.count, dtype=bool)
    target = (graph.lab[seeds] * graph.area[seeds, None]).sum(0) / graph.area[seeds].sum()
    near = np.linalg.norm(graph.lab - target, axis=1) <= 2 * tolerance
    ok = near | seeds
    if allowed is not None:
        ok &= allowed | seeds
    i, j = graph.edges[:, 0], graph.edges[:, 1]
    step = np.linalg.norm(graph.lab[i] - graph.lab[j], axis=1) <= tolerance
    keep = step & ok[i] & ok[j]
    adj = sparse.coo_matrix((np.ones(int(keep.sum())), (i[keep], j[keep])), shape=(graph.count, graph.count))
    _, comp = connected_components(adj, directed=False)
    return np.isin(comp, np.unique(comp[seeds])) & ok


def select(
    session: AssistSession, prompts: Prompts, *, tolerance: float = 12.0, algorithm: Algorithm = "slic"
) -> np.ndarray:
    """The superpixel selection tool: positive prompts add the similar-coloured region around them,
    negative prompts remove theirs, starting from the previous mask. Full-resolution bool mask."""
    graph = session_graph(session, algorithm)
    work = prompts.scaled(session.work_scale) if session.work_scale < 1.0 else prompts
    selected = np.zeros(graph.count, dtype=bool)
    if work.previous is not None:
        selected = graph.coverage(work.previous) >= 0.5
    allowed = None
    if work.box is not None:
        x0, y0, x1, y1 = work.box
        cx, cy = graph.centroid[:, 0], graph.centroid[:, 1]
        allowed = (cx > x0) & (cx < x1) & (cy > y0) & (cy < y1)
    pos = graph.touched(work.positives, work.scribbles_pos)
    neg = graph.touched(work.negatives, work.scribbles_neg)
    if not pos.any() and not neg.any() and allowed is not None and work.previous is None:
        # A box alone selects the superpixels inside it.
        selected = allowed.copy()
    added = grow(graph, pos & ~neg, tolerance, allowed)
    removed = grow(graph, neg & ~pos, tolerance)
    selected = (selected | added) & ~(removed & ~pos)
    mask = graph.mask_of(selected)
    if mask.shape != prompts.size.shape:
        mask = resize_mask(mask, prompts.size)
    return mask
