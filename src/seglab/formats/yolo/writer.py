"""Writing the Ultralytics layout (``data.yaml``, ``images/<split>/``, ``labels/<split>/``).

Darknet is not written, because every current trainer reads the Ultralytics layout. Each annotation
becomes one or more label objects (:class:`_Object`, pixel coordinates); then every object of the dataset
is checked, clipped, normalised and turned into text in one vectorised pass (:func:`_label_lines`), so the
cost per object is a few list operations whatever the number of images.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from pycocotools import mask as coco_mask

from seglab.core.annotation import Annotation, Source
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError
from seglab.core.geometry import Box, Keypoints, Polygon, PolygonPart, Polyline
from seglab.core.mask import Mask
from seglab.core.raster import mask_to_polygon
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
    kind: str  # box | obb | polygon | pose
    points: np.ndarray  # box: (2, 2) min/max corners; obb: (4, 2); polygon: (N, 2)
    keypoints: np.ndarray | None = None  # pose: (K, 3)
    score: float | None = None
    sources: tuple[Annotation, ...] = ()


def _where(image: ImageRecord, ann: Annotation | None = None) -> str:
    return f"image {image.file_name}" + (f" annotation {ann.id}" if ann is not None else "")


def _tally(report: LossReport, what: str, ann: Annotation) -> None:
    """``report.add(what, f"annotation {ann.id}")`` with the example text built only the first time."""
    if what in report.examples:
        report.counts[what] += 1
    else:
        report.add(what, f"annotation {ann.id}")


def _note(report: LossReport, what: str, image: ImageRecord, ann: Annotation | None = None) -> None:
    """``report.add(what, _where(image, ann))``, the example text built only for the first of its kind:
    this runs per object, 100,000 times on a big dataset."""
    if what in report.examples:
        report.counts[what] += 1
    else:
        report.add(what, _where(image, ann))


def _box_points(box: Box) -> np.ndarray:
    return np.array([[box.x_min, box.y_min], [box.x_max, box.y_max]], dtype=np.float64)


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


def _polygon_bounds(images: Sequence[ImageRecord]) -> dict[int, np.ndarray]:
    """id(polygon) -> its ``(2, 2)`` min/max corners, for every polygon of the images, vectorised over
    blocks of ``BOUNDS_BLOCK`` polygons (all at once, the vertex copy would outweigh the dataset)."""
    polys = [a.shape for i in images for a in i.annotations if isinstance(a.shape, Polygon) and a.shape.parts]
    out: dict[int, np.ndarray] = {}
    for start in range(0, len(polys), BOUNDS_BLOCK):
        block = polys[start : start + BOUNDS_BLOCK]
        counts = [len(p.parts) for p in block]
        rings = [part.exterior for p in block for part in p.parts]
        lengths = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
        if (lengths == 0).any():
            continue  # degenerate rings: bounds one by one
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        pts = np.concatenate(rings)  # (V, 2)
        lo, hi = np.minimum.reduceat(pts, starts, axis=0), np.maximum.reduceat(pts, starts, axis=0)  # (R, 2)
        first = np.concatenate(([0], np.cumsum(counts)[:-1]))
        lo, hi = np.minimum.reduceat(lo, first, axis=0), np.maximum.reduceat(hi, first, axis=0)  # (P, 2)
        corners = np.stack([lo, hi], axis=1)  # (P, 2, 2)
        out.update((id(p), corners[i]) for i, p in enumerate(block))
    return out


def _shape_objects(
    task: str,
    cls: int,
    image: ImageRecord,
    ann: Annotation,
    report: LossReport,
    bounds: dict[int, np.ndarray] | None = None,
) -> list[_Object]:
    """Objects for one non-keypoint annotation in a task (``bounds``: from :func:`_polygon_bounds`)."""
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
    known = bounds.get(id(shape)) if bounds is not None else None
    return [_Object(cls, "box", known if known is not None else _box_points(shape.bounds()), sources=(ann,))]


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


def _label_lines(
    plans: Sequence[tuple[ImageRecord, str, list[_Object], ImageSize | None]],
    dims: int,
    conf: bool,
    report: LossReport,
) -> list[list[str]]:
    """The label lines of every image: every object checked, clipped, normalised and formatted at once."""
    flat: list[tuple[int, _Object, ImageSize]] = [
        (n, o, size) for n, (_, _, objs, size) in enumerate(plans) if size is not None for o in objs
    ]
    lines: list[list[str]] = [[] for _ in plans]
    if not flat:
        return lines
    count = len(flat)
    per_image = [len(objs) if size is not None else 0 for _, _, objs, size in plans]
    sizes = np.array([(s.width, s.height) if s is not None else (1, 1) for *_, s in plans], dtype=np.float64)
    scale = np.repeat(sizes, per_image, axis=0)  # (O, 2)
    is_box = np.array([o.kind in ("box", "pose") for _, o, _ in flat])  # (O,)
    box_rows = np.flatnonzero(is_box)
    ring_rows = np.flatnonzero(~is_box)
    # Boxes: (B, 2, 2) min/max corners; inverted ones sorted.
    boxes = np.stack([flat[i][1].points for i in box_rows.tolist()]) if len(box_rows) else np.zeros((0, 2, 2))
    inverted = (boxes[:, 1] < boxes[:, 0]).any(axis=1)
    if inverted.any():
        first = plans[flat[box_rows[np.argmax(inverted)]][0]][0]
        report.add(
            "inverted boxes (max < min) written with their corners sorted", _where(first), int(inverted.sum())
        )
        boxes = np.sort(boxes, axis=1)
    # Rings (polygons, oriented boxes): all points in one array, with each object's slice.
    ring_sets = [flat[i][1].points for i in ring_rows.tolist()]
    lengths = np.fromiter((len(r) for r in ring_sets), dtype=np.int64, count=len(ring_sets))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(lengths) else np.zeros(0, dtype=np.int64)
    points = np.concatenate(ring_sets) if ring_sets else np.zeros((0, 2))  # (P, 2)
    point_scale = np.repeat(scale[ring_rows], lengths, axis=0)  # (P, 2)
    # Keypoints of pose objects.
    kp_rows = [i for i, (_, o, _) in enumerate(flat) if o.keypoints is not None]
    kps = np.stack([flat[i][1].keypoints for i in kp_rows]) if kp_rows else np.zeros((0, 1, 3))  # (Q, K, 3)
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
        first = plans[flat[int(np.argmax(bad))][0]][0]
        report.add("objects reaching outside the image clipped to it", _where(first), int(bad.sum()))
        box_bad = bad[box_rows]
        boxes[box_bad] = np.clip(boxes[box_bad], 0.0, scale[box_rows][box_bad][:, None, :])
        point_bad = np.repeat(bad[ring_rows], lengths)
        points[point_bad] = np.clip(points[point_bad], 0.0, point_scale[point_bad])
        if kp_rows:
            kp_bad = bad[kp_rows]
            kps[kp_bad, :, :2] = np.clip(kps[kp_bad, :, :2], 0.0, scale[kp_rows][kp_bad][:, None, :])
    # Normalise and format every value at once.
    centre, extent = numbers.normalise_boxes(boxes[:, 0], boxes[:, 1], scale[box_rows])
    box_tokens = numbers.tokens(np.concatenate([centre, extent], axis=1))  # 4 per box
    ring_tokens = numbers.tokens(numbers.normalise(points, point_scale))  # 2 per point
    text = [""] * count
    classes = [str(o.cls) for _, o, _ in flat]
    for j, i in enumerate(box_rows.tolist()):
        text[i] = f"{classes[i]} {' '.join(box_tokens[4 * j : 4 * j + 4])}"
    for j, i in enumerate(ring_rows.tolist()):
        a = 2 * int(starts[j])
        text[i] = f"{classes[i]} {' '.join(ring_tokens[a : a + 2 * int(lengths[j])])}"
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
    if conf:
        for i, (_, o, _) in enumerate(flat):
            text[i] += f" {float(o.score)!r}"  # type: ignore[arg-type]
    for (n, _, _), line in zip(flat, text, strict=True):
        lines[n].append(line)
    return lines


# ----------------------------------------------------------------------------------------------- write


def write(dataset: Dataset, dst: Path, options: WriteOptions, task: str | None = None) -> LossReport:
    """Write the Ultralytics layout into the empty folder ``dst``; returns what YOLO could not carry.

    ``task`` (detect, segment, obb, pose) defaults to the content: pose if any keypoints, else segment
    if any polygon or mask, else obb if any rotated box, else detect; ``options.yolo_task`` when not given.
    """
    with _without_gc():
        return _write(dataset, Path(dst), options, task)


@contextmanager
def _without_gc() -> Iterator[None]:
    """Pause Python's cycle collector while every object is planned: none is in a reference cycle, and
    on 100,000 objects the collector would walk the whole dataset again and again for nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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

    bounds = _polygon_bounds(images) if task in ("detect", "pose") else None
    # Build every image's objects first: the confidence column is all or nothing.
    plans: list[tuple[ImageRecord, str, list[_Object], ImageSize | None]] = []
    for n, image in enumerate(images):
        if image.tags or image.attributes or image.extra:
            _report_image(image, report)
        known = [a for a in image.annotations if a.label in index]
        if len(known) < len(image.annotations):
            for a in image.annotations:
                if a.label not in index:
                    _note(report, "annotations of classes missing from the ontology left out", image, a)
        if task == "pose":
            objects = _pose_objects(image.with_annotations(known), names, k, report)
        else:
            objects = []
            for a in known:
                for obj in _shape_objects(task, index[a.label], image, a, report, bounds):
                    obj.score = a.score
                    objects.append(obj)
        size = None
        if objects:
            try:
                size = image.require_size()
            except (ValueError, FormatError):
                report.add("annotations of images with unknown size left out", _where(image), len(objects))
                objects = []
        plans.append((image, folders[n], objects, size))
    all_objects = [o for _, _, objs, _ in plans for o in objs]
    conf = bool(all_objects) and all(o.score is not None for o in all_objects)
    expected_source = Source.MODEL if conf else Source.HUMAN
    written = {id(a): a for o in all_objects for a in o.sources}
    paired = {id(a) for o in all_objects if len(o.sources) > 1 for a in o.sources}  # pose box + keypoints
    for a in written.values():
        _report_annotation(a, task, conf, expected_source, report, id(a) in paired)

    label_files: list[str] = []
    taken: dict[str, str] = {}
    for image, folder, _, _ in plans:
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

    made: set[Path] = set()
    for start, stop in _chunks(plans):  # memory bounded by a chunk, not by the dataset
        chunk = _label_lines(plans[start:stop], dims, conf, report)
        for rel, lines in zip(label_files[start:stop], chunk, strict=True):
            target = dst / rel
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            data = "".join(f"{line}\n" for line in lines).encode("utf-8")
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            try:  # one open and one write per file: thousands of label files
                os.write(fd, data)
            finally:
                os.close(fd)
    needs_task = task == "segment" and all_objects and all(len(o.points) == 4 for o in all_objects)
    write_yaml(dst / "data.yaml", dataset, names, split_keys(folders.values(), report), pose_doc, needs_task)
    return report


