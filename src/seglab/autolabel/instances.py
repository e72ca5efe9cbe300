"""From probabilities to annotations: stuff regions, thing instances, polygons, scores and uncertainty.

- stuff classes give one annotation per class and image (its whole region);
- thing classes are split into instances: 8-connected components, and components that hold several
  objects touching each other are cut by a watershed on the distance transform (one marker per
  distance-transform peak that stands ``split_depth`` pixels above the saddle to its neighbour, so an
  elongated object is not chopped into pieces);
- shapes are exact pixel-edge polygons with holes (:func:`seglab.core.raster.mask_to_polygon`) or masks;
- every annotation has ``source=MODEL``, ``score`` (mean probability of its class over its pixels) and
  ``uncertainty`` (:func:`seglab.autolabel.uncertainty.objects_uncertainty`, with the object's
  instability across the ensemble members' own predictions when there are several).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

from seglab.autolabel.backends import ClassInfo, Prediction
from seglab.autolabel.uncertainty import (
    OBJECT_BAND,
    PixelUncertainty,
    instance_instability,
    objects_uncertainty,
)
from seglab.core.annotation import Annotation, Source
from seglab.core.geometry import Polygon, PolygonPart
from seglab.core.mask import Mask
from seglab.core.ontology import LabelKind
from seglab.core.raster import mask_to_polygon

_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class InstanceOptions:
    """``min_area``: smaller thing pieces are dropped (noise); ``split_depth``: watershed marker depth in
    pixels (0 disables splitting); ``neck_ratio``: a cut is kept only through a neck narrower than this
    share of the smaller piece's width, or along pixels whose mean ``1 - p(class)`` reaches ``evidence_min``;
    ``band``: boundary band width for the object uncertainty; ``shape``:
    ``"polygon"`` or ``"mask"``."""

    min_area: int = 16
    split_depth: float = 2.0
    neck_ratio: float = 0.5
    evidence_min: float = 0.3
    band: int = OBJECT_BAND
    shape: str = "polygon"

    def __post_init__(self) -> None:
        if self.shape not in ("polygon", "mask"):
            raise ValueError(f"shape must be 'polygon' or 'mask', got {self.shape!r}")


def _merge_unfounded_cuts(
    labels: np.ndarray,
    distance: np.ndarray,
    neck_ratio: float,
    evidence: np.ndarray | None,
    evidence_min: float,
) -> np.ndarray:
    """Undo watershed cuts that neither run through a neck nor along evidence of a boundary.

    Two touching objects meet at a neck narrower than either of them, while a cut through an object's
    own body is about as long as the object is wide: a cut is kept when its length is below
    ``neck_ratio`` times the inscribed diameter of the smaller piece. A wider cut is still kept where
    the pixels along it are doubtful (mean ``evidence`` >= ``evidence_min``, e.g. ``1 - p(class)``): the
    model half-saw a boundary there, as with a faint membrane between two cells.
    """
    n = int(labels.max())
    if n < 2:
        return labels
    pairs, doubt = [], []
    ev = evidence if evidence is not None else np.zeros(labels.shape, dtype=np.float32)
    for a, b, ea, eb in (
        (labels[:, :-1], labels[:, 1:], ev[:, :-1], ev[:, 1:]),
        (labels[:-1, :], labels[1:, :], ev[:-1, :], ev[1:, :]),
    ):
        cut = (a != b) & (a > 0) & (b > 0)
        lo, hi = np.minimum(a[cut], b[cut]), np.maximum(a[cut], b[cut])
        pairs.append(np.stack([lo, hi], axis=1))
        doubt.append((ea[cut] + eb[cut]) * 0.5)
    edges = np.concatenate(pairs)  # (E, 2) one row per pixel pair across a cut
    if edges.size == 0:
        return labels
    uniq, inverse, length = np.unique(edges, axis=0, return_inverse=True, return_counts=True)
    mean_doubt = np.bincount(inverse.ravel(), weights=np.concatenate(doubt), minlength=len(uniq)) / length
    radius = np.asarray(ndimage.maximum(distance, labels, index=np.arange(1, n + 1)), dtype=np.float64)
    parent = np.arange(n + 1)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for (a, b), neck, d in zip(uniq.tolist(), length.tolist(), mean_doubt.tolist(), strict=True):
        wide = neck >= neck_ratio * 2.0 * min(radius[a - 1], radius[b - 1])
        if wide and not (evidence is not None and d >= evidence_min):
            parent[find(a)] = find(b)
    roots = np.array([find(i) for i in range(n + 1)])
    return roots[labels]


def split_instances(
    region: np.ndarray,
    *,
    split_depth: float = 2.0,
    min_area: int = 1,
    neck_ratio: float = 0.5,
    evidence: np.ndarray | None = None,
    evidence_min: float = 0.3,
) -> np.ndarray:
    """``(H, W)`` bool region -> ``(H, W)`` int32 instance ids (0 = outside), touching objects split.

    Components smaller than ``min_area`` are removed. Markers are the distance transform's peaks that
    stand ``split_depth`` above the saddle to their neighbour; a watershed cut is kept only where it
    runs through a neck or along doubtful pixels of ``evidence`` ``(H, W)`` (see
    :func:`_merge_unfounded_cuts`), so an elongated or bent object stays whole.
    """
    region = np.asarray(region, dtype=bool)
    components, n = ndimage.label(region, structure=_EIGHT)
    if n and min_area > 1:
        sizes = np.bincount(components.ravel())
        small = sizes < min_area
        small[0] = False
        components[small[components]] = 0
        region = components > 0
    if n == 0 or split_depth <= 0:
        return _relabel(region.astype(np.int32))
    distance = ndimage.distance_transform_edt(region).astype(np.float32)  # (H, W)
    peaks = h_maxima(ndimage.gaussian_filter(distance, 1.0), split_depth) & region
    markers, n_markers = ndimage.label(peaks, structure=_EIGHT)
    # a component without a marker (thin, flat) gets one marker: its own label
    unmarked = np.setdiff1d(np.unique(components[region]), np.unique(components[markers > 0]))
    if unmarked.size:
        relabel = np.zeros(components.max() + 1, dtype=np.int32)
        relabel[unmarked] = np.arange(n_markers + 1, n_markers + 1 + unmarked.size)
        markers = np.where(np.isin(components, unmarked), relabel[components], markers)
    labels = watershed(-distance, markers, mask=region, connectivity=2)
    return _relabel(_merge_unfounded_cuts(labels, distance, neck_ratio, evidence, evidence_min))


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Ids 1..N, one per 8-connected piece of each label (watershed pieces may come apart)."""
    out = np.zeros(labels.shape, dtype=np.int32)
    next_id = 1
    for index, sl in enumerate(ndimage.find_objects(labels)):
        if sl is None:
            continue
        piece, count = ndimage.label(labels[sl] == index + 1, structure=_EIGHT)
        target = out[sl]
        target[piece > 0] = piece[piece > 0] + next_id - 1
        next_id += count
    return out


