"""Explained checks of a dataset: each problem is an :class:`Issue` saying where and why.

``validate`` never raises on bad data and never changes it; the formats and the CLI decide what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from seglab.core.annotation import Annotation
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.geometry import Box, Keypoints, Polygon, Polyline
from seglab.core.mask import Mask
from seglab.core.ontology import LabelKind, Ontology
from seglab.core.raster import shape_to_mask


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Issue:
    """One problem: ``code`` is stable for scripts, ``message`` is for people."""

    code: str
    message: str
    image: str | None = None
    annotation_id: int | None = None
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = [
            p for p in (self.image, f"annotation {self.annotation_id}" if self.annotation_id else None) if p
        ]
        return ": ".join([*where, f"{self.code}: {self.message}"])


def _geometry_issues(ann: Annotation, size: ImageSize | None) -> Iterator[tuple[str, str]]:
    shape = ann.shape
    if isinstance(shape, Mask):
        if shape.area == 0:
            yield "empty-mask", "mask covers no pixel"
        if size is not None and shape.size != size:
            yield "mask-size", f"mask is {tuple(shape.size)} but the image is {tuple(size)}"
        return
    coords = shape.coordinates() if not isinstance(shape, Box) else shape.coordinates().reshape(2, 2)
    if not np.isfinite(coords).all():
        yield "non-finite", "coordinates contain NaN or infinity"
        return
    if isinstance(shape, Box):
        if shape.width <= 0 or shape.height <= 0:
            yield "degenerate-box", f"box has width {shape.width:g} and height {shape.height:g}"
    elif isinstance(shape, Polygon):
        if not shape.parts:
            yield "degenerate-polygon", "polygon has no parts"
        for reason in shape.explain_invalid():
            code = (
                "degenerate-polygon" if ("points" in reason or "zero area" in reason) else "invalid-polygon"
            )
            yield code, reason
    elif isinstance(shape, Polyline) and len(shape.points) < 2:
        yield "degenerate-polyline", f"polyline has {len(shape.points)} points, needs at least 2"
    if size is None:
        return
    if isinstance(shape, Keypoints):
        pts = shape.points[shape.labeled]
        outside = (pts[:, 0] < 0) | (pts[:, 1] < 0) | (pts[:, 0] > size.width) | (pts[:, 1] > size.height)
        if outside.any():
            idx = np.flatnonzero(shape.labeled)[outside].tolist()
            yield (
                "keypoint-outside",
                f"labeled keypoints {idx} lie outside the {size.width}x{size.height} image",
            )
        return
    b = shape.bounds()
    b = b.bounds() if isinstance(b, Box) else b
    if b.x_min < 0 or b.y_min < 0 or b.x_max > size.width or b.y_max > size.height:
        yield (
            "outside-image",
            f"shape spans x {b.x_min:g}..{b.x_max:g}, y {b.y_min:g}..{b.y_max:g}, "
            f"outside the {size.width}x{size.height} image",
        )


def _annotation_issues(
    ann: Annotation, ontology: Ontology, size: ImageSize | None
) -> Iterator[tuple[str, str]]:
    cls = ontology.get(ann.label)
    if cls is None:
        yield "unknown-class", f"class {ann.label!r} is not in the ontology"
    else:
        if not cls.allows(ann.kind):
            allowed = ", ".join(sorted(s.value for s in cls.shapes))
            yield "shape-not-allowed", f"class {cls.name!r} allows {allowed}, not {ann.kind.value}"
        for name, value in ann.attributes.items():
            spec = cls.attribute(name)
            if spec is not None and (why := spec.explain_invalid(value)):
                yield "bad-attribute", f"attribute {name!r}: {why}"
        if (
            isinstance(ann.shape, Keypoints)
            and cls.skeleton is not None
            and len(ann.shape.points) != len(cls.skeleton)
        ):
            yield (
                "keypoint-count",
                f"{len(ann.shape.points)} keypoints but the skeleton of {cls.name!r} has {len(cls.skeleton)}",
            )
    if ann.score is not None and not np.isfinite(ann.score):
        yield "bad-score", f"score {ann.score!r} is not finite"
    yield from _geometry_issues(ann, size)


def _panoptic_issues(image: ImageRecord, ontology: Ontology, size: ImageSize) -> Iterator[Issue]:
    area = [a for a in image.annotations if isinstance(a.shape, Polygon | Mask) and a.label in ontology]
    if not area:
        if ontology.full_coverage:
            yield Issue("unlabeled-pixels", f"{size.area} pixels belong to no segment", image.file_name)
        return
    coverage = np.zeros(size.shape, dtype=np.uint16)  # (H, W) how many segments cover each pixel
    stuff_count: dict[str, list[int]] = {}
    for ann in area:
        try:
            m = shape_to_mask(ann.shape, size).array
        except ValueError:
            continue  # reported as a geometry issue
        coverage += m
        if ontology[ann.label].kind is LabelKind.STUFF:
            stuff_count.setdefault(ann.label, []).append(ann.id)
            if ann.group_id is not None or ann.track_id is not None:
                yield Issue(
                    "stuff-instance",
                    f"stuff class {ann.label!r} carries an instance id",
                    image.file_name,
                    ann.id,
                )
    overlap = int((coverage > 1).sum())
    if overlap:
        yield Issue("overlap", f"{overlap} pixels are covered by more than one segment", image.file_name)
    for label, ids in stuff_count.items():
        if len(ids) > 1:
            yield Issue(
                "stuff-split",
                f"stuff class {label!r} is split into {len(ids)} segments {ids}; "
                "stuff is one segment per class",
                image.file_name,
                severity=Severity.WARNING,
            )
    unlabeled = int((coverage == 0).sum())
    if ontology.full_coverage and unlabeled:
        yield Issue("unlabeled-pixels", f"{unlabeled} pixels belong to no segment", image.file_name)


def validate(dataset: Dataset, *, panoptic: bool | None = None) -> list[Issue]:
    """Every problem found in ``dataset``, in image and annotation order.

    Panoptic checks (overlaps, stuff with instance ids, coverage) run when ``panoptic`` is true, or, when
    it is None, when the ontology requires full coverage.
    """
    ontology = dataset.ontology
    check_panoptic = ontology.full_coverage if panoptic is None else panoptic
    issues: list[Issue] = []
    seen_ids: dict[int, str] = {}
    for image in dataset.images:
        size = image.size
        for ann in image.annotations:
            if ann.id in seen_ids:
                issues.append(
                    Issue(
                        "duplicate-id",
                        f"annotation id also used in {seen_ids[ann.id]}",
                        image.file_name,
                        ann.id,
                    )
                )
            seen_ids[ann.id] = image.file_name
            for code, message in _annotation_issues(ann, ontology, size):
                issues.append(Issue(code, message, image.file_name, ann.id))
        for tag in image.tags:
            if ontology.tags and tag not in ontology.tags:
                issues.append(Issue("unknown-tag", f"tag {tag!r} is not in the ontology", image.file_name))
        if check_panoptic and size is not None:
            issues.extend(_panoptic_issues(image, ontology, size))
    return issues
