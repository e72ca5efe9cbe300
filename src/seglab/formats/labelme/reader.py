"""Reading LabelMe: every JSON of a folder parsed first, problems collected, then the dataset built."""

from __future__ import annotations

import math
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path, PurePosixPath
from typing import Any

from seglab.core.annotation import Annotation
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError
from seglab.core.ontology import AttributeSpec, AttributeType, LabelClass, Ontology, default_color
from seglab.formats.base import ReadOptions
from seglab.formats.labelme.constants import DETECT_SAMPLE, FLAGS_FILE, LABELS_FILE, SHAPE_KEYS, TOP_KEYS
from seglab.formats.labelme.embedded import EXTENSION_OF_FORMAT, EmbeddedMedia, b64decode
from seglab.formats.labelme.masks import mask_from_labelme
from seglab.formats.labelme.shapes import canonical_points, parse_points, same_points, shape_from_points
from seglab.formats.media import FileMedia
from seglab.formats.safe_io import IMAGE_EXTENSIONS, image_header, load_json, read_text, safe_relative


def _is_labelme(data: object) -> bool:
    return isinstance(data, dict) and ("shapes" in data or "imagePath" in data)


def _json_files(root: Path) -> Iterator[Path]:
    """JSON files below ``root`` in a stable order, hidden folders and macOS zip debris left out."""
    for p in sorted(root.rglob("*.json")):
        parts = p.relative_to(root).parts
        if p.is_file() and not any(s.startswith(".") or s == "__MACOSX" for s in parts):
            yield p


def _read_names(path: Path) -> list[str]:
    """A LabelMe ``--labels`` / ``--flags`` list: one name per line, blank lines skipped."""
    if not path.is_file():
        return []
    # Line ends only: splitlines() would also split names at \x1c-\x1e, \x85 and \u2028.
    lines = read_text(path).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return list(dict.fromkeys(line for line in lines if line.strip()))


def _int_size(value: object) -> int | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value != int(value)
        or value <= 0
    ):
        raise ValueError(f"must be a positive whole number, got {value!r}")
    return int(value)


@dataclass
class _ClassInfo:
    flags: dict[str, None] = field(default_factory=dict)
    described: bool = False


