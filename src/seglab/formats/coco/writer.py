"""Writing COCO: ``annotations/instances_<subset>.json`` per subset, and the images beside them.

Annotations are turned into JSON a slice at a time and streamed into the file (:mod:`.jsonio`), so the
written document never exists whole in memory. A polygon's ``area`` is its shoelace area and its ``bbox``
its bounds, computed for a slice of polygons at once (:func:`.shapes.polygon_stats`); nothing is
rasterized except polygons with holes, which COCO can only hold as RLE.

An area shape (polygon, mask or box) and a Keypoints of the same class that share a ``group_id`` are
merged into one COCO annotation, as COCO keypoint files have them (the reader splits them again).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seglab.core.annotation import Annotation, Source
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError
from seglab.core.geometry import Box, Keypoints, Polygon, PolygonPart, Polyline
from seglab.core.mask import Mask
from seglab.core.ontology import (
    COCO_PERSON_KEYPOINTS,
    COCO_PERSON_SIGMAS,
    AttributeSpec,
    LabelClass,
    Ontology,
    ShapeType,
    default_color,
)
from seglab.core.raster import polygon_to_mask
from seglab.core.runtime import gc_paused
from seglab.formats.base import LossReport, WriteOptions
from seglab.formats.coco import jsonio, shapes
from seglab.formats.coco.constants import (
    BBOX_TOLERANCE,
    BOX_ID_KEY,
    DEFAULT_SUBSET,
    DERIVED_KEYS,
    KEYPOINTS_ID_KEY,
    SEGLAB_KEY,
    TOP_KEYS,
    is_int,
)
from seglab.formats.media import copy_media
from seglab.formats.safe_io import safe_relative

SLICE = 2000  # annotations turned into JSON at once


# --------------------------------------------------------------------------------------------- categories


def category_ids(ontology: Ontology) -> dict[str, int]:
    """Class name -> COCO id: the class's own id when present and unique, new ids above them otherwise."""
    ids: dict[str, int] = {}
    used: set[int] = set()
    for c in ontology.classes:
        if c.id is not None and c.id not in used:
            ids[c.name] = c.id
            used.add(c.id)
    if len(ids) != len(ontology.classes) and not ids:
        return {c.name: i + 1 for i, c in enumerate(ontology.classes)}
    next_id = max(used, default=0) + 1
    for c in ontology.classes:
        if c.name not in ids:
            ids[c.name] = next_id
            next_id += 1
    return ids


def attribute_json(spec: AttributeSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"name": spec.name, "type": spec.type.value}
    if spec.choices:
        out["choices"] = list(spec.choices)
    for key in ("default", "minimum", "maximum"):
        if getattr(spec, key) is not None:
            out[key] = getattr(spec, key)
    return out


def category_json(
    cls: LabelClass, cid: int, with_isthing: bool, written: frozenset[ShapeType] = frozenset()
) -> dict[str, Any]:
    """One category. ``written``: the shape kinds its annotations are read back as; a class that restricts
    its shapes also allows those, so a converted shape (a rotated box as a polygon) still validates."""
    out: dict[str, Any] = {"id": cid, "name": cls.name, "supercategory": cls.parent or ""}
    if with_isthing:
        out["isthing"] = int(cls.is_thing)
    out["color"] = [int(c) for c in cls.color]
    sk = cls.skeleton
    if sk is not None:
        out["keypoints"] = list(sk.points)
        if sk.edges or "skeleton" not in cls.extra:  # else the source's unusable skeleton, verbatim
            out["skeleton"] = [[a + 1, b + 1] for a, b in sk.edges]
        if sk.sigmas is not None and not (
            sk.points == COCO_PERSON_KEYPOINTS and sk.sigmas == COCO_PERSON_SIGMAS
        ):
            out["sigmas"] = list(sk.sigmas)
        if sk.flip_index is not None:
            out["flip_index"] = list(sk.flip_index)
    if cls.attributes:
        out["attributes"] = [attribute_json(a) for a in cls.attributes]
    if cls.shapes:
        out["shapes"] = sorted(s.value for s in cls.shapes | written)
    for key, value in cls.extra.items():
        out.setdefault(key, value)
    return out


