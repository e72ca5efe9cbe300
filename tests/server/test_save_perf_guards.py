"""The fast save path keeps every guarantee: JSON columns never hold NaN or infinity (orjson would write
them as null), the orjson-encoded rows, cache and history agree with each other, and a refused save
changes nothing."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.exc import StatementError

from seglab.core.annotation import Annotation, Source
from seglab.core.geometry import Box
from seglab.service import annotations as service
from seglab.service.access import Actor
from seglab.service.errors import Invalid
from seglab.storage import repositories as repo
from seglab.storage.db import JSONText, _serialize_json, encode_json
from seglab.storage.models import HistoryRow, Project
from tests.server.conftest import World, write_headers

BAD = (float("nan"), float("inf"), float("-inf"))


def _polygon(cx: float, cy: float, r: float = 5.0, n: int = 12) -> dict[str, Any]:
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], axis=1).round(3).tolist()
    return {"label": "road", "kind": "polygon", "polygon": {"parts": [{"exterior": ring, "holes": []}]}}


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize(
    "place",
    [
        lambda v: v,
        lambda v: [1.0, v],
        lambda v: {"a": [[1.0, 2.0], [3.0, v]]},
        lambda v: {"parts": [{"exterior": np.array([[1.0, 2.0], [v, 3.0]]), "holes": []}]},
        lambda v: (1, v),
        lambda v: {"k": np.float64(v)},
        lambda v: [10**400, v],  # a list whose sum cannot be taken as floats
        lambda v: [[1e308, 1e308], {"x": v}],  # the fast sum overflows: the exact check decides
    ],
)
def test_nan_and_infinity_are_refused_by_both_encoders(bad: float, place: Any) -> None:
    value = place(bad)
    with pytest.raises(ValueError):
        encode_json(value, "the value")
    with pytest.raises(ValueError):
        _serialize_json(value)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=20,
    )
)
def test_encode_json_reads_back_as_the_value_and_nests_encoded_parts(value: Any) -> None:
    encoded = encode_json(value)
    assert orjson.loads(encoded.text) == value
    assert orjson.loads(encode_json({"inner": encoded, "n": 1}).text) == {"inner": value, "n": 1}
    assert _serialize_json(encoded) == encoded.text  # checked text goes into the column as it is


def test_numpy_points_are_written_like_the_lists() -> None:
    rng = np.random.default_rng(4)
    points = np.concatenate([rng.uniform(-1e4, 1e4, 400), [1e-7, 1e22, 5e-324, 0.1 + 0.2, -0.0]])
    assert encode_json(points).text == encode_json(points.tolist()).text


def test_a_first_save_stores_rows_cache_and_history_that_agree(world: World) -> None:
    owner = world.user("owner")
    pid = world.project(owner)
    image = world.image(owner, pid)
    base = f"/api/projects/{pid}/images/{image['id']}"
    url = f"{base}/annotations"
    objects = [_polygon(8 + 4 * (i % 12), 8 + 3 * (i // 12)) for i in range(60)]
    objects[0]["attributes"] = {}
    objects[1]["extra"] = {"note": "é ✓", "nested": {"n": [1, 2.5]}}
    r = owner.put(url, json={"annotations": objects}, headers=write_headers(0))
    assert r.status_code == 200, r.text
    saved = r.json()
    assert [o["polygon"] for o in saved["annotations"]] == [o["polygon"] for o in objects]

    repo.DOCS_CACHE.clear()  # forget the cached bytes: the next load reads the rows
    loaded = owner.get(url)
    assert loaded.json() == saved
    assert owner.get(f"{base}/history/1").json()["annotations"] == saved["annotations"]

    def _history(s: Any) -> Any:
        return s.scalar(select(HistoryRow.changes).where(HistoryRow.image_id == image["id"]))

    changes = world.services.db.read(_history)
    assert [c["after"] for c in changes] == saved["annotations"]
    assert all(c["op"] == "create" and c["before"] is None for c in changes)

    # An edit of one object: the history holds that object's before (from the stored bytes) and after.
    edited = copy.deepcopy(saved["annotations"])
    edited[3]["polygon"]["parts"][0]["exterior"][0][0] += 0.5
    r = owner.put(url, json={"annotations": edited}, headers=write_headers(1))
    assert r.status_code == 200, r.text
    history = owner.get(f"{base}/history").json()
    assert history[0]["changes"] == [{"op": "update", "id": edited[3]["id"]}]
    assert owner.get(f"{base}/history/1").json()["annotations"] == saved["annotations"]
    assert owner.get(f"{base}/history/2").json()["annotations"] == edited


@pytest.mark.parametrize(
    "field, value",
    [("score", float("nan")), ("uncertainty", float("inf")), ("extra", {"x": [1.0, float("nan")]})],
)
def test_a_nan_from_a_python_caller_is_refused_and_changes_nothing(
    world: World, field: str, value: Any
) -> None:
    owner = world.user("owner")
    pid = world.project(owner)
    image = world.image(owner, pid)
    actor = Actor(owner.user_id, owner.username, False)
    box = Box(1.0, 2.0, 10.0, 12.0)
    fields: dict[str, Any] = {"source": Source.MODEL, "score": 0.5}
    good = Annotation(id=0, label="car", shape=box, **fields)
    bad = Annotation(id=0, label="car", shape=box, **{**fields, field: value})
    with pytest.raises((Invalid, ValueError)) as refused:
        service.save_annotations(
            world.services.db,
            actor=actor,
            project_id=pid,
            image_id=image["id"],
            annotations=[good, bad],
            expected_version=0,
        )
    assert "NaN" in str(refused.value) or "nan" in str(refused.value).lower()
    current = service.get_annotations(world.services.db, actor=actor, project_id=pid, image_id=image["id"])
    assert current.version == 0 and orjson.loads(current.encoded) == []


def test_every_other_json_column_still_refuses_nan(world: World) -> None:
    owner = world.user("owner")
    pid = world.project(owner)

    def _poison(s: Any) -> None:
        s.execute(update(Project).where(Project.id == pid).values(ontology={"classes": [], "w": math.nan}))

    with pytest.raises((StatementError, ValueError), match=r"(?i)nan|out of range"):
        world.services.db.write(_poison)
    ontology = world.services.db.read(lambda s: s.scalar(select(Project.ontology).where(Project.id == pid)))
    assert ontology["classes"]  # unchanged


def test_json_text_is_only_what_encode_json_checked() -> None:
    assert encode_json([1.0, 2.0]) == JSONText("[1.0,2.0]")
    with pytest.raises(TypeError):
        encode_json({"bad": object()})
