"""Core types <-> JSON documents: the canonical form stored in the database and sent over the API.

Geometry documents, all in seglab pixel coordinates (never percentages, never rounded):

- box: ``{"x_min", "y_min", "x_max", "y_max", "rotation"}``
- polygon: ``{"parts": [{"exterior": [[x, y], ...], "holes": [[[x, y], ...], ...]}, ...]}``
- polyline: ``{"points": [[x, y], ...]}``
- keypoints: ``{"points": [[x, y, v], ...]}``
- mask: ``{"size": [height, width], "counts": "<COCO compressed RLE>"}``

An annotation document is ``{id, label, kind, <kind>: geometry, attributes, source, score, uncertainty,
z_order, group_id, track_id, crowd, extra}``. The same document is what history rows keep as before/after.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from seglab.core.annotation import Annotation, ShapeValue, Source
from seglab.core.geometry import Box, Keypoints, Polygon, PolygonPart, Polyline, all_finite
from seglab.core.mask import Mask
from seglab.core.ontology import (
    AttributeSpec,
    AttributeType,
    LabelClass,
    LabelKind,
    Ontology,
    ShapeType,
    Skeleton,
)

GEOMETRY_KEYS = tuple(t.value for t in ShapeType)
# Enum members and values looked up in plain dicts: an enum's attribute access and call run Python code,
# several times per object when thousands of objects are decoded and encoded per save.
_BOX, _POLYGON, _POLYLINE, _KEYPOINTS, _MASK = (
    ShapeType.BOX.value,
    ShapeType.POLYGON.value,
    ShapeType.POLYLINE.value,
    ShapeType.KEYPOINTS.value,
    ShapeType.MASK.value,
)
_KIND_NAMES: dict[ShapeType, str] = {t: t.value for t in ShapeType}
_SOURCES: dict[str, Source] = {s.value: s for s in Source}
_SOURCE_NAMES: dict[Source, str] = {s: s.value for s in Source}


class CodecError(ValueError):
    """A JSON document that does not describe a valid core object (the message says where)."""


# ----------------------------------------------------------------------------------------------- shapes


def shape_to_json(shape: ShapeValue, *, arrays: bool = False) -> dict[str, Any]:
    """The geometry document of a shape. With ``arrays`` its point lists stay numpy arrays, for
    ``orjson.dumps(..., option=orjson.OPT_SERIALIZE_NUMPY)``, which writes the same bytes as for the
    lists without building a Python list per vertex (saving thousands of polygons)."""
    points = np.ascontiguousarray if arrays else np.ndarray.tolist
    if isinstance(shape, Box):
        return {
            "x_min": shape.x_min,
            "y_min": shape.y_min,
            "x_max": shape.x_max,
            "y_max": shape.y_max,
            "rotation": shape.rotation,
        }
    if isinstance(shape, Polygon):
        return {
            "parts": [
                {"exterior": points(p.exterior), "holes": [points(h) for h in p.holes]} for p in shape.parts
            ]
        }
    if isinstance(shape, Polyline | Keypoints):
        return {"points": points(shape.points)}
    if isinstance(shape, Mask):
        return shape.rle_json()
    raise TypeError(f"not a shape: {type(shape).__name__}")


def _points(value: Any, columns: int, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CodecError(
            f"{what} must be a list of [{'x, y' if columns == 2 else 'x, y, v'}] points"
        ) from None
    if arr.size == 0:
        arr = arr.reshape(0, columns)
    if arr.ndim != 2 or arr.shape[1] != columns:
        raise CodecError(f"{what} must be a list of points with {columns} numbers each")
    if not all_finite(arr):
        raise CodecError(f"{what} contains NaN or infinity")
    return arr


def _ring(value: Any, what: str) -> np.ndarray:
    """A polygon ring as the core keeps it: checked ``(N, 2)`` float64 points, open (a closing vertex that
    repeats the first is dropped) and read-only, so the part needs no second copy (saving an image of
    thousands of polygons parses each once)."""
    ring = _points(value, 2, what)
    if isinstance(value, np.ndarray):
        ring = ring.copy()  # never freeze or alias the caller's array
    return _open_frozen(ring)


def _open_frozen(ring: np.ndarray) -> np.ndarray:
    """A checked ring in the core's form: open and read-only."""
    if len(ring) > 1 and ring[0].tolist() == ring[-1].tolist():  # Python floats: no numpy call per ring
        ring = ring[:-1]
    ring.setflags(write=False)
    return ring


def polygon_from_checked(parts: Iterable[tuple[np.ndarray, Iterable[np.ndarray]]]) -> Polygon:
    """A Polygon from ``(exterior, holes)`` rings already checked as :func:`_points` checks them (float64
    ``(N, 2)``, finite) and owned by the caller, which gives them up (they are frozen, not copied): the
    API schema's parsed point lists. Only the core's form is applied, as :func:`shape_from_json` does,
    so a whole-image save of thousands of new polygons checks each ring once."""
    return Polygon(
        tuple(
            PolygonPart.trusted(_open_frozen(exterior), tuple(_open_frozen(h) for h in holes))
            for exterior, holes in parts
        )
    )


