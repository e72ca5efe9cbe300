"""The editor's second set of tools, driven like an annotator and checked on the server through the API:
mask <-> polygon conversion, box resize and rotation, copy / paste between images, the objects panel's
class filter with its toggles, and the view controls (opacity, brightness / contrast, panoptic view)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shapely.geometry
from pycocotools import mask as mask_utils

from tests.web.conftest import shot, unique
from tests.web.helpers import EditorDriver
from tests.web.live import LiveServer, png

W, H = 640, 480

ONTOLOGY: dict[str, Any] = {
    "classes": [
        {"name": "car", "color": [220, 40, 40], "kind": "thing", "shapes": ["polygon", "mask"]},
        {"name": "road", "color": [128, 64, 128], "kind": "stuff", "shapes": ["polygon", "mask"]},
        {"name": "sign", "color": [40, 200, 90], "shapes": ["box"], "extra": {"rotatable": True}},
        {"name": "crate", "color": [240, 200, 40], "shapes": ["box"]},
        {"name": "outline", "color": [40, 90, 230], "shapes": ["polygon"]},
    ]
}


def _images(live: LiveServer, name: str, count: int = 1) -> tuple[int, list[int]]:
    pid = live.project(unique(name), ONTOLOGY)
    images = live.upload(pid, [(f"{name}-{i}.png", png(W, H, seed=11 + i)) for i in range(count)])
    return pid, [int(image["id"]) for image in images]


def _rle(mask: np.ndarray) -> dict[str, Any]:
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in encoded["size"]], "counts": encoded["counts"].decode()}


def _decode(geometry: dict[str, Any]) -> np.ndarray:
    return np.asarray(mask_utils.decode({"size": geometry["size"], "counts": geometry["counts"].encode()}))


def _server_objects(live: LiveServer, pid: int, iid: int) -> list[dict[str, Any]]:
    return list(live.annotations(pid, iid)["annotations"])


def _set_range(page: Any, testid: str, value: float) -> None:
    page.eval_on_selector(
        f"[data-testid={testid}]",
        "(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input', { bubbles: true })); }",
        value,
    )


def _canvas_pixel(page: Any, ed: EditorDriver, x: float, y: float) -> list[int]:
    """The canvas's RGBA at image point (x, y) as drawn in the last frame."""
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return list(
        page.evaluate(
            """([x, y]) => { const c = document.querySelector('[data-testid=canvas]');
            const [sx, sy] = window.__seglab.editor.viewport.toScreen(x, y); const d = devicePixelRatio || 1;
            const px = c.getContext('2d').getImageData(Math.round(sx * d), Math.round(sy * d), 1, 1);
            return Array.from(px.data); }""",
            [x, y],
        )
    )


# ------------------------------------------------------------------------------------------ conversion


@pytest.fixture
def js(page: Any) -> Any:
    page.goto("/login")
    page.wait_for_selector("[data-testid=login-username], [data-testid=project-list]")

    def run(body: str, arg: Any = None) -> Any:
        script = f"async (arg) => {{ const m = await import('/static/js/editor/convert.js'); {body} }}"
        return page.evaluate(script, arg)

    return run


