"""The magic tool, driven like an annotator: a click segments the object and previews it, a right click
takes a part away, Enter adds it (undoable, autosaved); on a panoptic project it stays off existing
segments unless "allow overlap" is ticked; scribbles and Escape."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from tests.web.conftest import shot, unique
from tests.web.helpers import ONTOLOGY, EditorDriver
from tests.web.live import LiveServer

WIDTH, HEIGHT = 640, 480
DISC = (420.0, 240.0, 90.0)  # the object: centre x, centre y, radius
NEIGHBOUR = (490, 200, 600, 280)  # x0, y0, x1, y1: a touching object of a similar colour


def disc_mask(disc: tuple[float, float, float] = DISC) -> np.ndarray:
    cx, cy, r = disc
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    return (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 < r * r  # (H, W), pixel centres in the circle


def neighbour_mask() -> np.ndarray:
    x0, y0, x1, y1 = NEIGHBOUR
    out = np.zeros((HEIGHT, WIDTH), dtype=bool)
    out[y0:y1, x0:x1] = True
    return out & ~disc_mask()


def scene_png() -> bytes:
    """A textured background, an orange disc (the object to segment) and, touching it, a box of a similar
    colour that a first click takes in too: the case a negative click is for."""
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    img = np.stack(
        [70 + 30 * np.sin(xx / 23.0), 80 + 25 * np.cos(yy / 17.0), 90 + 20 * np.sin((xx + yy) / 31.0)],
        axis=-1,
    )
    img = img + rng.normal(0, 5, img.shape)
    inside = disc_mask()
    img[inside] = np.array([235, 140, 30]) + rng.normal(0, 5, (int(inside.sum()), 3))
    beside = neighbour_mask()
    img[beside] = np.array([210, 150, 50]) + rng.normal(0, 5, (int(beside.sum()), 3))
    out = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def project(live: LiveServer, name: str) -> tuple[int, int]:
    pid = live.project(unique(name), ONTOLOGY)  # things (car) and stuff (road): a panoptic ontology
    image = live.upload(pid, [(f"{name}.png", scene_png())])[0]
    return pid, int(image["id"])


def decode(rle: dict[str, Any]) -> np.ndarray:
    counts = rle["counts"].encode() if isinstance(rle["counts"], str) else rle["counts"]
    return mask_utils.decode({"size": rle["size"], "counts": counts}).astype(bool)


def rasterize(obj: dict[str, Any]) -> np.ndarray:
    """A server annotation's pixels (polygons through pycocotools, as every export rasterizes them)."""
    if obj["kind"] == "mask":
        return decode(obj["mask"])
    rings = [np.asarray(p["exterior"], dtype=np.float64).ravel().tolist() for p in obj["polygon"]["parts"]]
    rle = mask_utils.merge(mask_utils.frPyObjects(rings, HEIGHT, WIDTH))
    return mask_utils.decode(rle).astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def covered(mask: np.ndarray, part: np.ndarray) -> float:
    """How much of ``part`` the mask holds."""
    return float((mask & part).sum() / max(1, part.sum()))


def wait_answer(page: Any, prompts: int) -> dict[str, Any]:
    """Wait until the magic tool shows the answer to its ``prompts``-th prompt; returns the answer."""
    page.wait_for_function(
        "(n) => { const t = window.__seglab.editor.tools.get('magic');"
        " return t.prompts.length === n && t.status === 'ready' && t.answer; }",
        arg=prompts,
        timeout=20000,
    )
    return dict(page.evaluate("() => window.__seglab.editor.tools.get('magic').answer"))


