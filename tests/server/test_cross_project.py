"""Generated from the OpenAPI schema: every route that takes an object id, called by the owner of another
project with the first project's ids, answers 404 and changes nothing (no IDOR, no existence leak)."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import func, select

from seglab.storage.models import Base
from tests.server.conftest import (
    ONTOLOGY,
    Client,
    World,
    box,
    image_bytes,
    unique,
    wait_job,
    write_headers,
)

# A valid body for every request schema, so that a refusal is about access, never about the body.
BODIES: dict[str, Any] = {
    "ProjectUpdate": {"description": "changed"},
    "MemberCreate": {"username": "placeholder", "role": "viewer"},
    "MemberUpdate": {"role": "viewer"},
    "OntologyUpdate": {"ontology": ONTOLOGY},
    "ImageUpdate": {"assignee_id": None},
    "StatusChange": {"action": "reopen"},
    "CommentCreate": {"text": "hello", "x": 1.0, "y": 1.0},
    "CommentUpdate": {"resolved": True},
    "AnnotationSetUpdate": {"annotations": [box()]},
    "AnnotationCreate": box(),
    "AnnotationUpdate": {"z_order": 9},
    "UserUpdate": {"is_admin": True},
    "FolderImport": {"path": "data"},
    "S3Import": {"prefix": "data"},
    "ExportCreate": {"format": "coco"},
    "PredictionSelection": {"model": "detector"},
    "AssistRequest": {"positives": [[1.0, 1.0]]},
    "TrainRequest": {"rounds": 5},
    "PredictRequest": {},
    "AuditRequest": {"folds": 2},
}
FORM_VALUES = {"model": "detector", "format": "coco", "skip_invalid": "false"}
ADMIN_ONLY = re.compile(r"^/api/users/\{user_id\}$")  # 403 for every id to non-admins: nothing to leak


def _is_file(prop: dict[str, Any]) -> bool:
    return prop.get("format") == "binary" or "contentMediaType" in prop


def _body(operation: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for the request body of an OpenAPI operation."""
    content = operation.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        ref = content["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
        files, data = [], {}
        for name, prop in schema["components"]["schemas"][ref]["properties"].items():
            if _is_file(prop) or _is_file(prop.get("items", {})):
                png = (unique("x") + ".png", image_bytes((8, 8), seed=99), "image/png")
                files.append((name, png if name == "files" else ("data.json", b"[]", "application/json")))
            else:
                assert name in FORM_VALUES, f"add a valid example form value for {name} to FORM_VALUES"
                data[name] = FORM_VALUES[name]
        return {"files": files, "data": data}
    if "application/json" in content:
        body_schema = content["application/json"]["schema"]
        ref = body_schema.get("title") or body_schema["$ref"].rsplit("/", 1)[-1]
        assert ref in BODIES, f"add a valid example body for {ref} to BODIES"
        return {"json": BODIES[ref]}
    return {}


def _counts(world: World) -> dict[str, int]:
    def count(s: Any) -> dict[str, int]:
        return {t.name: s.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}

    return world.services.db.read(count)


def _snapshot(alice: Client, pid: int, iid: int) -> dict[str, Any]:
    base = f"/api/projects/{pid}"
    urls = [
        base,
        f"{base}/members",
        f"{base}/ontology",
        f"{base}/images",
        f"{base}/images/{iid}",
        f"{base}/images/{iid}/annotations",
        f"{base}/images/{iid}/history",
        f"{base}/images/{iid}/comments",
        f"{base}/images/{iid}/predictions?status=all",
        f"{base}/jobs",
        "/api/tokens",
    ]
    return {u: alice.get(u).json() for u in urls}


def test_every_route_with_ids_of_another_project_answers_404_without_side_effects(world: World) -> None:
    alice, bob = world.user("alice"), world.user("bob")
    helper = world.user("helper")
    pid_a = world.project(alice, annotator=helper)
    pid_b = world.project(bob)
    img_a = world.image(alice, pid_a)["id"]
    world.image(bob, pid_b)
    ann_url = f"/api/projects/{pid_a}/images/{img_a}/annotations"
    obj_a = alice.put(ann_url, json={"annotations": [box()]}, headers=write_headers(0)).json()["annotations"][
        0
    ]
    comment_a = alice.post(f"/api/projects/{pid_a}/images/{img_a}/comments", json={"text": "mine"}).json()[
        "id"
    ]
    token_a = alice.post("/api/tokens", json={"name": "alice's"}).json()["token"]["id"]
    export = wait_job(
        alice, pid_a, alice.post(f"/api/projects/{pid_a}/exports", json={"format": "coco"}).json()
    )
    assert export["status"] == "succeeded", export
    link = alice.post(f"/api/projects/{pid_a}/jobs/{export['id']}/link").json()["url"]
    results = json.dumps([{"image_id": img_a, "category_id": 1, "bbox": [1, 2, 5, 5], "score": 0.9}])
    job = alice.post(
        f"/api/projects/{pid_a}/predictions",
        files=[("file", ("results.json", results.encode(), "application/json"))],
        data={"model": "detector"},
    ).json()
    assert wait_job(alice, pid_a, job)["status"] == "succeeded"
    prediction_a = alice.get(f"/api/projects/{pid_a}/images/{img_a}/predictions").json()[0]["id"]
    ids_a = {
        "project_id": pid_a,
        "image_id": img_a,
        "object_id": obj_a["id"],
        "comment_id": comment_a,
        "user_id": helper.user_id,
        "token_id": token_a,
        "version": 1,
        "job_id": export["id"],
        "prediction_id": prediction_a,
        "token": link.rsplit("/", 1)[-1],
        "level": 0,  # the tile at the top-left of the full-size level, which every image has
        "column": 0,
        "row": 0,
    }

    before, counts_before = _snapshot(alice, pid_a, img_a), _counts(world)
    schema = alice.get("/openapi.json").json()
    checked = 0
    for path, operations in schema["paths"].items():
        params = re.findall(r"\{(\w+)\}", path)
        if not params:
            continue
        for method, operation in operations.items():
            unknown = set(params) - set(ids_a)
            assert not unknown, f"{method.upper()} {path}: give the walker a value for {unknown}"
            variants = [ids_a]
            if "project_id" in params and len(params) > 1:
                variants.append({**ids_a, "project_id": pid_b})  # bob's project, alice's objects
            for ids in variants:
                url = path.format(**ids)
                r = bob.request(method.upper(), url, headers=write_headers(1), **_body(operation, schema))
                expected = 403 if ADMIN_ONLY.match(path) else 404
                assert r.status_code == expected, f"{method.upper()} {url}: {r.status_code} {r.text}"
                checked += 1
            if ADMIN_ONLY.match(path):  # the same answer for an id that does not exist
                r = bob.request(method.upper(), path.format(user_id=10**9), **_body(operation, schema))
                assert r.status_code == 403
    assert checked >= 30
    assert _snapshot(alice, pid_a, img_a) == before
    assert _counts(world) == counts_before
