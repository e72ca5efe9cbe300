"""The bundled sample: small synthetic street scenes that use every kind of annotation seglab holds.

The scenes are generated in code (deterministic, no files shipped): a sky over buildings, a road with a
traffic island (a polygon with a hole), lane markings (polylines), cars (a polygon, a polygon split in two
parts by a pole in front of it, a box), people (a COCO 17-point skeleton plus a pixel mask or a box), and a
tilted sign (a rotated box). Areas are painted with seglab's own rasterization, so the annotated pixels are
exactly the painted ones. The sky is a mask, road and sky are ``stuff``, cars and people ``things``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import shapely.geometry as sg

from seglab.core.annotation import Annotation, AttributeValue
from seglab.core.conventions import ImageSize
from seglab.core.dataset import ArrayMedia, Dataset, ImageRecord
from seglab.core.geometry import Box, Keypoints, Polygon, Polyline
from seglab.core.mask import Mask
from seglab.core.ontology import (
    AttributeSpec,
    AttributeType,
    LabelClass,
    LabelKind,
    Ontology,
    ShapeType,
    coco_person_skeleton,
)
from seglab.core.raster import polygon_to_mask

SAMPLE_SIZE = ImageSize(320, 240)
HORIZON = 125.0

COCO_FLIP = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)


def sample_ontology() -> Ontology:
    """Road and sky (stuff), car, person with a skeleton, lane marking and sign (things)."""
    return Ontology(
        classes=(
            LabelClass(
                "road", (128, 64, 128), LabelKind.STUFF, frozenset({ShapeType.POLYGON, ShapeType.MASK})
            ),
            LabelClass(
                "sky", (70, 130, 180), LabelKind.STUFF, frozenset({ShapeType.POLYGON, ShapeType.MASK})
            ),
            LabelClass(
                "car",
                (30, 144, 255),
                LabelKind.THING,
                frozenset({ShapeType.BOX, ShapeType.POLYGON, ShapeType.MASK}),
                attributes=(
                    AttributeSpec("occluded", AttributeType.BOOL, default=False),
                    AttributeSpec("colour", AttributeType.CHOICE, ("red", "white", "black", "yellow")),
                ),
            ),
            LabelClass(
                "person",
                (220, 20, 60),
                LabelKind.THING,
                frozenset({ShapeType.BOX, ShapeType.MASK, ShapeType.KEYPOINTS}),
                skeleton=coco_person_skeleton(COCO_FLIP),
            ),
            LabelClass("lane", (255, 215, 0), LabelKind.THING, frozenset({ShapeType.POLYLINE})),
            LabelClass("sign", (0, 200, 120), LabelKind.THING, frozenset({ShapeType.BOX})),
        ),
        tags=("day", "dusk"),
    )


CAR_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 40, 40),
    "white": (225, 225, 220),
    "black": (40, 40, 45),
    "yellow": (235, 200, 40),
}
# A car seen from the side, in a unit square: body, bonnet and cabin.
_CAR_OUTLINE = np.array(
    [[0.0, 0.55], [0.18, 0.48], [0.3, 0.12], [0.7, 0.12], [0.84, 0.48], [1.0, 0.56], [1.0, 0.92], [0.0, 0.92]]
)


@dataclass(frozen=True)
class _Scene:
    """What varies between the sample images."""

    name: str
    subset: str
    tag: str
    seed: int
    cars: tuple[tuple[float, float, float, str], ...]  # x, y (top-left), width, colour name
    far_car: tuple[float, float, float]  # x, y, width of the small car labeled with a box only
    people: tuple[tuple[float, float, float], ...]  # x of the feet, y of the feet, height
    sign_rotation: float


SCENES = (
    _Scene("street_001.png", "train", "day", 1, ((18, 168, 92, "red"), (196, 150, 78, "white")),
           (142, 128, 22), ((262, 214, 62), (120, 200, 58)), 12.0),
    _Scene("street_002.png", "train", "day", 2, ((40, 176, 98, "yellow"), (200, 142, 70, "black")),
           (160, 130, 20), ((24, 230, 70), (150, 196, 54)), -18.0),
    _Scene("street_003.png", "val", "dusk", 3, ((110, 164, 104, "white"), (14, 140, 66, "red")),
           (172, 127, 18), ((280, 228, 64), (246, 170, 40)), 25.0),
)  # fmt: skip


def _paint(canvas: np.ndarray, region: np.ndarray, colour: tuple[int, int, int]) -> None:
    canvas[region] = colour


def _car_polygon(x: float, y: float, w: float) -> np.ndarray:
    return _CAR_OUTLINE * np.array([w, w * 0.55]) + np.array([x, y])  # (8, 2)


def _person_points(x: float, y: float, h: float, seed: int) -> np.ndarray:
    """17 COCO keypoints (x, y) of a standing person whose feet are at (x, y) and who is h pixels tall."""
    s = h / 100.0
    # offsets in a 100-unit-tall figure facing the viewer (the person's left is the image's right)
    offsets = np.array(
        [
            [0, -92], [3, -95], [-3, -95], [6, -93], [-6, -93],  # head
            [12, -78], [-12, -78], [16, -60], [-16, -60], [18 + seed, -44], [-18, -44],  # arms
            [8, -48], [-8, -48], [9, -24], [-9, -24], [10, 0], [-10, 0],  # legs
        ],
        dtype=np.float64,
    )  # fmt: skip
    return offsets * s + np.array([x, y])


def _draw_person(canvas: np.ndarray, pts: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Paint a person as thick limbs and a head; returns the painted pixels as a (H, W) bool mask."""
    layer = np.zeros(canvas.shape[:2], dtype=np.uint8)
    scale = np.hypot(*(pts[0] - pts[15])) / 100.0
    limb = max(2, round(7 * scale))
    fixed = np.round((pts - 0.5) * 16).astype(np.int32)
    for a, b in ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16)):
        cv2.line(layer, tuple(fixed[a]), tuple(fixed[b]), 1, limb, cv2.LINE_8, 4)
    torso = np.round((pts[[5, 6, 12, 11]] - 0.5) * 16).astype(np.int32)
    cv2.fillPoly(layer, [torso], 1, cv2.LINE_8, 4)
    neck = np.round((np.array([(pts[5] + pts[6]) / 2, pts[0]]) - 0.5) * 16).astype(np.int32)
    cv2.line(layer, tuple(neck[0]), tuple(neck[1]), 1, limb, cv2.LINE_8, 4)
    cv2.circle(layer, tuple(fixed[0]), round(9 * scale * 16), 1, -1, cv2.LINE_8, 4)
    region = layer.astype(bool)
    canvas[region] = colour
    return region


