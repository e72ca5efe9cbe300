"""CVAT mask RLE: run lengths over the mask's box in row-major order, starting with background; and
``<mask>`` attributes <-> a full-size :class:`Mask`. COCO's column-major RLE is never mixed in."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
from pycocotools import mask as coco_mask

from seglab.core.conventions import ImageSize
from seglab.core.mask import Mask
from seglab.formats.cvat.constants import MAX_MASK_PIXELS
from seglab.formats.cvat.text import int_text

_RLE_RE = re.compile(r"[\d,\s]+")


def cvat_rle_encode(array: np.ndarray) -> list[int]:
    """CVAT run lengths of a ``(height, width)`` mask: row-major, alternating, starting with background."""
    flat = np.asarray(array, dtype=bool).ravel(order="C")  # (H*W,)
    if flat.size == 0:
        return [0]
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], changes, [flat.size]]))
    if flat[0]:
        runs = np.concatenate([[0], runs])
    return [int(r) for r in runs]


def cvat_rle_decode(counts: Sequence[int] | np.ndarray, width: int, height: int) -> np.ndarray:
    """The ``(height, width)`` bool mask of CVAT run lengths; ValueError when they do not fill the box."""
    runs = np.asarray(counts, dtype=np.int64).ravel()
    area = int(width) * int(height)
    if (runs < 0).any():
        raise ValueError("run lengths must not be negative")
    if (runs > area).any() or int(runs.sum()) != area:
        total = int(runs.astype(object).sum()) if len(runs) else 0
        raise ValueError(f"run lengths sum to {total}, but the {width}x{height} mask box has {area} pixels")
    values = (np.arange(len(runs)) % 2).astype(bool)  # (R,) 0, 1, 0, ...
    return np.repeat(values, runs).reshape(int(height), int(width))


def mask_from_attrib(a: Mapping[str, str], size: ImageSize | None) -> Mask:
    """A ``<mask>`` element's attributes as a full-size Mask; ValueError naming what is wrong."""
    left, top, width, height = (int_text(a.get(k), f"mask {k}") for k in ("left", "top", "width", "height"))
    if width <= 0 or height <= 0 or left < 0 or top < 0:
        raise ValueError(f"mask box left={left} top={top} width={width} height={height} is empty or negative")
    if size is None:
        raise ValueError("the image size is unknown, so the mask cannot be placed")
    if left + width > size.width or top + height > size.height:
        raise ValueError(
            f"mask box left={left} top={top} width={width} height={height} leaves the "
            f"{size.width}x{size.height} image"
        )
    rle = a.get("rle") or ""
    if not _RLE_RE.fullmatch(rle) or not any(c.isdigit() for c in rle):
        raise ValueError("mask rle is not a list of whole numbers")
    if size.area > MAX_MASK_PIXELS:
        raise ValueError(f"the {size.width}x{size.height} image is too large to hold a mask safely")
    try:
        counts = np.array(re.findall(r"\d+", rle), dtype=np.int64)
    except (OverflowError, ValueError):
        raise ValueError("mask rle holds a run too long for any image") from None
    crop = cvat_rle_decode(counts, width, height)  # (height, width)
    canvas = np.zeros(size.shape, dtype=np.uint8)  # (H, W)
    canvas[top : top + height, left : left + width] = crop
    return Mask.from_rle(coco_mask.encode(np.asfortranarray(canvas)))


def mask_attrib(mask: Mask) -> dict[str, str] | None:
    """The ``<mask>`` attributes of a mask: its RLE over its tight pixel box; None when it is empty."""
    arr = mask.array  # (H, W)
    rows = np.flatnonzero(arr.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(arr.any(axis=0))
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    runs = cvat_rle_encode(arr[top:bottom, left:right])
    return {
        "rle": ", ".join(map(str, runs)),
        "left": str(left),
        "top": str(top),
        "width": str(right - left),
        "height": str(bottom - top),
    }
