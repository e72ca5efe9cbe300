"""Suspects and the model-free checks of an audit: what can be said about labels without a model.

- the outline does not follow image edges: the mean gradient along it is clearly lower than along the
  outline moved a few pixels in or out (``boundary``);
- duplicates (same class, IoU >= 0.9), overlaps the ontology forbids (panoptic projects, stuff on stuff),
  size and shape outliers per class (robust z-score of log area, fill ratio and elongation), and holes in
  the coverage of a panoptic project (``other``).

The model-based checks and the ranking live in :mod:`seglab.autolabel.audit`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask
from scipy import ndimage

from seglab.autolabel.features import as_float_image
from seglab.core.annotation import Annotation
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.geometry import Polygon
from seglab.core.mask import Mask
from seglab.core.ontology import Ontology
from seglab.core.raster import shape_to_mask
from seglab.core.segmentation import panoptic_map

CROSS = ndimage.generate_binary_structure(2, 1)


class SuspectKind(StrEnum):
    MISSING = "missing"
    SPURIOUS = "spurious"
    WRONG_CLASS = "wrong_class"
    BOUNDARY = "boundary"
    OTHER = "other"


@dataclass(frozen=True)
class Suspect:
    """One likely label error. ``box`` ``(x_min, y_min, x_max, y_max)`` locates it (missing objects have
    no annotation id); ``check`` names the test that raised it."""

    image: str
    annotation_id: int | None
    kind: SuspectKind
    score: float
    explanation: str
    label: str | None = None
    box: tuple[float, float, float, float] | None = None
    check: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "annotation_id": self.annotation_id,
            "kind": self.kind.value,
            "score": round(float(self.score), 4),
            "explanation": self.explanation,
            "label": self.label,
            "box": [round(v, 2) for v in self.box] if self.box is not None else None,
            "check": self.check,
        }


def box_of(mask: np.ndarray, sl: tuple[slice, slice] | None = None) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    oy, ox = (sl[0].start, sl[1].start) if sl is not None else (0, 0)
    return (float(xs.min() + ox), float(ys.min() + oy), float(xs.max() + 1 + ox), float(ys.max() + 1 + oy))


def area_annotations(image: ImageRecord, ontology: Ontology) -> list[Annotation]:
    return [a for a in image.annotations if isinstance(a.shape, Polygon | Mask) and a.label in ontology]


def is_labeled(image: ImageRecord, ontology: Ontology) -> bool:
    return bool(area_annotations(image, ontology))


def edge_alignment(
    image: ImageRecord, anns: Sequence[Annotation], gradient: np.ndarray, min_area: int, shift: int = 3
) -> list[Suspect]:
    """Outlines that image edges do not support, compared with the outline moved ``-shift..shift`` px."""
    size = image.require_size()
    out = []
    for ann in anns:
        mask = shape_to_mask(ann.shape, size).array
        if mask.sum() < max(min_area, 4 * shift * shift):
            continue
        ys, xs = np.nonzero(mask)
        pad = shift + 2
        sl = (
            slice(max(0, ys.min() - pad), min(size.height, ys.max() + 1 + pad)),
            slice(max(0, xs.min() - pad), min(size.width, xs.max() + 1 + pad)),
        )
        crop, grad = mask[sl], gradient[sl]
        means = {}
        for d in range(-shift, shift + 1):
            if d < 0:
                moved = ndimage.binary_erosion(crop, CROSS, iterations=-d)
            elif d > 0:
                moved = ndimage.binary_dilation(crop, CROSS, iterations=d)
            else:
                moved = crop
            contour = moved & ~ndimage.binary_erosion(moved, CROSS)
            if contour.sum() >= 8:
                means[d] = float(grad[contour].mean())
        if 0 not in means or len(means) < 3:
            continue
        best = max(means, key=lambda k: means[k])
        gain = (means[best] - means[0]) / max(means[best], 1e-6)
        if best != 0 and gain >= 0.25:
            way = "inward" if best < 0 else "outward"
            out.append(
                Suspect(
                    image.file_name, ann.id, SuspectKind.BOUNDARY, min(1.0, gain) * 0.8,
                    f"the outline does not follow the image edges: moved {abs(best)} px {way} it would "
                    f"(mean edge strength {means[best]:.3f} there vs {means[0]:.3f} on the outline)",
                    ann.label, box_of(crop, sl), "edge alignment",
                )
            )  # fmt: skip
    return out


def duplicates_and_overlaps(
    image: ImageRecord, anns: Sequence[Annotation], ontology: Ontology
) -> list[Suspect]:
    """Duplicates and forbidden overlaps, from pycocotools' RLE IoU (no decoding)."""
    if len(anns) < 2:
        return []
    size = image.require_size()
    rles = [shape_to_mask(a.shape, size).rle for a in anns]
    areas = coco_mask.area(rles).astype(np.float64)
    iou = coco_mask.iou(rles, rles, [0] * len(rles))  # (N, N)
    out = []
    for i, j in zip(*np.nonzero(np.triu(iou, 1) > 0), strict=True):
        a, b = anns[i], anns[j]
        inter = iou[i, j] * (areas[i] + areas[j]) / (1.0 + iou[i, j])
        box = tuple(float(v) for v in coco_mask.toBbox(coco_mask.merge([rles[i], rles[j]], intersect=True)))
        box = (box[0], box[1], box[0] + box[2], box[1] + box[3])
        if a.label == b.label and iou[i, j] >= 0.9:
            out.append(
                Suspect(
                    image.file_name, b.id, SuspectKind.OTHER, float(iou[i, j]),
                    f"duplicate of annotation {a.id} ({a.label!r}, IoU {iou[i, j]:.2f})",
                    b.label, box, "duplicates",
                )
            )  # fmt: skip
            continue
        ca, cb = ontology.get(a.label), ontology.get(b.label)
        both_stuff = ca is not None and cb is not None and not ca.is_thing and not cb.is_thing
        if ontology.full_coverage or both_stuff:
            share = float(inter / max(min(areas[i], areas[j]), 1.0))
            if share >= 0.05:
                rule = "a panoptic project allows no overlaps" if ontology.full_coverage else "stuff on stuff"
                out.append(
                    Suspect(
                        image.file_name, b.id, SuspectKind.OTHER, 0.5 + 0.5 * min(share, 1.0),
                        f"overlaps annotation {a.id} ({a.label!r}) on {share:.0%} of the smaller one "
                        f"({rule})",
                        b.label, box, "overlaps",
                    )
                )  # fmt: skip
    return out


