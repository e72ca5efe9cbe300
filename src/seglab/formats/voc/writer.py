"""Writing a VOC folder: the XML of every image, the label PNGs, ImageSets and ``labelmap.txt``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError
from seglab.core.mask import Mask
from seglab.formats.base import LossReport, WriteOptions
from seglab.formats.label_maps import write_indexed_png
from seglab.formats.media import copy_media
from seglab.formats.safe_io import safe_relative
from seglab.formats.voc.constants import (
    ANNOTATIONS_DIR,
    CLASS_DIRS,
    DEFAULT_SUBSET,
    IMAGE_TAGS,
    IMAGES_DIR,
    LABELMAP_FILE,
    MAX_INDEX,
    OBJECT_DIRS,
    PNG_COMPRESS_LEVEL,
    SETS_DIR,
    TASKS,
    VOC_COLORMAP,
)
from seglab.formats.voc.labelmap import labelmap_text, writer_labelmap
from seglab.formats.voc.layout import file_safe, write_image_sets
from seglab.formats.voc.pixels import Painted, rasterize
from seglab.formats.voc.plan import VocObject, plan_objects, report_image_losses
from seglab.formats.voc.xml_io import append_value, object_element, writable_elements, xml_text


def _image_size(image: ImageRecord) -> ImageSize | None:
    """The record's size, else its file's, else its masks' (VOC's ``<size>`` and PNGs need one)."""
    try:
        return image.require_size()
    except (ValueError, FormatError, OSError):
        return next((a.shape.size for a in image.annotations if isinstance(a.shape, Mask)), None)


def _image_element(
    image: ImageRecord,
    file_name: str,
    size: ImageSize | None,
    objects: Sequence[VocObject],
    painted: Painted | None,
    actions_of: Mapping[str, tuple[str, ...]],
    losses: LossReport,
) -> ET.Element:
    root = ET.Element("annotation")
    elements = writable_elements(dict(image.extra.get("voc_elements", {})), IMAGE_TAGS, file_name, losses)
    if "folder" in elements:  # the devkit's order: folder, filename, source, size, segmented, objects
        append_value(root, "folder", elements.pop("folder"))
    ET.SubElement(root, "filename").text = xml_text(file_name, f"{file_name}: filename")
    for tag, value in elements.items():
        append_value(root, tag, value)
    if size is not None:
        size_elem = ET.SubElement(root, "size")
        ET.SubElement(size_elem, "width").text = str(size.width)
        ET.SubElement(size_elem, "height").text = str(size.height)
        ET.SubElement(size_elem, "depth").text = xml_text(image.extra.get("voc_depth", "3"), "depth")
    ET.SubElement(root, "segmented").text = "1" if painted is not None else "0"
    for k, obj in enumerate(objects, 1):
        derived = obj.box is None
        if obj.box is not None:
            box = obj.box.bounds()
        else:
            box = (painted.boxes.get(k) if painted is not None else None) or obj.main.bounds()
        where = f"{file_name}: object {k}"
        root.append(object_element(obj.main, obj.parts, box, derived, actions_of, where, losses))
    ET.indent(root)
    return root


def write(dataset: Dataset, dst: Path, options: WriteOptions) -> LossReport:
    """Write ``dataset`` as a VOC folder into the empty directory ``dst``; return what VOC cannot hold."""
    losses = LossReport()
    dst = Path(dst)
    entries = writer_labelmap(dataset, losses)
    class_index = {e.name: i for i, e in enumerate(entries)}
    actions_of = {e.name: e.actions for e in entries}
    palette = [e.color for e in entries[: MAX_INDEX + 1]] + list(VOC_COLORMAP[len(entries) :])
    if dataset.info:
        losses.add(
            "dataset info (VOC has no dataset metadata)", ", ".join(sorted(map(str, dataset.info))[:5])
        )
    for name in {DEFAULT_SUBSET, *(i.subset for i in dataset.images if i.subset)}:
        if not file_safe(name):
            raise FormatError(f"subset {name!r} cannot be a file name in {SETS_DIR}/")
    if any(i.subset == DEFAULT_SUBSET for i in dataset.images):
        losses.add(f"subset {DEFAULT_SUBSET!r} (reads back as no subset)")
    tag_names = list(dict.fromkeys((*dataset.ontology.tags, *(t for i in dataset.images for t in i.tags))))
    for tag in tag_names:
        if not file_safe(tag) or tag != tag.strip():
            raise FormatError(f"tag {tag!r} cannot be a file name in {SETS_DIR}/Main/")

    lists: dict[str, dict[str, list[str]]] = {task: {} for task in TASKS}  # task -> subset -> stems
    presence: dict[tuple[str, int], set[str]] = {}  # (tag, 1 or 0) -> stems
    stems: dict[str, str] = {}
    for image in dataset.images:
        file_name = safe_relative(image.file_name, file=image.file_name, where="file name")
        stem = str(PurePosixPath(file_name).with_suffix(""))
        if stem in stems:
            raise FormatError(f"images {stems[stem]!r} and {file_name!r} share the stem {stem!r} (a VOC id)")
        stems[stem] = file_name
        subset = image.subset or DEFAULT_SUBSET
        objects = plan_objects(image, losses)
        report_image_losses(image, objects, losses)
        size = _image_size(image)
        painted = None
        if any(obj.areas for obj in objects):
            if size is None:
                losses.add("masks and polygons of images of unknown size", image.file_name)
            else:
                painted = rasterize(image, objects, size, class_index, losses)
        root = _image_element(image, file_name, size, objects, painted, actions_of, losses)
        (dst / ANNOTATIONS_DIR / stem).parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(root).write(dst / ANNOTATIONS_DIR / f"{stem}.xml", encoding="utf-8")
        if painted is not None:
            for folder, pixels, colors in (
                (CLASS_DIRS[0], painted.class_map, palette),
                (OBJECT_DIRS[0], painted.object_map, list(VOC_COLORMAP)),
            ):
                write_indexed_png(dst / folder / f"{stem}.png", pixels, colors, level=PNG_COMPRESS_LEVEL)
            lists["Segmentation"].setdefault(subset, []).append(stem)
        lists["Main"].setdefault(subset, []).append(stem)
        if any(obj.parts for obj in objects):
            lists["Layout"].setdefault(subset, []).append(stem)
        if any(a in o.main.attributes for o in objects for a in actions_of.get(o.main.label, ())):
            lists["Action"].setdefault(subset, []).append(stem)
        for tag in image.tags:
            presence.setdefault((tag, 1), set()).add(stem)
        for tag in image.extra.get("voc_difficult_tags", ()):
            presence.setdefault((tag, 0), set()).add(stem)
        if options.copy_images and not copy_media(image, dst / IMAGES_DIR / file_name):
            losses.add("image files not copied (the record has no media)", image.file_name)
    (dst / LABELMAP_FILE).write_text(labelmap_text(entries), encoding="utf-8")
    write_image_sets(dst, lists, presence, tag_names)
    return losses
