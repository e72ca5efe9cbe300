"""Overlays of annotations on an image, drawn on a copy: the caller's pixels are never touched.

Drawing order, bottom to top: filled areas (polygons and masks blended at ``alpha``; stuff below things, then
by ``z_order``), their outlines (holes included), polylines, boxes (rotated ones through their corners),
keypoint skeletons, and last the text labels, so that nothing hides a class name.

Coordinates are seglab's continuous pixels (origin at the top-left corner of the top-left pixel). OpenCV
draws integer positions at pixel *centres*, so every point is moved by half a pixel and handed over with
``SHIFT`` fractional bits: nothing is rounded to whole pixels before it is drawn. Areas are filled with
seglab's own rasterization (pycocotools'), so the coloured pixels are exactly the pixels the label covers.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from seglab.core.annotation import Annotation
from seglab.core.conventions import ImageSize
from seglab.core.geometry import Box, Keypoints, Polygon, Polyline
from seglab.core.mask import Mask
from seglab.core.ontology import LabelKind, Ontology, default_color
from seglab.core.raster import shape_to_mask

SHIFT = 4  # fractional bits of the fixed-point coordinates OpenCV draws with (1/16 pixel)
_ONE = 1 << SHIFT
_LIMIT = 1e6  # OpenCV takes int32 coordinates; points further out are clamped (drawing is clipped anyway)
_WHITE = (255, 255, 255)

Color = tuple[int, int, int]


@dataclass(frozen=True)
class Rendered:
    """The overlay ``(H, W, 3)`` uint8 and the annotations that could not be drawn, each with the reason."""

    pixels: np.ndarray
    skipped: tuple[str, ...] = ()


def class_color(ontology: Ontology, label: str) -> Color:
    """The colour of a class: its own colour, else a stable palette colour (black is read as 'unset')."""
    cls = ontology.get(label)
    if cls is not None and tuple(cls.color) != (0, 0, 0):
        r, g, b = cls.color
        return (int(r), int(g), int(b))
    index = ontology.index(label) + 1 if cls is not None else 1 + zlib.crc32(label.encode()) % 254
    return default_color(index)


def _fixed(points: np.ndarray) -> np.ndarray:
    """``(N, 2)`` seglab coordinates to OpenCV's fixed-point pixel-centre coordinates, int32."""
    pts = np.clip(np.asarray(points, dtype=np.float64).reshape(-1, 2), -_LIMIT, _LIMIT)
    return np.round((pts - 0.5) * _ONE).astype(np.int32)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB or (H, W) gray image, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr).copy()


def _finite(shape: object) -> bool:
    if isinstance(shape, Mask):
        return True
    if isinstance(shape, Box):
        return bool(np.isfinite([*shape.coordinates(), shape.rotation]).all())
    coords = shape.coordinates()  # type: ignore[attr-defined]
    return bool(np.isfinite(coords).all())


def _is_thing(ann: Annotation, ontology: Ontology) -> bool:
    cls = ontology.get(ann.label)
    return cls is None or cls.kind is LabelKind.THING


def _label_text(ann: Annotation) -> str:
    text = ann.label
    if ann.score is not None and np.isfinite(ann.score):
        text += f" {ann.score:.2f}"
    if ann.crowd:
        text += " (crowd)"
    return text


def _anchor_inside(mask: np.ndarray) -> tuple[float, float] | None:
    """The pixel furthest from the region's edge (the widest place), as an x, y point; None when empty."""
    if not mask.any():
        return None
    # padded with background so that the image border counts as an edge too
    padded = np.pad(mask.astype(np.uint8), 1)  # (H + 2, W + 2)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 3)
    row, col = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return (float(col) - 0.5, float(row) - 0.5)


@dataclass(frozen=True)
class _Label:
    text: str
    x: float
    y: float
    color: Color
    centred: bool  # True: centred on (x, y); False: bottom-left corner at (x, y) (box captions)


