"""Semantic metrics: hand-computed confusion, IoU, Dice, boundary F1; streaming over datasets; properties."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seglab.core import Annotation, Box, Dataset, ImageRecord, ImageSize, Mask, Ontology
from seglab.metrics import MetricInputError, confusion_matrix, evaluate_semantic, scores_from_confusion
from seglab.metrics.semantic import boundary_counts

ONTOLOGY = Ontology.from_names(["sky", "road", "car"])


def test_confusion_matrix_by_hand() -> None:
    gt = np.array([[0, 0, 1], [1, 255, 2]])
    pred = np.array([[0, 1, 1], [1, 0, 7]])
    cm = confusion_matrix(gt, pred, 3)
    expected = np.zeros((3, 4), dtype=np.int64)
    expected[0, 0] = 1  # sky -> sky
    expected[0, 1] = 1  # sky -> road
    expected[1, 1] = 2  # road -> road
    expected[2, 3] = 1  # car -> 7, a class nobody knows: "none"
    assert np.array_equal(cm, expected)  # the 255 pixel is ignored
    s = scores_from_confusion(cm)
    # sky IoU 1/2, road 2/3, car 0; Dice 2/3, 4/5, 0
    assert np.allclose(s.iou, [1 / 2, 2 / 3, 0.0]) and np.allclose(s.dice, [2 / 3, 4 / 5, 0.0])
    assert s.miou == pytest.approx((1 / 2 + 2 / 3) / 3)
    assert s.pixel_accuracy == pytest.approx(3 / 5)
    assert s.fw_iou == pytest.approx(2 / 5 * 1 / 2 + 2 / 5 * 2 / 3 + 1 / 5 * 0)
    with pytest.raises(ValueError, match="prediction is"):
        confusion_matrix(gt, pred[:, :2], 3)


def test_absent_classes_are_undefined_not_zero() -> None:
    cm = confusion_matrix(np.zeros((4, 4), int), np.zeros((4, 4), int), 3)
    s = scores_from_confusion(cm)
    assert s.iou[0] == 1.0 and np.isnan(s.iou[1:]).all() and s.miou == 1.0


def test_confusion_matches_a_plain_loop() -> None:
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 6, (30, 40))
    gt[rng.random((30, 40)) < 0.1] = 255
    pred = rng.integers(0, 7, (30, 40))
    cm = confusion_matrix(gt, pred, 5)
    plain = np.zeros((5, 6), dtype=np.int64)
    for g, p in zip(gt.ravel().tolist(), pred.ravel().tolist(), strict=True):
        if g < 5:
            plain[g, p if p < 5 else 5] += 1
    assert np.array_equal(cm, plain)


def test_boundary_f1_tolerance() -> None:
    gt = np.full((20, 20), 0)
    gt[5:15, 5:15] = 1
    pred = np.full((20, 20), 0)
    pred[6:16, 6:16] = 1  # shifted by one pixel diagonally
    valid = np.ones_like(gt, dtype=bool)
    exact = boundary_counts(gt, pred, np.array([1]), 0.0, valid)[0]
    loose = boundary_counts(gt, pred, np.array([1]), 2.0, valid)[0]
    assert exact[1] == exact[3] == 36  # a 10x10 square has 36 boundary pixels
    assert exact[0] < 36 and loose[0] == 36 and loose[2] == 36


def _mask(size: ImageSize, rows: slice, cols: slice) -> Mask:
    arr = np.zeros(size.shape, dtype=bool)
    arr[rows, cols] = True
    return Mask.from_array(arr)


def _dataset(*anns: Annotation, size=None, name="a.png", ontology=ONTOLOGY) -> Dataset:
    return Dataset(ontology, (ImageRecord(1, name, size or ImageSize(10, 8), anns),))


def test_dataset_evaluation_by_hand() -> None:
    size = ImageSize(10, 8)
    gt = _dataset(
        Annotation(1, "sky", _mask(size, slice(0, 4), slice(None))),  # 40 px
        Annotation(2, "road", _mask(size, slice(4, 8), slice(0, 5))),  # 20 px; the rest is unlabeled: ignored
    )
    pred_onto = Ontology.from_names(["road", "sky", "tree"])  # other order and an unknown class
    pred = _dataset(
        Annotation(1, "sky", _mask(size, slice(0, 3), slice(None))),  # 30 px on sky
        Annotation(2, "tree", _mask(size, slice(3, 4), slice(None))),  # 10 px of sky called tree
        Annotation(3, "road", _mask(size, slice(4, 8), slice(None))),  # 20 on road, 20 on unlabeled
        ontology=pred_onto,
    )
    r = evaluate_semantic(gt, pred)
    assert r.class_names == ("sky", "road", "car")
    assert r.confusion.tolist() == [[30, 0, 0, 10], [0, 20, 0, 0], [0, 0, 0, 0]]
    assert r.iou[0] == pytest.approx(30 / 40) and r.iou[1] == 1.0 and np.isnan(r.iou[2])
    assert r.miou == pytest.approx((0.75 + 1.0) / 2) and r.pixel_accuracy == pytest.approx(50 / 60)
    assert any("'tree'" in w for w in r.warnings)
    js = r.to_json()
    assert set(js) >= {"mIoU", "fwIoU", "pixel_accuracy", "dice", "boundary_f1", "per_class"}
    assert js["per_class"]["car"] == {"IoU": None, "dice": None, "boundary_f1": None}
    assert js["per_class"]["sky"]["dice"] == pytest.approx(60 / 70)
    assert r.per_image[0]["image"] == "a.png" and r.per_image[0]["pixels"] == 60


def test_ignore_index_and_boxes() -> None:
    size = ImageSize(10, 8)
    gt = _dataset(
        Annotation(1, "sky", _mask(size, slice(0, 4), slice(None))),
        Annotation(2, "road", Box(0, 4, 10, 8)),
    )
    pred = _dataset(Annotation(1, "sky", _mask(size, slice(0, 8), slice(None))))
    without_boxes = evaluate_semantic(gt, pred)
    assert without_boxes.pixel_accuracy == 1.0  # the road box is not an area unless asked
    with_boxes = evaluate_semantic(gt, pred, include_boxes=True)
    assert with_boxes.pixel_accuracy == pytest.approx(0.5)
    ignoring_road = evaluate_semantic(gt, pred, include_boxes=True, ignore_index=1)
    assert ignoring_road.pixel_accuracy == 1.0  # road is class index 1 here


def test_bad_input() -> None:
    size = ImageSize(10, 8)
    gt = _dataset(Annotation(1, "sky", _mask(size, slice(0, 4), slice(None))))
    small = _dataset(Annotation(1, "sky", Mask.from_array(np.ones((4, 4), bool))), size=ImageSize(4, 4))
    with pytest.raises(MetricInputError, match="10x8 in the ground truth but 4x4"):
        evaluate_semantic(gt, small)
    wrong_mask = _dataset(Annotation(1, "sky", Mask.from_array(np.ones((4, 4), bool))))
    with pytest.raises(MetricInputError, match="4x4 but its image is 10x8"):
        evaluate_semantic(gt, wrong_mask)
    empty = evaluate_semantic(_dataset(), _dataset())
    assert np.isnan(empty.miou) and empty.to_json()["mIoU"] is None and empty.warnings
    nothing_predicted = evaluate_semantic(gt, _dataset())
    assert nothing_predicted.miou == 0.0 and nothing_predicted.pixel_accuracy == 0.0


@st.composite
def semantic_sets(draw) -> Dataset:
    images = []
    for i in range(draw(st.integers(1, 3))):
        size = ImageSize(draw(st.integers(4, 30)), draw(st.integers(4, 30)))
        anns = []
        for k in range(draw(st.integers(0, 6))):
            x0, y0 = draw(st.integers(0, size.width - 1)), draw(st.integers(0, size.height - 1))
            x1, y1 = draw(st.integers(x0 + 1, size.width)), draw(st.integers(y0 + 1, size.height))
            label = draw(st.sampled_from(ONTOLOGY.names))
            anns.append(
                Annotation(
                    k + 1, label, _mask(size, slice(y0, y1), slice(x0, x1)), z_order=draw(st.integers(0, 1))
                )
            )
        images.append(ImageRecord(i + 1, f"{i}.png", size, tuple(anns)))
    return Dataset(ONTOLOGY, tuple(images))


@settings(max_examples=25)
@given(semantic_sets(), st.randoms(use_true_random=False))
def test_properties(gt: Dataset, rnd: random.Random) -> None:
    itself = evaluate_semantic(gt, gt)
    if itself.confusion.sum():
        assert (
            itself.miou == 1.0
            and itself.pixel_accuracy == 1.0
            and itself.dice == 1.0
            and itself.fw_iou == 1.0
        )
        assert np.isnan(itself.boundary_f1) or itself.boundary_f1 == 1.0
    # the painted map agrees with core's semantic_map (same overlap rule)
    from seglab.core.segmentation import semantic_map
    from seglab.metrics.semantic import class_maps

    img = gt.images[0]
    core = semantic_map(img.annotations, ONTOLOGY, img.size, fill=3)
    ours = class_maps(img, img.size, {n: i for i, n in enumerate(ONTOLOGY.names)}, fill=3, unknown=3)
    assert np.array_equal(core, ours)
    # permuting images changes nothing
    names = ONTOLOGY.names
    drop = rnd.randrange(4)
    pred = gt.with_images(  # every other annotation relabeled and one dropped: a real disagreement
        [
            img.with_annotations(
                a.with_(label=names[(names.index(a.label) + 1) % 3]) if k % 2 else a
                for k, a in enumerate(img.annotations)
                if k != drop
            )
            for img in gt.images
        ]
    )
    order = list(range(len(gt.images)))
    rnd.shuffle(order)
    a = evaluate_semantic(gt, pred)
    b = evaluate_semantic(
        gt.with_images([gt.images[i] for i in order]), pred.with_images([pred.images[i] for i in order])
    )
    assert np.array_equal(a.confusion, b.confusion)
    assert np.array_equal(a.iou, b.iou, equal_nan=True)
    assert np.array_equal(a.boundary_f1_per_class, b.boundary_f1_per_class, equal_nan=True)
