"""The ontology's visual skeleton editor: points added by clicking, named, dragged, connected by clicking two
points, and deleted; what is saved is what the canvas shows, and the drawing comes back after a reload."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import shot, unique
from tests.web.live import LiveServer

ONTOLOGY = {"classes": [{"name": "hand", "color": [200, 80, 40], "shapes": ["keypoints"]}]}


def _click_canvas(page: Any, fx: float, fy: float) -> None:
    """Click the skeleton canvas at a fraction of its width and height."""
    box = page.locator("[data-testid=skeleton-canvas]").bounding_box()
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])


def _node(page: Any, i: int) -> Any:
    return page.locator(f"[data-testid=skeleton-node][data-index='{i}'] circle")


def _center(locator: Any) -> tuple[float, float]:
    b = locator.bounding_box()
    return b["x"] + b["width"] / 2, b["y"] + b["height"] / 2


def test_draw_name_connect_drag_and_delete_a_skeleton(page: Any, live: LiveServer) -> None:
    pid = live.project(unique("skeleton"), ONTOLOGY)
    page.goto(f"/projects/{pid}/ontology")
    page.wait_for_selector("[data-testid=skeleton-canvas]")
    assert "add the first point" in page.inner_text("[data-testid=skeleton-hint]")

    # Four points by clicking empty spots; each new point's name field is selected for typing.
    names = ["wrist", "thumb", "index", "pinky"]
    spots = [(0.5, 0.85), (0.2, 0.4), (0.5, 0.15), (0.8, 0.4)]
    for name, (fx, fy) in zip(names, spots, strict=True):
        _click_canvas(page, fx, fy)
        page.keyboard.type(name)  # the new point's name input has the focus, its default name selected
        page.locator("[data-testid=skeleton-canvas]").focus()
    assert page.locator("[data-testid=skeleton-node]").count() == 4
    assert page.locator("[data-testid=skeleton-node] text").all_text_contents() == names

    # Connect wrist-thumb, thumb-index (a chain: the second click keeps the point picked), then let go.
    for i in (0, 1, 2):
        page.mouse.click(*_center(_node(page, i)))
    page.keyboard.press("Escape")
    # wrist-pinky: pick wrist, click pinky.
    page.mouse.click(*_center(_node(page, 0)))
    page.mouse.click(*_center(_node(page, 3)))
    page.keyboard.press("Escape")
    assert page.locator("[data-testid=skeleton-edge]").count() == 3

    # Drag the index finger to the top-left; a drag is not a click (no edge, no selection).
    x0, y0 = _center(_node(page, 2))
    box = page.locator("[data-testid=skeleton-canvas]").bounding_box()
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.1 * box["width"], box["y"] + 0.1 * box["height"], steps=6)
    page.mouse.up()
    assert page.locator("[data-testid=skeleton-edge]").count() == 3
    x1, y1 = _center(_node(page, 2))
    assert x1 < x0 - 50 and y1 < y0 - 5

    # Delete the pinky point with the keyboard: its edge goes with it.
    page.mouse.click(*_center(_node(page, 3)))
    page.keyboard.press("Delete")
    assert page.locator("[data-testid=skeleton-node]").count() == 3
    assert page.locator("[data-testid=skeleton-edge]").count() == 2
    # Delete an edge by clicking it, then the button.
    page.locator("[data-testid=skeleton-edge][data-a='1'][data-b='2'] line.hit").click(force=True)
    page.click("[data-testid=skeleton-delete]")
    assert page.locator("[data-testid=skeleton-edge]").count() == 1
    # A sigma for one point gives every point one (the others the default).
    page.locator("[data-testid=skeleton-sigma]").nth(0).fill("0.08")
    page.locator("[data-testid=skeleton-sigma]").nth(0).dispatch_event("change")
    shot(page, "skeleton-editor")

    page.click("[data-testid=save-ontology]")
    page.wait_for_selector("[data-testid=ontology-status]:has-text('Saved: version')")
    hand = live.api.get(f"/api/projects/{pid}/ontology").json()["ontology"]["classes"][0]
    assert hand["skeleton"]["points"] == ["wrist", "thumb", "index"]
    assert hand["skeleton"]["edges"] == [[0, 1]]
    assert hand["skeleton"]["sigmas"] == [0.08, 0.05, 0.05]
    layout = hand["extra"]["skeleton_layout"]
    assert len(layout) == 3 and all(0 <= v <= 1 for p in layout for v in p)
    assert layout[2][0] < 0.2 and layout[2][1] < 0.2  # where the index finger was dragged

    # After a reload the drawing is where it was left.
    page.reload()
    page.wait_for_selector("[data-testid=skeleton-node]")
    assert page.locator("[data-testid=skeleton-node]").count() == 3
    assert page.locator("[data-testid=skeleton-edge]").count() == 1
    x2, _ = _center(_node(page, 2))
    box = page.locator("[data-testid=skeleton-canvas]").bounding_box()
    assert abs((x2 - box["x"]) / box["width"] - layout[2][0]) < 0.02


def test_viewer_sees_the_skeleton_but_cannot_change_it(browser: Any, live: LiveServer) -> None:
    from tests.web.conftest import new_context

    ontology = {
        "classes": [
            {
                "name": "person",
                "shapes": ["keypoints"],
                "skeleton": {"points": ["head", "neck", "hip"], "edges": [[0, 1], [1, 2]]},
            }
        ]
    }
    pid = live.project(unique("skeleton-viewer"), ontology)
    name = unique("viewer").replace(" ", "_")
    live.api.post("/api/users", json={"username": name, "password": "viewer password 1"}).raise_for_status()
    live.api.post(
        f"/api/projects/{pid}/members", json={"username": name, "role": "viewer"}
    ).raise_for_status()
    context = new_context(browser, live, login=False)
    try:
        r = context.request.post("/api/auth/login", data={"username": name, "password": "viewer password 1"})
        assert r.ok
        page = context.new_page()
        page.goto(f"/projects/{pid}/ontology")
        page.wait_for_selector("[data-testid=skeleton-node]")
        # Laid out on a circle (the class never had a drawing); clicks change nothing.
        assert page.locator("[data-testid=skeleton-node]").count() == 3
        assert page.locator("[data-testid=skeleton-edge]").count() == 2
        _click_canvas(page, 0.1, 0.9)
        assert page.locator("[data-testid=skeleton-node]").count() == 3
        page.mouse.click(*_center(_node(page, 0)))
        page.keyboard.press("Delete")
        assert page.locator("[data-testid=skeleton-node]").count() == 3
        shot(page, "skeleton-viewer")
    finally:
        context.close()


def test_skeleton_point_removal_keeps_edges_sigmas_and_flips_consistent(page: Any) -> None:
    page.goto("/login")
    result = page.evaluate(
        """async () => {
          const m = await import('/static/js/ontology/skeleton_form.js');
          const sk = { points: ['a', 'b', 'c', 'd'], edges: [[0, 1], [1, 2], [2, 3], [3, 0]],
                       sigmas: [0.1, 0.2, 0.3, 0.4], flip_index: [3, 2, 1, 0] };
          m.removeSkeletonPoint(sk, 1);
          const removed = JSON.parse(JSON.stringify(sk));
          m.addSkeletonPoint(sk, 'e');
          const loops = [[0, 0], [2, 0], [3, 0]].map(([a, b]) => m.addSkeletonEdge(sk, a, b));
          return { removed, added: sk, loops };
        }"""
    )
    # b (index 1) goes: its edges go, later indices shift, c lost its mirror and maps to itself.
    assert result["removed"] == {
        "points": ["a", "c", "d"],
        "edges": [[1, 2], [2, 0]],
        "sigmas": [0.1, 0.3, 0.4],
        "flip_index": [2, 1, 0],
    }
    assert result["added"]["sigmas"] == [0.1, 0.3, 0.4, 0.05] and result["added"]["flip_index"] == [
        2,
        1,
        0,
        3,
    ]
    assert result["loops"] == [False, False, True]  # a loop and a reversed duplicate are refused
