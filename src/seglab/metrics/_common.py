"""What every metric shares: pairing the images of two label sets, grouping annotations into objects.

Two label sets (ground truth and predictions, or two annotators) are paired image by image on the file name,
then on the file stem (predictions read from another format often lose the folder), then on the image id.
A prediction for an image the ground truth does not have is an error, as it is for pycocotools ("Results do
not correspond to current coco set"): it nearly always means the wrong files were paired.

One *object* is one annotation, or several annotations of one class sharing a ``group_id`` (a COCO person
read as a box, a polygon and keypoints). Metrics take the geometry they need from the object.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
from pycocotools import mask as coco_mask

from seglab.core.annotation import Annotation, AttributeValue
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import SeglabError
from seglab.core.geometry import Box, Keypoints, Polygon
from seglab.core.mask import Mask
from seglab.core.raster import polygon_to_mask

_NO_ATTRIBUTES: Mapping[str, AttributeValue] = MappingProxyType({})


class MetricInputError(SeglabError):
    """The inputs of a metric do not fit together (unknown images, mismatched sizes, unknown classes)."""


@dataclass(frozen=True)
class ImagePair:
    """One image of the reference set and the same image in the other set (None: nothing was predicted)."""

    gt: ImageRecord
    pred: ImageRecord | None


def _examples(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def pair_images(gt: Dataset, pred: Dataset) -> list[ImagePair]:
    """Pair every ground-truth image with its prediction record; raise on predictions for unknown images."""
    by_name: dict[str, ImageRecord] = {}
    by_stem: dict[str, list[ImageRecord]] = {}
    by_id: dict[int, ImageRecord] = {}
    for rec in gt.images:
        by_name.setdefault(rec.file_name, rec)
        by_stem.setdefault(rec.stem, []).append(rec)
        by_id.setdefault(rec.id, rec)
    found: dict[int, ImageRecord] = {}  # python id of the gt record -> pred record
    unknown: list[str] = []
    for rec in pred.images:
        target = by_name.get(rec.file_name)
        if target is None:
            stems = by_stem.get(rec.stem, [])
            target = stems[0] if len(stems) == 1 else None
        if target is None and not rec.file_name:
            target = by_id.get(rec.id)
        if target is None:
            unknown.append(rec.file_name or f"id {rec.id}")
            continue
        if id(target) in found:
            if rec.annotations:
                raise MetricInputError(f"two prediction records refer to the image {target.file_name!r}")
            continue
        found[id(target)] = rec
    if unknown:
        raise MetricInputError(
            f"{len(unknown)} predicted image(s) are not in the ground truth: {_examples(unknown)}; "
            "check that both sets describe the same images"
        )
    return [ImagePair(rec, found.get(id(rec))) for rec in gt.images]


def unknown_labels(gt: Dataset, pred: Dataset) -> list[str]:
    """Classes used by the predictions that the ground-truth ontology does not know, in first-seen order."""
    known = set(gt.ontology.names)
    seen: dict[str, None] = {}
    for _img, ann in pred.annotations():
        if ann.label not in known:
            seen.setdefault(ann.label, None)
    return list(seen)


def image_size(pair: ImagePair, *, required: bool) -> ImageSize | None:
    """The size of a pair's image; the two records must agree when both know it."""
    size = pair.gt.size
    if size is None and required:
        size = pair.gt.require_size()
    pred_size = pair.pred.size if pair.pred is not None else None
    if size is not None and pred_size is not None and pred_size != size:
        raise MetricInputError(
            f"image {pair.gt.file_name!r} is {size.width}x{size.height} in the ground truth but "
            f"{pred_size.width}x{pred_size.height} in the predictions"
        )
    if size is None:
        size = pred_size
    return size


def _finite_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _hint_box(value: object) -> Box | None:
    """A COCO ``[x, y, w, h]`` kept in an annotation's ``extra`` (the source's own bbox)."""
    if isinstance(value, list | tuple) and len(value) == 4:
        nums = [_finite_number(v) for v in value]
        if all(n is not None for n in nums):
            x, y, w, h = (float(n) for n in nums)  # type: ignore[arg-type]
            return Box.from_xywh(x, y, w, h)
    return None


def _hint_region(value: object) -> Polygon | Mask | None:
    """A COCO ``segmentation`` kept in ``extra`` (a keypoint annotation's outline), when it is well formed."""
    try:
        if isinstance(value, dict) and "counts" in value and "size" in value:
            return Mask.from_rle(value)
        if isinstance(value, list) and value and all(isinstance(r, list) and len(r) >= 6 for r in value):
            polygon = Polygon.from_flat(value)
            return polygon if np.isfinite(polygon.coordinates()).all() else None
    except (TypeError, ValueError, KeyError):
        return None
    return None