# --------------------------------------------------------------------------------------------- geometry


def image_size(image: ImageRecord) -> ImageSize | None:
    if image.size is not None:
        return image.size
    if image.media is not None:
        try:
            return image.media.size()
        except (FormatError, OSError, ValueError):
            return None
    return None


def flat_keypoints(points: np.ndarray) -> list[float | int]:
    """x, y, v triplets; integers where every value is one (visibility flags, pixel-snapped tools)."""
    if (points == np.floor(points)).all() and (np.abs(points) < 2**53).all():
        return points.astype(np.int64).ravel().tolist()
    return [v for x, y, vis in points.tolist() for v in (x, y, int(vis) if float(vis).is_integer() else vis)]


def rle_json(mask: Mask, crowd: bool) -> dict[str, Any]:
    """Compressed RLE, or uncompressed counts for crowd regions as COCO's own ground truth has them."""
    if crowd:
        runs = shapes.decode_counts(mask.rle_json()["counts"])  # from the RLE: no decode to pixels
        return {"size": [mask.size.height, mask.size.width], "counts": runs.tolist()}
    return mask.rle_json()


@dataclass(slots=True)
class Prepared:
    """The shape one annotation is written as, before its JSON (``kind``: box, polygon, mask, keypoints)."""

    kind: str
    shape: Any


def prepare(
    ann: Annotation, size: ImageSize | None, report: LossReport, where: str, for_results: bool = False
) -> Prepared | None:
    """What an annotation is written as, reporting every conversion; None when COCO cannot hold it."""
    shape = ann.shape
    if isinstance(shape, Box) and shape.rotation != 0.0:
        report.add("rotated boxes written as 4-corner polygons", where)
        shape = shape.to_polygon()
    if isinstance(shape, Box):
        return Prepared("box", shape)
    if isinstance(shape, Keypoints):
        return Prepared("keypoints", shape)
    if isinstance(shape, Mask):
        return Prepared("mask", shape)
    if isinstance(shape, Polyline):
        report.add("polylines left out (COCO has no open lines)", where)
        return None
    if not isinstance(shape, Polygon):
        raise TypeError(f"cannot write a {type(shape).__name__} to COCO")
    parts = shape.parts
    holes = False
    for part in parts:
        if len(part.exterior) < 3:
            parts = tuple(p for p in parts if len(p.exterior) >= 3)
            report.add("polygon parts with fewer than 3 points left out", where)
            break
        holes = holes or bool(part.holes)
    if not parts:
        report.add("polygons without any part of 3 or more points left out", where)
        return None
    holes = any(p.holes for p in parts) if parts is not shape.parts else holes
    if (holes or for_results) and size is not None:
        if holes:
            report.add("polygon holes written as RLE masks", where)
        else:
            report.add("polygons written as RLE masks (COCO results need RLE)", where)
        return Prepared("mask", polygon_to_mask(Polygon(parts), size.width, size.height))
    if for_results:
        report.add("polygons left out of results (image size unknown, cannot write an RLE)", where)
        return None
    if holes:
        report.add("polygon holes left out (image size unknown, cannot write an RLE)", where)
        parts = tuple(PolygonPart.trusted(p.exterior) for p in parts)
    return Prepared("polygon", shape if parts is shape.parts and not holes else Polygon(parts))


def writable(ann: Annotation) -> bool:
    """Whether :func:`prepare` gives something (without reporting): for choosing ids before writing."""
    shape = ann.shape
    if type(shape) is Polygon and len(shape.parts) == 1:  # the common case, without the generator below
        return len(shape.parts[0].exterior) >= 3
    if isinstance(shape, Polyline):
        return False
    if isinstance(shape, Polygon):
        return any(len(part.exterior) >= 3 for part in shape.parts)
    return True


def read_back_kind(ann: Annotation, size: ImageSize | None) -> ShapeType:
    """The kind an annotation is read back as (what :func:`prepare` converts it to)."""
    shape = ann.shape
    if isinstance(shape, Box):
        return ShapeType.POLYGON if shape.rotation != 0.0 else ShapeType.BOX
    if isinstance(shape, Polygon):
        return ShapeType.MASK if shape.has_holes and size is not None else ShapeType.POLYGON
    return shape.kind


