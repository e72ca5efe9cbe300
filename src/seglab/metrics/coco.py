"""COCO average precision and recall for boxes, masks and keypoints: the numbers pycocotools gives.

seglab does not re-implement COCO's matching: it turns two datasets into fresh COCO dicts in memory (never
the caller's, since pycocotools writes into the dicts it is given) and runs faster-coco-eval's C++ evaluator
or pycocotools itself; both give the same precision/recall arrays, checked in the tests to 1e-9. The summary
numbers are then taken from those arrays exactly as ``COCOeval.summarize`` does, without its printing.

Predictions are treated as pycocotools' ``loadRes`` treats a results list: crowd flags are dropped, a box's
area is width x height, a mask's area its pixel count, and a keypoint result's area and box come from the
extent of all its points. Ground-truth areas come from the source (COCO's ``area``, kept in ``extra``) when it
had one, else from the pixels (boxes: width x height). A prediction without a score counts as score 1.
"""

from __future__ import annotations

import contextlib
import io
import operator
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pycocotools import mask as coco_mask

from seglab.core.dataset import Dataset
from seglab.core.runtime import gc_paused
from seglab.metrics._common import (
    LabeledObject,
    MetricInputError,
    format_number,
    image_size,
    json_number,
    object_rles,
    objects,
    pair_images,
    unknown_labels,
)

Task = Literal["boxes", "masks", "keypoints"]
Engine = Literal["auto", "faster", "pycocotools"]

IOU_TYPES: dict[str, str] = {"boxes": "bbox", "masks": "segm", "keypoints": "keypoints"}

# pycocotools' own expression, so the default sigmas are bit-identical to its Params.setKpParams.
COCO_PERSON_SIGMAS = np.array(
    [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]
) / 10.0  # fmt: skip

_DET_RANGES = {"small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e5**2)}
_KP_RANGES = {"medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e5**2)}
_SHORT = {"small": "s", "medium": "m", "large": "l"}


@dataclass(frozen=True)
class CocoParams:
    """Evaluation settings; ``None`` means COCO's defaults for the task.

    ``area_ranges`` maps a label to ``(min, max)`` areas; the range "all" (0 to 1e10) always comes first.
    """

    iou_thresholds: tuple[float, ...] | None = None
    max_dets: tuple[int, ...] | None = None
    area_ranges: Mapping[str, tuple[float, float]] | None = None
    use_cats: bool = True

    def resolved(self, task: str) -> tuple[np.ndarray, list[int], dict[str, tuple[float, float]]]:
        ious = (
            np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
            if self.iou_thresholds is None
            else np.asarray(self.iou_thresholds, dtype=np.float64)
        )
        max_dets = list(self.max_dets) if self.max_dets else ([20] if task == "keypoints" else [1, 10, 100])
        if sorted(max_dets) != max_dets or any(m < 1 for m in max_dets):
            raise ValueError(f"max_dets must be positive and increasing, got {max_dets}")
        ranges = dict(self.area_ranges) if self.area_ranges is not None else None
        if ranges is None:
            ranges = dict(_KP_RANGES if task == "keypoints" else _DET_RANGES)
        ranges.pop("all", None)
        return ious, max_dets, ranges


@dataclass(frozen=True)
class CocoResult:
    """COCO's summary numbers (``stats``, named as in the JSON output) and per-class AP.

    ``precision`` is pycocotools' ``eval["precision"]`` ``(T, R, K, A, M)`` and ``recall`` its
    ``eval["recall"]`` ``(T, K, A, M)``; -1 marks what is undefined (no ground truth), as there.
    """

    task: str
    stats: Mapping[str, float]
    per_class: Mapping[str, Mapping[str, float]]
    class_names: tuple[str, ...]
    iou_thresholds: tuple[float, ...]
    max_dets: tuple[int, ...]
    area_labels: tuple[str, ...]
    engine: str
    warnings: tuple[str, ...] = ()
    precision: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False, repr=False)
    recall: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: json_number(v) for k, v in self.stats.items()}
        out["per_class"] = {n: {k: json_number(v) for k, v in s.items()} for n, s in self.per_class.items()}
        out["warnings"] = list(self.warnings)
        return out

    def table(self) -> list[tuple[str, str]]:
        """(name, value) rows for the terminal; -1 (undefined, as pycocotools prints it) stays -1."""
        return [(k, format_number(v)) for k, v in self.stats.items()]


