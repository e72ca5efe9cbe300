"""Driving the editor from tests: image to page coordinates, drawing gestures, waiting for saves."""

from __future__ import annotations

from typing import Any

from tests.server.conftest import ONTOLOGY as SERVER_ONTOLOGY

# The server tests' ontology, with colours that read better on screen (tests sample canvas pixels).
_SCREEN_COLOURS = {"car": [220, 40, 40], "lane": [240, 200, 40], "person": [40, 90, 230]}
ONTOLOGY: dict[str, Any] = {
    "classes": [
        {**c, "color": _SCREEN_COLOURS.get(c["name"], c["color"])} for c in SERVER_ONTOLOGY["classes"]
    ]
}


class EditorDriver:
    """The editor page of one image, driven in image pixel coordinates."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def open(self, project_id: int, image_id: int) -> EditorDriver:
        self.page.goto(f"/projects/{project_id}/images/{image_id}")
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        self.page.wait_for_selector("[data-testid=canvas][data-ready='1']", timeout=15000)

    def at(self, x: float, y: float) -> tuple[float, float]:
        box = self.page.locator("[data-testid=canvas]").bounding_box()
        sx, sy = self.page.evaluate("([x, y]) => window.__seglab.editor.viewport.toScreen(x, y)", [x, y])
        return box["x"] + sx, box["y"] + sy

    def click(self, x: float, y: float, **kwargs: Any) -> None:
        self.page.mouse.click(*self.at(x, y), **kwargs)

    def drag(self, points: list[tuple[float, float]]) -> None:
        self.page.mouse.move(*self.at(*points[0]))
        self.page.mouse.down()
        for p in points[1:]:
            self.page.mouse.move(*self.at(*p), steps=3)
        self.page.mouse.up()

    def tool(self, name: str) -> None:
        self.page.click(f"[data-testid=tool-{name}]")

    def pick_class(self, name: str) -> None:
        self.page.locator("[data-testid=class-picker] button", has_text=name).first.click()

    def polygon(self, ring: list[tuple[float, float]]) -> None:
        for p in ring:
            self.click(*p)
        self.click(*ring[0])  # back on the first point closes it

    def wait_saved(self, timeout: float = 8000) -> None:
        self.page.wait_for_function(
            "() => { const s = window.__seglab && window.__seglab.autosave;"
            " return s && s.state === 'saved' && !s.dirty; }",
            timeout=timeout,
        )

    def save_now(self) -> None:
        """Ctrl+S: save without waiting for the autosave's pause, then wait until the server has it."""
        self.page.keyboard.press("Control+s")
        self.wait_saved()

    def state(self) -> str:
        return str(self.page.get_attribute("[data-testid=save-state]", "data-state"))

    def objects(self) -> list[dict[str, Any]]:
        return list(self.page.evaluate("() => window.__seglab.editor.doc.objects"))

    def select_object(self, x: float, y: float) -> None:
        self.tool("select")
        self.click(x, y)