def test_mask_polygon_round_trip_is_exact_and_traces_holes(js: Any) -> None:
    rng = np.random.default_rng(3)
    for h, w, p in ((1, 1, 1.0), (9, 13, 0.5), (31, 17, 0.3), (40, 40, 0.7), (25, 60, 0.1)):
        mask = (rng.random((h, w)) < p).astype(np.uint8)
        out = js(
            """const g = m.rasterToPolygon(Uint8Array.from(arg.data), arg.w, arg.h, { tolerance: 0 });
            return { g, back: g ? Array.from(m.polygonToRaster(g, arg.w, arg.h)) : null };""",
            {"data": mask.ravel().tolist(), "w": w, "h": h},
        )
        assert np.array_equal(np.array(out["back"], np.uint8).reshape(h, w), mask), (h, w, p)
        # The outline covers the mask's area exactly (pixel edges, holes subtracted).
        area = sum(
            shapely.geometry.Polygon(part["exterior"], part["holes"]).area for part in out["g"]["parts"]
        )
        assert area == pytest.approx(mask.sum())

    ring = np.zeros((20, 20), np.uint8)
    ring[2:18, 2:18] = 1
    ring[7:12, 6:14] = 0  # a hole
    ring[0, 0] = 1  # touches the square only at a corner: a part of its own
    g = js(
        "return m.rasterToPolygon(Uint8Array.from(arg.data), 20, 20, { tolerance: 0.5 });",
        {"data": ring.ravel().tolist()},
    )
    parts = sorted(g["parts"], key=lambda part: -len(part["holes"]))
    assert len(parts) == 2
    assert shapely.geometry.Polygon(parts[0]["exterior"]).equals(shapely.geometry.box(2, 2, 18, 18))
    assert shapely.geometry.Polygon(parts[0]["holes"][0]).equals(shapely.geometry.box(6, 7, 14, 12))
    assert shapely.geometry.Polygon(parts[1]["exterior"]).equals(shapely.geometry.box(0, 0, 1, 1))

    # Simplification: a disc's staircase outline shrinks to a few dozen vertices within the tolerance.
    yy, xx = np.mgrid[0:200, 0:200]
    disc = ((xx + 0.5 - 100) ** 2 + (yy + 0.5 - 100) ** 2 < 80**2).astype(np.uint8)
    g = js(
        "return m.rasterToPolygon(Uint8Array.from(arg.data), 200, 200, { tolerance: 1 });",
        {"data": disc.ravel().tolist()},
    )
    exterior = g["parts"][0]["exterior"]
    assert 20 <= len(exterior) <= 120
    outline = shapely.geometry.Polygon(exterior)
    assert abs(outline.area - disc.sum()) / disc.sum() < 0.01


def test_convert_mask_to_polygon_and_back_with_undo(page: Any, live: LiveServer) -> None:
    pid, (iid,) = _images(live, "convert")
    mask = np.zeros((H, W), np.uint8)
    mask[100:300, 150:400] = 1
    mask[160:220, 220:300] = 0  # a hole
    live.save(pid, iid, [{"label": "car", "kind": "mask", "mask": _rle(mask)}])
    ed = EditorDriver(page).open(pid, iid)

    ed.select_object(170, 120)
    assert page.is_disabled("[data-testid=convert-to-mask]")
    page.click("[data-testid=convert-to-polygon]")
    ed.save_now()
    (obj,) = _server_objects(live, pid, iid)
    assert obj["kind"] == "polygon" and obj.get("mask") is None
    (part,) = obj["polygon"]["parts"]
    assert shapely.geometry.Polygon(part["exterior"]).equals(shapely.geometry.box(150, 100, 400, 300))
    (hole,) = part["holes"]
    assert shapely.geometry.Polygon(hole).equals(shapely.geometry.box(220, 160, 300, 220))
    shot(page, "editor-convert-polygon")

    page.keyboard.press("c")  # the shortcut converts back: polygon -> mask
    ed.save_now()
    (obj,) = _server_objects(live, pid, iid)
    assert obj["kind"] == "mask" and np.array_equal(_decode(obj["mask"]), mask)

    page.click("[data-testid=undo]")
    ed.save_now()
    (obj,) = _server_objects(live, pid, iid)
    assert obj["kind"] == "polygon"

    # A class that does not allow masks cannot be converted.
    live_id = obj["id"]
    page.evaluate("(id) => window.__seglab.editor.relabel(id, 'outline')", live_id)
    ed.save_now()
    assert page.is_disabled("[data-testid=convert-to-mask]")


# ------------------------------------------------------------------------------------------------ boxes


