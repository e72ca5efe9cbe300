"""Reading a CVAT XML document: meta first, then every ``<image>`` and ``<track>``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from seglab.core.annotation import Annotation
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError
from seglab.core.ontology import LabelClass, Ontology, ShapeType, default_color
from seglab.formats.base import ReadOptions
from seglab.formats.cvat.attributes import attribute_values
from seglab.formats.cvat.constants import (
    ANNOTATIONS_FILE,
    COMMON_ATTRIBS,
    GEOMETRY_ATTRIBS,
    IMAGE_ATTRIBS,
    IMAGES_DIR,
    SHAPE_TAGS,
)
from seglab.formats.cvat.meta import Labels, meta_json, parse_labels
from seglab.formats.cvat.shapes import read_geometry
from seglab.formats.cvat.text import int_text, source_of
from seglab.formats.cvat.xml_nodes import element_json
from seglab.formats.media import FileMedia
from seglab.formats.safe_io import find_images, parse_xml, safe_relative


def _find_xml(path: Path) -> Path | None:
    if path.is_file():
        return path if path.suffix.lower() == ".xml" else None
    if not path.is_dir():
        return None
    if (path / ANNOTATIONS_FILE).is_file():
        return path / ANNOTATIONS_FILE
    found = sorted(p for p in path.glob("*.xml") if p.is_file())
    return found[0] if len(found) == 1 else None


def detect(path: Path) -> float:
    """0.95 for an XML file whose root is ``<annotations>`` starting with ``<version>``; 0.6 without it."""
    xml = _find_xml(Path(path))
    if xml is None:
        return 0.0
    tags: list[str] = []
    try:
        with xml.open("rb") as fh:
            for _event, el in SafeET.iterparse(fh, events=("start",), forbid_dtd=True):
                tags.append(el.tag)
                if len(tags) == 2:
                    break
    except DefusedXmlException:
        # Hostile XML: claim it when it looks like CVAT, so reading reports the refusal instead of "unknown".
        with xml.open("rb") as fh:
            return 0.5 if re.search(rb"<annotations[\s>]", fh.read(65536)) else 0.0
    except (SafeET.ParseError, OSError):
        if len(tags) < 1:
            return 0.0
    if not tags or tags[0] != "annotations":
        return 0.0
    return 0.95 if tags[1:] == ["version"] else 0.6


@dataclass
class _Frame:
    """An image being read: its record fields and its annotations (ids are given at the end)."""

    id: int
    name: str
    size: ImageSize | None
    media: FileMedia | None
    subset: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    annotations: list[Annotation] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    tag_info: list[dict[str, Any]] = field(default_factory=list)


class _Reader:
    """Parses one CVAT XML document: meta first, then every ``<image>`` and ``<track>``."""

    def __init__(self, xml_path: Path, options: ReadOptions) -> None:
        self.xml_path = xml_path
        self.root_dir = xml_path.parent
        self.file = str(xml_path)
        self.options = options
        self.labels = Labels()
        self.frame_files = {
            rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]: rel for rel in find_images(self.root_dir / IMAGES_DIR)
        }
        self.original_size: ImageSize | None = None

    def reject(self, where: str, reason: str) -> None:
        self.options.reject(self.file, where, reason)

    # -- labels ------------------------------------------------------------------------------------------
    def label_class(self, name: str | None) -> LabelClass:
        if not name:
            raise ValueError("the shape has no label")
        found = self.labels.classes.get(name)
        if found is not None:
            return found
        if self.labels.declared:
            raise ValueError(f"label {name!r} is not declared in the meta")
        cls = LabelClass(name, default_color(len(self.labels.classes) + 1))
        self.labels.classes[name] = cls
        self.labels.specs[name] = {}
        return cls

    # -- media -------------------------------------------------------------------------------------------
    def media_for(self, name: str, subset: str | None) -> FileMedia | None:
        candidates = [self.root_dir / IMAGES_DIR / name, self.root_dir / name]
        if subset:
            candidates.insert(0, self.root_dir / IMAGES_DIR / subset / name)
        for candidate in candidates:
            if candidate.is_file():
                return FileMedia(candidate)
        return None

    # -- shapes ------------------------------------------------------------------------------------------
    def annotation(
        self,
        el: Any,
        label: str | None,
        size: ImageSize | None,
        *,
        source: str | None,
        group: str | None,
        track_id: int | None = None,
    ) -> Annotation:
        """One shape element (of an image or of a track) as an annotation with id 0."""
        cls = self.label_class(label)
        extra: dict[str, Any] = {}
        shape = read_geometry(el, cls, size, extra, self.labels.point_specs)
        attributes = attribute_values(el, self.labels.specs.get(cls.name, {}))
        if el.get("occluded") == "1":
            attributes.setdefault("occluded", True)
        seg_source, kept = source_of(source)
        if kept is not None:
            extra["cvat_source"] = kept
        if el.get("keyframe") is not None:
            extra["cvat_keyframe"] = el.get("keyframe") == "1"
        unknown = {
            k: v for k, v in el.attrib.items() if k not in COMMON_ATTRIBS and k not in GEOMETRY_ATTRIBS
        }
        if unknown:
            extra["cvat_attrib"] = unknown
        z_order = int_text(el.get("z_order", "0"), "z_order")
        group_id = int_text(group, "group_id") if group else None
        if track_id is None and el.get("track_id") is not None:
            track_id = int_text(el.get("track_id"), "track_id")
        return Annotation(
            id=0,
            label=cls.name,
            shape=shape,
            attributes=attributes,
            source=seg_source,
            track_id=track_id,
            group_id=group_id or None,
            z_order=z_order,
            extra=extra,
        )

    # -- document ----------------------------------------------------------------------------------------
    def read(self) -> Dataset:
        root = parse_xml(self.xml_path).getroot()
        if root.tag != "annotations":
            raise FormatError(f"the root element is <{root.tag}>, not CVAT's <annotations>", file=self.file)
        meta = root.find("meta")
        self.labels = parse_labels(meta, self.file, self.options)
        if meta is not None:
            self.original_size = self.meta_size(meta)
        frames: dict[int, _Frame] = {}
        names: set[str] = set()
        root_extra: list[dict[str, Any]] = []
        image_count = 0
        for child in root:
            if child.tag == "image":
                image_count += 1
                frame = self.image(child, image_count, frames, names)
                if frame is not None:
                    frames[frame.id] = frame
                    names.add(frame.name)
            elif child.tag not in ("version", "meta", "track"):
                root_extra.append(element_json(child))
        for track_el in root.findall("track"):
            self.track(track_el, frames)
        return self.dataset(frames, meta, root_extra)

    def meta_size(self, meta: Any) -> ImageSize | None:
        found = meta.find(".//original_size")
        if found is None:
            return None
        try:
            w = int(found.findtext("width") or "")
            h = int(found.findtext("height") or "")
        except ValueError:
            self.reject("meta: original_size", "width and height must be whole numbers")
            return None
        return ImageSize(w, h) if w > 0 and h > 0 else None

    def image(self, el: Any, k: int, frames: Mapping[int, _Frame], names: set[str]) -> _Frame | None:
        name = el.get("name")
        if not name:
            self.reject(f"image #{k}", "the image has no name")
            return None
        name = safe_relative(name, file=self.file, where=f"image {name!r}")
        where = f"image {name}"
        if name in names:
            self.reject(where, "an image of this name appears twice")
            return None
        try:
            image_id = int_text(el.get("id", str(k - 1)), "id")
            size = None
            if el.get("width") is not None or el.get("height") is not None:
                w, h = (int_text(el.get(key), key) for key in ("width", "height"))
                if w <= 0 or h <= 0:
                    raise ValueError(f"image size {w}x{h} is not positive")
                size = ImageSize(w, h)
        except ValueError as exc:
            self.reject(where, str(exc))
            return None
        if image_id in frames:
            self.reject(where, f"image id {image_id} appears twice")
            return None
        subset = el.get("subset")
        media = self.media_for(name, subset)
        if size is None and media is not None:
            size = media.size()
        frame = _Frame(image_id, name, size, media, subset)
        unknown = {key: v for key, v in el.attrib.items() if key not in IMAGE_ATTRIBS}
        if unknown:
            frame.extra["cvat_attrib"] = unknown
        counters: dict[str, int] = {}
        for child in el:
            counters[child.tag] = counters.get(child.tag, 0) + 1
            at = f"{where}: {child.tag} #{counters[child.tag]}"
            try:
                if child.tag == "tag":
                    self.tag(child, frame)
                elif child.tag in SHAPE_TAGS:
                    frame.annotations.append(
                        self.annotation(
                            child,
                            child.get("label"),
                            size,
                            source=child.get("source"),
                            group=child.get("group_id"),
                        )
                    )
                else:
                    raise ValueError(f"<{child.tag}> is not a shape seglab reads (cuboids are 3D)")
            except ValueError as exc:
                self.reject(at, str(exc))
        return frame

    def tag(self, el: Any, frame: _Frame) -> None:
        label = el.get("label")
        if not label:
            raise ValueError("the tag has no label")
        if label not in self.labels.tag_labels and label not in self.labels.classes:
            if self.labels.declared:
                raise ValueError(f"label {label!r} is not declared in the meta")
            self.labels.tag_labels[label] = {}
            self.labels.specs[label] = {}
        if label not in self.labels.tags:
            self.labels.tags.append(label)
        info: dict[str, Any] = {}
        values = attribute_values(el, self.labels.specs.get(label, {}))
        if values:
            info["attributes"] = values
        if el.get("source") is not None and el.get("source") != "manual":
            info["source"] = el.get("source")
        if el.get("group_id") not in (None, "0"):
            info["group_id"] = int_text(el.get("group_id"), "group_id")
        frame.tags.append(label)
        frame.tag_info.append(info)

    def track(self, el: Any, frames: dict[int, _Frame]) -> None:
        where = f"track {el.get('id')}"
        try:
            track_id = int_text(el.get("id"), "track id")
        except ValueError as exc:
            self.reject(where, str(exc))
            return
        for child in el:
            if child.tag not in SHAPE_TAGS:
                self.reject(f"{where}: {child.tag}", f"<{child.tag}> is not a shape seglab reads")
                continue
            at = f"{where}: {child.tag} frame {child.get('frame')}"
            try:
                frame_no = int_text(child.get("frame"), "frame")
                if child.get("outside") == "1":
                    continue
                frame = frames.get(frame_no)
                if frame is None:
                    frame = self.frame(frame_no, el.get("subset"))
                    frames[frame_no] = frame
                frame.annotations.append(
                    self.annotation(
                        child,
                        el.get("label"),
                        frame.size,
                        source=el.get("source"),
                        group=el.get("group_id"),
                        track_id=track_id,
                    )
                )
            except ValueError as exc:
                self.reject(at, str(exc))

    def frame(self, frame_no: int, subset: str | None) -> _Frame:
        stem = f"frame_{frame_no:06d}"
        name = self.frame_files.get(stem, f"{stem}.png")
        media = self.media_for(name, subset)
        size = self.original_size or (media.size() if media is not None else None)
        return _Frame(frame_no, name, size, media, subset)

    def dataset(self, frames: Mapping[int, _Frame], meta: Any, root_extra: list[dict[str, Any]]) -> Dataset:
        used: dict[str, set[ShapeType]] = {}
        for frame in frames.values():
            for ann in frame.annotations:
                used.setdefault(ann.label, set()).add(ann.kind)
        classes = self.labels.widened(used)
        ontology = Ontology(tuple(classes.values()), tags=tuple(self.labels.tags))
        images = []
        next_id = 1
        for frame in frames.values():
            anns = []
            for ann in frame.annotations:
                anns.append(ann.with_(id=next_id))
                next_id += 1
            extra = dict(frame.extra)
            if any(frame.tag_info):
                extra["cvat_tags"] = frame.tag_info
            images.append(
                ImageRecord(
                    id=frame.id,
                    file_name=frame.name,
                    size=frame.size,
                    annotations=tuple(anns),
                    media=frame.media,
                    subset=frame.subset,
                    tags=tuple(frame.tags),
                    extra=extra,
                )
            )
        info: dict[str, Any] = {}
        if meta is not None:
            info["cvat_meta"] = meta_json(meta)
        if self.labels.tag_labels and any(self.labels.tag_labels.values()):
            info["cvat_tag_labels"] = {k: v for k, v in self.labels.tag_labels.items() if v}
        if root_extra:
            info["cvat_root"] = root_extra
        return Dataset(ontology, tuple(images), info)


def read(path: Path, options: ReadOptions) -> Dataset:
    """Read ``annotations.xml`` (or the XML file given) and the images beside it."""
    xml_path = _find_xml(Path(path))
    if xml_path is None:
        raise FormatError(f"no {ANNOTATIONS_FILE} (or single .xml file) found", file=str(path))
    return _Reader(xml_path, options).read()