def _shape(crop: np.ndarray, sl: tuple[slice, slice], size: tuple[int, int], shape: str) -> Mask | Polygon:
    """The object's shape in image coordinates from its mask ``crop`` at ``sl`` of an image ``size``."""
    if shape == "mask":
        full = np.zeros(size, dtype=bool)
        full[sl] = crop
        return Mask.from_array(full)
    local = mask_to_polygon(crop)  # exact, holes kept; shift the crop's corner back into place
    offset = np.array([sl[1].start, sl[0].start], dtype=np.float64)
    return Polygon(
        tuple(PolygonPart(p.exterior + offset, tuple(h + offset for h in p.holes)) for p in local.parts)
    )


def _objects(
    labels: np.ndarray, proba: np.ndarray, classes: Sequence[ClassInfo], options: InstanceOptions
) -> tuple[np.ndarray, np.ndarray]:
    out = np.zeros(labels.shape, dtype=np.int32)
    owner: list[int] = []
    for k, cls in enumerate(classes):
        if cls.background:
            continue
        region = labels == k
        if not region.any():
            continue
        if cls.kind is LabelKind.STUFF:
            pieces = region.astype(np.int32)
        else:
            pieces = split_instances(
                region,
                split_depth=options.split_depth,
                min_area=options.min_area,
                neck_ratio=options.neck_ratio,
                evidence=1.0 - proba[:, :, k],
                evidence_min=options.evidence_min,
            )
        inside = pieces > 0
        out[inside] = pieces[inside] + len(owner)
        owner += [k] * int(pieces.max())
    return out, np.asarray(owner, dtype=np.int64)


def instance_map(
    prediction: Prediction, classes: Sequence[ClassInfo], options: InstanceOptions | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(H, W)`` int32 ids of every predicted thing instance and stuff region (0 = none, background
    included) and ``(N,)`` the class index of id 1..N: the objects :func:`annotations_from_prediction`
    turns into annotations, as arrays for metrics and audits."""
    return _objects(prediction.labels, prediction.proba, classes, options or InstanceOptions())


def object_instability(
    prediction: Prediction,
    classes: Sequence[ClassInfo],
    ids: np.ndarray,
    owner: np.ndarray,
    options: InstanceOptions | None = None,
) -> np.ndarray | None:
    """``(N,)`` instability of the objects ``ids`` across the ensemble members' own class maps (the same
    instance splitting applied to each member); None for a single model."""
    members = prediction.member_labels
    if members is None or members.shape[0] < 2:
        return None
    opt = options or InstanceOptions()
    maps = [_objects(m, prediction.proba, classes, opt) for m in members]
    return instance_instability(ids, owner, maps)


def annotations_from_prediction(
    prediction: Prediction,
    classes: Sequence[ClassInfo],
    *,
    options: InstanceOptions | None = None,
    first_id: int = 1,
    uncertainty: PixelUncertainty | None = None,
) -> list[Annotation]:
    """Model annotations for one image, things first split into instances; background gives none."""
    options = options or InstanceOptions()
    unc = (uncertainty or prediction.uncertainty()).total  # (H, W)
    ids, owner = instance_map(prediction, classes, options)
    unstable = object_instability(prediction, classes, ids, owner, options)
    per_object = objects_uncertainty(ids, unc, band=options.band, instability=unstable)
    anns: list[Annotation] = []
    size = ids.shape
    for index, sl in enumerate(ndimage.find_objects(ids)):
        if sl is None:
            continue
        k = int(owner[index])
        crop = ids[sl] == index + 1
        ou = per_object[index + 1]
        anns.append(
            Annotation(
                id=first_id + len(anns),
                label=classes[k].name,
                shape=_shape(crop, sl, size, options.shape),
                source=Source.MODEL,
                score=round(float(prediction.proba[sl][crop, k].mean()), 6),
                uncertainty=round(ou.value, 6),
                extra={
                    "uncertainty_detail": {
                        "interior": round(ou.interior, 6),
                        "boundary": round(ou.boundary, 6),
                        "peak": round(ou.peak, 6),
                        "instability": round(ou.instability, 6),
                    }
                },
            )
        )
    return anns
