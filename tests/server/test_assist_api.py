"""The assist route: a click on a generated object answers its mask, polygon and box; corrections refine it;
the per-image session is cached; permissions and bad prompts answer 403 / 404 / 422 naming the field."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from seglab.core.raster import polygon_to_mask
from seglab.service import assist as assist_service
from seglab.storage.codec import shape_from_json
from tests.server.conftest import Client, World

WIDTH, HEIGHT = 160, 120
DISC = (100.0, 60.0, 30.0)  # centre x, centre y, radius: the object the tests click on


def scene(width: int = WIDTH, height: int = HEIGHT, disc: tuple[float, float, float] = DISC) -> np.ndarray:
    """A textured background with one red disc; returns the (H, W, 3) uint8 image."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:height, 0:width]  # (H, W) each
    img = np.stack(
        [60 + 40 * np.sin(xx / 9.0), 90 + 30 * np.cos(yy / 7.0), 70 + 20 * np.sin((xx + yy) / 11.0)], axis=-1
    )
    img = img + rng.normal(0, 6, img.shape)
    inside = disc_mask(width, height, disc)
    img[inside] = np.array([220, 60, 40]) + rng.normal(0, 6, (int(inside.sum()), 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def disc_mask(
    width: int = WIDTH, height: int = HEIGHT, disc: tuple[float, float, float] = DISC
) -> np.ndarray:
    cx, cy, r = disc
    yy, xx = np.mgrid[0:height, 0:width]
    return (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 < r * r  # pixel centres inside the circle


def encode(pixels: np.ndarray, fmt: str = "PNG", **save: Any) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt, **save)
    return out.getvalue()


def upload(client: Client, pid: int, data: bytes, name: str) -> int:
    r = client.post(f"/api/projects/{pid}/images", files=[("files", (name, data, "image/png"))])
    assert r.status_code == 201, r.text
    return int(r.json()[0]["id"])


def decode(rle: dict[str, Any]) -> np.ndarray:
    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.fixture
def setup(world: World) -> dict[str, Any]:
    owner, annotator, viewer = world.user("owner"), world.user("annotator"), world.user("viewer")
    pid = world.project(owner, annotator=annotator, viewer=viewer)
    iid = upload(owner, pid, encode(scene()), "scene.png")
    return {"owner": owner, "annotator": annotator, "viewer": viewer, "pid": pid, "iid": iid, "world": world}


def url(pid: int, iid: int) -> str:
    return f"/api/projects/{pid}/images/{iid}/assist"


def test_click_answers_the_object_with_exact_polygon_and_box(setup: dict[str, Any]) -> None:
    r = setup["annotator"].post(
        url(setup["pid"], setup["iid"]), json={"positives": [[100, 60]], "tolerance": 0}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mask"]["size"] == [HEIGHT, WIDTH]
    mask = decode(body["mask"])
    truth = disc_mask()
    assert iou(mask, truth) >= 0.9
    assert body["area"] == int(mask.sum())
    assert body["method"] in ("combined", "sam")
    # tolerance 0: the polygon is the mask's exact outline, rasterized back bit for bit
    polygon = shape_from_json("polygon", body["polygon"])
    assert np.array_equal(polygon_to_mask(polygon, WIDTH, HEIGHT).array, mask)
    rows, cols = np.nonzero(mask)
    assert body["bbox"] == {
        "x_min": float(cols.min()),
        "y_min": float(rows.min()),
        "x_max": float(cols.max() + 1),
        "y_max": float(rows.max() + 1),
    }


def test_simplification_tolerance_trades_vertices_for_exactness(setup: dict[str, Any]) -> None:
    client, target = setup["annotator"], url(setup["pid"], setup["iid"])
    exact = client.post(target, json={"positives": [[100, 60]], "tolerance": 0}).json()
    coarse = client.post(target, json={"positives": [[100, 60]], "tolerance": 2}).json()
    assert exact["mask"] == coarse["mask"]  # the mask does not depend on the polygon's tolerance

    def vertices(doc: dict[str, Any]) -> int:
        return sum(len(p["exterior"]) for p in doc["polygon"]["parts"])

    assert vertices(coarse) < vertices(exact) / 2
    simplified = polygon_to_mask(shape_from_json("polygon", coarse["polygon"]), WIDTH, HEIGHT).array
    assert iou(simplified, decode(exact["mask"])) > 0.9


def test_negative_click_with_previous_mask_shrinks_and_cache_is_reused(setup: dict[str, Any]) -> None:
    client, iid = setup["annotator"], setup["iid"]
    assist_service.SESSIONS.clear()
    misses = assist_service.SESSIONS.misses
    first = client.post(url(setup["pid"], iid), json={"positives": [[100, 60]]}).json()
    hits = assist_service.SESSIONS.hits
    second = client.post(
        url(setup["pid"], iid),
        json={"positives": [[100, 60]], "negatives": [[125, 60]], "previous": first["mask"]},
    )
    assert second.status_code == 200, second.text
    before, after = decode(first["mask"]), decode(second.json()["mask"])
    assert before[60, 125] and not after[60, 125]  # the negative click's pixel is out
    assert after.sum() < before.sum()
    assert not (after & ~before).any()  # a negative correction only removes
    # one decode and precompute for both rounds: the second round was a cache hit
    assert assist_service.SESSIONS.misses == misses + 1
    assert assist_service.SESSIONS.hits == hits + 1


def test_box_scribble_and_wand(setup: dict[str, Any]) -> None:
    client, target, truth = setup["annotator"], url(setup["pid"], setup["iid"]), disc_mask()
    by_box = client.post(target, json={"box": {"x_min": 65, "y_min": 25, "x_max": 135, "y_max": 95}})
    assert by_box.status_code == 200, by_box.text
    assert iou(decode(by_box.json()["mask"]), truth) >= 0.9
    stroke = {"points": [[90, 60], [100, 62], [110, 60]]}
    by_stroke = client.post(target, json={"scribbles": [stroke]})
    assert iou(decode(by_stroke.json()["mask"]), truth) >= 0.9
    wand = client.post(target, json={"positives": [[100, 60]], "method": "wand", "wand_tolerance": 40})
    assert wand.status_code == 200, wand.text
    assert wand.json()["method"] == "wand"
    assert iou(decode(wand.json()["mask"]), truth) >= 0.9
    # a negative stroke across the disc's right half removes it from the previous answer
    previous = by_box.json()["mask"]
    cut = client.post(
        target,
        json={"previous": previous, "scribbles": [{"points": [[122, 50], [122, 70]], "positive": False}]},
    )
    assert cut.status_code == 200, cut.text
    assert not decode(cut.json()["mask"])[60, 122]
    for method in ("grabcut", "superpixels", "combined"):
        r = client.post(target, json={"positives": [[100, 60]], "method": method})
        assert r.status_code == 200, f"{method}: {r.text}"
        assert decode(r.json()["mask"])[60, 100], method  # the clicked pixel is always in


def test_no_prompt_answers_an_empty_mask(setup: dict[str, Any]) -> None:
    r = setup["annotator"].post(url(setup["pid"], setup["iid"]), json={})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["area"] == 0 and body["polygon"] is None and body["bbox"] is None
    assert not decode(body["mask"]).any()


def test_permissions_viewer_403_other_project_and_outsider_404(setup: dict[str, Any]) -> None:
    world, owner, pid, iid = setup["world"], setup["owner"], setup["pid"], setup["iid"]
    click = {"positives": [[100, 60]]}
    r = setup["viewer"].post(url(pid, iid), json=click)
    assert r.status_code == 403, r.text
    assert setup["viewer"].get(f"/api/projects/{pid}/assist").status_code == 403
    outsider = world.user("outsider")
    assert outsider.post(url(pid, iid), json=click).status_code == 404
    # an image of another project, addressed through this project, does not exist here
    other_pid = world.project(owner)
    other_iid = upload(owner, other_pid, encode(scene()[::-1].copy()), "other.png")
    r = owner.post(url(pid, other_iid), json=click)
    assert r.status_code == 404, r.text
    assert owner.post(url(pid, 10**9), json=click).status_code == 404
    info = setup["annotator"].get(f"/api/projects/{pid}/assist")
    assert info.status_code == 200, info.text
    assert "combined" in info.json()["methods"]
    assert ("sam" in info.json()["methods"]) == info.json()["sam_configured"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"positives": [[160, 10]]}, "positives[0]"),
        ({"positives": [[10, 10]], "negatives": [[5, 5], [-1, 3]]}, "negatives[1]"),
        ({"scribbles": [{"points": [[1, 1], [10, 500]]}]}, "scribbles[0].points[1]"),
        ({"box": {"x_min": 500, "y_min": 500, "x_max": 600, "y_max": 600}}, "box"),
        (
            {"positives": [[10, 10]], "previous": {"size": [HEIGHT, WIDTH], "counts": "not an rle"}},
            "previous",
        ),
        ({"positives": [[10, 10]], "previous": {"size": [HEIGHT, WIDTH], "counts": [5, 5]}}, "previous"),
        ({"positives": [[10, 10]], "previous": {"size": [10, 10], "counts": [100]}}, "previous"),
    ],
)
def test_bad_prompts_are_422_naming_the_field(
    setup: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    r = setup["annotator"].post(url(setup["pid"], setup["iid"]), json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(field), r.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"box": {"x_min": 50, "y_min": 10, "x_max": 20, "y_max": 40}}, "box"),
        ({"positives": [[1, 2, 3]]}, "positives"),
        ({"method": "magic"}, "method"),
        ({"tolerance": -1}, "tolerance"),
        ({"clicks": [[1, 2]]}, "clicks"),
    ],
)
def test_malformed_bodies_are_422_with_location(
    setup: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    r = setup["annotator"].post(url(setup["pid"], setup["iid"]), json=body)
    assert r.status_code == 422, r.text
    assert any(field in problem["loc"] for problem in r.json()["detail"]), r.json()


def test_sam_without_a_model_is_422_naming_method(
    setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEGLAB_SAM_ENCODER", raising=False)
    monkeypatch.delenv("SEGLAB_SAM_DECODER", raising=False)
    r = setup["annotator"].post(
        url(setup["pid"], setup["iid"]), json={"positives": [[5, 5]], "method": "sam"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("method")


def test_exif_rotated_upload_is_segmented_upright(world: World) -> None:
    """A photo with EXIF orientation 6 is stored upright; clicks are in the upright image's coordinates."""
    owner = world.user("owner")
    pid = world.project(owner)
    upright = scene(120, 160, disc=(40.0, 110.0, 25.0))  # what the editor shows: 120 wide, 160 tall
    # The camera wrote the pixels rotated and the tag that turns them back (6 = rotate 90 degrees clockwise)
    raw = np.rot90(upright, k=1).copy()  # counter-clockwise: 160 wide, 120 tall as stored by the camera
    exif = Image.Exif()
    exif[0x0112] = 6
    iid = upload(owner, pid, encode(raw, "PNG", exif=exif.tobytes()), "camera.png")
    image = owner.get(f"/api/projects/{pid}/images/{iid}").json()
    assert (image["width"], image["height"]) == (120, 160)
    r = owner.post(url(pid, iid), json={"positives": [[40, 110]]})
    assert r.status_code == 200, r.text
    assert r.json()["mask"]["size"] == [160, 120]
    assert iou(decode(r.json()["mask"]), disc_mask(120, 160, (40.0, 110.0, 25.0))) >= 0.9


def test_exclude_keeps_the_answer_off_existing_segments(setup: dict[str, Any]) -> None:
    """Panoptic labeling: the pixels of segments already drawn are left out, polygons rasterized like COCO."""
    client, target = setup["annotator"], url(setup["pid"], setup["iid"])
    left_half = {"parts": [{"exterior": [[60, 20], [100, 20], [100, 100], [60, 100]], "holes": []}]}
    top = np.zeros((HEIGHT, WIDTH), dtype=bool)
    top[:45, :] = True
    top_rle = mask_utils.encode(np.asfortranarray(top.astype(np.uint8)))
    exclude = [
        {"polygon": left_half},
        {"mask": {"size": [HEIGHT, WIDTH], "counts": top_rle["counts"].decode()}},
    ]
    r = client.post(target, json={"positives": [[115, 70]], "exclude": exclude, "tolerance": 0})
    assert r.status_code == 200, r.text
    mask, full = decode(r.json()["mask"]), disc_mask()
    assert not mask[:, :100].any() and not mask[:45].any()
    assert iou(mask, full & ~top & (np.arange(WIDTH) >= 100)[None, :]) >= 0.9
    polygon = shape_from_json("polygon", r.json()["polygon"])
    assert np.array_equal(polygon_to_mask(polygon, WIDTH, HEIGHT).array, mask)  # the polygon follows the cut
    bad = client.post(
        target, json={"positives": [[115, 70]], "exclude": [{"mask": {"size": [5, 5], "counts": [25]}}]}
    )
    assert bad.status_code == 422 and bad.json()["detail"].startswith("exclude[0].mask"), bad.text
    both = client.post(
        target, json={"exclude": [{"polygon": left_half, "mask": {"size": [5, 5], "counts": [25]}}]}
    )
    assert both.status_code == 422, both.text


def test_session_cache_is_a_bounded_lru_keyed_by_image_and_checksum() -> None:
    sessions = assist_service.ImageSessions(capacity=2)
    loads: list[int] = []

    def loader(seed: int) -> Any:
        def load() -> np.ndarray:
            loads.append(seed)
            return np.full((4, 5, 3), seed, dtype=np.uint8)

        return load

    first = sessions.get(1, "aaa", loader(1))
    assert sessions.get(1, "aaa", loader(1)) is first and loads == [1]
    sessions.get(2, "bbb", loader(2))
    sessions.get(1, "aaa", loader(1))  # 1 is now the most recent
    sessions.get(3, "ccc", loader(3))  # evicts 2, the least recent
    assert len(sessions) == 2 and loads == [1, 2, 3]
    assert sessions.get(1, "aaa", loader(1)) is first
    sessions.get(2, "bbb", loader(2))
    assert loads == [1, 2, 3, 2]
    # a new checksum (the file was replaced) never reuses the old pixels
    replaced = sessions.get(1, "ddd", loader(9))
    assert replaced is not first and int(replaced.image[0, 0, 0]) == 9
