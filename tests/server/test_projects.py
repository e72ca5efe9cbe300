"""Projects, members and roles, and the ontology with its migration rules."""

from __future__ import annotations

import copy

from tests.server.conftest import ONTOLOGY, World, box, unique, write_headers


def test_project_crud_and_visibility(world: World) -> None:
    owner, stranger = world.user("owner"), world.user("stranger")
    pid = world.project(owner)
    assert owner.get(f"/api/projects/{pid}").json()["role"] == "owner"
    assert stranger.get(f"/api/projects/{pid}").status_code == 404
    assert all(p["id"] != pid for p in stranger.get("/api/projects").json())
    r = owner.patch(f"/api/projects/{pid}", json={"description": "<script>alert(1)</script>"})
    assert r.status_code == 200 and r.json()["description"] == "<script>alert(1)</script>"  # verbatim
    assert r.headers["content-type"] == "application/json"
    name = owner.get(f"/api/projects/{pid}").json()["name"]
    other = world.project(owner)
    assert owner.patch(f"/api/projects/{other}", json={"name": name}).status_code == 409
    assert owner.post("/api/projects", json={"name": name}).status_code == 409
    assert owner.delete(f"/api/projects/{pid}").status_code == 204
    assert owner.get(f"/api/projects/{pid}").status_code == 404


def test_role_matrix_annotator_cannot_change_settings_ontology_or_members(world: World) -> None:
    owner, ann, newcomer = world.user("owner"), world.user("annotator"), world.user("newcomer")
    pid = world.project(owner, annotator=ann)
    ontology = ann.get(f"/api/projects/{pid}/ontology")
    assert ontology.status_code == 200
    attempts = [
        ann.patch(f"/api/projects/{pid}", json={"name": unique("renamed")}),
        ann.put(
            f"/api/projects/{pid}/ontology",
            json={"ontology": {"classes": []}},
            headers={"If-Match": ontology.headers["etag"]},
        ),
        ann.post(f"/api/projects/{pid}/members", json={"user_id": newcomer.user_id, "role": "viewer"}),
        ann.patch(f"/api/projects/{pid}/members/{ann.user_id}", json={"role": "owner"}),
        ann.patch(f"/api/projects/{pid}/members/{owner.user_id}", json={"role": "viewer"}),
        ann.delete(f"/api/projects/{pid}/members/{owner.user_id}"),
        ann.delete(f"/api/projects/{pid}"),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts), [r.text for r in attempts]
    members = {m["user_id"]: m["role"] for m in owner.get(f"/api/projects/{pid}/members").json()}
    assert members == {owner.user_id: "owner", ann.user_id: "annotator"}
    assert owner.get(f"/api/projects/{pid}/ontology").json()["version"] == 1


def test_managers_grant_lower_roles_only_and_a_project_keeps_an_owner(world: World) -> None:
    owner, manager, bob = world.user("owner"), world.user("manager"), world.user("bob")
    pid = world.project(owner, manager=manager)
    assert (
        manager.post(
            f"/api/projects/{pid}/members", json={"username": bob.username, "role": "reviewer"}
        ).status_code
        == 201
    )
    assert (
        manager.patch(f"/api/projects/{pid}/members/{bob.user_id}", json={"role": "manager"}).status_code
        == 403
    )
    assert (
        manager.patch(f"/api/projects/{pid}/members/{owner.user_id}", json={"role": "viewer"}).status_code
        == 403
    )
    assert (
        owner.patch(f"/api/projects/{pid}/members/{owner.user_id}", json={"role": "viewer"}).status_code
        == 403
    )
    assert owner.delete(f"/api/projects/{pid}/members/{owner.user_id}").status_code == 409
    assert manager.delete(f"/api/projects/{pid}/members/{bob.user_id}").status_code == 204
    assert bob.get(f"/api/projects/{pid}").status_code == 404
    assert manager.delete(f"/api/projects/{pid}/members/{manager.user_id}").status_code == 204  # leaving


