"""PQ/SQ/RQ: hand-computed cases of panopticapi's rules, and equality with a plain port of pq_compute."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seglab.core import Annotation, Dataset, ImageRecord, ImageSize, LabelClass, LabelKind, Mask, Ontology
from seglab.metrics import MetricInputError, evaluate_panoptic
from tests.metrics.pq_reference import reference_pq

ONTOLOGY = Ontology(
    (
        LabelClass("car", (0, 0, 142)),
        LabelClass("person", (220, 20, 60)),
        LabelClass("road", (128, 64, 128), kind=LabelKind.STUFF),
        LabelClass("sky", (70, 130, 180), kind=LabelKind.STUFF),
    )
)
H, W = 10, 10


def region(rows: slice, cols: slice) -> Mask:
    arr = np.zeros((H, W), dtype=bool)
    arr[rows, cols] = True
    return Mask.from_array(arr)


def image(*anns: Annotation, name: str = "a.png") -> Dataset:
    return Dataset(ONTOLOGY, (ImageRecord(1, name, ImageSize(W, H), anns),))


def ann(i: int, label: str, mask: Mask, **kw) -> Annotation:
    return Annotation(i, label, mask, **kw)


def test_void_pixels_leave_the_union() -> None:
    gt = image(ann(1, "car", region(slice(None), slice(0, 4))))  # 40 px, the rest is void
    pred = image(ann(1, "car", region(slice(None), slice(0, 6))))  # 60 px: 40 on the car, 20 on void
    r = evaluate_panoptic(gt, pred)
    # IoU = 40 / (60 + 40 - 40 - 20) = 1: the void part does not count against the prediction
    assert r.PQ == 1.0 and r.SQ == 1.0 and r.RQ == 1.0
    assert r.per_class["car"]["tp"] == 1 and r.things.n == 1 and r.stuff.n == 0


def test_a_segment_at_exactly_half_iou_does_not_match() -> None:
    gt = image(
        ann(1, "car", region(slice(0, 2), slice(None))), ann(2, "road", region(slice(2, None), slice(None)))
    )
    pred = image(
        ann(1, "car", region(slice(0, 1), slice(None))), ann(2, "road", region(slice(1, None), slice(None)))
    )
    r = evaluate_panoptic(gt, pred)
    # car: IoU = 10 / (20 + 10 - 10) = 0.5, not > 0.5: one FN and one FP
    assert r.per_class["car"] == {"PQ": 0.0, "SQ": 0.0, "RQ": 0.0, "tp": 0, "fp": 1, "fn": 1}
    # road: IoU = 80 / 90 matched
    assert r.per_class["road"]["tp"] == 1
    assert r.per_class["road"]["PQ"] == pytest.approx(80 / 90)
    assert pytest.approx((0 + 80 / 90) / 2) == r.PQ
    assert r.things.PQ == 0.0 and pytest.approx(80 / 90) == r.stuff.PQ
    assert pytest.approx(80 / 90 / 2) == r.SQ and pytest.approx(0.5) == r.RQ


def test_just_above_half_matches() -> None:
    gt = image(ann(1, "car", region(slice(0, 2), slice(None))))  # 20 px
    pred = image(
        ann(1, "car", region(slice(0, 2), slice(0, 9))), ann(2, "person", region(slice(5, 6), slice(0, 1)))
    )
    r = evaluate_panoptic(gt, pred)  # car IoU 18/20; the person lies on void: ignored, not a false positive
    assert r.per_class["car"]["SQ"] == pytest.approx(0.9)
    assert "person" not in r.per_class and pytest.approx(0.9) == r.PQ


def test_crowd_regions_neither_match_nor_make_false_positives() -> None:
    gt = image(
        ann(1, "person", region(slice(None), slice(0, 5)), crowd=True),  # crowd: 50 px
        ann(2, "person", region(slice(None), slice(5, 8))),  # 30 px
        ann(3, "road", region(slice(None), slice(8, None))),  # 20 px
    )
    pred = image(
        ann(1, "person", region(slice(None), slice(0, 4))),  # inside the crowd: ignored
        ann(2, "person", region(slice(None), slice(4, 8))),  # 40 px: 30 on the person, 10 on the crowd
        ann(3, "car", region(slice(0, 5), slice(8, None))),  # a car on the road: false positive
        ann(4, "road", region(slice(5, None), slice(8, None))),  # half the road: IoU 0.5, no match
    )
    r = evaluate_panoptic(gt, pred)
    # person: the crowd is not matched (not a FN either); pred 2 matches at 30/40
    assert r.per_class["person"] == {"PQ": 0.75, "SQ": 0.75, "RQ": 1.0, "tp": 1, "fp": 0, "fn": 0}
    assert r.per_class["car"]["fp"] == 1
    assert r.per_class["road"] == {"PQ": 0.0, "SQ": 0.0, "RQ": 0.0, "tp": 0, "fp": 1, "fn": 1}
    ref = reference_pq(gt, pred)
    assert pytest.approx(ref["All"]["pq"], abs=1e-12) == r.PQ


def test_crowd_of_another_class_does_not_excuse_a_prediction() -> None:
    gt = image(ann(1, "person", region(slice(None), slice(0, 5)), crowd=True))
    pred = image(ann(1, "car", region(slice(None), slice(0, 4))))
    r = evaluate_panoptic(gt, pred)
    assert r.per_class["car"]["fp"] == 1 and r.PQ == 0.0


def test_things_and_stuff_are_averaged_apart() -> None:
    gt = image(
        ann(1, "car", region(slice(0, 5), slice(0, 5))),
        ann(2, "sky", region(slice(0, 5), slice(5, None))),
        ann(3, "road", region(slice(5, None), slice(None))),
    )
    pred = image(
        ann(1, "car", region(slice(0, 5), slice(0, 4))),  # 20/25
        ann(2, "sky", region(slice(0, 5), slice(4, None))),  # 25 / 30
        ann(3, "road", region(slice(5, None), slice(None))),
    )
    r = evaluate_panoptic(gt, pred)
    assert pytest.approx(0.8) == r.things.PQ and r.things.n == 1
    assert pytest.approx((25 / 30 + 1.0) / 2) == r.stuff.PQ and r.stuff.n == 2
    assert pytest.approx((0.8 + 25 / 30 + 1.0) / 3) == r.PQ
    js = r.to_json()
    assert set(js) >= {"PQ", "SQ", "RQ", "things", "stuff", "per_class"}
    assert set(js["things"]) == {"PQ", "SQ", "RQ", "n"} and js["per_class"]["sky"]["PQ"] == pytest.approx(
        25 / 30
    )


def test_stuff_is_merged_per_class_and_group_ids_join_instances() -> None:
    gt = image(
        ann(1, "road", region(slice(0, 2), slice(None))),
        ann(2, "road", region(slice(8, None), slice(None))),  # the same road segment
        ann(3, "car", region(slice(3, 5), slice(0, 5)), group_id=7),
        ann(4, "car", region(slice(5, 7), slice(0, 5)), group_id=7),  # one car in two parts
    )
    pred = image(
        ann(1, "road", region(slice(0, 2), slice(None)).union([region(slice(8, None), slice(None))])),
        ann(2, "car", region(slice(3, 7), slice(0, 5))),
    )
    r = evaluate_panoptic(gt, pred)
    assert r.PQ == 1.0 and r.per_class["car"]["tp"] == 1 and r.per_class["road"]["tp"] == 1


def test_bad_input_is_reported_clearly() -> None:
    gt = image(ann(1, "car", region(slice(0, 2), slice(None))))
    unknown = Dataset(
        Ontology.from_names(["truck"]),
        (ImageRecord(1, "a.png", ImageSize(W, H), (ann(1, "truck", region(slice(0, 2), slice(None))),)),),
    )
    with pytest.raises(MetricInputError, match="'truck'"):
        evaluate_panoptic(gt, unknown)
    with pytest.raises(MetricInputError, match="not in the ground truth"):
        evaluate_panoptic(gt, image(name="b.png"))
    empty = evaluate_panoptic(image(), image())
    assert np.isnan(empty.PQ) and empty.n == 0 and empty.to_json()["PQ"] is None and empty.warnings
    missed = evaluate_panoptic(gt, image())
    assert missed.PQ == 0.0 and missed.per_class["car"]["fn"] == 1


# ------------------------------------------------------------------------------------------ properties


@st.composite
def panoptic_sets(draw) -> tuple[Dataset, Dataset]:
    """Random overlapping rectangles (z-order decides), some crowd, some void, and a noisy prediction."""
    gt_images, pred_images = [], []
    names = ONTOLOGY.names
    for i in range(draw(st.integers(1, 4))):
        size = ImageSize(draw(st.integers(6, 24)), draw(st.integers(6, 24)))
        sets = []
        for _side in range(2):
            anns = []
            for k in range(draw(st.integers(0, 7))):
                x0, y0 = draw(st.integers(0, size.width - 1)), draw(st.integers(0, size.height - 1))
                x1, y1 = draw(st.integers(x0 + 1, size.width)), draw(st.integers(y0 + 1, size.height))
                arr = np.zeros(size.shape, dtype=bool)
                arr[y0:y1, x0:x1] = True
                anns.append(
                    Annotation(
                        k + 1,
                        draw(st.sampled_from(names)),
                        Mask.from_array(arr),
                        z_order=draw(st.integers(0, 2)),
                        crowd=draw(st.booleans()) and draw(st.booleans()),
                    )
                )
            sets.append(tuple(anns))
        gt_images.append(ImageRecord(i + 1, f"{i}.png", size, sets[0]))
        pred_images.append(ImageRecord(i + 1, f"{i}.png", size, tuple(a.with_(crowd=False) for a in sets[1])))
    return Dataset(ONTOLOGY, tuple(gt_images)), Dataset(ONTOLOGY, tuple(pred_images))


def _same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or abs(a - b) <= 1e-9


@settings(max_examples=40)
@given(panoptic_sets())
def test_equals_the_panopticapi_logic(sets: tuple[Dataset, Dataset]) -> None:
    gt, pred = sets
    ours = evaluate_panoptic(gt, pred)
    ref = reference_pq(gt, pred)
    for group, key in ((ours, "All"), (ours.things, "Things"), (ours.stuff, "Stuff")):
        assert (
            _same(group.PQ, ref[key]["pq"])
            and _same(group.SQ, ref[key]["sq"])
            and _same(group.RQ, ref[key]["rq"])
        )
    assert ours.n == ref["All"]["n"]
    for name, scores in ours.per_class.items():
        assert _same(scores["PQ"], ref["per_class"][name]["pq"])


@settings(max_examples=25)
@given(panoptic_sets(), st.randoms(use_true_random=False))
def test_against_itself_is_perfect_and_image_order_does_not_matter(sets, rnd: random.Random) -> None:
    gt, pred = sets
    itself = evaluate_panoptic(gt, gt)
    assert itself.n == 0 or (itself.PQ == 1.0 and itself.SQ == 1.0 and itself.RQ == 1.0)
    order = list(range(len(gt.images)))
    rnd.shuffle(order)
    a = evaluate_panoptic(gt, pred)
    b = evaluate_panoptic(
        gt.with_images([gt.images[i] for i in order]), pred.with_images([pred.images[i] for i in order])
    )
    assert _same(a.PQ, b.PQ) and a.per_class.keys() == b.per_class.keys()
    for name in a.per_class:
        assert _same(a.per_class[name]["PQ"], b.per_class[name]["PQ"])


@st.composite
def tiled_sets(draw) -> tuple[Dataset, Dataset]:
    """Disjoint segments (a painted id map cut into one mask per id), as panoptic files give them."""
    gt_images, pred_images = [], []
    for i in range(draw(st.integers(1, 3))):
        size = ImageSize(draw(st.integers(6, 24)), draw(st.integers(6, 24)))
        sides = []
        for _side in range(2):
            ids = np.zeros(size.shape, dtype=np.int32)
            for k in range(1, draw(st.integers(1, 8))):
                x0, y0 = draw(st.integers(0, size.width - 1)), draw(st.integers(0, size.height - 1))
                x1, y1 = draw(st.integers(x0 + 1, size.width)), draw(st.integers(y0 + 1, size.height))
                ids[y0:y1, x0:x1] = k
            anns = tuple(
                Annotation(int(k), draw(st.sampled_from(ONTOLOGY.names)), Mask.from_array(ids == k),
                           crowd=bool(draw(st.integers(0, 4)) == 0))
                for k in np.unique(ids) if k
            )  # fmt: skip
            sides.append(anns)
        gt_images.append(ImageRecord(i + 1, f"{i}.png", size, sides[0]))
        pred_images.append(
            ImageRecord(i + 1, f"{i}.png", size, tuple(a.with_(crowd=False) for a in sides[1]))
        )
    return Dataset(ONTOLOGY, tuple(gt_images)), Dataset(ONTOLOGY, tuple(pred_images))


@settings(max_examples=40)
@given(tiled_sets())
def test_disjoint_segments_are_counted_on_rles_exactly(sets: tuple[Dataset, Dataset]) -> None:
    from seglab.metrics.panoptic import _tables_from_maps, _tables_from_rles, image_segments, paint_segments

    gt, pred = sets
    for g, p in zip(gt.images, pred.images, strict=True):
        sg, sp = image_segments(g, g.size, ONTOLOGY), image_segments(p, p.size, ONTOLOGY)
        assert sg.disjoint and sp.disjoint
        on_rles = _tables_from_rles(sg, sp)
        painted = _tables_from_maps(paint_segments(sg, g.size), paint_segments(sp, p.size))
        for a, b in zip(on_rles, painted, strict=True):
            assert np.array_equal(a, b)
    ours, ref = evaluate_panoptic(gt, pred), reference_pq(gt, pred)
    assert _same(ours.PQ, ref["All"]["pq"]) and _same(ours.things.SQ, ref["Things"]["sq"])
    assert _same(ours.stuff.RQ, ref["Stuff"]["rq"]) and ours.n == ref["All"]["n"]