def _finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)


def area_fields(extra: Mapping[str, Any], bbox: list[float], area: float) -> tuple[Any, Any]:
    """The ``bbox`` and ``area`` to write: the source's kept ones while the shape still has that bbox."""
    if "bbox" in extra:
        if not shapes.bbox_close(extra["bbox"], bbox):
            return bbox, area  # the shape changed since it was read: derive both again
        return extra["bbox"], extra.get("area", area)
    return bbox, extra.get("area", area)


class NonFiniteError(Exception):
    """A value to write is NaN or infinite (not JSON)."""


def geometry_json(
    prepared: Prepared, ann: Annotation, stats: tuple[float, list[float]] | None, crowd_rle: bool
) -> dict[str, Any]:
    """``segmentation``/``area``/``bbox`` (or ``keypoints`` and its fields) of a prepared shape."""
    kind, shape = prepared.kind, prepared.shape
    if kind == "keypoints":
        if not np.isfinite(shape.points).all():
            raise NonFiniteError("keypoints")
        out: dict[str, Any] = {"keypoints": flat_keypoints(shape.points)}
        out["num_keypoints"] = ann.extra.get("num_keypoints", shape.num_labeled)
        bbox = shapes.keypoints_bbox(shape)
        out["bbox"], out["area"] = area_fields(ann.extra, bbox, bbox[2] * bbox[3])
        return out
    if kind == "box":
        bbox = shapes.xywh(shape)
        if not _finite(bbox):
            raise NonFiniteError("box")
        written_bbox, area = area_fields(ann.extra, bbox, float(shape.area))
        return {"segmentation": [], "area": area, "bbox": written_bbox}
    if kind == "mask":
        bbox = shapes.xywh(shape.bounds())
        written_bbox, area = area_fields(ann.extra, bbox, float(shape.area))
        return {"segmentation": rle_json(shape, crowd_rle), "area": area, "bbox": written_bbox}
    assert stats is not None
    area, bbox = stats
    if not (math.isfinite(area) and _finite(bbox)):
        raise NonFiniteError("polygon")
    written_bbox, written_area = area_fields(ann.extra, bbox, area)
    segmentation = [p.exterior.ravel() for p in shape.parts]  # numpy: orjson writes them directly
    return {"segmentation": segmentation, "area": written_area, "bbox": written_bbox}


def fields_json(ann: Annotation, out: dict[str, Any], report: LossReport, where: str) -> None:
    """The non-geometry fields of an annotation, and its extra keys, added to ``out``."""
    if ann.score is not None:
        if math.isfinite(ann.score):
            out["score"] = float(ann.score)
        else:
            report.add("non-finite scores left out", where)
    if (ann.source is Source.MODEL) != (ann.score is not None):
        out["source"] = ann.source.value
    if ann.attributes:
        out["attributes"] = dict(ann.attributes)
    for key in ("group_id", "track_id", "uncertainty"):
        value = getattr(ann, key)
        if value is not None:
            out[key] = value
    if ann.z_order:
        out["z_order"] = ann.z_order
    for key, value in ann.extra.items():
        if key not in DERIVED_KEYS:
            out.setdefault(key, value)


# --------------------------------------------------------------------------------------------- units


@dataclass(slots=True)
class Unit:
    """One COCO annotation to write: an annotation, and the Keypoints and Box merged into it (if any).

    ``plain``: a polygon standing alone that is written as it is (see :func:`_plain_polygon`)."""

    ann: Annotation
    points: Annotation | None = None
    box: Annotation | None = None
    coco_id: int = 0
    plain: bool = False


def _same_object(first: Annotation, other: Annotation) -> bool:
    """Whether two annotations of a group can share one COCO annotation without losing anything."""
    return (
        first.crowd == other.crowd
        and first.score == other.score
        and first.source == other.source
        and dict(first.attributes) == dict(other.attributes)
        and (first.track_id, first.z_order, first.uncertainty)
        == (other.track_id, other.z_order, other.uncertainty)
        and writable(first)
    )


