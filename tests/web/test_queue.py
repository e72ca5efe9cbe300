"""The annotator's queue page: counts of their own work and of what is left, "Start labeling" claims the next
image through the server's queue and opens the editor; rejected work comes back first."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import new_context, shot, unique
from tests.web.helpers import ONTOLOGY, EditorDriver
from tests.web.live import LiveServer, png

PASSWORD = "annotator password 1"


def _count(page: Any, status: str) -> int:
    return int(page.get_attribute(f"[data-testid=queue-count-{status}]", "data-count"))


def test_queue_claims_next_image_and_counts_the_annotators_work(browser: Any, live: LiveServer) -> None:
    pid = live.project(unique("queue"), ONTOLOGY)
    images = live.upload(pid, [(f"q{i}.png", png(240, 180, seed=60 + i)) for i in range(3)])
    ids = [int(i["id"]) for i in images]
    name = unique("ann").replace(" ", "_")
    live.api.post("/api/users", json={"username": name, "password": PASSWORD}).raise_for_status()
    live.api.post(
        f"/api/projects/{pid}/members", json={"username": name, "role": "annotator"}
    ).raise_for_status()

    context = new_context(browser, live, login=False)
    try:
        assert context.request.post("/api/auth/login", data={"username": name, "password": PASSWORD}).ok
        page = context.new_page()
        page.goto(f"/projects/{pid}")
        page.click("[data-testid=open-queue]")
        page.wait_for_selector("[data-testid=queue-remaining]:has-text('3')")
        assert page.inner_text("[data-testid=queue-next]") == "Start labeling"
        assert all(_count(page, s) == 0 for s in ("rejected", "in_progress", "submitted", "approved"))
        shot(page, "queue")

        # Start: the lowest new image is claimed for this annotator and opened in the editor.
        page.click("[data-testid=queue-next]")
        page.wait_for_url(f"**/projects/{pid}/images/{ids[0]}")
        ed = EditorDriver(page)
        ed.wait_ready()
        claimed = live.image(pid, ids[0])
        assert claimed["status"] == "in_progress" and claimed["assignee_id"] is not None
        ed.tool("box")
        ed.drag([(20, 20), (100, 90)])
        page.click("[data-testid=submit]")
        page.wait_for_url(lambda url: f"/images/{ids[0]}" not in url)
        assert live.image(pid, ids[0])["status"] == "submitted"

        # The reviewer rejects it: it is the first thing the queue hands back.
        r = live.api.post(
            f"/api/projects/{pid}/images/{ids[0]}/status", json={"action": "reject", "comment": "Tighter box"}
        )
        assert r.status_code == 200
        page.goto(f"/projects/{pid}/queue")
        page.wait_for_selector("[data-testid=queue-count-rejected][data-count='1']")
        assert page.inner_text("[data-testid=queue-next]") == "Next image"
        assert page.inner_text("[data-testid=queue-remaining]") == "2"
        assert page.locator("[data-testid=queue-item][data-status=rejected]").count() == 1
        shot(page, "queue-rejected")
        page.click("[data-testid=queue-next]")
        page.wait_for_url(f"**/projects/{pid}/images/{ids[0]}")
        ed.wait_ready()
        page.wait_for_selector("[data-testid=comments] li:has-text('Tighter box')")

        # Another new image: claimed next, and the counts follow.
        ed.tool("box")
        ed.drag([(30, 30), (90, 80)])
        page.click("[data-testid=submit]")
        page.wait_for_url(lambda url: f"/images/{ids[0]}" not in url)
        page.goto(f"/projects/{pid}/queue")
        page.wait_for_selector("[data-testid=queue-count-submitted][data-count='1']")
        page.click("[data-testid=queue-next]")
        page.wait_for_url(f"**/projects/{pid}/images/{ids[1]}")
        page.goto(f"/projects/{pid}/queue")
        page.wait_for_selector("[data-testid=queue-count-in_progress][data-count='1']")
        assert page.inner_text("[data-testid=queue-remaining]") == "1"
    finally:
        context.close()


def test_empty_queue_says_so(page: Any, live: LiveServer) -> None:
    pid = live.project(unique("queue-empty"), ONTOLOGY)
    page.goto(f"/projects/{pid}/queue")
    page.wait_for_selector("[data-testid=queue-remaining]:has-text('0')")
    assert page.is_disabled("[data-testid=queue-next]")
    assert "Nothing is waiting" in page.inner_text("[data-testid=queue-status]")
