"""Safe readers for untrusted files: JSON, XML, YAML, images and archives.

Every error names the file and the place. XML goes through defusedxml (no DTDs, no entities, no network),
YAML through ``safe_load`` only, images through Pillow with its decompression-bomb limit kept, archives
through :func:`extract_archive`, which refuses traversal, links, too many entries and bombs before writing.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import defusedxml.ElementTree as SafeET
import numpy as np
import yaml
from defusedxml import DefusedXmlException
from PIL import Image

from seglab.core.conventions import ImageSize
from seglab.core.errors import FormatError, UnsafeInputError

MAX_JSON_BYTES = 2 * 1024**3
MAX_ARCHIVE_ENTRIES = 200_000
MAX_ARCHIVE_BYTES = 20 * 1024**3
MAX_ARCHIVE_RATIO = 200
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
ALLOWED_IMAGE_FORMATS = {"JPEG", "PNG", "TIFF", "BMP", "WEBP", "MPO"}
# What XML 1.0 cannot carry in text or attribute values, and what may be an element or attribute name:
# writers check against these so a file they write is always one a parser reads back.
XML_INVALID_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
XML_NAME = re.compile(r"[A-Za-z_][\w.\-]*")


def load_json(path: Path) -> Any:
    """Parse a JSON file (UTF-8, BOM tolerated); errors give the file, line and column."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FormatError(f"cannot open: {exc.strerror}", file=str(path)) from None
    if size > MAX_JSON_BYTES:
        raise UnsafeInputError(
            f"JSON file of {size} bytes is over the {MAX_JSON_BYTES}-byte limit", file=str(path)
        )
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FormatError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"malformed JSON: {exc.msg}", file=str(path), where=f"line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise UnsafeInputError("JSON nested too deeply", file=str(path)) from None


def read_text(path: Path) -> str:
    """A UTF-8 text file (BOM tolerated, line ends as stored); errors give the file and the bad byte."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None
    except OSError as exc:
        raise FormatError(f"cannot open: {exc.strerror}", file=str(path)) from None


def dump_json(data: Any, path: Path, *, indent: int | None = None) -> None:
    """Write JSON (no NaN allowed: it is not JSON).

    ``json.dumps`` then one write, because ``json.dump`` to a file never uses the C encoder (about 8x
    slower on a large COCO file); nothing is written when encoding fails.
    """
    text = json.dumps(
        data,
        ensure_ascii=False,
        allow_nan=False,
        indent=indent,
        separators=None if indent else (",", ":"),
    )
    with path.open("w", encoding="utf-8") as fh:
        fh.write(text)


def parse_xml(path: Path):
    """Parse XML with entity expansion, DTDs and external references forbidden."""
    try:
        return SafeET.parse(str(path), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise UnsafeInputError(f"refused unsafe XML ({type(exc).__name__})", file=str(path)) from None
    except SafeET.ParseError as exc:
        line, col = getattr(exc, "position", (None, None))
        raise FormatError(
            f"malformed XML: {exc}", file=str(path), where=f"line {line} column {col}"
        ) from None
    except OSError as exc:
        raise FormatError(f"cannot open: {exc.strerror}", file=str(path)) from None


def load_yaml(path: Path) -> Any:
    """Parse YAML with ``safe_load``: tags such as ``!!python/object`` are refused."""
    try:
        with path.open("r", encoding="utf-8-sig") as fh:
            return yaml.safe_load(fh)
    except yaml.constructor.ConstructorError as exc:
        raise UnsafeInputError(f"refused YAML tag: {exc.problem}", file=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else None
        raise FormatError(
            f"malformed YAML: {getattr(exc, 'problem', exc)}", file=str(path), where=where
        ) from None
    except OSError as exc:
        raise FormatError(f"cannot open: {exc.strerror}", file=str(path)) from None


def finite_number(value: Any, *, what: str) -> float:
    """``value`` as a finite float, or ValueError explaining what is wrong with it."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{what} is {value!r}, not a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{what} is {value!r}, not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} is {value!r}, not a finite number")
    return number


