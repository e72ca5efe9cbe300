"""The ``auto`` method: a GrabCut-style colour model solved on the superpixel graph, then pixel-exact edges.

Why this combination (measured by ``benchmarks/assist.py``): plain GrabCut from a few clicks learns its
foreground colours from a handful of pixels and re-decides the whole image every round, so a correction in
one place can undo another. Here

1. the unknowns are the ~3000 superpixels of the cached working image, so a full iterative colour-model /
   graph-cut loop (three rounds) costs milliseconds, and the model sees textured regions through each
   superpixel's context histogram (its palette colours and its neighbours'), not single pixel colours;
2. clicks pin their superpixels, a box pins everything outside it, and a geodesic term (shortest paths over
   the graph with appearance-change edge costs) pulls superpixels near a positive seed to foreground and
   near a negative one to background, fading with distance, so a click acts on the region it lands in;
   a negative click inside the previous mask also claims every superpixel of that mask that is
   geodesically nearer to it than to all positive clicks, so one click removes a whole leak into a
   similar-coloured neighbour rather than the few superpixels under it (the colour model alone cannot:
   the leak has the object's colours);
3. the result is refined at pixel level by GrabCut restricted to a band around the superpixel boundary, on a
   crop around the object (at the working resolution), so edges follow the image, not superpixel borders;
4. with a previous mask, steps 1-3 run on an enlarged crop around the object and the clicks
   (:mod:`seglab.assist.zoom`) when that is at least 1.5 times finer than the working image: a small object
   gets hundreds of superpixels instead of a few dozen and a colour model of its own neighbourhood
   (coco8-seg NoC@85 12.00 -> 11.14; the generated scenes' objects are too large to zoom);
5. a first click's region is kept compact and near the click's scale (a soft star-convexity term, and a
   size prior from the click's distance to the nearest strong edge), and the foreground colour model
   weights superpixels by geodesic nearness to the positive clicks, so a leak into similar surroundings
   does not teach the model the surroundings' colours (together: generated NoC@85 1.50 -> 1.25,
   coco8-seg 11.36 -> 11.23, NoC@90 15.41 -> 14.45);
6. :mod:`seglab.assist.refine` then applies only the changes that touch a corrective click, within a few
   click-to-boundary distances of it (ten for a click 8 pixels or more deep in a wrong region, which is a
   large one), and imposes the click constraints, so a correction does not disturb the rest of the mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
from scipy.sparse.csgraph import dijkstra

from seglab.assist import zoom
from seglab.assist.grabcut import grabcut
from seglab.assist.graphcut import min_cut
from seglab.assist.prompts import Prompts, click_pixels, draw_seeds, resize_mask
from seglab.assist.superpixels import SEGMENTS, SuperpixelGraph, grow, session_graph

if TYPE_CHECKING:
    from seglab.assist.cache import AssistSession


@dataclass(frozen=True)
class AutoParams:
    """Tuning of the ``auto`` method (defaults chosen by NoC on coco8-seg and the generated scenes)."""

    iterations: int = 3
    first_iterations: int = 1  # colour-model rounds without a previous mask: each round lets the first
    # click's region absorb similar neighbours (generated scenes: IoU@1 0.76 -> 0.87)
    smoothness: float = 1.5  # weight of the pairwise term per pixel of shared boundary
    prior_previous: float = 0.0  # nats per pixel to move away from the previous mask
    correction_reach: float = 3.0  # how many click-to-boundary distances a correction may reach
    stay: float = 2.0  # nats per pixel per squared reach beyond that
    geodesic: float = 5.0  # nats per pixel of pull towards the geodesically nearest seeds' label
    geodesic_scale: float = 3.0  # geodesic distance (median-contrast steps) where that pull fades to 1/e
    seed_weight: float = 4.0  # how much more a clicked superpixel counts in the colour model
    voronoi: float = 10.0  # nats per pixel: a negative click claims what is geodesically nearer to it
    voronoi_scale: float = 2.0  # geodesic distance difference over which that pull saturates
    grow_tolerance: float = 10.0  # Lab distance for the first click's initial region
    band: int = 8  # half-width (working pixels) of the band GrabCut may move the boundary in, at least
    band_fraction: float = 0.0  # and this fraction of the object's equivalent radius
    refine: bool = True
    segments: int = SEGMENTS  # superpixels on the working image
    local_corrections: bool = True  # apply changes only around corrective clicks (seglab.assist.refine)
    reach: float | None = 3.0  # and only within this many click-to-boundary distances of them (None gains
    # clicks, generated NoC@85 1.67 -> 1.42, coco8-seg 11.14 -> 10.73, but a click past IoU 0.98 may then
    # cost 0.02, which tests/assist/test_segment.py forbids)
    far_reach: float | None = 10.0  # but a click at least ``far_from`` pixels from the previous boundary sits
    # deep in a large wrong region (a missed leg, a leak into a neighbour): its change may reach this many
    # times that depth (coco8-seg NoC@85 11.23 -> 10.23, held-out 13.13 -> 11.74; a sliver past IoU 0.98
    # is never that deep, so small corrections stay local); None: ``reach`` for every click
    far_from: float = 8.0
    zoom: bool = True  # corrective clicks: segment on an enlarged crop around the object (seglab.assist.zoom)
    zoom_side: int = 400  # longer side of the resampled crop, pixels
    zoom_margin: float = 0.4  # the crop is the object's box grown by this fraction on each side
    zoom_min_margin: int = 16  # and at least this many full-resolution pixels
    zoom_min_gain: float = 1.5  # zoom only when the crop is this many times finer than the working image
    star: float = 3.0  # first click: nats per pixel of shared boundary to be foreground behind background
    # as seen from the click (a soft star-convexity prior)
    star_cos: float = 0.5  # an edge counts as radial when its direction is within this cosine of the ray
    star_all: bool = False  # also on corrective clicks (star-shaped w.r.t. the nearest positive click)
    first_reach: float = 3.0  # >0: first click, foreground costs more beyond this many times the click's
    # distance to the nearest strong edge (a size prior: a click sits well inside its object)
    strong_edge: float = 3.0  # an edge is strong at this many median appearance steps
    fg_model_scale: float = 3.0  # >0: foreground colour model weighted by exp(-geodesic / this) from the
    # positive clicks, so a leak far from them does not pollute it


def _model(hist: np.ndarray, weights: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """A smoothed palette distribution from weighted superpixel histograms."""
    counts = (hist * weights[:, None]).sum(0)
    total = counts.sum()
    p = counts / total if total > 0 else prior
    return 0.9 * p + 0.1 * prior


def _unary(
    graph: SuperpixelGraph,
    fg: np.ndarray,
    seeds_fg: np.ndarray,
    seeds_bg: np.ndarray,
    params: AutoParams,
    fg_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Per-pixel log-likelihood ratio fg / bg of each superpixel (N,), from the current labelling."""
    prior = (graph.hist * graph.area[:, None]).sum(0)
    prior = prior / prior.sum()
    fg_w = fg if fg_weight is None else fg * fg_weight
    wf = graph.area * (fg_w + params.seed_weight * seeds_fg)
    wb = graph.area * (~fg + params.seed_weight * seeds_bg)
    pf = _model(graph.context, wf, prior)
    pb = _model(graph.context, wb, prior)
    with np.errstate(divide="ignore", invalid="ignore"):  # palette entries absent from this image: 0 / 0
        ratio = np.where((pf > 0) & (pb > 0), np.log(pf / pb), 0.0)
    return graph.context @ ratio


