"""Reading a VOC folder: every image met in ImageSets, Annotations, the PNG folders or JPEGImages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seglab.core.annotation import Annotation
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError, UnsafeInputError
from seglab.core.geometry import Box
from seglab.core.mask import Mask
from seglab.core.ontology import Ontology
from seglab.formats.base import ReadOptions
from seglab.formats.media import FileMedia
from seglab.formats.safe_io import find_images, parse_xml
from seglab.formats.voc.constants import (
    ANNOTATIONS_DIR,
    CLASS_DIRS,
    CLASS_NAMES_FILE,
    DEFAULT_SUBSET,
    IMAGES_DIR,
    OBJECT_DIRS,
    SETS_DIR,
)
from seglab.formats.voc.labelmap import ontology_from_labelmap, read_class_list
from seglab.formats.voc.layout import dataset_root, files_by_stem, first_existing, read_image_sets
from seglab.formats.voc.pixels import ReadMask, read_masks
from seglab.formats.voc.xml_io import XmlImage, XmlObject, parse_annotation_file


def _image_annotations(
    objects: Sequence[XmlObject], masks: Sequence[ReadMask], first_id: int
) -> list[Annotation]:
    """Annotations in object order: box, parts, masks of its instance; then masks of no XML object."""
    out: list[Annotation] = []

    def add(label: str, shape: Box | Mask, **fields: Any) -> None:
        out.append(Annotation(id=first_id + len(out), label=label, shape=shape, **fields))

    indices = {o.index for o in objects}
    masks_of: dict[int, list[ReadMask]] = {}
    for m in masks:
        if m.instance in indices:
            masks_of.setdefault(m.instance, []).append(m)
    for obj in objects:
        own = masks_of.get(obj.index, [])
        grouped = (obj.box is not None) + len(obj.parts) + len(own) > 1
        group = obj.index if grouped else None
        extra = {"voc_elements": obj.extra} if obj.extra else {}
        if obj.box is not None:
            add(obj.label, obj.box, attributes=obj.attributes, group_id=group, extra=extra)
        for part_label, part_box in obj.parts:
            add(part_label, part_box, group_id=group, extra={"voc_part": True})
        derived = obj.box is None  # the object's attributes and extra then belong to its masks
        for m in own:
            add(
                m.label,
                m.mask,
                attributes=obj.attributes if derived else {},
                group_id=group,
                extra=extra if derived else {},
            )
    for m in masks:
        if m.instance not in indices:
            add(m.label, m.mask)
    return out


def read(path: Path, options: ReadOptions) -> Dataset:
    """Read a VOC folder: every image met in ImageSets, Annotations, the PNG folders or JPEGImages."""
    root = dataset_root(Path(path))
    entries, class_list = read_class_list(root)
    ontology = ontology_from_labelmap(entries)
    subsets, presence = read_image_sets(root)
    xml_files = files_by_stem(root / ANNOTATIONS_DIR, ".xml")
    class_pngs = files_by_stem(first_existing(root, CLASS_DIRS), ".png")
    object_pngs = files_by_stem(first_existing(root, OBJECT_DIRS), ".png")
    images = find_images(root / IMAGES_DIR)
    image_by_stem: dict[str, str] = {}
    for rel in images:
        image_by_stem.setdefault(rel.rsplit(".", 1)[0] if "." in rel else rel, rel)

    # an image listed in several subsets (trainval = train + val) belongs to the smallest
    subset_of: dict[str, str] = {}
    for name in sorted(subsets, key=lambda s: (len(subsets[s]), s)):
        for stem in subsets[name]:
            subset_of.setdefault(stem, name)
    order = [s for name in sorted(subsets) for s in subsets[name] if subset_of[s] == name]
    unlisted = set(xml_files) | set(class_pngs) | set(object_pngs) | set(image_by_stem)
    order += sorted(unlisted - set(subset_of))

    tag_names = [e.name for e in entries if e.name in presence] + sorted(
        t for t in presence if t not in {e.name for e in entries}
    )
    records = []
    next_id = 1
    for image_id, stem in enumerate(order, 1):
        parsed = (
            parse_annotation_file(xml_files[stem], ontology, class_list, options)
            if stem in xml_files
            else XmlImage()
        )
        rel = parsed.file_name if parsed.file_name in images else image_by_stem.get(stem)
        file_name = parsed.file_name or rel or f"{stem}.jpg"
        media = FileMedia(images[rel]) if rel is not None else None
        size = parsed.size
        if size is None and media is not None:
            size = media.size()
        objects = {o.index: o for o in parsed.objects}
        masks, size = read_masks(
            stem, class_pngs.get(stem), object_pngs.get(stem), size, entries, objects, options
        )
        annotations = _image_annotations(parsed.objects, masks, next_id)
        next_id += len(annotations)

        extra = dict(parsed.extra)
        difficult = [t for t in tag_names if presence[t].get(stem) == 0]
        if difficult:
            extra["voc_difficult_tags"] = difficult
        subset = subset_of.get(stem)
        records.append(
            ImageRecord(
                id=image_id,
                file_name=file_name,
                size=size,
                annotations=tuple(annotations),
                media=media,
                subset=None if subset == DEFAULT_SUBSET else subset,
                tags=tuple(t for t in tag_names if presence[t].get(stem) == 1),
                extra=extra,
            )
        )
    if tag_names:
        ontology = Ontology(ontology.classes, tags=tuple(tag_names))
    return Dataset(ontology, tuple(records))


def detect(path: Path) -> float:
    """High when Annotations/ holds VOC XML (<annotation> with <object><bndbox>), lower for PNG-only."""
    path = Path(path)
    if not path.is_dir():
        return 0.0
    try:
        root = dataset_root(path)
    except FormatError:
        return 0.0
    score = 0.0
    xmls = sorted((root / ANNOTATIONS_DIR).glob("*.xml"))[:5] if (root / ANNOTATIONS_DIR).is_dir() else []
    for xml_path in xmls:
        try:
            elem = parse_xml(xml_path).getroot()
        except UnsafeInputError:
            return 0.5  # looks like ours; reading it will report the refusal
        except FormatError:
            continue
        if elem.tag != "annotation" or elem.find("object/polygon") is not None:
            return 0.0  # LabelMe's own XML also has <annotation> but polygons
        if elem.find("object/bndbox") is not None:
            score = max(score, 0.95)
        elif elem.find("filename") is not None:
            score = max(score, 0.7)
    if any((root / d).is_dir() for d in (*CLASS_DIRS, *OBJECT_DIRS)):
        score = max(score, 0.8 if (root / SETS_DIR).is_dir() or (root / CLASS_NAMES_FILE).is_file() else 0.6)
    return score
