"""Review against the last review: after a rejection and the annotator's fixes, the reviewer sees what was
added, removed and changed (drawn on the image and listed); a rejection's comment is pinned where the
reviewer clicks; the annotator sees the pin on the canvas and resolves / reopens the comment."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import shot, unique
from tests.web.helpers import ONTOLOGY, EditorDriver
from tests.web.live import LiveServer, png


def _box(x0: float, y0: float, x1: float, y1: float, label: str = "car") -> dict[str, Any]:
    return {"label": label, "kind": "box", "box": {"x_min": x0, "y_min": y0, "x_max": x1, "y_max": y1}}


def _pixel(page: Any, x: float, y: float) -> list[int]:
    """The most opaque RGBA of the diff layer on a short vertical run through image point (x, y) (a dashed
    outline may have a gap at the point itself)."""
    return list(
        page.evaluate(
            """([x, y]) => {
              const layer = document.querySelector('[data-testid=diff-layer]');
              const [sx, sy] = window.__seglab.editor.viewport.toScreen(x, y);
              const dpr = window.devicePixelRatio || 1;
              const [px, py] = [Math.round(sx * dpr), Math.round((sy - 8) * dpr)];
              const run = layer.getContext('2d').getImageData(px, py, 1, Math.round(16 * dpr)).data;
              let best = [0, 0, 0, 0];
              for (let i = 0; i < run.length; i += 4) {
                if (run[i + 3] > best[3]) best = [...run.slice(i, i + 4)];
              }
              return best;
            }""",
            [x, y],
        )
    )


def test_diff_since_last_review_and_pinned_comments(page: Any, live: LiveServer) -> None:
    pid = live.project(unique("review-diff"), ONTOLOGY)
    iid = int(live.upload(pid, [("diff.png", png(400, 300, seed=44))])[0]["id"])
    status = f"/api/projects/{pid}/images/{iid}/status"

    # First round: three boxes, submitted; the first review sees all three as added.
    live.save(pid, iid, [_box(20, 20, 100, 80), _box(150, 30, 230, 90), _box(40, 180, 140, 260)])
    assert live.api.post(status, json={"action": "submit"}).status_code == 200
    ed = EditorDriver(page)
    page.goto(f"/projects/{pid}/review/{iid}")
    ed.wait_ready()
    page.wait_for_selector("[data-testid=review-diff]")
    assert page.get_attribute("[data-testid=review-diff]", "data-added") == "3"
    assert "first review" in page.inner_text("[data-testid=diff-since]")

    # Reject with a comment pinned on the second box.
    page.fill("[data-testid=review-comment]", "This box cuts the <i>bumper</i>")
    page.click("[data-testid=pin-comment]")
    ed.click(190, 60)
    page.wait_for_selector("[data-testid=pending-pin]:visible")
    assert page.inner_text("[data-testid=pin-state]").startswith("Pinned at ")
    shot(page, "review-pin")
    page.click("[data-testid=reject]")
    page.wait_for_url(f"**/projects/{pid}/review")
    comment = live.api.get(f"/api/projects/{pid}/images/{iid}/comments").json()[0]
    assert abs(comment["x"] - 190) < 1 and abs(comment["y"] - 60) < 1 and comment["resolved"] is False

    # The annotator (here the admin) opens the rejected image: the pin sits on the canvas at (190, 60).
    ed.open(pid, iid)
    marker = page.locator("[data-testid=comment-marker]")
    marker.wait_for()
    assert marker.inner_text() == "1"
    box = marker.bounding_box()
    sx, sy = ed.at(comment["x"], comment["y"])
    assert (
        abs(box["x"] - sx) <= 2 and abs(box["y"] + box["height"] - sy) <= 2
    )  # the pin's tip is on the point
    assert page.inner_text("[data-testid=comments] li") == "This box cuts the <i>bumper</i>"
    shot(page, "annotator-pinned-comment")
    page.click("[data-testid=resolve-comment]")
    page.wait_for_selector("[data-testid=comment-marker]", state="detached")  # resolved: off the canvas
    page.wait_for_selector("[data-testid=no-open-comments]")
    assert live.api.get(f"/api/projects/{pid}/images/{iid}/comments").json()[0]["resolved"] is True
    page.click("[data-testid=show-resolved]")
    page.click("[data-testid=reopen-comment]")
    page.wait_for_selector("[data-testid=comment-marker]")
    assert live.api.get(f"/api/projects/{pid}/images/{iid}/comments").json()[0]["resolved"] is False

    # The fixes: the first box kept, the second moved, the third deleted, a new one added; submit again.
    current = live.annotations(pid, iid)["annotations"]
    first, second = current[0], current[1]
    second["box"] = {"x_min": 160, "y_min": 30, "x_max": 250, "y_max": 95}
    live.save(pid, iid, [first, second, _box(280, 180, 360, 260)])
    assert live.api.post(status, json={"action": "submit"}).status_code == 200

    page.goto(f"/projects/{pid}/review/{iid}")
    ed.wait_ready()
    diff = page.locator("[data-testid=review-diff]")
    diff.wait_for()
    assert (
        diff.get_attribute("data-added"),
        diff.get_attribute("data-removed"),
        diff.get_attribute("data-changed"),
    ) == (
        "1",
        "1",
        "1",
    )
    items = page.locator("[data-testid=diff-item]")
    assert items.evaluate_all("els => els.map(e => e.dataset.change)") == ["added", "removed", "changed"]
    assert "shape" in items.nth(2).inner_text()
    assert "since the review" in page.inner_text("[data-testid=diff-since]")
    # Drawn on the image: green on the added box's edge, red on the removed one's, yellow on the moved one's,
    # nothing on the unchanged box.
    page.wait_for_timeout(100)
    green, red, yellow = _pixel(page, 280, 220), _pixel(page, 40, 220), _pixel(page, 250, 60)
    assert green[1] > 150 and green[0] < 100 and green[3] > 0, green
    assert red[0] > 200 and red[1] < 100 and red[3] > 0, red
    assert yellow[0] > 200 and yellow[1] > 150 and yellow[2] < 80, yellow
    assert _pixel(page, 20, 50)[3] == 0
    # The pinned comment of the last rejection shows here too.
    assert page.locator("[data-testid=comment-marker]").count() == 1
    shot(page, "review-diff")
    page.uncheck("[data-testid=toggle-diff]")
    assert _pixel(page, 280, 220)[3] == 0
    page.click("[data-testid=approve]")
    page.wait_for_url(f"**/projects/{pid}/review")
    assert live.image(pid, iid)["status"] == "approved"

    # An approval leaves no comment, yet the server's review log records its version: after a reopen and
    # one more box, the next review shows only that box, not the changes the approval already saw.
    assert live.api.post(status, json={"action": "reopen"}).status_code == 200
    current = live.annotations(pid, iid)["annotations"]
    live.save(pid, iid, [*current, _box(300, 20, 380, 80)])
    assert live.api.post(status, json={"action": "submit"}).status_code == 200
    page.goto(f"/projects/{pid}/review/{iid}")
    ed.wait_ready()
    diff = page.locator("[data-testid=review-diff]")
    diff.wait_for()
    assert (diff.get_attribute("data-added"), diff.get_attribute("data-removed")) == ("1", "0")
    assert diff.get_attribute("data-changed") == "0"


def test_diff_matches_objects_by_id_and_names_what_changed(page: Any) -> None:
    page.goto("/login")
    diff = page.evaluate(
        """async () => {
          const m = await import('/static/js/ui/review_diff.js');
          const box = (id, x, extra = {}) => ({ id, label: 'car', kind: 'box', attributes: {}, z_order: 0,
            group_id: null, crowd: false, box: { x_min: x, y_min: 0, x_max: x + 5, y_max: 5 }, ...extra });
          const before = [box(1, 0), box(2, 10), box(3, 20), box(4, 30, { attributes: { a: 1, b: 2 } })];
          const renamed = box(4, 30, { attributes: { b: 2, a: 1 }, label: 'bus' });
          const after = [box(1, 0), box(2, 11), renamed, box(5, 40)];
          const d = m.diffObjects(before, after);
          return { added: d.added.map((o) => o.id), removed: d.removed.map((o) => o.id),
                   changed: d.changed.map((c) => [c.after.id, c.parts]) };
        }"""
    )
    # Key order inside attributes does not count as a change; a moved box is a shape change.
    assert diff == {"added": [5], "removed": [3], "changed": [[2, ["shape"]], [4, ["class"]]]}