def _pairwise(graph: SuperpixelGraph, params: AutoParams) -> np.ndarray:
    """Cut cost per edge: shared length times a contrast-sensitive factor on context histograms and colour."""
    i, j = graph.edges[:, 0], graph.edges[:, 1]
    hist_d = 1.0 - np.minimum(graph.context[i], graph.context[j]).sum(1)  # 0 same texture .. 1 disjoint
    lab_d = np.linalg.norm(graph.lab[i] - graph.lab[j], axis=1)
    beta_h = 1.0 / max(2 * float(np.mean(hist_d**2)), 1e-6)
    beta_l = 1.0 / max(2 * float(np.mean(lab_d**2)), 1e-6)
    similarity = np.maximum(np.exp(-beta_h * hist_d**2), np.exp(-beta_l * lab_d**2))
    return params.smoothness * graph.edge_length * similarity


def _geodesic(graph: SuperpixelGraph, seeds: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Shortest-path distance (N,) from the nearest seed over edges of the given cost (inf when no seed)."""
    if not seeds.any():
        return np.full(graph.count, np.inf)
    return dijkstra(graph.adjacency(cost), directed=False, indices=np.flatnonzero(seeds), min_only=True)


def _edge_cost(graph: SuperpixelGraph) -> np.ndarray:
    """Geodesic step cost: appearance change (context histograms and mean colour), plus a small
    spatial term so that distance still grows across a uniform region."""
    i, j = graph.edges[:, 0], graph.edges[:, 1]
    hist_d = 1.0 - np.minimum(graph.context[i], graph.context[j]).sum(1)
    lab_d = np.linalg.norm(graph.lab[i] - graph.lab[j], axis=1)
    appearance = np.minimum(
        hist_d / max(float(np.median(hist_d)), 1e-6), lab_d / max(float(np.median(lab_d)), 1e-6)
    )
    return appearance + 0.1 + 1e-6


def _stay_weight(graph: SuperpixelGraph, prompts: Prompts, params: AutoParams) -> np.ndarray:
    """Per-pixel pull (N,) towards the previous label, growing with distance from the corrective clicks.

    A user clicks inside the region that is wrong; how far the click is from the previous boundary tells
    the size of that region. Superpixels within ``correction_reach`` such distances of a corrective click
    are free to change; beyond, changing costs more and more, so a correction cannot spill across the
    image.
    """
    prev = prompts.previous
    assert prev is not None
    pts, reach = [], []
    for points, inside_wanted in ((prompts.positives, False), (prompts.negatives, True)):
        if not len(points):
            continue
        rows, cols = click_pixels(points)
        new = prev[rows, cols] == inside_wanted
        if not new.any():
            continue
        region = (prev if inside_wanted else ~prev).astype(np.uint8)
        dist = cv2.distanceTransform(np.pad(region, 1, constant_values=0), cv2.DIST_L2, 3)[1:-1, 1:-1]
        pts.append(points[new])
        reach.append(np.maximum(dist[rows[new], cols[new]], 2.0) * params.correction_reach)
    if not pts:
        return np.zeros(graph.count)
    p, r = np.concatenate(pts), np.concatenate(reach)  # (C, 2), (C,)
    d = np.linalg.norm(graph.centroid[:, None, :] - p[None, :, :], axis=2) / r[None, :]  # (N, C)
    beyond = np.maximum(d.min(1) - 1.0, 0.0)
    return params.stay * np.minimum(beyond, 3.0) ** 2


def _star(graph: SuperpixelGraph, clicks: np.ndarray, params: AutoParams) -> tuple[np.ndarray, np.ndarray]:
    """Soft star-convexity w.r.t. the nearest click as (extra edge weights (E,), extra fg cost (N,)).

    For an edge whose nearer end lies towards the click from the farther one, labelling the farther end
    foreground and the nearer background costs ``star`` per pixel of boundary; the directed penalty
    ``w [x_far = fg, x_near = bg]`` is the undirected ``w / 2`` plus ``+w / 2`` / ``-w / 2`` foreground
    cost on the far / near end, which keeps it a plain undirected cut.
    """
    i, j = graph.edges[:, 0], graph.edges[:, 1]
    c = graph.centroid
    d_all = np.linalg.norm(c[:, None, :] - clicks[None, :, :], axis=2)  # (N, C)
    nearest = clicks[np.argmin(d_all[i] + d_all[j], axis=1)]  # (E, 2) the click each edge is judged by
    di = np.linalg.norm(c[i] - nearest, axis=1)
    dj = np.linalg.norm(c[j] - nearest, axis=1)
    far = np.where(di >= dj, i, j)
    near = np.where(di >= dj, j, i)
    step = c[near] - c[far]
    ray = nearest - c[far]
    cos = (step * ray).sum(1) / np.maximum(np.linalg.norm(step, axis=1) * np.linalg.norm(ray, axis=1), 1e-9)
    w = np.where(cos >= params.star_cos, params.star * graph.edge_length, 0.0)
    fg_cost = np.zeros(graph.count)
    np.add.at(fg_cost, far, w / 2)
    np.add.at(fg_cost, near, -w / 2)
    return w / 2, fg_cost


def _first_reach(graph: SuperpixelGraph, clicks: np.ndarray, params: AutoParams) -> np.ndarray:
    """Per-pixel cost (N,) of foreground far from the first clicks relative to their distance to a strong
    edge: the simulated (and a real) user clicks well inside the object, so that distance tells its scale."""
    cost = _edge_cost(graph)
    strong = cost >= params.strong_edge
    if not strong.any():
        return np.zeros(graph.count)
    mid = 0.5 * (graph.centroid[graph.edges[strong, 0]] + graph.centroid[graph.edges[strong, 1]])
    r0 = np.linalg.norm(mid[None, :, :] - clicks[:, None, :], axis=2).min(1)  # (C,)
    r = np.maximum(r0, 4.0) * params.first_reach
    d = np.linalg.norm(graph.centroid[:, None, :] - clicks[None, :, :], axis=2) / r[None, :]
    beyond = np.maximum(d.min(1) - 1.0, 0.0)
    return params.stay * np.minimum(beyond, 3.0) ** 2


def superpixel_cut(session: AssistSession, prompts: Prompts, params: AutoParams) -> np.ndarray:
    """The superpixel labelling (N,) bool for prompts given at the working resolution."""
    graph = session_graph(session, segments=params.segments)
    pos = graph.touched(prompts.positives, prompts.scribbles_pos)
    neg = graph.touched(prompts.negatives, prompts.scribbles_neg)
    hard_fg, hard_bg = pos & ~neg, neg & ~pos
    inside = np.ones(graph.count, dtype=bool)
    if prompts.box is not None:
        x0, y0, x1, y1 = prompts.box
        cx, cy = graph.centroid[:, 0], graph.centroid[:, 1]
        inside = (cx > x0) & (cx < x1) & (cy > y0) & (cy < y1)
        hard_bg = hard_bg | (~inside & ~hard_fg)
    prev_cov = graph.coverage(prompts.previous) if prompts.previous is not None else None
    if prev_cov is not None and prev_cov.max(initial=0.0) >= 0.5:
        fg = (prev_cov >= 0.5) | hard_fg
    elif prompts.box is not None and not hard_fg.any():
        fg = inside.copy()
    else:
        fg = grow(graph, hard_fg, params.grow_tolerance) | hard_fg
    fg &= ~hard_bg
    bias = np.zeros(graph.count)  # extra per-pixel cost of foreground
    if prev_cov is not None:
        bias += params.prior_previous * (1.0 - 2.0 * prev_cov)
    if hard_fg.any() and params.geodesic > 0:
        cost = _edge_cost(graph)
        d_pos = _geodesic(graph, hard_fg, cost)
        far = hard_bg if prompts.box is not None else (hard_bg | (graph.border & ~hard_fg))
        d_neg = _geodesic(graph, far, cost)
        # Near (in appearance-weighted steps) a positive seed pulls to foreground, near a negative one to
        # background; far from every seed, the colour model alone decides.
        closeness = np.exp(-d_pos / params.geodesic_scale) - np.exp(-d_neg / params.geodesic_scale)
        bias -= params.geodesic * closeness
        clicked_bg = neg & ~pos  # the user's negative clicks and strokes (not the outside of a box)
        if params.voronoi > 0 and prev_cov is not None and clicked_bg.any():
            # A negative click inside the previous mask claims the part of it that is geodesically nearer
            # to it than to every positive click: the spurious region it was placed in.
            d_click = _geodesic(graph, clicked_bg, cost)
            nearer = np.tanh(np.clip((d_pos - d_click) / params.voronoi_scale, -10.0, 10.0))
            bias += params.voronoi * (prev_cov >= 0.5) * np.maximum(nearer, 0.0)
    if prev_cov is None and params.first_reach > 0 and len(prompts.positives) and prompts.box is None:
        bias += _first_reach(graph, np.asarray(prompts.positives, dtype=np.float64), params)
    if prev_cov is not None and params.correction_reach > 0:
        bias += _stay_weight(graph, prompts, params) * (1.0 - 2.0 * prev_cov)
    pair = _pairwise(graph, params)
    star_fg_cost = np.zeros(graph.count)
    if params.star > 0 and len(prompts.positives) and (prompts.previous is None or params.star_all):
        star_pair, star_fg_cost = _star(graph, np.asarray(prompts.positives, dtype=np.float64), params)
        pair = pair + star_pair
    fg_weight = None
    if params.fg_model_scale > 0 and hard_fg.any():
        fg_weight = np.exp(-_geodesic(graph, hard_fg, _edge_cost(graph)) / params.fg_model_scale)
    rounds = params.iterations if prompts.previous is not None else params.first_iterations
    for _ in range(rounds):
        llr = _unary(graph, fg, hard_fg, hard_bg, params, fg_weight) - bias
        cost_fg = graph.area * np.maximum(-llr, 0.0) + star_fg_cost
        cost_bg = graph.area * np.maximum(llr, 0.0)
        new = min_cut(cost_fg, cost_bg, graph.edges, pair, hard_fg=hard_fg, hard_bg=hard_bg)
        if np.array_equal(new, fg):
            break
        fg = new
    return fg


def _band_grabcut(
    image: np.ndarray, mask: np.ndarray, sure_fg: np.ndarray, sure_bg: np.ndarray, band: int
) -> np.ndarray:
    """GrabCut allowed to move the boundary of ``mask`` only within ``band`` pixels, on a crop."""
    if not mask.any() or mask.all():
        return mask
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    m = 4 * band + 8
    r0, r1 = max(0, ys.min() - m), min(h, ys.max() + m + 1)
    c0, c1 = max(0, xs.min() - m), min(w, xs.max() + m + 1)
    crop = mask[r0:r1, c0:c1].astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    inner = cv2.erode(crop, kernel, borderType=cv2.BORDER_REPLICATE).astype(bool)
    outer = cv2.dilate(crop, kernel, borderType=cv2.BORDER_REPLICATE).astype(bool)
    gc = np.full(crop.shape, cv2.GC_BGD, dtype=np.uint8)
    gc[outer] = cv2.GC_PR_BGD
    gc[crop.astype(bool) & outer] = cv2.GC_PR_FGD
    gc[inner] = cv2.GC_FGD
    gc[sure_fg[r0:r1, c0:c1]] = cv2.GC_FGD
    gc[sure_bg[r0:r1, c0:c1]] = cv2.GC_BGD
    if not (gc == cv2.GC_FGD).any() or not ((gc == cv2.GC_BGD) | (gc == cv2.GC_PR_BGD)).any():
        return mask
    try:
        grabcut(image[r0:r1, c0:c1], gc, 2)
    except cv2.error:  # degenerate colour models (a flat crop): keep the superpixel answer
        return mask
    out = mask.copy()
    out[r0:r1, c0:c1] = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    return out


def _segment_work(session: AssistSession, work: Prompts, params: AutoParams) -> np.ndarray:
    """The ``auto`` answer on the session's working image for prompts given at its resolution."""
    graph = session_graph(session, segments=params.segments)
    fg = superpixel_cut(session, work, params)
    mask = graph.mask_of(fg)
    if params.refine and mask.any():
        radius = max(1.0, 2.0 * min(session.work_scale, 1.0))
        sure_fg = draw_seeds(mask.shape, work.positives, work.scribbles_pos, radius)
        sure_bg = draw_seeds(mask.shape, work.negatives, work.scribbles_neg, radius)
        band = max(params.band, round(params.band_fraction * float(np.sqrt(mask.sum() / np.pi))))
        mask = _band_grabcut(session.work_image, mask, sure_fg, sure_bg, band)
    return mask


def _zoomed(
    session: AssistSession, prompts: Prompts, previous: np.ndarray, params: AutoParams
) -> np.ndarray | None:
    """The answer segmented on an enlarged crop around the previous mask and the prompts, the previous mask
    outside the crop; None when the object is too large for zooming to help."""
    box = zoom.object_box(prompts, previous)
    if box is None:
        return None
    crop = zoom.plan(
        session,
        box,
        margin=params.zoom_margin,
        min_margin=params.zoom_min_margin,
        side=params.zoom_side,
        min_gain=params.zoom_min_gain,
    )
    if crop is None:
        return None
    sub = zoom.crop_session(session, crop)
    return zoom.paste(_segment_work(sub, zoom.to_crop(prompts, crop), params), crop, previous)


def segment_auto(session: AssistSession, prompts: Prompts, params: AutoParams | None = None) -> np.ndarray:
    """The raw ``auto`` answer at full resolution (before :func:`seglab.assist.refine.finish`)."""
    params = params or AutoParams()
    prev = prompts.previous
    if params.zoom and prev is not None and prev.any():
        zoomed = _zoomed(session, prompts, prev, params)
        if zoomed is not None:
            return zoomed
    scale = session.work_scale
    work = prompts.scaled(scale) if scale < 1.0 else prompts
    mask = _segment_work(session, work, params)
    if mask.shape != prompts.size.shape:
        mask = resize_mask(mask, prompts.size)
    return mask
