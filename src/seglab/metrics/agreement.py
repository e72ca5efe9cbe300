"""Agreement between two label sets of the same images: annotator vs annotator, or human vs model.

Per image, the objects of set A (the reference) and set B are matched one to one by the Hungarian algorithm on
their IoU (boxes: axis-aligned box IoU; masks: pixel IoU on RLE; keypoints: OKS with A as the reference),
class-agnostically, so that a matched pair whose classes differ is a class disagreement rather than a miss and
a false alarm. Only pairs with IoU >= the threshold may match, and among those the matching maximises the
summed IoU. From the matches:

- ``matched_iou``: mean IoU of the matched pairs;
- precision / recall / F1 per class and overall: a true positive is a matched pair whose classes agree;
- Cohen's kappa of the classes of the matched pairs, and of every attribute both sides set;
- a class confusion matrix with a "none" row and column for unmatched objects; a per-image report.

Crowd objects (COCO ``iscrowd``) are regions, not objects, and take no part. This module is the primitive
review, consensus and the audit build on: :func:`match_objects` works on one image's annotations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pycocotools import mask as coco_mask
from scipy.optimize import linear_sum_assignment

from seglab.core.annotation import Annotation
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset
from seglab.metrics._common import (
    LabeledObject,
    MetricInputError,
    format_number,
    image_size,
    json_number,
    objects,
    pair_images,
)

Kind = Literal["auto", "boxes", "masks", "keypoints"]
NONE = "none"


def cohen_kappa(a: Sequence[object], b: Sequence[object]) -> float:
    """Cohen's kappa of two raters' labels for the same items: (p_o - p_e) / (1 - p_e).

    NaN when there is no item. When both raters use one and the same label throughout, agreement is perfect
    and kappa is 1 (the formula is 0/0 there; sklearn returns NaN).
    """
    if len(a) != len(b):
        raise ValueError(f"kappa needs paired labels, got {len(a)} and {len(b)}")
    n = len(a)
    if n == 0:
        return float("nan")
    labels = {v: i for i, v in enumerate(dict.fromkeys([*a, *b]))}
    ia = np.fromiter((labels[v] for v in a), dtype=np.int64, count=n)
    ib = np.fromiter((labels[v] for v in b), dtype=np.int64, count=n)
    m = len(labels)
    table = np.bincount(ia * m + ib, minlength=m * m).reshape(m, m)  # (m, m) joint counts
    agree = int(np.trace(table))
    chance = int(table.sum(axis=1) @ table.sum(axis=0))  # n^2 * p_e, exact in integers
    if chance == n * n:
        return 1.0 if agree == n else float("nan")
    return (n * agree - chance) / (n * n - chance)  # = (p_o - p_e) / (1 - p_e), one rounding


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU ``(N, M)`` of boxes ``(N, 4)`` and ``(M, 4)`` given as x_min, y_min, x_max, y_max."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])  # (N, M, 2)
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)  # (N, M)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)  # (N,)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)  # (M,)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def oks(
    ref: np.ndarray, ref_area: np.ndarray, ref_box: np.ndarray, other: np.ndarray, sigmas: np.ndarray
) -> np.ndarray:
    """Object keypoint similarity ``(N, M)`` as pycocotools computes it, with ``ref`` as the ground truth.

    ``ref`` ``(N, K, 3)``, ``ref_area`` ``(N,)``, ``ref_box`` ``(N, 4)`` x, y, w, h, ``other`` ``(M, K, 3)``.
    A reference without labeled points measures the distance outside its box doubled, like pycocotools.
    """
    var = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2  # (K,)
    vis = ref[:, :, 2] > 0  # (N, K)
    dx = other[None, :, :, 0] - ref[:, None, :, 0]  # (N, M, K)
    dy = other[None, :, :, 1] - ref[:, None, :, 1]
    x0, y0 = ref_box[:, 0] - ref_box[:, 2], ref_box[:, 1] - ref_box[:, 3]
    x1, y1 = ref_box[:, 0] + ref_box[:, 2] * 2, ref_box[:, 1] + ref_box[:, 3] * 2
    ox, oy = other[None, :, :, 0], other[None, :, :, 1]
    out_x = np.maximum(0, x0[:, None, None] - ox) + np.maximum(0, ox - x1[:, None, None])
    out_y = np.maximum(0, y0[:, None, None] - oy) + np.maximum(0, oy - y1[:, None, None])
    none_visible = ~vis.any(axis=1)  # (N,)
    dx = np.where(none_visible[:, None, None], out_x, dx)
    dy = np.where(none_visible[:, None, None], out_y, dy)
    e = (dx**2 + dy**2) / var / (ref_area[:, None, None] + np.spacing(1)) / 2  # (N, M, K)
    weight = np.where(none_visible[:, None], True, vis)[:, None, :]  # (N, 1, K)
    return (np.exp(-e) * weight).sum(axis=2) / weight.sum(axis=2)


def choose_kind(a: Sequence[LabeledObject], b: Sequence[LabeledObject]) -> str:
    """Masks when every object has pixels, else keypoints when every object has keypoints, else boxes."""
    every = [*a, *b]
    if every and all(o.regions for o in every):
        return "masks"
    if every and all(o.keypoints is not None for o in every):
        return "keypoints"
    return "boxes"


def similarity(
    a: Sequence[LabeledObject],
    b: Sequence[LabeledObject],
    kind: str,
    size: ImageSize | None,
    sigmas: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """IoU (or OKS) ``(len(a), len(b))`` of two lists of objects of one image."""
    if not a or not b:
        return np.zeros((len(a), len(b)))
    if kind == "boxes":
        return box_iou(
            np.array([_box(o).xyxy() for o in a]), np.array([_box(o).xyxy() for o in b])
        )  # (Na, Nb)
    if kind == "masks":
        if size is None:
            raise MetricInputError("mask agreement needs the image size")
        ra, rb = [o.rle(size) for o in a], [o.rle(size) for o in b]
        return np.asarray(coco_mask.iou(rb, ra, [0] * len(ra)), dtype=np.float64).T.reshape(len(a), len(b))
    if kind == "keypoints":
        return _oks_objects(a, b, sigmas or {})
    raise ValueError(f"kind must be boxes, masks or keypoints, got {kind!r}")


def _box(obj: LabeledObject):
    box = obj.bbox()
    if box is None:
        raise MetricInputError(f"an object of class {obj.label!r} has no extent to compare")
    return box


def _oks_objects(a: Sequence[LabeledObject], b: Sequence[LabeledObject], sigmas: Mapping[str, np.ndarray]):
    from seglab.metrics.coco import COCO_PERSON_SIGMAS

    out = np.zeros((len(a), len(b)))
    for i, ref in enumerate(a):
        if ref.keypoints is None:
            continue
        points = ref.keypoints.points
        s = sigmas.get(ref.label, COCO_PERSON_SIGMAS if len(points) == 17 else None)
        if s is None:
            raise MetricInputError(f"class {ref.label!r} has {len(points)} keypoints but no OKS sigmas")
        box = _box(ref)
        area = ref.area_hint if ref.area_hint is not None else box.width * box.height
        cols = [
            j for j, o in enumerate(b) if o.keypoints is not None and len(o.keypoints.points) == len(points)
        ]
        if not cols:
            continue
        other = np.stack([b[j].keypoints.points for j in cols])  # type: ignore[union-attr]
        out[i, cols] = oks(points[None], np.array([area]), np.array([box.xywh()]), other, np.asarray(s))[0]
    return out


def hungarian(sim: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """One-to-one pairs maximising the summed similarity, among pairs with similarity >= threshold (> 0)."""
    if sim.size == 0:
        return []
    allowed = (sim >= threshold) & (sim > 0)
    rows, cols = linear_sum_assignment(np.where(allowed, sim, 0.0), maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]


@dataclass(frozen=True)
class ImageMatch:
    """One image: matched pairs ``(index in a, index in b, iou)`` of the objects, and the unmatched."""

    a: tuple[LabeledObject, ...]
    b: tuple[LabeledObject, ...]
    pairs: tuple[tuple[int, int, float], ...]
    unmatched_a: tuple[int, ...]
    unmatched_b: tuple[int, ...]


def match_objects(
    a: Sequence[Annotation],
    b: Sequence[Annotation],
    size: ImageSize | None,
    *,
    kind: Kind = "auto",
    iou_threshold: float = 0.5,
    sigmas: Mapping[str, np.ndarray] | None = None,
    min_score: float = 0.0,
) -> ImageMatch:
    """Match one image's annotations of two label sets (crowd and low-score objects of B set aside)."""
    oa = tuple(o for o in objects(a) if not o.crowd)
    ob = tuple(o for o in objects(b) if not o.crowd and (o.score is None or o.score >= min_score))
    chosen = choose_kind(oa, ob) if kind == "auto" else kind
    if chosen == "keypoints":
        oa = tuple(o for o in oa if o.keypoints is not None)
        ob = tuple(o for o in ob if o.keypoints is not None)
    elif chosen == "masks":
        oa = tuple(o for o in oa if o.regions or o.box is not None)
        ob = tuple(o for o in ob if o.regions or o.box is not None)
    else:
        oa = tuple(o for o in oa if o.has_box)
        ob = tuple(o for o in ob if o.has_box)
    sim = similarity(oa, ob, chosen, size, sigmas)
    pairs = tuple((i, j, float(sim[i, j])) for i, j in hungarian(sim, iou_threshold))
    used_a, used_b = {p[0] for p in pairs}, {p[1] for p in pairs}
    return ImageMatch(
        oa,
        ob,
        pairs,
        tuple(i for i in range(len(oa)) if i not in used_a),
        tuple(j for j in range(len(ob)) if j not in used_b),
    )