def test_box_resize_rotate_and_rotated_hit_testing(page: Any, live: LiveServer) -> None:
    pid, (iid,) = _images(live, "boxes")
    box = {"x_min": 200, "y_min": 150, "x_max": 400, "y_max": 250, "rotation": 0}
    crate = {"x_min": 450, "y_min": 300, "x_max": 550, "y_max": 400, "rotation": 0}
    live.save(
        pid,
        iid,
        [{"label": "sign", "kind": "box", "box": box}, {"label": "crate", "kind": "box", "box": crate}],
    )
    ed = EditorDriver(page).open(pid, iid)

    ed.select_object(300, 200)
    ed.drag([(400, 250), (430, 270), (450, 280)])  # bottom-right corner; the top-left stays
    ed.drag([(325, 150), (325, 130), (325, 120)])  # top edge's middle: only the top moves
    ed.save_now()
    (sign,) = [o for o in _server_objects(live, pid, iid) if o["label"] == "sign"]
    got = [sign["box"][k] for k in ("x_min", "y_min", "x_max", "y_max")]
    assert np.allclose(got, [200, 120, 450, 280], atol=0.01) and sign["box"]["rotation"] == 0

    # The rotation handle sits above the top edge's middle; drag it to the right of the centre: 90 degrees.
    cx, cy = 325, 200
    handle_y = page.evaluate(
        "() => { const e = window.__seglab.editor; return 120 - 28 / e.viewport.scale; }"
    )
    ed.drag([(cx, handle_y), (cx + 60, cy - 40), (cx + 150, cy)])
    ed.save_now()
    (sign,) = [o for o in _server_objects(live, pid, iid) if o["label"] == "sign"]
    assert sign["box"]["rotation"] == pytest.approx(90, abs=0.5)
    shot(page, "editor-box-rotated")

    # Hit testing follows the rotated outline: (325, 310) is inside the turned box only.
    ed.click(20, 20)
    ed.click(325, 310)
    assert page.evaluate("() => window.__seglab.editor.selected.label") == "sign"
    ed.click(440, 130)  # inside the unrotated box, outside the turned one
    assert page.evaluate("() => window.__seglab.editor.selected") is None

    # Resizing a rotated box keeps its angle: the handle at its far end (screen right) moves right.
    ed.click(325, 200)
    ed.drag([(405, 200), (420, 200), (425, 200)])
    ed.save_now()
    (sign,) = [o for o in _server_objects(live, pid, iid) if o["label"] == "sign"]
    assert sign["box"]["rotation"] == pytest.approx(90, abs=0.5)
    corners = shapely.geometry.MultiPoint(
        page.evaluate(
            "async (g) => (await import('/static/js/editor/shapes/box.js')).corners(g)", sign["box"]
        )
    )
    assert corners.bounds[2] == pytest.approx(425, abs=0.5)

    # The crate's class does not allow rotation: no handle, its angle stays.
    ed.select_object(500, 350)
    handle_y = page.evaluate("() => 300 - 28 / window.__seglab.editor.viewport.scale")
    ed.drag([(500, handle_y), (560, handle_y + 10), (620, 350)])
    ed.save_now()
    (crate_now,) = [o for o in _server_objects(live, pid, iid) if o["label"] == "crate"]
    assert crate_now["box"]["rotation"] == 0


# ------------------------------------------------------------------------------------------- clipboard


def test_copy_paste_between_images_gets_new_ids_and_undoes(page: Any, live: LiveServer) -> None:
    pid, (first, second) = _images(live, "clipboard", count=2)
    ring = [[100, 100], [260, 110], [240, 240], [120, 220]]
    live.save(
        pid,
        first,
        [{"label": "car", "kind": "polygon", "polygon": {"parts": [{"exterior": ring}]}, "attributes": {}}],
    )
    (original,) = _server_objects(live, pid, first)
    ed = EditorDriver(page).open(pid, first)
    ed.select_object(180, 160)
    page.keyboard.press("Control+c")
    assert page.evaluate("() => JSON.parse(localStorage.getItem('seglab.clipboard')).objects.length") == 1

    page.keyboard.press("Control+v")  # same image: lands beside the original
    ed.save_now()
    objects = _server_objects(live, pid, first)
    assert len(objects) == 2
    copy = next(o for o in objects if o["id"] != original["id"])
    assert np.allclose(np.array(copy["polygon"]["parts"][0]["exterior"]) - np.array(ring), 10, atol=0.01)
    page.click("[data-testid=undo]")
    ed.save_now()
    assert [o["id"] for o in _server_objects(live, pid, first)] == [original["id"]]

    ed.open(pid, second)
    page.click("[data-testid=paste-object]")
    assert page.evaluate("() => window.__seglab.editor.selectedId") < 0  # a new object, numbered on save
    ed.save_now()
    (pasted,) = _server_objects(live, pid, second)
    assert pasted["label"] == "car"
    assert np.allclose(pasted["polygon"]["parts"][0]["exterior"], ring, atol=0.01)
    assert page.evaluate("() => window.__seglab.editor.selected.label") == "car"
    shot(page, "editor-pasted")
    page.keyboard.press("Control+z")
    ed.save_now()
    assert _server_objects(live, pid, second) == []


# ---------------------------------------------------------------------------------------- objects panel


