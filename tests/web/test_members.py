"""Members and roles: an owner adds people by user name, changes a role and removes a member; a manager is
offered only the roles below their own; an annotator sees the list without any control; the server has
the last word either way."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import new_context, shot, unique
from tests.web.live import LiveServer

PASSWORD = "member password 1"


def _user(live: LiveServer, prefix: str) -> str:
    name = unique(prefix).replace(" ", "_")
    live.api.post("/api/users", json={"username": name, "password": PASSWORD}).raise_for_status()
    return name


def _roles(live: LiveServer, pid: int) -> dict[str, str]:
    return {m["username"]: m["role"] for m in live.api.get(f"/api/projects/{pid}/members").json()}


def _row(page: Any, username: str) -> Any:
    return page.locator(f"[data-testid=member-row][data-username='{username}']")


def test_owner_adds_changes_and_removes_members(page: Any, live: LiveServer) -> None:
    pid = live.project(unique("members"))
    alice, bob = _user(live, "alice"), _user(live, "bob")
    page.goto(f"/projects/{pid}")
    page.click("[data-testid=open-members]")
    page.wait_for_selector("[data-testid=member-row]")
    assert page.inner_text("[data-testid=member-count]") == "1 member"
    assert page.input_value("[data-testid=member-role]") == "annotator"  # the usual role, preselected

    page.fill("[data-testid=member-username]", alice)
    page.select_option("[data-testid=member-role]", "reviewer")
    page.click("[data-testid=add-member-submit]")
    _row(page, alice).wait_for()
    page.fill("[data-testid=member-username]", bob)
    page.select_option("[data-testid=member-role]", "annotator")
    page.click("[data-testid=add-member-submit]")
    _row(page, bob).wait_for()
    assert _roles(live, pid)[alice] == "reviewer" and _roles(live, pid)[bob] == "annotator"

    # A user who does not exist: said in the form, nothing added.
    page.fill("[data-testid=member-username]", "nobody@example.org")
    page.click("[data-testid=add-member-submit]")
    page.wait_for_selector("[data-testid=member-error]:has-text('nobody@example.org')")
    assert "nobody@example.org" not in _roles(live, pid)

    # The last owner cannot be demoted: the server says so, the page shows the role unchanged.
    _row(page, "admin").locator("[data-testid=member-role-select]").select_option("manager")
    page.wait_for_selector(".toast.error:has-text('at least one owner')")
    page.wait_for_selector("[data-testid=member-row][data-username='admin'][data-role='owner']")

    _row(page, bob).locator("[data-testid=member-role-select]").select_option("manager")
    page.wait_for_selector(f"[data-testid=member-row][data-username='{bob}'][data-role='manager']")
    assert _roles(live, pid)[bob] == "manager"
    shot(page, "members")

    _row(page, alice).locator("[data-testid=remove-member]").click()
    page.click("[data-testid=confirm-remove-ok]")
    _row(page, alice).wait_for(state="detached")
    assert alice not in _roles(live, pid)


def test_manager_grants_below_own_role_and_annotator_sees_no_controls(browser: Any, live: LiveServer) -> None:
    pid = live.project(unique("members-roles"))
    manager, annotator, other = _user(live, "mgr"), _user(live, "ann"), _user(live, "oth")
    for name, role in ((manager, "manager"), (annotator, "annotator")):
        live.api.post(
            f"/api/projects/{pid}/members", json={"username": name, "role": role}
        ).raise_for_status()

    def open_as(username: str) -> tuple[Any, Any]:
        context = new_context(browser, live, login=False)
        assert context.request.post("/api/auth/login", data={"username": username, "password": PASSWORD}).ok
        page = context.new_page()
        page.goto(f"/projects/{pid}/members")
        page.wait_for_selector("[data-testid=member-row]")
        return context, page

    context, page = open_as(manager)
    try:
        offered = page.locator("[data-testid=member-role] option").all_text_contents()
        assert offered == ["viewer", "annotator", "reviewer"]  # below manager
        # The owner's row and the manager's own row have no controls; the annotator's has both.
        assert _row(page, "admin").locator("select, [data-testid=remove-member]").count() == 0
        assert _row(page, manager).locator("select, [data-testid=remove-member]").count() == 0
        assert _row(page, annotator).locator("[data-testid=member-role-select]").count() == 1
        page.fill("[data-testid=member-username]", other)
        page.select_option("[data-testid=member-role]", "viewer")
        page.click("[data-testid=add-member-submit]")
        _row(page, other).wait_for()
        assert _roles(live, pid)[other] == "viewer"
        shot(page, "members-manager")
    finally:
        context.close()

    context, page = open_as(annotator)
    try:
        assert page.locator("[data-testid=add-member]").count() == 0
        assert page.locator("[data-testid=member-role-select], [data-testid=remove-member]").count() == 0
        page.wait_for_selector("[data-testid=members-readonly]")
        assert _row(page, annotator).locator("[data-testid=leave-project]").count() == 1
        # The server refuses what the page does not offer.
        r = context.request.patch(
            f"/api/projects/{pid}/members/{_id(live, pid, other)}",
            data={"role": "owner"},
            headers={"X-CSRF-Token": _csrf(context)},
        )
        assert r.status == 403
        shot(page, "members-annotator")
    finally:
        context.close()


def _id(live: LiveServer, pid: int, username: str) -> int:
    return next(
        m["user_id"] for m in live.api.get(f"/api/projects/{pid}/members").json() if m["username"] == username
    )


def _csrf(context: Any) -> str:
    return str(context.request.get("/api/auth/me").json()["csrf_token"])
