"""Writing the Ultralytics layout (``data.yaml``, ``images/<split>/``, ``labels/<split>/``).

Darknet is not written, because every current trainer reads the Ultralytics layout. Each annotation
becomes one or more label lines, held as columns (:class:`_Lines`, pixel coordinates; the common shapes
are added without any object of their own, the others through :class:`_Object`); then the lines of a run
of images are checked, clipped, normalised and turned into text in one vectorised pass
(:func:`_label_texts`), so the cost per line is a few list operations whatever the number of images.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import not_
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from pycocotools import mask as coco_mask

from seglab.core.annotation import Annotation, Source
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError
from seglab.core.geometry import Box, Keypoints, Polygon, PolygonPart, Polyline
from seglab.core.mask import Mask
from seglab.core.raster import mask_to_polygon
from seglab.core.runtime import gc_paused
from seglab.formats.base import LossReport, WriteOptions
from seglab.formats.media import copy_media
from seglab.formats.safe_io import safe_relative
from seglab.formats.yolo import numbers
from seglab.formats.yolo.constants import (
    CORNERS_KEY,
    TASKS,
    TOLERANCE,
)
from seglab.formats.yolo.data_yaml import pose_yaml, report_ontology, split_keys, splits, write_yaml


@dataclass(slots=True)
class _Object:
    """One label line to write: its class, kind and pixel geometry."""

    cls: int
    kind: str  # box | bounds | obb | polygon | pose
    points: Any  # box, pose: (x_min, y_min, x_max, y_max); bounds, polygon: (N, 2) points; obb: (4, 2)
    keypoints: np.ndarray | None = None  # pose: (K, 3)
    score: float | None = None
    sources: tuple[Annotation, ...] = ()


# What a line's points are (the order matters: box-like kinds first).
BOX = 0  # (x_min, y_min, x_max, y_max), written as centre and size
POSE = 1  # the same box, then the line's keypoints
BOUNDS = 2  # (N, 2) points written as their bounding box (a polygon in the detect task)
RING = 3  # (N, 2) points written one by one (polygons, oriented boxes)
KIND_CODES = {"box": BOX, "pose": POSE, "bounds": BOUNDS, "obb": RING, "polygon": RING}


@dataclass(slots=True)
class _Lines:
    """Every label line of the dataset as columns, in image order: no object per line."""

    cls: list[int] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    points: list[Any] = field(default_factory=list)  # as :attr:`_Object.points`
    score: list[float | None] = field(default_factory=list)
    keypoints: dict[int, np.ndarray] = field(default_factory=dict)  # line index -> (K, 3), pose lines

    def add(self, obj: _Object) -> None:
        if obj.keypoints is not None:
            self.keypoints[len(self.cls)] = obj.keypoints
        self.cls.append(obj.cls)
        self.kind.append(KIND_CODES[obj.kind])
        self.points.append(obj.points)
        self.score.append(obj.score)

    def truncate(self, count: int) -> None:
        """Drop every line from index ``count`` on."""
        for column in (self.cls, self.kind, self.points, self.score):
            del column[count:]
        for i in [i for i in self.keypoints if i >= count]:
            del self.keypoints[i]


def _where(image: ImageRecord, ann: Annotation | None = None) -> str:
    return f"image {image.file_name}" + (f" annotation {ann.id}" if ann is not None else "")


def _note(report: LossReport, what: str, image: ImageRecord, ann: Annotation | None = None) -> None:
    """``report.add(what, _where(image, ann))``, the example text built only for the first of its kind:
    this runs per object, 100,000 times on a big dataset."""
    if what in report.examples:
        report.counts[what] += 1
    else:
        report.add(what, _where(image, ann))


def _box_points(box: Box) -> tuple[float, float, float, float]:
    return (box.x_min, box.y_min, box.x_max, box.y_max)


def _bounds_points(polygon: Polygon) -> np.ndarray | None:
    """The points whose bounding box is the polygon's (its exteriors), or None where that box must come
    from :meth:`Polygon.bounds` (an exterior without points)."""
    parts = polygon.parts
    if len(parts) == 1:
        exterior = parts[0].exterior
        return exterior if len(exterior) else None
    if not parts:
        return np.zeros((1, 2))  # Polygon.bounds of nothing: the box 0 0 0 0
    exteriors = [p.exterior for p in parts]
    return np.concatenate(exteriors) if all(len(e) for e in exteriors) else None


def _auto_task(dataset: Dataset, images: Sequence[ImageRecord]) -> str:
    """pose if any keypoints (or, with no annotations at all, a skeleton to keep), else segment if any
    polygon or mask, else obb if any rotated box, else detect."""
    kinds = {type(a.shape) for i in images for a in i.annotations}
    skeletons = any(c.skeleton is not None for c in dataset.ontology.classes)
    if Keypoints in kinds or (not kinds and skeletons):
        return "pose"
    if Polygon in kinds or Mask in kinds:
        return "segment"
    if any(isinstance(a.shape, Box) and a.shape.rotation % 360 != 0 for i in images for a in i.annotations):
        return "obb"
    return "detect"


def _mask_outline(mask: Mask) -> Polygon:
    """The exact pixel outline of a mask, traced on its bounding box only (then moved back into place):
    tracing a whole 640x480 image for a small crowd region costs fifty times more."""
    b = mask.bounds()
    x0, y0, x1, y1 = int(b.x_min), int(b.y_min), int(b.x_max), int(b.y_max)
    if x1 <= x0 or y1 <= y0:
        return Polygon(())
    # decoded here, not through mask.array, which would keep the whole image's pixels on the dataset's mask
    crop = mask_to_polygon(coco_mask.decode(mask.rle)[y0:y1, x0:x1].astype(bool))
    shift = np.array([x0, y0], dtype=np.float64)
    parts = []
    for part in crop.parts:
        exterior = part.exterior + shift
        exterior.setflags(write=False)
        holes = []
        for hole in part.holes:
            moved = hole + shift
            moved.setflags(write=False)
            holes.append(moved)
        parts.append(PolygonPart.trusted(exterior, tuple(holes)))
    return Polygon(tuple(parts))


def _polygon_rings(shape: Polygon | Mask, image: ImageRecord, ann: Annotation, report: LossReport) -> list:
    """The exterior rings to write for a polygon or mask (one line each), reporting what they lose."""
    if isinstance(shape, Mask):
        polygon = _mask_outline(shape)
        _note(report, "masks written as their exact pixel-outline polygons", image, ann)
    else:
        polygon = shape
    parts = polygon.parts
    if len(parts) == 1 and not parts[0].holes and len(parts[0].exterior) >= 3:
        return [parts[0].exterior]  # the common case, without the checks below
    if polygon.has_holes:
        _note(report, "polygon holes filled (YOLO polygons have no holes)", image, ann)
    rings = [p.exterior for p in parts if len(p.exterior) >= 3]
    if len(rings) < len(parts):
        _note(report, "polygon parts with fewer than 3 points left out", image, ann)
    if len(rings) > 1:
        _note(report, "multi-part polygons split into separate objects", image, ann)
    return rings


def _rect(box: Box) -> np.ndarray:
    """An axis-aligned box's corners from its own coordinates (no trigonometry, so no rounding noise)."""
    return np.array(
        [[box.x_min, box.y_min], [box.x_max, box.y_min], [box.x_max, box.y_max], [box.x_min, box.y_max]]
    )