def _merge_box(region: Annotation, box: Annotation) -> bool:
    """A Box joins a polygon or mask only when it is not the region's bounds (the reader would not give
    it back) and carries no extra of its own but its kept bbox."""
    shape = box.shape
    assert isinstance(shape, Box)
    if shape.rotation != 0.0 or set(box.extra) - {"bbox"} or not _same_object(region, box):
        return False
    bounds = region.shape.bounds()
    return not shapes.bbox_close(shapes.xywh(shape), shapes.xywh(bounds))


def units(image: ImageRecord) -> list[Unit]:
    """The image's annotations as COCO annotations: in each group, one polygon or mask (else one box), one
    Keypoints and one other Box of the same class become one, as COCO persons are; the rest stand alone."""
    anns = image.annotations
    groups: dict[tuple[int, str], list[int]] = {}
    for i, a in enumerate(anns):
        if a.group_id is not None:
            groups.setdefault((a.group_id, a.label), []).append(i)
    if not groups:  # most images: every annotation stands alone
        return [Unit(a) for a in anns]
    merged: dict[int, Unit] = {}
    absorbed: set[int] = set()
    for members in groups.values():
        if len(members) < 2:
            continue
        kps = [i for i in members if isinstance(anns[i].shape, Keypoints)]
        regions = [i for i in members if isinstance(anns[i].shape, Polygon | Mask)]
        boxes = [i for i in members if isinstance(anns[i].shape, Box)]
        if len(kps) > 1 or len(regions) > 1 or len(boxes) > 1:
            continue
        main = regions[0] if regions else boxes[0] if boxes else None
        if main is None:
            continue
        unit = Unit(anns[main])
        if kps and _same_object(anns[main], anns[kps[0]]) and set(anns[kps[0]].extra) <= {"num_keypoints"}:
            unit.points = anns[kps[0]]
        if regions and boxes and _merge_box(anns[main], anns[boxes[0]]):
            unit.box = anns[boxes[0]]
        if unit.points is not None or unit.box is not None:
            merged[main] = unit
            absorbed.update(i for i, a in enumerate(anns) if a is unit.points or a is unit.box)
    return [merged.get(i) or Unit(a) for i, a in enumerate(anns) if i not in absorbed]


def keypoints_offset(coco_ids: Sequence[int]) -> int:
    """The reader's id for the keypoints half of a pair is its COCO id plus this (see the reader)."""
    return max(coco_ids) - min(coco_ids) + 1 if coco_ids else 1


def unit_json(
    unit: Unit, image_id: int, cid: int, report: LossReport, where: str, offset: int, keep_ids: bool,
    prepared: Prepared | None, stats: tuple[float, list[float]] | None,
) -> dict[str, Any] | None:  # fmt: skip
    """The JSON of one COCO annotation (``prepared``: its main shape, from :func:`prepare`)."""
    if prepared is None:
        return None
    ann, points, box = unit.ann, unit.points, unit.box
    out: dict[str, Any] = {"id": unit.coco_id, "image_id": image_id, "category_id": cid}
    out.update(geometry_json(prepared, ann, stats, ann.crowd))
    if box is not None:
        box_shape = box.shape
        assert isinstance(box_shape, Box)
        derived = shapes.xywh(box_shape)
        if not _finite(derived):
            raise NonFiniteError("box")
        out["bbox"], _ = area_fields(box.extra, derived, 0.0)
    out["iscrowd"] = int(ann.crowd)
    if points is not None:
        kp = points.shape
        assert isinstance(kp, Keypoints)
        if not np.isfinite(kp.points).all():
            raise NonFiniteError("keypoints")
        out["keypoints"] = flat_keypoints(kp.points)
        out["num_keypoints"] = points.extra.get("num_keypoints", kp.num_labeled)
    fields_json(ann, out, report, where)
    if points is not None or box is not None:
        if ann.group_id == unit.coco_id:
            del out["group_id"]  # the reader groups them under their COCO id
        if keep_ids and points is not None and points.id != unit.coco_id + offset:
            out[KEYPOINTS_ID_KEY] = points.id
        if keep_ids and box is not None and box.id != unit.coco_id + 2 * offset:
            out[BOX_ID_KEY] = box.id
    return out


