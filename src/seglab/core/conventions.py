"""The one coordinate convention of seglab, and box layouts.

Coordinates are continuous pixel coordinates as in COCO: the origin is the top-left corner of the top-left
pixel, x grows to the right and y grows down. Pixel (row i, column j) covers the square [j, j+1) x [i, i+1),
so its centre is (j + 0.5, i + 0.5) and a box [0, 0, 1, 1] (x_min, y_min, x_max, y_max) encloses exactly the
first pixel. Image sizes are always ``ImageSize(width, height)``; arrays are always ``(height, width)``.
Formats with other conventions (YOLO normalised centres, Pascal VOC 1-based pixel indices, CVAT, LabelMe)
convert at their border and nowhere else.

Because y grows down, a ring that is counter-clockwise on screen has a negative shoelace sum; seglab never
relies on ring orientation.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

import numpy as np


class ImageSize(NamedTuple):
    """Width and height of an image in pixels, in that order."""

    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        """The numpy array shape ``(height, width)`` of a single-channel image of this size."""
        return (self.height, self.width)

    @property
    def area(self) -> int:
        return self.width * self.height

    @classmethod
    def from_shape(cls, shape: tuple[int, ...]) -> ImageSize:
        """The size of an array of shape ``(height, width[, channels])``."""
        return cls(width=int(shape[1]), height=int(shape[0]))


class BoxFormat(Enum):
    """Box layouts met at format borders. seglab stores ``XYXY`` in absolute pixel coordinates."""

    XYXY = "xyxy"  # x_min, y_min, x_max, y_max (seglab, Pascal VOC after its 1-based shift)
    XYWH = "xywh"  # x_min, y_min, width, height (COCO)
    CXCYWH = "cxcywh"  # centre x, centre y, width, height (YOLO, normalised by the image size)


def convert_boxes(boxes: np.ndarray, src: BoxFormat, dst: BoxFormat) -> np.ndarray:
    """Convert an ``(N, 4)`` array of boxes between layouts. Returns a new float64 array."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)  # (N, 4)
    if src is dst:
        return b.copy()
    if src is BoxFormat.XYWH:
        xyxy = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)
    elif src is BoxFormat.CXCYWH:
        half = b[:, 2:] / 2.0
        xyxy = np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)
    else:
        xyxy = b
    if dst is BoxFormat.XYXY:
        return xyxy.copy() if xyxy is b else xyxy
    wh = xyxy[:, 2:] - xyxy[:, :2]
    if dst is BoxFormat.XYWH:
        return np.concatenate([xyxy[:, :2], wh], axis=1)
    return np.concatenate([xyxy[:, :2] + wh / 2.0, wh], axis=1)


def normalize_points(points: np.ndarray, size: ImageSize) -> np.ndarray:
    """Divide ``(..., 2)`` x/y coordinates by the image size (YOLO's 0..1 coordinates)."""
    return np.asarray(points, dtype=np.float64) / np.array([size.width, size.height], dtype=np.float64)


def denormalize_points(points: np.ndarray, size: ImageSize) -> np.ndarray:
    """Multiply normalised ``(..., 2)`` coordinates back to pixels."""
    return np.asarray(points, dtype=np.float64) * np.array([size.width, size.height], dtype=np.float64)