def _source_corners(ann: Annotation) -> np.ndarray:
    """The corners the box was read from, when it is unchanged since; else its computed corners."""
    box = ann.shape
    assert isinstance(box, Box)
    stored = ann.extra.get(CORNERS_KEY)
    if stored is not None:
        try:
            corners = np.asarray(stored, dtype=np.float64).reshape(4, 2)
        except (TypeError, ValueError):
            corners = None
        if corners is not None and Box.from_corners(corners) == box:
            return corners
    return box.corners() if box.rotation else _rect(box)


def _shape_objects(
    task: str,
    cls: int,
    image: ImageRecord,
    ann: Annotation,
    report: LossReport,
) -> list[_Object]:
    """Objects for one non-keypoint annotation in a task."""
    shape = ann.shape
    if isinstance(shape, Polyline):
        _note(report, "polylines left out (YOLO has no lines)", image, ann)
        return []
    if isinstance(shape, Keypoints):
        _note(report, f"keypoints left out (task {task} has none)", image, ann)
        return []
    if task == "segment":
        if isinstance(shape, Box):
            _note(report, "boxes written as 4-point polygons (segment task)", image, ann)
            corners = shape.corners() if shape.rotation else _rect(shape)
            return [_Object(cls, "polygon", corners, sources=(ann,))]
        return [
            _Object(cls, "polygon", ring, sources=(ann,))
            for ring in _polygon_rings(shape, image, ann, report)
        ]
    if task == "obb":
        if isinstance(shape, Box):
            return [_Object(cls, "obb", _source_corners(ann), sources=(ann,))]
        _note(report, "polygons and masks written as their minimum rotated rectangle (obb task)", image, ann)
        geom = shape.to_shapely() if isinstance(shape, Polygon) else _mask_outline(shape).to_shapely()
        rect = shapely.oriented_envelope(geom)
        ring = np.asarray(rect.exterior.coords)[:4] if rect.geom_type == "Polygon" else None
        if ring is None or len(ring) < 4:
            _note(report, "degenerate shapes left out", image, ann)
            return []
        return [_Object(cls, "obb", ring, sources=(ann,))]
    # detect and pose: an axis-aligned box
    if isinstance(shape, Box):
        if shape.rotation % 360 != 0:
            _note(report, f"rotated boxes written as axis-aligned bounds ({task} task)", image, ann)
            shape = shape.bounds()
        return [_Object(cls, "box", _box_points(shape), sources=(ann,))]
    _note(report, f"polygons and masks written as their bounding boxes ({task} task)", image, ann)
    points = _bounds_points(shape) if task == "detect" and isinstance(shape, Polygon) else None
    if points is not None:  # the box is found with every other polygon's, in one pass
        return [_Object(cls, "bounds", points, sources=(ann,))]
    return [_Object(cls, "box", _box_points(shape.bounds()), sources=(ann,))]