def test_objects_panel_class_filter_toggles_and_selection(page: Any, live: LiveServer) -> None:
    pid, (iid,) = _images(live, "filter")
    square = lambda x, y: {"parts": [{"exterior": [[x, y], [x + 60, y], [x + 60, y + 60], [x, y + 60]]}]}  # noqa: E731
    live.save(
        pid,
        iid,
        [
            {"label": "car", "kind": "polygon", "polygon": square(50, 50)},
            {"label": "car", "kind": "polygon", "polygon": square(150, 50)},
            {"label": "road", "kind": "polygon", "polygon": square(250, 50)},
            {"label": "sign", "kind": "box", "box": {"x_min": 400, "y_min": 50, "x_max": 460, "y_max": 110}},
        ],
    )
    ed = EditorDriver(page).open(pid, iid)
    rows = page.locator("[data-testid=object-row]")
    assert rows.count() == 4
    page.select_option("[data-testid=class-filter]", "car")
    assert rows.count() == 2
    assert page.text_content("[data-testid=object-count]") == "2 of 4"
    assert set(rows.evaluate_all("els => els.map((e) => e.dataset.label)")) == {"car"}

    rows.nth(0).click()  # the row selects the object on the canvas
    selected_id = page.evaluate("() => window.__seglab.editor.selectedId")
    assert rows.nth(0).get_attribute("data-id") == str(selected_id)
    rows.nth(0).locator("[data-testid=toggle-visible]").click()
    assert page.evaluate("() => window.__seglab.editor.hidden.size") == 1
    assert rows.nth(0).get_attribute("class").find("hidden-obj") >= 0
    rows.nth(1).locator("[data-testid=toggle-lock]").click()
    locked_id = int(rows.nth(1).get_attribute("data-id"))
    assert page.evaluate("() => [...window.__seglab.editor.locked]") == [locked_id]

    page.select_option("[data-testid=class-filter]", "")
    assert rows.count() == 4
    ed.select_object(280, 80)  # a canvas selection highlights its row
    row = page.locator("[data-testid=object-row][aria-selected=true]")
    assert row.get_attribute("data-label") == "road"
    shot(page, "editor-objects-filter")


# ----------------------------------------------------------------------------------------------- views


def test_view_controls_and_panoptic_view(page: Any, live: LiveServer) -> None:
    pid, (iid,) = _images(live, "views")
    thing = np.zeros((H, W), np.uint8)
    thing[300:400, 400:560] = 1
    road = {"parts": [{"exterior": [[0, 0], [W, 0], [W, 240], [0, 240]]}]}  # the top half: stuff
    live.save(
        pid,
        iid,
        [
            {"label": "road", "kind": "polygon", "polygon": road},
            {"label": "car", "kind": "mask", "mask": _rle(thing)},
        ],
    )
    ed = EditorDriver(page).open(pid, iid)
    page.wait_for_selector("[data-testid=canvas][data-drawn='1']")

    plain = _canvas_pixel(page, ed, 100, 400)
    _set_range(page, "brightness", 200)
    brighter = _canvas_pixel(page, ed, 100, 400)
    assert sum(brighter[:3]) > sum(plain[:3]) + 60
    _set_range(page, "brightness", 100)
    _set_range(page, "contrast", 40)
    flat = _canvas_pixel(page, ed, 100, 400)
    assert flat != plain
    _set_range(page, "contrast", 100)

    covered = _canvas_pixel(page, ed, 100, 100)
    _set_range(page, "opacity", 0)
    assert page.evaluate("() => window.__seglab.editor.view.opacity") == 0
    bare = _canvas_pixel(page, ed, 100, 100)
    assert bare != covered
    _set_range(page, "opacity", 1)

    page.check("[data-testid=panoptic-view]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=panoptic-uncovered]').dataset.fraction !== ''"
    )
    fraction = float(page.get_attribute("[data-testid=panoptic-uncovered]", "data-fraction"))
    expected = 1 - (W * 240 + thing.sum()) / (W * H)
    assert fraction == pytest.approx(expected, abs=0.01)
    # Uncovered pixels are hatched magenta; the stuff and the thing have their own colours.
    hatch = [_canvas_pixel(page, ed, 40 + i, 420) for i in range(8)]
    assert any(p[0] > 150 and p[2] > 150 and p[1] < 120 for p in hatch)
    road_px = _canvas_pixel(page, ed, 100, 100)
    car_px = _canvas_pixel(page, ed, 480, 350)
    assert road_px[:3] != car_px[:3]
    shot(page, "editor-panoptic")

    page.keyboard.press("o")  # the shortcut turns it off again
    assert not page.is_checked("[data-testid=panoptic-view]")
    assert ed.state() == "saved"  # view settings are not edits
