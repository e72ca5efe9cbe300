"""The shortcuts of the whole-image save decide exactly as the general code they stand in for: the flat
point parse of the schema, the bounds check of all polygons at once, the codec's enum lookups."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seglab.api.schemas import _flat_points, _general_points, parse_points
from seglab.core.annotation import Annotation, Source
from seglab.core.conventions import ImageSize
from seglab.core.geometry import Box, Keypoints, Polygon, PolygonPart, Polyline
from seglab.service.validation import _outside, geometry_problems, outside_flags
from seglab.storage import repositories as repo
from seglab.storage.codec import CodecError, annotation_from_json, annotation_to_json

_numbers = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-(2**70), 2**70)
    | st.booleans()
    | st.sampled_from(["1.5", None, [1.0], {"x": 1}, 10**400, 1e308])
)
_point = st.lists(_numbers, min_size=0, max_size=4)
_points = st.lists(_point | _numbers, min_size=1, max_size=6)


def _outcome(parse: Any, value: Any, columns: int) -> Any:
    try:
        return parse(value, columns)
    except ValueError as exc:
        return str(exc)


_finite = st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-(2**40), 2**40)


def _point_lists(columns: int) -> st.SearchStrategy[list[Any]]:
    """Mostly well-formed lists of ``columns``-number points (the fast path), some with a flaw."""
    good = st.lists(st.lists(_finite, min_size=columns, max_size=columns), min_size=1, max_size=6)
    mixed = st.lists(st.lists(_finite | _numbers, min_size=columns, max_size=columns), min_size=1, max_size=6)
    return good | mixed | _points


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([2, 3]).flatmap(lambda c: st.tuples(_point_lists(c), st.just(c))))
def test_the_flat_point_parse_decides_as_the_general_parse(case: tuple[list[Any], int]) -> None:
    value, columns = case
    fast, general = _outcome(parse_points, value, columns), _outcome(_general_points, value, columns)
    if isinstance(general, str):
        assert fast == general
    else:
        assert isinstance(fast, np.ndarray) and fast.dtype == np.float64
        assert fast.shape == general.shape and np.array_equal(fast, general)


@pytest.mark.parametrize(
    "value, reason",
    [
        ([[0, 0], ["5", 5]], "numbers only"),
        ([[0, 0], [5]], "2 numbers each"),
        ([[0, 0, 1], [5, 5, 1]], "2 numbers each"),
        ([[0, 0], [2**70, 1.0]], "numbers only"),
        ([[0, 0], [None, 1.0]], "numbers only"),
        ([[0.0, float("nan")]], "NaN or infinity"),
        ([[1e308, 1e308], [1e308, 1.0]], None),  # the fast sum overflows; the numbers are finite
        ([[True, 2], [3, 4.5]], None),
    ],
)
def test_points_are_refused_or_kept_as_before(value: list[Any], reason: str | None) -> None:
    parsed = _outcome(parse_points, value, 2)
    if reason is None:
        assert np.array_equal(parsed, np.asarray(value, dtype=np.float64))
    else:
        assert isinstance(parsed, str) and reason in parsed, parsed
    assert _flat_points(value, 2) is None or reason is None


_coordinate = st.floats(-50, 1100, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["polygon", "polyline", "box", "keypoints"]),
            st.lists(st.tuples(_coordinate, _coordinate), min_size=3, max_size=8),
            st.integers(0, 2),
        ),
        min_size=0,
        max_size=8,
    )
)
def test_outside_flags_agree_with_the_check_of_one_object(objects: list[Any]) -> None:
    size = ImageSize(1024, 768)
    annotations = []
    for i, (kind, points, holes) in enumerate(objects):
        ring = np.array(points, dtype=np.float64)
        if kind == "polygon":
            shape: Any = Polygon((PolygonPart(ring, tuple(ring[::-1] + 1 for _ in range(holes))),))
        elif kind == "polyline":
            shape = Polyline(ring)
        elif kind == "box":
            shape = Box(1.0, 1.0, 5.0, 5.0)
        else:
            shape = Keypoints(np.column_stack([ring, np.full(len(ring), 2.0)]))
        annotations.append(Annotation(id=i + 1, label="a", shape=shape))
    flags = outside_flags(annotations, size)
    for annotation, flag in zip(annotations, flags, strict=True):
        shape = annotation.shape
        if isinstance(shape, Polygon | Polyline):
            assert flag == _outside(shape.coordinates(), size)
            ontology: Any = None
            assert geometry_problems(annotation, size, ontology, None, flag) == geometry_problems(
                annotation, size, ontology
            )
        else:
            assert flag is None


def test_the_codec_reads_sources_and_kinds_through_its_lookups() -> None:
    for source in Source:
        ring = [[0.0, 0.0], [4.0, 0.0], [4.0, 3.0], [0.0, 0.0]]  # closed: the repeated vertex goes
        doc = {"id": 3, "label": "a", "kind": "polygon", "polygon": {"parts": [{"exterior": ring}]}}
        annotation = annotation_from_json({**doc, "source": source.value})
        assert annotation.source is source
        assert len(annotation.shape.parts[0].exterior) == 3
        out = annotation_to_json(annotation)
        assert out["kind"] == "polygon" and type(out["kind"]) is str
        assert out["source"] == source.value and type(out["source"]) is str
    with pytest.raises(ValueError):
        annotation_from_json({**doc, "source": "robot"})
    with pytest.raises(CodecError, match="must be an object"):
        annotation_from_json({**doc, "polygon": {"parts": ["no"]}})


@pytest.mark.parametrize("field, value", [("score", float("nan")), ("uncertainty", float("-inf"))])
def test_an_encoded_document_refuses_nan_outside_the_checked_geometry(field: str, value: float) -> None:
    doc = repo.to_doc(Annotation(id=1, label="a", shape=Box(0.0, 0.0, 1.0, 1.0)), arrays=True)
    repo.encoded_doc(doc, "x", geometry_checked=True)
    with pytest.raises(ValueError, match="NaN"):
        repo.encoded_doc({**doc, field: value}, "x", geometry_checked=True)
    with pytest.raises(ValueError, match="NaN"):
        repo.encoded_doc({**doc, "extra": {"k": [value]}}, "x", geometry_checked=True)


# ---------------------------------------- the schema's core annotation vs the codec's decode of its document


def _ring(closed: bool) -> st.SearchStrategy[list[list[Any]]]:
    ring = st.lists(st.lists(_finite, min_size=2, max_size=2), min_size=0, max_size=6)
    return ring.map(lambda r: [*r, r[0]] if closed and r else r)


_rings = st.booleans().flatmap(_ring)
_parts = st.lists(
    st.fixed_dictionaries({"exterior": _rings}, optional={"holes": st.lists(_rings, max_size=2)}),
    min_size=1,
    max_size=3,
)
_geometries = st.one_of(
    st.builds(lambda parts: ("polygon", {"parts": parts}), _parts),
    st.tuples(st.just("polyline"), st.builds(lambda p: {"points": p}, _ring(False))),
    st.tuples(
        st.just("keypoints"),
        st.builds(lambda p: {"points": p}, st.lists(st.lists(_finite, min_size=3, max_size=3), max_size=4)),
    ),
    st.tuples(
        st.just("box"),
        st.fixed_dictionaries(
            {"x_min": _finite, "y_min": _finite, "x_max": _finite, "y_max": _finite},
            optional={"rotation": _finite},
        ),
    ),
    st.tuples(st.just("mask"), st.just({"size": [2, 3], "counts": [1, 2, 3]})),
)
_scalars = st.fixed_dictionaries(
    {"label": st.sampled_from(["car", "dog"])},
    optional={
        "score": st.none() | _finite,
        "uncertainty": st.none() | st.floats(0, 1) | st.sampled_from([0, 1]),
        "z_order": st.integers(-5, 5),
        "crowd": st.booleans(),
        "source": st.sampled_from([s.value for s in Source]),
        "group_id": st.none() | st.integers(0, 9),
        "track_id": st.none() | st.integers(0, 9),
        "attributes": st.dictionaries(
            st.sampled_from(["a", "b"]), st.booleans() | _finite | st.text(max_size=3)
        ),
        "extra": st.dictionaries(st.sampled_from(["x", "y"]), st.integers() | st.text(max_size=3)),
    },
)


@settings(max_examples=300, deadline=None)
@given(_geometries, _scalars, st.integers(1, 10**6))
def test_the_schemas_core_annotation_encodes_as_the_codecs_decode_of_its_document(
    geometry: tuple[str, dict[str, Any]], scalars: dict[str, Any], object_id: int
) -> None:
    """A new object of a whole-image save goes from the validated model straight to the core annotation
    (rings not checked a second time): the same stored bytes as decoding the model's document."""
    from seglab.api.routes.annotations import _parse
    from seglab.api.schemas import AnnotationCreate

    kind, shape = geometry
    sent = {**scalars, "kind": kind, kind: shape}

    def encoded(annotation: Annotation) -> bytes:
        return repo.encoded_doc(repo.to_doc(annotation, arrays=True), "x", geometry_checked=True)[1]

    reference = repo.from_doc({**AnnotationCreate.model_validate(sent).document(0), "id": object_id})
    direct = _parse(sent, "x", object_id)
    assert direct == reference
    assert encoded(direct) == encoded(reference)
    if kind == "polygon":
        rings = [r for p in direct.shape.parts for r in (p.exterior, *p.holes)]
        assert all(r.dtype == np.float64 and r.ndim == 2 and not r.flags.writeable for r in rings)


def test_the_schemas_core_annotation_does_not_freeze_the_callers_arrays() -> None:
    from seglab.api.schemas import AnnotationCreate

    ring = np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 4.0]])
    model = AnnotationCreate.model_validate(
        {"label": "car", "kind": "polygon", "polygon": {"parts": [{"exterior": ring}]}}
    )
    model.core(1, "object 1")
    assert ring.flags.writeable