# --------------------------------------------------------------------------------------------- write


def _safe_subset(subset: str) -> str:
    if not subset or "/" in subset or "\\" in subset or subset in (".", ".."):
        raise FormatError(f"subset name {subset!r} cannot be used as a file name")
    return subset


@dataclass
class _Plan:
    """Every image of one output file with its COCO annotations, ids assigned."""

    subset: str
    images: list[tuple[ImageRecord, str, ImageSize | None, list[Unit]]]


def _plain_polygon(ann: Annotation) -> bool:
    """Whether :func:`prepare` would give the annotation's own polygon back without a word to the report
    (every part of 3 or more points, no holes): most annotations, written by the fast path of
    :func:`_slice_json`."""
    shape = ann.shape
    if type(shape) is not Polygon:
        return False
    parts = shape.parts
    if len(parts) == 1:
        part = parts[0]
        return len(part.exterior) >= 3 and not part.holes
    return bool(parts) and all(len(p.exterior) >= 3 and not p.holes for p in parts)


_PLAIN = Prepared("polygon", None)  # a plain unit's own polygon (read from the unit: no object per unit)


def _slices(
    plan: _Plan, cat_ids: Mapping[str, int], report: LossReport, offset: int, keep_ids: bool, path: Path
) -> Iterator[list[dict[str, Any]]]:  # fmt: skip
    """The annotations of one file as JSON, ``SLICE`` at a time (polygon stats computed per slice)."""
    batch: list[tuple[Unit, int, str, Prepared | None]] = []
    count = 0
    for image, name, size, image_units in plan.images:
        for unit in image_units:
            ann = unit.ann
            if unit.plain:
                prepared: Prepared | None = _PLAIN  # the annotation's own polygon
                count += 1
            else:
                where = f"{name}: annotation {ann.id}"
                prepared = prepare(ann, size, report, where)
                count += 1 + (unit.points is not None)
            batch.append((unit, image.id, name, prepared))
        if count >= SLICE:
            yield _slice_json(batch, cat_ids, report, offset, keep_ids, path)
            batch, count = [], 0
    if batch:
        yield _slice_json(batch, cat_ids, report, offset, keep_ids, path)


def _kept_bboxes_close(kept: list[Any], derived: np.ndarray) -> list[bool]:
    """:func:`shapes.bbox_close` of every kept bbox (a list of 4 numbers) and its derived row, at once."""
    if not kept:
        return []
    values = set(map(type, itertools.chain.from_iterable(kept)))
    if not values <= {int, float}:  # anything else as bbox_close decides it
        return [shapes.bbox_close(k, d) for k, d in zip(kept, derived.tolist(), strict=True)]
    a = np.array(kept, dtype=np.float64)  # (K, 4)
    return (np.abs(a - derived) <= BBOX_TOLERANCE + 1e-9 * np.abs(derived)).all(axis=1).tolist()


