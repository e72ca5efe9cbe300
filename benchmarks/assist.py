"""Benchmark of seglab.assist in clicks: the NoC protocol of interactive segmentation papers.

    python benchmarks/assist.py [--scenes 24] [--max-clicks 20] [--coco8 PATH] [--skip-coco]
                                [--methods "seglab auto,plain GrabCut"]

Protocol (:mod:`seglab.assist.noc`): the first click at the object's interior point farthest from its
boundary (distance transform), each next click at the point farthest from the boundary of the largest error
region, positive for a missed region and negative for a spurious one; at most ``--max-clicks``. NoC@85 /
NoC@90 is the number of clicks to reach that IoU (``max-clicks`` when never reached; "fails" counts those).
IoU after 1, 3 and 5 clicks and seconds per click are averaged over objects and clicks.

Data: generated scenes (``tests.assist.scenes``: textured objects on textured backgrounds, 480x360) and
every object of Ultralytics' coco8-seg with at least ``--min-area`` pixels (YOLO polygon labels
``cls x1 y1 ...`` normalised, parsed here and rasterized with ``seglab.core.raster.polygon_to_mask``), and a
held-out set that no constant was chosen on: the polygon objects of labelme's PASCAL VOC instance example
(3 images) and the COCO person polygons of ``coco_keypoints/coco`` (4 images), same minimum area.

Methods, each driven by its own simulated clicks in the same run:

- ``seglab auto``: ``segment(method="combined")`` with the previous mask (what ``auto`` runs without a SAM
  model), one AssistSession per image;
- ``seglab grabcut``: ``segment(method="grabcut")``, GrabCut seeded by clicks and the previous mask;
- ``plain GrabCut``: OpenCV's ``cv2.grabCut`` on the full image, everything probable background, each click
  a 5-pixel disk of definite foreground / background, 5 iterations, run afresh with all clicks so far
  (OpenCV's random generator seeded before each call, as seglab does).

Then seconds per click on a 1-megapixel scene (1155x866): the first click (which builds the per-image cache)
and the mean of the next four, wall-clock and CPU. Prints markdown tables; timings are on this machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for tests.assist.scenes

from tests.assist.scenes import make_scene  # noqa: E402

from seglab.assist import AssistSession, segment  # noqa: E402
from seglab.assist.noc import ClickTrace, run_clicks  # noqa: E402
from seglab.assist.prompts import draw_seeds  # noqa: E402
from seglab.core.geometry import Polygon  # noqa: E402
from seglab.core.raster import polygon_to_mask  # noqa: E402

SHARED_DATA = REPO.parent / "shared" / "data"
DEFAULT_COCO8 = SHARED_DATA / "ultralytics_coco8" / "coco8-seg"
Segmenter = Callable[[list, list, np.ndarray | None], np.ndarray]


@dataclass
class Item:
    name: str
    image: np.ndarray
    mask: np.ndarray


def generated(count: int) -> list[Item]:
    return [Item(f"scene{s}", sc.image, sc.mask) for s in range(1000, 1000 + count)
            for sc in [make_scene(s, 480, 360)]]


def coco8_objects(root: Path, min_area: int) -> list[Item]:
    """Every polygon object of coco8-seg with at least ``min_area`` pixels."""
    items = []
    for img_path in sorted(root.glob("images/*/*.jpg")):
        bgr = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"cannot read {img_path}")
        image = np.ascontiguousarray(bgr[..., ::-1])
        h, w = image.shape[:2]
        label = root / "labels" / img_path.parent.name / f"{img_path.stem}.txt"
        for k, line in enumerate(label.read_text().splitlines()):
            values = line.split()
            if len(values) < 7 or len(values) % 2 == 0:
                continue  # not a polygon line (a box, or malformed)
            points = np.asarray(values[1:], dtype=np.float64).reshape(-1, 2) * np.array([w, h])
            mask = polygon_to_mask(Polygon.from_rings(points), w, h).array
            if mask.sum() >= min_area:
                items.append(Item(f"{img_path.stem}#{k}", image, np.asarray(mask, dtype=bool)))
    return items


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read {path}")
    return np.ascontiguousarray(bgr[..., ::-1])


def _rings_mask(rings: list, width: int, height: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    for ring in rings:
        points = np.asarray(ring, dtype=np.float64).reshape(-1, 2)
        if len(points) >= 3:
            mask |= np.asarray(polygon_to_mask(Polygon.from_rings(points), width, height).array, dtype=bool)
    return mask


def held_out_objects(shared: Path, min_area: int) -> list[Item]:
    """Objects never used to choose a constant: labelme's PASCAL VOC instance polygons (3 images) and the
    COCO person polygons of the keypoint fixtures (4 images), ``min_area`` pixels or more each."""
    items = []
    labelme = shared / "labelme_examples" / "examples" / "instance_segmentation" / "data_annotated"
    for path in sorted(labelme.glob("*.json")):
        doc = json.loads(path.read_text())
        image = _read_rgb(path.with_suffix(".jpg"))
        h, w = image.shape[:2]
        for k, shape in enumerate(doc["shapes"]):
            if shape["shape_type"] != "polygon" or shape["label"].startswith("__"):
                continue  # boxes, and labelme's __ignore__ regions
            mask = _rings_mask([shape["points"]], w, h)
            if mask.sum() >= min_area:
                items.append(Item(f"{path.stem}#{k}", image, mask))
    coco = shared / "coco_keypoints" / "coco"
    doc = json.loads((coco / "test_coco.json").read_text())
    files = {im["id"]: im["file_name"] for im in doc["images"]}
    for ann in doc["annotations"]:
        if ann.get("iscrowd") or not isinstance(ann.get("segmentation"), list):
            continue
        image = _read_rgb(coco / files[ann["image_id"]])
        h, w = image.shape[:2]
        mask = _rings_mask(ann["segmentation"], w, h)
        if mask.sum() >= min_area:
            items.append(Item(f"coco{ann['image_id']}#{ann['id']}", image, mask))
    return items


def seglab_method(method: str) -> Callable[[np.ndarray], Segmenter]:
    def factory(image: np.ndarray) -> Segmenter:
        session = AssistSession(image)

        def run(pos: list, neg: list, prev: np.ndarray | None) -> np.ndarray:
            return segment(image, positives=pos, negatives=neg, previous=prev, method=method, session=session)

        return run

    return factory


def plain_grabcut(image: np.ndarray) -> Segmenter:
    h, w = image.shape[:2]

    def run(pos: list, neg: list, prev: np.ndarray | None) -> np.ndarray:
        gc = np.full((h, w), cv2.GC_PR_BGD, dtype=np.uint8)
        gc[draw_seeds((h, w), np.asarray(pos, float).reshape(-1, 2), (), 5.0)] = cv2.GC_FGD
        gc[draw_seeds((h, w), np.asarray(neg, float).reshape(-1, 2), (), 5.0)] = cv2.GC_BGD
        bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
        cv2.setRNGSeed(0)  # as seglab's GrabCut calls: a click's answer does not depend on the ones before
        cv2.grabCut(image, gc, None, bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)
        return (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)

    return run


METHODS: dict[str, Callable[[np.ndarray], Segmenter]] = {
    "seglab auto": seglab_method("combined"),
    "seglab grabcut": seglab_method("grabcut"),
    "plain GrabCut": plain_grabcut,
}


def evaluate(
    items: list[Item], factory: Callable[[np.ndarray], Segmenter], max_clicks: int
) -> dict[str, float]:
    traces: list[ClickTrace] = [
        run_clicks(it.mask, factory(it.image), max_clicks=max_clicks, stop_at=0.90, min_clicks=5)
        for it in items
    ]
    seconds = [s for t in traces for s in t.seconds]
    return {
        "noc85": float(np.mean([t.noc(0.85, max_clicks) for t in traces])),
        "noc90": float(np.mean([t.noc(0.90, max_clicks) for t in traces])),
        "fails90": float(sum(t.noc(0.90, max_clicks) >= max_clicks and t.ious[-1] < 0.90 for t in traces)),
        "iou1": float(np.mean([t.iou_at(1) for t in traces])),
        "iou3": float(np.mean([t.iou_at(3) for t in traces])),
        "iou5": float(np.mean([t.iou_at(5) for t in traces])),
        "spc": float(np.mean(seconds)),
    }


def one_megapixel(factory: Callable[[np.ndarray], Segmenter]) -> tuple[float, float, float, float]:
    """Seconds of the first click and mean seconds of the next four on a 1155x866 scene: wall-clock, and
    the CPU seconds of this process (all its threads), which a machine shared with other jobs inflates less.
    """
    scene = make_scene(7, 1155, 866)
    segmenter = factory(scene.image)
    cpu: list[float] = []

    def timed(pos: list, neg: list, prev: np.ndarray | None) -> np.ndarray:
        t0 = time.process_time()
        out = segmenter(pos, neg, prev)
        cpu.append(time.process_time() - t0)
        return out

    trace = run_clicks(scene.mask, timed, max_clicks=5)
    later = float(np.mean(trace.seconds[1:])) if len(trace.seconds) > 1 else float("nan")
    later_cpu = float(np.mean(cpu[1:])) if len(cpu) > 1 else float("nan")
    return trace.seconds[0], later, cpu[0], later_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=24)
    parser.add_argument("--max-clicks", type=int, default=20)
    parser.add_argument("--coco8", type=Path, default=DEFAULT_COCO8)
    parser.add_argument("--min-area", type=int, default=1500)
    parser.add_argument("--skip-coco", action="store_true")
    parser.add_argument(
        "--skip-held-out", action="store_true", help="skip the held-out labelme PASCAL + COCO person objects"
    )
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma-separated subset of: {', '.join(METHODS)}"
    )
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")

    datasets = [(f"generated ({args.scenes} scenes)", generated(args.scenes))]
    if not args.skip_coco:
        if not args.coco8.exists():
            print(f"(coco8-seg not found at {args.coco8}; pass --coco8 or --skip-coco)")
        else:
            objs = coco8_objects(args.coco8, args.min_area)
            datasets.append((f"coco8-seg ({len(objs)} objects >= {args.min_area} px)", objs))
    if not args.skip_held_out:
        if not (SHARED_DATA / "labelme_examples").exists():
            print(f"(held-out objects not found under {SHARED_DATA}; pass --skip-held-out)")
        else:
            objs = held_out_objects(SHARED_DATA, args.min_area)
            datasets.append((f"held-out PASCAL + COCO persons ({len(objs)} objects)", objs))

    print("| data | method | NoC@85 | NoC@90 | fails@90 | IoU@1 | IoU@3 | IoU@5 | s/click |")
    print("|---|---|---|---|---|---|---|---|---|")
    for data_name, items in datasets:
        for name in methods:
            r = evaluate(items, METHODS[name], args.max_clicks)
            row = [f"{r['noc85']:.2f}", f"{r['noc90']:.2f}", str(int(r["fails90"])), f"{r['iou1']:.3f}",
                   f"{r['iou3']:.3f}", f"{r['iou5']:.3f}", f"{r['spc']:.3f}"]
            print(f"| {data_name} | {name} | " + " | ".join(row) + " |", flush=True)

    print()
    print(
        "| 1-megapixel image (1155x866) | first click s | next clicks s (mean of 4) "
        "| first CPU s | next CPU s |"
    )
    print("|---|---|---|---|---|")
    for name in methods:
        first, later, first_cpu, later_cpu = one_megapixel(METHODS[name])
        print(f"| {name} | {first:.3f} | {later:.3f} | {first_cpu:.3f} | {later_cpu:.3f} |", flush=True)


if __name__ == "__main__":
    main()
