"""How sure the model is: per pixel, per object and per image.

Per pixel (all in [0, 1], higher = less sure):

- ``entropy``: Shannon entropy of the class probabilities divided by ``log K``;
- ``margin``: ``1 - (p_top - p_second)``, the one a reviewer reads most easily;
- ``disagreement``: the mutual information between the prediction and the ensemble member (the mean
  prediction's entropy minus the members' mean entropy, divided by ``log K``), the cheap analogue of
  repeated stochastic inference: members trained on other bootstrap samples and seeds disagree where the
  training data did not pin the answer down, even when each member alone is confident;
- ``total``: ``1 - (1 - margin) * (1 - disagreement)``, which is high when either signal is.

Per object the pixel map is aggregated over the object and over a band around its outline (where most
mistakes of a segmentation live), plus a quantile of the object's core (the object eroded by the band);
and the ensemble members' own objects are compared with it (*instability*), the object-level form of
disagreement. Per image a summary ranks images for review and active learning.

The aggregation defaults (:data:`OBJECT_BAND`, :data:`CORE_QUANTILE`, :data:`BOUNDARY_WEIGHT`,
:data:`INSTABILITY_SCALE`) were chosen on a tuning split only (ISBI membrane slices 10..19, k = 5 model,
the grid and criterion in ``benchmarks/autolabel.py --tune``) and frozen before the reported figures were
measured on slices 20..29.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

_EPS = 1e-12

# Per-object aggregation, frozen after a grid search on a tuning split (see the module docstring): the
# argmax of (AUROC + share of wrong objects among the 20% most uncertain) on membrane slices 10..19.
# Re-run with the re-tuned classifier (scales up to 16 px), which moved the argmax.
OBJECT_BAND = 3  # pixels on both sides of the outline; the core is the object eroded by this much
CORE_QUANTILE = 0.9  # quantile of the uncertainty over the core
BOUNDARY_WEIGHT = 1.0  # how much the band's mean counts (1 = as much as the other signals)
INSTABILITY_SCALE = 2.0  # instability 1 / scale (members' best matches reach IoU 1/2) counts fully


def normalized_entropy(proba: np.ndarray) -> np.ndarray:
    """``(..., K)`` probabilities -> ``(...)`` entropy / log K in [0, 1]."""
    p = np.asarray(proba, dtype=np.float32)
    k = p.shape[-1]
    if k < 2:
        return np.zeros(p.shape[:-1], dtype=np.float32)
    h = -(p * np.log(np.maximum(p, _EPS))).sum(axis=-1)
    return np.clip(h / np.float32(np.log(k)), 0.0, 1.0).astype(np.float32)


def margin_uncertainty(proba: np.ndarray) -> np.ndarray:
    """``(..., K)`` -> ``(...)``: ``1 - (p_top - p_second)``."""
    p = np.asarray(proba, dtype=np.float32)
    if p.shape[-1] < 2:
        return np.zeros(p.shape[:-1], dtype=np.float32)
    top2 = np.partition(p, p.shape[-1] - 2, axis=-1)[..., -2:]  # (..., 2): second, top
    return np.clip(1.0 - (top2[..., 1] - top2[..., 0]), 0.0, 1.0).astype(np.float32)


def ensemble_disagreement(members: np.ndarray) -> np.ndarray:
    """``(M, ..., K)`` member probabilities -> ``(...)`` normalised mutual information in [0, 1]."""
    m = np.asarray(members, dtype=np.float32)
    if m.shape[0] < 2:
        return np.zeros(m.shape[1:-1], dtype=np.float32)
    mean_entropy = normalized_entropy(m).mean(axis=0)
    return np.clip(normalized_entropy(m.mean(axis=0)) - mean_entropy, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True, eq=False)
class PixelUncertainty:
    """Per-pixel uncertainty maps ``(H, W)`` float32 in [0, 1]."""

    entropy: np.ndarray
    margin: np.ndarray
    disagreement: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return 1.0 - (1.0 - self.margin) * (1.0 - self.disagreement)


def pixel_uncertainty(proba: np.ndarray, disagreement: np.ndarray | None = None) -> PixelUncertainty:
    """Uncertainty maps from ``(H, W, K)`` mean probabilities and, if any, the members' disagreement."""
    p = np.asarray(proba, dtype=np.float32)
    dis = np.zeros(p.shape[:-1], dtype=np.float32) if disagreement is None else disagreement
    return PixelUncertainty(normalized_entropy(p), margin_uncertainty(p), np.asarray(dis, dtype=np.float32))