def finite_array(values: Any, *, what: str, columns: int | None = None) -> np.ndarray:
    """A float64 array of ``values`` with every entry finite, or ValueError."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a list of numbers") from None
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} contains NaN or infinity")
    if columns is not None:
        if arr.size % columns:
            raise ValueError(f"{what} has {arr.size} numbers, not a multiple of {columns}")
        arr = arr.reshape(-1, columns)
    return arr


def _open_image(
    source: Path | bytes, *, origin: str | None = None, formats: Collection[str] = ALLOWED_IMAGE_FORMATS
) -> Image.Image:
    """Open a file or in-memory bytes without decoding: format allow-list and pixel-bomb limit checked."""
    file = origin if origin is not None else str(source)
    try:
        img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except Image.DecompressionBombError as exc:
        raise UnsafeInputError(f"refused image: {exc}", file=file) from None
    except (OSError, ValueError) as exc:
        raise FormatError(f"cannot read image: {exc}", file=file) from None
    if img.format not in formats:
        img.close()
        here = "" if formats is ALLOWED_IMAGE_FORMATS else " here"
        raise FormatError(f"image format {img.format} is not allowed{here}", file=file)
    w, h = img.size
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and w * h > limit:
        img.close()
        raise UnsafeInputError(f"image of {w}x{h} pixels is over Pillow's {limit}-pixel limit", file=file)
    return img


def open_image_bytes(
    data: bytes, *, origin: str, formats: Collection[str] = ALLOWED_IMAGE_FORMATS
) -> Image.Image:
    """In-memory image bytes (embedded base64, a mask patch) opened with the same guards as files.

    ``origin`` names the bytes in errors (``"a.json: imageData"``); ``formats`` narrows the allow-list.
    Use it as a context manager; nothing is decoded until :func:`decode_image`.
    """
    return _open_image(data, origin=origin, formats=formats)


def image_header(data: bytes, *, origin: str) -> tuple[str, ImageSize]:
    """Pillow's format name and the size of in-memory image bytes, from the header only."""
    with open_image_bytes(data, origin=origin) as img:
        return str(img.format), ImageSize(*img.size)


def decode_image(img: Image.Image, *, origin: str, mode: str | None = "RGB") -> np.ndarray:
    """The pixels of an image opened here, converted to ``mode`` (None: as stored); errors name ``origin``."""
    try:
        return np.asarray(img.convert(mode) if mode else img)
    except Image.DecompressionBombError as exc:
        raise UnsafeInputError(f"refused image: {exc}", file=origin) from None
    except (OSError, ValueError) as exc:
        raise FormatError(f"cannot decode image: {exc}", file=origin) from None


def image_size(path: Path) -> ImageSize:
    """Width and height from the header, without decoding the pixels."""
    with _open_image(path) as img:
        return ImageSize(*img.size)


def read_image_rgb(path: Path) -> np.ndarray:
    """Decode to ``(H, W, 3)`` uint8 RGB (palette, gray and alpha images converted)."""
    with _open_image(path) as img:
        return decode_image(img, origin=str(path))


def read_label_png(path: Path) -> np.ndarray:
    """A label PNG as stored: palette indices for 'P' images, values for 'L'/'I' images; RGB as (H, W, 3)."""
    with _open_image(path) as img:
        try:
            if img.mode in ("P", "L", "I", "I;16", "1"):
                arr = np.asarray(img)
                return arr.astype(np.uint8) if img.mode == "1" else arr
            return np.asarray(img.convert("RGB"))
        except OSError as exc:
            raise FormatError(f"cannot decode label image: {exc}", file=str(path)) from None


def write_png(
    path: Path,
    array: np.ndarray,
    palette: list[tuple[int, int, int]] | None = None,
    *,
    compress_level: int = 6,
) -> None:
    """Write a label PNG: with ``palette`` an indexed 'P' image, else 'L', 'I;16' or RGB by dtype/shape.

    ``compress_level`` is zlib's 0..9 (Pillow's default 6); label maps compress well even at 1, which
    is several times faster when thousands are written.
    """
    arr = np.asarray(array)
    if palette is not None:
        img = Image.fromarray(arr.astype(np.uint8), mode="P")
        flat = [v for rgb in palette for v in rgb]
        img.putpalette(flat + [0] * (768 - len(flat)))
    elif arr.ndim == 3:
        img = Image.fromarray(arr.astype(np.uint8), mode="RGB")
    elif arr.dtype == np.uint8 or (
        arr.size and arr.max() <= 255 and arr.min() >= 0 and arr.dtype != np.uint16
    ):
        img = Image.fromarray(arr.astype(np.uint8), mode="L")
    else:
        img = Image.fromarray(arr.astype(np.uint16))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG", compress_level=compress_level)


