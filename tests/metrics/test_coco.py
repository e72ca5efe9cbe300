"""COCO AP/AR: golden comparisons with pycocotools (generated scenes, real MMPose/COCO data), both engines."""

from __future__ import annotations

import copy
import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seglab.core import Annotation, Box, Dataset, ImageRecord, ImageSize, Mask, Ontology, Skeleton
from seglab.metrics import CocoParams, MetricInputError, coco_inputs, evaluate_coco
from tests.conftest import shared_data
from tests.metrics.cocogen import (
    dataset_from_coco,
    keypoint_scene,
    pycocotools_stats,
    results_dataset,
    scene,
)

ENGINES = ("pycocotools", "faster")
DET_KEYS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
KP_KEYS = ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"]


def _values(result, keys=DET_KEYS) -> np.ndarray:
    assert list(result.stats) == keys
    return np.array([result.stats[k] for k in keys])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_boxes_and_masks_equal_pycocotools(seed: int, engine: str) -> None:
    gt_dict, res_boxes, res_masks, gt, pred_boxes, pred_masks = scene(seed, images=14)
    ref_boxes = pycocotools_stats(gt_dict, res_boxes, "bbox")
    ref_masks = pycocotools_stats(gt_dict, res_masks, "segm")
    boxes = evaluate_coco(gt, pred_boxes, "boxes", engine=engine)
    masks = evaluate_coco(gt, pred_masks, "masks", engine=engine)
    assert np.abs(_values(boxes) - ref_boxes).max() <= 1e-9
    assert np.abs(_values(masks) - ref_masks).max() <= 1e-9
    assert boxes.engine == engine and not boxes.warnings
    assert 0 < boxes.stats["AP"] < 1  # a scene that actually tests something


@pytest.mark.parametrize("engine", ENGINES)
def test_keypoints_equal_pycocotools(engine: str) -> None:
    for seed in (3, 4):
        gt_dict, results, gt, pred = keypoint_scene(seed)
        ref = pycocotools_stats(gt_dict, results, "keypoints")
        result = evaluate_coco(gt, pred, "keypoints", engine=engine)
        assert np.abs(_values(result, KP_KEYS) - ref).max() <= 1e-9


@pytest.mark.parametrize("engine", ENGINES)
def test_keypoints_use_the_skeleton_sigmas(engine: str) -> None:
    sigmas = tuple(np.linspace(0.03, 0.1, 14).round(4))
    gt_dict, results, gt, pred = keypoint_scene(5, points=14, sigmas=sigmas)
    ref = pycocotools_stats(gt_dict, results, "keypoints", sigmas=sigmas)
    result = evaluate_coco(gt, pred, "keypoints", engine=engine)
    assert np.abs(_values(result, KP_KEYS) - ref).max() <= 1e-9
    # with the COCO person sigmas the numbers would differ: the skeleton's are really used
    other = evaluate_coco(gt, pred, "keypoints", engine=engine, sigmas=[0.2] * 14)
    assert other.stats["AP"] != result.stats["AP"]


def test_keypoints_without_sigmas_for_a_non_person_skeleton_is_a_clear_error() -> None:
    _gt_dict, _results, gt, pred = keypoint_scene(6, points=14)
    with pytest.raises(MetricInputError, match="14 keypoints but no OKS sigmas"):
        evaluate_coco(gt, pred, "keypoints")


@pytest.mark.parametrize("engine", ENGINES)
def test_custom_parameters_equal_pycocotools(engine: str) -> None:
    gt_dict, res_boxes, _res_masks, gt, pred_boxes, _ = scene(7, images=10)
    ranges = {"tiny": (0.0, 20.0**2), "big": (20.0**2, 1e5**2)}
    params = CocoParams(max_dets=(5, 50), area_ranges=ranges, iou_thresholds=(0.5, 0.6, 0.75))
    result = evaluate_coco(gt, pred_boxes, "boxes", params=params, engine=engine)
    assert list(result.stats) == [
        "AP",
        "AP50",
        "AP75",
        "AP_tiny",
        "AP_big",
        "AR5",
        "AR50",
        "AR_tiny",
        "AR_big",
    ]
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt_dict)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(res_boxes)), "bbox")
        ev.params.maxDets = [5, 50]
        ev.params.iouThrs = np.array([0.5, 0.6, 0.75])
        ev.params.areaRng = [[0, 1e10], [0, 400.0], [400.0, 1e10]]
        ev.params.areaRngLbl = ["all", "tiny", "big"]
        ev.evaluate()
        ev.accumulate()
    assert np.abs(result.precision - ev.eval["precision"]).max() <= 1e-9
    assert np.abs(result.recall - ev.eval["recall"]).max() <= 1e-9


