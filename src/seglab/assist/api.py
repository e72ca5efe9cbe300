"""``segment``: clicks, strokes, a box and the last mask in; a boolean mask out. And the same as a polygon.

Every method answers at the image's full resolution and obeys the rules of :mod:`seglab.assist.refine`
(positive clicks in, negative clicks out, corrections act where they are clicked). Per-image work is cached
in an :class:`~seglab.assist.cache.AssistSession`: pass one, or let ``segment`` find it by pixel hash in
the process-wide LRU.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

from seglab.assist.cache import AssistSession, session_for
from seglab.assist.combined import AutoParams, segment_auto
from seglab.assist.grabcut import segment_grabcut
from seglab.assist.prompts import Prompts, check_image
from seglab.assist.refine import finish, local_update
from seglab.assist.superpixels import select
from seglab.assist.wand import DEFAULT_TOLERANCE, segment_wand
from seglab.core.conventions import ImageSize
from seglab.core.geometry import Polygon
from seglab.core.raster import mask_to_polygon

Method = Literal["auto", "combined", "grabcut", "superpixels", "wand", "sam"]
METHODS: tuple[str, ...] = ("auto", "combined", "grabcut", "superpixels", "wand", "sam")
Point = Sequence[float]


def _sam_configured(session: AssistSession) -> bool:
    return session.sam is not None or bool(
        os.environ.get("SEGLAB_SAM_ENCODER") and os.environ.get("SEGLAB_SAM_DECODER")
    )


def segment(
    image: np.ndarray,
    *,
    positives: Iterable[Point] | np.ndarray = (),
    negatives: Iterable[Point] | np.ndarray = (),
    box: Sequence[float] | None = None,
    previous: np.ndarray | None = None,
    scribbles_pos: Iterable[Iterable[Point]] = (),
    scribbles_neg: Iterable[Iterable[Point]] = (),
    method: Method = "auto",
    session: AssistSession | None = None,
    wand_tolerance: float = DEFAULT_TOLERANCE,
    params: AutoParams | None = None,
) -> np.ndarray:
    """The object the prompts point at, as an ``(H, W)`` bool mask.

    ``image`` is ``(H, W, 3)`` uint8 RGB. Clicks are ``(x, y)`` in seglab's continuous pixel coordinates
    (a click at ``(x, y)`` selects pixel ``(floor(y), floor(x))``); ``box`` is ``(x_min, y_min, x_max,
    y_max)``; scribbles are strokes, each a list of points along it. ``previous`` is the mask of the last
    round, which corrective clicks refine instead of starting over.

    ``method``: ``"auto"`` (the SAM backend when one is configured, else ``"combined"``), ``"combined"``
    (superpixel graph cut refined by GrabCut; see :mod:`seglab.assist.combined`), ``"grabcut"``,
    ``"superpixels"``, ``"wand"`` (flood fill within ``wand_tolerance`` per RGB channel), ``"sam"``.
    Raises ValueError on a malformed image or prompt, or an unknown method.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    image = check_image(image)
    if session is None:
        session = session_for(image)
    elif session.image.shape != image.shape:
        raise ValueError(f"session holds an image of shape {session.image.shape}, got {image.shape}")
    prompts = Prompts.build(
        ImageSize.from_shape(image.shape),
        positives=positives,
        negatives=negatives,
        box=box,
        scribbles_pos=scribbles_pos,
        scribbles_neg=scribbles_neg,
        previous=previous,
    )
    if method == "auto":
        method = "sam" if _sam_configured(session) else "combined"
    if not prompts.has_seed:
        return np.zeros(prompts.size.shape, dtype=bool)
    if method == "wand":
        # The wand adds and removes whole fills itself; only the click rules apply on top.
        return finish(
            prompts,
            segment_wand(session.image, prompts, tolerance=wand_tolerance),
            keep_components=False,
            hole_fraction=0.0,
        )
    if method == "superpixels":
        return finish(prompts, select(session, prompts), keep_components=False, hole_fraction=0.0)
    if method == "grabcut":
        raw = segment_grabcut(session, prompts)
    elif method == "sam":
        from seglab.assist.onnx_sam import sam_for_session

        sam = sam_for_session(session)
        raw, low_res = sam.predict(session, prompts)
        # SAM re-reads the whole object each round (its last logits come back as mask_input), so its
        # answer replaces the previous one; only the click rules are imposed.
        answer = finish(prompts, raw)
        session.remember(f"sam:{sam.id}", answer, low_res)
        return answer
    elif prompts.box is not None and not prompts.has_positive and prompts.previous is None:
        # A box alone is GrabCut's own setting (inside probable, outside sure background), and it does
        # better there than the superpixel model, which needs a click to anchor its geodesic term.
        raw = segment_grabcut(session, prompts)
    else:
        raw = segment_auto(session, prompts, params)
        params = params or AutoParams()
        if not params.local_corrections:
            return finish(prompts, raw)
        local = local_update(
            prompts,
            finish(prompts, raw),
            reach=params.reach,
            far_reach=params.far_reach,
            far_from=params.far_from,
        )
        return finish(prompts, local)
    return finish(prompts, local_update(prompts, finish(prompts, raw)))


def segment_to_polygon(
    image: np.ndarray,
    *,
    tolerance: float,
    **kwargs: object,
) -> tuple[np.ndarray, Polygon]:
    """``segment`` and the mask's outline through the core's exact tracer.

    ``tolerance`` is the Douglas-Peucker simplification in pixels, required on purpose: 0 keeps the exact
    pixel-edge outline (``polygon_to_mask`` gives the mask back bit for bit), anything larger is the user's
    trade of vertices for exactness. Returns the mask and the polygon.
    """
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a finite number of pixels >= 0, got {tolerance}")
    mask = segment(image, **kwargs)  # type: ignore[arg-type]
    return mask, mask_to_polygon(mask, tolerance=tolerance)
