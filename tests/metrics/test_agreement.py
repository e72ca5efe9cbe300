"""Agreement: Cohen's kappa by hand, box IoU and OKS against plain formulas, Hungarian vs greedy, reports."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seglab.core import Annotation, Box, Dataset, ImageRecord, ImageSize, Keypoints, Mask, Ontology, Polygon
from seglab.metrics import box_iou, cohen_kappa, evaluate_agreement, match_objects, oks
from seglab.metrics.agreement import hungarian
from seglab.metrics.coco import COCO_PERSON_SIGMAS


def test_cohen_kappa_by_hand() -> None:
    # Wikipedia's example: 50 items, 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> p_o 0.7, p_e 0.5, kappa 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(["x", "y", "z"], ["x", "y", "z"]) == 1.0
    assert cohen_kappa(["x"] * 4, ["x"] * 4) == 1.0  # one label used throughout: perfect agreement
    assert np.isnan(cohen_kappa([], []))
    assert cohen_kappa(["a", "b"], ["b", "a"]) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        cohen_kappa(["a"], [])


def test_box_iou_by_hand() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]])
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    assert iou[0].tolist() == pytest.approx([50 / 150, 0.0, 1.0])
    assert iou[1].tolist() == [0.0, 0.0, 0.0]


def _plain_oks(gt, area, bbox, dt, sigmas) -> float:
    """pycocotools' computeOks for one pair, line by line."""
    var = (sigmas * 2) ** 2
    xg, yg, vg = gt[:, 0], gt[:, 1], gt[:, 2]
    k1 = np.count_nonzero(vg > 0)
    x0, x1 = bbox[0] - bbox[2], bbox[0] + bbox[2] * 2
    y0, y1 = bbox[1] - bbox[3], bbox[1] + bbox[3] * 2
    xd, yd = dt[:, 0], dt[:, 1]
    if k1 > 0:
        dx, dy = xd - xg, yd - yg
    else:
        z = np.zeros(len(sigmas))
        dx = np.max((z, x0 - xd), axis=0) + np.max((z, xd - x1), axis=0)
        dy = np.max((z, y0 - yd), axis=0) + np.max((z, yd - y1), axis=0)
    e = (dx**2 + dy**2) / var / (area + np.spacing(1)) / 2
    if k1 > 0:
        e = e[vg > 0]
    return float(np.sum(np.exp(-e)) / e.shape[0])


def test_oks_equals_the_pycocotools_formula() -> None:
    rng = np.random.default_rng(1)
    gt = np.concatenate([rng.uniform(0, 100, (3, 17, 2)), rng.integers(0, 3, (3, 17, 1))], axis=2)
    gt[2, :, 2] = 0  # no labeled point: distance to the doubled box
    dt = np.concatenate([rng.uniform(0, 100, (4, 17, 2)), rng.random((4, 17, 1))], axis=2)
    area = np.array([900.0, 2500.0, 400.0])
    boxes = np.array([[10, 10, 30, 30], [0, 0, 50, 50], [40, 40, 20, 20]], dtype=float)
    got = oks(gt, area, boxes, dt, COCO_PERSON_SIGMAS)
    for i in range(3):
        for j in range(4):
            assert got[i, j] == pytest.approx(
                _plain_oks(gt[i], area[i], boxes[i], dt[j], COCO_PERSON_SIGMAS), abs=1e-12
            )


def test_hungarian_beats_greedy() -> None:
    sim = np.array([[0.6, 0.9], [0.0, 0.55]])
    assert sorted(hungarian(sim, 0.5)) == [(0, 0), (1, 1)]  # greedy would take (0, 1) and leave row 1 alone
    assert hungarian(sim, 0.7) == [(0, 1)]
    assert hungarian(np.zeros((0, 3)), 0.5) == []


ONTO = Ontology.from_names(["cat", "dog", "bird"])


def _image(*anns: Annotation, name: str = "a.jpg", image_id: int = 1) -> ImageRecord:
    return ImageRecord(image_id, name, ImageSize(100, 80), anns)


