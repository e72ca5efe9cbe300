"""LabelMe mask shapes: a base64 PNG patch placed with its top-left pixel at the rounded first point
(LabelMe's ``shapes_to_label``), read into a full-size :class:`Mask` and written back the same way."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from seglab.core.conventions import ImageSize
from seglab.core.errors import FormatError
from seglab.core.mask import Mask
from seglab.formats.labelme.embedded import b64decode
from seglab.formats.labelme.shapes import check_count, parse_points, same_points
from seglab.formats.safe_io import decode_image, open_image_bytes


def _mask_patch(text: object, size: ImageSize, *, origin: str) -> np.ndarray:
    """Decode a shape's base64 PNG into a bool ``(h, w)`` patch, refusing multichannel and oversized ones."""
    data = b64decode(text, what="mask")
    try:
        with open_image_bytes(data, origin=origin, formats={"PNG"}) as img:
            if img.mode not in ("1", "L", "P", "I", "I;16"):
                raise ValueError(f"mask must be a single-channel PNG, got mode {img.mode}")
            w, h = img.size
            if w > size.width or h > size.height:
                raise ValueError(f"mask PNG of {w}x{h} is larger than the {size.width}x{size.height} image")
            return decode_image(img, origin=origin, mode=None) != 0
    except FormatError as exc:
        raise ValueError(f"mask: {exc.reason}") from None


def _mask_png(patch: np.ndarray) -> str:
    """A bool patch as LabelMe writes it: an 8-bit PNG of 0/1, base64 text."""
    buf = io.BytesIO()
    Image.fromarray(patch.astype(np.uint8), mode="L").save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _mask_placement(points: np.ndarray, patch_shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(x1, y1, w, h)`` of the patch in image pixels, following LabelMe: integer corners give the extent
    (inclusive pixel indices), fractional ones (a dragged shape) keep the patch's own size."""
    x1, y1 = (int(v) for v in np.round(points[0]))
    h, w = patch_shape
    if np.array_equal(points, np.trunc(points)):
        x2, y2 = (int(v) for v in points[1])
        if x2 < x1 or y2 < y1:
            raise ValueError("mask corners are not top-left then bottom-right")
        w, h = min(w, x2 - x1 + 1), min(h, y2 - y1 + 1)
    return x1, y1, w, h


def _paste(patch: np.ndarray, x1: int, y1: int, size: ImageSize) -> tuple[np.ndarray, int]:
    """The patch placed into a full-size mask, clipped to the image; also the number of pixels cut off."""
    full = np.zeros(size.shape, dtype=bool)
    h, w = patch.shape
    xs, ys = max(x1, 0), max(y1, 0)
    xe, ye = min(x1 + w, size.width), min(y1 + h, size.height)
    if xs < xe and ys < ye:
        full[ys:ye, xs:xe] = patch[ys - y1 : ye - y1, xs - x1 : xe - x1]
    return full, int(patch.sum()) - int(full.sum())


def _tight_box(mask: Mask) -> tuple[int, int, int, int] | None:
    """Inclusive pixel box ``(x1, y1, x2, y2)`` of a mask, from its RLE; None when it is empty."""
    if mask.area == 0:
        return None
    b = mask.bounds()
    return int(b.x_min), int(b.y_min), int(b.x_max) - 1, int(b.y_max) - 1


def mask_from_labelme(
    raw_points: object, mask_text: object, size: ImageSize, *, origin: str
) -> tuple[Mask, dict[str, Any]]:
    """A LabelMe mask shape as a full-size Mask, plus the ``extra`` needed to write it back the same way."""
    points = parse_points(raw_points)
    check_count("mask", len(points))
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and size.area > limit:
        raise ValueError(f"a mask on a {size.width}x{size.height} image is over Pillow's {limit}-pixel limit")
    patch = _mask_patch(mask_text, size, origin=origin)
    x1, y1, w, h = _mask_placement(points, patch.shape)
    full, clipped = _paste(patch[:h, :w], x1, y1, size)
    mask = Mask.from_rle(Mask.from_array(full).rle)  # keep the compact RLE, not a full-size array per shape
    extra: dict[str, Any] = {}
    # The writer's default is the tight box; keep the source placement when it is anything else.
    tight = _tight_box(mask)
    is_tight = (
        tight is not None
        and (w, h) == (tight[2] - tight[0] + 1, tight[3] - tight[1] + 1)
        and same_points(np.array(tight, dtype=np.float64).reshape(2, 2), raw_points)
    )
    if not is_tight:
        extra = {"labelme_points": raw_points, "labelme_mask_size": [w, h]}
    if clipped:
        extra["labelme_mask_clipped_pixels"] = clipped
    return mask, extra


def mask_to_labelme(mask: Mask, extra: Mapping[str, Any]) -> tuple[list[list[float]], str]:
    """Points and base64 PNG of a mask: the source's placement while it holds every pixel, else tight."""
    arr = mask.array
    stored, stored_size = extra.get("labelme_points"), extra.get("labelme_mask_size")
    if stored is not None and stored_size is not None:
        try:
            x1, y1, w, h = _mask_placement(parse_points(stored), (int(stored_size[1]), int(stored_size[0])))
        except (ValueError, TypeError, IndexError):
            w = h = 0
        tight = _tight_box(mask)
        inside = tight is None or (
            tight[0] >= x1 and tight[1] >= y1 and tight[2] < x1 + w and tight[3] < y1 + h
        )
        if w > 0 and h > 0 and inside:
            patch = np.zeros((h, w), dtype=bool)
            xs, ys = max(x1, 0), max(y1, 0)
            xe, ye = min(x1 + w, mask.size.width), min(y1 + h, mask.size.height)
            if xs < xe and ys < ye:
                patch[ys - y1 : ye - y1, xs - x1 : xe - x1] = arr[ys:ye, xs:xe]
            return stored, _mask_png(patch)
    tight = _tight_box(mask)
    if tight is None:  # an empty mask: a single background pixel keeps it readable
        return [[0.0, 0.0], [0.0, 0.0]], _mask_png(np.zeros((1, 1), dtype=bool))
    tx1, ty1, tx2, ty2 = tight
    points = [[float(tx1), float(ty1)], [float(tx2), float(ty2)]]
    return points, _mask_png(arr[ty1 : ty2 + 1, tx1 : tx2 + 1])
