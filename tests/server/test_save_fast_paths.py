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