# ----------------------------------------------------------------------------------------------- conversion


def _ids_or_sequence(values: Sequence[object]) -> list[int]:
    """The source's own ids when they are unique positive ints (so sort orders match), else 1..N."""
    ints = [v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    if len(ints) == len(values) and len(set(ints)) == len(ints):
        return list(ints)  # type: ignore[arg-type]
    return list(range(1, len(values) + 1))


def _xywh(obj: LabeledObject) -> list[float] | None:
    box = obj.box
    if box is not None and box.rotation == 0.0:  # the common case: the object's own box, as it is
        return [box.x_min, box.y_min, box.x_max - box.x_min, box.y_max - box.y_min]
    box = obj.bbox()
    return None if box is None else [box.x_min, box.y_min, box.width, box.height]


def _keypoint_sigmas(gt: Dataset, name: str, points: int, override: Sequence[float] | None) -> np.ndarray:
    if override is not None:
        sigmas = np.asarray(override, dtype=np.float64)
    else:
        cls = gt.ontology.get(name)
        skeleton = cls.skeleton if cls is not None else None
        if skeleton is not None and skeleton.sigmas is not None:
            sigmas = np.asarray(skeleton.sigmas, dtype=np.float64)
        elif points == 17:
            sigmas = COCO_PERSON_SIGMAS
        else:
            raise MetricInputError(
                f"class {name!r} has {points} keypoints but no OKS sigmas; give its skeleton sigmas "
                "(COCO's are only known for the 17-point person)"
            )
    if len(sigmas) != points:
        raise MetricInputError(f"class {name!r} has {points} keypoints but {len(sigmas)} sigmas")
    if points == 17 and np.allclose(sigmas, COCO_PERSON_SIGMAS, rtol=0, atol=1e-12):
        return COCO_PERSON_SIGMAS  # COCO's person written as 0.026, ...: use pycocotools' exact floats
    return sigmas


@dataclass
class CocoInputs:
    """Fresh COCO dicts for one evaluation, and what seglab had to say about the inputs."""

    gt: dict[str, Any]
    detections: list[dict[str, Any]]
    sigmas: dict[int, np.ndarray]  # category id -> OKS sigmas (keypoints only)
    names: dict[int, str]  # category id -> class name
    warnings: list[str]
    # per image: (image id, its ground truth as gt["annotations"][start:end], its detections likewise)
    spans: list[tuple[int, int, int, int, int]] = field(default_factory=list)


def coco_inputs(
    gt: Dataset, pred: Dataset, task: Task, *, sigmas: Sequence[float] | None = None
) -> CocoInputs:
    """Build the COCO ground-truth dict and results list pycocotools would be given for this evaluation."""
    if task not in IOU_TYPES:
        raise ValueError(f"task must be one of {list(IOU_TYPES)}, got {task!r}")
    pairs = pair_images(gt, pred)
    warnings: list[str] = []
    unknown = unknown_labels(gt, pred)
    if unknown:
        warnings.append(
            f"predictions of classes the ground truth does not have are ignored (as pycocotools does): "
            f"{', '.join(map(repr, unknown[:10]))}"
        )
    class_ids = dict(zip(gt.ontology.names, _ids_or_sequence([c.id for c in gt.ontology]), strict=True))
    image_ids = _ids_or_sequence([p.gt.id for p in pairs])
    need_pixels = task == "masks"
    images, gt_anns, dts = [], [], []
    spans: list[tuple[int, int, int, int, int]] = []
    kp_points: dict[str, int] = {}
    skipped = {"gt": 0, "pred": 0, "unscored": 0, "box-as-mask": 0}
    for image_id, pair in zip(image_ids, pairs, strict=True):
        size = image_size(pair, required=need_pixels)
        images.append(
            {"id": image_id, "width": size.width if size else 0, "height": size.height if size else 0}
        )
        g_start, d_start = len(gt_anns), len(dts)
        g_objs = [o for o in objects(pair.gt.annotations) if o.label in class_ids]
        g_pixels = _pixels(g_objs, task, size, gt_side=True)
        for obj, pixels in zip(g_objs, g_pixels, strict=True):
            ann = _gt_dict(obj, task, kp_points, pixels)
            if ann is None:
                skipped["gt"] += 1
                continue
            ann["id"], ann["image_id"], ann["category_id"] = len(gt_anns) + 1, image_id, class_ids[obj.label]
            gt_anns.append(ann)
        if pair.pred is not None:
            p_objs = [o for o in objects(pair.pred.annotations) if o.label in class_ids]
            p_pixels = _pixels(p_objs, task, size, gt_side=False)
            for obj, pixels in zip(p_objs, p_pixels, strict=True):
                det = _det_dict(obj, task, kp_points, skipped, pixels)
                if det is None:
                    skipped["pred"] += 1
                    continue
                det["id"], det["image_id"], det["category_id"] = len(dts) + 1, image_id, class_ids[obj.label]
                dts.append(det)
        spans.append((image_id, g_start, len(gt_anns), d_start, len(dts)))
    if skipped["gt"] or skipped["pred"]:
        what = {"boxes": "a box", "masks": "an area", "keypoints": "keypoints"}[task]
        warnings.append(
            f"{skipped['gt']} ground-truth and {skipped['pred']} predicted object(s) without {what} "
            "are left out"
        )
    if skipped["unscored"]:
        warnings.append(f"{skipped['unscored']} prediction(s) have no score and count as score 1")
    if skipped["box-as-mask"]:
        warnings.append(f"{skipped['box-as-mask']} prediction(s) have only a box, evaluated as a box mask")
    if task == "keypoints":
        names = [n for n in gt.ontology.names if n in kp_points or (gt.ontology[n].skeleton is not None)]
    else:
        names = list(gt.ontology.names)
    categories = [{"id": class_ids[n], "name": n} for n in names]
    kp_sigmas = (
        {
            class_ids[n]: _keypoint_sigmas(
                gt, n, kp_points.get(n) or len(gt.ontology[n].skeleton or ()), sigmas
            )
            for n in names
        }
        if task == "keypoints"
        else {}
    )
    return CocoInputs(
        gt={"images": images, "annotations": gt_anns, "categories": categories},
        detections=dts,
        sigmas=kp_sigmas,
        names={class_ids[n]: n for n in names},
        warnings=warnings,
        spans=spans,
    )


def _check_points(obj: LabeledObject, kp_points: dict[str, int]) -> list[float]:
    assert obj.keypoints is not None
    n = len(obj.keypoints.points)
    expected = kp_points.setdefault(obj.label, n)
    if n != expected:
        raise MetricInputError(f"class {obj.label!r} has objects with {expected} and with {n} keypoints")
    return obj.keypoints.flat()


# An object's RLE, pixel area and COCO box (x, y, w, h) of its pixels (masks only), when the task needs them.
Pixels = tuple[dict, float, list[float] | None] | None


def _pixels(objs: list[LabeledObject], task: str, size, *, gt_side: bool) -> list[Pixels]:
    """RLE and area of the objects that need pixels here, rasterized in as few pycocotools calls as possible.

    Masks need them for every object with an extent; ground-truth boxes and keypoints only for the area, when
    the source gave none.
    """
    if size is None:
        return [None] * len(objs)
    if task == "masks":
        wanted = [i for i, o in enumerate(objs) if o.regions or o.box is not None]
    elif gt_side:
        wanted = [i for i, o in enumerate(objs) if o.area_hint is None and o.regions]
    else:
        wanted = []
    out: list[Pixels] = [None] * len(objs)
    if wanted:
        rles = object_rles([objs[i] for i in wanted], size)
        areas = coco_mask.area(rles).tolist()
        # one call for all (per-object calls cost more than the C); only masks take their box from the pixels
        boxes = coco_mask.toBbox(rles).tolist() if task == "masks" else [None] * len(rles)
        for i, rle, area, box in zip(wanted, rles, areas, boxes, strict=True):
            out[i] = (rle, float(area), box)
    return out


def _gt_dict(
    obj: LabeledObject, task: str, kp_points: dict[str, int], pixels: Pixels
) -> dict[str, Any] | None:
    ann: dict[str, Any] = {"iscrowd": int(obj.crowd)}
    if task == "masks":
        if pixels is None:
            return None
        rle, area, box = pixels
        ann["segmentation"] = rle
        ann["area"] = obj.area_hint if obj.area_hint is not None else area
        ann["bbox"] = box
        return ann
    if task == "keypoints":
        if obj.keypoints is None:
            return None
        ann["keypoints"] = _check_points(obj, kp_points)
        ann["num_keypoints"] = obj.keypoints.num_labeled
        bbox = _xywh(obj) or [0.0, 0.0, 0.0, 0.0]
    else:
        bbox = _xywh(obj) if obj.box is not None or obj.has_box else None
        if bbox is None:
            return None
    ann["bbox"] = bbox
    if obj.area_hint is not None:
        ann["area"] = obj.area_hint
    elif pixels is not None:
        ann["area"] = pixels[1]
    else:
        ann["area"] = bbox[2] * bbox[3]
    return ann


def _det_dict(
    obj: LabeledObject, task: str, kp_points: dict[str, int], counts: dict[str, int], pixels: Pixels
) -> dict[str, Any] | None:
    if obj.score is None:
        counts["unscored"] += 1
    det: dict[str, Any] = {"score": 1.0 if obj.score is None else float(obj.score), "iscrowd": 0}
    if task == "keypoints":
        if obj.keypoints is None:
            return None
        flat = _check_points(obj, kp_points)
        xs, ys = flat[0::3], flat[1::3]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        det.update(keypoints=flat, area=(x1 - x0) * (y1 - y0), bbox=[x0, y0, x1 - x0, y1 - y0])
        return det
    if task == "boxes":
        bbox = _xywh(obj) if obj.box is not None or obj.has_box else None
        if bbox is None:
            return None
        det["bbox"], det["area"] = bbox, bbox[2] * bbox[3]
        return det
    if pixels is None:
        return None
    rle, area, _box = pixels
    if not obj.regions:  # a box only: loadRes gives a box result the box's polygon and width x height
        counts["box-as-mask"] += 1
        bbox = _xywh(obj)
        assert bbox is not None
        area = bbox[2] * bbox[3]
    det.update(segmentation=rle, area=area)
    return det


# ----------------------------------------------------------------------------------------------- engines


def _faster_available() -> bool:
    try:
        import faster_coco_eval  # noqa: F401
    except ImportError:
        return False
    return True


def _run_pycocotools(inputs: CocoInputs, iou_type, cat_ids, sigmas, ious, max_dets, ranges, use_cats):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco_gt = COCO()
        coco_gt.dataset = inputs.gt
        coco_gt.createIndex()
        coco_dt = COCO()
        coco_dt.dataset = {
            "images": inputs.gt["images"],
            "categories": inputs.gt["categories"],
            "annotations": inputs.detections,
        }
        coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.params.catIds = list(cat_ids)
        ev.params.iouThrs = ious
        ev.params.maxDets = list(max_dets)
        ev.params.areaRng = [[0.0, 1e5**2], *[list(r) for r in ranges.values()]]
        ev.params.areaRngLbl = ["all", *ranges]
        ev.params.useCats = int(use_cats)
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = sigmas
        ev.evaluate()
        ev.accumulate()
    return ev.eval["precision"], ev.eval["recall"]


def _image_ious(jobs: list[tuple], masks: bool) -> list[np.ndarray]:
    """One IoU matrix per job ``(detections, ground truth, crowd flags)``, from faster-coco-eval's kernel.

    Mask IoUs run in a thread pool over images (the mask kernel releases the GIL), as faster-coco-eval runs
    them over (image, class) pairs.
    """
    from faster_coco_eval.core.mask import iou as kernel

    def run(job: tuple) -> np.ndarray:
        return np.asarray(kernel(job[0], job[1], job[2]))

    workers = min(os.cpu_count() or 1, 8) if masks else 1
    if workers > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(run, jobs, chunksize=16))
    return [run(job) for job in jobs]


