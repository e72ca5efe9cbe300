"""Predictions: imported from a COCO results list apart from the human labels, listed by score, and
accepted (one, or all above a score) through the versioned save with history, or rejected."""

from __future__ import annotations

import json
from typing import Any

from tests.server.conftest import Client, World, box, wait_job, write_headers


def _results(client: Client, pid: int, results: list[dict[str, Any]], **form: Any) -> dict[str, Any]:
    r = client.post(
        f"/api/projects/{pid}/predictions",
        files=[("file", ("results.json", json.dumps(results).encode(), "application/json"))],
        data={"model": "detector-v2", **{k: str(v).lower() for k, v in form.items()}},
    )
    assert r.status_code == 202, r.text
    return wait_job(client, pid, r.json())


def _bbox(x: float, score: float, category: int = 1, image: int = 0) -> dict[str, Any]:
    return {"image_id": image, "category_id": category, "bbox": [x, 2.0, 10.0, 8.0], "score": score}


def test_predictions_stay_apart_until_accepted_into_history(world: World) -> None:
    owner, ann = world.user("owner"), world.user("ann")
    pid = world.project(owner, annotator=ann)
    image = world.image(owner, pid, size=(64, 48))
    iid = image["id"]
    url = f"/api/projects/{pid}/images/{iid}"
    saved = owner.put(f"{url}/annotations", json={"annotations": [box()]}, headers=write_headers(0)).json()
    results = [_bbox(1.0, 0.95, image=iid), _bbox(20.0, 0.7, image=iid), _bbox(30.0, 0.2, image=iid)]
    results.append({**_bbox(5.0, 0.8, category=4, image=iid), "bbox": [5.0, 5.0, 3.0, 3.0]})  # person box
    job = _results(owner, pid, results)
    assert job["status"] == "succeeded", job
    assert job["result"]["predictions"] == 4 and job["result"]["model"] == "detector-v2"
    # Human labels are untouched.
    current = owner.get(f"{url}/annotations").json()
    assert current["version"] == saved["version"] == 1 and len(current["annotations"]) == 1

    pending = ann.get(f"{url}/predictions").json()
    assert [p["score"] for p in pending] == [0.95, 0.8, 0.7, 0.2]
    assert pending[0]["geometry"] == {
        "x_min": 1.0,
        "y_min": 2.0,
        "x_max": 11.0,
        "y_max": 10.0,
        "rotation": 0.0,
    }
    assert all(p["model"] == "detector-v2" and p["status"] == "pending" for p in pending)
    assert [p["score"] for p in ann.get(f"{url}/predictions", params={"min_score": 0.75}).json()] == [
        0.95,
        0.8,
    ]

    best = pending[0]["id"]
    assert ann.post(f"{url}/predictions/{best}/accept").status_code == 428  # If-Match is required
    assert ann.post(f"{url}/predictions/{best}/accept", headers=write_headers(0)).status_code == 412
    r = ann.post(f"{url}/predictions/{best}/accept", headers=write_headers(1))
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"' and r.json()["version"] == 2
    object_id = r.json()["accepted"][0]["object_id"]
    objects = {a["id"]: a for a in ann.get(f"{url}/annotations").json()["annotations"]}
    accepted = objects[object_id]
    assert accepted["source"] == "human" and accepted["box"] == pending[0]["geometry"]
    assert accepted["extra"]["prediction"] == {"id": best, "model": "detector-v2", "score": 0.95}
    history = ann.get(f"{url}/history").json()
    assert history[0]["action"] == "accept" and history[0]["username"] == ann.username
    assert history[0]["changes"] == [{"op": "create", "id": object_id}]
    assert ann.post(f"{url}/predictions/{best}/accept", headers=write_headers(2)).status_code == 409

    r = ann.post(f"{url}/predictions/accept", json={"min_score": 0.5}, headers=write_headers(2))
    assert r.status_code == 200 and r.json()["version"] == 3
    assert sorted(p["prediction_id"] for p in r.json()["accepted"]) == sorted(
        p["id"] for p in pending if p["score"] in (0.8, 0.7)
    )
    r = ann.post(f"{url}/predictions/reject", json={"max_score": 0.5})
    assert r.json()["rejected"] == [pending[3]["id"]]
    assert ann.get(f"{url}/predictions").json() == []
    statuses = {p["id"]: p["status"] for p in ann.get(f"{url}/predictions", params={"status": "all"}).json()}
    assert sorted(statuses.values()) == ["accepted", "accepted", "accepted", "rejected"]
    assert len(ann.get(f"{url}/annotations").json()["annotations"]) == 4
    assert ann.post(f"{url}/predictions/{10**9}/reject").status_code == 404


def test_bad_results_import_nothing_unless_skipped(world: World) -> None:
    owner, viewer = world.user("owner"), world.user("viewer")
    pid = world.project(owner, viewer=viewer)
    iid = world.image(owner, pid, size=(64, 48))["id"]
    url = f"/api/projects/{pid}/images/{iid}/predictions"
    bad = [
        _bbox(1.0, 0.9, image=iid),
        _bbox(1.0, 0.9, category=99, image=iid),  # no such category
        _bbox(1.0, 0.9, image=iid + 10_000),  # no such image in this project
        {**_bbox(60.0, 0.9, image=iid), "bbox": [60.0, 2.0, 30.0, 8.0]},  # leaves the 64x48 image
        {**_bbox(3.0, 0.9, category=3, image=iid)},  # class 'lane' allows polylines only
    ]
    job = _results(owner, pid, bad)
    assert job["status"] == "failed" and job["result"]["problem_count"] == 2, job
    assert owner.get(url).json() == []
    job = _results(owner, pid, bad[3:])  # no reader problems left: the checks against the project fail it
    assert job["status"] == "failed" and job["result"]["problem_count"] == 2, job
    reasons = " ".join(p["reason"] for p in job["result"]["problems"])
    assert "outside" in reasons and "allows polyline, not box" in reasons
    assert owner.get(url).json() == []
    job = _results(owner, pid, bad, skip_invalid=True)
    assert job["status"] == "succeeded" and job["result"]["skipped"] == 4, job
    assert job["result"]["predictions"] == 1 and len(owner.get(url).json()) == 1
    r = viewer.post(
        f"/api/projects/{pid}/predictions",
        files=[("file", ("r.json", b"[]", "application/json"))],
        data={"model": "m"},
    )
    assert r.status_code == 403
    p = owner.get(url).json()[0]["id"]
    assert viewer.post(f"{url}/{p}/accept", headers=write_headers(0)).status_code == 403
    assert viewer.post(f"{url}/{p}/reject").status_code == 403
