"""Generated scenes with a known object: textured, coloured shapes on textured backgrounds.

Each scene is reproducible from its seed. The target object is a random star-shaped blob (sometimes with a
hole) painted with a two-colour texture (stripes, checks or dots); the background is a smooth colour field
with its own texture and a few distractor shapes, one of which may occlude the target. The image is then
slightly blurred (soft edges, as a camera gives) and noised. The ground truth is the visible target.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    mask: np.ndarray  # (H, W) bool, the visible target
    seed: int


def _smooth_field(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """A smooth random field in [0, 1] of shape (H, W)."""
    small = rng.random((cells, cells)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A (H, W) float pattern in [0, 1]: stripes, checks, dots or blotches at a random scale and angle."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    u = xx * np.cos(theta) + yy * np.sin(theta)
    v = -xx * np.sin(theta) + yy * np.cos(theta)
    period = rng.uniform(6, 18)
    kind = rng.integers(4)
    if kind == 0:
        return (np.sin(2 * np.pi * u / period) > 0).astype(np.float32)
    if kind == 1:
        return ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
    if kind == 2:
        d = np.hypot((u % period) - period / 2, (v % period) - period / 2)
        return (d < period * 0.3).astype(np.float32)
    return (_smooth_field(rng, h, w, max(4, int(w / period / 2))) > 0.5).astype(np.float32)


def _blob(rng: np.random.Generator, h: int, w: int, size: float) -> np.ndarray:
    """A random star-shaped region of radius about ``size`` pixels, as a (H, W) bool mask."""
    cx = rng.uniform(0.3, 0.7) * w
    cy = rng.uniform(0.3, 0.7) * h
    n = 64
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    harmonics = rng.normal(0, 1, (4, 2)) / np.arange(2, 6)[:, None]
    k = np.arange(2, 6)[:, None]
    wobble = (harmonics[:, :1] * np.cos(k * angles) + harmonics[:, 1:] * np.sin(k * angles)).sum(0)
    radius = size * (1 + 0.35 * wobble)
    radius = np.clip(radius, size * 0.35, size * 1.6)
    aspect = rng.uniform(0.6, 1.4)
    pts = np.stack([cx + radius * np.cos(angles) * aspect, cy + radius * np.sin(angles)], axis=1)
    canvas = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(canvas, [np.round(pts * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return canvas.astype(bool)


def _palette(rng: np.random.Generator) -> np.ndarray:
    """Two related colours (2, 3) in [0, 255]."""
    base = rng.uniform(30, 225, 3)
    other = np.clip(base + rng.normal(0, 60, 3), 0, 255)
    return np.stack([base, other])


def _paint(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    pal = _palette(rng)
    t = _texture(rng, h, w)[..., None]
    shade = 0.8 + 0.4 * _smooth_field(rng, h, w, 4)[..., None]
    return (pal[0] * (1 - t) + pal[1] * t) * shade


def make_scene(seed: int, width: int = 320, height: int = 240, *, noise: float = 6.0) -> Scene:
    """A reproducible scene: image and the mask of its target object."""
    rng = np.random.default_rng(seed)
    h, w = height, width
    # Background: a smooth colour field mixed with a texture of its own.
    field = np.stack([_smooth_field(rng, h, w, 5) for _ in range(3)], axis=-1) * 255
    img = 0.55 * field + 0.45 * _paint(rng, h, w)
    for _ in range(rng.integers(1, 4)):  # distractors behind the target
        region = _blob(rng, h, w, rng.uniform(0.08, 0.2) * min(h, w))
        img[region] = _paint(rng, h, w)[region]
    target = _blob(rng, h, w, rng.uniform(0.15, 0.3) * min(h, w))
    if rng.random() < 0.3:  # a hole
        ys, xs = np.nonzero(target)
        cy, cx = ys.mean(), xs.mean()
        yy, xx = np.mgrid[0:h, 0:w]
        r = np.sqrt(target.sum() / np.pi) * rng.uniform(0.15, 0.3)
        target &= np.hypot(yy - cy, xx - cx) > r
    img[target] = _paint(rng, h, w)[target]
    if rng.random() < 0.4:  # an occluder in front
        occ = _blob(rng, h, w, rng.uniform(0.06, 0.12) * min(h, w))
        img[occ] = _paint(rng, h, w)[occ]
        target &= ~occ
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.8)
    img = img + rng.normal(0, noise, img.shape)
    image = np.clip(img, 0, 255).astype(np.uint8)
    return Scene(image=image, mask=target, seed=seed)


def scenes(count: int, start: int = 0, width: int = 320, height: int = 240) -> list[Scene]:
    return [make_scene(s, width, height) for s in range(start, start + count)]