def _by_class(anns: list[dict[str, Any]], cats: set[int]) -> dict[int, list[dict[str, Any]]]:
    """One image's annotations by class id, each list in the given order."""
    out: dict[int, list[dict[str, Any]]] = {}
    for ann in anns:
        cat = ann["category_id"]
        if cat in cats:
            members = out.get(cat)
            if members is None:
                out[cat] = [ann]
            else:
                members.append(ann)
    return out


def _has_direct_entry_points(cpp: Any) -> bool:
    """``Dataset.load_tuple`` is the layout of faster-coco-eval's pickled state, not a documented API: a
    release without it (or without the evaluate-and-accumulate call) takes the public path, with the same
    numbers, slower."""
    return hasattr(cpp, "COCOevalEvaluateAccumulate") and hasattr(cpp.Dataset, "load_tuple")


def _run_faster(inputs: CocoInputs, iou_type, cat_ids, sigmas, ious, max_dets, ranges, use_cats):
    """faster-coco-eval's C++ evaluation and accumulation; boxes and masks by class skip its Python side.

    For those, ``COCOeval_faster`` indexes both sides into ``COCO`` objects, re-reads every annotation into
    its C++ datasets and calls its IoU kernel once per (image, class) pair, fetching and sorting both sides
    each time. Here the C++ datasets get seglab's own COCO dicts (its C++ reads only id, score, area and the
    crowd and ignore flags; a crowd gets a record with ``ignore`` set, as ``_prepare`` sets it), the kernel
    runs once per image, and ``COCOevalEvaluateAccumulate`` gets what ``COCOeval_faster.evaluate`` would hand
    it: per (image, class) the IoUs of the detections by descending score (stable, at most ``maxDets[-1]``)
    against the ground truth as stored. The kernel computes each value on its own, so the blocks cut from one
    matrix per image are the very floats of the per-pair calls; the tests check the arrays bit for bit.
    """
    import faster_coco_eval.faster_eval_api_cpp as cpp

    if (
        not _has_direct_entry_points(cpp)
        or not use_cats
        or iou_type not in ("bbox", "segm")
        or not inputs.spans
    ):
        return _run_faster_coco_eval(inputs, iou_type, cat_ids, sigmas, ious, max_dets, ranges, use_cats)
    from faster_coco_eval.core.cocoeval import Params

    cats = set(cat_ids)
    cat_list = sorted(cats)
    params = Params(iouType=iou_type, ranges={k: list(v) for k, v in ranges.items()})
    params.imgIds = img_list = sorted(span[0] for span in inputs.spans)
    params.catIds, params.iouThrs, params.maxDets, params.useCats = cat_list, ious, sorted(max_dets), 1
    keep = params.maxDets[-1]
    key = "bbox" if iou_type == "bbox" else "segmentation"
    gt_anns, dets = inputs.gt["annotations"], inputs.detections
    # the C++ datasets' contents, (image id, class id, annotations) each, filled in one call per side
    gt_entries: list[tuple[int, int, list[dict[str, Any]]]] = []
    dt_entries: list[tuple[int, int, list[dict[str, Any]]]] = []
    jobs: list[tuple] = []  # per image with both sides: (detections, ground truth, crowd flags)
    job_blocks: list[tuple] = []  # per job: (image id, [(class id, first row, rows, first column, columns)])
    for img_id, g0, g1, d0, d1 in inputs.spans:
        g_cats = _by_class(gt_anns[g0:g1], cats)
        # by descending score, stable (computeIoU's np.argsort(-scores, kind="mergesort"); sorted keeps ties
        # in order with reverse=True too); the C++ sorts the same way, so sorted lists change nothing there
        image_dets = dets[d0:d1]
        d_cats = _by_class(sorted(image_dets, key=_score, reverse=True) if d1 - d0 > 1 else image_dets, cats)
        for cat, members in g_cats.items():
            gt_entries.append((img_id, cat, [_crowd_record(a) if a["iscrowd"] else a for a in members]))
        dt_entries.extend((img_id, cat, members) for cat, members in d_cats.items())
        blocks: list[tuple[int, int, int, int, int]] = []
        d_all: list[Any] = []
        g_all: list[Any] = []
        crowds: list[int] = []
        for cat in cat_list:
            g, d = g_cats.get(cat), d_cats.get(cat)
            if not g or not d:
                continue
            kept = d[:keep] if len(d) > keep else d
            blocks.append((cat, len(d_all), len(kept), len(g_all), len(g)))
            d_all.extend([x[key] for x in kept])
            g_all.extend([x[key] for x in g])
            crowds.extend([x["iscrowd"] for x in g])
        if blocks:
            jobs.append((d_all, g_all, crowds))
            job_blocks.append((img_id, blocks))
    empty: list[float] = []
    row_of = {img_id: i for i, img_id in enumerate(img_list)}
    col_of = {cat: k for k, cat in enumerate(cat_list)}
    per_pair: list[list[Any]] = [[empty] * len(cat_list) for _ in img_list]
    for (img_id, blocks), matrix in zip(job_blocks, _image_ious(jobs, iou_type == "segm"), strict=True):
        row = per_pair[row_of[img_id]]
        for cat, d0, nd, g0, ng in blocks:
            row[col_of[cat]] = matrix[d0 : d0 + nd, g0 : g0 + ng]
    gt_side, dt_side = cpp.Dataset(), cpp.Dataset()
    gt_side.load_tuple((len(gt_entries), gt_entries))  # the layout of its pickled state
    dt_side.load_tuple((len(dt_entries), dt_entries))
    out = cpp.COCOevalEvaluateAccumulate(params, per_pair, gt_side, dt_side, img_list, cat_list, True)
    return np.asarray(out["precision"]), np.asarray(out["recall"])


