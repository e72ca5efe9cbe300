"""Uploaded images: allowlist by decoding, pixel limit, full decode check, EXIF orientation and thumbnails.

Only Pillow's JPEG, PNG, TIFF, BMP and WebP plugins are ever tried (``Image.open(formats=...)``), so an
SVG, an EPS (which would start Ghostscript) or a PSD is refused before any decoder for it runs. The size
from the header is checked against the pixel limit before decoding, then the whole image is decoded once
so a truncated or corrupt file is refused at upload rather than found later.

EXIF orientation is applied here, once: an image with an orientation tag is re-encoded upright (JPEG as
JPEG, anything else as PNG) so the stored pixels, the stored width/height, the thumbnails, the editor and
every export agree. Images without the tag are stored byte for byte as uploaded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from seglab.core.errors import UnsafeInputError
from seglab.formats.safe_io import safe_relative
from seglab.service.errors import Invalid, TooLarge, Unsupported
from seglab.storage.blobs import sha256_hex

PIL_FORMATS = ("JPEG", "PNG", "TIFF", "BMP", "WEBP")
MEDIA = {
    "JPEG": ("image/jpeg", "jpg"),
    "MPO": ("image/jpeg", "jpg"),  # camera JPEGs with an extra preview frame; the first frame is the image
    "PNG": ("image/png", "png"),
    "TIFF": ("image/tiff", "tif"),
    "BMP": ("image/bmp", "bmp"),
    "WEBP": ("image/webp", "webp"),
}
ORIENTATION_TAG = 0x0112
THUMBNAIL_SIZES = (128, 256, 512)
MAX_FILE_NAME = 1024


@dataclass(frozen=True)
class PreparedImage:
    """An accepted upload, ready to store."""

    data: bytes
    file_name: str
    width: int
    height: int
    media_type: str
    extension: str
    checksum: str


def clean_file_name(name: str) -> str:
    """A relative ``/`` path without traversal, kept verbatim otherwise (names are never rendered as HTML)."""
    name = (name or "").strip()
    if not name or len(name) > MAX_FILE_NAME or any(ord(c) < 32 for c in name):
        raise Invalid(f"bad file name {name[:80]!r}: it needs 1 to {MAX_FILE_NAME} printable characters")
    try:
        cleaned = safe_relative(name, file=name, where="file name")
    except UnsafeInputError as exc:
        raise Invalid(str(exc)) from None
    if cleaned in ("", "."):
        raise Invalid(f"bad file name {name!r}")
    return cleaned


def _open(data: bytes, what: str) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=PIL_FORMATS)
    except Image.DecompressionBombError as exc:
        raise TooLarge(f"{what}: {exc}") from None
    except UnidentifiedImageError:
        raise Unsupported(f"{what}: not a JPEG, PNG, TIFF, BMP or WebP image") from None
    except Exception as exc:  # any decoder error on untrusted bytes is the file's fault, not ours
        raise Invalid(f"{what}: cannot read the image header ({type(exc).__name__})") from None


def prepare_upload(data: bytes, file_name: str, *, max_pixels: int) -> PreparedImage:
    """Check an uploaded file and return what to store (see the module notes)."""
    name = clean_file_name(file_name)
    with _open(data, name) as img:
        fmt = img.format or ""
        if fmt not in MEDIA:
            raise Unsupported(f"{name}: image format {fmt or 'unknown'} is not allowed")
        width, height = img.size
        if width <= 0 or height <= 0:
            raise Invalid(f"{name}: the image has no pixels")
        if width * height > max_pixels:
            raise TooLarge(f"{name}: {width}x{height} pixels is over the limit of {max_pixels}")
        if getattr(img, "n_frames", 1) > 1 and fmt != "MPO":
            raise Unsupported(f"{name}: multi-page and animated images are not supported")
        try:
            img.load()
        except Image.DecompressionBombError as exc:
            raise TooLarge(f"{name}: {exc}") from None
        except Exception as exc:  # truncated data, bad CRC, broken chunks: Pillow raises many kinds
            raise Invalid(f"{name}: the image is truncated or corrupt ({exc})") from None
        media_type, extension = MEDIA[fmt]
        orientation = img.getexif().get(ORIENTATION_TAG, 1)
        if orientation in (2, 3, 4, 5, 6, 7, 8):
            data, extension, media_type = _upright(img, fmt)
            name = str(PurePosixPath(name).with_suffix("." + extension))
            width, height = _size(data)
    return PreparedImage(data, name, width, height, media_type, extension, sha256_hex(data))


def _upright(img: Image.Image, fmt: str) -> tuple[bytes, str, str]:
    """The image turned by its EXIF orientation and re-encoded, the tag removed."""
    upright = ImageOps.exif_transpose(img)
    exif = upright.info.get("exif", b"")
    icc = img.info.get("icc_profile")
    out = io.BytesIO()
    if fmt in ("JPEG", "MPO"):
        if upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
        upright.save(out, format="JPEG", quality=95, exif=exif, icc_profile=icc)
        return out.getvalue(), "jpg", "image/jpeg"
    if upright.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I"):
        upright = upright.convert("RGBA" if "A" in upright.getbands() else "RGB")
    upright.save(out, format="PNG", exif=exif, icc_profile=icc)
    return out.getvalue(), "png", "image/png"


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size


def _to_rgb(img: Image.Image) -> Image.Image:
    """An 8-bit RGB view of any stored image (16-bit and float images stretched to their range)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)  # (H, W)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) * (255.0 / (hi - lo))
        return Image.fromarray(scaled.astype(np.uint8), mode="L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def make_thumbnail(data: bytes, size: int) -> bytes:
    """A JPEG no larger than ``size`` x ``size`` of a stored (already upright) image."""
    with _open(data, "stored image") as img:
        if img.format in ("JPEG", "MPO"):
            img.draft("RGB", (size, size))  # let libjpeg decode at a reduced scale
        rgb = _to_rgb(img)
    rgb.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=85)
    return out.getvalue()
