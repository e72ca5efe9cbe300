"""Images carried inside a LabelMe JSON as base64 ``imageData``, read back from the JSON only on demand."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seglab.core.conventions import ImageSize
from seglab.core.errors import FormatError
from seglab.formats.safe_io import decode_image, image_header, load_json, open_image_bytes

# The file extension an embedded image gets when its JSON names no image file (Pillow format -> extension).
EXTENSION_OF_FORMAT = {
    "JPEG": ".jpg",
    "MPO": ".jpg",
    "PNG": ".png",
    "BMP": ".bmp",
    "TIFF": ".tif",
    "WEBP": ".webp",
}


def b64decode(text: object, *, what: str) -> bytes:
    """Strict base64 (MIME-style line breaks allowed); ValueError naming ``what`` otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"{what} must be base64 text, got {type(text).__name__}")
    try:
        return base64.b64decode("".join(text.split()), validate=True)  # MIME-style line breaks allowed
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None


@dataclass(frozen=True)
class EmbeddedMedia:
    """An image carried inside a LabelMe JSON (``imageData``), decoded only when someone asks.

    Only the JSON's path is held: the bytes are read back from it on demand, so a large dataset of
    embedded images costs no pixel memory (the contract of :class:`~seglab.core.dataset.Media`).
    """

    json_path: Path

    @property
    def data(self) -> bytes:
        """The embedded image file's bytes."""
        doc = load_json(self.json_path)
        try:
            return b64decode(doc.get("imageData") if isinstance(doc, dict) else None, what="imageData")
        except ValueError as exc:
            raise FormatError(str(exc), file=str(self.json_path), where="imageData") from None

    @property
    def origin(self) -> str:
        """How errors name the embedded image."""
        return f"{self.json_path}: imageData"

    def read(self) -> np.ndarray:
        with open_image_bytes(self.data, origin=self.origin) as img:
            return decode_image(img, origin=self.origin, mode="RGB")

    def size(self) -> ImageSize:
        return image_header(self.data, origin=self.origin)[1]

    def raw_bytes(self) -> tuple[bytes, str]:
        """The embedded file as it is and the extension of its format, so it can be copied unchanged."""
        data = self.data
        fmt, _ = image_header(data, origin=self.origin)
        return data, EXTENSION_OF_FORMAT.get(fmt, ".png")