def _pose_objects(image: ImageRecord, names: list[str], k: int, report: LossReport) -> list[_Object]:
    """Pose lines: each Keypoints with the Box of the same group and label, else the polygon or mask of
    that group (its bounds: a COCO person's outline), else its points' bounds."""
    anns = list(image.annotations)
    partners: dict[tuple[int, str], Annotation] = {}
    for a in anns:  # a box is preferred to an outline as the pose box
        if a.group_id is not None and isinstance(a.shape, Box | Polygon | Mask):
            key = (a.group_id, a.label)
            known = partners.get(key)
            if known is None or (isinstance(a.shape, Box) and not isinstance(known.shape, Box)):
                partners[key] = a
    box_of: dict[int, Annotation] = {}  # id(keypoints annotation) -> its box annotation
    keypoints_of: dict[int, Annotation] = {}  # id(box annotation) -> its keypoints annotation
    for a in anns:
        if isinstance(a.shape, Keypoints) and a.group_id is not None:
            box = partners.get((a.group_id, a.label))
            if box is not None and id(box) not in keypoints_of:
                box_of[id(a)], keypoints_of[id(box)] = box, a
    grouped = {(a.group_id, a.label) for a in anns if id(a) in box_of}  # keypoints paired with a box
    objects: list[_Object] = []
    emitted: set[int] = set()
    for a in anns:
        if id(a) in emitted:
            continue
        cls = names.index(a.label)
        if id(a) in keypoints_of:
            box_ann, kp_ann = a, keypoints_of[id(a)]
        elif isinstance(a.shape, Keypoints):
            box_ann, kp_ann = box_of.get(id(a)), a
        elif isinstance(a.shape, Polygon | Mask) and (a.group_id, a.label) in grouped:
            # the outline of a person whose keypoints went with the group's box (OCHuman): one line each
            _note(report, "outlines of pose objects left out (the pose line holds the group's box)", image, a)
            emitted.add(id(a))
            continue
        else:
            for obj in _shape_objects("pose", cls, image, a, report):
                _note(
                    report, "objects without keypoints written with all keypoints unlabeled (v=0)", image, a
                )
                obj.kind, obj.keypoints, obj.score = "pose", np.zeros((k, 3)), a.score
                objects.append(obj)
            emitted.add(id(a))
            continue
        where = _where(image, a)
        pair = (box_ann, kp_ann) if box_ann is not None else (kp_ann,)
        emitted.update(id(x) for x in pair)
        kp_shape = kp_ann.shape
        assert isinstance(kp_shape, Keypoints)
        kp = kp_shape.points.copy()
        if len(kp) != k:
            report.add(f"keypoints with a point count other than kpt_shape's {k} written as unlabeled", where)
            kp = np.zeros((k, 3))
        unlabeled = kp[:, 2] <= 0
        if (kp[unlabeled, :2] != 0).any():
            report.add("coordinates of unlabeled keypoints (v=0) written as 0 0", where)
        kp[unlabeled] = 0.0
        if box_ann is not None:
            shape = box_ann.shape
            if isinstance(shape, Box):
                if shape.rotation % 360 != 0:
                    report.add("rotated boxes written as axis-aligned bounds (pose task)", where)
                box = shape.bounds()
            else:
                report.add("outlines of pose objects written as their bounding boxes (pose task)", where)
                box = shape.bounds()
            if box_ann.score != kp_ann.score and None not in (box_ann.score, kp_ann.score):
                report.add("differing scores of a pose box and its keypoints (one is written)", where)
        else:
            box = kp_shape.bounds()
        score = kp_ann.score if kp_ann.score is not None else (box_ann.score if box_ann is not None else None)
        objects.append(_Object(cls, "pose", _box_points(box), kp, score, pair))
    return objects


