"""The editor's pure modules, run in Chromium against reference implementations: COCO RLE against
pycocotools (bit for bit), the three-way merge, hit testing with holes, undo/redo, the spatial grid."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils


@pytest.fixture
def js(page: Any) -> Any:
    page.goto("/login")
    page.wait_for_selector("[data-testid=login-username], [data-testid=project-list]")

    def run(module: str, body: str, arg: Any = None) -> Any:
        script = f"async (arg) => {{ const m = await import('/static/js/{module}'); {body} }}"
        return page.evaluate(script, arg)

    return run


def _masks() -> list[np.ndarray]:
    rng = np.random.default_rng(4)
    out = [np.zeros((7, 5), np.uint8), np.ones((6, 9), np.uint8)]
    for h, w in ((37, 53), (64, 64), (1, 30), (30, 1), (101, 77)):
        m = (rng.random((h, w)) < 0.3).astype(np.uint8)
        m[h // 3 : h // 2, w // 4 : w // 2] = 1  # a solid block: long runs, multi-digit counts
        out.append(m)
    return out


def test_rle_matches_pycocotools_both_ways(js: Any) -> None:
    for mask in _masks():
        h, w = mask.shape
        reference = mask_utils.encode(np.asfortranarray(mask))["counts"].decode()
        ours = js(
            "editor/rle.js",
            "return m.encodeMask(Uint8Array.from(arg.data), arg.w, arg.h).counts;",
            {"data": mask.ravel().tolist(), "w": w, "h": h},
        )
        assert ours == reference
        decoded = js(
            "editor/rle.js",
            "return Array.from(m.decodeMask({ size: [arg.h, arg.w], counts: arg.counts }).data);",
            {"counts": reference, "w": w, "h": h},
        )
        assert np.array_equal(np.array(decoded, np.uint8).reshape(h, w), mask)
        flat = mask.ravel(order="F")  # COCO runs go down the columns
        edges = np.flatnonzero(np.diff(flat)) + 1
        runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
        if flat[0]:
            runs = [0, *runs]
        listed = js(
            "editor/rle.js",
            "return Array.from(m.decodeMask({ size: [arg.h, arg.w], counts: arg.runs }).data);",
            {"runs": runs, "w": w, "h": h},
        )
        assert np.array_equal(np.array(listed, np.uint8).reshape(h, w), mask)


def test_rle_rejects_runs_that_do_not_cover_the_mask(js: Any) -> None:
    error = js(
        "editor/rle.js",
        "try { m.decodeMask({ size: [4, 4], counts: [3, 2] }); return null; }"
        " catch (e) { return e.message; }",
    )
    assert error and "covers 5 pixels" in error


def test_three_way_merge(js: Any) -> None:
    def box(x: float, label: str = "car") -> dict[str, Any]:
        return {"label": label, "kind": "box", "box": {"x_min": x, "y_min": 0, "x_max": x + 5, "y_max": 5}}

    base = {1: box(1), 2: box(2), 3: box(3), 4: box(4)}
    mine = [
        {"sid": 1, "obj": box(10)},  # changed by me
        {"sid": 2, "obj": box(2)},  # they change it
        {"sid": 3, "obj": box(30)},  # both change it
        {"sid": None, "obj": box(50)},  # new, mine
    ]  # 4: deleted by me
    theirs = {1: box(1), 2: box(2, "person"), 3: box(3, "person"), 4: box(4), 9: box(90)}
    result = js(
        "editor/merge.js",
        """
        const toMap = (o) => new Map(Object.entries(o).map(([k, v]) => [Number(k), v]));
        const rows = m.diffThreeWay(toMap(arg.base), arg.mine, toMap(arg.theirs));
        const merged = m.applyChoices(arg.mine, toMap(arg.theirs), rows);
        return {
          rows: rows.map((r) => [r.sid, r.status, r.choice]),
          merged: merged.map((x) => [x.from, x.sid, x.obj]),
        };
        """,
        {
            "base": {str(k): v for k, v in base.items()},
            "mine": mine,
            "theirs": {str(k): v for k, v in theirs.items()},
        },
    )
    assert result["rows"] == [
        [None, "added-mine", "mine"],
        [1, "changed-mine", "mine"],
        [2, "changed-theirs", "theirs"],
        [3, "both", "mine"],
        [4, "deleted-mine", "mine"],
        [9, "added-theirs", "theirs"],
    ]
    merged = {(source, sid): obj for source, sid, obj in result["merged"]}
    assert merged[("mine", 1)]["box"]["x_min"] == 10
    assert merged[("theirs", 2)]["label"] == "person"
    assert merged[("mine", 3)]["box"]["x_min"] == 30
    assert ("mine", None) in merged and ("theirs", 9) in merged
    assert not any(sid == 4 for _, sid in merged)  # my deletion stands
    assert len(merged) == 5


def test_hit_testing_respects_holes_and_the_grid_finds_objects(js: Any) -> None:
    polygon = {
        "parts": [
            {
                "exterior": [[0, 0], [100, 0], [100, 100], [0, 100]],
                "holes": [[[40, 40], [60, 40], [60, 60], [40, 60]]],
            }
        ]
    }
    hits = js(
        "editor/shapes/registry.js",
        "const s = m.shapes.polygon;"
        " return [[10, 10], [50, 50], [40.5, 50], [150, 50]].map(([x, y]) => s.hit(arg, x, y, 1));",
        polygon,
    )
    assert hits == [True, False, True, False]  # inside; in the hole; on the hole's edge; outside
    found = js(
        "editor/spatial.js",
        """
        const grid = new m.SpatialGrid(1000, 800);
        const objs = arg.map((x, i) => ({
          id: i + 1, kind: "box", box: { x_min: x, y_min: x, x_max: x + 20, y_max: x + 20 },
        }));
        grid.sync(objs);
        const before = [...grid.queryPoint(510, 510)];
        grid.sync(objs.filter((o) => o.id !== 6));
        return [before, [...grid.queryPoint(510, 510)], [...grid.query(0, 0, 1000, 800)].length];
        """,
        [0, 100, 200, 300, 400, 500, 600],
    )
    assert found == [[6], [], 6]


def test_undo_redo_and_gestures(js: Any) -> None:
    result = js(
        "editor/document.js",
        """
        const d = new m.Doc([{ id: 1, v: 0 }]);
        d.update(1, (o) => ({ ...o, v: 1 }));
        d.begin(); d.preview([{ id: 1, v: 2 }]); d.preview([{ id: 1, v: 3 }]); d.end();
        const afterGesture = d.get(1).v;
        d.undo(); const undone = d.get(1).v;
        d.undo(); const twice = d.get(1).v;
        d.redo(); d.redo(); const redone = d.get(1).v;
        d.begin(); d.end(); // a gesture that changed nothing leaves no undo entry
        return [afterGesture, undone, twice, redone, d.past.length, d.future.length, d.revision];
        """,
    )
    assert result == [3, 1, 0, 3, 2, 0, 6]


def test_mask_geometry_survives_a_move(js: Any) -> None:
    mask = np.zeros((20, 30), np.uint8)
    mask[5:9, 4:10] = 1
    counts = mask_utils.encode(np.asfortranarray(mask))["counts"].decode()
    moved = js(
        "editor/shapes/mask.js",
        "const g = m.default.translate({ size: [20, 30], counts: arg }, 3, -2);"
        " return [g.counts, m.raster(g).bbox];",
        counts,
    )
    expected = np.zeros_like(mask)
    expected[3:7, 7:13] = 1
    assert moved[0] == mask_utils.encode(np.asfortranarray(expected))["counts"].decode()
    assert moved[1] == [7, 3, 13, 7]
    assert json.loads(json.dumps(moved))  # plain data
