"""Which annotations of an image become one VOC object (a box, the shapes of its instance, its parts),
and everything about them that the VOC files will not give back."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from seglab.core.annotation import Annotation, Source
from seglab.core.dataset import ImageRecord
from seglab.core.geometry import Box, Keypoints, Polygon, Polyline
from seglab.core.mask import Mask
from seglab.formats.base import LossReport
from seglab.formats.voc.constants import ANNOTATION_EXTRA_KEYS, FLAGS, IMAGE_EXTRA_KEYS, NO_POSE
from seglab.formats.voc.xml_io import attribute_from_text


@dataclass
class VocObject:
    """One VOC object to write: its box (or None: derive it), its pixels, its parts."""

    box: Annotation | None = None
    areas: list[Annotation] = field(default_factory=list)
    parts: list[Annotation] = field(default_factory=list)

    @property
    def main(self) -> Annotation:
        return self.box if self.box is not None else self.areas[0]


def plan_objects(image: ImageRecord, losses: LossReport) -> list[VocObject]:
    """Group an image's annotations into VOC objects: a box, the shapes of its instance, its parts."""
    objects: dict[tuple, VocObject] = {}
    parts: list[Annotation] = []
    for i, ann in enumerate(image.annotations):
        shape = ann.shape
        if isinstance(shape, Polyline | Keypoints):
            losses.add(f"{shape.kind.value} shapes (VOC holds boxes and pixel masks)", image.file_name)
            continue
        if not isinstance(shape, Mask) and not np.isfinite(shape.coordinates()).all():
            losses.add("shapes with NaN or infinite coordinates (left out)", f"{image.file_name}: {ann.id}")
            continue
        if isinstance(shape, Box) and ann.extra.get("voc_part"):
            parts.append(ann)
            continue
        key: tuple = ("group", ann.group_id) if ann.group_id is not None else ("alone", i)
        obj = objects.setdefault(key, VocObject())
        if isinstance(shape, Box):
            if obj.box is not None:
                losses.add("second box of a group written as its own object (group dropped)", image.file_name)
                obj = objects.setdefault(("alone", i), VocObject())
            obj.box = ann
        else:
            obj.areas.append(ann)
    for i, part in enumerate(parts):
        parent = objects.get(("group", part.group_id)) if part.group_id is not None else None
        if parent is None:
            losses.add("part without its object written as a box of its own", image.file_name)
            objects[("orphan part", i)] = VocObject(box=part)
        else:
            parent.parts.append(part)
    return list(objects.values())


def _check_annotation_fields(ann: Annotation, image: ImageRecord, losses: LossReport, part: bool) -> None:
    where = f"{image.file_name}: annotation {ann.id}"
    if ann.source is not Source.HUMAN:
        losses.add("annotation source (model predictions read back as human labels)", where)
    for name in ("score", "uncertainty", "track_id"):
        if getattr(ann, name) is not None:
            losses.add(f"annotation {name}", where)
    if ann.crowd:
        losses.add("crowd flag", where)
    if ann.z_order:
        losses.add("z_order (VOC keeps only the painted result)", where)
    if isinstance(ann.shape, Box) and ann.shape.rotation:
        losses.add("rotated boxes written as their axis-aligned bounds", where)
    for key in ann.extra:
        if key not in ANNOTATION_EXTRA_KEYS:
            losses.add(f"annotation extra field {key!r} (VOC has no place for it)", where)
    if part and ann.attributes:
        losses.add("attributes of parts (a VOC <part> has only a name and a box)", where)
    for name, value in ann.attributes.items():
        if name == "pose" and isinstance(value, str):
            if value in (NO_POSE, "") or value != value.strip():
                losses.add(f"pose values read back differently ({NO_POSE!r}, empty or padded)", where)
        elif name in FLAGS and value is False:
            losses.add("false truncated/difficult/occluded flags (VOC's default: read back as absent)", where)
        elif isinstance(value, str) and attribute_from_text(value) != value:
            losses.add("text attributes that read back as numbers or true/false", where)
        elif isinstance(value, float) and not math.isfinite(value):
            losses.add("non-finite number attributes (read back as text)", where)


def report_image_losses(image: ImageRecord, objects: Sequence[VocObject], losses: LossReport) -> None:
    """Everything about the image and its objects that reading the VOC files back will not give."""
    for key in image.extra:
        if key not in IMAGE_EXTRA_KEYS:
            losses.add(f"image extra field {key!r} (VOC has no place for it)", image.file_name)
    if image.attributes:
        losses.add("image attributes", image.file_name)
    polygons = 0
    for k, obj in enumerate(objects, 1):
        where = f"{image.file_name}: object {k}"
        labels = {a.label for a in obj.areas}
        group = k if (obj.box is not None) + len(obj.parts) + len(labels) > 1 else None
        for ann in (*([obj.box] if obj.box is not None else []), *obj.areas):
            _check_annotation_fields(ann, image, losses, part=False)
        for ann in obj.parts:
            _check_annotation_fields(ann, image, losses, part=True)
        for ann in (*([obj.box] if obj.box is not None else []), *obj.parts, *obj.areas):
            if ann.group_id is not None and ann.group_id != group:
                losses.add(
                    "group_id renumbered (VOC groups a box, its mask and parts by object index)", where
                )
        for ann in obj.areas:
            if ann is not obj.main and ann.attributes and ann.attributes != obj.main.attributes:
                losses.add("attributes of an object's other shapes (the XML object has one set)", where)
        if len(obj.areas) > len(labels):
            losses.add(
                "shapes of one object and class merged into one mask", where, len(obj.areas) - len(labels)
            )
        polygons += sum(isinstance(a.shape, Polygon) for a in obj.areas)
    if polygons:
        losses.add(
            "polygons written as pixels in the segmentation PNGs (read back as masks)",
            image.file_name,
            polygons,
        )