# ----------------------------------------------------------------------------------------------- lines


def _out_of_range(centre: np.ndarray, extent: np.ndarray) -> np.ndarray:
    """Rows ``(N, 2)`` whose normalised centre or size Ultralytics refuses."""
    values = np.concatenate([centre, extent], axis=1)  # (N, 4)
    return ((values < -TOLERANCE) | (values > 1 + TOLERANCE)).any(axis=1)


def _box_corners(kinds: np.ndarray, points: list[Any]) -> np.ndarray:
    """``(B, 2, 2)`` min/max corners of box-like lines: given (box, pose), or the bounds of their points
    (bounds: every polygon's at once)."""
    boxes = np.empty((len(points), 2, 2))
    given = kinds != BOUNDS
    flags = given.tolist()
    if any(flags):
        corners = list(compress(points, flags))
        boxes[given] = np.array(corners, dtype=np.float64).reshape(-1, 2, 2)
    if not all(flags):
        sets = list(compress(points, map(not_, flags)))
        found = np.empty((len(sets), 2, 2))
        for at in range(0, len(sets), BOUNDS_BLOCK):  # blocks: all vertices at once would be a big copy
            block = sets[at : at + BOUNDS_BLOCK]
            lengths = np.fromiter(map(len, block), dtype=np.int64, count=len(block))
            starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            pts = np.concatenate(block)  # (V, 2)
            found[at : at + len(block), 0] = np.minimum.reduceat(pts, starts, axis=0)
            found[at : at + len(block), 1] = np.maximum.reduceat(pts, starts, axis=0)
        boxes[~given] = found
    return boxes


BOUNDS_BLOCK = 4096  # polygons whose bounds are found together


