"""CVAT's text for numbers, points, colours and shape sources, read strictly and written exactly."""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from seglab.core.annotation import Source
from seglab.formats.cvat.constants import CANONICAL_SOURCE, MODEL_SOURCES
from seglab.formats.safe_io import finite_number

_INT_RE = re.compile(r"\s*[+-]?\d+\s*")
_COLOR_RE = re.compile(r"#([0-9a-fA-F]{6})")
_POINTS_RE = re.compile(r"[^;,]*,[^;,]*(?:;[^;,]*,[^;,]*)*")


def parse_color(text: str | None) -> tuple[int, int, int] | None:
    """``#rrggbb`` as RGB; None for anything else (the caller decides whether that is an error)."""
    match = _COLOR_RE.fullmatch((text or "").strip())
    if not match:
        return None
    v = int(match.group(1), 16)
    return ((v >> 16) & 255, (v >> 8) & 255, v & 255)


def number_text(text: str, what: str) -> int | float:
    """An int for an integer literal, else a finite float (CVAT writes both)."""
    if _INT_RE.fullmatch(text):
        return int(text)
    return finite_number(text.strip(), what=what)


def int_text(text: str | None, what: str) -> int:
    """A whole number written as text (an XML attribute); ValueError naming ``what`` otherwise."""
    if text is None:
        raise ValueError(f"{what} is missing")
    if not _INT_RE.fullmatch(text):
        raise ValueError(f"{what} is {text!r}, not a whole number")
    return int(text)


def attr_number(attrib: Mapping[str, str], key: str) -> float:
    """The finite number in XML attribute ``key``; ValueError when it is missing or not a number."""
    text = attrib.get(key)
    if text is None:
        raise ValueError(f"{key} is missing")
    return finite_number(text.strip(), what=key)


def fmt(value: float) -> str:
    """Shortest text that reads back to exactly the same float (``12`` rather than ``12.0``)."""
    number = float(value)
    return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)


def source_of(raw: str | None) -> tuple[Source, str | None]:
    """seglab's source and the CVAT word to keep in extra when it is not the canonical one."""
    if raw is None:
        return Source.HUMAN, None
    source = Source.MODEL if raw in MODEL_SOURCES else Source.HUMAN
    return source, (None if raw == CANONICAL_SOURCE[source] else raw)


def source_word(source: Source, kept: object) -> str:
    """The ``source`` word to write: the one kept from the source while it still means ``source``."""
    if isinstance(kept, str) and source_of(kept)[0] is source:
        return kept
    return CANONICAL_SOURCE[source]


def parse_points(text: str | None, what: str) -> np.ndarray:
    """``"x0,y0;x1,y1"`` as a finite ``(N, 2)`` float array; ValueError naming what is wrong."""
    if text is None or not text.strip():
        raise ValueError(f"{what} has no points")
    body = text.strip().strip(";")
    if _POINTS_RE.fullmatch(body):  # fast path: well formed; every value still checked finite below
        try:
            out = np.array([float(v) for v in body.replace(";", ",").split(",")]).reshape(-1, 2)
            if np.isfinite(out).all():
                return out
        except ValueError:
            pass
    pairs = body.split(";")
    out = np.empty((len(pairs), 2), dtype=np.float64)  # slow path: find and name the first bad value
    for i, pair in enumerate(pairs):
        values = pair.split(",")
        if len(values) != 2:
            raise ValueError(f"{what}: point {i} is {pair.strip()!r}, not 'x,y'")
        for j, v in enumerate(values):
            out[i, j] = finite_number(v.strip(), what=f"{what}: point {i} {'xy'[j]}")
    return out


def points_text(points: np.ndarray) -> str:
    """``(N, 2+)`` points as CVAT's ``"x0,y0;x1,y1"``, every number exact."""
    return ";".join(f"{fmt(x)},{fmt(y)}" for x, y in np.asarray(points, dtype=np.float64)[:, :2].tolist())