_score = operator.itemgetter("score")


def _crowd_record(ann: dict[str, Any]) -> dict[str, Any]:
    """What faster-coco-eval's C++ reads of a crowd region: ``_prepare`` marks ground-truth crowds ignored."""
    return {"id": ann["id"], "area": ann["area"], "iscrowd": 1, "ignore": 1}


def _run_faster_coco_eval(inputs: CocoInputs, iou_type, cat_ids, sigmas, ious, max_dets, ranges, use_cats):
    """faster-coco-eval's own ``COCOeval_faster``, for keypoints (OKS) and the class-agnostic mode."""
    from faster_coco_eval import COCO, COCOeval_faster

    def quiet(*_args: object, **_kwargs: object) -> None:
        return None

    coco_gt = COCO(inputs.gt, print_function=quiet)
    coco_dt = COCO(
        {
            "images": inputs.gt["images"],
            "categories": inputs.gt["categories"],
            "annotations": inputs.detections,
        },
        print_function=quiet,
    )
    ev = COCOeval_faster(
        coco_gt,
        coco_dt,
        iou_type,
        print_function=quiet,
        kpt_oks_sigmas=None if sigmas is None else list(sigmas),
        ranges={k: list(v) for k, v in ranges.items()},
    )
    ev.params.catIds = list(cat_ids)
    ev.params.iouThrs = ious
    ev.params.maxDets = list(max_dets)
    ev.params.useCats = int(use_cats)
    ev.evaluate()
    ev.accumulate()
    return np.asarray(ev.eval["precision"]), np.asarray(ev.eval["recall"])