def _shape_descriptors(mask: Mask) -> tuple[float, float, float]:
    """log area, fill ratio of the bounding box, elongation (sqrt of the inertia eigenvalue ratio)."""
    arr = mask.array
    ys, xs = np.nonzero(arr)
    area = len(ys)
    fill = area / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1))
    cov = np.cov(np.stack([xs, ys]).astype(np.float64)) if area > 2 else np.eye(2)
    ev = np.linalg.eigvalsh(cov + np.eye(2) * 1e-3)
    return float(np.log(area)), float(fill), float(np.sqrt(ev[1] / ev[0]))


def _annbox_of(ann: Annotation) -> tuple[float, float, float, float]:
    b = ann.bounds()
    return (b.x_min, b.y_min, b.x_max, b.y_max)


def size_shape_outliers(
    dataset: Dataset, ontology: Ontology, min_count: int = 8, z_min: float = 4.0
) -> list[Suspect]:
    by_class: dict[str, list[tuple[ImageRecord, Annotation, tuple[float, float, float]]]] = defaultdict(list)
    for image in dataset.images:
        if image.size is None and image.media is None:
            continue
        size = image.require_size()
        for ann in area_annotations(image, ontology):
            mask = shape_to_mask(ann.shape, size)
            if mask.area > 0:
                by_class[ann.label].append((image, ann, _shape_descriptors(mask)))
    names = ("size", "fill ratio", "elongation")
    out = []
    for label, rows in by_class.items():
        if len(rows) < min_count:
            continue
        values = np.array([r[2] for r in rows])  # (N, 3)
        median = np.median(values, axis=0)
        mad = np.median(np.abs(values - median), axis=0) * 1.4826
        z = np.abs(values - median) / np.maximum(mad, np.array([0.05, 0.02, 0.05]))  # (N, 3)
        for (image, ann, desc), zs in zip(rows, z, strict=True):
            which = int(zs.argmax())
            if zs[which] < z_min:
                continue
            value = np.exp(desc[0]) if which == 0 else desc[which]
            typical = np.exp(median[0]) if which == 0 else median[which]
            score = 0.5 * (1.0 - np.exp(-(zs[which] - z_min + 1) / 4))
            out.append(
                Suspect(
                    image.file_name, ann.id, SuspectKind.OTHER, float(score),
                    f"unusual {names[which]} for a {label!r}: {value:.3g} where the class typically has "
                    f"{typical:.3g} (robust z-score {zs[which]:.1f})",
                    label, _annbox_of(ann), "size and shape",
                )
            )  # fmt: skip
    return out


def coverage_holes(image: ImageRecord, ontology: Ontology, min_area: int) -> list[Suspect]:
    size = image.require_size()
    pan = panoptic_map(image.annotations, ontology, size)
    holes, _ = ndimage.label(pan.ids == 0)
    out = []
    for index, sl in enumerate(ndimage.find_objects(holes)):
        hole = holes[sl] == index + 1
        area = int(hole.sum())
        if area < min_area:
            continue
        share = area / (size.width * size.height)
        out.append(
            Suspect(
                image.file_name, None, SuspectKind.OTHER, min(1.0, 0.3 + 10 * share),
                f"{area} px ({share:.1%} of the image) belong to no segment, but the project requires full "
                "coverage",
                None, box_of(hole, sl), "panoptic coverage",
            )
        )  # fmt: skip
    return out


def gradient_magnitude(pixels: np.ndarray) -> np.ndarray:
    gray = as_float_image(pixels).mean(axis=2)
    return ndimage.gaussian_gradient_magnitude(gray, 1.0).astype(np.float32)