def find_images(folder: Path) -> dict[str, Path]:
    """Image files below ``folder`` keyed by their path relative to it (``/`` separated), sorted."""
    if not folder.is_dir():
        return {}
    found = {}
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file():
            found[p.relative_to(folder).as_posix()] = p
    return found


def safe_relative(name: str, *, file: str, where: str) -> str:
    """A relative ``/`` path that stays inside its root: no absolute paths, drive letters or ``..``."""
    normalized = name.replace("\\", "/")
    pure = PurePosixPath(normalized)
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":") or ".." in pure.parts:
        raise UnsafeInputError(f"path {name!r} leaves the dataset folder", file=file, where=where)
    return pure.as_posix()


def _check_zip_member(info: zipfile.ZipInfo, archive: Path) -> None:
    name = info.filename
    safe_relative(name, file=str(archive), where=f"entry {name!r}")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafeInputError("archive holds a symbolic link", file=str(archive), where=f"entry {name!r}")


@contextmanager
def extract_archive(archive: Path) -> Iterator[Path]:
    """Extract a zip into a temporary folder after checking every entry; removed on exit.

    Refused before anything is written: traversal (``../``, absolute, drive letters), links, more than
    ``MAX_ARCHIVE_ENTRIES`` entries, more than ``MAX_ARCHIVE_BYTES`` unpacked, or a compression ratio
    above ``MAX_ARCHIVE_RATIO`` (a zip bomb).
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FormatError(f"not a readable zip archive: {exc}", file=str(archive)) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ARCHIVE_ENTRIES:
            raise UnsafeInputError(
                f"archive has {len(infos)} entries, over {MAX_ARCHIVE_ENTRIES}", file=str(archive)
            )
        total = sum(i.file_size for i in infos)
        packed = max(sum(i.compress_size for i in infos), 1)
        if total > MAX_ARCHIVE_BYTES:
            raise UnsafeInputError(
                f"archive unpacks to {total} bytes, over {MAX_ARCHIVE_BYTES}", file=str(archive)
            )
        if total / packed > MAX_ARCHIVE_RATIO and total > 10 * 1024**2:
            raise UnsafeInputError(
                f"archive expands {total / packed:.0f}x (zip bomb?), over {MAX_ARCHIVE_RATIO}x",
                file=str(archive),
            )
        for info in infos:
            _check_zip_member(info, archive)
        tmp = Path(tempfile.mkdtemp(prefix="seglab-unzip-"))
        try:
            for info in infos:
                target = tmp / safe_relative(info.filename, file=str(archive), where=info.filename)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                written = 0
                with zf.open(info) as src, target.open("wb") as dst:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > info.file_size:
                            raise UnsafeInputError(
                                "entry is larger than its header says", file=str(archive), where=info.filename
                            )
                        dst.write(chunk)
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


_SYNCFS: list = []  # [libc.syncfs or None], looked up once


def _syncfs(fd: int) -> bool:
    """``syncfs(fd)`` through libc where the platform has it (Linux); False where it does not."""
    if not _SYNCFS:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            func = libc.syncfs
            func.argtypes = [ctypes.c_int]
            _SYNCFS.append(func)
        except (OSError, AttributeError):
            _SYNCFS.append(None)
    func = _SYNCFS[0]
    return func is not None and func(fd) == 0


def fsync_tree(folder: Path) -> None:
    """Flush every file below ``folder`` to disk before it is renamed into place.

    One ``syncfs`` of the folder's filesystem (Linux) rather than an fsync per file: thousands of label
    files cost one call instead of thousands of disk flushes. Elsewhere one ``os.sync()``; where neither
    exists (Windows), an fsync per file.
    """
    fd = os.open(folder, os.O_RDONLY)
    try:
        if _syncfs(fd):
            return
    finally:
        os.close(fd)
    if hasattr(os, "sync"):
        os.sync()
        return
    for root, _dirs, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
