"""Writing ``annotations.xml`` (and ``images/``): one ``<image>`` per record, the meta rebuilt from the
ontology, and a LossReport of what CVAT cannot carry."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from seglab.core.annotation import Annotation
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError
from seglab.core.ontology import AttributeSpec, ShapeType, default_color
from seglab.formats.base import LossReport, WriteOptions
from seglab.formats.cvat.attributes import fits_type, spec_from_raw, value_text
from seglab.formats.cvat.constants import ANNOTATIONS_FILE, IMAGES_DIR, SHAPE_TAG_SHAPES, VERSION
from seglab.formats.cvat.meta import attribute_specs_node, class_nodes, label_node, meta_node
from seglab.formats.cvat.shapes import ShapeWriter
from seglab.formats.cvat.text import source_word
from seglab.formats.cvat.xml_nodes import Node, kept_attrib, leaf, node_from_json, write_node
from seglab.formats.label_maps import hex_color
from seglab.formats.media import copy_media
from seglab.formats.safe_io import safe_relative


class _Writer:
    """Builds the XML of a dataset, collecting what CVAT cannot carry."""

    def __init__(self, dataset: Dataset, report: LossReport) -> None:
        self.dataset = dataset
        self.report = report
        self.ontology = dataset.ontology
        tag_labels = dataset.info.get("cvat_tag_labels", {})
        self.tag_labels: Mapping[str, Any] = tag_labels if isinstance(tag_labels, Mapping) else {}
        self.extra_labels: list[str] = []
        self.extra_tags: list[str] = []
        self.shapes = ShapeWriter(self.ontology, report)
        self.used: dict[str, set[ShapeType]] = {}
        """The shape types written per label: what a ``skeleton`` label reads back as allowing."""

    def labels(self) -> list[Node]:
        nodes = [
            n
            for cls in self.ontology.classes
            for n in class_nodes(cls, frozenset(self.used.get(cls.name, ())), self.report)
        ]
        for name in self.extra_labels:
            color = hex_color(default_color(len(nodes) + 1))
            nodes.append(label_node(name, color, "any", Node("attributes")))
        for name in [t for t in self.ontology.tags if t not in self.ontology] + self.extra_tags:
            info = self.tag_labels.get(name, {})
            info = info if isinstance(info, Mapping) else {}
            color = str(info.get("color", hex_color(default_color(len(nodes) + 1))))
            nodes.append(label_node(name, color, "tag", attribute_specs_node(info.get("attributes", []))))
        if self.ontology.image_attributes:
            self.report.add("image-level attribute specs", self.ontology.image_attributes[0].name)
        if self.ontology.full_coverage:
            self.report.add("full-coverage (panoptic) flag of the ontology")
        return nodes

    def specs(self, label: str) -> dict[str, AttributeSpec]:
        cls = self.ontology.get(label)
        if cls is not None:
            return {s.name: s for s in cls.attributes}
        info = self.tag_labels.get(label, {})
        specs = {}
        for raw in info.get("attributes", []) if isinstance(info, Mapping) else []:
            try:
                spec, _ = spec_from_raw(raw)
                specs[spec.name] = spec
            except (ValueError, KeyError, TypeError):
                continue
        return specs

    def attribute_nodes(
        self, label: str, values: Mapping[str, Any], where: str, skip: str | None = None
    ) -> list[Node]:
        specs = self.specs(label)
        nodes = []
        for name, value in values.items():
            if name == skip:
                continue
            spec = specs.get(name)
            if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
                self.report.add("non-finite attribute value", f"{where}: {name}")
                continue
            if spec is not None and not fits_type(spec.type, value):
                self.report.add("attribute value of another type than its spec", f"{where}: {name}={value!r}")
                continue
            if spec is None and not isinstance(value, str):
                self.report.add("undeclared non-text attribute read back as text", f"{where}: {name}")
            nodes.append(Node("attribute", {"name": name}, value_text(value)))
        return nodes

    def image(self, image: ImageRecord, image_id: int) -> Node:
        name = safe_relative(image.file_name, file=ANNOTATIONS_FILE, where=f"image {image.file_name!r}")
        attrib = {"id": str(image_id), "name": name}
        if image.subset is not None:
            attrib["subset"] = image.subset
        size = image.size
        if size is None and image.media is not None:
            try:
                size = image.media.size()
            except FormatError:
                self.report.add("image of unknown size (its file cannot be read)", image.file_name)
        if size is not None:
            attrib.update(width=str(size.width), height=str(size.height))
        kept = image.extra.get("cvat_attrib", {})
        if isinstance(kept, Mapping):
            attrib.update(kept_attrib(kept, attrib))
        node = Node("image", attrib)
        for key in image.extra:
            if key not in ("cvat_attrib", "cvat_tags"):
                self.report.add(f"image extra field {key!r}", image.file_name)
        if image.attributes:
            self.report.add("image attributes", image.file_name)
        groups = [a.group_id for a in image.annotations if a.group_id]
        self.shapes.next_group = max(groups, default=0) + 1
        for ann in image.annotations:
            node.children.extend(self.annotation(ann, image, size))
        tag_info = image.extra.get("cvat_tags")
        if not isinstance(tag_info, list) or len(tag_info) != len(image.tags):
            tag_info = [{}] * len(image.tags)
        for label, info in zip(image.tags, tag_info, strict=True):
            info = info if isinstance(info, Mapping) else {}
            if (
                label not in self.ontology.tags
                and label not in self.ontology
                and label not in self.extra_tags
            ):
                self.extra_tags.append(label)
                self.report.add("image tag missing from the ontology declared as a CVAT tag label", label)
            tag = Node("tag", {"label": label, "source": str(info.get("source", "manual"))})
            if info.get("group_id"):
                tag.attrib["group_id"] = str(info["group_id"])
            values = info.get("attributes", {})
            values = values if isinstance(values, Mapping) else {}
            tag.children = self.attribute_nodes(label, values, f"image {name}: tag {label}")
            node.children.append(tag)
        return node

    def annotation(self, ann: Annotation, image: ImageRecord, size: ImageSize | None) -> list[Node]:
        where = f"image {image.file_name}: annotation {ann.id}"
        if ann.label not in self.ontology and ann.label not in self.extra_labels:
            self.extra_labels.append(ann.label)
            self.report.add("annotation label missing from the ontology declared as a CVAT label", ann.label)
        for what, lost in (
            ("score", ann.score is not None),
            ("uncertainty", ann.uncertainty is not None),
            ("crowd flag", ann.crowd),
            ("group_id 0 (CVAT's 'no group')", ann.group_id == 0),
        ):
            if lost:
                self.report.add(what, where)
        for key in ann.extra:
            if key not in ("cvat_source", "cvat_attrib", "cvat_keyframe", "cvat_ellipse", "cvat_elements"):
                self.report.add(f"annotation extra field {key!r}", where)
        occluded = ann.attributes.get("occluded")
        if occluded is False:
            self.report.add("attribute occluded=false (CVAT's default) read back as absent", where)
        common = {"label": ann.label, "source": source_word(ann.source, ann.extra.get("cvat_source"))}
        skip = "occluded" if isinstance(occluded, bool) else None
        attributes = self.attribute_nodes(ann.label, ann.attributes, where, skip)
        shapes = self.shapes.geometry(ann, size, where)
        nodes = []
        for tag, geometry, group in shapes:
            self.used.setdefault(ann.label, set()).add(SHAPE_TAG_SHAPES[tag])
            attrib = dict(common)
            if tag != "skeleton" or occluded is True:  # CVAT writes no occluded on a skeleton itself
                attrib["occluded"] = "1" if occluded is True else "0"
            attrib.update(geometry)
            attrib["z_order"] = str(int(ann.z_order))
            if group:
                attrib["group_id"] = str(group)
            if ann.track_id is not None:
                attrib["track_id"] = str(int(ann.track_id))
            if isinstance(ann.extra.get("cvat_keyframe"), bool):
                attrib["keyframe"] = "1" if ann.extra["cvat_keyframe"] else "0"
            kept = ann.extra.get("cvat_attrib", {})
            if isinstance(kept, Mapping):
                attrib.update(kept_attrib(kept, attrib))
            children = self.shapes.skeleton_points(ann, where) if tag == "skeleton" else []
            nodes.append(Node(tag, attrib, children=children + attributes))
        return nodes


def write(dataset: Dataset, dst: Path, options: WriteOptions) -> LossReport:
    """Write ``annotations.xml`` (and ``images/`` when asked) into the empty folder ``dst``."""
    report = LossReport()
    dst = Path(dst)
    images = dataset.images
    ids = [i.id for i in images]
    renumber = len(set(ids)) != len(ids)
    if renumber:
        report.add("image ids renumbered (CVAT image ids must be unique)")
    writer = _Writer(dataset, report)
    image_nodes = [writer.image(img, k if renumber else img.id) for k, img in enumerate(images)]
    meta = meta_node(dataset.info.get("cvat_meta"), writer.labels(), len(images), report)
    root_extra = []
    for item in dataset.info.get("cvat_root", []) if isinstance(dataset.info.get("cvat_root"), list) else []:
        try:
            root_extra.append(node_from_json(item))
        except ValueError:
            report.add("stored CVAT root element unusable", "info['cvat_root']")
    for key in dataset.info:
        if key not in ("cvat_meta", "cvat_tag_labels", "cvat_root"):
            report.add(f"dataset info field {key!r}")
    with (dst / ANNOTATIONS_FILE).open("w", encoding="utf-8", newline="\n") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n')
        write_node(out, leaf("version", VERSION), 1)
        write_node(out, meta, 1)
        for node in image_nodes:
            write_node(out, node, 1)
        for node in root_extra:
            write_node(out, node, 1)
        out.write("</annotations>\n")
    if options.copy_images:
        for img in images:
            target = (
                dst / IMAGES_DIR / safe_relative(img.file_name, file=ANNOTATIONS_FILE, where=img.file_name)
            )
            if not copy_media(img, target):
                report.add("image file not copied (the record has no media)", img.file_name)
    return report
