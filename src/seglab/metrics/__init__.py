"""Metrics: pure functions of seglab's core types returning frozen results with ``to_json()``.

- :func:`evaluate_coco`: COCO AP/AR for boxes, masks and keypoints, the numbers pycocotools gives;
- :func:`evaluate_semantic`: confusion matrix, IoU, mIoU, fwIoU, pixel accuracy, Dice, boundary F1;
- :func:`evaluate_panoptic`: PQ, SQ, RQ with panopticapi's matching, void and crowd rules;
- :func:`evaluate_agreement`: Hungarian matching of two label sets, precision/recall/F1, Cohen's kappa.

Ground truth and predictions are two :class:`~seglab.core.dataset.Dataset` objects describing the same
images (paired by file name); classes are matched by name, the ground truth's ontology giving the order.
"""

from seglab.metrics._common import ImagePair, MetricInputError, pair_images
from seglab.metrics.agreement import (
    AgreementResult,
    ImageMatch,
    box_iou,
    cohen_kappa,
    evaluate_agreement,
    match_objects,
    oks,
)
from seglab.metrics.coco import COCO_PERSON_SIGMAS, CocoParams, CocoResult, coco_inputs, evaluate_coco
from seglab.metrics.panoptic import (
    PanopticResult,
    PQGroup,
    evaluate_panoptic,
    image_segments,
    pq_counts,
    segment_map,
)
from seglab.metrics.semantic import (
    SemanticResult,
    confusion_matrix,
    evaluate_semantic,
    scores_from_confusion,
)

__all__ = [
    "COCO_PERSON_SIGMAS",
    "AgreementResult",
    "CocoParams",
    "CocoResult",
    "ImageMatch",
    "ImagePair",
    "MetricInputError",
    "PQGroup",
    "PanopticResult",
    "SemanticResult",
    "box_iou",
    "coco_inputs",
    "cohen_kappa",
    "confusion_matrix",
    "evaluate_agreement",
    "evaluate_coco",
    "evaluate_panoptic",
    "evaluate_semantic",
    "image_segments",
    "match_objects",
    "oks",
    "pair_images",
    "pq_counts",
    "scores_from_confusion",
    "segment_map",
]