@dataclass(frozen=True)
class AgreementResult:
    """Agreement of set B with reference set A; see the module docstring for the definitions."""

    matched_iou: float
    precision: float
    recall: float
    f1: float
    kappa: float
    class_agreement: float
    n_a: int
    n_b: int
    matched: int
    iou_threshold: float
    kind: str
    per_class: Mapping[str, Mapping[str, float]]
    attribute_kappa: Mapping[str, float]
    labels: tuple[str, ...]
    confusion: np.ndarray = field(compare=False, repr=False)
    per_image: tuple[Mapping[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "matched_iou": json_number(self.matched_iou),
            "precision": json_number(self.precision),
            "recall": json_number(self.recall),
            "f1": json_number(self.f1),
            "kappa": json_number(self.kappa),
            "class_agreement": json_number(self.class_agreement),
            "n_a": self.n_a,
            "n_b": self.n_b,
            "matched": self.matched,
            "iou_threshold": self.iou_threshold,
            "kind": self.kind,
            "per_class": {
                n: {k: (json_number(v) if isinstance(v, float) else v) for k, v in s.items()}
                for n, s in self.per_class.items()
            },
            "attribute_kappa": {k: json_number(v) for k, v in self.attribute_kappa.items()},
            "warnings": list(self.warnings),
        }

    def table(self) -> list[tuple[str, str]]:
        return [
            (
                f"matched ({self.kind}, IoU >= {self.iou_threshold:g})",
                f"{self.matched} of {self.n_a} / {self.n_b}",
            ),
            ("matched IoU", format_number(self.matched_iou)),
            ("precision", format_number(self.precision)),
            ("recall", format_number(self.recall)),
            ("F1", format_number(self.f1)),
            ("class kappa", format_number(self.kappa)),
            *((f"kappa[{k}]", format_number(v)) for k, v in self.attribute_kappa.items()),
        ]


def _prf(tp: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    p = tp / n_pred if n_pred else float("nan")
    r = tp / n_true if n_true else float("nan")
    if n_pred == 0 and n_true == 0:
        return p, r, float("nan")
    f1 = 2 * tp / (n_pred + n_true)
    return p, r, f1


def evaluate_agreement(
    a: Dataset,
    b: Dataset,
    *,
    kind: Kind = "auto",
    iou_threshold: float = 0.5,
    min_score: float = 0.0,
) -> AgreementResult:
    """Agreement of label set ``b`` with reference ``a`` over all images of ``a`` (see the module docstring).

    ``kind="auto"`` picks masks, keypoints or boxes from the geometry both sets have. ``min_score`` leaves
    out objects of ``b`` scored below it (model predictions).
    """
    labels = list(a.ontology.names) + [n for n in b.ontology.names if n not in a.ontology]
    sigmas = {
        c.name: np.asarray(c.skeleton.sigmas)
        for c in a.ontology
        if c.skeleton is not None and c.skeleton.sigmas is not None
    }
    pairs_a, pairs_b, ious = [], [], []
    attr_pairs: dict[str, tuple[list, list]] = {}
    count_a: dict[str, int] = {}
    count_b: dict[str, int] = {}
    unmatched_a: list[str] = []
    unmatched_b: list[str] = []
    rows: list[dict[str, Any]] = []
    image_pairs = pair_images(a, b)
    if kind == "auto":
        kind = choose_kind(  # type: ignore[assignment]
            [o for p in image_pairs for o in objects(p.gt.annotations) if not o.crowd],
            [
                o
                for p in image_pairs
                if p.pred is not None
                for o in objects(p.pred.annotations)
                if not o.crowd
            ],
        )
    for pair in image_pairs:
        size = image_size(pair, required=False)
        anns_b = pair.pred.annotations if pair.pred is not None else ()
        if kind == "masks" and size is None:
            size = image_size(pair, required=True)
        m = match_objects(
            pair.gt.annotations, anns_b, size, kind=kind, iou_threshold=iou_threshold, sigmas=sigmas,
            min_score=min_score,
        )  # fmt: skip
        for o in m.a:
            count_a[o.label] = count_a.get(o.label, 0) + 1
        for o in m.b:
            count_b[o.label] = count_b.get(o.label, 0) + 1
        tp = 0
        for i, j, iou in m.pairs:
            la, lb = m.a[i].label, m.b[j].label
            pairs_a.append(la)
            pairs_b.append(lb)
            ious.append(iou)
            tp += la == lb
            for name in set(m.a[i].attributes) & set(m.b[j].attributes):
                xs, ys = attr_pairs.setdefault(name, ([], []))
                xs.append(m.a[i].attributes[name])
                ys.append(m.b[j].attributes[name])
        unmatched_a += [m.a[i].label for i in m.unmatched_a]
        unmatched_b += [m.b[j].label for j in m.unmatched_b]
        rows.append(
            {
                "image": pair.gt.file_name,
                "n_a": len(m.a),
                "n_b": len(m.b),
                "matched": len(m.pairs),
                "mean_iou": float(np.mean([p[2] for p in m.pairs])) if m.pairs else float("nan"),
                "tp": tp,
                "fp": len(m.b) - tp,
                "fn": len(m.a) - tp,
                "class_mismatches": len(m.pairs) - tp,
            }
        )
    for name in [*pairs_b, *unmatched_b, *count_a]:
        if name not in labels:
            labels.append(name)
    index = {n: i for i, n in enumerate(labels)}
    size_l = len(labels)
    confusion = np.zeros((size_l + 1, size_l + 1), dtype=np.int64)  # rows A, columns B, last: none
    np.add.at(confusion, ([index[x] for x in pairs_a], [index[y] for y in pairs_b]), 1)
    np.add.at(confusion, ([index[x] for x in unmatched_a], [size_l] * len(unmatched_a)), 1)
    np.add.at(confusion, ([size_l] * len(unmatched_b), [index[y] for y in unmatched_b]), 1)
    tp_by = np.diag(confusion)[:size_l]
    per_class = {}
    for name in labels:
        na, nb, t = count_a.get(name, 0), count_b.get(name, 0), int(tp_by[index[name]])
        if na == 0 and nb == 0:
            continue
        p, r, f = _prf(t, nb, na)
        per_class[name] = {"precision": p, "recall": r, "f1": f, "tp": t, "fp": nb - t, "fn": na - t}
    n_a, n_b = sum(count_a.values()), sum(count_b.values())
    tp_all = int(tp_by.sum())
    precision, recall, f1 = _prf(tp_all, n_b, n_a)
    warnings = []
    if n_a == 0 and n_b == 0:
        warnings.append("neither label set has an object: agreement is undefined")
    return AgreementResult(
        matched_iou=float(np.mean(ious)) if ious else float("nan"),
        precision=precision,
        recall=recall,
        f1=f1,
        kappa=cohen_kappa(pairs_a, pairs_b),
        class_agreement=float(np.mean([x == y for x, y in zip(pairs_a, pairs_b, strict=True)]))
        if pairs_a
        else float("nan"),
        n_a=n_a,
        n_b=n_b,
        matched=len(ious),
        iou_threshold=iou_threshold,
        kind=kind,
        per_class=per_class,
        attribute_kappa={k: cohen_kappa(*v) for k, v in sorted(attr_pairs.items())},
        labels=tuple(labels),
        confusion=confusion,
        per_image=tuple(rows),
        warnings=tuple(warnings),
    )