def rle_counts(counts: str, what: str = "mask") -> np.ndarray:
    """Run lengths of a COCO compressed RLE string, decoded with numpy (no Python loop per character).

    Decoded here, before pycocotools sees the string, because its C decoder trusts the runs to add up to
    height x width and writes past its buffer when they do not.
    """
    if not counts.isascii():
        raise CodecError(f"{what}: RLE counts contain characters outside COCO's alphabet")
    raw = np.frombuffer(counts.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    if raw.size == 0:
        return np.zeros(0, dtype=np.int64)
    if (raw < 0).any() or (raw > 63).any():
        raise CodecError(f"{what}: RLE counts contain characters outside COCO's alphabet")
    more = (raw & 0x20) != 0  # continuation bit
    if more[-1]:
        raise CodecError(f"{what}: RLE counts end in the middle of a number")
    ends = np.flatnonzero(~more)  # last character of each number
    starts = np.concatenate([[0], ends[:-1] + 1])
    number = np.repeat(np.arange(len(ends)), ends - starts + 1)  # which number each character belongs to
    position = np.arange(raw.size) - starts[number]  # 5-bit group index within its number
    if position.max() > 11:
        raise CodecError(f"{what}: RLE count too large")
    values = np.zeros(len(ends), dtype=np.int64)
    np.add.at(values, number, (raw & 0x1F) << (5 * position))
    negative = (raw[ends] & 0x10) != 0
    values[negative] |= -1 << (5 * (position[ends][negative] + 1))
    # Counts from the fourth on are stored as the difference to the count two places before.
    counts_out = values.copy()
    counts_out[1::2] = np.cumsum(values[1::2])
    if len(values) > 2:
        counts_out[2::2] = np.cumsum(values[2::2])
    return counts_out


def mask_from_json(doc: Mapping[str, Any], what: str = "mask") -> Mask:
    """A Mask from ``{"size": [h, w], "counts": str | [int, ...]}`` whose runs cover exactly h x w pixels."""
    size = doc.get("size")
    counts = doc.get("counts")
    if not (isinstance(size, list | tuple) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        raise CodecError(f"{what}: size must be [height, width]")
    h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0:
        raise CodecError(f"{what}: size must be positive")
    if isinstance(counts, str):
        runs = rle_counts(counts, what)
    elif isinstance(counts, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
        runs = np.asarray(counts, dtype=np.int64)
    else:
        raise CodecError(f"{what}: counts must be a COCO RLE string or a list of integers")
    if (runs < 0).any():
        raise CodecError(f"{what}: RLE has a negative run")
    if int(runs.sum()) != h * w:
        raise CodecError(f"{what}: RLE runs cover {int(runs.sum())} pixels, the size says {h * w}")
    return Mask.from_rle({"size": [h, w], "counts": counts})


def shape_from_json(kind: str, doc: Any, what: str = "shape") -> ShapeValue:
    """The core shape of ``kind`` from its geometry document (checked: finite numbers, right layout)."""
    if type(doc) is not dict and not isinstance(doc, Mapping):
        raise CodecError(f"{what}: {kind} geometry must be an object")
    if kind == _BOX:
        values = []
        for key in ("x_min", "y_min", "x_max", "y_max"):
            v = doc.get(key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
                raise CodecError(f"{what}: box {key} must be a finite number")
            values.append(float(v))
        rotation = doc.get("rotation", 0.0)
        if isinstance(rotation, bool) or not isinstance(rotation, int | float) or not np.isfinite(rotation):
            raise CodecError(f"{what}: box rotation must be a finite number")
        return Box(*values, rotation=float(rotation))
    if kind == _POLYGON:
        parts_doc = doc.get("parts")
        if not isinstance(parts_doc, list) or not parts_doc:
            raise CodecError(f"{what}: polygon needs a non-empty list of parts")
        parts = []
        for i, part in enumerate(parts_doc):
            if type(part) is not dict and not isinstance(part, Mapping):
                raise CodecError(f"{what}: polygon part {i} must be an object with an exterior")
            exterior = _ring(part.get("exterior"), f"{what}: polygon part {i} exterior")
            holes_doc = part.get("holes", [])
            if not isinstance(holes_doc, list):
                raise CodecError(f"{what}: polygon part {i} holes must be a list of rings")
            holes = tuple(_ring(h, f"{what}: polygon part {i} hole {j}") for j, h in enumerate(holes_doc))
            parts.append(PolygonPart.trusted(exterior, holes))
        return Polygon(tuple(parts))
    if kind == _POLYLINE:
        return Polyline(_points(doc.get("points"), 2, f"{what}: polyline points"))
    if kind == _KEYPOINTS:
        return Keypoints(_points(doc.get("points"), 3, f"{what}: keypoints points"))
    if kind == _MASK:
        return mask_from_json(doc, what)
    raise CodecError(f"{what}: unknown kind {kind!r}; expected one of {', '.join(GEOMETRY_KEYS)}")


# ----------------------------------------------------------------------------------------- annotations


def annotation_to_json(ann: Annotation, *, arrays: bool = False) -> dict[str, Any]:
    """The annotation document (``arrays``: point lists as numpy arrays, see :func:`shape_to_json`)."""
    kind = _KIND_NAMES[ann.kind]
    return {
        "id": ann.id,
        "label": ann.label,
        "kind": kind,
        kind: shape_to_json(ann.shape, arrays=arrays),
        "attributes": dict(ann.attributes),
        "source": _SOURCE_NAMES[ann.source],
        "score": ann.score,
        "uncertainty": ann.uncertainty,
        "z_order": ann.z_order,
        "group_id": ann.group_id,
        "track_id": ann.track_id,
        "crowd": ann.crowd,
        "extra": dict(ann.extra),
    }


def _source(value: Any) -> Source:
    found = _SOURCES.get(value) if isinstance(value, str) else None
    return found if found is not None else Source(value)  # Source() raises the usual ValueError


def annotation_from_json(doc: Mapping[str, Any]) -> Annotation:
    """Inverse of :func:`annotation_to_json` (documents from the database or the history)."""
    kind = doc["kind"]
    return Annotation(
        id=int(doc["id"]),
        label=doc["label"],
        shape=shape_from_json(kind, doc[kind], what=f"object {doc['id']}"),
        attributes=dict(doc.get("attributes") or {}),
        source=_source(doc.get("source", "human")),
        score=doc.get("score"),
        uncertainty=doc.get("uncertainty"),
        z_order=int(doc.get("z_order") or 0),
        group_id=doc.get("group_id"),
        track_id=doc.get("track_id"),
        crowd=bool(doc.get("crowd", False)),
        extra=dict(doc.get("extra") or {}),
    )


# -------------------------------------------------------------------------------------------- ontology


def _attribute_to_json(spec: AttributeSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "type": spec.type.value,
        "choices": list(spec.choices),
        "default": spec.default,
        "minimum": spec.minimum,
        "maximum": spec.maximum,
    }


def _attribute_from_json(doc: Mapping[str, Any]) -> AttributeSpec:
    return AttributeSpec(
        name=doc["name"],
        type=AttributeType(doc.get("type", "text")),
        choices=tuple(doc.get("choices") or ()),
        default=doc.get("default"),
        minimum=doc.get("minimum"),
        maximum=doc.get("maximum"),
    )


def ontology_to_json(ontology: Ontology) -> dict[str, Any]:
    classes = []
    for c in ontology.classes:
        sk = c.skeleton
        classes.append(
            {
                "name": c.name,
                "color": list(c.color),
                "kind": c.kind.value,
                "shapes": sorted(s.value for s in c.shapes),
                "attributes": [_attribute_to_json(a) for a in c.attributes],
                "skeleton": None
                if sk is None
                else {
                    "points": list(sk.points),
                    "edges": [list(e) for e in sk.edges],
                    "sigmas": None if sk.sigmas is None else list(sk.sigmas),
                    "flip_index": None if sk.flip_index is None else list(sk.flip_index),
                },
                "id": c.id,
                "parent": c.parent,
                "extra": dict(c.extra),
            }
        )
    return {
        "classes": classes,
        "tags": list(ontology.tags),
        "image_attributes": [_attribute_to_json(a) for a in ontology.image_attributes],
        "full_coverage": ontology.full_coverage,
    }


def ontology_from_json(doc: Mapping[str, Any]) -> Ontology:
    """An Ontology from its document; ValueError (with the reason) when it is inconsistent."""
    classes = []
    for c in doc.get("classes") or ():
        sk = c.get("skeleton")
        skeleton = None
        if sk is not None:
            skeleton = Skeleton(
                points=tuple(sk["points"]),
                edges=tuple((int(a), int(b)) for a, b in sk.get("edges") or ()),
                sigmas=None if sk.get("sigmas") is None else tuple(float(v) for v in sk["sigmas"]),
                flip_index=None if sk.get("flip_index") is None else tuple(int(v) for v in sk["flip_index"]),
            )
        classes.append(
            LabelClass(
                name=c["name"],
                color=tuple(int(v) for v in c.get("color", (0, 0, 0))),  # type: ignore[arg-type]
                kind=LabelKind(c.get("kind", "thing")),
                shapes=frozenset(ShapeType(s) for s in c.get("shapes") or ()),
                attributes=tuple(_attribute_from_json(a) for a in c.get("attributes") or ()),
                skeleton=skeleton,
                id=c.get("id"),
                parent=c.get("parent"),
                extra=dict(c.get("extra") or {}),
            )
        )
    return Ontology(
        classes=tuple(classes),
        tags=tuple(doc.get("tags") or ()),
        image_attributes=tuple(_attribute_from_json(a) for a in doc.get("image_attributes") or ()),
        full_coverage=bool(doc.get("full_coverage", False)),
    )
