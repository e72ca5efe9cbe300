"""Active learning: which unlabeled images to label next.

Two things make an image worth a person's time: the model is unsure about it (*expected uncertainty*:
the mean of its per-pixel uncertainty), and it is unlike what is labeled already (*diversity*). Both are
combined in a k-center greedy pass (Sener & Savarese's core-set selection) on image descriptors: each
step picks the image with the largest ``(floor + uncertainty) * distance to the nearest labeled or
already picked image``, so a batch does not fill up with near-copies of one hard image.

Descriptors are cheap and model-agnostic: means and spreads of a few multiscale features of a
downscaled image, plus the predicted class shares when a model is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from seglab.autolabel.backends import Prediction
from seglab.autolabel.features import FeatureConfig, as_float_image, compute_features
from seglab.autolabel.uncertainty import image_uncertainty

DESCRIPTOR_FEATURES = FeatureConfig(
    sigmas=(1.0, 3.0, 8.0), families=("gauss", "grad", "log", "st"), color="rgb"
)
DESCRIPTOR_SIDE = 128


@dataclass(frozen=True)
class Suggestion:
    """One image to label: its rank (1 = first), the combined score and its two parts."""

    image: str
    rank: int
    score: float
    uncertainty: float
    novelty: float

    def to_json(self) -> dict[str, object]:
        return {
            "image": self.image,
            "rank": self.rank,
            "score": round(self.score, 6),
            "uncertainty": round(self.uncertainty, 6),
            "novelty": round(self.novelty, 6),
        }


def image_descriptor(pixels: np.ndarray, prediction: Prediction | None = None) -> np.ndarray:
    """A fixed-length vector describing an image's appearance (and its prediction when given)."""
    img = as_float_image(pixels)  # (H, W, C)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    h, w = img.shape[:2]
    scale = DESCRIPTOR_SIDE / max(h, w)
    if scale < 1:
        img = cv2.resize(
            img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    feats = compute_features(img, DESCRIPTOR_FEATURES).reshape(-1, DESCRIPTOR_FEATURES.count(3))
    parts = [feats.mean(axis=0), feats.std(axis=0)]
    if prediction is not None:
        k = prediction.proba.shape[2]
        parts.append(np.bincount(prediction.labels.ravel(), minlength=k)[:k] / prediction.labels.size)
    return np.concatenate(parts).astype(np.float64)


def k_center_greedy(
    candidates: np.ndarray, centers: np.ndarray, count: int, weights: np.ndarray | None = None
) -> list[tuple[int, float]]:
    """Pick ``count`` rows of ``candidates`` ``(N, D)``: each the one maximising ``weight * distance`` to
    the nearest of ``centers`` ``(M, D)`` and the rows picked before. Returns (row, distance) pairs;
    with no centers the first distance is taken to the candidates' mean."""
    n = candidates.shape[0]
    count = min(count, n)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if centers.shape[0]:
        diff = candidates[:, None, :] - centers[None, :, :]  # (N, M, D)
        nearest = np.sqrt((diff**2).sum(axis=2)).min(axis=1)  # (N,)
    else:
        nearest = np.sqrt(((candidates - candidates.mean(axis=0)) ** 2).sum(axis=1))
    picked: list[tuple[int, float]] = []
    available = np.ones(n, dtype=bool)
    for _ in range(count):
        priority = np.where(available, w * nearest, -np.inf)
        best = int(priority.argmax())
        picked.append((best, float(nearest[best])))
        available[best] = False
        nearest = np.minimum(nearest, np.sqrt(((candidates - candidates[best]) ** 2).sum(axis=1)))
    return picked


def suggest(
    candidates: Sequence[tuple[str, np.ndarray, Prediction | None]],
    labeled: Sequence[np.ndarray],
    count: int,
    *,
    uncertainty_floor: float = 0.1,
) -> list[Suggestion]:
    """Rank ``count`` of the ``candidates`` (name, pixels, prediction or None) for labeling.

    ``labeled`` are descriptors of the images already labeled (:func:`image_descriptor`, with the same
    prediction setting). Without predictions every image counts as equally uncertain and only diversity
    decides.
    """
    if count < 1 or not candidates:
        return []
    desc = np.stack([image_descriptor(px, pred) for _, px, pred in candidates])  # (N, D)
    known = np.stack(labeled) if len(labeled) else np.zeros((0, desc.shape[1]))
    allx = np.concatenate([desc, known])
    mean, std = allx.mean(axis=0), allx.std(axis=0)
    std[std < 1e-9] = 1.0
    desc, known = (desc - mean) / std, (known - mean) / std
    unc = np.array(
        [image_uncertainty(pred.uncertainty()).mean if pred is not None else 1.0 for _, _, pred in candidates]
    )
    picked = k_center_greedy(desc, known, count, uncertainty_floor + unc)
    scale = max((d for _, d in picked), default=1.0) or 1.0
    return [
        Suggestion(
            candidates[i][0],
            rank + 1,
            float((uncertainty_floor + unc[i]) * d / scale),
            float(unc[i]),
            d / scale,
        )
        for rank, (i, d) in enumerate(picked)
    ]
