"""Mask: a binary pixel mask held densely or as COCO RLE, each converted from the other lazily.

The RLE is pycocotools' (column-major runs, compressed counts). Area, bounding box and IoU come from the
RLE without decoding, which is what makes millions of masks affordable. Pixel (i, j) of the array is the
pixel covering [j, j+1) x [i, i+1) in seglab's coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pycocotools import mask as coco_mask

from seglab.core.conventions import ImageSize
from seglab.core.ontology import ShapeType


def _compressed(rle: dict[str, Any]) -> dict[str, Any]:
    """Canonical compressed RLE ``{"size": [h, w], "counts": bytes}`` from any COCO RLE form."""
    counts = rle["counts"]
    h, w = (int(v) for v in rle["size"])
    if isinstance(counts, list):
        return coco_mask.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return {"size": [h, w], "counts": counts}


class Mask:
    """A binary mask of one object.

    Build it with :meth:`from_array` or :meth:`from_rle`; read it with :attr:`array` or :attr:`rle`.
    Immutable: the array it returns is read-only.
    """

    kind: ClassVar[ShapeType] = ShapeType.MASK
    __slots__ = ("_array", "_rle", "_size")

    def __init__(self, *, array: np.ndarray | None = None, rle: dict[str, Any] | None = None) -> None:
        if (array is None) == (rle is None):
            raise ValueError("a Mask needs exactly one of array= or rle=")
        if array is not None:
            arr = np.array(array, dtype=bool, copy=True)
            if arr.ndim != 2:
                raise ValueError(f"a mask array must be (height, width), got shape {arr.shape}")
            arr.setflags(write=False)
            self._array: np.ndarray | None = arr
            self._rle: dict[str, Any] | None = None
            self._size = ImageSize.from_shape(arr.shape)
        else:
            assert rle is not None
            self._rle = _compressed(rle)
            self._array = None
            self._size = ImageSize(width=int(self._rle["size"][1]), height=int(self._rle["size"][0]))

    @classmethod
    def from_array(cls, array: np.ndarray) -> Mask:
        return cls(array=array)

    @classmethod
    def from_rle(cls, rle: dict[str, Any]) -> Mask:
        """From a COCO RLE dict: compressed (str or bytes counts) or uncompressed (list counts)."""
        return cls(rle=rle)

    @classmethod
    def empty(cls, size: ImageSize) -> Mask:
        return cls(array=np.zeros(size.shape, dtype=bool))

    @property
    def size(self) -> ImageSize:
        return self._size

    @property
    def array(self) -> np.ndarray:
        """The dense ``(height, width)`` bool array (decoded once, then cached)."""
        if self._array is None:
            assert self._rle is not None
            arr = coco_mask.decode(self._rle).astype(bool)
            arr.setflags(write=False)
            self._array = arr
        return self._array

    @property
    def rle(self) -> dict[str, Any]:
        """Compressed COCO RLE ``{"size": [h, w], "counts": bytes}`` (encoded once, then cached)."""
        if self._rle is None:
            assert self._array is not None
            self._rle = coco_mask.encode(np.asfortranarray(self._array.astype(np.uint8)))
        return self._rle

    def rle_json(self) -> dict[str, Any]:
        """The compressed RLE with ``counts`` as text, ready for JSON."""
        r = self.rle
        return {"size": list(r["size"]), "counts": r["counts"].decode("ascii")}

    def uncompressed_counts(self) -> list[int]:
        """Uncompressed RLE counts (column-major runs starting with background), as COCO crowd labels use."""
        flat = self.array.ravel(order="F")
        changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
        bounds = np.concatenate([[0], changes, [flat.size]])
        runs = np.diff(bounds).tolist()
        if flat.size and flat[0]:
            runs.insert(0, 0)
        return runs

    @property
    def area(self) -> int:
        return int(coco_mask.area(self.rle))

    def bounds(self):  # -> Box, imported lazily to keep module import order simple
        from seglab.core.geometry import Box

        x, y, w, h = (float(v) for v in coco_mask.toBbox(self.rle))
        return Box(x, y, x + w, y + h)

    def iou(self, other: Mask) -> float:
        if self.size != other.size:
            raise ValueError(f"mask sizes differ: {self.size} vs {other.size}")
        return float(coco_mask.iou([self.rle], [other.rle], [0])[0, 0])

    def union(self, others: Sequence[Mask]) -> Mask:
        return Mask.from_rle(coco_mask.merge([self.rle, *(o.rle for o in others)], intersect=False))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mask):
            return NotImplemented
        return self.size == other.size and self.rle["counts"] == other.rle["counts"]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Mask(size={tuple(self.size)}, area={self.area})"

    def coordinates(self) -> np.ndarray:
        b = self.bounds()
        return np.array([[b.x_min, b.y_min], [b.x_max, b.y_max]])
