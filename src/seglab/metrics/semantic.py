"""Semantic segmentation metrics: confusion matrix, IoU, mIoU, frequency-weighted IoU, accuracy, Dice,
boundary F1.

Everything derives from one confusion matrix counted with ``np.bincount`` image by image, so a dataset of any
size costs one image of pixels at a time. Rows are ground-truth classes (the ground-truth ontology's order);
columns are predicted classes plus one last column, "none", for pixels the prediction leaves unlabeled or
gives a class the ground truth does not know: they count against recall, never as a hit. Ground-truth
pixels that no annotation covers, or whose class index is the ignore index (255 by default), are left out.

A class's IoU is undefined (NaN) when neither side has it; means are taken over the defined classes, as
mmsegmentation and torchmetrics do. Boundary F1 (Csurka et al. 2013) compares the one-pixel boundaries of each
class's region: a boundary pixel counts as matched when one of the other side lies within ``tolerance``
pixels; matched and total counts are summed over the dataset per class before the ratios are taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.segmentation import IGNORE
from seglab.metrics._common import format_number, image_size, json_number, paint, pair_images

_CROSS = ndimage.generate_binary_structure(2, 1)


def confusion_matrix(
    gt: np.ndarray, pred: np.ndarray, num_classes: int, *, ignore_index: int = IGNORE
) -> np.ndarray:
    """Pixel counts ``(K, K + 1)``: row = ground-truth class, column = predicted class, last column "none".

    ``gt`` and ``pred`` are ``(H, W)`` class-index maps of the same shape. Ground-truth pixels equal to
    ``ignore_index`` or outside ``0..K-1`` are left out; predicted values outside ``0..K-1`` go to "none".
    """
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth is {gt.shape} but the prediction is {pred.shape}")
    k = int(num_classes)
    g = gt.ravel().astype(np.int64)  # (N,)
    p = pred.ravel().astype(np.int64)  # (N,)
    valid = (g >= 0) & (g < k) & (g != ignore_index)
    p = np.where((p >= 0) & (p < k), p, k)
    counts = np.bincount(g[valid] * (k + 1) + p[valid], minlength=k * (k + 1))
    return counts.reshape(k, k + 1)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _nanmean(values: np.ndarray) -> float:
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else float("nan")


@dataclass(frozen=True)
class ConfusionScores:
    """Per-class IoU and Dice ``(K,)`` (NaN: class absent on both sides) and the summary numbers."""

    iou: np.ndarray
    dice: np.ndarray
    miou: float
    fw_iou: float
    pixel_accuracy: float
    mean_dice: float


def scores_from_confusion(confusion: np.ndarray) -> ConfusionScores:
    """IoU, Dice, mIoU, frequency-weighted IoU and pixel accuracy of a ``(K, K + 1)`` confusion matrix."""
    c = np.asarray(confusion, dtype=np.float64)
    k = c.shape[0]
    tp = np.diag(c[:, :k])  # (K,)
    gt_count = c.sum(axis=1)  # (K,)
    pred_count = c[:, :k].sum(axis=0)  # (K,)
    iou = _ratio(tp, gt_count + pred_count - tp)
    dice = _ratio(2 * tp, gt_count + pred_count)
    total = gt_count.sum()
    if total > 0:
        seen = gt_count > 0
        fw = float(np.sum(gt_count[seen] * iou[seen]) / total)  # sum of freq * IoU, one rounding
        accuracy = float(tp.sum() / total)
    else:
        fw = accuracy = float("nan")
    return ConfusionScores(iou, dice, _nanmean(iou), fw, accuracy, _nanmean(dice))


def _boundary(region: np.ndarray) -> np.ndarray:
    """Pixels of the region with a 4-neighbour outside it; the image border is not a boundary."""
    return region & ~ndimage.binary_erosion(region, structure=_CROSS, border_value=1)


def boundary_counts(
    gt: np.ndarray, pred: np.ndarray, classes: np.ndarray, tolerance: float, valid: np.ndarray
) -> np.ndarray:
    """Per class ``(len(classes), 4)``: matched predicted, predicted, matched true, true boundary pixels.

    Work is cropped to each class's bounding box (grown by the tolerance), so small classes cost little.
    Predicted boundary pixels on ignored ground truth (``valid`` False) are left out.
    """
    out = np.zeros((len(classes), 4), dtype=np.int64)
    h, w = gt.shape
    pad = int(np.ceil(tolerance)) + 1
    for row, c in enumerate(classes.tolist()):
        g_full, p_full = gt == c, (pred == c) & valid
        either = g_full | p_full
        rows, cols = np.flatnonzero(either.any(axis=1)), np.flatnonzero(either.any(axis=0))
        if rows.size == 0:
            continue
        r0, r1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, h)
        c0, c1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, w)
        g, p, v = g_full[r0:r1, c0:c1], p_full[r0:r1, c0:c1], valid[r0:r1, c0:c1]
        gb = _boundary(g)
        pb = _boundary(p) & v
        near_g = ndimage.distance_transform_edt(~gb) <= tolerance if gb.any() else np.zeros_like(gb)
        near_p = ndimage.distance_transform_edt(~pb) <= tolerance if pb.any() else np.zeros_like(pb)
        out[row] = (
            np.count_nonzero(pb & near_g),
            np.count_nonzero(pb),
            np.count_nonzero(gb & near_p),
            np.count_nonzero(gb),
        )
    return out


def _f1_from_counts(counts: np.ndarray) -> np.ndarray:
    precision = _ratio(counts[:, 0].astype(float), counts[:, 1].astype(float))
    recall = _ratio(counts[:, 2].astype(float), counts[:, 3].astype(float))
    absent = (counts[:, 1] == 0) & (counts[:, 3] == 0)
    p, r = np.nan_to_num(precision), np.nan_to_num(recall)
    f1 = _ratio(2 * p * r, p + r)
    f1 = np.where(np.isnan(f1), 0.0, f1)
    return np.where(absent, np.nan, f1)


@dataclass(frozen=True)
class SemanticResult:
    """Dataset-level semantic scores; ``per_image`` rows are plain dicts (image, accuracy, mIoU, pixels)."""

    class_names: tuple[str, ...]
    confusion: np.ndarray = field(compare=False, repr=False)
    iou: np.ndarray = field(compare=False, repr=False)
    dice_per_class: np.ndarray = field(compare=False, repr=False)
    boundary_f1_per_class: np.ndarray = field(compare=False, repr=False)
    miou: float = float("nan")
    fw_iou: float = float("nan")
    pixel_accuracy: float = float("nan")
    dice: float = float("nan")
    boundary_f1: float = float("nan")
    tolerance: float = 2.0
    per_image: tuple[Mapping[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        per_class = {
            name: {
                "IoU": json_number(self.iou[i]),
                "dice": json_number(self.dice_per_class[i]),
                "boundary_f1": json_number(self.boundary_f1_per_class[i]),
            }
            for i, name in enumerate(self.class_names)
        }
        return {
            "mIoU": json_number(self.miou),
            "fwIoU": json_number(self.fw_iou),
            "pixel_accuracy": json_number(self.pixel_accuracy),
            "dice": json_number(self.dice),
            "boundary_f1": json_number(self.boundary_f1),
            "boundary_tolerance": self.tolerance,
            "per_class": per_class,
            "warnings": list(self.warnings),
        }

    def table(self) -> list[tuple[str, str]]:
        return [
            ("mIoU", format_number(self.miou)),
            ("fwIoU", format_number(self.fw_iou)),
            ("pixel accuracy", format_number(self.pixel_accuracy)),
            ("Dice", format_number(self.dice)),
            (f"boundary F1 (tol {self.tolerance:g} px)", format_number(self.boundary_f1)),
        ]


def class_maps(
    record: ImageRecord | None,
    size: ImageSize,
    index_of: Mapping[str, int],
    *,
    fill: int,
    unknown: int,
    include_boxes: bool = False,
) -> np.ndarray:
    """The class-index map ``(H, W)`` int32 of one image's annotations (``unknown`` for other classes)."""
    if record is None:
        return np.full(size.shape, fill, dtype=np.int32)
    values = {i: index_of.get(a.label, unknown) for i, a in enumerate(record.annotations)}
    return paint(record.annotations, size, values, fill=fill, include_boxes=include_boxes)