def draw_annotations(
    image: np.ndarray,
    annotations: Iterable[Annotation],
    ontology: Ontology,
    *,
    alpha: float = 0.45,
    labels: bool = True,
    line_width: int | None = None,
    font_size: int | None = None,
) -> Rendered:
    """Draw every annotation over a copy of ``image`` (``(H, W, 3)`` RGB or ``(H, W)`` gray).

    ``line_width`` and ``font_size`` default to values that scale with the image. Annotations whose
    geometry cannot be drawn (non-finite coordinates, a mask of another size) are listed in ``skipped``.
    """
    out = _as_rgb(image)
    size = ImageSize.from_shape(out.shape)
    short = min(size.width, size.height)
    width = line_width if line_width is not None else max(2, round(short / 160))
    font_px = font_size if font_size is not None else int(np.clip(round(short / 24), 10, 32))

    anns = list(annotations)
    skipped: list[str] = []
    drawable: list[Annotation] = []
    for ann in anns:
        if _finite(ann.shape):
            drawable.append(ann)
        else:
            skipped.append(f"annotation {ann.id} ({ann.label}): coordinates are not finite")
    order = sorted(
        range(len(drawable)), key=lambda i: (_is_thing(drawable[i], ontology), drawable[i].z_order, i)
    )
    ordered = [drawable[i] for i in order]

    # 1. Filled areas, blended in float so overlapping fills mix instead of overwriting.
    canvas = out.astype(np.float32)  # (H, W, 3)
    areas: list[tuple[Annotation, np.ndarray]] = []
    for ann in ordered:
        if not isinstance(ann.shape, Polygon | Mask):
            continue
        try:
            region = shape_to_mask(ann.shape, size).array  # (H, W) bool
        except ValueError as exc:
            skipped.append(f"annotation {ann.id} ({ann.label}): {exc}")
            continue
        a = alpha * (0.6 if ann.crowd else 1.0)
        colour = np.array(class_color(ontology, ann.label), dtype=np.float32)
        canvas[region] = canvas[region] * (1.0 - a) + colour * a
        areas.append((ann, region))
    out = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)

    captions: list[_Label] = []
    captioned_groups: set[int] = set()

    def caption(ann: Annotation, x: float, y: float, centred: bool) -> None:
        if ann.group_id is not None:
            if ann.group_id in captioned_groups:
                return
            captioned_groups.add(ann.group_id)
        captions.append(_Label(_label_text(ann), x, y, class_color(ontology, ann.label), centred))

    # Stuff captions go where no thing covers the stuff, so 'road' is not written across a car.
    things = np.zeros(size.shape, dtype=bool)  # (H, W)
    for ann, region in areas:
        if _is_thing(ann, ontology):
            things |= region

    # 2. Outlines of the areas: every ring of a polygon (holes stay visibly open), a mask's pixel contours.
    for ann, region in areas:
        colour = class_color(ontology, ann.label)
        if isinstance(ann.shape, Polygon):
            rings = [_fixed(r) for r in ann.shape.rings() if len(r) >= 2]
            cv2.polylines(out, rings, True, colour, width, cv2.LINE_AA, SHIFT)
        else:
            contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(out, contours, -1, colour, max(1, width - 1), cv2.LINE_AA)
        visible = region if _is_thing(ann, ontology) else region & ~things
        anchor = _anchor_inside(visible if visible.any() else region)
        if anchor is not None:
            caption(ann, *anchor, centred=True)

    # 3. Polylines, boxes and skeletons, in the same stuff-then-z order.
    for ann in ordered:
        shape = ann.shape
        colour = class_color(ontology, ann.label)
        if isinstance(shape, Polyline) and len(shape.points):
            pts = _fixed(shape.points)
            cv2.polylines(out, [pts], False, colour, width, cv2.LINE_AA, SHIFT)
            for p in pts:
                cv2.circle(out, (int(p[0]), int(p[1])), width * _ONE, colour, -1, cv2.LINE_AA, SHIFT)
            middle = shape.points[len(shape.points) // 2]
            caption(ann, float(middle[0]), float(middle[1]), centred=True)
        elif isinstance(shape, Box):
            corners = shape.corners()  # (4, 2), first corner is the top-left before rotation
            cv2.polylines(out, [_fixed(corners)], True, colour, width, cv2.LINE_AA, SHIFT)
            if shape.rotation:
                # a tick on the first edge shows which way the box is turned
                mid = corners[:2].mean(axis=0)
                centre = np.array(shape.centre)
                tick = _fixed(np.stack([mid, mid + (centre - mid) * 0.25]))
                cv2.line(out, tuple(tick[0]), tuple(tick[1]), colour, width, cv2.LINE_AA, SHIFT)
            caption(ann, float(corners[0, 0]), float(corners[0, 1]), centred=False)
        elif isinstance(shape, Keypoints):
            _draw_skeleton(out, shape, ann, ontology, colour, width)
            if shape.num_labeled:
                b = shape.bounds()
                caption(ann, b.x_min, b.y_min - width * 2, centred=False)

    if labels and captions:
        out = _draw_captions(out, captions, font_px)
    return Rendered(pixels=out, skipped=tuple(skipped))


def _draw_skeleton(
    out: np.ndarray, shape: Keypoints, ann: Annotation, ontology: Ontology, colour: Color, width: int
) -> None:
    """Edges between labeled points (solid when both are visible, thin when one is occluded), then points:
    visible ones filled with a white rim, occluded ones as hollow rings; unlabeled points are not drawn."""
    pts = shape.points  # (N, 3) x, y, v
    fixed = _fixed(pts[:, :2])
    vis = pts[:, 2]
    cls = ontology.get(ann.label)
    edges: Sequence[tuple[int, int]] = cls.skeleton.edges if cls is not None and cls.skeleton else ()
    for a, b in edges:
        if a >= len(pts) or b >= len(pts) or vis[a] <= 0 or vis[b] <= 0:
            continue
        both_visible = vis[a] >= 2 and vis[b] >= 2
        cv2.line(
            out,
            tuple(fixed[a]),
            tuple(fixed[b]),
            colour,
            width if both_visible else max(1, width // 2),
            cv2.LINE_AA,
            SHIFT,
        )
    radius = width * _ONE
    for (x, y), v in zip(fixed, vis, strict=True):
        if v >= 2:
            cv2.circle(out, (int(x), int(y)), radius + _ONE, _WHITE, -1, cv2.LINE_AA, SHIFT)
            cv2.circle(out, (int(x), int(y)), radius, colour, -1, cv2.LINE_AA, SHIFT)
        elif v > 0:
            cv2.circle(out, (int(x), int(y)), radius, _WHITE, -1, cv2.LINE_AA, SHIFT)
            cv2.circle(out, (int(x), int(y)), radius, colour, max(1, width // 2 + 1), cv2.LINE_AA, SHIFT)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ImportError, TypeError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _draw_captions(pixels: np.ndarray, captions: Sequence[_Label], font_px: int) -> np.ndarray:
    """Class names on tags filled with the class colour, kept inside the image, in black or white ink."""
    img = Image.fromarray(pixels)
    draw = ImageDraw.Draw(img)
    font = _font(font_px)
    pad = max(1, font_px // 6)
    w, h = img.size
    placed: list[tuple[float, float, float, float]] = []
    for c in captions:
        left, top, right, bottom = draw.textbbox((0, 0), c.text, font=font)
        tw, th = right - left + 2 * pad, bottom - top + 2 * pad
        if c.centred:
            x0, y0 = c.x - tw / 2, c.y - th / 2
        else:
            x0, y0 = c.x, c.y - th
            if y0 < 0:  # no room above: put the tag just inside the top edge of the shape
                y0 = c.y
        x0 = float(np.clip(x0, 0, max(w - tw, 0)))
        y0 = _free_row(x0, float(np.clip(y0, 0, max(h - th, 0))), tw, th, h, placed)
        placed.append((x0, y0, x0 + tw, y0 + th))
        r, g, b = c.color
        luminance = 0.299 * r + 0.587 * g + 0.114 * b
        ink = (0, 0, 0) if luminance > 140 else _WHITE
        draw.rectangle((x0, y0, x0 + tw - 1, y0 + th - 1), fill=c.color)
        draw.text((x0 + pad - left, y0 + pad - top), c.text, fill=ink, font=font)
    return np.asarray(img).copy()


def _free_row(
    x0: float, y0: float, tw: float, th: float, h: int, placed: Sequence[tuple[float, float, float, float]]
) -> float:
    """``y0``, or the nearest row above or below it where a tag of ``tw`` x ``th`` overlaps no placed tag."""

    def clear(y: float) -> bool:
        return all(x0 >= r[2] or x0 + tw <= r[0] or y >= r[3] or y + th <= r[1] for r in placed)

    for step in range(8):
        for y in (y0 + step * th, y0 - step * th) if step else (y0,):
            if 0 <= y <= h - th and clear(y):
                return y
    return y0  # crowded: overlap rather than wander far from the object
