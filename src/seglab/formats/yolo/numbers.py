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


def _candidates(v: np.ndarray, places: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The floats nearest to ``v`` rounded to ``places`` decimals, and one decimal unit either side."""
    step = 10.0**-places
    return np.round(v, places), np.round(v + step, places), np.round(v - step, places)


def _settled(v: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Quotients that need no search: exact, and with at most ``SHORT`` decimals. Two different decimals
    that short differ by far more than the rounding of one multiplication, so no shorter decimal can
    multiply back to the same pixel value: the search would return the quotient itself."""
    return exact & (np.round(v, SHORT) == v)


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
    else the plain quotients. Searched per axis, over every box at once."""
    c_out = (lo + hi) / 2.0 / scale
    s_out = (hi - lo) / scale
    for axis in range(lo.shape[1] if lo.ndim == 2 else 0):
        lo_a, hi_a, w = lo[:, axis], hi[:, axis], scale[:, axis]
        c_est, s_est = c_out[:, axis].copy(), s_out[:, axis].copy()
        c_res, s_res = c_out[:, axis], s_out[:, axis]  # views: written in place
        exact = ((c_est * w) - (s_est * w) / 2.0 == lo_a) & ((c_est * w) + (s_est * w) / 2.0 == hi_a)
        todo = np.flatnonzero(~(_settled(c_est, exact) & _settled(s_est, exact)))
        for places in range(1, MAX_PLACES + 1):
            if not todo.size:
                break
            l_t, h_t, w_t = lo_a[todo], hi_a[todo], w[todo]
            settled = np.zeros(todo.size, dtype=bool)
            sizes = _candidates(s_est[todo], places)
            for c in _candidates(c_est[todo], places):
                centre = c * w_t
                for size in sizes:
                    half = (size * w_t) / 2.0
                    hit = ~settled & ((centre - half) == l_t) & ((centre + half) == h_t)
                    c_res[todo[hit]], s_res[todo[hit]] = c[hit], size[hit]
                    settled |= hit
            todo = todo[~settled]
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