@pytest.mark.parametrize("engine", ENGINES)
def test_class_agnostic_evaluation(engine: str) -> None:
    gt_dict, res_boxes, _res_masks, gt, pred_boxes, _ = scene(8, images=10)
    result = evaluate_coco(gt, pred_boxes, "boxes", params=CocoParams(use_cats=False), engine=engine)
    ref = pycocotools_stats(gt_dict, res_boxes, "bbox", useCats=0)
    assert np.abs(_values(result) - ref).max() <= 1e-9
    assert result.per_class == {}


def _tied_scores(ds: Dataset) -> Dataset:
    """Scores rounded to one decimal: many ties, so the stable order of equal scores matters."""
    return ds.with_images(
        img.with_annotations(a.with_(score=round(a.score, 1)) for a in img.annotations) for img in ds.images
    )


@pytest.mark.parametrize("task", ["boxes", "masks"])
@pytest.mark.parametrize("max_dets", [None, (1, 2, 3)])
def test_per_image_ious_equal_faster_coco_evals_own_per_pair_path_bit_for_bit(
    task: str, max_dets: tuple[int, ...] | None
) -> None:
    """seglab computes each image's IoUs in one kernel call; faster-coco-eval's per-(image, class) calls
    must give the very same arrays (detection order, ties, truncation at maxDets, crowd columns)."""
    from faster_coco_eval import COCO, COCOeval_faster

    _gt_dict, _rb, _rm, gt, pred_boxes, pred_masks = scene(11, images=16, max_objects=12, crowd=0.2)
    pred = _tied_scores(pred_boxes if task == "boxes" else pred_masks)
    params = CocoParams(max_dets=max_dets)
    ours = evaluate_coco(gt, pred, task, engine="faster", params=params)
    inputs = coco_inputs(gt, pred, task)
    quiet = lambda *_a, **_k: None  # noqa: E731
    coco_gt = copy.deepcopy(inputs.gt)
    coco_dt = {**copy.deepcopy(inputs.gt), "annotations": copy.deepcopy(inputs.detections)}
    ev = COCOeval_faster(
        COCO(coco_gt, print_function=quiet),
        COCO(coco_dt, print_function=quiet),
        {"boxes": "bbox", "masks": "segm"}[task],
        print_function=quiet,
    )
    if max_dets is not None:
        ev.params.maxDets = list(max_dets)
    ev.evaluate()
    ev.accumulate()
    assert np.array_equal(ours.precision, np.asarray(ev.eval["precision"]))
    assert np.array_equal(ours.recall, np.asarray(ev.eval["recall"]))
    assert 0 < ours.stats["AP"] < 1


def test_a_faster_coco_eval_without_the_direct_entry_points_takes_its_public_path(monkeypatch) -> None:
    """``Dataset.load_tuple`` is faster-coco-eval's pickle layout, not a documented API: without it the
    evaluation goes through ``COCOeval_faster`` and gives the same numbers."""
    from seglab.metrics import coco

    _gt_dict, _rb, _rm, gt, pred_boxes, _ = scene(13, images=8, crowd=0.2)
    direct = evaluate_coco(gt, pred_boxes, "boxes", engine="faster")
    calls: list[bool] = []
    real = coco._run_faster_coco_eval

    def public_path(*args, **kwargs):
        calls.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(coco, "_has_direct_entry_points", lambda cpp: False)
    monkeypatch.setattr(coco, "_run_faster_coco_eval", public_path)
    public = evaluate_coco(gt, pred_boxes, "boxes", engine="faster")
    assert calls and np.array_equal(direct.precision, public.precision) and direct.stats == public.stats


# ------------------------------------------------------------------------------------------ real data


def _real(name: str) -> dict:
    return json.loads(shared_data("coco_keypoints", "coco", name).read_text())


@pytest.mark.parametrize("engine", ENGINES)
def test_real_person_boxes_match_the_reference_numbers(engine: str) -> None:
    gt_dict = _real("test_coco.json")
    results = _real("test_coco_det_AP_H_56.json")
    gt = dataset_from_coco(gt_dict)
    result = evaluate_coco(gt, results_dataset(results, gt), "boxes", engine=engine)
    ref = pycocotools_stats(gt_dict, results, "bbox")
    assert np.abs(_values(result) - ref).max() <= 1e-9
    published = [0.789, 0.982, 0.982, 0.650, 0.767, 0.872, 0.279, 0.829, 0.843, 0.650, 0.820, 0.914]
    assert np.round(_values(result), 3).tolist() == published