def _scene(scene: _Scene, ontology: Ontology, first_id: int, image_id: int) -> ImageRecord:
    size = SAMPLE_SIZE
    w, h = size
    rng = np.random.default_rng(scene.seed)
    canvas = np.zeros((h, w, 3), dtype=np.uint8)  # (H, W, 3)
    rows = np.arange(h, dtype=np.float64)[:, None]  # (H, 1)
    dusk = scene.tag == "dusk"
    top, low = (np.array([40, 50, 110]), np.array([240, 150, 90])) if dusk else (
        np.array([60, 120, 200]), np.array([185, 215, 240]))  # fmt: skip
    t = np.clip(rows / HORIZON, 0, 1)[:, :, None]  # (H, 1, 1)
    canvas[:] = (top * (1 - t) + low * t).astype(np.uint8)
    canvas[int(HORIZON) :] = (96, 128, 70)  # grass below the horizon

    anns: list[Annotation] = []
    next_id = first_id

    def add(label: str, shape: object, **kw: object) -> None:
        nonlocal next_id
        anns.append(Annotation(next_id, label, shape, **kw))  # type: ignore[arg-type]
        next_id += 1

    # Buildings along the horizon; the sky is whatever they leave uncovered (a mask with a ragged edge).
    built = np.zeros((h, w), dtype=bool)
    x = 0.0
    while x < w:
        bw = float(rng.uniform(28, 60))
        top_y = float(rng.uniform(30, 90))
        if not (120 < x < 180):  # keep the view down the road open
            poly = Polygon.from_rings([[x, top_y], [x + bw, top_y], [x + bw, HORIZON], [x, HORIZON]])
            region = polygon_to_mask(poly, w, h).array
            shade = int(rng.integers(110, 170))
            _paint(canvas, region, (shade, shade - 15, shade - 30))
            win = region & (np.arange(h)[:, None] % 12 < 5) & (np.arange(w)[None, :] % 10 < 4)
            canvas[win] = (60, 70, 90) if not dusk else (250, 220, 120)
            built |= region
        x += bw + float(rng.uniform(2, 8))
    sky = (np.arange(h)[:, None] < HORIZON) & ~built
    add("sky", Mask.from_array(sky))

    # Road with a traffic island: the island is a hole of the road polygon.
    road_ring = [[0, h], [w, h], [w, 196], [178, HORIZON], [142, HORIZON], [0, 196]]
    island = [[226, 214], [246, 204], [266, 214], [246, 224]]
    road = Polygon.from_rings(road_ring, [island])
    _paint(canvas, polygon_to_mask(road, w, h).array, (92, 92, 96))
    _paint(canvas, polygon_to_mask(Polygon.from_rings(island), w, h).array, (80, 150, 60))
    add("road", road)

    # Lane markings: painted lines, labeled as polylines through the same points.
    for lane in ([[153, 127], [124, 170], [80, 214], [52, 240]], [[167, 127], [196, 170], [236, 240]]):
        pts = np.array(lane, dtype=np.float64)
        fixed = np.round((pts - 0.5) * 16).astype(np.int32)
        cv2.polylines(canvas, [fixed], False, (240, 240, 235), 2, cv2.LINE_AA, 4)
        add("lane", Polyline(pts), z_order=1)

    # A small, far car: a box only.
    fx, fy, fw = scene.far_car
    far = Box(fx, fy, fx + fw, fy + fw * 0.5)
    _paint(canvas, polygon_to_mask(far.to_polygon(), w, h).array, (150, 40, 40))
    add("car", far, attributes={"occluded": False, "colour": "red"}, z_order=1)

    # Near cars: a full polygon, and one split into two parts by a pole standing in front of it.
    for i, (cx, cy, cw, colour_name) in enumerate(scene.cars):
        outline = _car_polygon(cx, cy, cw)
        body = Polygon.from_rings(outline)
        _paint(canvas, polygon_to_mask(body, w, h).array, CAR_COLOURS[colour_name])
        glass = Polygon.from_rings(_CAR_OUTLINE[[1, 2, 3, 4]] * [cw, cw * 0.55] + [cx, cy + 3])
        _paint(canvas, polygon_to_mask(glass, w, h).array & polygon_to_mask(body, w, h).array, (70, 90, 110))
        for wheel_x in (0.22, 0.78):
            centre = (round((cx + wheel_x * cw - 0.5) * 16), round((cy + 0.88 * cw * 0.55 - 0.5) * 16))
            cv2.circle(canvas, centre, round(cw * 0.08 * 16), (25, 25, 25), -1, cv2.LINE_AA, 4)
        attrs: dict[str, AttributeValue] = {"occluded": i == 1, "colour": colour_name}
        if i == 1:
            pole_x = cx + cw * 0.45
            pole = sg.box(pole_x, 40, pole_x + 6, cy + cw * 0.55 + 8)
            parts = sg.Polygon(outline).difference(pole)
            shape = Polygon.from_shapely(parts)
            _paint(canvas, polygon_to_mask(Polygon.from_shapely(pole), w, h).array, (60, 60, 60))
        else:
            shape = body
        add("car", shape, attributes=attrs, z_order=2)

    # A tilted sign on its own post: a rotated box.
    sign = Box.from_cxcywh(292.0, 82.0, 30.0, 18.0, scene.sign_rotation)
    post = Polygon.from_rings([[290, 86], [294, 86], [294, HORIZON + 10], [290, HORIZON + 10]])
    _paint(canvas, polygon_to_mask(post, w, h).array, (50, 50, 50))
    _paint(canvas, polygon_to_mask(sign.to_polygon(), w, h).array, (20, 110, 200))
    add("sign", sign, z_order=3)

    # People: keypoints and a pixel mask (the first), keypoints and a box (the second); each pair is one
    # object, joined by group_id. Some points are occluded (v=1) or not labeled (v=0).
    for k, (px, py, ph) in enumerate(scene.people):
        pts = _person_points(px, py, ph, k)
        shirt = ((40, 160, 90), (230, 120, 30))[k % 2]
        region = _draw_person(canvas, pts, shirt)
        vis = np.full(17, 2.0)
        vis[4] = 0.0  # right ear: not labeled (coordinates kept as COCO writes them: 0, 0)
        if k == 1:
            vis[[8, 10]] = 1.0  # right elbow and wrist: hidden behind the body
        keypoints = np.column_stack([np.where(vis[:, None] > 0, pts, 0.0), vis])
        group = image_id * 100 + k + 1
        add("person", Keypoints(keypoints), group_id=group, z_order=4)
        if k == 0:
            add("person", Mask.from_array(region), group_id=group, z_order=4)
        else:
            ys, xs = np.nonzero(region)
            add("person", Box(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)),
                group_id=group, z_order=4)  # fmt: skip

    noise = rng.normal(0.0, 2.5, canvas.shape)  # a little sensor noise so the scene is not flat colour
    pixels = np.clip(canvas + noise, 0, 255).astype(np.uint8)
    return ImageRecord(
        id=image_id,
        file_name=scene.name,
        size=size,
        annotations=tuple(anns),
        media=ArrayMedia(pixels),
        subset=scene.subset,
        tags=(scene.tag,),
    )


def build_sample_dataset() -> Dataset:
    """The sample dataset: three 320x240 street scenes (two ``train``, one ``val``), built in a few ms."""
    ontology = sample_ontology()
    images = []
    next_id = 1
    for i, scene in enumerate(SCENES, start=1):
        record = _scene(scene, ontology, next_id, i)
        next_id += len(record.annotations)
        images.append(record)
    return Dataset(ontology, tuple(images), info={"description": "seglab sample street scenes"})
