"""A plain per-image PQ, written line by line after panopticapi's ``pq_compute_single_core`` and
``PQStat.pq_average`` (cocodataset/panopticapi, pq_compute.py). It is the test oracle and the benchmark's
baseline; seglab's vectorised implementation must give the same numbers.

Inputs per image are what panopticapi reads: a segment-id map (0 = void) and the segments' info, here taken
from :func:`seglab.core.segmentation.panoptic_map`.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from seglab.core import Dataset
from seglab.core.segmentation import PanopticMap, panoptic_map

OFFSET = 256 * 256 * 256
VOID = 0


class PQStatCat:
    def __init__(self) -> None:
        self.iou = 0.0
        self.tp = 0
        self.fp = 0
        self.fn = 0


def pq_single_image(pq_stat, categories, gt: PanopticMap, pred: PanopticMap) -> None:
    pan_gt, pan_pred = gt.ids.astype(np.uint32), pred.ids.astype(np.uint32)
    gt_segms = {s.id: {"category_id": s.label, "iscrowd": int(s.crowd), "area": s.area} for s in gt.segments}
    pred_segms = {s.id: {"category_id": s.label, "iscrowd": int(s.crowd)} for s in pred.segments}

    # predicted segments area calculation + prediction sanity checks
    pred_labels_set = {s.id for s in pred.segments}
    labels, labels_cnt = np.unique(pan_pred, return_counts=True)
    for label, label_cnt in zip(labels, labels_cnt, strict=True):
        if label not in pred_segms:
            if label == VOID:
                continue
            raise KeyError(f"segment {label} is in the PNG but not in the JSON")
        pred_segms[label]["area"] = label_cnt
        pred_labels_set.remove(label)
        if pred_segms[label]["category_id"] not in categories:
            raise KeyError(f"segment {label} has an unknown category")
    if len(pred_labels_set) != 0:
        raise KeyError(f"segments {pred_labels_set} are in the JSON but not in the PNG")

    # confusion matrix calculation
    pan_gt_pred = pan_gt.astype(np.uint64) * OFFSET + pan_pred.astype(np.uint64)
    gt_pred_map = {}
    labels, labels_cnt = np.unique(pan_gt_pred, return_counts=True)
    for label, intersection in zip(labels, labels_cnt, strict=True):
        gt_id = label // OFFSET
        pred_id = label % OFFSET
        gt_pred_map[(gt_id, pred_id)] = intersection

    # count all matched pairs
    gt_matched = set()
    pred_matched = set()
    for label_tuple, intersection in gt_pred_map.items():
        gt_label, pred_label = label_tuple
        if gt_label not in gt_segms:
            continue
        if pred_label not in pred_segms:
            continue
        if gt_segms[gt_label]["iscrowd"] == 1:
            continue
        if gt_segms[gt_label]["category_id"] != pred_segms[pred_label]["category_id"]:
            continue
        union = (
            pred_segms[pred_label]["area"]
            + gt_segms[gt_label]["area"]
            - intersection
            - gt_pred_map.get((VOID, pred_label), 0)
        )
        iou = intersection / union
        if iou > 0.5:
            pq_stat[gt_segms[gt_label]["category_id"]].tp += 1
            pq_stat[gt_segms[gt_label]["category_id"]].iou += iou
            gt_matched.add(gt_label)
            pred_matched.add(pred_label)

    # count false negatives
    crowd_labels_dict = {}
    for gt_label, gt_info in gt_segms.items():
        if gt_label in gt_matched:
            continue
        # crowd segments are ignored
        if gt_info["iscrowd"] == 1:
            crowd_labels_dict[gt_info["category_id"]] = gt_label
            continue
        pq_stat[gt_info["category_id"]].fn += 1

    # count false positives
    for pred_label, pred_info in pred_segms.items():
        if pred_label in pred_matched:
            continue
        # intersection of the segment with VOID
        intersection = gt_pred_map.get((VOID, pred_label), 0)
        # plus intersection with corresponding CROWD region if it exists
        if pred_info["category_id"] in crowd_labels_dict:
            intersection += gt_pred_map.get((crowd_labels_dict[pred_info["category_id"]], pred_label), 0)
        # predicted segment is ignored if more than half of the segment correspond to VOID and CROWD regions
        if intersection / pred_info["area"] > 0.5:
            continue
        pq_stat[pred_info["category_id"]].fp += 1


def pq_average(pq_stat, categories, isthing):
    pq, sq, rq, n = 0, 0, 0, 0
    per_class_results = {}
    for label, label_info in categories.items():
        if isthing is not None:
            cat_isthing = label_info["isthing"] == 1
            if isthing != cat_isthing:
                continue
        iou = pq_stat[label].iou
        tp = pq_stat[label].tp
        fp = pq_stat[label].fp
        fn = pq_stat[label].fn
        if tp + fp + fn == 0:
            per_class_results[label] = {"pq": 0.0, "sq": 0.0, "rq": 0.0}
            continue
        n += 1
        pq_class = iou / (tp + 0.5 * fp + 0.5 * fn)
        sq_class = iou / tp if tp != 0 else 0
        rq_class = tp / (tp + 0.5 * fp + 0.5 * fn)
        per_class_results[label] = {"pq": pq_class, "sq": sq_class, "rq": rq_class}
        pq += pq_class
        sq += sq_class
        rq += rq_class
    if n == 0:
        return {"pq": float("nan"), "sq": float("nan"), "rq": float("nan"), "n": 0}, per_class_results
    return {"pq": pq / n, "sq": sq / n, "rq": rq / n, "n": n}, per_class_results


def reference_pq(gt: Dataset, pred: Dataset) -> dict:
    """All, Things, Stuff and per-class PQ, image by image with panopticapi's logic."""
    categories = {c.name: {"isthing": int(c.is_thing)} for c in gt.ontology}
    pq_stat = defaultdict(PQStatCat)
    preds = {img.file_name: img for img in pred.images}
    for img in gt.images:
        size = img.require_size()
        p = preds.get(img.file_name)
        gt_map = panoptic_map(img.annotations, gt.ontology, size)
        pred_map = panoptic_map(p.annotations if p is not None else (), gt.ontology, size)
        pq_single_image(pq_stat, categories, gt_map, pred_map)
    out = {}
    for name, isthing in (("All", None), ("Things", True), ("Stuff", False)):
        out[name], per_class = pq_average(pq_stat, categories, isthing)
        if name == "All":
            out["per_class"] = per_class
    return out