def _label_texts(
    lines: _Lines,
    first: int,
    counts: Sequence[int],
    images: Sequence[ImageRecord],
    sizes: Sequence[ImageSize | None],
    dims: int,
    conf: bool,
    report: LossReport,
) -> list[str]:
    """The label file text of a run of images, whose lines start at ``first`` (``counts``: lines per image):
    every line checked, clipped, normalised and formatted at once."""
    count = sum(counts)
    if not count:
        return [""] * len(counts)
    stop = first + count
    kinds = np.array(lines.kind[first:stop], dtype=np.int8)  # (O,)
    objects = lines.points[first:stop]
    sizes_arr = np.array([(s.width, s.height) if s is not None else (1, 1) for s in sizes], dtype=np.float64)
    scale = np.repeat(sizes_arr, counts, axis=0)  # (O, 2)
    owner = np.repeat(np.arange(len(counts)), counts)  # (O,) image of each line, for the report's examples
    box_rows = np.flatnonzero(kinds <= BOUNDS)
    ring_rows = np.flatnonzero(kinds == RING)
    # Boxes: (B, 2, 2) min/max corners; inverted ones sorted.
    boxes = np.zeros((0, 2, 2))
    if len(box_rows):
        box_sets = objects if len(box_rows) == count else [objects[i] for i in box_rows.tolist()]
        boxes = _box_corners(kinds[box_rows], box_sets)
    inverted = (boxes[:, 1] < boxes[:, 0]).any(axis=1)
    if inverted.any():
        where = _where(images[owner[box_rows[np.argmax(inverted)]]])
        report.add("inverted boxes (max < min) written with their corners sorted", where, int(inverted.sum()))
        boxes = np.sort(boxes, axis=1)
    # Rings (polygons, oriented boxes): all points in one array, with each line's slice.
    ring_sets = objects if len(ring_rows) == count else [objects[i] for i in ring_rows.tolist()]
    lengths = np.fromiter(map(len, ring_sets), dtype=np.int64, count=len(ring_sets))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(lengths) else np.zeros(0, dtype=np.int64)
    points = np.concatenate(ring_sets) if ring_sets else np.zeros((0, 2))  # (P, 2)
    point_scale = np.repeat(scale[ring_rows], lengths, axis=0)  # (P, 2)
    # Keypoints of pose lines.
    kp_rows = np.flatnonzero(kinds == POSE).tolist()
    kps = np.zeros((0, 1, 3))  # (Q, K, 3)
    if kp_rows:
        kps = np.stack([lines.keypoints[first + i] for i in kp_rows])
    # Out of Ultralytics' range: boxes by centre and size, rings by their enclosing box, keypoints by value.
    bad = np.zeros(count, dtype=bool)
    if len(box_rows):
        lo, hi = boxes[:, 0] / scale[box_rows], boxes[:, 1] / scale[box_rows]
        bad[box_rows] = _out_of_range((lo + hi) / 2, hi - lo)
    if len(ring_rows):
        lo = np.minimum.reduceat(points, starts, axis=0) / scale[ring_rows]
        hi = np.maximum.reduceat(points, starts, axis=0) / scale[ring_rows]
        bad[ring_rows] = _out_of_range((lo + hi) / 2, hi - lo)
    if kp_rows:
        kp_norm = kps[:, :, :2] / scale[kp_rows][:, None, :]
        bad[kp_rows] |= ((kp_norm < -TOLERANCE) | (kp_norm > 1 + TOLERANCE)).any(axis=(1, 2))
    if bad.any():
        where = _where(images[owner[int(np.argmax(bad))]])
        report.add("objects reaching outside the image clipped to it", where, int(bad.sum()))
        box_bad = bad[box_rows]
        boxes[box_bad] = np.clip(boxes[box_bad], 0.0, scale[box_rows][box_bad][:, None, :])
        point_bad = np.repeat(bad[ring_rows], lengths)
        points[point_bad] = np.clip(points[point_bad], 0.0, point_scale[point_bad])
        if kp_rows:
            kp_bad = bad[kp_rows]
            kps[kp_bad, :, :2] = np.clip(kps[kp_bad, :, :2], 0.0, scale[kp_rows][kp_bad][:, None, :])
    # Normalise and format every value at once.
    centre, extent = numbers.normalise_boxes(boxes[:, 0], boxes[:, 1], scale[box_rows])
    box_text = numbers.row_texts(np.concatenate([centre, extent], axis=1))  # 4 values per box
    ring_text = numbers.run_texts(numbers.normalise(points, point_scale).ravel(), 2 * lengths)
    if len(box_rows) == count:
        text = box_text
    elif len(ring_rows) == count:
        text = ring_text
    else:
        text = [""] * count
        for i, t in zip(box_rows.tolist(), box_text, strict=True):
            text[i] = t
        for i, t in zip(ring_rows.tolist(), ring_text, strict=True):
            text[i] = t
    if kp_rows:
        k = kps.shape[1]
        xy = numbers.tokens(numbers.normalise(kps[:, :, :2], scale[kp_rows][:, None, :]))  # 2 per point
        if dims == 3:
            vis = numbers.visibility_tokens(kps[:, :, 2])
            triples = np.column_stack(
                [np.array(xy, dtype=object).reshape(-1, 2), np.array(vis, dtype=object)]
            ).reshape(len(kp_rows), 3 * k)
            parts = [" ".join(row) for row in triples.tolist()]
        else:
            parts = [" ".join(xy[2 * k * j : 2 * k * (j + 1)]) for j in range(len(kp_rows))]
        for i, part in zip(kp_rows, parts, strict=True):
            text[i] += " " + part
    classes = lines.cls[first:stop]
    if conf:
        scores = lines.score[first:stop]
        text = [f"{c} {t} {float(v)!r}" for c, t, v in zip(classes, text, scores, strict=True)]  # type: ignore[arg-type]
    else:
        text = [f"{c} {t}" for c, t in zip(classes, text, strict=True)]
    out: list[str] = []
    at = 0
    for n in counts:
        out.append("\n".join(text[at : at + n]) + "\n" if n else "")
        at += n
    return out


