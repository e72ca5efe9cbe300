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
eigenvalues, so a 512x512 grey image with five scales takes a few tens of milliseconds. Derivatives are
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
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.sigmas or any(not (0 < s <= 64) for s in self.sigmas):
            raise ValueError(f"feature scales must lie in (0, 64], got {self.sigmas}")
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
        widest = max(self.sigmas) * (1.0 + self.rho if "st" in self.families else 1.0)
        return math.ceil(4.0 * widest) + 4

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
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureConfig:
        return cls(
            sigmas=tuple(float(s) for s in data["sigmas"]),
            families=tuple(str(f) for f in data["families"]),
            color=str(data["color"]),
            rho=float(data["rho"]),
            raw=bool(data.get("raw", True)),
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


def _channel_features(channel: np.ndarray, config: FeatureConfig, out: np.ndarray, start: int) -> int:
    """Write one channel's features into ``out[:, :, start:]``; returns the next free column."""
    col = start
    if config.raw:
        out[:, :, col] = channel
        col += 1
    fams = config.families
    smoothed = [_blur(channel, s) for s in config.sigmas]  # each (H, W)
    for i, s in enumerate(config.sigmas):
        g = smoothed[i]
        if "gauss" in fams:
            out[:, :, col] = g
            col += 1
        need_first = any(f in fams for f in ("grad", "hess", "log", "st"))
        if need_first:
            gx, gy = _dx(g), _dy(g)
        if "grad" in fams:
            out[:, :, col] = np.sqrt(gx * gx + gy * gy) * s
            col += 1
        if "log" in fams or "hess" in fams:
            gxx, gyy, gxy = _dx(gx), _dy(gy), _dy(gx)
            s2 = s * s
            if "log" in fams:
                out[:, :, col] = (gxx + gyy) * s2
                col += 1
            if "hess" in fams:
                h1, h2 = _eig2(gxx, gxy, gyy)
                out[:, :, col] = h1 * s2
                out[:, :, col + 1] = h2 * s2
                col += 2
        if "st" in fams:
            rho = config.rho * s
            jxx, jxy, jyy = _blur(gx * gx, rho), _blur(gx * gy, rho), _blur(gy * gy, rho)
            e1, e2 = _eig2(jxx, jxy, jyy)
            s2 = s * s
            out[:, :, col] = e1 * s2
            out[:, :, col + 1] = e2 * s2
            col += 2
        if "dog" in fams and i + 1 < len(config.sigmas):
            out[:, :, col] = g - smoothed[i + 1]
            col += 1
    return col


def compute_features(image: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """The ``(H, W, F)`` float32 feature stack of an image (grey or colour, any dtype)."""
    img = as_float_image(image)  # (H, W, C)
    if config.color == "gray":
        img = img.mean(axis=2, keepdims=True, dtype=np.float32)
    h, w, channels = img.shape
    out = np.empty((h, w, config.count(channels)), dtype=np.float32)  # (H, W, F)
    col = 0
    for c in range(channels):
        col = _channel_features(np.ascontiguousarray(img[:, :, c]), config, out, col)
    assert col == out.shape[2]
    return out


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
