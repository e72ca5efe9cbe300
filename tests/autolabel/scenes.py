"""Generated scenes for auto-labeling tests: textured shapes on a textured background.

Class 0 ``background`` (stuff) has fine diagonal stripes over slow shading; class 1 ``disc`` (thing) is
brighter with a dotted texture; class 2 ``square`` (thing) is darker with a checker texture. Colour
differs slightly per class too, so both grey and RGB features can learn it. Everything is a function of
the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seglab.autolabel import ClassInfo
from seglab.core import Annotation, Dataset, ImageRecord, ImageSize, LabelClass, LabelKind, Mask, Ontology
from seglab.core.dataset import ArrayMedia

CLASSES = (
    ClassInfo("background", LabelKind.STUFF),
    ClassInfo("disc", LabelKind.THING),
    ClassInfo("square", LabelKind.THING),
)
ONTOLOGY = Ontology(
    (
        LabelClass("background", (40, 40, 40), LabelKind.STUFF),
        LabelClass("disc", (220, 60, 60), LabelKind.THING),
        LabelClass("square", (60, 60, 220), LabelKind.THING),
    )
)


@dataclass(frozen=True)
class Scene:
    pixels: np.ndarray  # (H, W, 3) uint8
    labels: np.ndarray  # (H, W) uint8 class index
    instances: np.ndarray  # (H, W) int32, 0 = background
    objects: tuple[tuple[int, int], ...]  # (instance id, class index)


def scene(seed: int, size: int = 96, n_objects: int = 4, touching: bool = False) -> Scene:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    labels = np.zeros((size, size), dtype=np.uint8)
    instances = np.zeros((size, size), dtype=np.int32)
    objects = []
    for obj in range(1, n_objects + 1):
        cls = 1 + obj % 2
        r = rng.uniform(8, 13)
        for _ in range(50):
            cy, cx = rng.uniform(r + 1, size - r - 1, size=2)
            if cls == 1:
                inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            else:
                inside = (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
            if not (instances[inside] > 0).any() and not (
                not touching and (_dilated(instances > 0, 2) & inside).any()
            ):
                break
        labels[inside] = cls
        instances[inside] = obj
        objects.append((obj, cls))
    shade = 0.15 * np.sin(xx / 23.0 + seed) * np.cos(yy / 31.0)
    stripes = 0.12 * np.sin((xx + yy) * 1.3)
    dots = 0.18 * (np.sin(xx * 1.9) * np.sin(yy * 1.9) > 0.3)
    checker = 0.15 * (((xx // 3) + (yy // 3)) % 2)
    gray = 0.45 + shade + np.where(labels == 0, stripes, 0.0)
    gray = np.where(labels == 1, 0.62 + shade + dots, gray)
    gray = np.where(labels == 2, 0.3 + shade + checker, gray)
    gray = gray + rng.normal(0, 0.04, size=gray.shape)
    tint = np.stack([gray + 0.04 * (labels == 1), gray, gray + 0.04 * (labels == 2)], axis=2)
    pixels = (np.clip(tint, 0, 1) * 255).round().astype(np.uint8)
    return Scene(pixels, labels, instances, tuple(objects))


def _dilated(mask: np.ndarray, n: int) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=n)


def scene_record(image_id: int, s: Scene, *, first_id: int = 1) -> ImageRecord:
    """An image record with one mask annotation per object and one for the background."""
    anns = [Annotation(first_id, "background", Mask.from_array(s.labels == 0))]
    for obj, cls in s.objects:
        mask = s.instances == obj
        if mask.any():
            anns.append(Annotation(first_id + len(anns), CLASSES[cls].name, Mask.from_array(mask)))
    h, w = s.labels.shape
    return ImageRecord(
        image_id, f"scene_{image_id}.png", ImageSize(w, h), tuple(anns), media=ArrayMedia(s.pixels)
    )


def scene_dataset(seeds: list[int], **kwargs: object) -> Dataset:
    images, next_id = [], 1
    for i, seed in enumerate(seeds):
        rec = scene_record(i + 1, scene(seed, **kwargs), first_id=next_id)  # type: ignore[arg-type]
        next_id += len(rec.annotations)
        images.append(rec)
    return Dataset(ONTOLOGY, tuple(images))


def fast_config(**changes: object):
    """A small, quick training setup for tests (few scales, rounds and samples; one thread)."""
    from dataclasses import replace

    from seglab.autolabel import FeatureConfig, TrainConfig

    base = TrainConfig(
        features=FeatureConfig(sigmas=(1.0, 2.0, 4.0)),
        context=FeatureConfig(sigmas=(1.0, 3.0), families=("gauss", "grad", "hess")),
        members=2,
        rounds=30,
        samples_per_class=3000,
        calibration_samples=3000,
        threads=1,
    )
    return replace(base, **changes)


def miou(pred: np.ndarray, truth: np.ndarray, k: int) -> float:
    cm = np.bincount(truth.ravel().astype(np.int64) * k + pred.ravel(), minlength=k * k).reshape(k, k)
    inter = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - inter
    return float(np.mean(inter[union > 0] / union[union > 0]))
