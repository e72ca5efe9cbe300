"""Semantic, instance and panoptic views of one image's annotations, and conversions between them.

- semantic map: ``(H, W)`` class index per pixel (the class's position in the ontology), ``IGNORE`` where
  nothing is labeled;
- instances: one annotation per object (things), one per class (stuff);
- panoptic: ``(H, W)`` segment id per pixel (0 = void) plus the segments, stuff merged per class and things
  per instance. Where labels overlap, the higher ``z_order`` wins (ties: the later annotation).

Only area shapes (polygons, masks; boxes when asked) take part; polylines and keypoints cover no area.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from seglab.core.annotation import Annotation, Source
from seglab.core.conventions import ImageSize
from seglab.core.geometry import Box, Polygon
from seglab.core.mask import Mask
from seglab.core.ontology import LabelKind, Ontology
from seglab.core.raster import shape_to_mask

IGNORE = 255


def _area_annotations(annotations: Iterable[Annotation], include_boxes: bool) -> list[Annotation]:
    kinds = (Polygon, Mask, Box) if include_boxes else (Polygon, Mask)
    anns = [a for a in annotations if isinstance(a.shape, kinds)]
    # stable sort: lower z first, so later painting (higher z, later in list) wins overlaps
    return sorted(anns, key=lambda a: a.z_order)


def semantic_map(
    annotations: Iterable[Annotation],
    ontology: Ontology,
    size: ImageSize,
    *,
    fill: int = IGNORE,
    include_boxes: bool = False,
) -> np.ndarray:
    """Class index per pixel ``(H, W)``; uint8 when every index and ``fill`` fit, else uint16."""
    dtype = np.uint8 if max(len(ontology), fill) <= 255 else np.uint16
    out = np.full(size.shape, fill, dtype=dtype)  # (H, W)
    for ann in _area_annotations(annotations, include_boxes):
        if ann.label not in ontology:
            continue
        out[shape_to_mask(ann.shape, size).array] = ontology.index(ann.label)
    return out


@dataclass(frozen=True)
class PanopticSegment:
    """One segment of a panoptic map: ``id`` is its value in the map (> 0)."""

    id: int
    label: str
    is_thing: bool
    area: int
    crowd: bool = False
    annotation_ids: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class PanopticMap:
    """Segment id per pixel ``(H, W)`` int32 (0 = void) and the segments it holds."""

    ids: np.ndarray
    segments: tuple[PanopticSegment, ...]

    def segment(self, segment_id: int) -> PanopticSegment:
        return next(s for s in self.segments if s.id == segment_id)

    @property
    def void_pixels(self) -> int:
        return int((self.ids == 0).sum())


def panoptic_map(annotations: Iterable[Annotation], ontology: Ontology, size: ImageSize) -> PanopticMap:
    """Paint things per instance (``group_id`` joins parts) and stuff merged per class, z-order on top."""
    anns = [a for a in _area_annotations(annotations, include_boxes=False) if a.label in ontology]
    keys: dict[tuple, int] = {}
    members: dict[int, list[Annotation]] = {}
    ids = np.zeros(size.shape, dtype=np.int32)  # (H, W)
    for ann in anns:
        cls = ontology[ann.label]
        if cls.kind is LabelKind.STUFF:
            key: tuple = ("stuff", ann.label)
        elif ann.group_id is not None:
            key = ("group", ann.label, ann.group_id)
        else:
            key = ("ann", ann.id, id(ann))
        seg_id = keys.setdefault(key, len(keys) + 1)
        members.setdefault(seg_id, []).append(ann)
        ids[shape_to_mask(ann.shape, size).array] = seg_id
    areas = np.bincount(ids.ravel(), minlength=len(keys) + 1)
    segments = []
    for seg_id, group in members.items():
        if areas[seg_id] == 0:
            continue  # fully covered by segments above it
        first = group[0]
        segments.append(
            PanopticSegment(
                id=seg_id,
                label=first.label,
                is_thing=ontology[first.label].is_thing,
                area=int(areas[seg_id]),
                crowd=any(a.crowd for a in group),
                annotation_ids=tuple(a.id for a in group),
            )
        )
    return PanopticMap(ids, tuple(segments))


def annotations_from_panoptic(
    panoptic: PanopticMap, *, first_id: int = 1, source: Source = Source.HUMAN
) -> list[Annotation]:
    """One mask annotation per segment, in segment order."""
    anns = []
    for i, seg in enumerate(panoptic.segments):
        mask = Mask.from_array(panoptic.ids == seg.id)
        anns.append(Annotation(id=first_id + i, label=seg.label, shape=mask, crowd=seg.crowd, source=source))
    return anns


def annotations_from_semantic(
    semantic: np.ndarray,
    ontology: Ontology,
    *,
    first_id: int = 1,
    split_things: bool = True,
    source: Source = Source.HUMAN,
) -> list[Annotation]:
    """Masks from a class-index map: one per stuff class, one per 8-connected component of a thing class.

    Values outside the ontology (``IGNORE``) stay unlabeled. With ``split_things=False`` every class gives
    one mask, which is the exact inverse of :func:`semantic_map`.
    """
    anns: list[Annotation] = []
    structure = np.ones((3, 3), dtype=bool)
    present = np.unique(semantic)
    for index in present.tolist():
        if index >= len(ontology):
            continue
        cls = ontology.classes[index]
        region = semantic == index
        if split_things and cls.is_thing:
            labels, n = ndimage.label(region, structure=structure)
            pieces: Sequence[np.ndarray] = [labels == k for k in range(1, n + 1)]
        else:
            pieces = [region]
        for piece in pieces:
            anns.append(
                Annotation(
                    id=first_id + len(anns), label=cls.name, shape=Mask.from_array(piece), source=source
                )
            )
    return anns


def panoptic_from_semantic_instances(
    semantic: np.ndarray, instance_ids: np.ndarray, ontology: Ontology
) -> PanopticMap:
    """Panoptic map from a class map and an instance map (Cityscapes: instance id 0 means 'no instance').

    Things with an instance id become one segment each; pixels of a class without instance ids become one
    segment per class.
    """
    keys = np.stack([semantic.astype(np.int64), instance_ids.astype(np.int64)], axis=-1).reshape(-1, 2)
    valid = keys[:, 0] < len(ontology)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    ids = np.zeros(semantic.size, dtype=np.int32)
    segments = []
    next_id = 1
    for row, (cls_index, _inst) in enumerate(uniq.tolist()):
        if cls_index >= len(ontology):
            continue
        sel = (inverse.ravel() == row) & valid
        ids[sel] = next_id
        cls = ontology.classes[cls_index]
        segments.append(PanopticSegment(next_id, cls.name, cls.is_thing, int(sel.sum())))
        next_id += 1
    return PanopticMap(ids.reshape(semantic.shape), tuple(segments))
