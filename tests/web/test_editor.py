"""The editor, driven like an annotator: every shape, vertex edits, undo/redo, autosave, reload."""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from tests.web.conftest import shot, unique
from tests.web.helpers import ONTOLOGY, EditorDriver
from tests.web.live import LiveServer, png


def _image(live: LiveServer, name: str, size: tuple[int, int] = (640, 480)) -> tuple[int, int]:
    pid = live.project(unique(name), ONTOLOGY)
    image = live.upload(pid, [(f"{name}.png", png(*size, seed=7))])[0]
    return pid, int(image["id"])


def _by_kind(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        out.setdefault(obj["kind"], []).append(obj)
    return out


def test_draw_box_polygon_with_hole_and_polyline(page: Any, live: LiveServer) -> None:
    pid, iid = _image(live, "shapes")
    ed = EditorDriver(page).open(pid, iid)

    ed.tool("box")
    ed.drag([(40, 40), (100, 80), (160, 130)])
    ed.tool("polygon")
    ed.polygon([(260, 60), (460, 60), (460, 260), (260, 260)])
    page.keyboard.press("h")  # the next ring is a hole in the selected polygon
    assert page.get_attribute("[data-testid=polygon-mode-hole]", "class").find("active") >= 0
    for p in [(320, 120), (400, 120), (400, 200)]:
        ed.click(*p)
    page.keyboard.press("Enter")
    ed.tool("polyline")
    ed.pick_class("lane")
    for p in [(40, 400), (200, 360), (360, 420)]:
        ed.click(*p)
    page.keyboard.press("Enter")
    ed.wait_saved()
    shot(page, "editor-shapes")

    kinds = _by_kind(live.annotations(pid, iid)["annotations"])
    (box,) = kinds["box"]
    assert box["label"] == "car"
    assert np.allclose(
        [box["box"][k] for k in ("x_min", "y_min", "x_max", "y_max")], [40, 40, 160, 130], atol=0.01
    )
    (polygon,) = kinds["polygon"]
    part = polygon["polygon"]["parts"][0]
    assert np.allclose(part["exterior"], [[260, 60], [460, 60], [460, 260], [260, 260]], atol=0.01)
    assert len(part["holes"]) == 1 and np.allclose(
        part["holes"][0], [[320, 120], [400, 120], [400, 200]], atol=0.01
    )
    (line,) = kinds["polyline"]
    assert line["label"] == "lane" and len(line["polyline"]["points"]) == 3

    page.reload()
    ed.wait_ready()
    assert page.locator("[data-testid=object-row]").count() == 3
    assert ed.state() == "saved"


def test_skeleton_with_invisible_point_and_brush_mask(page: Any, live: LiveServer) -> None:
    pid, iid = _image(live, "kp-mask")
    ed = EditorDriver(page).open(pid, iid)

    page.keyboard.press("k")
    ed.pick_class("person")
    ed.click(300, 100)  # head, visible
    page.keyboard.press("s")  # left hand: not labeled
    page.keyboard.down("Shift")
    ed.click(340, 200)  # right hand: occluded
    page.keyboard.up("Shift")
    ed.tool("brush")
    ed.pick_class("car")
    page.keyboard.press("]")  # a larger brush
    ed.drag([(80, 300), (120, 310), (160, 320)])
    ed.wait_saved()
    shot(page, "editor-keypoints-mask")

    kinds = _by_kind(live.annotations(pid, iid)["annotations"])
    (person,) = kinds["keypoints"]
    points = person["keypoints"]["points"]
    assert [p[2] for p in points] == [2, 0, 1]
    assert np.allclose(points[0][:2], [300, 100], atol=0.01) and points[1] == [0, 0, 0]
    (mask,) = kinds["mask"]
    assert mask["label"] == "car" and mask["mask"]["size"] == [480, 640]
    decoded = mask_utils.decode({"size": mask["mask"]["size"], "counts": mask["mask"]["counts"].encode()})
    xs = np.nonzero(decoded)[1]
    assert decoded[310, 120] == 1 and decoded[100, 300] == 0
    assert xs.min() < 80 < 160 < xs.max() and 200 < int(decoded.sum()) < 20000

    # Erase the middle of the stroke: the same mask loses those pixels.
    ed.tool("eraser")
    ed.drag([(120, 300), (120, 320)])
    ed.wait_saved()
    (mask,) = _by_kind(live.annotations(pid, iid)["annotations"])["mask"]
    decoded = mask_utils.decode({"size": mask["mask"]["size"], "counts": mask["mask"]["counts"].encode()})
    assert decoded[310, 120] == 0 and decoded[310, 85] == 1


def test_edit_vertices_with_undo_and_redo(page: Any, live: LiveServer) -> None:
    pid, iid = _image(live, "vertices")
    square = [[100.0, 100.0], [300.0, 100.0], [300.0, 300.0], [100.0, 300.0]]
    live.save(pid, iid, [{"label": "road", "kind": "polygon", "polygon": {"parts": [{"exterior": square}]}}])
    ed = EditorDriver(page).open(pid, iid)

    def ring() -> list[list[float]]:
        return live.annotations(pid, iid)["annotations"][0]["polygon"]["parts"][0]["exterior"]

    ed.select_object(200, 200)
    page.wait_for_selector("[data-testid=object-row][aria-selected=true]")
    ed.drag([(300, 100), (340, 80), (350, 60)])  # drag the top-right vertex
    ed.wait_saved()
    assert np.allclose(ring()[1], [350, 60], atol=0.01)

    ed.drag([(225, 80), (225, 50)])  # drag the top edge's midpoint: a new vertex
    ed.save_now()
    assert len(ring()) == 5 and np.allclose(ring()[1], [225, 50], atol=0.01)
    shot(page, "editor-vertex-edit")

    page.keyboard.press("Delete")  # the new vertex is active: delete it
    ed.save_now()
    moved = [[100, 100], [350, 60], [300, 300], [100, 300]]
    assert np.allclose(ring(), moved, atol=0.01)

    page.keyboard.press("Control+z")  # the vertex is back
    ed.save_now()
    assert len(ring()) == 5
    page.click("[data-testid=undo]")  # before the insertion
    ed.save_now()
    assert np.allclose(ring(), moved, atol=0.01)
    page.click("[data-testid=undo]")  # before the vertex drag
    ed.save_now()
    assert np.allclose(ring(), square)
    assert page.is_disabled("[data-testid=undo]")
    page.keyboard.press("Control+Shift+z")
    page.click("[data-testid=redo]")
    ed.save_now()
    assert len(ring()) == 5
    page.click("[data-testid=redo]")  # and the deletion again
    ed.save_now()
    assert np.allclose(ring(), moved, atol=0.01) and page.is_disabled("[data-testid=redo]")
    page.reload()
    ed.wait_ready()
    assert len(ed.objects()[0]["polygon"]["parts"][0]["exterior"]) == 4


def test_select_move_relabel_attributes_delete(page: Any, live: LiveServer) -> None:
    pid, iid = _image(live, "select")
    live.save(
        pid,
        iid,
        [
            {"label": "car", "kind": "box", "box": {"x_min": 100, "y_min": 100, "x_max": 200, "y_max": 180}},
            {"label": "car", "kind": "box", "box": {"x_min": 150, "y_min": 150, "x_max": 260, "y_max": 230}},
        ],
    )
    ed = EditorDriver(page).open(pid, iid)
    ed.select_object(120, 120)
    ed.drag([(120, 120), (140, 130), (150, 140)])  # move the first box by (30, 20)
    page.check("[data-testid=selection-panel] input[type=checkbox]")  # occluded
    page.select_option("[data-testid=selection-panel] select >> nth=1", "blue")
    page.click("[data-testid=z-up]")
    ed.wait_saved()
    first = next(o for o in live.annotations(pid, iid)["annotations"] if o["id"] == 1)
    assert np.allclose([first["box"]["x_min"], first["box"]["y_min"]], [130, 120], atol=0.01)
    assert first["attributes"] == {"occluded": True, "colour": "blue"} and first["z_order"] == 1

    page.click("[data-testid=object-row][data-id='2'] [data-testid=toggle-lock]")
    ed.click(240, 220)  # locked: a click there selects nothing
    assert page.evaluate("() => window.__seglab.editor.selectedId") is None
    page.click("[data-testid=object-row][data-id='1']")
    page.keyboard.press("Delete")
    ed.wait_saved()
    assert [o["id"] for o in live.annotations(pid, iid)["annotations"]] == [2]


def test_navigation_help_and_zoom(page: Any, live: LiveServer) -> None:
    pid = live.project(unique("nav"), ONTOLOGY)
    images = live.upload(pid, [(f"n{i}.png", png(320, 240, seed=20 + i)) for i in range(2)])
    ed = EditorDriver(page).open(pid, images[0]["id"])
    page.keyboard.press("?")
    page.wait_for_selector("[data-testid=help-overlay]")
    assert "Polygon" in page.inner_text("[data-testid=help-overlay]")
    shot(page, "editor-help")
    page.keyboard.press("?")
    assert page.locator("[data-testid=help-overlay]").count() == 0
    for key, tool in (
        ("b", "box"),
        ("p", "polygon"),
        ("l", "polyline"),
        ("k", "keypoints"),
        ("m", "brush"),
        ("e", "eraser"),
        ("v", "select"),
    ):
        page.keyboard.press(key)
        assert page.get_attribute(f"[data-testid=tool-{tool}]", "aria-pressed") == "true"

    scale = page.evaluate("() => window.__seglab.editor.viewport.scale")
    x, y = ed.at(100, 100)
    page.mouse.move(x, y)
    page.mouse.wheel(0, -300)
    page.wait_for_function(f"() => window.__seglab.editor.viewport.scale > {scale * 1.2}")
    assert np.allclose(ed.at(100, 100), (x, y), atol=1.0)  # zoom keeps the point under the cursor
    page.keyboard.down(" ")
    page.mouse.down()
    page.mouse.move(x + 50, y + 30, steps=3)
    page.mouse.up()
    page.keyboard.up(" ")
    assert np.allclose(ed.at(100, 100), (x + 50, y + 30), atol=1.0)
    page.mouse.down(button="middle")
    page.mouse.move(x + 20, y + 10, steps=3)
    page.mouse.up(button="middle")
    assert np.allclose(ed.at(100, 100), (x + 20, y + 10), atol=1.0)
    assert page.evaluate("() => window.__seglab.editor.doc.objects.length") == 0  # panning drew nothing
    page.keyboard.press("=")
    assert abs(page.evaluate("() => window.__seglab.editor.viewport.scale") - 1) < 1e-9
    page.click("[data-testid=next-image]")
    page.wait_for_url(f"**/images/{images[1]['id']}")
    ed.wait_ready()
    page.click("[data-testid=prev-image]")
    page.wait_for_url(f"**/images/{images[0]['id']}")


def test_polygon_part_keypoint_visibility_and_relabel(page: Any, live: LiveServer) -> None:
    pid, iid = _image(live, "parts")
    live.save(
        pid,
        iid,
        [
            {
                "label": "road",
                "kind": "polygon",
                "polygon": {"parts": [{"exterior": [[20, 20], [120, 20], [70, 100]]}]},
            },
            {
                "label": "person",
                "kind": "keypoints",
                "keypoints": {"points": [[300, 50, 2], [280, 120, 2], [340, 120, 2]]},
            },
        ],
    )
    ed = EditorDriver(page).open(pid, iid)
    ed.select_object(70, 50)
    ed.tool("polygon")
    page.keyboard.press("u")  # the next ring is a new part of the selected polygon
    ed.polygon([(200, 200), (260, 200), (230, 260)])
    ed.tool("select")
    ed.click(280, 120)  # selects the skeleton
    ed.click(280, 120)  # makes its left hand the active point
    page.keyboard.press("t")  # visible -> occluded
    ed.wait_saved()
    objects = {o["kind"]: o for o in live.annotations(pid, iid)["annotations"]}
    assert len(objects["polygon"]["polygon"]["parts"]) == 2
    assert [p[2] for p in objects["keypoints"]["keypoints"]["points"]] == [2, 1, 2]
    page.keyboard.press("t")  # occluded -> not labeled: stored as [0, 0, 0]
    ed.wait_saved()
    points = next(o for o in live.annotations(pid, iid)["annotations"] if o["kind"] == "keypoints")[
        "keypoints"
    ]["points"]
    assert points[1] == [0, 0, 0]

    ed.click(70, 50)  # the polygon; then the class picker relabels it
    ed.pick_class("car")
    page.click("[data-testid=object-row][data-id='2'] [data-testid=toggle-visible]")  # hide the skeleton
    ed.wait_saved()
    labels = {o["kind"]: o["label"] for o in live.annotations(pid, iid)["annotations"]}
    assert labels == {"polygon": "car", "keypoints": "person"}
    assert page.evaluate("() => window.__seglab.editor.hitTest(300, 50)") is None  # hidden: not hit
    shot(page, "editor-parts")