@pytest.mark.parametrize("engine", ENGINES)
def test_real_person_keypoints_and_masks_equal_pycocotools(engine: str) -> None:
    gt_dict = _real("test_coco.json")
    gt = dataset_from_coco(gt_dict)
    rng = np.random.default_rng(0)
    kp_results, segm_results = [], []
    from pycocotools import mask as coco_mask

    for a in gt_dict["annotations"]:
        kp = np.asarray(a["keypoints"], dtype=float).reshape(-1, 3)
        noisy = kp[:, :2] + rng.normal(0, 4.0, (len(kp), 2))
        flat = np.concatenate([noisy, rng.random((len(kp), 1))], axis=1).ravel().round(2).tolist()
        score = float(rng.random())
        kp_results.append({"image_id": a["image_id"], "category_id": 1, "keypoints": flat, "score": score})
        img = next(i for i in gt_dict["images"] if i["id"] == a["image_id"])
        poly = [(np.asarray(p) + rng.normal(0, 2.0, len(p))).tolist() for p in a["segmentation"]]
        rle = coco_mask.merge(coco_mask.frPyObjects(poly, img["height"], img["width"]))
        segm = {"size": rle["size"], "counts": rle["counts"].decode()}
        segm_results.append(
            {"image_id": a["image_id"], "category_id": 1, "segmentation": segm, "score": score}
        )
    kp = evaluate_coco(gt, results_dataset(kp_results, gt), "keypoints", engine=engine)
    assert np.abs(_values(kp, KP_KEYS) - pycocotools_stats(gt_dict, kp_results, "keypoints")).max() <= 1e-9
    assert 0.2 < kp.stats["AP"] < 1.0
    segm = evaluate_coco(gt, results_dataset(segm_results, gt), "masks", engine=engine)
    assert np.abs(_values(segm) - pycocotools_stats(gt_dict, segm_results, "segm")).max() <= 1e-9


def test_real_ground_truth_against_itself_is_perfect() -> None:
    gt_dict = _real("test_coco.json")
    gt = dataset_from_coco(gt_dict)
    results = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
        for a in gt_dict["annotations"]
        if a["num_keypoints"] > 0  # people without labeled points are ignored, as in pycocotools
    ]
    result = evaluate_coco(gt, results_dataset(results, gt), "keypoints")
    assert result.stats["AP"] == 1.0 and result.stats["AR"] == 1.0
    assert pycocotools_stats(gt_dict, results, "keypoints")[0] == 1.0


# ------------------------------------------------------------------------------------------ bad input


def _one_image(*anns: Annotation, size: ImageSize | None = None, name="a.jpg", image_id=1) -> Dataset:
    size = size or ImageSize(50, 40)
    return Dataset(Ontology.from_names(["cat", "dog"]), (ImageRecord(image_id, name, size, anns),))


def test_predictions_for_unknown_images_are_a_clear_error() -> None:
    gt = _one_image(Annotation(1, "cat", Box(0, 0, 10, 10)))
    pred = _one_image(Annotation(1, "cat", Box(0, 0, 10, 10), score=0.9), name="other.jpg", image_id=7)
    with pytest.raises(MetricInputError, match=r"not in the ground truth: 'other\.jpg'"):
        evaluate_coco(gt, pred, "boxes")


@pytest.mark.parametrize("engine", ENGINES)
def test_unknown_classes_are_ignored_like_pycocotools_and_reported(engine: str) -> None:
    gt_dict, res_boxes, _res_masks, gt, _pred_boxes, _ = scene(9, images=6)
    extra = copy.deepcopy(res_boxes[:5])
    for r in extra:
        r["category_id"] = 99
    pred = results_dataset(res_boxes + extra, gt)
    result = evaluate_coco(gt, pred, "boxes", engine=engine)
    assert np.abs(_values(result) - pycocotools_stats(gt_dict, res_boxes + extra, "bbox")).max() <= 1e-9
    assert any("'category 99'" in w for w in result.warnings)


def test_mismatched_sizes_are_a_clear_error() -> None:
    gt = _one_image(Annotation(1, "cat", Mask.from_array(np.ones((40, 50), bool))))
    pred = _one_image(Annotation(1, "cat", Mask.from_array(np.ones((20, 50), bool)), score=1.0))
    with pytest.raises(MetricInputError, match="20 but its image is 50x40"):
        evaluate_coco(gt, pred, "masks")
    pred = _one_image(Annotation(1, "cat", Box(0, 0, 5, 5), score=1.0), size=ImageSize(60, 40))
    with pytest.raises(MetricInputError, match="50x40 in the ground truth but 60x40"):
        evaluate_coco(gt, pred, "masks")


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_sets_give_the_reference_definitions(engine: str) -> None:
    gt = _one_image(Annotation(1, "cat", Box(0, 0, 10, 10)))
    empty = _one_image()
    no_predictions = evaluate_coco(gt, empty, "boxes", engine=engine)
    assert no_predictions.stats["AP"] == 0.0 and no_predictions.stats["AR100"] == 0.0
    assert no_predictions.stats["APl"] == -1.0  # no large ground truth: undefined, as pycocotools prints
    nothing = evaluate_coco(empty, empty, "boxes", engine=engine)
    assert set(nothing.stats.values()) == {-1.0}
    assert nothing.warnings and nothing.to_json()["AP"] == -1.0