def evaluate_semantic(
    gt: Dataset,
    pred: Dataset,
    *,
    ignore_index: int = IGNORE,
    tolerance: float = 2.0,
    include_boxes: bool = False,
) -> SemanticResult:
    """Semantic scores of ``pred`` against ``gt``, streamed image by image.

    Classes are matched by name; the ground truth's ontology gives the rows. Areas are painted like
    :func:`seglab.core.segmentation.semantic_map` (higher ``z_order`` on top); boxes only with
    ``include_boxes``.
    """
    names = tuple(gt.ontology.names)
    k = len(names)
    index_of = {n: i for i, n in enumerate(names)}
    confusion = np.zeros((k, k + 1), dtype=np.int64)
    bcounts = np.zeros((k, 4), dtype=np.int64)
    rows: list[dict[str, Any]] = []
    unknown: dict[str, None] = {}
    for pair in pair_images(gt, pred):
        size = image_size(pair, required=True)
        assert size is not None
        g = class_maps(pair.gt, size, index_of, fill=k, unknown=k, include_boxes=include_boxes)  # (H, W)
        p = class_maps(pair.pred, size, index_of, fill=k, unknown=k, include_boxes=include_boxes)  # (H, W)
        if pair.pred is not None:
            for a in pair.pred.annotations:
                if a.label not in index_of:
                    unknown.setdefault(a.label, None)
        cm = confusion_matrix(g, p, k, ignore_index=ignore_index)
        confusion += cm
        valid = (g < k) & (g != ignore_index)
        present = np.flatnonzero((cm.sum(axis=1) > 0) | (cm[:, :k].sum(axis=0) > 0))
        if present.size:
            bcounts[present] += boundary_counts(g, p, present, tolerance, valid)
        s = scores_from_confusion(cm)
        rows.append(
            {
                "image": pair.gt.file_name,
                "pixels": int(cm.sum()),
                "pixel_accuracy": s.pixel_accuracy,
                "mIoU": s.miou,
                "dice": s.mean_dice,
            }
        )
    scores = scores_from_confusion(confusion)
    bf1 = _f1_from_counts(bcounts)
    warnings = []
    if unknown:
        warnings.append(
            "predicted classes the ground truth does not have count as wrong pixels: "
            + ", ".join(map(repr, list(unknown)[:10]))
        )
    if confusion.sum() == 0:
        warnings.append("no labeled ground-truth pixel: every score is undefined")
    return SemanticResult(
        class_names=names,
        confusion=confusion,
        iou=scores.iou,
        dice_per_class=scores.dice,
        boundary_f1_per_class=bf1,
        miou=scores.miou,
        fw_iou=scores.fw_iou,
        pixel_accuracy=scores.pixel_accuracy,
        dice=scores.mean_dice,
        boundary_f1=_nanmean(bf1),
        tolerance=tolerance,
        per_image=tuple(rows),
        warnings=tuple(warnings),
    )
