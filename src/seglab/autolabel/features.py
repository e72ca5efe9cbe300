"""Multiscale pixel features: what a tree ensemble sees of each pixel's neighbourhood.

Per channel and per scale ``sigma`` the stack holds (as in ilastik's pixel classification):

- ``gauss``: Gaussian-smoothed intensity;
- ``grad``: gradient magnitude of the smoothed image (scale-normalised, ``sigma * |grad|``);
- ``log``: Laplacian of Gaussian (``sigma**2 * (Ixx + Iyy)``);
- ``hess1``, ``hess2``: Hessian eigenvalues (larger, smaller; ``sigma**2`` normalised): ridges and valleys;
- ``st1``, ``st2``: structure-tensor eigenvalues (gradient outer products smoothed at ``rho * sigma``):
  edges vs corners vs flat texture;
- ``dog``: difference of Gaussians to the next scale (a band-pass the trees cannot build from the rest).

Everything is computed with OpenCV's separable Gaussian (float32, reflected borders) and closed-form 2x2
eigenvalues; wide scales are filtered on a 2x-8x coarser (area-averaged) grid and upsampled bilinearly
(:func:`scale_factor`), so a 512x512 grey image with eight scales takes about 0.2 CPU seconds. Derivatives are
taken as central differences of the smoothed image, the usual discretisation of Gaussian derivatives.
Large images go through :func:`iter_tiles`, which adds a halo wide enough that tile borders give the same
features as the whole image.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

FAMILIES = ("gauss", "grad", "log", "hess", "st", "dog")
MAX_FACTOR = 8  # the coarsest grid; tiles start at multiples of it so they see the same coarse pixels
_PER_FAMILY = {"gauss": 1, "grad": 1, "log": 1, "hess": 2, "st": 2, "dog": 1}


@dataclass(frozen=True)
class FeatureConfig:
    """Which features at which scales; stored in a model file so prediction computes the same stack.

    ``color``: ``"gray"`` averages the channels first (membranes, X-ray, EM), ``"rgb"`` computes features
    per channel. ``rho`` is the structure tensor's integration scale as a multiple of ``sigma``. The default
    scales were chosen on membrane slices that the benchmark's figures are not measured on (see
    benchmarks/autolabel.py, ``--tune-classifier``): the widest scale, 16 px, sees across a whole cell.
    """

    sigmas: tuple[float, ...] = (0.7, 1.0, 1.6, 2.5, 4.0, 6.3, 10.0, 16.0)  # 16: chosen on held-out slices
    families: tuple[str, ...] = FAMILIES
    color: str = "rgb"
    rho: float = 2.0
    raw: bool = True
    coarse_sigma: float = 2.0  # wide scales on coarser grids (see scale_factor); 0: never (older models)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.sigmas or any(not (0 < s <= 64) for s in self.sigmas):
            raise ValueError(f"feature scales must lie in (0, 64], got {self.sigmas}")
        if self.coarse_sigma < 0:
            raise ValueError(f"coarse_sigma must be >= 0 (0: no coarse grids), got {self.coarse_sigma}")
        unknown = set(self.families) - set(FAMILIES)
        if unknown:
            raise ValueError(f"unknown feature families {sorted(unknown)}; known: {FAMILIES}")
        if self.color not in ("gray", "rgb"):
            raise ValueError(f"color must be 'gray' or 'rgb', got {self.color!r}")
        object.__setattr__(self, "sigmas", tuple(sorted(float(s) for s in self.sigmas)))
        object.__setattr__(self, "families", tuple(f for f in FAMILIES if f in self.families))

    @property
    def halo(self) -> int:
        """Pixels of context a tile needs on each side so its features equal the whole image's."""
        # OpenCV truncates a Gaussian at 4 sigma (+1 for rounding); derivatives add 2 pixels.
        # A coarse grid adds one coarse pixel of area averaging and one of interpolation on each side, and
        # the halo is a multiple of MAX_FACTOR so that tiles keep the whole image's coarse grid.
        widest = max(self.sigmas) * (1.0 + self.rho if "st" in self.families else 1.0)
        halo = math.ceil(4.0 * widest) + 4 + (2 * MAX_FACTOR if self.coarse_sigma > 0 else 0)
        return -(-halo // MAX_FACTOR) * MAX_FACTOR

    def channels(self, image_channels: int) -> int:
        return 1 if self.color == "gray" else image_channels

    def names(self, image_channels: int = 3) -> list[str]:
        """One name per feature column, in stack order (for explanations and feature importances)."""
        out: list[str] = []
        for c in range(self.channels(image_channels)):
            tag = "gray" if self.color == "gray" else f"c{c}"
            if self.raw:
                out.append(f"{tag}:raw")
            for i, s in enumerate(self.sigmas):
                for fam in self.families:
                    if fam == "dog" and i == len(self.sigmas) - 1:
                        continue
                    n = _PER_FAMILY[fam]
                    out += [f"{tag}:{fam}{k + 1 if n > 1 else ''}@{s:g}" for k in range(n)]
        return out

    def count(self, image_channels: int = 3) -> int:
        return len(self.names(image_channels))

    def to_json(self) -> dict[str, Any]:
        return {
            "sigmas": list(self.sigmas),
            "families": list(self.families),
            "color": self.color,
            "rho": self.rho,
            "raw": self.raw,
            "coarse_sigma": self.coarse_sigma,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureConfig:
        return cls(
            sigmas=tuple(float(s) for s in data["sigmas"]),
            families=tuple(str(f) for f in data["families"]),
            color=str(data["color"]),
            rho=float(data["rho"]),
            raw=bool(data.get("raw", True)),
            coarse_sigma=float(data.get("coarse_sigma", 0.0)),  # older models: every scale at full size
        )


def as_float_image(image: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` float32 in [0, 1] from uint8 / uint16 / float images, grey or colour."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"an image must be (H, W) or (H, W, C), got shape {arr.shape}")
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]  # alpha carries no appearance
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) * np.float32(1 / 255)
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) * np.float32(1 / 65535)
    out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise ValueError("image contains NaN or infinite values")
    return out


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


def _dx(img: np.ndarray) -> np.ndarray:
    # central difference [-1/2, 0, 1/2] along x; reflected borders like the blur
    return cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=1, scale=0.5, borderType=cv2.BORDER_REFLECT)


def _dy(img: np.ndarray) -> np.ndarray:
    return cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=1, scale=0.5, borderType=cv2.BORDER_REFLECT)


def _eig2(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (larger, smaller) of the symmetric 2x2 matrices [[a, b], [b, c]], elementwise."""
    mean = (a + c) * 0.5
    root = np.sqrt(((a - c) * 0.5) ** 2 + b * b)
    return mean + root, mean - root


def scale_factor(sigma: float, config: FeatureConfig) -> int:
    """How much coarser than the image a scale's features are computed (1: at full resolution).

    A wide Gaussian keeps nothing that a grid ``f`` times coarser could not hold as long as ``sigma / f``
    stays at ``config.coarse_sigma`` pixels or more, so wide scales are filtered on an area-averaged
    image and their features upsampled bilinearly: nearly the same values at a small fraction of the cost
    (the structure tensor's integration at ``rho * sigma`` is the costliest filter of the stack)."""
    factor = 1
    while config.coarse_sigma > 0 and factor < MAX_FACTOR and sigma / (2 * factor) >= config.coarse_sigma:
        factor *= 2
    return factor


def _upsample(plane: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    if factor == 1:
        return plane
    big = cv2.resize(
        plane, (plane.shape[1] * factor, plane.shape[0] * factor), interpolation=cv2.INTER_LINEAR
    )
    return big[: shape[0], : shape[1]]


def _downsample(channel: np.ndarray, factor: int) -> np.ndarray:
    """Area average over ``factor`` x ``factor`` blocks; the image is first reflected up to a multiple."""
    h, w = channel.shape
    pad_y, pad_x = -h % factor, -w % factor
    if pad_y or pad_x:
        channel = cv2.copyMakeBorder(channel, 0, pad_y, 0, pad_x, cv2.BORDER_REFLECT)
    return cv2.resize(
        channel, (channel.shape[1] // factor, channel.shape[0] // factor), interpolation=cv2.INTER_AREA
    )


def _scale_features(g: np.ndarray, s: float, fams: tuple[str, ...], rho: float) -> list[np.ndarray]:
    """The features of one scale (all but ``gauss`` and ``dog``) from the image smoothed at ``s``, in
    stack order; ``s`` is in pixels of ``g``'s grid (the normalisations make them grid-independent)."""
    out: list[np.ndarray] = []
    if not any(f in fams for f in ("grad", "hess", "log", "st")):
        return out
    gx, gy = _dx(g), _dy(g)
    s2 = s * s
    if "grad" in fams:
        out.append(np.sqrt(gx * gx + gy * gy) * s)
    if "log" in fams or "hess" in fams:
        gxx, gyy, gxy = _dx(gx), _dy(gy), _dy(gx)
        if "log" in fams:
            out.append((gxx + gyy) * s2)
        if "hess" in fams:
            h1, h2 = _eig2(gxx, gxy, gyy)
            out += [h1 * s2, h2 * s2]
    if "st" in fams:
        r = rho * s
        e1, e2 = _eig2(_blur(gx * gx, r), _blur(gx * gy, r), _blur(gy * gy, r))
        out += [e1 * s2, e2 * s2]
    return out


def _channel_features(channel: np.ndarray, config: FeatureConfig, out: np.ndarray, start: int) -> int:
    """Write one channel's features into the planes ``out[start:]``; returns the next free plane."""
    col = start
    if config.raw:
        out[col] = channel
        col += 1
    fams = config.families
    shape = channel.shape
    coarse: dict[int, np.ndarray] = {1: channel}
    dog_col, previous = -1, channel  # the previous scale's difference-of-Gaussians column and smoothing
    for i, s in enumerate(config.sigmas):
        f = scale_factor(s, config)
        if f not in coarse:
            coarse[f] = _downsample(channel, f)
        g = _blur(coarse[f], s / f)
        g_full = _upsample(g, f, shape)
        if "gauss" in fams:
            out[col] = g_full
            col += 1
        for plane in _scale_features(g, s / f, fams, config.rho):
            out[col] = _upsample(plane, f, shape)
            col += 1
        if "dog" in fams:
            if i > 0:  # the previous scale's difference to this one, in its place in the stack
                out[dog_col] = previous - g_full
            if i + 1 < len(config.sigmas):
                dog_col = col
                col += 1
        previous = g_full
    return col


def compute_features(image: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """The ``(H, W, F)`` float32 feature stack of an image (grey or colour, any dtype)."""
    img = as_float_image(image)  # (H, W, C)
    if config.color == "gray":
        img = img.mean(axis=2, keepdims=True, dtype=np.float32)
    h, w, channels = img.shape
    # Filled plane by plane (F, H, W), then transposed once with OpenCV's blocked transpose: writing each
    # feature into a strided column of an (H, W, F) stack, or numpy's transpose, is several times slower.
    n = config.count(channels)
    planes = np.empty((n, h, w), dtype=np.float32)  # (F, H, W)
    col = 0
    for c in range(channels):
        col = _channel_features(np.ascontiguousarray(img[:, :, c]), config, planes, col)
    assert col == n
    return cv2.transpose(planes.reshape(n, h * w)).reshape(h, w, n)  # (H, W, F)


@dataclass(frozen=True)
class Tile:
    """A window of an image: ``inner`` is what the tile is responsible for, ``outer`` adds the halo."""

    y0: int
    y1: int
    x0: int
    x1: int
    oy0: int
    oy1: int
    ox0: int
    ox1: int

    @property
    def inner_in_outer(self) -> tuple[slice, slice]:
        return slice(self.y0 - self.oy0, self.y1 - self.oy0), slice(self.x0 - self.ox0, self.x1 - self.ox0)


def iter_tiles(height: int, width: int, tile: int, halo: int) -> Iterator[Tile]:
    """Non-overlapping ``tile`` x ``tile`` windows covering the image, each with a ``halo`` of context."""
    if tile <= 0:
        raise ValueError("tile size must be positive")
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
            yield Tile(
                y0,
                y1,
                x0,
                x1,
                max(0, y0 - halo),
                min(height, y1 + halo),
                max(0, x0 - halo),
                min(width, x1 + halo),
            )
