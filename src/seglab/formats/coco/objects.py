"""One COCO annotation (or result) into seglab annotations: geometry, and the fields beside it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from seglab.core.annotation import EMPTY, AttributeValue, Source, empty_to_shared
from seglab.core.geometry import Box, Keypoints
from seglab.core.mask import Mask
from seglab.formats.coco import shapes
from seglab.formats.coco.constants import ANN_KEYS, BadObjectError, is_int, is_scalar


@dataclass(frozen=True)
class Geometry:
    """The shapes of one COCO annotation: an area shape (polygon, mask or box), keypoints, or both.

    A person of a COCO keypoints file has keypoints *and* a segmentation and a bbox: seglab holds it as
    annotations sharing a group, the area shape and the keypoints (as a YOLO pose line gives a box and
    keypoints). The bbox beside a segmentation becomes a Box of its own only when it is not the
    segmentation's bounds (OCHuman's person boxes), which the reader decides once it has the bounds.
    Keypoints whose bbox is just the bounds of their labeled points and that have no ``segmentation`` key
    (what seglab writes for keypoints standing alone) make no box.
    """

    area: Box | Mask | Any | None
    points: Keypoints | None
    crowd: bool


def geometry(raw: Mapping[str, Any]) -> Geometry:
    """The shapes of a ground-truth annotation (raises BadObjectError with the reason)."""
    crowd = shapes.crowd_flag(raw)
    kp_raw, seg = raw.get("keypoints"), raw.get("segmentation")
    points = shapes.keypoints(kp_raw) if isinstance(kp_raw, list) and kp_raw else None
    area: Any = None
    if isinstance(seg, dict):
        area = shapes.mask_from_rle(seg)
    elif isinstance(seg, list) and seg:
        area = shapes.polygon(seg)
    elif seg is not None and not isinstance(seg, list):
        raise BadObjectError(f"segmentation must be polygons or an RLE, not {type(seg).__name__}")
    if area is None and "bbox" in raw:
        bbox = shapes.box(raw["bbox"])
        if points is None or "segmentation" in raw or raw["bbox"] != shapes.keypoints_bbox(points):
            area = bbox
    if area is None and points is None:
        raise BadObjectError("annotation has no segmentation, bbox or keypoints")
    return Geometry(area, points, crowd)


def result_shape(raw: Mapping[str, Any], extra: dict[str, Any]) -> tuple[Any, bool]:
    """The one shape of a COCO result; keypoint results keep their other geometry in ``extra``.

    Results stay one annotation each (a pose model's result is one prediction, scored once).
    """
    crowd = shapes.crowd_flag(raw)
    kp_raw, seg = raw.get("keypoints"), raw.get("segmentation")
    if isinstance(kp_raw, list) and kp_raw:
        shape = shapes.keypoints(kp_raw)
        box = shapes.keypoints_bbox(shape)
        derived = {"bbox": box, "area": box[2] * box[3], "num_keypoints": shape.num_labeled}
        for key in ("segmentation", "bbox", "area", "num_keypoints"):
            if key in raw and raw[key] != derived.get(key):
                extra[key] = raw[key]
        return shape, crowd
    if kp_raw is not None:
        extra["keypoints"] = kp_raw
    if isinstance(seg, dict):
        return shapes.mask_from_rle(seg), crowd
    if isinstance(seg, list) and seg:
        return shapes.polygon(seg), crowd
    if seg is not None and not isinstance(seg, list):
        raise BadObjectError(f"segmentation must be polygons or an RLE, not {type(seg).__name__}")
    if "bbox" in raw:
        return shapes.box(raw["bbox"]), crowd
    raise BadObjectError("annotation has no segmentation, bbox or keypoints")


def fields(raw: Mapping[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The non-geometry fields of an Annotation from a COCO object; what cannot be typed goes to ``extra``."""
    score = raw.get("score")
    if score is not None and (
        isinstance(score, bool) or not isinstance(score, int | float) or not np.isfinite(score)
    ):
        raise BadObjectError(f"score {score!r} is not a finite number")
    source = Source.MODEL if score is not None else Source.HUMAN
    if raw.get("source") in ("human", "model"):
        source = Source(raw["source"])
    elif "source" in raw:
        extra["source"] = raw["source"]
    attributes: Mapping[str, AttributeValue] = EMPTY  # shared: most objects have none
    raw_attrs = raw.get("attributes")
    if isinstance(raw_attrs, dict) and all(is_scalar(v) for v in raw_attrs.values()):
        attributes = empty_to_shared(raw_attrs)
    elif raw_attrs is not None:
        extra["attributes"] = raw_attrs  # nested values seglab cannot type: kept verbatim
    out: dict[str, Any] = {
        "attributes": attributes,
        "source": source,
        "score": None if score is None else float(score),
    }
    for key in ("group_id", "track_id", "z_order"):
        value = raw.get(key)
        if is_int(value):
            out[key] = value
        elif value is not None:
            extra[key] = value
    uncertainty = raw.get("uncertainty")
    if uncertainty is not None and (
        isinstance(uncertainty, bool) or not isinstance(uncertainty, float | int)
    ):
        extra["uncertainty"], uncertainty = uncertainty, None
    if uncertainty is not None:
        out["uncertainty"] = float(uncertainty)
    return out


def unknown_keys(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k not in ANN_KEYS}


def derived_area_fields(shape: Any, poly_stats: tuple[float, list[float]] | None = None) -> tuple[Any, Any]:
    """(bbox, area) that the writer derives for an area shape (polygons: from ``poly_stats``)."""
    if isinstance(shape, Box):
        bbox = shapes.xywh(shape)
        return bbox, float(shape.area)
    if isinstance(shape, Mask):
        return shapes.xywh(shape.bounds()), float(shape.area)
    assert poly_stats is not None
    return poly_stats[1], poly_stats[0]


def kept_fields(raw: Mapping[str, Any], bbox: Any, area: Any) -> dict[str, Any]:
    """The file's ``bbox`` and ``area`` that differ from the derived ones; a differing area keeps the
    file's bbox beside it, so the writer can tell whether the shape still fits them."""
    has_bbox, has_area = "bbox" in raw, "area" in raw
    area_differs = has_area and raw["area"] != area
    out: dict[str, Any] = {}
    if has_bbox and (area_differs or raw["bbox"] != bbox):
        out["bbox"] = raw["bbox"]
    if area_differs:
        out["area"] = raw["area"]
    return out