# ----------------------------------------------------------------------------------------------- summary


def _mean_defined(values: np.ndarray) -> float:
    """pycocotools' summary: the mean of the defined (> -1) entries, -1 when there is none."""
    defined = values[values > -1]
    return -1.0 if defined.size == 0 else float(np.mean(defined))


def _summaries(task, precision, recall, ious, max_dets, labels) -> dict[str, float]:
    def at(iou: float | None, arr: np.ndarray) -> np.ndarray:
        return arr if iou is None else arr[np.where(iou == ious)[0]]

    def ap(iou=None, area="all", md=None):
        a, m = labels.index(area), max_dets.index(md or max_dets[-1])
        return _mean_defined(at(iou, precision)[:, :, :, a, m])

    def ar(iou=None, area="all", md=None):
        a, m = labels.index(area), max_dets.index(md or max_dets[-1])
        return _mean_defined(at(iou, recall)[:, :, a, m])

    stats: dict[str, float] = {"AP": ap()}
    for iou, name in ((0.5, "AP50"), (0.75, "AP75")):
        if np.any(ious == iou):
            stats[name] = ap(iou)
    for label in labels[1:]:
        stats[f"AP{_SHORT.get(label, '_' + label)}"] = ap(area=label)
    if task == "keypoints":
        stats["AR"] = ar()
        for iou, name in ((0.5, "AR50"), (0.75, "AR75")):
            if np.any(ious == iou):
                stats[name] = ar(iou)
    else:
        for md in max_dets:
            stats[f"AR{md}"] = ar(md=md)
    for label in labels[1:]:
        stats[f"AR{_SHORT.get(label, '_' + label)}"] = ar(area=label)
    return stats


