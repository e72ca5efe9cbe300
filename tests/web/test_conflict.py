"""Saving under pressure: two people on one image, a lost connection, and a reload while offline."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import new_context, shot, unique
from tests.web.helpers import ONTOLOGY, EditorDriver
from tests.web.live import LiveServer, png


def _image(live: LiveServer, name: str) -> tuple[int, int]:
    pid = live.project(unique(name), ONTOLOGY)
    return pid, int(live.upload(pid, [(f"{name}.png", png(480, 360, seed=5))])[0]["id"])


def test_conflict_between_two_browsers_keeps_both_edits(browser: Any, live: LiveServer) -> None:
    pid, iid = _image(live, "conflict")
    live.save(
        pid,
        iid,
        [{"label": "car", "kind": "box", "box": {"x_min": 10, "y_min": 10, "x_max": 60, "y_max": 50}}],
    )
    first, second = new_context(browser, live), new_context(browser, live)
    try:
        a = EditorDriver(first.new_page()).open(pid, iid)
        b = EditorDriver(second.new_page()).open(pid, iid)

        a.tool("box")
        a.drag([(100, 100), (180, 160)])
        a.save_now()

        b.tool("polygon")
        b.polygon([(300, 60), (420, 80), (400, 200)])
        b.page.keyboard.press("Control+s")
        b.page.wait_for_selector("[data-testid=save-state][data-state=conflict]")
        b.page.wait_for_selector("[data-testid=conflict-panel]")
        shot(b.page, "editor-conflict")
        panel = b.page.inner_text("[data-testid=conflict-panel]")
        assert "added by you" in panel and "added by them" in panel
        assert [o["kind"] for o in b.objects()] == ["box", "polygon"]  # B's own work is still on the canvas
        b.page.click("[data-testid=conflict-save]")
        b.wait_saved()

        kinds = sorted(o["kind"] for o in live.annotations(pid, iid)["annotations"])
        assert kinds == ["box", "box", "polygon"]
        a.page.reload()
        a.wait_ready()
        assert a.page.locator("[data-testid=object-row]").count() == 3
        # B keeps working on the merged copy without another conflict.
        b.tool("box")
        b.drag([(20, 250), (80, 300)])
        b.wait_saved()
        assert len(live.annotations(pid, iid)["annotations"]) == 4
    finally:
        first.close()
        second.close()


def test_both_changed_one_object_user_picks_theirs(browser: Any, live: LiveServer) -> None:
    pid, iid = _image(live, "pick")
    live.save(
        pid,
        iid,
        [{"label": "car", "kind": "box", "box": {"x_min": 10, "y_min": 10, "x_max": 60, "y_max": 50}}],
    )
    context = new_context(browser, live)
    try:
        ed = EditorDriver(context.new_page()).open(pid, iid)
        live.save(
            pid,
            iid,
            [
                {
                    "id": 1,
                    "label": "person",
                    "kind": "box",
                    "box": {"x_min": 10, "y_min": 10, "x_max": 60, "y_max": 50},
                }
            ],
        )
        ed.select_object(30, 30)
        ed.page.keyboard.press("ArrowRight")  # mine: moved by 1 px; theirs: relabeled
        ed.page.wait_for_selector("[data-testid=conflict-panel]")
        assert "changed by both" in ed.page.inner_text("[data-testid=conflict-panel]")
        ed.page.select_option("[data-testid=conflict-choice]", "theirs")
        ed.page.click("[data-testid=conflict-save]")
        ed.wait_saved()
        (obj,) = live.annotations(pid, iid)["annotations"]
        assert obj["label"] == "person" and obj["box"]["x_min"] == 10
    finally:
        context.close()


def test_offline_edits_survive_a_reload_then_reach_the_server(page: Any, live: LiveServer) -> None:
    pid, iid = _image(live, "offline")
    ed = EditorDriver(page).open(pid, iid)
    writes = f"**/api/projects/{pid}/images/{iid}/annotations"
    page.route(writes, lambda route: route.abort() if route.request.method == "PUT" else route.continue_())

    ed.tool("box")
    ed.drag([(50, 50), (150, 120)])
    page.wait_for_selector("[data-testid=save-state][data-state=offline]")
    shot(page, "editor-offline")
    page.wait_for_function(f"() => localStorage.getItem('seglab.draft.{pid}.{iid}') !== null")

    page.reload()  # the server still cannot be written: the draft comes back from this browser
    ed.wait_ready()
    assert "Restored unsaved edits" in page.inner_text("[data-testid=editor-banner]")
    assert [o["kind"] for o in ed.objects()] == ["box"]
    assert live.annotations(pid, iid)["annotations"] == []

    page.unroute(writes)
    page.evaluate("() => window.__seglab.autosave.save()")
    ed.wait_saved()
    assert [o["kind"] for o in live.annotations(pid, iid)["annotations"]] == ["box"]
    assert page.evaluate(f"() => localStorage.getItem('seglab.draft.{pid}.{iid}')") is None


def test_browser_offline_state_and_recovery(context: Any, live: LiveServer) -> None:
    pid, iid = _image(live, "net")
    page = context.new_page()
    ed = EditorDriver(page).open(pid, iid)
    context.set_offline(True)
    ed.tool("polyline")
    ed.pick_class("lane")
    for p in [(40, 40), (200, 90)]:
        ed.click(*p)
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=save-state][data-state=offline]")
    context.set_offline(False)
    ed.wait_saved(timeout=10000)
    assert [o["kind"] for o in live.annotations(pid, iid)["annotations"]] == ["polyline"]


def test_draft_made_before_someone_else_saved_opens_the_merge(page: Any, live: LiveServer) -> None:
    pid, iid = _image(live, "stale-draft")
    ed = EditorDriver(page).open(pid, iid)
    writes = f"**/api/projects/{pid}/images/{iid}/annotations"
    page.route(writes, lambda route: route.abort() if route.request.method == "PUT" else route.continue_())
    ed.tool("box")
    ed.drag([(50, 50), (150, 120)])
    page.wait_for_selector("[data-testid=save-state][data-state=offline]")
    page.evaluate("() => window.__seglab.autosave.writeDraft()")
    live.save(
        pid,
        iid,
        [
            {
                "label": "road",
                "kind": "polygon",
                "polygon": {"parts": [{"exterior": [[200, 200], [300, 200], [300, 300]]}]},
            }
        ],
    )
    page.unroute(writes)

    page.reload()
    ed.wait_ready()
    page.wait_for_selector("[data-testid=conflict-panel]")
    page.click("[data-testid=conflict-save]")
    ed.wait_saved()
    assert sorted(o["kind"] for o in live.annotations(pid, iid)["annotations"]) == ["box", "polygon"]
