"""Image files as lazy :class:`~seglab.core.dataset.Media`: the size from the header, pixels on demand.

A media class may also offer ``raw_bytes() -> (bytes, extension) | None``: the image's original encoded
file (a file on disk, an image embedded in an annotation file) and the extension of its format. Writers
copy those bytes instead of decoding and re-encoding the pixels, so a JPEG stays byte-identical.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from seglab.core.conventions import ImageSize
from seglab.core.dataset import ImageRecord
from seglab.formats.safe_io import image_size, read_image_rgb


@dataclass(frozen=True)
class FileMedia:
    """An image file on disk. Nothing is decoded until :meth:`read` is called."""

    path: Path

    def read(self) -> np.ndarray:
        return read_image_rgb(self.path)

    def size(self) -> ImageSize:
        return image_size(self.path)

    def raw_bytes(self) -> tuple[bytes, str] | None:
        """The file's bytes and its extension (lower case); None when the file is missing."""
        if not self.path.is_file():
            return None
        return self.path.read_bytes(), self.path.suffix.lower()


def raw_bytes(media: Any) -> tuple[bytes, str] | None:
    """``media.raw_bytes()`` for media that offer it (the method is optional), else None."""
    method = getattr(media, "raw_bytes", None)
    return method() if callable(method) else None


def same_image_format(extension: str, other: str) -> bool:
    """Whether two file extensions name one image format for Pillow (``.jpg`` and ``.jpeg``, ``.tif`` and
    ``.tiff``); False when either is not an image extension Pillow knows."""
    formats = Image.registered_extensions()
    found = formats.get(extension.lower())
    return found is not None and found == formats.get(other.lower())


def copy_media(image: ImageRecord, target: Path) -> bool:
    """Put an image's file at ``target``; False when the record has no media.

    A file is copied byte for byte. Other media with original bytes (:func:`raw_bytes`) are written as
    they are when their format is the one ``target``'s extension names, so nothing is re-encoded; only
    pixels without such bytes, or bytes of another format, are encoded anew by ``target``'s extension.
    """
    media = image.media
    if media is None:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(media, FileMedia) and media.path.is_file():
        shutil.copyfile(media.path, target)  # streamed: no need to hold a large file in memory
        return True
    encoded = None if isinstance(media, FileMedia) else raw_bytes(media)
    if encoded is not None and same_image_format(encoded[1], target.suffix):
        target.write_bytes(encoded[0])
        return True
    Image.fromarray(media.read()).save(target)
    return True
