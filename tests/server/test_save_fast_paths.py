"""The shortcuts of the whole-image save decide exactly as the general code they stand in for: the flat
point parse of the schema, the bounds check of all polygons at once, the codec's enum lookups."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seglab.api.schemas import _flat_points, _general_points, parse_points
from seglab.core.annotation import Annotation, Source
from seglab.core.conventions import ImageSize
from seglab.core.geometry import Box, Keypoints, Polygon, PolygonPart, Polyline
from seglab.service.validation import _outside, geometry_problems, outside_flags
from seglab.storage import repositories as repo
from seglab.storage.codec import CodecError, annotation_from_json, annotation_to_json
from tests.server.conftest import World

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


# ------------------------------------------- the encoded object, the history row and the driver-level insert


@settings(max_examples=200, deadline=None)
@given(_geometries, _scalars, st.integers(1, 10**6))
def test_to_doc_keeps_the_canonical_key_order(
    geometry: tuple[str, dict[str, Any]], scalars: dict[str, Any], object_id: int
) -> None:
    from seglab.api.routes.annotations import _parse

    kind, shape = geometry
    try:
        annotation = _parse({**scalars, "kind": kind, kind: shape}, "x", object_id)
    except (CodecError, ValueError):
        return
    for arrays in (False, True):
        doc = repo.to_doc(annotation, arrays=arrays)
        assert list(doc) == list(repo._ordered(doc))


def _encoded_changes(extra: dict[str, Any] | None = None) -> list[Any]:
    ring = [[0.0, 0.0], [4.5, 0.0], [4.0, 3.0]]
    changes: list[Any] = [repo.Change("delete", 9, {"id": 9, "label": "a", "score": 1e-05}, None)]
    for i, shape in enumerate([Polygon((PolygonPart(np.array(ring)),)), Box(0.0, 1.0, 2.0, 3.5)]):
        annotation = Annotation(id=i + 1, label="a\\b", shape=shape, score=0.25, extra=extra or {})
        canonical, encoded, splices = repo.encoded_object(repo.to_doc(annotation, arrays=True), "x")
        assert splices and encoded == repo.encoded_doc(canonical, "x")[1]
        op = "create" if i == 0 else "update"
        before = None if i == 0 else {"id": 2, "label": "b", "extra": {"n": 2**70}}
        changes.append(repo.Change(op, i + 1, before, canonical, encoded if splices else None))
    return changes


@pytest.mark.parametrize("extra", [None, {"big": 2**70, "s": "ü"}])
def test_the_history_row_splices_encoded_objects_as_encode_json_writes_them(extra: Any) -> None:
    from seglab.storage.db import encode_json

    changes = _encoded_changes(extra)
    expected = encode_json([c.to_json() for c in changes], "h", checked=True)
    assert repo._history_json(changes, "h", checked=True) == expected
    assert orjson.loads(expected.text)[1]["after"] == orjson.loads(changes[1].after_json)


def test_an_object_only_the_standard_encoder_writes_is_not_spliced() -> None:
    doc = repo.to_doc(Annotation(id=1, label="a", shape=Box(0.0, 0.0, 1.0, 1.0)), arrays=True)
    _, encoded, splices = repo.encoded_object({**doc, "group_id": 2**70}, "x")
    assert not splices and encoded == repo.encoded_doc({**doc, "group_id": 2**70}, "x")[1]
    assert b"1180591620717411303424" in encoded


def _row_docs() -> list[dict[str, Any]]:
    ring = np.array([[0.5, 0.25], [40.0, 0.0], [40.0, 30.125]])
    annotations = [
        Annotation(id=1, label="car", shape=Polygon((PolygonPart(ring),))),
        Annotation(
            id=2,
            label="tab\there \\ and\nnewline ü",
            shape=Box(1.0, 2.0, 3.0, 4.0, rotation=-0.0),
            attributes={"occluded": True, "colour": "red\\blue\t"},
            source=Source.MODEL,
            score=0.1 + 0.2,
            uncertainty=1e-300,
            z_order=-(2**31),
            group_id=2**31 - 1,
            track_id=0,
            crowd=True,
            extra={"k": ["\\", "\x01", 1e308, -5]},
        ),
    ]
    return [repo.encoded_doc(repo.to_doc(a, arrays=True), "x")[0] for a in annotations]


def _stored_rows(world: World, image_id: int) -> list[tuple[Any, ...]]:
    from sqlalchemy import Text, cast

    from seglab.storage.models import AnnotationRow as R

    columns = [
        getattr(R, c)
        for c in repo._INSERT_COLUMNS
        if c not in ("image_id", "geometry", "attributes", "extra")
    ]
    query = (
        select(*columns, cast(R.geometry, Text), cast(R.attributes, Text), cast(R.extra, Text))
        .where(R.image_id == image_id)
        .order_by(R.object_id)
    )
    return world.services.db.read(lambda s: [tuple(r) for r in s.execute(query)])


def test_the_driver_level_insert_stores_what_the_typed_insert_stores(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seglab.storage.models import Image

    typed_statements: list[Any] = []
    real_execute = Session.execute

    def counting_execute(self: Session, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if statement is repo._INSERT_OBJECTS:
            typed_statements.append(statement)
        return real_execute(self, statement, *args, **kwargs)

    monkeypatch.setattr(Session, "execute", counting_execute)

    owner = world.user("owner")
    pid = world.project(owner)
    fast, typed = world.image(owner, pid)["id"], world.image(owner, pid)["id"]
    docs = _row_docs()
    assert all(repo._driver_row(d, fast, pid) is not None for d in docs)

    def insert(s: Any, image_id: int, driver: bool) -> None:
        image = s.get(Image, image_id)
        if driver:
            repo._insert_rows(s, image, docs)
        else:
            s.execute(repo._INSERT_OBJECTS, [repo._encoded_row_values(d, image_id, pid) for d in docs])

    world.services.db.write(lambda s: insert(s, fast, True))
    assert typed_statements == []  # the driver-level path ran (sqlite3 and psycopg both have one)
    world.services.db.write(lambda s: insert(s, typed, False))
    assert len(typed_statements) == 1
    assert _stored_rows(world, fast) == _stored_rows(world, typed)
    # A database error comes out as SQLAlchemy's, as from the typed insert (the retry relies on it).
    with pytest.raises(IntegrityError):
        world.services.db.write(lambda s: insert(s, fast, True))


@pytest.mark.parametrize(
    "change",
    [
        {"score": 1},
        {"group_id": 2**31},
        {"z_order": True},
        {"label": "x" * 201},
        {"label": "a\x00b"},
        {"source": None},
        {"uncertainty": float("nan")},
        {"extra": {"k": 1}},  # not encoded: the typed insert encodes (and checks) it
    ],
)
def test_values_the_drivers_might_store_otherwise_take_the_typed_insert(change: dict[str, Any]) -> None:
    doc = _row_docs()[1]
    assert repo._driver_row(doc, 1, 1) is not None
    assert repo._driver_row({**doc, **change}, 1, 1) is None
