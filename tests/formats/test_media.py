"""copy_media: files copied byte for byte, original encoded bytes kept, pixels encoded only when needed."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seglab.core.conventions import ImageSize
from seglab.core.dataset import ArrayMedia, ImageRecord
from seglab.core.errors import FormatError
from seglab.formats.media import FileMedia, copy_media, raw_bytes, same_image_format


def _pixels() -> np.ndarray:
    yy, xx = np.mgrid[0:24, 0:32]  # (H, W): a gradient, so a JPEG re-encoding changes its bytes
    return np.stack([xx * 7, yy * 9, (xx + yy) * 3], axis=2).astype(np.uint8)


def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_pixels()).save(buf, format=fmt, quality=93)
    return buf.getvalue()


@dataclass(frozen=True)
class _EncodedMedia:
    """Media holding an encoded file in memory, like an image embedded in an annotation file."""

    data: bytes
    extension: str

    def read(self) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(self.data)).convert("RGB"))

    def size(self) -> ImageSize:
        return ImageSize(*Image.open(io.BytesIO(self.data)).size)

    def raw_bytes(self) -> tuple[bytes, str]:
        return self.data, self.extension


def _record(media) -> ImageRecord:
    return ImageRecord(1, "a.jpg", None, media=media)


def test_encoded_bytes_are_written_unchanged_when_the_format_fits_the_name(tmp_path: Path) -> None:
    jpeg = _encoded("JPEG")
    for name in ("a.jpg", "b.JPEG"):
        assert copy_media(_record(_EncodedMedia(jpeg, ".jpg")), tmp_path / "out" / name)
        assert (tmp_path / "out" / name).read_bytes() == jpeg


def test_bytes_of_another_format_are_encoded_by_the_target_name(tmp_path: Path) -> None:
    png = _encoded("PNG")
    assert copy_media(_record(_EncodedMedia(png, ".png")), tmp_path / "a.bmp")
    with Image.open(tmp_path / "a.bmp") as img:
        assert img.format == "BMP"
        assert np.array_equal(np.asarray(img.convert("RGB")), _pixels())


def test_pixels_without_bytes_are_encoded(tmp_path: Path) -> None:
    assert copy_media(_record(ArrayMedia(_pixels())), tmp_path / "sub" / "a.png")
    with Image.open(tmp_path / "sub" / "a.png") as img:
        assert img.format == "PNG" and np.array_equal(np.asarray(img), _pixels())
    assert not copy_media(_record(None), tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_files_are_copied_byte_for_byte_and_offer_their_bytes(tmp_path: Path) -> None:
    source = tmp_path / "src.JPG"
    source.write_bytes(_encoded("JPEG"))
    media = FileMedia(source)
    assert raw_bytes(media) == (source.read_bytes(), ".jpg")
    assert copy_media(_record(media), tmp_path / "out" / "a.jpg")
    assert (tmp_path / "out" / "a.jpg").read_bytes() == source.read_bytes()
    missing = FileMedia(tmp_path / "gone.png")
    assert raw_bytes(missing) is None
    with pytest.raises(FormatError):
        copy_media(_record(missing), tmp_path / "out" / "b.png")


def test_raw_bytes_is_optional_and_formats_compare_by_pillow() -> None:
    assert raw_bytes(ArrayMedia(_pixels())) is None
    assert raw_bytes(None) is None
    assert same_image_format(".jpg", ".JPEG") and same_image_format(".tif", ".tiff")
    assert not same_image_format(".png", ".jpg")
    assert not same_image_format(".txt", ".txt")
