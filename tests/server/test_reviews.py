"""The review log: every workflow step is recorded with who took it and the annotation version it saw."""

from __future__ import annotations

from tests.server.conftest import World, box, write_headers


def test_each_step_is_logged_with_its_annotation_version_and_comment(world: World) -> None:
    owner, ann, rev, outsider = world.user("owner"), world.user("ann"), world.user("rev"), world.user("out")
    pid = world.project(owner, annotator=ann, reviewer=rev)
    iid = world.image(owner, pid)["id"]
    url = f"/api/projects/{pid}/images/{iid}/annotations"
    status = f"/api/projects/{pid}/images/{iid}/status"
    log = f"/api/projects/{pid}/images/{iid}/reviews"
    assert ann.get(log).json() == []

    assert ann.put(url, json={"annotations": [box()]}, headers=write_headers(0)).status_code == 200
    assert ann.post(status, json={"action": "submit"}).status_code == 200
    for pin in ({"x": 1e6, "y": 3.0}, {"x": 2.0}):  # off the image, half a point: refused, nothing logged
        r = rev.post(status, json={"action": "reject", "comment": "cut off", **pin})
        assert r.status_code == 422 and ("x and y" in r.text or "outside" in r.text), r.text
    r = rev.post(status, json={"action": "reject", "comment": "cut off", "x": 2.0, "y": 3.0})
    assert r.status_code == 200
    assert ann.put(url, json={"annotations": [box(x=2.0)]}, headers=write_headers(1)).status_code == 200
    assert ann.post(status, json={"action": "submit"}).status_code == 200
    assert rev.post(status, json={"action": "approve"}).status_code == 200
    assert rev.post(status, json={"action": "approve"}).status_code == 409  # refused steps leave no row

    events = ann.get(log).json()
    steps = [(e["action"], e["from_status"], e["to_status"], e["annotation_version"]) for e in events]
    assert steps == [
        ("submit", "in_progress", "submitted", 1),
        ("reject", "submitted", "rejected", 1),
        ("submit", "rejected", "submitted", 2),
        ("approve", "submitted", "approved", 2),
    ]
    assert [e["username"] for e in events] == [ann.username, rev.username, ann.username, rev.username]
    comment = ann.get(f"/api/projects/{pid}/images/{iid}/comments").json()[-1]
    assert events[1]["comment_id"] == comment["id"] and events[3]["comment_id"] is None

    # paginated, and only members of the image's project may read it
    assert [e["id"] for e in ann.get(log, params={"limit": 2, "offset": 2}).json()] == [
        e["id"] for e in events[2:]
    ]
    assert outsider.get(log).status_code == 404
    other_pid = world.project(outsider)
    assert outsider.get(f"/api/projects/{other_pid}/images/{iid}/reviews").status_code == 404
