"""Benchmark of seglab.autolabel on ISBI 2012 membrane slices (../shared/data/membrane).

    python benchmarks/autolabel.py [--ks 1,2,5,10] [--threads 1] [--plots DIR] [--skip-audit]

1. Few-shot segmentation: train on slices 0..k-1, evaluate on slices 20..29 (512x512 each), for each k:
   mIoU (membrane, cell), training time (features included), prediction time per megapixel and peak
   memory, for seglab's default model (LightGBM ensemble with auto-context, five members) beside the
   scikit-image baseline (``multiscale_basic_features`` sigma 1..16 + ``fit_segmenter`` with the
   RandomForest of scikit-image's trainable-segmentation example: 50 trees, depth 10, 5% bootstrap
   samples). Each run is a fresh process; peak memory is its resident-set growth from just before
   training to the end of prediction. Both use ``--threads`` threads.
2. Uncertainty quality (the k=5 seglab model on slices 20..29): AUROC of the per-pixel uncertainty for
   "this pixel is wrong"; predicted cells (instances) are "wrong" when their IoU with the best-matching
   true cell is below 0.5: AUROC of the per-object uncertainty, and the share of all wrong objects among
   the 10% and 20% most uncertain. ECE before and after temperature scaling; ``--plots`` writes the
   reliability diagram.
3. Audit quality: slices 0..9 as a dataset (membrane as one stuff mask, every cell a thing mask); 10% of
   the cells of at least 64 px are corrupted on purpose, a third each deleted, relabeled 'membrane'
   (wrong class) or dilated by 3 px (sloppy boundary). Precision and recall of the top-N suspects with
   N = the number of corruptions (and 2N), 5-fold cross-validated.

Prints markdown tables. Timings are seconds on this machine: wall clock, and CPU time of the process (both
methods run single-threaded by default, so CPU time is the comparison that other load on a shared
machine does not distort).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing
import resource
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "membrane" / "train"
TEST = list(range(20, 30))
sys.path.insert(0, str(ROOT / "src"))


def load(index: int) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(Image.open(DATA / "image" / f"{index}.png"))
    label = (np.asarray(Image.open(DATA / "label" / f"{index}.png")) > 127).astype(np.uint8)  # 1 = cell
    return image, label


def miou(preds: list[np.ndarray], truths: list[np.ndarray]) -> tuple[float, float, float]:
    cm = np.zeros((2, 2), dtype=np.int64)
    for p, t in zip(preds, truths, strict=True):
        cm += np.bincount(t.ravel().astype(np.int64) * 2 + p.ravel(), minlength=4).reshape(2, 2)
    inter = np.diag(cm)
    iou = inter / (cm.sum(0) + cm.sum(1) - inter)
    return float(iou.mean()), float(iou[0]), float(iou[1])


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_segmentation(method: str, k: int, threads: int) -> dict:
    """One (method, k) in a fresh process: train, predict the test slices, report."""
    train = [load(i) for i in range(k)]
    test = [load(i) for i in TEST]
    start_rss = _rss_mb()
    if method == "seglab":
        from seglab.autolabel import ClassInfo, FeatureConfig, TrainConfig, train_pixel_classifier
        from seglab.core import LabelKind

        classes = (ClassInfo("membrane", LabelKind.STUFF), ClassInfo("cell", LabelKind.THING))
        config = TrainConfig(features=FeatureConfig(color="gray"), threads=threads)
        t0, c0 = time.perf_counter(), time.process_time()
        model = train_pixel_classifier([t[0] for t in train], [t[1] for t in train], classes, config)
        train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        preds = [model.predict(img).labels for img, _ in test]
        predict_s = time.perf_counter() - t0
    else:
        import functools

        from skimage.feature import multiscale_basic_features
        from skimage.future import fit_segmenter, predict_segmenter
        from sklearn.ensemble import RandomForestClassifier

        features = functools.partial(
            multiscale_basic_features, intensity=True, edges=True, texture=True, sigma_min=1, sigma_max=16
        )
        t0, c0 = time.perf_counter(), time.process_time()
        stack = np.stack([features(img) for img, _ in train])
        clf = RandomForestClassifier(
            n_estimators=50, n_jobs=threads or -1, max_depth=10, max_samples=0.05, random_state=0
        )
        clf = fit_segmenter(np.stack([lab + 1 for _, lab in train]), stack, clf)  # 0 means unlabeled there
        train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        preds = [predict_segmenter(features(img), clf) - 1 for img, _ in test]
        predict_s = time.perf_counter() - t0
    m, m_membrane, m_cell = miou([p.astype(np.int64) for p in preds], [t[1] for t in test])
    megapixels = sum(img.size for img, _ in test) / 1e6
    return {
        "method": method, "k": k, "miou": m, "membrane": m_membrane, "cell": m_cell, "train_s": train_s,
        "train_cpu": train_cpu,
        "predict_s_per_mp": predict_s / megapixels, "peak_mb": _rss_mb() - start_rss,
    }  # fmt: skip


def segmentation_table(ks: list[int], threads: int) -> list[dict]:
    rows = []
    ctx = multiprocessing.get_context("spawn")
    for k in ks:
        for method in ("seglab", "skimage-rf"):
            with cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
                row = pool.submit(run_segmentation, method, k, threads).result()
            print(f"  k={k} {method}: mIoU {row['miou']:.4f}, train {row['train_s']:.1f} s", flush=True)
            rows.append(row)
    print("\n### Few-shot segmentation (train on slices 0..k-1, evaluate on 20..29)\n")
    print(
        "| k | method | mIoU | IoU membrane | IoU cell | train s (wall) | train s (CPU) | predict s/MP | "
        "peak MB | train speed-up (CPU) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for k in ks:
        ours = next(r for r in rows if r["k"] == k and r["method"] == "seglab")
        base = next(r for r in rows if r["k"] == k and r["method"] != "seglab")
        for r in (ours, base):
            speed = f"{base['train_cpu'] / ours['train_cpu']:.1f}x" if r is ours else ""
            print(
                f"| {k} | {r['method']} | {r['miou']:.4f} | {r['membrane']:.4f} | {r['cell']:.4f} | "
                f"{r['train_s']:.1f} | {r['train_cpu']:.1f} | {r['predict_s_per_mp']:.1f} | "
                f"{r['peak_mb']:.0f} | {speed} |"
            )
        print(f"| {k} | **seglab - baseline** | **{ours['miou'] - base['miou']:+.4f}** | | | | | | | |")
    return rows


def wrong_objects(ids: np.ndarray, truth: np.ndarray, n: int) -> np.ndarray:
    """``(n,)`` bool: predicted object i+1 has IoU < 0.5 with every true cell."""
    gt, _ = ndimage.label(truth == 1, structure=np.ones((3, 3)))
    gt_area = np.bincount(gt.ravel())
    pairs = np.stack([ids.ravel(), gt.ravel()], axis=1)
    pairs = pairs[(pairs[:, 0] > 0) & (pairs[:, 1] > 0)]
    uniq, inter = np.unique(pairs, axis=0, return_counts=True)
    area = np.bincount(ids.ravel(), minlength=n + 1)
    best = np.zeros(n + 1)
    iou = inter / (area[uniq[:, 0]] + gt_area[uniq[:, 1]] - inter)
    np.maximum.at(best, uniq[:, 0], iou)
    return best[1:] < 0.5


def uncertainty_quality(threads: int, plots: Path | None) -> None:
    from sklearn.metrics import roc_auc_score

    from seglab.autolabel import (
        ClassInfo,
        FeatureConfig,
        InstanceOptions,
        TrainConfig,
        instance_map,
        objects_uncertainty,
        reliability_curve,
        reliability_diagram,
        train_pixel_classifier,
    )
    from seglab.autolabel.instances import object_instability
    from seglab.core import LabelKind

    classes = (ClassInfo("membrane", LabelKind.STUFF), ClassInfo("cell", LabelKind.THING))
    train = [load(i) for i in range(5)]
    model = train_pixel_classifier(
        [t[0] for t in train], [t[1] for t in train], classes,
        TrainConfig(features=FeatureConfig(color="gray"), threads=threads),
    )  # fmt: skip
    calibrator = model.calibrator
    pix_u, pix_wrong, obj_u, obj_wrong, conf_raw, conf_cal, correct = [], [], [], [], [], [], []
    for i in TEST:
        image, truth = load(i)
        pred = model.predict(image)
        total = pred.uncertainty().total
        pix_u.append(total.ravel())
        pix_wrong.append((pred.labels != truth).ravel())
        correct.append((pred.labels == truth).ravel())
        conf_cal.append(pred.proba.max(axis=2).ravel())
        model.calibrator = None
        conf_raw.append(model.predict(image).proba.max(axis=2).ravel())
        model.calibrator = calibrator
        ids, owner = instance_map(pred, classes, InstanceOptions())
        unstable = object_instability(pred, classes, ids, owner)  # what annotations_from_prediction uses
        per = objects_uncertainty(ids, total, instability=unstable)
        cell_ids = [j + 1 for j, k in enumerate(owner) if classes[k].kind is LabelKind.THING]
        wrong = wrong_objects(ids, truth, len(owner))
        obj_u += [per[j].value for j in cell_ids]
        obj_wrong += [bool(wrong[j - 1]) for j in cell_ids]
    pu, pw = np.concatenate(pix_u), np.concatenate(pix_wrong)
    ou, ow = np.array(obj_u), np.array(obj_wrong)
    order = np.argsort(-ou, kind="stable")
    share = {q: ow[order[: round(q * len(ou))]].sum() / max(ow.sum(), 1) for q in (0.1, 0.2)}
    ok = np.concatenate(correct)
    raw = reliability_curve(np.concatenate(conf_raw), ok)
    cal = reliability_curve(np.concatenate(conf_cal), ok)
    print("\n### Uncertainty quality (k = 5 model, slices 20..29)\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| pixels wrong | {pw.mean():.1%} of {pw.size:,} |")
    print(f"| per-pixel AUROC (uncertainty vs wrong pixel) | {roc_auc_score(pw, pu):.3f} |")
    print(f"| predicted cells / wrong (IoU < 0.5) | {len(ou)} / {ow.sum()} |")
    print(f"| per-object AUROC (uncertainty vs wrong object) | {roc_auc_score(ow, ou):.3f} |")
    print(f"| wrong objects among the 10% most uncertain | {share[0.1]:.1%} |")
    print(f"| wrong objects among the 20% most uncertain | {share[0.2]:.1%} |")
    temp = calibrator.to_json() if calibrator is not None else {"method": "none"}
    print(f"| ECE before / after calibration ({temp.get('method')}) | {raw.ece:.4f} / {cal.ece:.4f} |")
    if plots is not None:
        path = reliability_diagram({"raw": raw, "calibrated": cal}, plots / "membrane_reliability.png",
                                   title="membrane k=5, slices 20..29")  # fmt: skip
        print(f"\nreliability diagram: {path}")


Corruptions = dict[tuple[int, int], tuple[str, tuple[float, float, float, float]]]


def corrupted_membrane(fraction: float = 0.1, seed: int = 0):
    """Slices 0..9 as a dataset (membrane stuff + cell things), 10% of the cells >= 64 px corrupted.

    Returns the dataset, the corruptions ``{(slice, annotation id): (kind, true box)}`` and the number of
    eligible cells."""
    from seglab.core import Annotation, Dataset, ImageRecord, ImageSize, LabelClass, LabelKind, Mask, Ontology
    from seglab.core.dataset import ArrayMedia

    rng = np.random.default_rng(seed)
    onto = Ontology((LabelClass("membrane", (0, 0, 0), LabelKind.STUFF), LabelClass("cell", (255, 0, 0))))
    images, cells = [], []
    next_id = 1
    for i in range(10):
        image, truth = load(i)
        anns = [Annotation(next_id, "membrane", Mask.from_array(truth == 0))]
        next_id += 1
        comp, n = ndimage.label(truth == 1, structure=np.ones((3, 3)))
        for j in range(1, n + 1):
            mask = comp == j
            anns.append(Annotation(next_id, "cell", Mask.from_array(mask)))
            if mask.sum() >= 64:
                cells.append((i, next_id))
            next_id += 1
        images.append(
            ImageRecord(i + 1, f"{i}.png", ImageSize(512, 512), tuple(anns), media=ArrayMedia(image))
        )
    chosen = rng.choice(len(cells), size=round(fraction * len(cells)), replace=False)
    corruptions: Corruptions = {}
    for n, c in enumerate(chosen):
        img_index, ann_id = cells[c]
        kind = ("missing", "wrong_class", "boundary")[n % 3]
        img = images[img_index]
        ann = next(a for a in img.annotations if a.id == ann_id)
        b = ann.bounds()
        corruptions[(img_index, ann_id)] = (kind, (b.x_min, b.y_min, b.x_max, b.y_max))
        if kind == "missing":
            new = [a for a in img.annotations if a.id != ann_id]
        elif kind == "wrong_class":
            new = [a.with_(label="membrane") if a.id == ann_id else a for a in img.annotations]
        else:
            grown = Mask.from_array(ndimage.binary_dilation(ann.shape.array, iterations=3))
            new = [a.with_(shape=grown) if a.id == ann_id else a for a in img.annotations]
        images[img_index] = img.with_annotations(new)
    return Dataset(onto, tuple(images)), corruptions, len(cells)


def matches(suspect, key: tuple[int, int], corruptions: Corruptions) -> bool:
    """A suspect names a corruption: the same annotation, or (a deletion) a region centred in it."""
    img_index, ann_id = key
    kind, (x0, y0, x1, y1) = corruptions[key]
    if suspect.image != f"{img_index}.png":
        return False
    if suspect.annotation_id is not None:
        return suspect.annotation_id == ann_id
    if kind != "missing" or suspect.box is None:
        return False
    cx, cy = (suspect.box[0] + suspect.box[2]) / 2, (suspect.box[1] + suspect.box[3]) / 2
    return x0 <= cx <= x1 and y0 <= cy <= y1


def audit_quality(threads: int) -> None:
    from seglab.autolabel import AuditOptions, SuspectKind, TrainConfig, audit_dataset

    ds, corruptions, eligible = corrupted_membrane()
    options = AuditOptions(folds=5, train=TrainConfig(members=1, rounds=60, calibration="none",
                                                      samples_per_class=20_000, threads=threads))  # fmt: skip
    t0 = time.perf_counter()
    result = audit_dataset(ds, options)
    seconds = time.perf_counter() - t0
    n = len(corruptions)
    print(f"\n### Audit quality ({n} of {eligible} cells corrupted in slices 0..9; {seconds:.0f} s)\n")
    print("| top | precision | recall | recall missing | recall wrong_class | recall boundary |")
    print("|---|---|---|---|---|---|")
    for top in (n, 2 * n):
        head = result.suspects[:top]
        found = {key for key in corruptions if any(matches(s, key, corruptions) for s in head)}
        hits = sum(any(matches(s, key, corruptions) for key in corruptions) for s in head)
        per = {
            kind: sum(1 for key in found if corruptions[key][0] == kind)
            / max(1, sum(1 for v in corruptions.values() if v[0] == kind))
            for kind in ("missing", "wrong_class", "boundary")
        }
        print(
            f"| {top} | {hits / max(len(head), 1):.1%} | {len(found) / n:.1%} | {per['missing']:.0%} | "
            f"{per['wrong_class']:.0%} | {per['boundary']:.0%} |"
        )
    kinds = {k.value: sum(1 for s in result.suspects[:n] if s.kind is k) for k in SuspectKind}
    print(f"\nkinds among the top {n}: {kinds}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ks", default="1,2,5,10")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--plots", type=Path, default=None)
    parser.add_argument("--skip-segmentation", action="store_true")
    parser.add_argument("--skip-uncertainty", action="store_true")
    parser.add_argument("--skip-audit", action="store_true")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"the membrane data is absent: {DATA}")
    if args.plots is not None:
        args.plots.mkdir(parents=True, exist_ok=True)
    if not args.skip_segmentation:
        segmentation_table([int(k) for k in args.ks.split(",")], args.threads)
    if not args.skip_uncertainty:
        uncertainty_quality(args.threads, args.plots)
    if not args.skip_audit:
        audit_quality(args.threads)


if __name__ == "__main__":
    main()