def test_ontology_put_needs_if_match_and_detects_stale_versions(world: World) -> None:
    owner = world.user("owner")
    pid = world.project(owner)
    got = owner.get(f"/api/projects/{pid}/ontology")
    assert got.headers["etag"] == '"1"' and got.json()["ontology"]["classes"][0]["name"] == "car"
    new = copy.deepcopy(ONTOLOGY)
    new["classes"].append({"name": "tree", "color": [0, 128, 0], "kind": "stuff"})
    assert owner.put(f"/api/projects/{pid}/ontology", json={"ontology": new}).status_code == 428
    r = owner.put(f"/api/projects/{pid}/ontology", json={"ontology": new}, headers=write_headers(1))
    assert r.status_code == 200 and r.json()["version"] == 2 and r.headers["etag"] == '"2"'
    stale = owner.put(f"/api/projects/{pid}/ontology", json={"ontology": ONTOLOGY}, headers=write_headers(1))
    assert stale.status_code == 412 and stale.json()["current"]["version"] == 2


def test_invalid_ontologies_are_refused(world: World) -> None:
    owner = world.user("owner")
    pid = world.project(owner)
    url = f"/api/projects/{pid}/ontology"
    twice = {"classes": [{"name": "a"}, {"name": "a"}]}
    assert owner.put(url, json={"ontology": twice}, headers=write_headers(1)).status_code == 422
    bad_edge = {"classes": [{"name": "p", "skeleton": {"points": ["a"], "edges": [[0, 3]]}}]}
    assert owner.put(url, json={"ontology": bad_edge}, headers=write_headers(1)).status_code == 422
    no_choices = {"classes": [{"name": "c", "attributes": [{"name": "x", "type": "choice"}]}]}
    assert owner.put(url, json={"ontology": no_choices}, headers=write_headers(1)).status_code == 422
    assert (
        owner.put(
            url,
            json={"ontology": {"classes": [{"name": "c", "color": [0, 0, 300]}]}},
            headers=write_headers(1),
        ).status_code
        == 422
    )
    assert owner.get(url).json()["version"] == 1


def test_a_class_in_use_cannot_be_removed_but_can_be_renamed(world: World) -> None:
    owner = world.user("owner")
    pid = world.project(owner)
    image = world.image(owner, pid)
    url = f"/api/projects/{pid}/images/{image['id']}/annotations"
    assert (
        owner.put(url, json={"annotations": [box(), box(x=20.0)]}, headers=write_headers(0)).status_code
        == 200
    )
    without_car = copy.deepcopy(ONTOLOGY)
    without_car["classes"] = [c for c in without_car["classes"] if c["name"] != "car"]
    r = owner.put(f"/api/projects/{pid}/ontology", json={"ontology": without_car}, headers=write_headers(1))
    assert r.status_code == 409 and r.json()["in_use"] == {"car": 2} and "2 object" in r.json()["detail"]
    narrowed = copy.deepcopy(ONTOLOGY)
    narrowed["classes"][0]["shapes"] = ["polygon"]
    r = owner.put(f"/api/projects/{pid}/ontology", json={"ontology": narrowed}, headers=write_headers(1))
    assert r.status_code == 409
    renamed = copy.deepcopy(ONTOLOGY)
    renamed["classes"][0]["name"] = "vehicle <b>"
    r = owner.put(
        f"/api/projects/{pid}/ontology",
        json={"ontology": renamed, "renames": {"car": "vehicle <b>"}},
        headers=write_headers(1),
    )
    assert r.status_code == 200, r.text
    anns = owner.get(url)
    assert anns.headers["etag"] == '"2"'
    assert [a["label"] for a in anns.json()["annotations"]] == ["vehicle <b>", "vehicle <b>"]
    history = owner.get(f"/api/projects/{pid}/images/{image['id']}/history").json()
    assert history[0]["action"] == "rename" and history[0]["version"] == 2