def _slice_json(
    batch: list[tuple[Unit, int, str, Prepared | None]], cat_ids: Mapping[str, int],
    report: LossReport, offset: int, keep_ids: bool, path: Path,
) -> list[dict[str, Any]]:  # fmt: skip
    polys = [
        u.ann.shape if p is _PLAIN else p.shape for u, *_, p in batch if p is not None and p.kind == "polygon"
    ]
    areas, boxes = shapes.polygon_stats(polys)
    areas_list, boxes_list = areas.tolist(), boxes.tolist()
    finite = (np.isfinite(areas) & np.isfinite(boxes).all(axis=1)).tolist()
    # The bbox read from the file is written back while the polygon still has (nearly) that box: checked
    # for every polygon of the slice at once.
    extras = [u.ann.extra for u, *_, p in batch if p is not None and p.kind == "polygon"]
    kept_at = [i for i, e in enumerate(extras) if e and type(e.get("bbox")) is list and len(e["bbox"]) == 4]
    kept = [extras[i]["bbox"] for i in kept_at]
    close = dict(zip(kept_at, _kept_bboxes_close(kept, boxes[kept_at]), strict=True))
    out = []
    k = 0
    for unit, image_id, name, prepared in batch:
        ann = unit.ann
        if prepared is not None and prepared.kind == "polygon":
            if not finite[k]:
                where = f"{name}: annotation {ann.id}"
                raise FormatError(
                    f"cannot write: {where}: the polygon has NaN or infinite coordinates; run validate to "
                    "find it",
                    file=str(path),
                )
            if unit.points is None and unit.box is None:
                cid, own = cat_ids[ann.label], (areas_list[k], boxes_list[k])
                out.append(
                    _polygon_json(unit, polys[k], image_id, cid, own, close.get(k, False), report, name)
                )
                k += 1
                continue
            stats: tuple[float, list[float]] | None = (areas_list[k], boxes_list[k])
            k += 1
        else:
            stats = None
        where = f"{name}: annotation {ann.id}"
        try:
            entry = unit_json(
                unit, image_id, cat_ids[ann.label], report, where, offset, keep_ids, prepared, stats
            )
        except NonFiniteError as exc:
            raise FormatError(
                f"cannot write: {where}: the {exc} has NaN or infinite coordinates; run validate to find it",
                file=str(path),
            ) from None
        if entry is not None:
            out.append(entry)
    return out


def _polygon_json(
    unit: Unit, shape: Polygon, image_id: int, cid: int, stats: tuple[float, list[float]], close: bool,
    report: LossReport, name: str,
) -> dict[str, Any]:  # fmt: skip
    """:func:`unit_json` of an annotation standing alone written as ``shape`` (a polygon, its ``stats``
    finite; ``close``: whether the annotation's kept bbox is still its box), written out: this runs per
    annotation, 100,000 times on a big dataset."""
    ann = unit.ann
    area, bbox = stats
    extra = ann.extra
    if not extra:
        written_bbox, written_area = bbox, area
    elif "bbox" in extra:
        written_bbox, written_area = (extra["bbox"], extra.get("area", area)) if close else (bbox, area)
    else:
        written_bbox, written_area = bbox, extra.get("area", area)
    out: dict[str, Any] = {
        "id": unit.coco_id,
        "image_id": image_id,
        "category_id": cid,
        "segmentation": [p.exterior.ravel() for p in parts]  # numpy: orjson writes them directly
        if len(parts := shape.parts) > 1
        else [parts[0].exterior.ravel()],
        "area": written_area,
        "bbox": written_bbox,
        "iscrowd": int(ann.crowd),
    }
    if (
        ann.score is not None
        or ann.source is not Source.HUMAN
        or ann.attributes
        or ann.group_id is not None
        or ann.track_id is not None
        or ann.uncertainty is not None
        or ann.z_order
        or (extra and not extra.keys() <= DERIVED)
    ):
        fields_json(ann, out, report, f"{name}: annotation {ann.id}")
    return out


DERIVED = frozenset(DERIVED_KEYS)


def write(dataset: Dataset, dst: Path, options: WriteOptions) -> LossReport:
    """Write ``annotations/instances_<subset>.json`` per subset (and the images); return what was lost.

    Images without a subset go to ``default`` (the registry names them first when asked to:
    ``WriteOptions.default_subset``).
    """
    with gc_paused():  # millions of small objects, none in a reference cycle
        return _write(dataset, Path(dst), options)