CHUNK_POINTS = 50_000  # coordinates normalised and formatted at once (their text is a transient)
BOUNDS_BLOCK = 8192  # polygons whose bounds are computed together


def _chunks(
    plans: Sequence[tuple[ImageRecord, str, list[_Object], ImageSize | None]],
) -> list[tuple[int, int]]:
    """Runs of whole images holding about ``CHUNK_POINTS`` coordinates each."""
    out, start, points = [], 0, 0
    for n, (_, _, objects, _) in enumerate(plans):
        points += sum(len(o.points) + (len(o.keypoints) if o.keypoints is not None else 0) for o in objects)
        if points >= CHUNK_POINTS:
            out.append((start, n + 1))
            start, points = n + 1, 0
    if start < len(plans) or not out:
        out.append((start, len(plans)))
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


def _report_annotation(
    a: Annotation, task: str, conf: bool, expected: Source, report: LossReport, paired: bool = False
) -> None:
    """Report what of one annotation YOLO cannot hold (one check after another: this runs per object)."""
    if a.attributes:
        _tally(report, "attributes", a)
    if a.crowd:
        _tally(report, "crowd flags", a)
    if a.track_id is not None:
        _tally(report, "track ids", a)
    if a.uncertainty is not None:
        _tally(report, "uncertainties", a)
    if a.z_order:
        _tally(report, "z-order", a)
    if a.score is not None and not conf:
        _tally(report, "scores (only written when every object has one)", a)
    if a.source is not expected:
        _tally(report, "sources human/model (read back from the confidence column)", a)
    if a.extra and any(k != CORNERS_KEY for k in a.extra):
        _tally(report, "annotation extra fields", a)
    if a.group_id is not None and (task != "pose" or not (paired or isinstance(a.shape, Keypoints | Box))):
        _tally(report, "group ids (only pose box/keypoint pairs are kept)", a)
