"""Authentication: passwords and sessions, CSRF on cookie writes, API tokens, closed registration."""

from __future__ import annotations

from tests.server.conftest import PASSWORD, World, unique


def _login(world: World, username: str, password: str = PASSWORD):
    client = world.cookie_client()
    r = client.post("/api/auth/login", json={"username": username, "password": password})
    return client, r


def test_health_needs_no_auth_and_openapi_is_published(world: World) -> None:
    client = world.cookie_client()
    r = client.get("/api/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert r.headers["x-content-type-options"] == "nosniff"
    schema = client.get("/openapi.json").json()
    assert "/api/projects/{project_id}/images/{image_id}/annotations" in schema["paths"]
    # Point lists (checked by numpy, not pydantic) are still documented as lists of [x, y] / [x, y, v].
    schemas = schema["components"]["schemas"]
    point = schemas["PolygonPartGeometry"]["properties"]["exterior"]["items"]
    assert point["type"] == "array" and point["minItems"] == point["maxItems"] == 2
    assert schemas["KeypointsGeometry"]["properties"]["points"]["items"]["maxItems"] == 3
    assert client.get("/api/projects").status_code == 401


def test_login_sets_a_safe_cookie_and_me_returns_the_user(world: World) -> None:
    alice = world.user("alice")
    client, r = _login(world, alice.username)
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert r.json()["user"]["username"] == alice.username
    me = client.get("/api/auth/me").json()
    assert me["user"]["id"] == alice.user_id and me["csrf_token"] == r.json()["csrf_token"]


def test_wrong_password_and_unknown_user_look_the_same(world: World) -> None:
    alice = world.user("alice")
    _, wrong = _login(world, alice.username, "not the password")
    _, unknown = _login(world, unique("nobody"), "whatever1")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_cookie_write_without_csrf_token_is_refused(world: World) -> None:
    alice = world.user("alice")
    client, r = _login(world, alice.username)
    csrf = r.json()["csrf_token"]
    body = {"name": unique("p")}
    refused = client.post("/api/projects", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    wrong = client.post("/api/projects", json=body, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    foreign = client.post(
        "/api/projects", json=body, headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert alice.get("/api/projects").json() == []  # nothing was created by the refused requests
    ok = client.post("/api/projects", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201, ok.text
    assert client.get("/api/projects").status_code == 200  # reads need no token


def test_logout_ends_the_session(world: World) -> None:
    alice = world.user("alice")
    client, r = _login(world, alice.username)
    csrf = r.json()["csrf_token"]
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/auth/me").status_code == 401


def test_api_tokens_work_are_listed_without_secret_and_can_be_revoked(world: World) -> None:
    alice = world.user("alice")
    r = alice.post("/api/tokens", json={"name": "script", "expires_days": 30})
    assert r.status_code == 201
    value = r.json()["value"]
    token_id = r.json()["token"]["id"]
    listed = alice.get("/api/tokens").json()
    assert any(t["id"] == token_id for t in listed) and all("value" not in t for t in listed)
    script = world.cookie_client()
    headers = {"Authorization": f"Bearer {value}"}
    assert script.get("/api/auth/me", headers=headers).json()["user"]["id"] == alice.user_id
    # Token-authenticated writes need no CSRF token.
    assert script.post("/api/projects", json={"name": unique("p")}, headers=headers).status_code == 201
    assert alice.delete(f"/api/tokens/{token_id}").status_code == 204
    assert script.get("/api/auth/me", headers=headers).status_code == 401
    assert script.get("/api/auth/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert script.get("/api/auth/me", headers={"Authorization": "Basic eDp5"}).status_code == 401


def test_someone_elses_token_cannot_be_deleted(world: World) -> None:
    alice, bob = world.user("alice"), world.user("bob")
    token_id = alice.post("/api/tokens", json={"name": "mine"}).json()["token"]["id"]
    assert bob.delete(f"/api/tokens/{token_id}").status_code == 404
    assert any(t["id"] == token_id for t in alice.get("/api/tokens").json())


def test_registration_is_closed_and_only_admins_manage_users(world: World) -> None:
    alice = world.user("alice")
    admin = world.user("admin", admin=True)
    body = {"username": unique("carol"), "password": "long enough"}
    assert world.cookie_client().post("/api/users", json=body).status_code == 401
    assert alice.post("/api/users", json=body).status_code == 403
    assert alice.get("/api/users").status_code == 403
    assert alice.patch(f"/api/users/{alice.user_id}", json={"is_admin": True}).status_code == 403
    r = admin.post("/api/users", json=body)
    assert r.status_code == 201 and r.json()["is_admin"] is False
    assert admin.post("/api/users", json=body).status_code == 409
    assert admin.post("/api/users", json={**body, "username": "bad name!"}).status_code == 422
    _, login = _login(world, body["username"], body["password"])
    assert login.status_code == 200
    assert admin.patch(f"/api/users/{r.json()['id']}", json={"is_active": False}).status_code == 200
    _, login = _login(world, body["username"], body["password"])
    assert login.status_code == 401


def test_password_change_needs_the_current_password(world: World) -> None:
    alice = world.user("alice")
    bad = alice.post(
        "/api/auth/password", json={"current_password": "wrong one", "new_password": "new secret"}
    )
    assert bad.status_code == 403
    ok = alice.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": "new secret"})
    assert ok.status_code == 204
    assert _login(world, alice.username)[1].status_code == 401
    assert _login(world, alice.username, "new secret")[1].status_code == 200