def evaluate_coco(
    gt: Dataset,
    pred: Dataset,
    task: Task,
    *,
    params: CocoParams | None = None,
    engine: Engine = "auto",
    sigmas: Sequence[float] | None = None,
) -> CocoResult:
    """COCO AP/AR of ``pred`` against ``gt`` for boxes, masks or keypoints (OKS), as pycocotools computes it.

    ``engine="auto"`` uses faster-coco-eval when installed, else pycocotools; both give the same numbers.
    ``sigmas`` overrides the OKS sigmas of every keypoint class.
    """
    # The conversion makes a few small acyclic dicts, lists and tuples per object, freed by reference
    # counting when the evaluation ends; with the collector on, its full sweeps of the (large) datasets
    # being evaluated cost more than the rest of the evaluation on 500 images.
    with gc_paused():
        return _evaluate_coco(gt, pred, task, params or CocoParams(), engine, sigmas)


def _evaluate_coco(
    gt: Dataset,
    pred: Dataset,
    task: Task,
    params: CocoParams,
    engine: Engine,
    sigmas: Sequence[float] | None,
) -> CocoResult:
    """:func:`evaluate_coco` with the collector paused."""
    if engine == "auto":
        engine = "faster" if _faster_available() else "pycocotools"
    if engine not in ("faster", "pycocotools"):
        raise ValueError(f"engine must be 'auto', 'faster' or 'pycocotools', got {engine!r}")
    run = _run_faster if engine == "faster" else _run_pycocotools
    inputs = coco_inputs(gt, pred, task, sigmas=sigmas)
    ious, max_dets, ranges = params.resolved(task)
    labels = ["all", *ranges]
    iou_type = IOU_TYPES[task]
    cat_ids = sorted(inputs.names)
    if not params.use_cats:
        groups = [(cat_ids, None if task != "keypoints" else _single_sigmas(inputs, cat_ids))]
    elif task == "keypoints":
        # pycocotools takes one sigma vector; classes with other skeletons are evaluated in their own run.
        by_sigmas: dict[bytes, list[int]] = {}
        for c in cat_ids:
            by_sigmas.setdefault(inputs.sigmas[c].tobytes(), []).append(c)
        groups = [(ids, inputs.sigmas[ids[0]]) for ids in by_sigmas.values()]
    else:
        groups = [(cat_ids, None)]
    T, R, A, M = len(ious), 101, len(labels), len(max_dets)
    K = len(cat_ids) if params.use_cats else 1
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    if inputs.gt["annotations"] or inputs.detections:
        for ids, group_sigmas in groups:
            if not ids:
                continue
            p, r = run(inputs, iou_type, ids, group_sigmas, ious, max_dets, ranges, params.use_cats)
            slots = [cat_ids.index(c) for c in ids] if params.use_cats else [0]
            precision[:, :, slots] = p
            recall[:, slots] = r
    stats = _summaries(task, precision, recall, ious, max_dets, labels)
    per_class: dict[str, dict[str, float]] = {}
    if params.use_cats:
        m = len(max_dets) - 1
        i50 = np.where(ious == 0.5)[0]
        for k, c in enumerate(cat_ids):
            entry = {"AP": _mean_defined(precision[:, :, k, 0, m])}
            if i50.size:
                entry["AP50"] = _mean_defined(precision[i50, :, k, 0, m])
            entry[f"AR{max_dets[-1]}" if task != "keypoints" else "AR"] = _mean_defined(recall[:, k, 0, m])
            per_class[inputs.names[c]] = entry
    if not inputs.gt["annotations"]:
        inputs.warnings.append(
            "the ground truth has no objects for this task: every number is undefined (-1)"
        )
    return CocoResult(
        task=task,
        stats=stats,
        per_class=per_class,
        class_names=tuple(inputs.names[c] for c in cat_ids),
        iou_thresholds=tuple(float(v) for v in ious),
        max_dets=tuple(max_dets),
        area_labels=tuple(labels),
        engine=engine,
        warnings=tuple(inputs.warnings),
        precision=precision,
        recall=recall,
    )


def _single_sigmas(inputs: CocoInputs, cat_ids: list[int]) -> np.ndarray | None:
    distinct = {inputs.sigmas[c].tobytes(): inputs.sigmas[c] for c in cat_ids}
    if len(distinct) > 1:
        raise MetricInputError("keypoint classes with different skeletons cannot be pooled (use_cats=False)")
    return next(iter(distinct.values()), None)


__all__ = [
    "COCO_PERSON_SIGMAS",
    "CocoInputs",
    "CocoParams",
    "CocoResult",
    "coco_inputs",
    "evaluate_coco",
]
