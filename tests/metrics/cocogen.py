"""Random COCO-like scenes, built twice: as seglab datasets and as the COCO JSON given to pycocotools.

Both are made from the same random draw, independently of seglab's own conversion, so a golden comparison
against pycocotools checks the conversion as well as the evaluation.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask

from seglab.core import (
    Annotation,
    Box,
    Dataset,
    ImageRecord,
    ImageSize,
    Keypoints,
    LabelClass,
    Mask,
    Ontology,
    Polygon,
    Skeleton,
    Source,
)
from seglab.core.ontology import default_color

CLASSES = ("cat", "dog", "bird")


def _polygon_in(rng: np.random.Generator, x: float, y: float, w: float, h: float) -> list[float]:
    n = int(rng.integers(3, 9))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radius = rng.uniform(0.3, 0.5, n)
    px = x + w / 2 + np.cos(angles) * radius * w
    py = y + h / 2 + np.sin(angles) * radius * h
    return np.stack([px, py], axis=1).ravel().round(2).tolist()


def _jitter(rng, values: list[float], scale: float) -> list[float]:
    return (np.asarray(values) + rng.normal(0, scale, len(values))).round(2).tolist()


def scene(seed: int, images: int = 12, *, max_objects: int = 8, crowd: float = 0.1, extra_dets: int = 4):
    """(gt_dict, results_boxes, results_masks, gt_dataset, pred_boxes_dataset, pred_masks_dataset)."""
    rng = np.random.default_rng(seed)
    ontology = Ontology(tuple(LabelClass(n, default_color(i + 1), id=i + 1) for i, n in enumerate(CLASSES)))
    gt_dict: dict[str, Any] = {"images": [], "annotations": [], "categories": []}
    gt_dict["categories"] = [{"id": i + 1, "name": n} for i, n in enumerate(CLASSES)]
    res_boxes: list[dict] = []
    res_masks: list[dict] = []
    gt_images, box_images, mask_images = [], [], []
    next_id = 1
    for i in range(images):
        w, h = int(rng.integers(40, 200)), int(rng.integers(40, 200))
        image_id = int(rng.integers(1, 10_000)) * 100 + i  # unique, not in dataset order
        gt_dict["images"].append({"id": image_id, "width": w, "height": h, "file_name": f"{i:04d}.jpg"})
        gt_anns, box_anns, mask_anns = [], [], []
        n_obj = int(rng.integers(0, max_objects + 1))
        many = i == 1  # one image with more than 100 detections, so maxDets matters
        for _ in range(n_obj):
            cat = int(rng.integers(1, len(CLASSES) + 1))
            bw, bh = rng.uniform(3, w * 0.8), rng.uniform(3, h * 0.8)
            bx, by = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            is_crowd = bool(rng.random() < crowd)
            label = CLASSES[cat - 1]
            if is_crowd:
                arr = np.zeros((h, w), dtype=np.uint8)
                arr[int(by) : int(by + bh), int(bx) : int(bx + bw)] = 1
                mask = Mask.from_array(arr.astype(bool))
                seg: Any = {"size": [h, w], "counts": mask.uncompressed_counts()}
                area = float(arr.sum())
                shape: Any = mask
            else:
                flat = _polygon_in(rng, bx, by, bw, bh)
                seg = [flat]
                shape = Polygon.from_flat([flat])
                area = float(coco_mask.area(coco_mask.merge(coco_mask.frPyObjects(seg, h, w))))
            box = [round(bx, 2), round(by, 2), round(bw, 2), round(bh, 2)]
            gt_dict["annotations"].append(
                {
                    "id": next_id,
                    "image_id": image_id,
                    "category_id": cat,
                    "bbox": box,
                    "area": area,
                    "segmentation": seg,
                    "iscrowd": int(is_crowd),
                }
            )
            gt_anns.append(
                Annotation(2 * next_id, label, Box.from_xywh(*box), group_id=next_id, crowd=is_crowd)
            )
            gt_anns.append(Annotation(2 * next_id + 1, label, shape, group_id=next_id, crowd=is_crowd))
            next_id += 1
            # detections: a few jittered copies, some with the wrong class
            for _k in range(int(rng.integers(0, 3)) + (40 if many else 0)):
                dcat = cat if rng.random() < 0.8 else int(rng.integers(1, len(CLASSES) + 1))
                score = float(np.round(rng.random(), 1 if rng.random() < 0.3 else 6))  # some ties
                dbox = _jitter(rng, box, 2.0)
                dbox[2], dbox[3] = max(dbox[2], 0.5), max(dbox[3], 0.5)
                res_boxes.append({"image_id": image_id, "category_id": dcat, "bbox": dbox, "score": score})
                box_anns.append(
                    Annotation(
                        len(box_anns) + 1,
                        CLASSES[dcat - 1],
                        Box.from_xywh(*dbox),
                        source=Source.MODEL,
                        score=score,
                    )
                )
                dpoly = _polygon_in(rng, *dbox)
                rle = coco_mask.merge(coco_mask.frPyObjects([dpoly], h, w))
                rle_json = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
                res_masks.append(
                    {"image_id": image_id, "category_id": dcat, "segmentation": rle_json, "score": score}
                )
                mask_anns.append(
                    Annotation(
                        len(mask_anns) + 1,
                        CLASSES[dcat - 1],
                        Mask.from_rle(rle_json),
                        source=Source.MODEL,
                        score=score,
                    )
                )
        for _k in range(extra_dets):
            dcat = int(rng.integers(1, len(CLASSES) + 1))
            dbox = [float(rng.uniform(0, w - 5)), float(rng.uniform(0, h - 5)), 5.0, 4.0]
            score = float(rng.random())
            res_boxes.append({"image_id": image_id, "category_id": dcat, "bbox": dbox, "score": score})
            box_anns.append(
                Annotation(len(box_anns) + 1, CLASSES[dcat - 1], Box.from_xywh(*dbox), score=score)
            )
            rle = coco_mask.merge(coco_mask.frPyObjects([_polygon_in(rng, *dbox)], h, w))
            rle_json = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
            res_masks.append(
                {"image_id": image_id, "category_id": dcat, "segmentation": rle_json, "score": score}
            )
            mask_anns.append(
                Annotation(len(mask_anns) + 1, CLASSES[dcat - 1], Mask.from_rle(rle_json), score=score)
            )
        size = ImageSize(w, h)
        name = f"{i:04d}.jpg"
        gt_images.append(ImageRecord(image_id, name, size, tuple(gt_anns)))
        box_images.append(ImageRecord(image_id, name, size, tuple(box_anns)))
        mask_images.append(ImageRecord(image_id, name, size, tuple(mask_anns)))
    return (
        gt_dict,
        res_boxes,
        res_masks,
        Dataset(ontology, tuple(gt_images)),
        Dataset(ontology, tuple(box_images)),
        Dataset(ontology, tuple(mask_images)),
    )


def keypoint_scene(seed: int, images: int = 10, points: int = 17, sigmas: tuple[float, ...] | None = None):
    """(gt_dict, results, gt_dataset, pred_dataset) for keypoints of one class 'person'."""
    rng = np.random.default_rng(seed)
    skeleton = Skeleton(tuple(f"p{k}" for k in range(points)), sigmas=sigmas)
    ontology = Ontology((LabelClass("person", (255, 0, 0), id=1, skeleton=skeleton),))
    gt_dict: dict[str, Any] = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}]}
    results: list[dict] = []
    gt_images, pred_images = [], []
    next_id = 1
    for i in range(images):
        w, h = int(rng.integers(100, 400)), int(rng.integers(100, 400))
        gt_dict["images"].append({"id": i + 1, "width": w, "height": h, "file_name": f"{i}.jpg"})
        gt_anns, pred_anns = [], []
        for _ in range(int(rng.integers(0, 6))):
            bw, bh = rng.uniform(10, w * 0.6), rng.uniform(10, h * 0.6)
            bx, by = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            xs, ys = rng.uniform(bx, bx + bw, points).round(1), rng.uniform(by, by + bh, points).round(1)
            vis = rng.choice([0, 1, 2], points, p=[0.2, 0.1, 0.7])
            if rng.random() < 0.15:
                vis = np.zeros(points, dtype=int)
            kp = np.stack([np.where(vis > 0, xs, 0), np.where(vis > 0, ys, 0), vis], axis=1)
            area = float(round(bw * bh * rng.uniform(0.4, 0.9), 2))
            box = [round(bx, 2), round(by, 2), round(bw, 2), round(bh, 2)]
            crowd = bool(rng.random() < 0.05)
            gt_dict["annotations"].append(
                {
                    "id": next_id,
                    "image_id": i + 1,
                    "category_id": 1,
                    "bbox": box,
                    "area": area,
                    "keypoints": kp.ravel().tolist(),
                    "num_keypoints": int((vis > 0).sum()),
                    "iscrowd": int(crowd),
                }
            )
            gt_anns.append(
                Annotation(
                    2 * next_id,
                    "person",
                    Box.from_xywh(*box),
                    group_id=next_id,
                    crowd=crowd,
                    extra={"area": area},
                )
            )
            gt_anns.append(
                Annotation(2 * next_id + 1, "person", Keypoints(kp), group_id=next_id, crowd=crowd)
            )
            next_id += 1
            for _k in range(int(rng.integers(0, 3))):
                noise = rng.normal(0, rng.uniform(0.5, 8.0), (points, 2))
                dk = np.concatenate(
                    [np.stack([xs, ys], axis=1) + noise, rng.random((points, 1))], axis=1
                ).round(2)
                score = float(np.round(rng.random(), 2))
                results.append(
                    {"image_id": i + 1, "category_id": 1, "keypoints": dk.ravel().tolist(), "score": score}
                )
                pred_anns.append(Annotation(len(pred_anns) + 1, "person", Keypoints(dk), score=score))
        gt_images.append(ImageRecord(i + 1, f"{i}.jpg", ImageSize(w, h), tuple(gt_anns)))
        pred_images.append(ImageRecord(i + 1, f"{i}.jpg", ImageSize(w, h), tuple(pred_anns)))
    return gt_dict, results, Dataset(ontology, tuple(gt_images)), Dataset(ontology, tuple(pred_images))


def pycocotools_stats(gt_dict: dict, results: list[dict], iou_type: str, sigmas=None, **params) -> np.ndarray:
    """The reference: pycocotools on deep copies of the JSON (it writes into what it is given)."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(json.loads(json.dumps(gt_dict)))
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.asarray(sigmas)
        for k, v in params.items():
            setattr(ev.params, k, v)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def dataset_from_coco(gt: dict) -> Dataset:
    """A seglab dataset from a COCO dict the way a reader would give it: per COCO annotation a box, its
    polygon or mask and its keypoints joined by group_id, the source area and bbox kept in ``extra``."""
    classes = []
    for i, c in enumerate(gt["categories"]):
        skeleton = None
        if c.get("keypoints"):
            skeleton = Skeleton(
                tuple(c["keypoints"]), tuple((a - 1, b - 1) for a, b in c.get("skeleton", []))
            )
        classes.append(LabelClass(c["name"], default_color(i + 1), id=c["id"], skeleton=skeleton))
    names = {c["id"]: c["name"] for c in gt["categories"]}
    by_image: dict[int, list[Annotation]] = {img["id"]: [] for img in gt["images"]}
    next_id = 1
    for a in gt["annotations"]:
        img = next(i for i in gt["images"] if i["id"] == a["image_id"])
        extra = {"area": a["area"], "bbox": a["bbox"]}
        common = {"label": names[a["category_id"]], "group_id": a["id"], "crowd": bool(a.get("iscrowd", 0))}
        anns = [Annotation(next_id, shape=Box.from_xywh(*a["bbox"]), extra=extra, **common)]
        seg = a.get("segmentation")
        if isinstance(seg, list) and seg:
            anns.append(Annotation(next_id + 1, shape=Polygon.from_flat(seg), **common))
        elif isinstance(seg, dict):
            rle = (
                seg
                if not isinstance(seg["counts"], list)
                else {"size": [img["height"], img["width"]], "counts": seg["counts"]}
            )
            anns.append(Annotation(next_id + 1, shape=Mask.from_rle(rle), **common))
        if a.get("keypoints"):
            anns.append(Annotation(next_id + 2, shape=Keypoints.from_flat(a["keypoints"]), **common))
        next_id += 3
        by_image[a["image_id"]].extend(anns)
    images = tuple(
        ImageRecord(i["id"], i["file_name"], ImageSize(i["width"], i["height"]), tuple(by_image[i["id"]]))
        for i in gt["images"]
    )
    return Dataset(Ontology(tuple(classes)), images)


def results_dataset(results: list[dict], gt: Dataset) -> Dataset:
    """A prediction dataset from a COCO results list (one annotation per result)."""
    names = {c.id: c.name for c in gt.ontology}
    by_image: dict[int, list[Annotation]] = {}
    for k, r in enumerate(results):
        if "keypoints" in r:
            shape: Any = Keypoints.from_flat(r["keypoints"])
        elif "segmentation" in r:
            shape = Mask.from_rle(r["segmentation"])
        else:
            shape = Box.from_xywh(*r["bbox"])
        label = names.get(r["category_id"], f"category {r['category_id']}")
        ann = Annotation(k + 1, label, shape, source=Source.MODEL, score=r["score"])
        by_image.setdefault(r["image_id"], []).append(ann)
    return gt.with_images([img.with_annotations(by_image.get(img.id, ())) for img in gt.images])