def test_two_annotators_report() -> None:
    a = Dataset(
        ONTO,
        (
            _image(
                Annotation(1, "cat", Box(0, 0, 20, 20), attributes={"occluded": True}),
                Annotation(2, "dog", Box(50, 50, 70, 70), attributes={"occluded": False}),
                Annotation(3, "bird", Box(80, 0, 90, 10)),
            ),
            _image(Annotation(4, "cat", Box(0, 0, 10, 10)), name="b.jpg", image_id=2),
        ),
    )
    b = Dataset(
        ONTO,
        (
            _image(
                Annotation(1, "cat", Box(1, 0, 21, 20), attributes={"occluded": True}),  # IoU 380/420
                Annotation(2, "cat", Box(50, 50, 70, 70), attributes={"occluded": True}),  # class disagrees
                Annotation(3, "dog", Box(0, 60, 10, 70)),  # nothing there in A
            ),
        ),
    )
    r = evaluate_agreement(a, b, iou_threshold=0.5)
    assert (r.n_a, r.n_b, r.matched, r.kind) == (4, 3, 2, "boxes")
    assert r.matched_iou == pytest.approx((380 / 420 + 1.0) / 2)
    assert r.precision == pytest.approx(1 / 3) and r.recall == pytest.approx(1 / 4)
    assert r.f1 == pytest.approx(2 / 7)
    assert r.class_agreement == 0.5
    assert r.kappa == pytest.approx(cohen_kappa(["cat", "dog"], ["cat", "cat"]))
    assert r.attribute_kappa["occluded"] == pytest.approx(cohen_kappa([True, False], [True, True]))
    assert r.per_class["cat"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "tp": 1, "fp": 1, "fn": 1}
    assert r.per_class["bird"]["recall"] == 0.0 and np.isnan(r.per_class["bird"]["precision"])
    labels = [*r.labels, "none"]
    assert r.confusion[labels.index("dog"), labels.index("cat")] == 1
    assert r.confusion[labels.index("bird"), labels.index("none")] == 1
    assert r.confusion[labels.index("none"), labels.index("dog")] == 1
    assert [row["image"] for row in r.per_image] == ["a.jpg", "b.jpg"]
    assert r.per_image[1] | {"mean_iou": 0} == {
        "image": "b.jpg", "n_a": 1, "n_b": 0, "matched": 0, "mean_iou": 0, "tp": 0, "fp": 0, "fn": 1,
        "class_mismatches": 0,
    }  # fmt: skip
    js = r.to_json()
    assert {"matched_iou", "precision", "recall", "f1", "kappa", "per_class"} <= set(js)
    assert js["per_class"]["bird"]["precision"] is None


def test_masks_and_keypoints() -> None:
    arr = np.zeros((80, 100), dtype=bool)
    arr[10:30, 10:30] = True
    square = Polygon.from_rings([[10, 10], [30, 10], [30, 30], [10, 30]])
    a = Dataset(ONTO, (_image(Annotation(1, "cat", square)),))
    b = Dataset(ONTO, (_image(Annotation(1, "cat", Mask.from_array(arr))),))
    r = evaluate_agreement(a, b)
    assert r.kind == "masks" and r.matched_iou == 1.0 and r.f1 == 1.0
    kp = np.array([[10, 10, 2]] * 17, dtype=float)
    kp[:, 0] += np.arange(17) * 3
    kp[:, 1] += np.arange(17) % 5 * 8  # a 48 x 32 extent: the reference area for OKS
    a = Dataset(ONTO, (_image(Annotation(1, "cat", Keypoints(kp))),))
    near = kp.copy()
    near[:, :2] += 0.5
    b = Dataset(ONTO, (_image(Annotation(1, "cat", Keypoints(near))),))
    r = evaluate_agreement(a, b)
    assert r.kind == "keypoints" and r.matched == 1 and 0.5 < r.matched_iou < 1.0


def test_match_objects_is_the_per_image_primitive() -> None:
    a = [Annotation(1, "cat", Box(0, 0, 10, 10)), Annotation(2, "cat", Box(0, 0, 10, 10), crowd=True)]
    b = [
        Annotation(1, "cat", Box(0, 0, 10, 10), score=0.2),
        Annotation(2, "dog", Box(0, 0, 10, 10), score=0.9),
    ]
    m = match_objects(a, b, ImageSize(100, 80), min_score=0.5)
    assert len(m.a) == 1 and len(m.b) == 1  # crowd and low-score objects are set aside
    assert m.pairs == ((0, 0, 1.0),) and m.b[0].label == "dog"


@st.composite
def label_sets(draw) -> Dataset:
    images = []
    for i in range(draw(st.integers(1, 4))):
        anns = []
        for k in range(draw(st.integers(0, 6))):
            x, y = draw(st.floats(0, 80)), draw(st.floats(0, 60))
            w, h = draw(st.floats(1, 30)), draw(st.floats(1, 30))
            anns.append(
                Annotation(k + 1, draw(st.sampled_from(ONTO.names)), Box(x, y, x + w, y + h),
                           attributes={"hard": draw(st.booleans())})
            )  # fmt: skip
        images.append(_image(*anns, name=f"{i}.jpg", image_id=i + 1))
    return Dataset(ONTO, tuple(images))


@settings(max_examples=30)
@given(label_sets(), label_sets(), st.randoms(use_true_random=False))
def test_properties(a: Dataset, other: Dataset, rnd: random.Random) -> None:
    itself = evaluate_agreement(a, a)
    if a.annotation_count:
        assert itself.f1 == 1.0 and itself.kappa == 1.0 and itself.precision == itself.recall == 1.0
        assert itself.matched == a.annotation_count and all(v == 1.0 for v in itself.attribute_kappa.values())
    b = a.with_images(
        [
            img.with_annotations(o.annotations)
            for img, o in zip(a.images, other.images + a.images, strict=False)
        ]
    )
    order = list(range(len(a.images)))
    rnd.shuffle(order)
    one = evaluate_agreement(a, b)
    two = evaluate_agreement(
        a.with_images([a.images[i] for i in order]), b.with_images([b.images[i] for i in order])
    )
    assert one.to_json() == two.to_json()
