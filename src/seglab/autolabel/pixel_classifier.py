"""The built-in backend: a tree ensemble on multiscale pixel features, with an auto-context stage.

Training (:func:`train_pixel_classifier`) takes images and label maps ``(H, W)`` of class indices where
``IGNORE`` (or any value >= K) marks unlabeled pixels, so full masks, polygons and sparse scribbles all
train the same way: only labeled pixels are sampled, class-balanced (a thin minority class such as a
membrane gets as many samples as the background), and disjoint pixel sets feed each stage.

1. *Pixel stage*: LightGBM on :func:`~seglab.autolabel.features.compute_features`.
2. *Context stage* (auto-context, as in ilastik): the pixel stage's probability maps are filtered with the
   same multiscale filters and appended to the features, so the second stage sees what the first
   predicted around each pixel (a gap in a membrane is closed by the membrane on both sides of it).
   ``members`` models, each on another bootstrap sample with another seed, form the ensemble whose
   disagreement is an uncertainty signal.
3. *Calibration*: temperature or isotonic scaling fitted on labeled pixels that no model trained on.

Prediction runs in tiles with a halo wide enough for both stages, so any image size needs bounded memory
and gives the same result as one whole-image pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from seglab.autolabel.backends import ClassInfo, ModelError, Prediction, reduce_members
from seglab.autolabel.calibration import IsotonicCalibration, TemperatureScaling, fit_calibrator
from seglab.autolabel.features import (
    MAX_FACTOR,
    FeatureConfig,
    as_float_image,
    compute_features,
    iter_tiles,
)
from seglab.core.annotation import Annotation
from seglab.core.conventions import ImageSize
from seglab.core.geometry import Polygon, Polyline
from seglab.core.mask import Mask
from seglab.core.raster import shape_to_mask
from seglab.core.segmentation import IGNORE

Progress = Callable[[str, float], None]
STAGE1_EARLY_STOP = 4.0  # raw margin (~0.98 probability) after which the pixel stage stops adding trees
MEMBER_EARLY_STOP = 6.0  # the same for ensemble members (~0.9975): only near-certain pixels are cut short
SCARCE_PIXELS = 300  # below this many labeled pixels of a class, stages share their training pixels

DEFAULT_CONTEXT = FeatureConfig(sigmas=(1.0, 2.0, 4.0, 8.0), families=("gauss", "grad", "hess"), raw=True)


@dataclass(frozen=True)
class TrainConfig:
    """How to train. The defaults were chosen on the membrane benchmark's tuning slices 10..19 only, never
    on the slices its figures are measured on (benchmarks/autolabel.py, ``--tune-classifier``).

    ``samples_per_class``: training pixels drawn per class (over all images) for each stage;
    ``member_fraction``: share of the context-stage sample each member draws (with replacement);
    ``rounds``: boosting rounds of each member, ``stage1_rounds`` of the pixel stage (0: ``rounds``; it
    is evaluated on every pixel of every training image, so it costs more than its training);
    ``max_bin``, ``bin_samples``: LightGBM's feature histogram bins and the pixels their bounds are drawn
    from (binning 20,000 rows costs as much as training on them; 63 bins lost nothing on 10..19);
    ``threads``: LightGBM threads (0: all cores); ``tile``: prediction tile size in pixels.
    """

    features: FeatureConfig = field(default_factory=FeatureConfig)
    context: FeatureConfig | None = DEFAULT_CONTEXT
    members: int = 5
    rounds: int = 40
    stage1_rounds: int = 20
    num_leaves: int = 31
    learning_rate: float = 0.15
    min_data_in_leaf: int = 20
    max_bin: int = 63
    bin_samples: int = 20_000
    samples_per_class: int = 20_000
    member_fraction: float = 0.4
    calibration: str = "temperature"
    calibration_samples: int = 20_000
    threads: int = 0
    seed: int = 0
    tile: int = 512

    def __post_init__(self) -> None:
        if self.members < 1:
            raise ValueError("an ensemble needs at least one member")
        if not 0 < self.member_fraction <= 1:
            raise ValueError("member_fraction must lie in (0, 1]")
        if self.calibration not in ("temperature", "isotonic", "none"):
            raise ValueError(f"unknown calibration {self.calibration!r}")


def _lgb_params(config: TrainConfig, n_classes: int, seed: int) -> dict[str, Any]:
    params: dict[str, Any] = {
        "num_leaves": config.num_leaves,
        "learning_rate": config.learning_rate,
        "min_data_in_leaf": config.min_data_in_leaf,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "seed": seed,
        "deterministic": True,
        "verbose": -1,
        "num_threads": config.threads,
        "force_col_wise": True,  # skips LightGBM's timing of both layouts; col-wise wins on these shapes
    } | _dataset_params(config)
    if n_classes == 2:
        params["objective"] = "binary"
    else:
        params |= {"objective": "multiclass", "num_class": n_classes}
    return params


def _dataset_params(config: TrainConfig) -> dict[str, Any]:
    """How LightGBM bins the features (the same for a dataset and every subset of it)."""
    return {"verbose": -1, "max_bin": config.max_bin, "bin_construct_sample_cnt": config.bin_samples}


def booster_proba(
    booster: Any, x: np.ndarray, n_classes: int, threads: int = 0, early_stop: float | None = None
) -> np.ndarray:
    """``(N, F)`` features -> ``(N, K)`` float32 probabilities from a LightGBM booster.

    ``early_stop``: stop adding trees for a pixel once its raw margin exceeds this (LightGBM's
    prediction early stopping): several times faster on the many obvious pixels, and only the
    already extreme probabilities of those pixels change.
    """
    if x.shape[0] == 0:
        return np.zeros((0, n_classes), dtype=np.float32)
    extra: dict[str, Any] = {}
    if early_stop is not None:
        extra = {"pred_early_stop": True, "pred_early_stop_freq": 10, "pred_early_stop_margin": early_stop}
    raw = np.asarray(booster.predict(x, num_threads=threads, **extra), dtype=np.float32)
    if n_classes == 2:
        raw = raw.reshape(-1)
        return np.stack([1.0 - raw, raw], axis=1)
    return raw.reshape(-1, n_classes)


@dataclass(eq=False)
class PixelClassifier:
    """A trained tree ensemble; a :class:`~seglab.autolabel.backends.SegmentationBackend`.

    ``stage1`` is the pixel-stage booster when there is a context stage (else None); ``members`` are the
    final-stage boosters whose probabilities are averaged.
    """

    class_info: tuple[ClassInfo, ...]
    features: FeatureConfig
    context: FeatureConfig | None
    stage1: Any
    members: list[Any]
    calibrator: TemperatureScaling | IsotonicCalibration | None = None
    channels: int = 3
    tile: int = 512
    threads: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> tuple[ClassInfo, ...]:
        return self.class_info

    @property
    def aligned_tile(self) -> int:
        """The tile size rounded up to a multiple of the coarsest feature grid: every tile then starts on
        that grid, as the whole image does, and tiled features equal whole-image ones."""
        return -(-self.tile // MAX_FACTOR) * MAX_FACTOR

    @property
    def halo(self) -> int:
        return self.features.halo + (self.context.halo if self.context is not None else 0)

    def _check_channels(self, img: np.ndarray) -> np.ndarray:
        if self.features.color == "gray" or img.shape[2] == self.channels:
            return img
        if img.shape[2] == 1:
            return np.repeat(img, self.channels, axis=2)
        if self.channels == 1:
            return img.mean(axis=2, keepdims=True)
        raise ModelError(f"model was trained on {self.channels}-channel images, got {img.shape[2]} channels")

    def final_features(self, f1: np.ndarray, inner: tuple[slice, slice] | None = None) -> np.ndarray:
        """Final-stage features ``(h, w, F)`` from pixel-stage features ``(H', W', F1)`` of a window
        (of its ``inner`` part when given): the pixel features plus, with auto-context, the filtered
        pixel-stage probabilities."""
        inner = inner or (slice(None), slice(None))
        if self.context is None:
            return f1[inner]
        f2 = self.context_features(f1)
        return np.concatenate([f1[inner], f2[inner]], axis=2)

    def context_features(self, f1: np.ndarray) -> np.ndarray:
        """``(H', W', F2)`` auto-context features: the pixel stage's probabilities of a window, filtered."""
        assert self.context is not None
        k = len(self.class_info)
        p1 = booster_proba(self.stage1, f1.reshape(-1, f1.shape[2]), k, self.threads, STAGE1_EARLY_STOP)
        p1 = p1.reshape(f1.shape[0], f1.shape[1], k)
        return compute_features(p1[:, :, 1:], self.context)  # class 0 is implied by the others

    def _window_features(self, window: np.ndarray, inner: tuple[slice, slice]) -> np.ndarray:
        return self.final_features(compute_features(window, self.features), inner)

    def predict_members(self, image: np.ndarray) -> np.ndarray:
        """``(M, H, W, K)`` probabilities of every member, before calibration (for inspection and tests)."""
        img = self._check_channels(as_float_image(image))
        h, w = img.shape[:2]
        k = len(self.class_info)
        out = np.empty((len(self.members), h, w, k), dtype=np.float32)
        for t in iter_tiles(h, w, self.aligned_tile, self.halo):
            feats = self._window_features(img[t.oy0 : t.oy1, t.ox0 : t.ox1], t.inner_in_outer)
            x = feats.reshape(-1, feats.shape[2])
            for m, booster in enumerate(self.members):
                p = booster_proba(booster, x, k, self.threads, MEMBER_EARLY_STOP)
                out[m, t.y0 : t.y1, t.x0 : t.x1] = p.reshape(t.y1 - t.y0, t.x1 - t.x0, k)
        return out

    def predict(self, image: np.ndarray) -> Prediction:
        """Mean probabilities and members' disagreement, reduced tile by tile (bounded memory)."""
        img = self._check_channels(as_float_image(image))
        h, w = img.shape[:2]
        k = len(self.class_info)
        proba = np.empty((h, w, k), dtype=np.float32)
        several = len(self.members) > 1
        disagreement = np.zeros((h, w), dtype=np.float32) if several else None
        member_labels = np.zeros((len(self.members), h, w), dtype=np.uint8) if several and k < 256 else None
        for t in iter_tiles(h, w, self.aligned_tile, self.halo):
            feats = self._window_features(img[t.oy0 : t.oy1, t.ox0 : t.ox1], t.inner_in_outer)
            x = feats.reshape(-1, feats.shape[2])
            shape = (t.y1 - t.y0, t.x1 - t.x0, k)
            members = np.stack(
                [booster_proba(b, x, k, self.threads, MEMBER_EARLY_STOP).reshape(shape) for b in self.members]
            )
            mean, dis = reduce_members(members)
            if self.calibrator is not None:  # fitted on the members' mean, so applied to it
                mean = self.calibrator.apply(mean)
            proba[t.y0 : t.y1, t.x0 : t.x1] = mean
            if disagreement is not None and dis is not None:
                disagreement[t.y0 : t.y1, t.x0 : t.x1] = dis
            if member_labels is not None:
                member_labels[:, t.y0 : t.y1, t.x0 : t.x1] = members.argmax(axis=3)
        return Prediction(proba, disagreement, len(self.members), member_labels)