def test_click_previews_negative_click_shrinks_enter_adds_polygon(page: Any, live: LiveServer) -> None:
    pid, iid = project(live, "magic")
    ed = EditorDriver(page).open(pid, iid)
    ed.tool("magic")
    assert page.get_attribute("[data-testid=tool-magic]", "aria-pressed") == "true"
    ed.pick_class("car")

    ed.click(420, 240)
    first = wait_answer(page, 1)
    truth = disc_mask()
    before = decode(first["mask"])
    assert covered(before, truth) >= 0.95
    assert before[240, 560], "the first click was meant to take in the touching box too (similar colour)"
    status = page.locator("[data-testid=magic-status]")
    assert status.get_attribute("data-state") == "ready" and "Enter adds it" in status.inner_text()
    shot(page, "magic-preview")

    # A right click on the touching box: that is not the object.
    ed.click(560, 240, button="right")
    second = wait_answer(page, 2)
    after = decode(second["mask"])
    assert not after[240, 560] and second["area"] < first["area"]
    assert not (after & ~before).any()  # a negative click only takes away
    assert covered(after, neighbour_mask()) < 0.1 and iou(after, truth) >= 0.9
    shot(page, "magic-negative-click")

    page.keyboard.press("Enter")
    ed.wait_saved()
    shot(page, "magic-added")
    (obj,) = live.annotations(pid, iid)["annotations"]
    assert obj["label"] == "car" and obj["kind"] == "polygon"
    assert iou(rasterize(obj), after) >= 0.95  # the polygon is the previewed mask, simplified by 1 px
    assert not rasterize(obj)[240, 560]
    assert page.evaluate("() => window.__seglab.editor.tools.get('magic').prompts.length") == 0

    page.keyboard.press("Control+z")  # one undo step takes the whole segment back
    assert page.evaluate("() => window.__seglab.editor.doc.objects.length") == 0
    ed.save_now()
    assert live.annotations(pid, iid)["annotations"] == []


def test_panoptic_no_overlap_unless_allowed_scribble_and_escape(page: Any, live: LiveServer) -> None:
    pid, iid = project(live, "magic-panoptic")
    # Road already covers the left half of the disc.
    road = {"parts": [{"exterior": [[300, 100], [420, 100], [420, 380], [300, 380]], "holes": []}]}
    live.save(pid, iid, [{"label": "road", "kind": "polygon", "polygon": road}])
    ed = EditorDriver(page).open(pid, iid)
    page.keyboard.press("w")  # the shortcut listed in the help
    assert page.get_attribute("[data-testid=tool-magic]", "aria-pressed") == "true"
    ed.pick_class("car")
    page.select_option("[data-testid=magic-output]", "mask")

    ed.click(460, 240)
    answer = decode(wait_answer(page, 1)["mask"])
    (existing,) = live.annotations(pid, iid)["annotations"]
    taken = rasterize(existing)
    assert not (answer & taken).any()
    assert covered(answer, disc_mask() & ~taken) >= 0.9
    shot(page, "magic-panoptic")

    page.check("[data-testid=magic-allow-overlap]")  # asks again, without cutting
    page.wait_for_function(
        "() => { const t = window.__seglab.editor.tools.get('magic');"
        " return t.status === 'ready' && t.answer.area > 22000; }",
        timeout=20000,
    )
    whole = decode(page.evaluate("() => window.__seglab.editor.tools.get('magic').answer")["mask"])
    assert covered(whole, disc_mask()) >= 0.9

    page.keyboard.press("Escape")  # cancel: nothing added, prompts and preview gone
    assert page.evaluate("() => window.__seglab.editor.tools.get('magic').answer") is None
    page.uncheck("[data-testid=magic-allow-overlap]")

    ed.drag([(320, 140), (420, 240), (520, 340)])  # a box around the disc
    boxed = wait_answer(page, 1)
    assert page.evaluate("() => window.__seglab.editor.tools.get('magic').prompts[0].type") == "box"
    assert not (decode(boxed["mask"]) & taken).any()
    assert covered(decode(boxed["mask"]), disc_mask() & ~taken) >= 0.9
    shot(page, "magic-box")
    page.keyboard.press("Backspace")  # takes the box back: nothing left to show
    page.wait_for_function("() => window.__seglab.editor.tools.get('magic').status === 'idle'")
    assert page.evaluate("() => window.__seglab.editor.tools.get('magic').answer") is None

    page.keyboard.press("s")  # scribble mode
    assert "active" in (page.get_attribute("[data-testid=magic-mode-scribble]", "class") or "")
    ed.drag([(450, 200), (470, 240), (450, 280)])
    stroke = decode(wait_answer(page, 1)["mask"])
    assert not (stroke & taken).any() and covered(stroke, disc_mask() & ~taken) >= 0.9
    page.keyboard.press("Enter")
    ed.wait_saved()
    shot(page, "magic-scribble-added")
    objects = live.annotations(pid, iid)["annotations"]
    (car,) = [o for o in objects if o["label"] == "car"]
    assert car["kind"] == "mask" and not (rasterize(car) & taken).any()

    page.keyboard.press("?")
    help_text = page.locator("[data-testid=help-overlay]").inner_text()
    assert "Magic" in help_text
    shot(page, "magic-help")