@dataclass(frozen=True)
class ObjectUncertainty:
    """One object's uncertainty: ``interior`` and ``boundary`` means, ``peak`` (the
    :data:`CORE_QUANTILE` quantile over the object's core, away from its outline), ``instability``
    (1 - the mean IoU of the object with its best match among each ensemble member's objects), and
    ``value``, the combination stored as the annotation's uncertainty.
    """

    area: int
    interior: float
    boundary: float
    peak: float
    value: float
    instability: float = 0.0


def combine_object_uncertainty(
    interior: float,
    boundary: float,
    peak: float,
    instability: float,
    *,
    boundary_weight: float = BOUNDARY_WEIGHT,
    instability_scale: float = INSTABILITY_SCALE,
) -> float:
    """One object's uncertainty in [0, 1] from its signals: high when any one of them is.

    A fragment is all boundary (interior), a leaking outline shows in the band (boundary), a doubtful
    body in the core (peak), and an object the ensemble members do not reproduce is doubtful however
    sure each pixel looks (instability, saturating at ``1 / instability_scale``).
    """
    pixels = (1.0 - interior) * (1.0 - boundary_weight * boundary) * (1.0 - peak)
    return float(1.0 - pixels * (1.0 - min(1.0, instability_scale * instability)))


def objects_uncertainty(
    instances: np.ndarray,
    uncertainty: np.ndarray,
    *,
    band: int = OBJECT_BAND,
    ids: Sequence[int] | None = None,
    instability: np.ndarray | None = None,
    core_quantile: float = CORE_QUANTILE,
    boundary_weight: float = BOUNDARY_WEIGHT,
    instability_scale: float = INSTABILITY_SCALE,
) -> dict[int, ObjectUncertainty]:
    """Uncertainty of every object of an instance map ``(H, W)`` (0 = none) from a pixel map ``(H, W)``.

    The boundary band is the ``band`` pixels on both sides of the outline; the peak is the
    ``core_quantile`` quantile over the object eroded by ``band`` (or the whole object when erosion
    leaves nothing). ``instability`` ``(N,)`` gives object ``i + 1``'s instability across ensemble
    members (:func:`instance_instability`). The weights go to :func:`combine_object_uncertainty`.
    """
    if not 0.0 <= core_quantile <= 1.0:
        raise ValueError(f"core_quantile must lie in [0, 1], got {core_quantile}")
    inst = np.asarray(instances)
    unc = np.asarray(uncertainty, dtype=np.float32)
    if inst.shape != unc.shape:
        raise ValueError(f"instance map {inst.shape} and uncertainty map {unc.shape} differ in shape")
    slices = ndimage.find_objects(inst.astype(np.int32, copy=False))
    wanted = set(ids) if ids is not None else None
    structure = ndimage.generate_binary_structure(2, 1)
    h, w = inst.shape
    out: dict[int, ObjectUncertainty] = {}
    for index, sl in enumerate(slices):
        obj_id = index + 1
        if sl is None or (wanted is not None and obj_id not in wanted):
            continue
        ys = slice(max(0, sl[0].start - band - 1), min(h, sl[0].stop + band + 1))
        xs = slice(max(0, sl[1].start - band - 1), min(w, sl[1].stop + band + 1))
        mask = inst[ys, xs] == obj_id  # (h', w') crop around the object
        u = unc[ys, xs]
        if band > 0:
            inner = ndimage.binary_erosion(mask, structure, iterations=band)
            outer = ndimage.binary_dilation(mask, structure, iterations=band)
            ring = outer & ~inner
        else:
            inner, ring = mask, mask
        core = inner if inner.any() else mask
        interior = float(u[mask].mean())
        boundary = float(u[ring].mean()) if ring.any() else interior
        peak = float(np.quantile(u[core], core_quantile))
        unstable = float(instability[index]) if instability is not None else 0.0
        value = combine_object_uncertainty(
            interior, boundary, peak, unstable,
            boundary_weight=boundary_weight, instability_scale=instability_scale,
        )  # fmt: skip
        out[obj_id] = ObjectUncertainty(int(mask.sum()), interior, boundary, peak, value, unstable)
    return out