# ----------------------------------------------------------------------------------------------- write


def write(dataset: Dataset, dst: Path, options: WriteOptions, task: str | None = None) -> LossReport:
    """Write the Ultralytics layout into the empty folder ``dst``; returns what YOLO could not carry.

    ``task`` (detect, segment, obb, pose) defaults to the content: pose if any keypoints, else segment
    if any polygon or mask, else obb if any rotated box, else detect; ``options.yolo_task`` when not given.
    """
    with gc_paused():  # every object is planned at once, none in a reference cycle
        return _write(dataset, Path(dst), options, task)


def _write(dataset: Dataset, dst: Path, options: WriteOptions, task: str | None) -> LossReport:
    report = LossReport()
    images = list(dataset.images)
    task = task or options.yolo_task or _auto_task(dataset, images)
    if task not in TASKS:
        raise ValueError(f"task {task!r} is not one of {list(TASKS)}")
    names = dataset.ontology.names
    index = {name: i for i, name in enumerate(names)}
    report_ontology(dataset, task, report)
    k, dims, pose_doc = pose_yaml(dataset, images, report) if task == "pose" else (0, 3, {})
    folders = splits(images, report)

    # Every image's lines first: the confidence column is all or nothing.
    lines = _Lines()
    counts: list[int] = []  # lines per image
    weights: list[int] = []  # coordinates per image, for the chunks below
    sizes: list[ImageSize | None] = []
    sources: list[Annotation] = []  # the annotations that gave lines, in line order
    paired: set[int] = set()  # pose box + keypoints annotations sharing a line
    labels = {a.label for image in images for a in image.annotations}
    all_known = labels.issubset(index)
    with rasterio.Env():  # one GDAL environment for every mask traced, not one per mask
        for image in images:
            if image.tags or image.attributes or image.extra:
                _report_image(image, report)
            known = image.annotations
            if not all_known:
                known = tuple(a for a in image.annotations if a.label in index)
                if len(known) < len(image.annotations):
                    for a in image.annotations:
                        if a.label not in index:
                            _note(report, MISSING_CLASS_NOTE, image, a)
            start, given = len(lines.cls), len(sources)
            if task == "pose":
                weight = _pose_lines(image.with_annotations(known), names, k, report, lines, sources, paired)
            else:
                weight = _shape_lines(task, image, known, index, report, lines, sources)
            size = None
            if len(lines.cls) > start:
                try:
                    size = image.require_size()
                except (ValueError, FormatError):
                    lost = len(lines.cls) - start
                    report.add("annotations of images with unknown size left out", _where(image), lost)
                    lines.truncate(start)
                    del sources[given:]
                    weight = 0
            counts.append(len(lines.cls) - start)
            weights.append(weight)
            sizes.append(size)
    conf = bool(lines.score) and None not in lines.score
    written = sources  # each annotation once, in line order (a multi-part polygon gives several lines)
    if len(set(map(id, sources))) < len(sources):
        written = list({id(a): a for a in sources}.values())
    _report_annotations(written, task, conf, report, paired)

    label_files: list[str] = []
    taken: dict[str, str] = {}
    for n, image in enumerate(images):
        folder = folders[n]
        file_name = safe_relative(image.file_name, file="dataset", where=_where(image))
        stem_key = f"{folder}/{file_name.rsplit('.', 1)[0]}"
        if stem_key in taken:
            file_name = _free_name(file_name, folder, taken)
            report.add(
                "images renamed so that their label files stay apart", f"{image.file_name} -> {file_name}"
            )
            stem_key = f"{folder}/{file_name.rsplit('.', 1)[0]}"
        taken[stem_key] = file_name
        prefix = f"{folder}/" if folder else ""
        label_files.append(f"labels/{prefix}{file_name.rsplit('.', 1)[0]}.txt")
        if options.copy_images and not copy_media(image, dst / "images" / f"{prefix}{file_name}"):
            report.add("images without a file (labels written, image missing)", _where(image))

    with _LabelFiles(dst) as files:
        first = 0
        for start, stop in _chunks(weights):  # memory bounded by a chunk, not by the dataset
            texts = _label_texts(
                lines, first, counts[start:stop], images[start:stop], sizes[start:stop], dims, conf, report
            )
            first += sum(counts[start:stop])
            for rel, text in zip(label_files[start:stop], texts, strict=True):
                files.write(rel, text.encode("utf-8"))
    needs_task = task == "segment" and bool(lines.points) and all(len(p) == 4 for p in lines.points)
    write_yaml(dst / "data.yaml", dataset, names, split_keys(folders.values(), report), pose_doc, needs_task)
    return report