class LabeledObject(NamedTuple):
    """One object of one image: its class, flags and every piece of geometry its annotations give.

    A named tuple rather than a frozen dataclass: every COCO evaluation builds one per object of the whole
    dataset, and a tuple is several times cheaper to create while staying immutable.
    """

    label: str
    crowd: bool = False
    score: float | None = None
    box: Box | None = None
    bbox_hint: Box | None = None
    regions: tuple[Polygon | Mask, ...] = ()
    keypoints: Keypoints | None = None
    area_hint: float | None = None
    attributes: Mapping[str, AttributeValue] = _NO_ATTRIBUTES
    annotation_ids: tuple[int, ...] = ()

    @property
    def has_box(self) -> bool:
        """Whether the object has an extent of its own (not only keypoints) to give a COCO box."""
        return self.box is not None or self.bbox_hint is not None or bool(self.regions)

    def bbox(self) -> Box | None:
        """The axis-aligned box: a box annotation or the source's bbox, else the bounds of the geometry."""
        if self.box is not None:
            return self.box.bounds()
        if self.bbox_hint is not None:
            return self.bbox_hint
        if self.regions:
            bounds = [r.bounds() for r in self.regions]
            return Box(
                min(b.x_min for b in bounds),
                min(b.y_min for b in bounds),
                max(b.x_max for b in bounds),
                max(b.y_max for b in bounds),
            )
        if self.keypoints is not None and self.keypoints.num_labeled:
            return self.keypoints.bounds()
        return None

    def rle(self, size: ImageSize) -> dict:
        """The object's pixels as one compressed RLE (regions united; a lone box is rasterized)."""
        rles = []
        for region in self.regions:
            if isinstance(region, Mask):
                if region.size != size:
                    raise MetricInputError(
                        f"a mask of class {self.label!r} is {region.size.width}x{region.size.height} "
                        f"but its image is {size.width}x{size.height}"
                    )
                rles.append(region.rle)
            else:
                rles.append(polygon_to_mask(region, size.width, size.height).rle)
        if not rles:
            box = self.box.bounds() if self.box is not None else None
            if box is None:
                return coco_mask.encode(np.zeros((size.height, size.width, 1), dtype=np.uint8, order="F"))[0]
            return polygon_to_mask(box.to_polygon(), size.width, size.height).rle
        return rles[0] if len(rles) == 1 else coco_mask.merge(rles, intersect=False)


def objects(annotations: Sequence[Annotation]) -> list[LabeledObject]:
    """Group an image's annotations into objects (same class and ``group_id``), in first-seen order.

    This runs once per annotation of a whole dataset before every COCO evaluation, so the common cases (no
    groups at all; an annotation that is its own object, with no source hints) take short paths.
    """
    if all(ann.group_id is None for ann in annotations):
        return [_single_object(ann) for ann in annotations]
    groups: dict[object, list[Annotation]] = {}
    for index, ann in enumerate(annotations):
        key = index if ann.group_id is None else (ann.label, ann.group_id)
        members = groups.get(key)
        if members is None:
            groups[key] = [ann]
        else:
            members.append(ann)
    return [
        _single_object(members[0]) if len(members) == 1 else _grouped_object(members)
        for members in groups.values()
    ]


_new_object = tuple.__new__  # LabeledObject from a full positional tuple, without the keyword machinery


def _single_object(ann: Annotation) -> LabeledObject:
    """The object of one annotation; the same as ``_grouped_object([ann])``, without its loops."""
    if ann.extra or ann.attributes:
        return _grouped_object([ann])
    shape = ann.shape
    kind = type(shape)
    box = regions = keypoints = None
    if kind is Box:
        box = shape
    elif kind is Polygon or kind is Mask:
        regions = (shape,)
    elif isinstance(shape, Box):
        box = shape
    elif isinstance(shape, Polygon | Mask):
        regions = (shape,)
    elif isinstance(shape, Keypoints):
        keypoints = shape
    # fields in LabeledObject's order: label, crowd, score, box, bbox_hint, regions, keypoints, area_hint,
    # attributes, annotation_ids
    fields = (ann.label, ann.crowd, ann.score, box, None, regions or (), keypoints, None, _NO_ATTRIBUTES)
    return _new_object(LabeledObject, (*fields, (ann.id,)))