class _Reader:
    """Reads every file first, collecting problems, then builds the dataset (an atomic import)."""

    def __init__(self, root: Path, options: ReadOptions) -> None:
        self.root = root
        self.options = options
        self.images: list[ImageRecord] = []
        self.classes: dict[str, _ClassInfo] = {}
        self.tags: dict[str, None] = {}
        self.owner: dict[str, str] = {}
        self.next_id = 1

    def read_file(self, path: Path) -> None:
        file = str(path)
        try:
            data = load_json(path)
        except FormatError as exc:
            self.options.reject(file, exc.where or "file", exc.reason)
            return
        if not _is_labelme(data):
            return  # some other JSON (a COCO export, a config): not ours
        try:
            record = self._image(path, data)
        except ValueError as exc:
            self.options.reject(file, "image", str(exc))
            return
        except FormatError as exc:
            self.options.reject(file, exc.where or "image", exc.reason)
            return
        self.images.append(record)

    def _image(self, path: Path, data: dict[str, Any]) -> ImageRecord:
        file = str(path)
        shapes = data.get("shapes")
        if not isinstance(shapes, list):
            raise ValueError("'shapes' must be a list")
        flags = data.get("flags") or {}
        if not isinstance(flags, dict) or not all(isinstance(v, bool) for v in flags.values()):
            raise ValueError("'flags' must map names to true/false")
        try:
            width, height = _int_size(data.get("imageWidth")), _int_size(data.get("imageHeight"))
        except ValueError as exc:
            raise ValueError(f"imageWidth/imageHeight {exc}") from None
        file_name, media, embedded, header = self._locate(path, data)
        if file_name in self.owner:
            raise ValueError(f"image {file_name!r} is already annotated by {self.owner[file_name]}")
        size = ImageSize(width, height) if width and height else None
        if header is not None:
            if size is not None and header != size:
                raise ValueError(
                    f"imageWidth/imageHeight {tuple(size)} differ from imageData's {tuple(header)}"
                )
            size = header
        elif size is None and isinstance(media, FileMedia) and media.path.is_file():
            size = media.size()
        annotations = []
        for i, raw in enumerate(shapes):
            try:
                annotations.append(self._annotation(raw, size, origin=file))
            except ValueError as exc:
                self.options.reject(file, f"shapes[{i}]", str(exc))
            except FormatError as exc:
                self.options.reject(file, f"shapes[{i}]", exc.reason)
        self.owner[file_name] = path.relative_to(self.root).as_posix()
        for name in flags:
            self.tags.setdefault(name, None)
        extra: dict[str, Any] = {"labelme_version": data.get("version"), "labelme_flags": dict(flags)}
        if embedded:
            extra["labelme_image_data"] = True
        other = {k: v for k, v in data.items() if k not in TOP_KEYS}
        if other:
            extra["labelme_other"] = other
        return ImageRecord(
            id=len(self.images) + 1,
            file_name=file_name,
            size=size,
            annotations=tuple(annotations),
            media=media,
            tags=tuple(k for k, v in flags.items() if v),
            extra=extra,
        )

    def _locate(
        self, path: Path, data: dict[str, Any]
    ) -> tuple[str, FileMedia | EmbeddedMedia, bool, ImageSize | None]:
        """The image's path relative to the dataset root, its media, whether the JSON embeds it, and the
        embedded image's header size (None when the pixels come from a file)."""
        folder = path.parent.relative_to(self.root).as_posix()
        folder = "" if folder == "." else folder
        image_path = data.get("imagePath")
        if image_path is not None and not isinstance(image_path, str):
            raise ValueError("'imagePath' must be text")
        name = None
        if image_path:
            text = image_path.replace("\\", "/")
            if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
                text = PurePosixPath(text).name  # an absolute path from another machine: look beside the JSON
            joined = posixpath.normpath(posixpath.join(folder, text))
            name = safe_relative(joined, file=str(path), where="imagePath")
        is_image = name is not None and PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS
        image_data = data.get("imageData")
        if name is not None and is_image and (self.root / name).is_file():
            return name, FileMedia(self.root / name), image_data is not None, None
        if image_data is not None:
            try:
                fmt, header = image_header(b64decode(image_data, what="imageData"), origin=str(path))
            except FormatError as exc:
                raise ValueError(f"imageData: {exc.reason}") from None
            if name is None or not is_image:  # LabelMe's tutorial points imagePath at the JSON itself
                name = posixpath.join(folder, path.stem + EXTENSION_OF_FORMAT.get(fmt, ".png"))
            return name, EmbeddedMedia(path), True, header
        for ext in IMAGE_EXTENSIONS:  # imagePath missing or stale: an image of the same stem beside the JSON
            beside = path.with_suffix(ext)
            if beside.is_file():
                return posixpath.join(folder, beside.name), FileMedia(beside), False, None
        if name is None:
            raise ValueError("no imagePath, no imageData and no image beside the JSON")
        return name, FileMedia(self.root / name), False, None

    def _annotation(self, raw: object, size: ImageSize | None, *, origin: str) -> Annotation:
        if not isinstance(raw, dict):
            raise ValueError("a shape must be an object")
        label = raw.get("label")
        if not isinstance(label, str):
            raise ValueError("label must be text")
        shape_type = raw.get("shape_type") or "polygon"  # LabelMe 3 had polygons only and no shape_type
        if not isinstance(shape_type, str):
            raise ValueError("shape_type must be text")
        flags = raw.get("flags") or {}
        if not isinstance(flags, dict) or not all(isinstance(v, bool) for v in flags.values()):
            raise ValueError("flags must map names to true/false")
        group_id = raw.get("group_id")
        if group_id is not None and (isinstance(group_id, bool) or not isinstance(group_id, int)):
            raise ValueError(f"group_id must be a whole number, got {group_id!r}")
        description = raw.get("description")
        if description is not None and not isinstance(description, str):
            raise ValueError("description must be text")
        extra: dict[str, Any] = {}
        if shape_type == "mask":
            if size is None:
                raise ValueError("a mask needs the image size (no imageWidth/imageHeight and no image)")
            shape, extra = mask_from_labelme(raw.get("points"), raw.get("mask"), size, origin=origin)
        else:
            if raw.get("mask") is not None:
                raise ValueError(f"a {shape_type} shape must not carry a mask")
            shape = shape_from_points(shape_type, parse_points(raw.get("points")))
            canonical = canonical_points(shape)
            if canonical is None or canonical[0] != shape_type:
                extra["labelme_shape"] = shape_type
            if canonical is None or not same_points(canonical[1], raw["points"]):
                extra["labelme_points"] = raw["points"]
        attributes: dict[str, bool | str] = dict(flags)
        info = self.classes.setdefault(label, _ClassInfo())
        for name in flags:
            info.flags.setdefault(name, None)
        if description and "description" not in attributes:
            attributes["description"] = description
            info.described = True
        elif (description is None and "description" in raw) or (description and "description" in flags):
            extra["labelme_description"] = description  # null, or text that a flag of the same name displaced
        other = {k: v for k, v in raw.items() if k not in SHAPE_KEYS}
        if other:
            extra["labelme_other"] = other
        ann = Annotation(self.next_id, label, shape, attributes, group_id=group_id, extra=extra)
        self.next_id += 1
        return ann

    def ontology(self, names: list[str], tags: list[str]) -> Ontology:
        for name in names:
            self.classes.setdefault(name, _ClassInfo())
        order = list(dict.fromkeys([*names, *self.classes]))
        classes = []
        for i, name in enumerate(order):
            info = self.classes[name]
            specs = [AttributeSpec(f, AttributeType.BOOL) for f in info.flags]
            if info.described and "description" not in info.flags:
                specs.append(AttributeSpec("description", AttributeType.TEXT))
            classes.append(LabelClass(name, default_color(i + 1), attributes=tuple(specs)))
        return Ontology(tuple(classes), tags=tuple(dict.fromkeys([*tags, *self.tags])))


def read(path: Path, options: ReadOptions) -> Dataset:
    """Read a folder of LabelMe JSON files (searched recursively), or a single JSON file."""
    path = Path(path)
    if path.is_file():
        root, files = path.parent, [path]
        names, tags = [], []
    elif path.is_dir():
        root, files = path, list(_json_files(path))
        names, tags = _read_names(path / LABELS_FILE), _read_names(path / FLAGS_FILE)
    else:
        raise FormatError("no such file or folder", file=str(path))
    reader = _Reader(root, options)
    for f in files:
        reader.read_file(f)
    return Dataset(reader.ontology(names, tags), tuple(reader.images))


def detect(path: Path) -> float:
    """0.9 for a LabelMe JSON, or a folder whose first JSON files have ``shapes`` and ``imagePath``."""
    path = Path(path)
    if path.is_file():
        candidates = [path] if path.suffix.lower() == ".json" else []
    elif path.is_dir():
        candidates = list(islice(_json_files(path), DETECT_SAMPLE))
    else:
        return 0.0
    hits = 0
    for p in candidates:
        try:
            data = load_json(p)
        except FormatError:
            continue
        if isinstance(data, dict) and isinstance(data.get("shapes"), list) and "imagePath" in data:
            hits += 1
    if not hits:
        return 0.0
    return 0.9 if hits * 2 >= len(candidates) else 0.5
