"""JSON for big COCO files: parsed and written a slice at a time, so a file never exists twice in memory.

Reading: the top-level object is walked key by key with the standard library's scanner, and the elements
of the big arrays (``images``, ``annotations``) go one by one to a callback. Those arrays are parsed in
slices of about ``CHUNK`` characters by orjson (three times faster than :mod:`json`); a slice is cut at a
``}, {`` between two elements, and a cut that is not really between elements (inside a string, a nested
list) makes the slice invalid JSON, so it is parsed element by element by the standard scanner instead, as
is anything orjson refuses (NaN, integers over 64 bits). Values are therefore exactly what :func:`json.loads`
gives, errors name the line and column, and memory holds the text plus one slice, not the whole parse tree
(six times the file size).

Writing: :class:`JsonObjectWriter` writes a top-level object key by key and big arrays in slices; numpy
arrays are written by orjson directly (shortest round-trip decimals, as ``repr``). orjson writes NaN as
``null``, so every value is checked for non-finite numbers first: NaN is not JSON and fails the write.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from seglab.core.errors import FormatError, UnsafeInputError
from seglab.formats.safe_io import MAX_JSON_BYTES

try:  # optional: the standard library does the same, about three times slower
    import orjson
except ImportError:  # pragma: no cover - exercised only where orjson is not installed
    orjson = None  # type: ignore[assignment]

CHUNK = 256 * 1024  # characters per orjson slice: big enough to amortise the call, small next to the file
STREAMED = object()  # the value of a streamed key in the returned object
_WS = re.compile(r"[ \t\n\r]*")
_BOUNDARY = re.compile(r"\}[ \t\n\r]*,[ \t\n\r]*\{")
_DECODER = json.JSONDecoder()
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]


def load_text(path: Path) -> str:
    """The text of a JSON file (UTF-8, BOM tolerated, UTF-16 with its BOM), with the size limit checked."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FormatError(f"cannot open: {exc.strerror}", file=str(path)) from None
    if size > MAX_JSON_BYTES:
        raise UnsafeInputError(
            f"JSON file of {size} bytes is over the {MAX_JSON_BYTES}-byte limit", file=str(path)
        )
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None


def load_streaming(path: Path, stream: Mapping[str, Callable[[Any], None]]) -> Any:
    """Parse a JSON file; each element of a top-level array named in ``stream`` goes to its callback.

    Returns the parsed document, where a streamed key holds :data:`STREAMED`. A document that is not an
    object is returned whole (no callback runs).
    """
    text = load_text(path)
    try:
        return _document(text, stream)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"malformed JSON: {exc.msg}", file=str(path), where=f"line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise UnsafeInputError("JSON nested too deeply", file=str(path)) from None


def _skip(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]


def _end(text: str, pos: int) -> None:
    pos = _skip(text, pos)
    if pos != len(text):
        raise json.JSONDecodeError("Extra data", text, pos)


def _document(text: str, stream: Mapping[str, Callable[[Any], None]]) -> Any:
    pos = _skip(text, 0)
    if not text.startswith("{", pos):
        value, pos = _DECODER.raw_decode(text, pos)
        _end(text, pos)
        return value
    out: dict[str, Any] = {}
    pos = _skip(text, pos + 1)
    if text.startswith("}", pos):
        _end(text, pos + 1)
        return out
    while True:
        if not text.startswith('"', pos):
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
        key, pos = _scanstring(text, pos + 1)
        pos = _skip(text, pos)
        if not text.startswith(":", pos):
            raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
        pos = _skip(text, pos + 1)
        handler = stream.get(key)
        if handler is not None and text.startswith("[", pos):
            if key in out:
                raise json.JSONDecodeError(f"key {key!r} appears twice", text, pos)
            pos = _array(text, pos, handler)
            out[key] = STREAMED
        else:
            out[key], pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text.startswith(",", pos):
            pos = _skip(text, pos + 1)
        elif text.startswith("}", pos):
            _end(text, pos + 1)
            return out
        else:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)