def instance_instability(
    instances: np.ndarray, owner: np.ndarray, member_maps: Sequence[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """``(N,)``: 1 - the mean over members of each object's best IoU with a member object of its class.

    ``instances`` ``(H, W)`` holds ids 1..N with classes ``owner`` ``(N,)``; each member map is the same
    pair for one ensemble member's own prediction. The object-level form of ensemble disagreement: a
    fragment or a merge that only the mean prediction makes is not reproduced by the members.
    """
    n = len(owner)
    if not member_maps or n == 0:
        return np.zeros(n, dtype=np.float64)
    area = np.bincount(instances.ravel(), minlength=n + 1)
    total = np.zeros(n, dtype=np.float64)
    for ids_m, owner_m in member_maps:
        area_m = np.bincount(ids_m.ravel(), minlength=len(owner_m) + 1)
        both = (instances > 0) & (ids_m > 0)
        pairs = np.stack([instances[both], ids_m[both]], axis=1).astype(np.int64)
        best = np.zeros(n + 1)
        if pairs.size:
            uniq, inter = np.unique(pairs, axis=0, return_counts=True)
            same = owner[uniq[:, 0] - 1] == owner_m[uniq[:, 1] - 1]
            uniq, inter = uniq[same], inter[same]
            iou = inter / (area[uniq[:, 0]] + area_m[uniq[:, 1]] - inter)
            np.maximum.at(best, uniq[:, 0], iou)
        total += best[1:]
    return 1.0 - total / len(member_maps)


def object_uncertainty(
    mask: np.ndarray, uncertainty: np.ndarray, *, band: int = OBJECT_BAND
) -> ObjectUncertainty:
    """:func:`objects_uncertainty` for one boolean mask."""
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        raise ValueError("the object mask is empty")
    return objects_uncertainty(m.astype(np.int32), uncertainty, band=band)[1]


@dataclass(frozen=True)
class ImageUncertainty:
    """A summary for ranking images: mean and 90th percentile of the pixel map, the share of doubtful
    pixels (total > 0.5), and the objects' count, doubtful count (value > 0.5) and maximum."""

    mean: float
    p90: float
    uncertain_fraction: float
    objects: int = 0
    uncertain_objects: int = 0
    max_object: float = 0.0

    def to_json(self) -> dict[str, float | int]:
        return {
            "mean": round(self.mean, 6),
            "p90": round(self.p90, 6),
            "uncertain_fraction": round(self.uncertain_fraction, 6),
            "objects": self.objects,
            "uncertain_objects": self.uncertain_objects,
            "max_object": round(self.max_object, 6),
        }


def image_uncertainty(
    pixels: PixelUncertainty | np.ndarray, objects: Sequence[ObjectUncertainty] = ()
) -> ImageUncertainty:
    total = pixels.total if isinstance(pixels, PixelUncertainty) else np.asarray(pixels, dtype=np.float32)
    values = [o.value for o in objects]
    return ImageUncertainty(
        mean=float(total.mean()),
        p90=float(np.quantile(total, 0.9)),
        uncertain_fraction=float((total > 0.5).mean()),
        objects=len(values),
        uncertain_objects=sum(v > 0.5 for v in values),
        max_object=max(values, default=0.0),
    )
