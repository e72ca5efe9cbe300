"""Image files as lazy :class:`~seglab.core.dataset.Media`: the size from the header, pixels on demand."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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


def copy_media(image: ImageRecord, target: Path) -> bool:
    """Copy an image's file to ``target`` (bytes, no re-encoding); False when the record has no file."""
    media = image.media
    if isinstance(media, FileMedia) and media.path.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(media.path, target)
        return True
    if media is not None:
        from PIL import Image

        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(media.read()).save(target)
        return True
    return False