def _fast_slice(text: str) -> list[Any] | None:
    """The elements of ``[text]`` parsed by orjson, or None when orjson refuses it."""
    if orjson is None:
        return None
    try:
        items = orjson.loads(f"[{text}]")
    except orjson.JSONDecodeError:
        return None
    return items


def _array(text: str, pos: int, handler: Callable[[Any], None]) -> int:
    """Hand every element of the array at ``pos`` to ``handler``; returns the position after its ``]``."""
    pos = _skip(text, pos + 1)
    if text.startswith("]", pos):
        return pos + 1
    slow_until = -1  # after a refused slice, parse element by element up to here
    while True:
        if pos > slow_until and orjson is not None:
            cut = _BOUNDARY.search(text, pos + CHUNK)
            if cut is not None:
                items = _fast_slice(text[pos : cut.start() + 1])
                if items is not None:
                    for item in items:
                        handler(item)
                    pos = cut.end() - 1  # the '{' of the next element
                    continue
                slow_until = cut.start()
        value, pos = _DECODER.raw_decode(text, pos)
        handler(value)
        pos = _skip(text, pos)
        if text.startswith(",", pos):
            pos = _skip(text, pos + 1)
        elif text.startswith("]", pos):
            return pos + 1
        else:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)


# --------------------------------------------------------------------------------------------- writing


def non_finite(value: Any) -> bool:
    """Whether a JSON-bound value holds NaN or infinity anywhere (numpy arrays included)."""
    kind = type(value)
    if kind is float:
        return not math.isfinite(value)
    if kind is str or kind is int or kind is bool or value is None:
        return False
    if isinstance(value, dict):
        return any(non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(non_finite(v) for v in value)
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "f" and not bool(np.isfinite(value).all())
    return False


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class NonFiniteError(ValueError):
    """A value to write is NaN or infinite, which JSON cannot hold."""


def dumps(value: Any) -> bytes:
    """Compact JSON; numpy arrays as lists. Raises :class:`NonFiniteError` for NaN or infinity.

    orjson writes NaN as ``null``, so output holding ``null`` is checked value by value (rare: only
    where a ``None`` is written); anything else orjson refuses goes through :mod:`json`.
    """
    if orjson is not None:
        try:
            out = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
        except orjson.JSONEncodeError:
            pass  # integers over 64 bits, subclasses orjson refuses: the standard library decides
        else:
            if b"null" in out and non_finite(value):
                raise NonFiniteError("Out of range float values are not JSON compliant")
            return out
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_default)
    except ValueError as exc:
        raise NonFiniteError(str(exc)) from None
    return text.encode("utf-8")


class JsonObjectWriter:
    """Writes a JSON object key by key into an open binary file; arrays may be given as iterables."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._first = True
        fh.write(b"{")

    def _key(self, key: str) -> None:
        self._fh.write(b"" if self._first else b",")
        self._first = False
        self._fh.write(dumps(key) + b":")

    def value(self, key: str, value: Any) -> None:
        self._key(key)
        self._fh.write(dumps(value))

    def array(self, key: str, chunks: Iterable[list[Any]]) -> None:
        """An array written from lists of elements, each list serialised at once and then dropped."""
        self._key(key)
        self._fh.write(b"[")
        first = True
        for chunk in chunks:
            if not chunk:
                continue
            body = dumps(chunk)[1:-1]
            self._fh.write(body if first else b"," + body)
            first = False
        self._fh.write(b"]")

    def raw_array(self, key: str, elements: Iterable[bytes]) -> None:
        """An array of elements already serialised by :func:`dumps` (kept as bytes, far smaller than the
        objects they came from)."""
        self._key(key)
        self._fh.write(b"[")
        for i, element in enumerate(elements):  # one at a time: the elements may come from a file
            self._fh.write(b"," + element if i else element)
        self._fh.write(b"]")

    def close(self) -> None:
        self._fh.write(b"}")