def _shape_lines(
    task: str,
    image: ImageRecord,
    annotations: Sequence[Annotation],
    index: dict[str, int],
    report: LossReport,
    lines: _Lines,
    sources: list[Annotation],
) -> int:
    """Add the lines of an image's annotations (not the pose task) and the annotations that gave them to
    ``sources``; returns the coordinates they hold. Polygons and boxes as they usually come are added here
    directly: this runs per annotation, 100,000 times on a big dataset."""
    weight = 0
    detect, segment = task == "detect", task == "segment"
    add_cls, add_kind, add_points = lines.cls.append, lines.kind.append, lines.points.append
    add_score, add_source = lines.score.append, sources.append
    as_bounds = 0  # polygons written as their boxes, counted in the report at the end
    for a in annotations:
        shape = a.shape
        kind = type(shape)
        if detect and kind is Polygon:
            if not as_bounds:  # the first one in place, so that the report keeps its order
                _note(report, BOUNDS_NOTE, image, a)
            as_bounds += 1
            parts = shape.parts
            points = parts[0].exterior if len(parts) == 1 else _bounds_points(shape)
            if points is None or not len(points):
                add_kind(BOX)
                add_points(_box_points(shape.bounds()))
            else:
                add_kind(BOUNDS)
                add_points(points)
            weight += 2
        elif detect and kind is Box and shape.rotation % 360 == 0:
            add_kind(BOX)
            add_points((shape.x_min, shape.y_min, shape.x_max, shape.y_max))
            weight += 2
        elif segment and kind is Polygon and len(parts := shape.parts) == 1 and not parts[0].holes:
            ring = parts[0].exterior
            if len(ring) < 3:
                weight += _general_lines(task, image, a, index, report, lines, sources)
                continue
            add_kind(RING)
            add_points(ring)
            weight += len(ring)
        else:
            weight += _general_lines(task, image, a, index, report, lines, sources)
            continue
        add_cls(index[a.label])
        add_score(a.score)
        add_source(a)
    if as_bounds > 1:
        report.counts[BOUNDS_NOTE] += as_bounds - 1
    return weight


BOUNDS_NOTE = "polygons and masks written as their bounding boxes (detect task)"
MISSING_CLASS_NOTE = "annotations of classes missing from the ontology left out"


def _general_lines(
    task: str,
    image: ImageRecord,
    a: Annotation,
    index: dict[str, int],
    report: LossReport,
    lines: _Lines,
    sources: list[Annotation],
) -> int:
    """Add the lines of any annotation through :func:`_shape_objects`; returns the coordinates they hold."""
    weight = 0
    objects = _shape_objects(task, index[a.label], image, a, report)
    for obj in objects:
        obj.score = a.score
        lines.add(obj)
        weight += 2 if obj.kind in ("box", "bounds") else len(obj.points)
    if objects:
        sources.append(a)
    return weight


def _pose_lines(
    image: ImageRecord,
    names: list[str],
    k: int,
    report: LossReport,
    lines: _Lines,
    sources: list[Annotation],
    paired: set[int],
) -> int:
    """Add the pose lines of an image (:func:`_pose_objects`) and the annotations that gave them to
    ``sources``; returns the coordinates they hold. Annotations sharing a line go to ``paired``."""
    weight = 0
    for obj in _pose_objects(image, names, k, report):
        lines.add(obj)
        sources.extend(obj.sources)
        if len(obj.sources) > 1:
            paired.update(id(a) for a in obj.sources)
        weight += 2 + (len(obj.keypoints) if obj.keypoints is not None else 0)
    return weight