def _write(dataset: Dataset, dst: Path, options: WriteOptions) -> LossReport:
    dst = Path(dst)
    report = LossReport()
    ontology = dataset.ontology
    declared = set(ontology.names)
    missing = [a.label for image in dataset.images for a in image.annotations if a.label not in declared]
    for name in dict.fromkeys(missing):  # classes used but not declared: declare them rather than drop
        ontology = ontology.with_class(LabelClass(name, default_color(len(ontology) + 1)))
    cat_ids = category_ids(ontology)
    with_isthing = any(not c.is_thing for c in ontology.classes)
    ann_ids = [a.id for image in dataset.images for a in image.annotations]
    plain_ints = set(map(type, ann_ids)) <= {int}  # is_int of each, without a call per annotation
    keep_ids = (plain_ints or all(is_int(i) for i in ann_ids)) and len(set(ann_ids)) == len(ann_ids)
    info = dict(dataset.info)
    head: dict[str, Any] = {
        "info": info.pop("info", {}) if isinstance(info.get("info"), dict) else {},
        "licenses": info.pop("licenses", []) if isinstance(info.get("licenses"), list) else [],
    }
    for key in [k for k in info if k in TOP_KEYS]:
        report.add(f"dataset info key {key!r} left out (a COCO key)", key)
        info.pop(key)
    seglab = {
        k: v
        for k, v in (
            ("tags", list(ontology.tags)),
            ("image_attributes", [attribute_json(a) for a in ontology.image_attributes]),
            ("full_coverage", ontology.full_coverage),
        )
        if v
    }
    # Plan every file first: the ids written, and from them the keypoints ids the reader derives.
    plans: dict[str, _Plan] = {}
    for image in dataset.images:
        subset = _safe_subset(image.subset or DEFAULT_SUBSET)
        plans.setdefault(subset, _Plan(subset, []))
    if not plans:
        subset = _safe_subset(options.subset or DEFAULT_SUBSET)
        plans[subset] = _Plan(subset, [])
    next_id = 1
    written_ids: list[int] = []
    restricted = {c.name for c in ontology.classes if c.shapes}
    kinds: dict[str, set[ShapeType]] = {name: set() for name in restricted}
    for image in dataset.images:
        name = safe_relative(image.file_name, file=image.file_name, where=f"image {image.id}")
        size = image_size(image)
        image_units = units(image)
        for unit in image_units:
            unit.coco_id = unit.ann.id if keep_ids else next_id
            next_id += 1
            unit.plain = unit.points is None and unit.box is None and _plain_polygon(unit.ann)
            if unit.plain or writable(unit.ann):
                written_ids.append(unit.coco_id)
                if unit.ann.label in restricted:
                    kinds[unit.ann.label].add(read_back_kind(unit.ann, size))
                    if unit.points is not None:
                        kinds[unit.ann.label].add(ShapeType.KEYPOINTS)
                    if unit.box is not None:
                        kinds[unit.ann.label].add(ShapeType.BOX)
        plan = plans[_safe_subset(image.subset or options.subset or DEFAULT_SUBSET)]
        plan.images.append((image, name, size, image_units))
    offset = keypoints_offset(written_ids)
    categories = [
        category_json(c, cat_ids[c.name], with_isthing, frozenset(kinds.get(c.name, ())))
        for c in ontology.classes
    ]

    (dst / "annotations").mkdir(parents=True, exist_ok=True)
    for subset, plan in plans.items():
        path = dst / "annotations" / f"instances_{subset}.json"
        images_json = []
        for image, name, size, _ in plan.images:
            entry: dict[str, Any] = {"id": int(image.id), "file_name": name}
            if size is not None:
                entry.update(width=int(size.width), height=int(size.height))
            else:
                report.add("images without a known size (width/height left out)", name)
            if image.tags:
                entry["tags"] = list(image.tags)
            if image.attributes:
                entry["attributes"] = dict(image.attributes)
            for key, value in image.extra.items():
                entry.setdefault(key, value)
            images_json.append(entry)
            if options.copy_images and not copy_media(image, dst / "images" / subset / name):
                report.add("image files not copied (no pixels known)", name)
        try:
            with path.open("wb") as fh:
                doc = jsonio.JsonObjectWriter(fh)
                for key, value in head.items():
                    doc.value(key, value)
                doc.value("images", images_json)
                doc.array("annotations", _slices(plan, cat_ids, report, offset, keep_ids, path))
                doc.value("categories", categories)
                for key, value in info.items():
                    doc.value(key, value)
                if seglab:
                    doc.value(SEGLAB_KEY, seglab)
                doc.close()
        except jsonio.NonFiniteError:
            raise FormatError(
                "cannot write: a value is NaN or infinite (not JSON); run validate to find it", file=str(path)
            ) from None
        except TypeError as exc:  # an extra field holding something JSON cannot hold
            raise FormatError(f"cannot write: {exc}", file=str(path)) from None
    return report