def test_the_callers_data_is_never_changed() -> None:
    _gt_dict, _rb, _rm, gt, _pb, pred_masks = scene(10, images=5)
    before = copy.deepcopy(gt)
    inputs = coco_inputs(gt, pred_masks, "masks")
    first = evaluate_coco(gt, pred_masks, "masks", engine="pycocotools")
    second = evaluate_coco(gt, pred_masks, "masks", engine="faster")
    assert first.stats == second.stats or np.allclose(list(first.stats.values()), list(second.stats.values()))
    assert gt == before
    assert all("ignore" not in a for a in inputs.gt["annotations"])  # fresh dicts per call


def test_the_cycle_collector_is_paused_during_an_evaluation_and_restored_after(monkeypatch) -> None:
    import gc

    from seglab.metrics import coco

    _gt_dict, _rb, _rm, gt, pred_boxes, _ = scene(12, images=3)
    seen: list[bool] = []
    real = coco.coco_inputs

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(coco, "coco_inputs", spy)
    assert gc.isenabled()
    evaluate_coco(gt, pred_boxes, "boxes")
    assert seen == [False] and gc.isenabled()
    unknown = _one_image(Annotation(1, "cat", Box(0, 0, 10, 10), score=0.9), name="other.jpg", image_id=7)
    with pytest.raises(MetricInputError):
        evaluate_coco(gt, unknown, "boxes")
    assert gc.isenabled()  # also after an error
    gc.disable()
    try:
        evaluate_coco(gt, pred_boxes, "boxes")
        assert not gc.isenabled()  # a caller that turned it off keeps it off
    finally:
        gc.enable()


def test_pauses_of_the_collector_in_several_threads_end_with_the_last() -> None:
    import gc
    import threading

    from seglab.core.runtime import gc_paused

    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    states: dict[str, bool] = {}

    def first() -> None:
        with gc_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with gc_paused():
            second_in.set()
            first_out.wait(5)
            states["after the first closed"] = gc.isenabled()
        states["after both closed"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert states == {"after the first closed": False, "after both closed": True}


# ------------------------------------------------------------------------------------------ properties


@st.composite
def box_datasets(draw) -> Dataset:
    images = []
    for i in range(draw(st.integers(1, 5))):
        anns = []
        for k in range(draw(st.integers(0, 6))):
            x, y = draw(st.floats(0, 80)), draw(st.floats(0, 80))
            w, h = draw(st.floats(1, 40)), draw(st.floats(1, 40))
            label = draw(st.sampled_from(["cat", "dog"]))
            anns.append(Annotation(k + 1, label, Box(x, y, x + w, y + h)))
        images.append(ImageRecord(i + 1, f"{i}.png", ImageSize(128, 128), tuple(anns)))
    return Dataset(Ontology.from_names(["cat", "dog"]), tuple(images))


def _as_predictions(ds: Dataset) -> Dataset:
    return ds.with_images(
        [img.with_annotations(a.with_(score=0.5) for a in img.annotations) for img in ds.images]
    )


@settings(max_examples=25)
@given(box_datasets(), st.sampled_from(["boxes", "masks"]), st.randoms(use_true_random=False))
def test_a_label_set_against_itself_is_perfect_and_image_order_does_not_matter(
    ds: Dataset, task: str, rnd: random.Random
) -> None:
    pred = _as_predictions(ds)
    result = evaluate_coco(ds, pred, task)  # type: ignore[arg-type]
    for key in ("AP", "AP50", "AP75", "AR100"):
        assert result.stats[key] in (1.0, -1.0)
    assert (result.stats["AP"] == 1.0) == (ds.annotation_count > 0)
    order = list(range(len(ds.images)))
    rnd.shuffle(order)
    shuffled = evaluate_coco(
        ds.with_images([ds.images[i] for i in order]), pred.with_images([pred.images[i] for i in order]), task
    )  # type: ignore[arg-type]
    assert shuffled.stats == result.stats


def test_keypoint_classes_take_their_own_skeleton() -> None:
    sk = Skeleton(tuple(f"p{i}" for i in range(17)))
    onto = Ontology.from_names(["person"])
    onto = onto.with_class(onto["person"].__class__("person", (1, 2, 3), skeleton=sk))
    gt = Dataset(onto, (ImageRecord(1, "a.jpg", ImageSize(10, 10), ()),))
    result = evaluate_coco(gt, gt, "keypoints")
    assert result.class_names == ("person",) and set(result.stats.values()) == {-1.0}
