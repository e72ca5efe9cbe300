"""Panoptic quality (PQ = SQ x RQ, Kirillov et al. 2019), with the matching rules of panopticapi's pq_compute.

Per image, both label sets are grouped into segments the way :func:`seglab.core.segmentation.panoptic_map`
groups them (things per instance, a ``group_id`` joining parts, stuff merged per class, higher ``z_order``
on top). The intersection of every ground-truth segment with every predicted segment is then taken in one
of two exact ways: when no two annotations of a side overlap (the usual panoptic case) directly on the RLEs,
without decoding a pixel; otherwise by painting both sides into segment-id maps and one ``np.bincount`` over
a combined int64 key. The rules are applied to that table with array operations, not per segment:

- a ground-truth and a predicted segment of the same class match when IoU > 0.5, where the union leaves out
  the predicted pixels that fall on void (unlabeled) ground truth; crowd segments never match;
- unmatched non-crowd ground-truth segments are false negatives;
- an unmatched prediction is a false positive unless more than half of it lies on void plus the crowd region
  of its own class (panopticapi keeps one crowd region per class: the last one listed).

Images are streamed one at a time, so memory is bounded by one image whatever the dataset size.
PQ, SQ and RQ average over the classes that occur (tp + fp + fn > 0); with none they are undefined (NaN:
panopticapi divides by zero there)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask

from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.geometry import Polygon
from seglab.core.mask import Mask
from seglab.core.ontology import LabelKind, Ontology
from seglab.metrics._common import (
    MetricInputError,
    format_number,
    image_size,
    json_number,
    pair_images,
    region_rle,
)


@dataclass(frozen=True)
class Segments:
    """One image's area annotations grouped into panoptic segments, before any painting.

    ``rles`` holds one RLE per annotation in painting order (z-order, then position) and ``segment_of`` its
    segment number (1..n); ``classes`` and ``crowd`` are per segment number, index 0 standing for void.
    ``disjoint`` says no two annotations share a pixel, in which case painting changes nothing and the
    intersections can be taken on the RLEs directly.
    """

    rles: list[dict]
    segment_of: np.ndarray
    classes: np.ndarray
    crowd: np.ndarray
    disjoint: bool


def image_segments(record: ImageRecord | None, size: ImageSize, ontology: Ontology) -> Segments:
    """Group a record's area annotations the way ``core.segmentation.panoptic_map`` does.

    Things are one segment per annotation (a ``group_id`` joins parts), stuff one per class. Classes come
    from ``ontology`` (the ground truth's); a class it does not know is an error, as an unknown
    ``category_id`` is for panopticapi.
    """
    if record is None:
        return Segments([], np.zeros(0, np.int64), np.array([-1]), np.array([False]), True)
    anns = sorted(
        (a for a in record.annotations if isinstance(a.shape, Polygon | Mask)), key=lambda a: a.z_order
    )
    keys: dict[tuple, int] = {}
    classes, crowd, segment_of, rles = [-1], [False], [], []
    index_of = {n: i for i, n in enumerate(ontology.names)}
    for position, ann in enumerate(anns):
        cls_index = index_of.get(ann.label)
        if cls_index is None:
            raise MetricInputError(
                f"image {record.file_name!r}: segment of class {ann.label!r}, which the ground truth "
                "does not have (panopticapi rejects unknown categories too)"
            )
        if ontology.classes[cls_index].kind is LabelKind.STUFF:
            key: tuple = ("stuff", ann.label)
        elif ann.group_id is not None:
            key = ("group", ann.label, ann.group_id)
        else:
            key = ("ann", position)
        seg = keys.get(key)
        if seg is None:
            seg = keys[key] = len(keys) + 1
            classes.append(cls_index)
            crowd.append(False)
        crowd[seg] = crowd[seg] or ann.crowd
        segment_of.append(seg)
        rles.append(region_rle(ann.shape, size))
    disjoint = len(rles) < 2 or int(coco_mask.area(coco_mask.merge(rles, intersect=False))) == int(
        coco_mask.area(rles).sum()
    )
    return Segments(
        rles,
        np.asarray(segment_of, dtype=np.int64),
        np.asarray(classes, dtype=np.int64),
        np.asarray(crowd, dtype=bool),
        disjoint,
    )


@dataclass(frozen=True)
class SegmentMap:
    """One image's painted segments: ``ids`` ``(H, W)`` int32 (0 = void, segments 1..n), and per id
    (index 0 = void) the class index ``classes`` (-1 for void) and the ``crowd`` flag."""

    ids: np.ndarray
    classes: np.ndarray
    crowd: np.ndarray


def paint_segments(segments: Segments, size: ImageSize) -> SegmentMap:
    """Paint the segments in order (later on top), decoding one annotation at a time."""
    ids = np.zeros(size.shape, dtype=np.int32)  # (H, W)
    for rle, seg in zip(segments.rles, segments.segment_of.tolist(), strict=True):
        ids[coco_mask.decode(rle).view(bool)] = seg
    return SegmentMap(ids, segments.classes, segments.crowd)


def segment_map(record: ImageRecord | None, size: ImageSize, ontology: Ontology) -> SegmentMap:
    """The painted segment map of a record (the rules of ``core.segmentation.panoptic_map``)."""
    return paint_segments(image_segments(record, size, ontology), size)


def _tables_from_rles(gt: Segments, pred: Segments) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Intersections ``(Ng, Np)``, void overlap ``(Np,)`` and areas, on RLEs: valid when both are disjoint.

    pycocotools' crowd IoU is intersection / predicted area, so intersection = round(iou * area), exact.
    """
    ng, npred = len(gt.classes) - 1, len(pred.classes) - 1
    g_rles, p_rles = _segment_rles(gt), _segment_rles(pred)
    g_area = coco_mask.area(g_rles).astype(np.int64) if g_rles else np.zeros(0, np.int64)  # (Ng,)
    p_area = coco_mask.area(p_rles).astype(np.int64) if p_rles else np.zeros(0, np.int64)  # (Np,)
    if ng and npred:
        share = np.asarray(coco_mask.iou(p_rles, g_rles, [1] * ng), dtype=np.float64)  # (Np, Ng)
        inter = np.rint(share * p_area[:, None]).astype(np.int64).T  # (Ng, Np)
    else:
        inter = np.zeros((ng, npred), dtype=np.int64)
    void = p_area - inter.sum(axis=0)  # (Np,) ground-truth segments are disjoint: the rest is void
    return inter, void, g_area, p_area


def _segment_rles(segments: Segments) -> list[dict]:
    """One RLE per segment number 1..n: the union of its annotations."""
    members: list[list[dict]] = [[] for _ in range(len(segments.classes) - 1)]
    for rle, seg in zip(segments.rles, segments.segment_of.tolist(), strict=True):
        members[seg - 1].append(rle)
    return [m[0] if len(m) == 1 else coco_mask.merge(m, intersect=False) for m in members]


def _tables_from_maps(
    gt: SegmentMap, pred: SegmentMap
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The same tables from painted maps: one ``np.bincount`` over a combined int64 key."""
    ng, npred = len(gt.classes), len(pred.classes)
    if gt.ids.shape != pred.ids.shape:
        raise MetricInputError(f"segment maps differ in size: {gt.ids.shape} vs {pred.ids.shape}")
    key = gt.ids.ravel().astype(np.int64) * npred + pred.ids.ravel()  # (H*W,)
    table = np.bincount(key, minlength=ng * npred).reshape(ng, npred)  # (Ng+1, Np+1), row/col 0 = void
    return table[1:, 1:], table[0, 1:], table.sum(axis=1)[1:], table.sum(axis=0)[1:]


@dataclass
class PQCounts:
    """Per-class sums ``(K,)``: true positives, false positives, false negatives and matched IoU."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    iou: np.ndarray

    @classmethod
    def zeros(cls, k: int) -> PQCounts:
        return cls(np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k))

    def __iadd__(self, other: PQCounts) -> PQCounts:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.iou += other.iou
        return self


def _count(tables, g_classes, g_crowd, p_classes, k: int) -> PQCounts:
    """Apply panopticapi's matching, FN and FP rules to the intersection tables of one image."""
    shared, void, gt_area, pred_area = tables  # (Ng, Np), (Np,), (Ng,), (Np,)
    g_cls, p_cls, g_crowd = g_classes[1:], p_classes[1:], g_crowd[1:]
    g_live = (gt_area > 0) & ~g_crowd  # segments a prediction may match (present, not crowd)
    p_live = pred_area > 0
    union = gt_area[:, None] + pred_area[None, :] - shared - void[None, :]  # (Ng, Np)
    eligible = (shared > 0) & g_live[:, None] & p_live[None, :] & (g_cls[:, None] == p_cls[None, :])
    iou = np.where(eligible, shared / np.maximum(union, 1), 0.0)
    gi, pi = np.nonzero(iou > 0.5)  # IoU > 0.5 makes every match unique on both sides
    out = PQCounts.zeros(k)
    out.tp += np.bincount(g_cls[gi], minlength=k)
    out.iou += np.bincount(g_cls[gi], weights=iou[gi, pi], minlength=k)
    g_matched = np.zeros(len(g_cls), dtype=bool)
    g_matched[gi] = True
    p_matched = np.zeros(len(p_cls), dtype=bool)
    p_matched[pi] = True
    out.fn += np.bincount(g_cls[g_live & ~g_matched], minlength=k)
    # the crowd region of each class: the last crowd segment listed (panopticapi's dict keeps the last)
    crowd_of = np.zeros(k, dtype=np.int64)  # 1-based segment number, 0 = none
    crowd_ids = np.flatnonzero(g_crowd & (gt_area > 0)) + 1
    np.maximum.at(crowd_of, g_cls[crowd_ids - 1], crowd_ids)
    p_open = np.flatnonzero(p_live & ~p_matched)  # (U,) unmatched predictions
    if p_open.size:
        crowd_rows = crowd_of[p_cls[p_open]]
        on_crowd = np.zeros(p_open.size, dtype=np.int64)
        if crowd_rows.any():
            on_crowd = np.where(crowd_rows > 0, shared[np.maximum(crowd_rows - 1, 0), p_open], 0)
        fp = p_open[(void[p_open] + on_crowd) / pred_area[p_open] <= 0.5]
        out.fp += np.bincount(p_cls[fp], minlength=k)
    return out


def pq_counts(gt: Segments, pred: Segments, size: ImageSize, num_classes: int) -> PQCounts:
    """Match one image's segments and count per class (see the module docstring for the rules).

    When neither side has overlapping annotations the work is done on RLEs without decoding a pixel;
    otherwise both sides are painted (z-order decides) and counted with one bincount.
    """
    if gt.disjoint and pred.disjoint:
        tables = _tables_from_rles(gt, pred)
    else:
        tables = _tables_from_maps(paint_segments(gt, size), paint_segments(pred, size))
    return _count(tables, gt.classes, gt.crowd, pred.classes, num_classes)


@dataclass(frozen=True)
class PQGroup:
    """PQ, SQ and RQ averaged over ``n`` classes (NaN when n = 0)."""

    PQ: float
    SQ: float
    RQ: float
    n: int

    def to_json(self) -> dict[str, Any]:
        return {
            "PQ": json_number(self.PQ),
            "SQ": json_number(self.SQ),
            "RQ": json_number(self.RQ),
            "n": self.n,
        }


def _per_class(c: PQCounts) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """PQ, SQ, RQ per class and which classes occur; panopticapi's formulas."""
    present = (c.tp + c.fp + c.fn) > 0
    den = np.where(present, c.tp + 0.5 * c.fp + 0.5 * c.fn, 1.0)
    pq = np.where(present, c.iou / den, 0.0)
    sq = np.where(c.tp > 0, c.iou / np.maximum(c.tp, 1), 0.0)
    rq = np.where(present, c.tp / den, 0.0)
    return pq, sq, rq, present


def _average(c: PQCounts, select: np.ndarray) -> PQGroup:
    pq, sq, rq, present = _per_class(c)
    use = present & select
    n = int(use.sum())
    if n == 0:
        return PQGroup(float("nan"), float("nan"), float("nan"), 0)
    return PQGroup(float(pq[use].sum() / n), float(sq[use].sum() / n), float(rq[use].sum() / n), n)


@dataclass(frozen=True)
class PanopticResult:
    """PQ/SQ/RQ overall, for things and stuff, per class (classes that occur), and per image."""

    PQ: float
    SQ: float
    RQ: float
    things: PQGroup
    stuff: PQGroup
    n: int
    per_class: Mapping[str, Mapping[str, float]]
    per_image: tuple[Mapping[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    counts: PQCounts | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "PQ": json_number(self.PQ),
            "SQ": json_number(self.SQ),
            "RQ": json_number(self.RQ),
            "n": self.n,
            "things": self.things.to_json(),
            "stuff": self.stuff.to_json(),
            "per_class": {
                name: {k: (json_number(v) if isinstance(v, float) else v) for k, v in s.items()}
                for name, s in self.per_class.items()
            },
            "warnings": list(self.warnings),
        }

    def table(self) -> list[tuple[str, str]]:
        rows = [
            ("PQ", format_number(self.PQ)),
            ("SQ", format_number(self.SQ)),
            ("RQ", format_number(self.RQ)),
        ]
        for name, group in (("things", self.things), ("stuff", self.stuff)):
            rows.append(
                (
                    f"{name} (n={group.n})",
                    "  ".join(
                        f"{k} {format_number(v)}"
                        for k, v in (("PQ", group.PQ), ("SQ", group.SQ), ("RQ", group.RQ))
                    ),
                )
            )
        return rows


def evaluate_panoptic(gt: Dataset, pred: Dataset) -> PanopticResult:
    """PQ of ``pred`` against ``gt``, streamed image by image (classes matched by name, kinds from ``gt``)."""
    ontology = gt.ontology
    k = len(ontology)
    is_thing = np.array([c.kind is LabelKind.THING for c in ontology], dtype=bool)
    total = PQCounts.zeros(k)
    rows: list[dict[str, Any]] = []
    for pair in pair_images(gt, pred):
        size = image_size(pair, required=True)
        assert size is not None
        gt_segments = image_segments(pair.gt, size, ontology)
        counts = pq_counts(gt_segments, image_segments(pair.pred, size, ontology), size, k)
        total += counts
        image_all = _average(counts, np.ones(k, dtype=bool))
        rows.append(
            {
                "image": pair.gt.file_name,
                "tp": int(counts.tp.sum()),
                "fp": int(counts.fp.sum()),
                "fn": int(counts.fn.sum()),
                "PQ": image_all.PQ,
                "SQ": image_all.SQ,
                "RQ": image_all.RQ,
            }
        )
    overall = _average(total, np.ones(k, dtype=bool))
    pq, sq, rq, present = _per_class(total)
    per_class = {
        c.name: {
            "PQ": float(pq[i]),
            "SQ": float(sq[i]),
            "RQ": float(rq[i]),
            "tp": int(total.tp[i]),
            "fp": int(total.fp[i]),
            "fn": int(total.fn[i]),
        }
        for i, c in enumerate(ontology)
        if present[i]
    }
    warnings = [] if overall.n else ["no segment in either set: PQ is undefined"]
    return PanopticResult(
        PQ=overall.PQ,
        SQ=overall.SQ,
        RQ=overall.RQ,
        things=_average(total, is_thing),
        stuff=_average(total, ~is_thing),
        n=overall.n,
        per_class=per_class,
        per_image=tuple(rows),
        warnings=tuple(warnings),
        counts=total,
    )
