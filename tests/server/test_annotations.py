"""Annotations: exact geometry, validation against the ontology, If-Match concurrency, per-object edits,
history and restore, and the review workflow with the annotator queue."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pytest
from pycocotools import mask as coco_mask

from tests.server.conftest import ONTOLOGY, Client, World, box, write_headers

W, H = 64, 48


def _mask_rle() -> dict[str, Any]:
    m = np.zeros((H, W), dtype=np.uint8)
    m[10:30, 5:40] = 1
    m[15:20, 10:20] = 0
    rle = coco_mask.encode(np.asfortranarray(m))
    return {"size": [H, W], "counts": rle["counts"].decode("ascii")}


def all_shapes() -> list[dict[str, Any]]:
    third = 1.0 / 3.0
    return [
        {
            "label": "car",
            "kind": "box",
            "box": {"x_min": 0.1 + 0.2, "y_min": third, "x_max": 30.5, "y_max": 20.0, "rotation": 12.5},
            "attributes": {"occluded": True, "colour": "red"},
            "source": "model",
            "score": 0.875,
            "uncertainty": 0.25,
            "z_order": 3,
            "group_id": 7,
            "track_id": 11,
        },
        {
            "label": "road",
            "kind": "polygon",
            "polygon": {
                "parts": [
                    {
                        "exterior": [[0.0, 30.0], [63.5, 30.0], [63.5, 47.75], [0.0, 47.75]],
                        "holes": [[[10.0, 35.0], [20.0, 35.0], [20.0, 40.0 + third]]],
                    },
                    {"exterior": [[40.0, 1.0], [50.0, 1.0], [45.0, 9.0]], "holes": []},
                ]
            },
        },
        {
            "label": "lane",
            "kind": "polyline",
            "polyline": {"points": [[1.0, 47.0], [30.25, 31.0], [63.0, 29.5]]},
        },
        {
            "label": "person",
            "kind": "keypoints",
            "keypoints": {"points": [[10.5, 5.5, 2.0], [8.0, 12.0, 1.0], [0.0, 0.0, 0.0]]},
        },
        {"label": "car", "kind": "mask", "mask": _mask_rle(), "crowd": True},
    ]


def _setup(world: World, **members: Client) -> tuple[Client, int, int, str]:
    owner = world.user("owner")
    pid = world.project(owner, **members)
    image = world.image(owner, pid, size=(W, H))
    return owner, pid, image["id"], f"/api/projects/{pid}/images/{image['id']}/annotations"


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "id"}


def test_every_shape_round_trips_exactly(world: World) -> None:
    owner, _pid, _iid, url = _setup(world)
    empty = owner.get(url)
    assert empty.status_code == 200 and empty.headers["etag"] == '"0"' and empty.json()["annotations"] == []
    sent = all_shapes()
    r = owner.put(url, json={"annotations": sent}, headers=write_headers(0))
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"1"' and r.json()["version"] == 1
    got = owner.get(url).json()["annotations"]
    assert [a["id"] for a in got] == [1, 2, 3, 4, 5]
    for want, have in zip(sent, got, strict=True):
        kind = want["kind"]
        assert have["kind"] == kind and have["label"] == want["label"]
        assert have[kind] == (
            {**want[kind], "rotation": want[kind].get("rotation", 0.0)} if kind == "box" else want[kind]
        )
        assert all(
            have.get(g) is None for g in ("box", "polygon", "polyline", "keypoints", "mask") if g != kind
        )
        for key in (
            "attributes",
            "source",
            "score",
            "uncertainty",
            "z_order",
            "group_id",
            "track_id",
            "crowd",
        ):
            if key in want:
                assert have[key] == want[key], key
    assert got[0]["box"]["x_min"] == 0.1 + 0.2  # never rounded
    # Saving what was loaded changes nothing and makes no new version.
    again = owner.put(url, json={"annotations": got}, headers=write_headers(1))
    assert again.status_code == 200 and again.json()["version"] == 1
    # A load the server's cache cannot answer (after a per-object edit) reads the database: the same
    # objects, in the same canonical encoding, byte for byte.
    patched = owner.patch(f"{url}/5", json={"z_order": 2}, headers=write_headers(1))
    assert patched.status_code == 200, patched.text
    cold = owner.get(url)
    assert cold.json()["annotations"] == [*got[:4], {**got[4], "z_order": 2}]
    assert cold.content == orjson.dumps(cold.json())


def test_uncompressed_mask_counts_are_stored_as_canonical_rle(world: World) -> None:
    owner, _pid, _iid, url = _setup(world)
    m = np.zeros((H, W), dtype=bool)
    m[4:9, 2:6] = True
    flat = m.ravel(order="F")
    edges = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    obj = {"label": "car", "kind": "mask", "mask": {"size": [H, W], "counts": runs}}
    r = owner.put(url, json={"annotations": [obj]}, headers=write_headers(0))
    assert r.status_code == 200, r.text
    stored = r.json()["annotations"][0]["mask"]
    decoded = coco_mask.decode({"size": [H, W], "counts": stored["counts"].encode()})
    assert isinstance(stored["counts"], str) and np.array_equal(decoded.astype(bool), m)


def test_invalid_objects_are_refused_with_a_reason_naming_them(world: World) -> None:
    owner, _pid, _iid, url = _setup(world)
    cases = {
        "not in the project's ontology": box(label="dragon"),
        "allows": {"label": "lane", "kind": "box", "box": {"x_min": 1, "y_min": 1, "x_max": 2, "y_max": 2}},
        "has no attribute": box(attributes={"speed": 3}),
        "is not one of": box(attributes={"colour": "green"}),
        "skeleton": {"label": "person", "kind": "keypoints", "keypoints": {"points": [[1, 1, 2]]}},
        "outside": box(x=60.0),
        "needs 3": {
            "label": "road",
            "kind": "polygon",
            "polygon": {"parts": [{"exterior": [[0, 0], [5, 5]]}]},
        },
        "the image is": {"label": "car", "kind": "mask", "mask": {"size": [10, 10], "counts": [100]}},
        "cover": {"label": "car", "kind": "mask", "mask": {"size": [H, W], "counts": [5, 10**6]}},
        "alphabet": {"label": "car", "kind": "mask", "mask": {"size": [H, W], "counts": "\x01\x02"}},
    }
    for reason, obj in cases.items():
        r = owner.put(url, json={"annotations": [box(), obj]}, headers=write_headers(0))
        assert r.status_code == 422, (reason, r.text)
        assert "object at index 1" in r.json()["detail"] and reason in r.json()["detail"], r.text
    structural = [
        {"label": "car", "kind": "box", "polygon": {"parts": [{"exterior": [[0, 0], [1, 0], [1, 1]]}]}},
        {"label": "car", "kind": "box", "box": {"x_min": 0, "y_min": 0, "x_max": 1, "y_max": 1}, "secret": 1},
        {"label": "", "kind": "box", "box": {"x_min": 0, "y_min": 0, "x_max": 1, "y_max": 1}},
    ]
    for obj in structural:
        assert owner.put(url, json={"annotations": [obj]}, headers=write_headers(0)).status_code == 422
    # Point lists are checked by numpy in one call per list: the same refusals, naming the place.
    point_cases = {
        "numbers only": [[0, 0], ["5", 5], [5, 0]],
        "2 numbers each": [[0, 0], [5], [5, 0]],
        "list of [x, y] points": "0,0 5,5 5,0",
        "list of points with 2 numbers each": [[0, 0, 1], [5, 5, 1], [5, 0, 1]],
    }
    for reason, ring in point_cases.items():
        obj = {"label": "road", "kind": "polygon", "polygon": {"parts": [{"exterior": ring}]}}
        r = owner.put(url, json={"annotations": [obj]}, headers=write_headers(0))
        assert r.status_code == 422 and reason in r.json()["detail"], (reason, r.text)
        assert "polygon.parts.0.exterior" in r.json()["detail"], r.text
    keypoints = {"label": "person", "kind": "keypoints", "keypoints": {"points": [[1, 1]]}}
    r = owner.put(url, json={"annotations": [keypoints]}, headers=write_headers(0))
    assert r.status_code == 422 and "3 numbers each" in r.json()["detail"], r.text
    nan = json.dumps({"annotations": [box()]}).replace("1.5", "NaN")
    r = owner.put(url, content=nan, headers={**write_headers(0), "Content-Type": "application/json"})
    assert r.status_code == 422
    assert owner.get(url).json() == {"image_id": _iid, "version": 0, "annotations": []}


def test_writes_need_if_match(world: World) -> None:
    owner, _pid, _iid, url = _setup(world)
    assert owner.put(url, json={"annotations": [box()]}).status_code == 428
    assert owner.put(url, json={"annotations": [box()]}, headers={"If-Match": "*"}).status_code == 428
    assert owner.post(url, json=box()).status_code == 428
    assert owner.put(url, json={"annotations": [box()]}, headers={"If-Match": 'W/"0"'}).status_code == 200
    assert owner.delete(f"{url}/1").status_code == 428
    assert owner.patch(f"{url}/1", json={"z_order": 2}).status_code == 428


def test_two_editors_the_second_gets_412_with_the_server_copy_and_the_first_save_is_intact(
    world: World,
) -> None:
    second = world.user("second")
    first, _pid, _iid, url = _setup(world, reviewer=second)
    base = first.get(url)
    version = base.headers["etag"]
    mine = first.put(url, json={"annotations": [box(x=1.0)]}, headers={"If-Match": version})
    assert mine.status_code == 200
    theirs = second.put(url, json={"annotations": [box(x=30.0), box(x=40.0)]}, headers={"If-Match": version})
    assert theirs.status_code == 412
    body = theirs.json()
    assert body["current"]["version"] == 1 and theirs.headers["etag"] == '"1"'
    assert [_strip(a) for a in body["current"]["annotations"]] == [
        _strip(a) for a in mine.json()["annotations"]
    ]
    assert owner_view(first, url) == mine.json()["annotations"]
    # The second editor merges onto the current copy and saves with its version.
    merged = [*body["current"]["annotations"], box(x=30.0)]
    r = second.put(url, json={"annotations": merged}, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["version"] == 2 and len(r.json()["annotations"]) == 2


def owner_view(client: Client, url: str) -> list[dict[str, Any]]:
    return client.get(url).json()["annotations"]


def test_object_ids_are_checked(world: World) -> None:
    owner, _pid, _iid, url = _setup(world)
    saved = owner.put(url, json={"annotations": [box(), box(x=5.0)]}, headers=write_headers(0)).json()
    a, b = saved["annotations"]
    dup = owner.put(url, json={"annotations": [a, {**b, "id": a["id"]}]}, headers=write_headers(1))
    assert dup.status_code == 422 and "twice" in dup.json()["detail"]
    unknown = owner.put(url, json={"annotations": [{**a, "id": 99}]}, headers=write_headers(1))
    assert unknown.status_code == 422 and "99" in unknown.json()["detail"]
    # A deleted object's id is never reused.
    owner.put(url, json={"annotations": [a]}, headers=write_headers(1))
    r = owner.put(url, json={"annotations": [a, box(x=7.0)]}, headers=write_headers(2))
    assert [x["id"] for x in r.json()["annotations"]] == [a["id"], 3]


def test_per_object_create_update_delete(world: World) -> None:
    owner, _pid, _iid, url = _setup(world)
    created = owner.post(url, json=box(attributes={"occluded": False}), headers=write_headers(0))
    assert created.status_code == 201 and created.json()["version"] == 1
    oid = created.json()["annotation"]["id"]
    patched = owner.patch(
        f"{url}/{oid}", json={"attributes": {"occluded": True}, "z_order": 4}, headers=write_headers(1)
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["annotation"]["attributes"] == {"occluded": True}
    assert patched.json()["annotation"]["box"] == created.json()["annotation"]["box"]
    stale = owner.patch(f"{url}/{oid}", json={"z_order": 5}, headers=write_headers(1))
    assert stale.status_code == 412 and stale.json()["current"]["version"] == 2
    need_geometry = owner.patch(f"{url}/{oid}", json={"kind": "polygon"}, headers=write_headers(2))
    assert need_geometry.status_code == 422
    polygon = {"parts": [{"exterior": [[1, 1], [9, 1], [5, 8]]}]}
    reshaped = owner.patch(
        f"{url}/{oid}", json={"kind": "polygon", "polygon": polygon}, headers=write_headers(2)
    )
    assert reshaped.status_code == 200 and reshaped.json()["annotation"].get("box") is None
    assert owner.patch(f"{url}/{oid}", json={"label": "lane"}, headers=write_headers(3)).status_code == 422
    assert owner.delete(f"{url}/777", headers=write_headers(3)).status_code == 404
    deleted = owner.delete(f"{url}/{oid}", headers=write_headers(3))
    assert deleted.status_code == 200 and deleted.json() == {"version": 4}
    assert owner.get(url).json()["annotations"] == []


def test_history_lists_every_change_and_restore_is_a_new_version(world: World) -> None:
    owner, pid, iid, url = _setup(world)
    v1 = owner.put(url, json={"annotations": [box(), box(x=10.0)]}, headers=write_headers(0)).json()
    edited = [v1["annotations"][0], {**v1["annotations"][1], "label": "person"}]
    assert owner.put(url, json={"annotations": edited}, headers=write_headers(1)).status_code == 200
    assert owner.put(url, json={"annotations": []}, headers=write_headers(2)).status_code == 200
    history = owner.get(f"/api/projects/{pid}/images/{iid}/history").json()
    assert [h["version"] for h in history] == [3, 2, 1]
    assert history[1]["changes"] == [{"op": "update", "id": 2}] and history[0]["username"] == owner.username
    page = owner.get(
        f"/api/projects/{pid}/images/{iid}/history", params={"before_version": 3, "limit": 1}
    ).json()
    assert [h["version"] for h in page] == [2]
    past = owner.get(f"/api/projects/{pid}/images/{iid}/history/1").json()
    assert past["version"] == 1 and past["annotations"] == v1["annotations"]
    assert owner.get(f"/api/projects/{pid}/images/{iid}/history/0").json()["annotations"] == []
    assert owner.get(f"/api/projects/{pid}/images/{iid}/history/9").status_code == 404
    restore = f"/api/projects/{pid}/images/{iid}/history/1/restore"
    assert owner.post(restore).status_code == 428
    assert owner.post(restore, headers=write_headers(2)).status_code == 412
    restored = owner.post(restore, headers=write_headers(3))
    assert restored.status_code == 200 and restored.json()["version"] == 4
    assert owner.get(url).json()["annotations"] == v1["annotations"]
    top = owner.get(f"/api/projects/{pid}/images/{iid}/history").json()[0]
    assert top["action"] == "restore" and top["restored_from"] == 1
    assert owner.get(f"/api/projects/{pid}/images/{iid}/history/3").json()["annotations"] == []


def test_review_workflow_and_who_may_edit(world: World) -> None:
    ann, other, reviewer, viewer = (
        world.user("ann"),
        world.user("other"),
        world.user("rev"),
        world.user("view"),
    )
    owner, pid, iid, url = _setup(world, annotator=ann, annotator2=other, reviewer=reviewer, viewer=viewer)
    status = f"/api/projects/{pid}/images/{iid}/status"
    assert viewer.put(url, json={"annotations": [box()]}, headers=write_headers(0)).status_code == 403
    assert ann.put(url, json={"annotations": [box()]}, headers=write_headers(0)).status_code == 200
    image = owner.get(f"/api/projects/{pid}/images/{iid}").json()
    assert image["status"] == "in_progress" and image["assignee_id"] == ann.user_id
    assert other.put(url, json={"annotations": []}, headers=write_headers(1)).status_code == 403
    assert ann.post(status, json={"action": "approve"}).status_code == 403
    assert reviewer.post(status, json={"action": "approve"}).status_code == 409  # not submitted yet
    assert ann.post(status, json={"action": "submit"}).json()["status"] == "submitted"
    assert ann.put(url, json={"annotations": []}, headers=write_headers(1)).status_code == 409
    assert reviewer.post(status, json={"action": "reject"}).status_code == 422  # needs a comment
    r = reviewer.post(status, json={"action": "reject", "comment": "the car is cut off", "x": 3.5, "y": 4.0})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    comments = ann.get(f"/api/projects/{pid}/images/{iid}/comments").json()
    assert comments[-1]["text"] == "the car is cut off" and comments[-1]["x"] == 3.5
    assert ann.put(url, json={"annotations": [box(x=2.0)]}, headers=write_headers(1)).status_code == 200
    assert ann.post(status, json={"action": "submit"}).status_code == 200
    assert reviewer.post(status, json={"action": "approve"}).json()["status"] == "approved"
    assert reviewer.post(status, json={"action": "reopen"}).json()["status"] == "in_progress"


def test_the_queue_hands_each_annotator_their_own_next_image(world: World) -> None:
    a, b = world.user("a"), world.user("b")
    owner = world.user("owner")
    pid = world.project(owner, annotator=a, annotator2=b)
    ids = [world.image(owner, pid)["id"] for _ in range(3)]
    url = f"/api/projects/{pid}/queue/next"
    first = a.get(url).json()
    assert first["image"]["id"] == ids[0] and first["image"]["assignee_id"] == a.user_id
    assert first["remaining"] == 2
    assert a.get(url).json()["image"]["id"] == ids[0]  # unfinished work first
    assert b.get(url).json()["image"]["id"] == ids[1]
    a.post(f"/api/projects/{pid}/images/{ids[0]}/status", json={"action": "submit"})
    assert a.get(url).json()["image"]["id"] == ids[2]
    assert b.post(f"/api/projects/{pid}/images/{ids[1]}/status", json={"action": "submit"}).status_code == 200
    assert b.get(url).json() == {"image": None, "remaining": 0}
    viewer = world.user("viewer")
    owner.post(f"/api/projects/{pid}/members", json={"user_id": viewer.user_id, "role": "viewer"})
    assert viewer.get(url).status_code == 403


def _history_row(world: World, image_id: int, version: int) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from seglab.storage.models import HistoryRow

    def read(s: Any) -> list[dict[str, Any]]:
        return list(
            s.scalar(
                select(HistoryRow.changes).where(
                    HistoryRow.image_id == image_id, HistoryRow.version == version
                )
            )
        )

    return world.services.db.read(read)


def test_a_whole_image_save_stores_only_what_changed_with_its_before_and_after(world: World) -> None:
    owner, pid, iid, url = _setup(world)
    polygon = {
        "label": "road",
        "kind": "polygon",
        "polygon": {"parts": [{"exterior": [[1, 1], [9, 1], [5, 8]]}]},
    }
    v1 = owner.put(
        url, json={"annotations": [box(x=1.0), box(x=5.5), polygon, box(x=9.0)]}, headers=write_headers(0)
    ).json()
    one, two, three, four = v1["annotations"]
    assert three["polygon"]["parts"][0]["exterior"] == [[1.0, 1.0], [9.0, 1.0], [5.0, 8.0]]

    # Sent back as another client writes JSON: keys reordered, spaces, 5 for 5.0. The same objects.
    reordered = {k: one[k] for k in reversed(list(one))}
    integral = json.loads(json.dumps(three).replace(".0,", ",").replace(".0]", "]"))
    assert integral["polygon"]["parts"][0]["exterior"][0] == [1, 1]  # ints where the server has floats
    moved = {**two, "box": {**two["box"], "x_min": 6.25}}
    body = json.dumps({"annotations": [reordered, moved, integral, box(x=20.0)]}, indent=1)
    r = owner.put(url, content=body, headers={**write_headers(1), "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    v2 = r.json()
    assert v2["version"] == 2 and [a["id"] for a in v2["annotations"]] == [1, 2, 3, 5]
    assert v2["annotations"][0] == one and v2["annotations"][2] == three  # kept as stored
    changes = _history_row(world, iid, 2)
    assert [(c["op"], c["id"]) for c in changes] == [("delete", 4), ("update", 2), ("create", 5)]
    assert changes[0]["before"] == four and changes[0]["after"] is None
    assert changes[1]["before"] == two and changes[1]["after"] == v2["annotations"][1]
    assert changes[2]["before"] is None and changes[2]["after"] == v2["annotations"][3]

    # Sending the set back unchanged is no change: no new version, no history row.
    same = owner.put(url, json={"annotations": v2["annotations"]}, headers=write_headers(2))
    assert same.status_code == 200 and same.json()["version"] == 2 and same.headers["etag"] == '"2"'
    assert [h["version"] for h in owner.get(f"/api/projects/{pid}/images/{iid}/history").json()] == [2, 1]


def test_every_kind_of_write_is_what_the_next_load_returns(world: World) -> None:
    owner, pid, iid, url = _setup(world)

    def loaded(version: int) -> list[dict[str, Any]]:
        r = owner.get(url)
        assert r.status_code == 200 and r.headers["etag"] == f'"{version}"' and r.json()["version"] == version
        assert r.content == orjson.dumps(r.json())  # canonical, whether cached or read from the database
        return list(r.json()["annotations"])

    saved = owner.put(url, json={"annotations": [box(), box(x=5.0)]}, headers=write_headers(0)).json()
    assert loaded(1) == saved["annotations"]
    refused = owner.put(url, json={"annotations": [box(label="nope")]}, headers=write_headers(1))
    assert refused.status_code == 422 and loaded(1) == saved["annotations"]  # a refused save left no trace
    patched = owner.patch(f"{url}/1", json={"z_order": 3}, headers=write_headers(1)).json()
    assert loaded(2) == [patched["annotation"], saved["annotations"][1]]
    created = owner.post(url, json=box(x=30.0), headers=write_headers(2)).json()
    assert loaded(3) == [patched["annotation"], saved["annotations"][1], created["annotation"]]
    assert owner.delete(f"{url}/2", headers=write_headers(3)).status_code == 200
    assert loaded(4) == [patched["annotation"], created["annotation"]]
    restored = owner.post(f"/api/projects/{pid}/images/{iid}/history/1/restore", headers=write_headers(4))
    assert restored.status_code == 200 and loaded(5) == saved["annotations"]
    # A whole-image save after per-object edits compares with what the database holds now.
    again = owner.put(url, json={"annotations": [*loaded(5), box(x=40.0)]}, headers=write_headers(5)).json()
    assert again["version"] == 6 and [c["op"] for c in _history_row(world, iid, 6)] == ["create"]
    stale = owner.put(url, json={"annotations": []}, headers=write_headers(5))
    assert stale.status_code == 412 and stale.json()["current"]["annotations"] == loaded(6)


def test_an_ontology_change_between_checking_and_committing_a_save_is_caught(world: World) -> None:
    """A save is worked out outside the write lock; an ontology edited meanwhile is checked again."""
    from seglab.service import annotations as service
    from seglab.service import projects
    from seglab.service.access import Actor
    from seglab.service.errors import Invalid
    from seglab.storage.codec import ontology_from_json

    owner, pid, iid, url = _setup(world)
    actor = Actor(owner.user_id, owner.username, False)
    without_lane = ontology_from_json({"classes": [c for c in ONTOLOGY["classes"] if c["name"] != "lane"]})
    lane = {"label": "lane", "kind": "polyline", "polyline": {"points": [[1.0, 1.0], [9.0, 9.0]]}}

    def parse_while_a_manager_drops_lane(document: Any, name: str) -> dict[str, Any]:
        projects.set_ontology(
            world.services.db, actor=actor, project_id=pid, ontology=without_lane, expected_version=1
        )
        return dict(document)

    with pytest.raises(Invalid, match="lane"):
        service.save_documents(
            world.services.db,
            actor=actor,
            project_id=pid,
            image_id=iid,
            documents=[lane],
            expected_version=0,
            parse=parse_while_a_manager_drops_lane,
        )
    r = owner.get(url)
    assert r.json()["version"] == 0 and r.json()["annotations"] == []
