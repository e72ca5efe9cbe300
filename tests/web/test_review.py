"""Review: an annotator submits, a reviewer approves one image and rejects another with a comment."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import shot, unique
from tests.web.helpers import ONTOLOGY, EditorDriver
from tests.web.live import LiveServer, png


def test_submit_then_approve_and_reject_with_comment(page: Any, live: LiveServer) -> None:
    pid = live.project(unique("review"), ONTOLOGY)
    images = live.upload(pid, [(f"r{i}.png", png(320, 240, seed=30 + i)) for i in range(2)])
    first, second = (int(i["id"]) for i in images)
    live.save(
        pid,
        second,
        [{"label": "car", "kind": "box", "box": {"x_min": 5, "y_min": 5, "x_max": 50, "y_max": 40}}],
    )
    assert (
        live.api.post(f"/api/projects/{pid}/images/{second}/status", json={"action": "submit"}).status_code
        == 200
    )

    ed = EditorDriver(page).open(pid, first)
    ed.tool("box")
    ed.drag([(20, 20), (120, 100)])
    page.click("[data-testid=submit]")  # saves first, then submits and moves on
    page.wait_for_url(f"**/images/{second}")
    assert live.image(pid, first)["status"] == "submitted"
    assert len(live.annotations(pid, first)["annotations"]) == 1

    page.goto(f"/projects/{pid}/review")
    page.wait_for_url(f"**/review/{first}")
    ed.wait_ready()
    assert page.locator("[data-testid=tool-box]").count() == 0  # review is read-only
    assert page.locator("[data-testid=object-row]").count() == 1
    shot(page, "review")
    page.click("[data-testid=approve]")
    page.wait_for_url(f"**/review/{second}")
    ed.wait_ready()
    assert live.image(pid, first)["status"] == "approved"

    page.click("[data-testid=reject]")  # no comment yet: refused in the page
    page.wait_for_selector(".review-bar .error:has-text('needs a comment')")
    assert live.image(pid, second)["status"] == "submitted"
    page.fill("[data-testid=review-comment]", "The box misses the <b>mirror</b>")
    page.click("[data-testid=reject]")
    page.wait_for_url(f"**/projects/{pid}/review")
    page.wait_for_selector("[data-testid=review-empty]")
    shot(page, "review-done")
    assert live.image(pid, second)["status"] == "rejected"
    comments = live.api.get(f"/api/projects/{pid}/images/{second}/comments").json()
    assert [c["text"] for c in comments] == ["The box misses the <b>mirror</b>"]

    # The annotator sees the rejection's comment, as text, beside the image.
    ed.open(pid, second)
    page.wait_for_selector("[data-testid=comments] li")
    assert page.inner_text("[data-testid=comments] li") == "The box misses the <b>mirror</b>"
    assert page.locator("[data-testid=comments] b").count() == 0
    shot(page, "editor-rejected")
