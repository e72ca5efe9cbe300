"""Normalised YOLO values: the shortest decimals that give back the pixel coordinates, for a whole dataset
at once, and their text.

A reader multiplying by the image size should get the very pixel coordinate that was written, and a file
read and written again should keep its numbers (``0.479492``, not ``0.4794919999999999``). So each value is
written as the shortest decimal (1 to 17 places) that multiplies back exactly; where none does, the plain
quotient with full precision: nothing is ever rounded to fewer digits than the coordinate needs. The search
runs over every value of the dataset in one vectorised pass per decimal place, each pass only over the
values not settled yet, so its cost does not depend on the number of images.
"""

from __future__ import annotations

import numpy as np

try:  # optional: ``repr`` gives the same shortest round-trip text, about four times slower
    import orjson
except ImportError:  # pragma: no cover - exercised only where orjson is not installed
    orjson = None  # type: ignore[assignment]

MAX_PLACES = 17
SHORT = 12  # decimals of a quotient taken as it is (see _settled)
EPS = float(np.finfo(np.float64).eps)
SLACK = 64.0  # times the proven bound on how far a hit can be from its estimate (see _reach)
TINY = 1e-290  # keeps a reach above zero around zero and subnormal values


def _candidates(v: np.ndarray, places: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The floats nearest to ``v`` rounded to ``places`` decimals, and one decimal unit either side."""
    step = 10.0**-places
    return np.round(v, places), np.round(v + step, places), np.round(v - step, places)


def _settled(v: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Quotients that need no search: exact, and with at most ``SHORT`` decimals. Two different decimals
    that short differ by far more than the rounding of one multiplication, so no shorter decimal can
    multiply back to the same pixel value: the search would return the quotient itself."""
    return exact & (np.round(v, SHORT) == v)


def _reach(magnitude: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """How far from its estimate a box's centre or size can be and still multiply back: a hit needs the
    reader's sums to round to the pixel values, so it lies within a few ``EPS * magnitude / scale`` of the
    estimate (the bounds work out at 3 for the centre, 6 for the size; ``SLACK`` leaves room). Infinite
    where it is not a number (then nothing is skipped)."""
    with np.errstate(all="ignore"):
        reach = SLACK * EPS * (magnitude + TINY) / np.abs(scale)
    reach[np.isnan(reach)] = np.inf
    return reach


def _within(estimates: np.ndarray, places: int, reach: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where a candidate of ``places`` decimals can lie within ``reach`` of the estimate, and where the
    only such candidate is the estimate itself (already tried: the plain quotient). Candidates are the
    nearest decimal (``np.round``, as the search computes it) and, once a decimal unit is small beside the
    reach, those one unit either side (at least half a unit away, less their rounding)."""
    step = 10.0**-places
    nearest = np.round(estimates, places)
    near = np.abs(nearest - estimates) <= reach
    beside = 0.5 * step <= reach + 8.0 * EPS * (np.abs(estimates) + step)
    return near | beside, ~beside & (nearest == estimates)


def normalise(values: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``values / scale`` (same shapes, e.g. ``(P, 2)`` points and their image sizes) as the shortest
    decimals that multiply back to exactly ``values``; the plain quotient where none does."""
    target = np.asarray(values, dtype=np.float64).ravel()  # (V,)
    sizes = np.broadcast_to(scale, np.shape(values)).ravel()  # (V,)
    out = target / sizes
    todo = np.flatnonzero(~_settled(out, out * sizes == target))
    for places in range(1, MAX_PLACES + 1):
        if not todo.size:
            break
        t, s = target[todo], sizes[todo]
        settled = np.zeros(todo.size, dtype=bool)
        for cand in _candidates(out[todo], places):
            hit = ~settled & (cand * s == t)
            out[todo[hit]] = cand[hit]
            settled |= hit
        todo = todo[~settled]
    return out.reshape(np.shape(values))


def normalise_boxes(lo: np.ndarray, hi: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised centres and sizes of boxes ``lo..hi`` (``(N, 2)`` each, ``scale`` ``(N, 2)``): the
    shortest decimals for which the reader's ``c*W -/+ (s*W)/2`` gives back ``lo`` and ``hi`` exactly;
    else the plain quotients. Searched per axis, over every box at once; at each number of decimals only
    the boxes whose centre and size both have a candidate within reach (:func:`_within`) are tried."""
    c_out = (lo + hi) / 2.0 / scale
    s_out = (hi - lo) / scale
    for axis in range(lo.shape[1] if lo.ndim == 2 else 0):
        lo_a, hi_a, w = lo[:, axis], hi[:, axis], scale[:, axis]
        c_est, s_est = c_out[:, axis].copy(), s_out[:, axis].copy()
        c_res, s_res = c_out[:, axis], s_out[:, axis]  # views: written in place
        exact = ((c_est * w) - (s_est * w) / 2.0 == lo_a) & ((c_est * w) + (s_est * w) / 2.0 == hi_a)
        todo = np.flatnonzero(~(_settled(c_est, exact) & _settled(s_est, exact)))
        reach = _reach(np.maximum(np.abs(lo_a[todo]), np.abs(hi_a[todo])), w[todo])  # aligned with todo
        inexact = ~exact[todo]
        for places in range(1, MAX_PLACES + 1):
            if not todo.size:
                break
            c_t, s_t = c_est[todo], s_est[todo]
            c_possible, c_itself = _within(c_t, places, reach)
            s_possible, s_itself = _within(s_t, places, reach)
            tried = np.flatnonzero(c_possible & s_possible & ~(c_itself & s_itself & inexact))
            rows = todo[tried]
            l_t, h_t, w_t = lo_a[rows], hi_a[rows], w[rows]
            settled = np.zeros(tried.size, dtype=bool)
            sizes = _candidates(s_t[tried], places)
            for c in _candidates(c_t[tried], places):
                centre = c * w_t
                for size in sizes:
                    half = (size * w_t) / 2.0
                    hit = ~settled & ((centre - half) == l_t) & ((centre + half) == h_t)
                    c_res[rows[hit]], s_res[rows[hit]] = c[hit], size[hit]
                    settled |= hit
            keep = np.ones(todo.size, dtype=bool)
            keep[tried[settled]] = False
            todo, reach, inexact = todo[keep], reach[keep], inexact[keep]
    return c_out, s_out


def tokens(values: np.ndarray) -> list[str]:
    """The shortest round-trip text of every value (``repr``'s digits), in one call."""
    flat = np.ascontiguousarray(values, dtype=np.float64).ravel()
    if not flat.size:
        return []
    if orjson is not None:
        return orjson.dumps(flat, option=orjson.OPT_SERIALIZE_NUMPY).decode("ascii")[1:-1].split(",")
    return [repr(v) for v in flat.tolist()]


def visibility_tokens(values: np.ndarray) -> list[str]:
    """Keypoint visibility flags as integers (``2``), other values with full precision."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    whole = flat == np.floor(flat)
    out = tokens(flat)
    for i in np.flatnonzero(whole).tolist():
        out[i] = str(int(flat[i]))
    return out


def row_texts(values: np.ndarray) -> list[str]:
    """Each row of ``values`` ``(N, M)`` as its :func:`tokens` joined by spaces, from one serialisation."""
    rows = np.ascontiguousarray(values, dtype=np.float64)
    if not rows.size:
        return [""] * len(rows)
    if orjson is None:
        return [" ".join(repr(v) for v in row) for row in rows.tolist()]
    text = orjson.dumps(rows, option=orjson.OPT_SERIALIZE_NUMPY).decode("ascii")  # [[a,b],[c,d]]
    return text[2:-2].replace(",", " ").split("] [")


def run_texts(values: np.ndarray, lengths: np.ndarray) -> list[str]:
    """Consecutive runs of the flat ``values`` (run ``r`` holds ``lengths[r]`` of them), each as its
    :func:`tokens` joined by spaces, from one serialisation: a NaN marks the end of each run, which
    orjson writes as ``null`` (where a value is not finite, token lists are cut instead)."""
    flat = np.ascontiguousarray(values, dtype=np.float64).ravel()
    if not len(lengths):
        return []
    ends = np.cumsum(lengths)
    if orjson is None or not lengths.all() or not np.isfinite(flat).all():
        words = tokens(flat)
        return [" ".join(words[a:b]) for a, b in zip((ends - lengths).tolist(), ends.tolist(), strict=True)]
    marked = np.insert(flat, ends[:-1], np.nan)
    text = orjson.dumps(marked, option=orjson.OPT_SERIALIZE_NUMPY).decode("ascii")  # [a,b,null,c]
    return text[1:-1].replace(",", " ").split(" null ")