# ------------------------------------------------------------------------------------------ training data


def label_map(
    annotations: Iterable[Annotation],
    class_names: Sequence[str],
    size: ImageSize,
    *,
    background: str | None = None,
    stroke_width: float = 3.0,
) -> np.ndarray:
    """``(H, W)`` uint8/uint16 class indices of one image's labels, ``IGNORE`` where nothing is labeled.

    Polygons and masks paint their area, polylines paint ``stroke_width``-pixel brush strokes (scribbles);
    higher ``z_order`` paints last. With ``background`` (a name in ``class_names``), every pixel no label
    covers is that class: the way to learn from exhaustively labeled objects on an unlabeled background.
    Boxes and keypoints say too little about pixels and are left out.
    """
    index = {n: i for i, n in enumerate(class_names)}
    dtype = np.uint8 if len(class_names) < IGNORE else np.uint16
    fill = index[background] if background is not None else (IGNORE if dtype == np.uint8 else 65535)
    out = np.full(size.shape, fill, dtype=dtype)  # (H, W)
    anns = sorted(
        (a for a in annotations if a.label in index and isinstance(a.shape, Polygon | Mask | Polyline)),
        key=lambda a: a.z_order,
    )
    for ann in anns:
        mask = shape_to_mask(ann.shape, size, line_thickness=stroke_width).array
        out[mask] = index[ann.label]
    return out