def _grouped_object(members: Sequence[Annotation]) -> LabeledObject:
    box = hint_box = area = keypoints = score = None
    crowd = False
    regions: list[Polygon | Mask] = []
    hinted: list[Polygon | Mask] = []
    attributes: dict[str, AttributeValue] = {}
    for a in members:
        shape = a.shape
        kind = type(shape)
        if kind is Box:
            box = box or shape
        elif kind is Polygon or kind is Mask or isinstance(shape, Polygon | Mask):
            regions.append(shape)
        elif isinstance(shape, Box):
            box = box or shape
        elif isinstance(shape, Keypoints):
            keypoints = keypoints or shape
        crowd = crowd or a.crowd
        if a.score is not None:
            score = a.score if score is None else max(score, a.score)
        if a.attributes:
            attributes.update(a.attributes)
        extra = a.extra
        if extra:  # the source's own bbox, area and (for keypoints) outline; most carry only some
            if hint_box is None and "bbox" in extra:
                hint_box = _hint_box(extra["bbox"])
            if area is None and "area" in extra:
                value = extra["area"]
                area = value if type(value) is float and math.isfinite(value) else _finite_number(value)
            if "segmentation" in extra and (r := _hint_region(extra["segmentation"])) is not None:
                hinted.append(r)
    return _new_object(
        LabeledObject,
        (
            members[0].label,
            crowd,
            score,
            box,
            hint_box,
            tuple(regions or hinted),
            keypoints,
            area,
            attributes,
            tuple([a.id for a in members]),
        ),
    )


def _single_ring(obj: LabeledObject) -> np.ndarray | None:
    """The flat exterior of an object that is one polygon ring without holes (the common COCO case).

    An array, not a list: pycocotools' ``frPoly`` makes an array of each polygon anyway.
    """
    if len(obj.regions) != 1 or not isinstance(obj.regions[0], Polygon):
        return None
    parts = obj.regions[0].parts
    if len(parts) != 1 or parts[0].holes or len(parts[0].exterior) < 3:
        return None  # (fewer than 3 points would read as a bbox to frPyObjects)
    return parts[0].exterior.ravel()


def object_rles(objs: Sequence[LabeledObject], size: ImageSize) -> list[dict]:
    """``obj.rle(size)`` for every object, single-ring polygons rasterized in one pycocotools call."""
    rings = [_single_ring(o) for o in objs]
    simple = [i for i, r in enumerate(rings) if r is not None]
    out: list[dict | None] = [None] * len(objs)
    if simple:
        batch = coco_mask.frPyObjects([rings[i] for i in simple], size.height, size.width)
        for i, rle in zip(simple, batch, strict=True):
            out[i] = rle
    return [rle if rle is not None else objs[i].rle(size) for i, rle in enumerate(out)]


def json_number(value: float) -> float | None:
    """A float for JSON: NaN (undefined) becomes null."""
    value = float(value)
    return None if math.isnan(value) else value


def format_number(value: float, digits: int = 3) -> str:
    """A table cell: undefined values read as n/a."""
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def region_rle(shape: object, size: ImageSize, *, include_boxes: bool = False) -> dict | None:
    """The compressed RLE of the pixels an area shape covers (None for polylines, keypoints, boxes unless
    asked); a mask of another size than its image is an error."""
    if isinstance(shape, Mask):
        if shape.size != size:
            raise MetricInputError(
                f"a mask is {shape.size.width}x{shape.size.height} "
                f"but its image is {size.width}x{size.height}"
            )
        return shape.rle
    if isinstance(shape, Polygon):
        return polygon_to_mask(shape, size.width, size.height).rle
    if isinstance(shape, Box) and include_boxes:
        return polygon_to_mask(shape.to_polygon(), size.width, size.height).rle
    return None


def region_pixels(shape: object, size: ImageSize, *, include_boxes: bool = False) -> np.ndarray | None:
    """The pixels an area shape covers, ``(H, W)`` bool, decoded afresh.

    Unlike ``Mask.array`` nothing is cached on the dataset's masks, so evaluating a large dataset image by
    image keeps memory bounded by one image. Polylines and keypoints cover no area (None).
    """
    rle = region_rle(shape, size, include_boxes=include_boxes)
    return None if rle is None else coco_mask.decode(rle).view(bool)


def paint(
    annotations: Sequence[Annotation],
    size: ImageSize,
    value_of: Mapping[int, int],
    *,
    fill: int,
    include_boxes: bool = False,
) -> np.ndarray:
    """A ``(H, W)`` int32 map: each annotation (by position) painted with its value, higher z on top.

    Same overlap rule as :func:`seglab.core.segmentation.semantic_map`: stable sort by z, later wins.
    Annotations missing from ``value_of`` are left out.
    """
    out = np.full(size.shape, fill, dtype=np.int32)  # (H, W)
    order = sorted(value_of, key=lambda i: (annotations[i].z_order, i))
    for index in order:
        pixels = region_pixels(annotations[index].shape, size, include_boxes=include_boxes)
        if pixels is not None:
            out[pixels] = value_of[index]
    return out