class _LabelFiles:
    """Label files written with one open and one write each (thousands of files), relative to an open
    folder where the system allows it, so that the kernel does not walk the whole path for every file."""

    MAX_OPEN = 64  # folders kept open at once

    def __init__(self, root: Path) -> None:
        self._root = root
        self._folders: dict[str, int] = {}  # folder (relative) -> open descriptor, or -1 without dir_fd
        self._relative = os.open in os.supports_dir_fd

    def __enter__(self) -> _LabelFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close_folders()

    def _close_folders(self) -> None:
        for fd in self._folders.values():
            if fd >= 0:
                os.close(fd)
        self._folders.clear()

    def _folder(self, folder: str) -> int:
        fd = self._folders.get(folder)
        if fd is None:
            path = self._root / folder
            path.mkdir(parents=True, exist_ok=True)
            if len(self._folders) >= self.MAX_OPEN:
                self._close_folders()
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if self._relative else -1
            self._folders[folder] = fd
        return fd

    def write(self, rel: str, data: bytes) -> None:
        folder, _, name = rel.rpartition("/")
        dir_fd = self._folder(folder)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
        if dir_fd >= 0:
            fd = os.open(name, flags, 0o666, dir_fd=dir_fd)
        else:
            fd = os.open(self._root / rel, flags, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)


CHUNK_POINTS = 50_000  # coordinates normalised and formatted at once (their text is a transient)


def _chunks(weights: Sequence[int]) -> list[tuple[int, int]]:
    """Runs of whole images holding about ``CHUNK_POINTS`` coordinates each (``weights``: per image)."""
    out, start, points = [], 0, 0
    for n, weight in enumerate(weights):
        points += weight
        if points >= CHUNK_POINTS:
            out.append((start, n + 1))
            start, points = n + 1, 0
    if start < len(weights) or not out:
        out.append((start, len(weights)))
    return out


def _free_name(file_name: str, folder: str, taken: dict[str, str]) -> str:
    stem, dot, ext = file_name.rpartition(".")
    if not dot:
        stem, ext = file_name, ""
    n = 2
    while f"{folder}/{stem}_{n}" in taken:
        n += 1
    return f"{stem}_{n}" + (f".{ext}" if dot else "")


def _report_image(image: ImageRecord, report: LossReport) -> None:
    if image.tags:
        report.add("image tags", _where(image))
    if image.attributes:
        report.add("image attributes", _where(image))
    if image.extra:
        report.add("image extra fields", _where(image))


def _report_annotations(
    annotations: Sequence[Annotation], task: str, conf: bool, report: LossReport, paired: set[int]
) -> None:
    """Report what of the written annotations YOLO cannot hold: each check over all of them at once (this
    covers every object), the entries in the order an annotation-by-annotation pass would add them."""
    expected = Source.MODEL if conf else Source.HUMAN
    pose = task == "pose"
    anns = annotations
    checks: tuple[tuple[str, Callable[[], list[bool]]], ...] = (  # each gives one flag per annotation
        ("attributes", lambda: [bool(a.attributes) for a in anns]),
        ("crowd flags", lambda: [bool(a.crowd) for a in anns]),
        ("track ids", lambda: [a.track_id is not None for a in anns]),
        ("uncertainties", lambda: [a.uncertainty is not None for a in anns]),
        ("z-order", lambda: [bool(a.z_order) for a in anns]),
        (
            "scores (only written when every object has one)",
            lambda: [] if conf else [a.score is not None for a in anns],
        ),
        (
            "sources human/model (read back from the confidence column)",
            lambda: [a.source is not expected for a in anns],
        ),
        (
            "annotation extra fields",
            lambda: [bool(a.extra) and (len(a.extra) > 1 or CORNERS_KEY not in a.extra) for a in anns],
        ),
        (
            "group ids (only pose box/keypoint pairs are kept)",
            lambda: [
                a.group_id is not None
                and (not pose or not (id(a) in paired or isinstance(a.shape, Keypoints | Box)))
                for a in anns
            ],
        ),
    )
    found: list[tuple[int, int, str, int]] = []  # (first annotation with it, check order, what, count)
    for order, (what, flags_of) in enumerate(checks):
        hits = flags_of()  # one list of flags at a time: memory bounded by one
        if True in hits:
            found.append((hits.index(True), order, what, hits.count(True)))
    for first, _, what, count in sorted(found):
        report.add(what, f"annotation {anns[first].id}", count)