def _draws(
    labels: np.ndarray, n_classes: int, rng: np.random.Generator, fractions: np.ndarray, disjoint: bool
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random pixel sets of one label map, for each stage: (flat pixel indices, class indices).

    ``fractions`` is ``(S, K)``: the share of class k's labeled pixels that stage s takes. With
    ``disjoint`` the stages get separate pixels (one uniform draw per pixel decides its stage), so the
    context stage learns from pixels the pixel stage never saw; otherwise (scarce scribbles) each stage
    draws on its own and may reuse pixels.
    """
    flat = labels.ravel()
    labeled = np.flatnonzero(flat < n_classes)
    cls = flat[labeled].astype(np.int64)
    out = []
    if not disjoint:
        for s in range(fractions.shape[0]):
            take = rng.random(labeled.size) < fractions[s][cls]
            out.append((labeled[take], cls[take]))
        return out
    u = rng.random(labeled.size)
    bounds = np.cumsum(fractions, axis=0)  # (S, K)
    lower = np.zeros(labeled.size)
    for s in range(fractions.shape[0]):
        upper = bounds[s][cls]
        take = (u >= lower) & (u < upper)
        out.append((labeled[take], cls[take]))
        lower = upper
    return out


def _stage_fractions(counts: np.ndarray, wants: Sequence[int], disjoint: bool) -> np.ndarray:
    """``(S, K)`` shares of each class's labeled pixels per stage (at most all of them)."""
    frac = np.asarray(wants, dtype=np.float64)[:, None] / np.maximum(counts[None, :], 1)  # (S, K)
    if disjoint:
        return frac / np.maximum(frac.sum(axis=0), 1.0)[None, :]
    return np.minimum(frac, 1.0)


def train_pixel_classifier(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    classes: Sequence[ClassInfo | str],
    config: TrainConfig | None = None,
    *,
    progress: Progress | None = None,
) -> PixelClassifier:
    """Train on ``images`` ``(H, W[, C])`` and their label maps ``(H, W)`` (``>= K`` = unlabeled)."""
    import lightgbm as lgb

    config = config or TrainConfig()
    info = tuple(c if isinstance(c, ClassInfo) else ClassInfo(str(c)) for c in classes)
    k = len(info)
    if k < 2:
        raise ModelError("auto-labeling needs at least two classes (add a background class)")
    if len(images) != len(labels) or not images:
        raise ModelError(f"need one label map per image, got {len(images)} images and {len(labels)} maps")
    report = progress or (lambda _msg, _frac: None)
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    floats = [as_float_image(im) for im in images]
    channels = floats[0].shape[2]
    if config.features.color == "rgb" and any(f.shape[2] != channels for f in floats):
        floats = [
            f if f.shape[2] == 3 else np.repeat(f.mean(axis=2, keepdims=True), 3, axis=2) for f in floats
        ]
        channels = 3
    for f, lab in zip(floats, labels, strict=True):
        if lab.shape != f.shape[:2]:
            raise ModelError(f"label map {lab.shape} does not match its image {f.shape[:2]}")
    counts = np.zeros(k, dtype=np.int64)
    for lab in labels:
        counts += np.bincount(lab[lab < k].ravel().astype(np.int64), minlength=k)[:k]
    present = int((counts > 0).sum())
    if present < 2:
        raise ModelError(
            f"the labels hold pixels of {present} class(es); at least two are needed "
            f"(pixel counts: {dict(zip([c.name for c in info], counts.tolist(), strict=True))})"
        )
    with_context = config.context is not None
    n_cal = config.calibration_samples if config.calibration != "none" else 0
    stage_wants = [config.samples_per_class] * (2 if with_context else 1)
    fewest = int(counts[counts > 0].min())
    # Very few labeled pixels of some class (a few scribbles): every stage uses all of them, and none
    # are left to calibrate on; otherwise the stages and the calibration get disjoint pixels.
    disjoint = fewest >= SCARCE_PIXELS
    if not disjoint:
        n_cal = 0
    fractions = _stage_fractions(counts.astype(np.float64), [*stage_wants, n_cal], disjoint)
    draws = [_draws(np.asarray(lab), k, rng, fractions, disjoint) for lab in labels]
    min_leaf = int(min(config.min_data_in_leaf, max(2, fewest // 20)))

    # Stage 1 features: computed once per image; kept while they fit the budget, else recomputed.
    cache: list[np.ndarray | None] = []
    budget = 1 << 30
    x1, y1 = [], []
    for i, f in enumerate(floats):
        report(f"features of image {i + 1}/{len(floats)}", 0.3 * i / len(floats))
        feats = compute_features(f, config.features)  # (H, W, F1)
        idx, cls = draws[i][0]
        x1.append(feats.reshape(-1, feats.shape[2])[idx])
        y1.append(cls)
        needed_again = with_context or draws[i][-1][0].size > 0
        keep = needed_again and sum(c.nbytes for c in cache if c is not None) + feats.nbytes <= budget
        cache.append(feats if keep else None)
    x_first, y_first = np.concatenate(x1), np.concatenate(y1)

    # min_data_in_leaf also shapes the binning (LightGBM drops features no split could use)
    dataset_params = _dataset_params(config) | {"min_data_in_leaf": min_leaf}

    def dataset(x: np.ndarray, y: np.ndarray) -> Any:
        # class-balanced loss: the draws are balanced already unless a class had too few pixels
        per_class = np.bincount(y, minlength=k).astype(np.float64)
        weight = (len(y) / (np.count_nonzero(per_class) * np.maximum(per_class, 1.0)))[y]
        return lgb.Dataset(x, y, weight=weight, free_raw_data=True, params=dataset_params)

    def fit(data: Any, seed: int, rounds: int = 0) -> Any:
        params = _lgb_params(config, k, seed) | {"min_data_in_leaf": min_leaf}
        return lgb.train(params, data, num_boost_round=rounds or config.rounds)

    report("training the pixel stage", 0.35)
    stage1 = fit(dataset(x_first, y_first), config.seed, config.stage1_rounds) if with_context else None
    model = PixelClassifier(
        info, config.features, config.context, stage1, [], None, channels, config.tile, config.threads
    )
    if with_context:
        x2, y2, cal_x, cal_y = [], [], [], []
        for i, f in enumerate(floats):
            report(f"context features of image {i + 1}/{len(floats)}", 0.4 + 0.3 * i / len(floats))
            feats = cache[i] if cache[i] is not None else compute_features(f, config.features)
            cache[i] = None
            flat1 = feats.reshape(-1, feats.shape[2])
            context = model.context_features(feats)
            flat2 = context.reshape(-1, context.shape[2])
            # only the sampled pixels are assembled: a whole-image concatenation costs more than it gives
            idx, cls = draws[i][1]
            x2.append(np.concatenate([flat1[idx], flat2[idx]], axis=1))
            y2.append(cls)
            cidx, ccls = draws[i][-1]
            cal_x.append(np.concatenate([flat1[cidx], flat2[cidx]], axis=1))
            cal_y.append(ccls)
        x_final, y_final = np.concatenate(x2), np.concatenate(y2)
    else:
        x_final, y_final = x_first, y_first
        cal_x, cal_y = [], []
        for i, f in enumerate(floats):
            cidx, ccls = draws[i][-1]
            if cidx.size:
                feats = cache[i] if cache[i] is not None else compute_features(f, config.features)
                cache[i] = None
                cal_x.append(feats.reshape(-1, feats.shape[2])[cidx])
                cal_y.append(ccls)
    # The final-stage pixels are binned once; each member's bootstrap sample is a subset of that binned
    # dataset (sharing its bin boundaries), so binning, as costly as the training itself, is not repeated.
    final_data = dataset(x_final, y_final).construct()
    for m in range(config.members):
        report(f"training ensemble member {m + 1}/{config.members}", 0.7 + 0.25 * m / config.members)
        if config.members == 1:
            model.members.append(fit(final_data, config.seed + 1))
            continue
        take = rng.integers(0, len(y_final), size=max(1, int(len(y_final) * config.member_fraction)))
        take.sort()
        model.members.append(fit(final_data.subset(take.tolist()), config.seed + 1 + m))
    if n_cal and cal_x and sum(len(c) for c in cal_y):
        xc, yc = np.concatenate(cal_x), np.concatenate(cal_y)
        members = np.stack(
            [booster_proba(b, xc, k, config.threads, MEMBER_EARLY_STOP) for b in model.members]
        )
        model.calibrator = fit_calibrator(config.calibration, members.mean(axis=0), yc)
    model.info = {
        "images": len(images),
        "labeled_pixels": dict(zip([c.name for c in info], counts.tolist(), strict=True)),
        "training_pixels": len(y_final),
        "calibrated": model.calibrator is not None,
        "seconds": round(time.perf_counter() - started, 3),
        "config": _config_json(config),
    }
    report("done", 1.0)
    return model


def _config_json(config: TrainConfig) -> dict[str, Any]:
    return {
        "members": config.members,
        "rounds": config.rounds,
        "stage1_rounds": config.stage1_rounds,
        "max_bin": config.max_bin,
        "num_leaves": config.num_leaves,
        "learning_rate": config.learning_rate,
        "samples_per_class": config.samples_per_class,
        "member_fraction": config.member_fraction,
        "calibration": config.calibration,
        "seed": config.seed,
    }


def with_tile(model: PixelClassifier, tile: int) -> PixelClassifier:
    """The same model predicting in tiles of ``tile`` pixels (results equal; memory differs)."""
    return replace(model, tile=tile)
