"""Helpers shared by the label-PNG formats (COCO panoptic, Cityscapes, plain semantic masks).

Reading: one RLE mask per distinct value of a label map in a single pass (``np.unique`` + ``find_objects``,
so the dense per-segment arrays never outlive one image), and the checks every label PNG gets (size,
channels). Writing: class ids that keep the ontology's own ids where they fit, colours, and the loss
report entries that all three formats share (shapes without area, pixels hidden by overlaps, fields a
label PNG has no place for).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask
from scipy import ndimage

from seglab.core.annotation import Annotation, Source
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError
from seglab.core.geometry import Polygon
from seglab.core.mask import Mask
from seglab.core.ontology import LabelClass, Ontology, default_color
from seglab.core.raster import shape_to_mask
from seglab.formats.base import LossReport, ReadOptions
from seglab.formats.safe_io import read_image_rgb, read_label_png

AREA_SHAPES = (Polygon, Mask)


# ----------------------------------------------------------------------------------------------- read


def masks_by_value(values: np.ndarray) -> dict[int, Mask]:
    """One compressed-RLE :class:`Mask` per distinct value of a ``(H, W)`` label map, 0 included.

    One sort (``np.unique``) and one labelled scan (``find_objects``) for the whole map; each mask is
    built inside its bounding box and encoded at once, so memory stays at a few copies of one image.
    """
    uniq, inverse = np.unique(values.ravel(), return_inverse=True)
    labels = (inverse.reshape(values.shape) + 1).astype(np.int32)  # (H, W), 1..K
    slices = ndimage.find_objects(labels)
    out: dict[int, Mask] = {}
    for k, (value, box) in enumerate(zip(uniq.tolist(), slices, strict=True), start=1):
        buf = np.zeros(values.shape, dtype=np.uint8, order="F")  # (H, W)
        buf[box] = labels[box] == k
        out[int(value)] = Mask.from_rle(coco_mask.encode(buf))
    return out


def compact(annotation: Annotation) -> Annotation:
    """The annotation with its mask held as RLE only, so a dataset of many images stays small."""
    shape = annotation.shape
    if isinstance(shape, Mask):
        return annotation.with_(shape=Mask.from_rle(shape.rle))
    return annotation


def read_label_image(
    path: Path, expected: ImageSize | None, options: ReadOptions, *, where: str, rgb: bool = False
) -> np.ndarray | None:
    """A label PNG as an array, or None after rejecting it (unreadable, wrong size, wrong channels).

    ``rgb``: decode to ``(H, W, 3)`` (COCO panoptic ids); else the stored single-channel values.
    """
    try:
        arr = read_image_rgb(path) if rgb else read_label_png(path)
    except FormatError as exc:
        options.reject(path, where, exc.reason)
        return None
    if not rgb and arr.ndim != 2:
        options.reject(path, where, "a colour image where a single-channel label image was expected")
        return None
    got = ImageSize.from_shape(arr.shape)
    if expected is not None and got != expected:
        options.reject(
            path,
            where,
            f"label image is {got.width}x{got.height} but its image is {expected.width}x{expected.height}",
        )
        return None
    return arr


def parse_color(value: Any, *, what: str) -> tuple[int, int, int]:
    """``#rrggbb`` text or an ``[r, g, b]`` list as a colour, or ValueError saying why not."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 7 and text.startswith("#"):
            try:
                return (int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16))
            except ValueError:
                pass
        raise ValueError(f"{what} {value!r} is not a #rrggbb colour")
    if (
        isinstance(value, list | tuple)
        and len(value) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    ):
        return (int(value[0]), int(value[1]), int(value[2]))
    raise ValueError(f"{what} {value!r} is not an [r, g, b] colour of 0..255 integers")


def hex_color(color: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in color[:3]))


# ---------------------------------------------------------------------------------------------- write


def declared_ontology(dataset: Dataset) -> Ontology:
    """The dataset's ontology plus any class an annotation uses without declaring it (kept, not dropped)."""
    ontology = dataset.ontology
    for _, ann in dataset.annotations():
        if ann.label not in ontology:
            ontology = ontology.with_class(LabelClass(ann.label, default_color(len(ontology) + 1)))
    return ontology


def assign_ids(classes: Sequence[LabelClass], *, low: int, high: int) -> dict[str, int]:
    """Class name -> id in ``[low, high]``: its own id where it fits and is unique, else the next free one.

    Raises FormatError when there are more classes than ids.
    """
    if len(classes) > high - low + 1:
        raise FormatError(f"{len(classes)} classes do not fit the ids {low}..{high} of this format")
    taken: dict[str, int] = {}
    used: set[int] = set()
    for c in classes:
        cid = c.id
        if isinstance(cid, int) and not isinstance(cid, bool) and low <= cid <= high and cid not in used:
            taken[c.name] = cid
            used.add(cid)
    free = (i for i in range(low, high + 1) if i not in used)
    return {c.name: taken[c.name] if c.name in taken else next(free) for c in classes}


def jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def image_size_for_writing(image: ImageRecord) -> ImageSize:
    """The image's size (record, else media header); a label PNG cannot be written without it."""
    try:
        return image.require_size()
    except (ValueError, FormatError) as exc:
        raise FormatError(
            f"cannot write its label image: {exc}", where=f"image {image.file_name!r}"
        ) from None


def split_area_annotations(image: ImageRecord, size: ImageSize, report: LossReport) -> list[Annotation]:
    """The annotations with an area (polygons, masks); the others are reported, not silently dropped.

    A mask of another size than its image cannot be painted: FormatError naming both.
    """
    keep = []
    for ann in image.annotations:
        where = f"image {image.file_name!r} annotation {ann.id}"
        if isinstance(ann.shape, Mask) and ann.shape.size != size:
            got = ann.shape.size
            raise FormatError(
                f"mask is {got.width}x{got.height} but the image is {size.width}x{size.height}", where=where
            )
        if isinstance(ann.shape, AREA_SHAPES):
            keep.append(ann)
        else:
            report.add(f"{ann.kind.value} annotations (no area in a label image)", where)
    return keep


def report_hidden(
    report: LossReport,
    image: ImageRecord,
    size: ImageSize,
    anns: Sequence[Annotation],
    owner: np.ndarray,
    owned_by: Sequence[int | None],
) -> None:
    """Report annotations whose pixels ended up owned by another label (overlaps, z-order) or nobody.

    ``owner`` is the written ``(H, W)`` map and ``owned_by[i]`` the value annotation ``i`` should own
    (None: it got no value at all).
    """
    for ann, value in zip(anns, owned_by, strict=True):
        where = f"image {image.file_name!r} annotation {ann.id}"
        mask = shape_to_mask(ann.shape, size)
        area = mask.area
        if area == 0:
            report.add("annotations with an empty area", where)
            continue
        if value is None:
            report.add("annotations hidden entirely by overlapping annotations", where)
            continue
        arr = mask.array
        lost = int(np.count_nonzero(owner[arr] != value))
        if lost == area:
            report.add("annotations hidden entirely by overlapping annotations", where)
        elif lost:
            report.add("pixels hidden by overlapping annotations (z-order)", where, count=lost)


def report_annotation_fields(
    report: LossReport,
    image: ImageRecord,
    ann: Annotation,
    *,
    keeps_crowd: bool,
    kept_extra: Collection[str] = (),
) -> None:
    """Report the fields of an annotation that a label image cannot hold."""
    where = f"image {image.file_name!r} annotation {ann.id}"
    if ann.attributes:
        report.add("annotation attributes", where)
    if ann.score is not None:
        report.add("annotation scores", where)
    if ann.uncertainty is not None:
        report.add("annotation uncertainties", where)
    if ann.source is Source.MODEL:
        report.add("model-made flags (read back as human labels)", where)
    if ann.track_id is not None:
        report.add("track ids", where)
    if ann.z_order != 0:
        report.add("z-order values (overlaps are resolved into the pixels)", where)
    if ann.crowd and not keeps_crowd:
        report.add("crowd flags", where)
    lost = [k for k in ann.extra if k not in kept_extra]
    if lost:
        report.add("annotation extra fields", f"{where}: {', '.join(map(str, lost[:5]))}")


def report_image_fields(
    report: LossReport, image: ImageRecord, *, kept_extra: Collection[str] = (), keeps_subset: bool = True
) -> None:
    where = f"image {image.file_name!r}"
    if image.tags:
        report.add("image tags", where)
    if image.attributes:
        report.add("image attributes", where)
    if image.subset is not None and not keeps_subset:
        report.add("image subsets", f"{where}: {image.subset}")
    lost = [k for k in image.extra if k not in kept_extra]
    if lost:
        report.add("image extra fields", f"{where}: {', '.join(map(str, lost[:5]))}")


def report_ontology_fields(
    report: LossReport,
    ontology: Ontology,
    *,
    keeps_parent: bool,
    keeps_class_extra: Callable[[str, Any], bool] = lambda key, value: False,
) -> None:
    """Report class-level data a label-image format has no place for.

    ``keeps_class_extra(key, value)`` says whether the format writes a class's extra field.
    """
    for c in ontology.classes:
        if c.attributes:
            report.add("class attribute definitions", c.name)
        if c.skeleton is not None:
            report.add("keypoint skeletons", c.name)
        if c.shapes:
            report.add("allowed-shape lists of classes", c.name)
        if c.parent is not None and not keeps_parent:
            report.add("class parents (supercategories)", c.name)
        lost = [k for k, v in c.extra.items() if not keeps_class_extra(k, v)]
        if lost:
            report.add("class extra fields", f"{c.name}: {', '.join(map(str, lost[:5]))}")
    if ontology.tags:
        report.add("image-level tag classes", ontology.tags[0], count=len(ontology.tags))
    if ontology.image_attributes:
        report.add("image attribute definitions", ontology.image_attributes[0].name)


def unique_name(name: str, taken: set[str]) -> str:
    """``name`` or ``name-2``, ``name-3``... (before the suffix) so that no two outputs share a path."""
    if name not in taken:
        taken.add(name)
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    n = 2
    while True:
        candidate = f"{stem}-{n}.{ext}" if dot else f"{stem}-{n}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate
        n += 1
