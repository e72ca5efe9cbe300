"""The label PNGs: SegmentationClass / SegmentationObject read into one Mask per (instance, class) pair,
and polygons and masks painted back in z-order with pycocotools' rasterization."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pycocotools import mask as coco_mask

from seglab.core.annotation import Annotation
from seglab.core.conventions import ImageSize
from seglab.core.dataset import ImageRecord
from seglab.core.geometry import Box, Polygon
from seglab.core.mask import Mask
from seglab.core.raster import polygon_to_mask
from seglab.formats.base import LossReport, ReadOptions
from seglab.formats.label_maps import ColumnBand, column_bands
from seglab.formats.safe_io import read_label_png
from seglab.formats.voc.constants import BACKGROUND_NAMES, MAX_INDEX, VOC_COLORMAP, VOID
from seglab.formats.voc.labelmap import LabelEntry
from seglab.formats.voc.plan import VocObject
from seglab.formats.voc.xml_io import XmlObject


def _index_map(
    path: Path, colors: Sequence[tuple[int, int, int]], options: ReadOptions, what: str
) -> np.ndarray | None:
    """A label PNG as indices ``(H, W)``: palette/gray values as stored, RGB through the colour map."""
    arr = read_label_png(path)
    if arr.ndim == 2:
        return arr
    packed = (arr[..., 0].astype(np.int64) << 16) | (arr[..., 1].astype(np.int64) << 8) | arr[..., 2]
    lut: dict[int, int] = {}
    for i, (r, g, b) in enumerate(colors):
        lut.setdefault((r << 16) | (g << 8) | b, i)
    lut.setdefault((224 << 16) | (224 << 8) | 192, VOID)  # the devkit's void colour
    uniq, inverse = np.unique(packed, return_inverse=True)
    unknown = [int(u) for u in uniq.tolist() if int(u) not in lut]
    if unknown:
        u = unknown[0]
        options.reject(
            path, what, f"colour ({u >> 16}, {(u >> 8) & 255}, {u & 255}) is not in the colour map"
        )
        return None
    values = np.array(
        [lut[int(u)] for u in uniq.tolist()], dtype=np.uint8 if len(colors) <= 256 else np.uint16
    )
    return values[inverse.reshape(packed.shape)]


@dataclass
class ReadMask:
    """The pixels of one (instance, class) pair of the label PNGs; ``instance`` None for class-only pixels."""

    label: str
    mask: Mask
    instance: int | None


def read_masks(
    stem: str,
    class_png: Path | None,
    object_png: Path | None,
    size: ImageSize | None,
    entries: Sequence[LabelEntry],
    objects: Mapping[int, XmlObject],
    options: ReadOptions,
) -> tuple[list[ReadMask], ImageSize | None]:
    """Masks from the two PNGs: one per (instance, class) pair; class-only pixels one per class."""
    where = f"image {stem}"
    cls = _index_map(class_png, [e.color for e in entries], options, where) if class_png else None
    inst = _index_map(object_png, VOC_COLORMAP, options, where) if object_png else None
    maps = [(p, a) for p, a in ((class_png, cls), (object_png, inst)) if p is not None and a is not None]
    if not maps:
        return [], size
    for png, arr in maps:
        found = ImageSize.from_shape(arr.shape)
        if size is not None and found != size:
            options.reject(
                png, where, f"PNG is {found.width}x{found.height} but the image is {size.width}x{size.height}"
            )
            return [], size
        size = found
    assert size is not None
    if cls is not None and inst is not None and cls.shape != inst.shape:
        options.reject(object_png, where, "SegmentationObject and SegmentationClass sizes differ")
        return [], size
    n_classes = len(entries)
    background = 0 if entries and entries[0].name in BACKGROUND_NAMES else None
    if cls is not None:
        bad = np.unique(cls[(cls >= n_classes) & (cls != VOID)])
        if bad.size:
            options.reject(
                class_png,
                where,
                f"pixel values {bad.tolist()[:5]} are not class indices (the class list has {n_classes})",
            )
            cls = np.where(cls >= n_classes, VOID, cls)
    h, w = size.height, size.width
    base = max(n_classes, VOID) + 2  # key = 1 + instance * base + (class + 1); 0 = void
    top = int(inst.max(initial=0)) if inst is not None else 0
    dtype = np.uint32 if (top + 1) * base + 1 < 2**32 else np.uint64
    key = np.zeros((h, w), dtype=dtype) if inst is None else inst.astype(dtype) * dtype(base)
    key += 1 if cls is None else cls.astype(dtype) + dtype(2)
    void = cls == VOID if cls is not None else np.zeros((h, w), dtype=bool)
    if inst is not None and inst.dtype == np.uint8:
        void |= inst == VOID
    key[void] = 0
    # runs of equal keys in column-major order (pycocotools'), so each mask's RLE comes from its runs
    flat = key.T.ravel()  # (W * H,)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    run_start = np.concatenate(([0], change))
    run_end = np.concatenate((change, [flat.size]))
    run_key = flat[run_start]
    found: list[tuple[int | None, str, int]] = []
    for value in np.unique(run_key).tolist():
        if value == 0:
            continue
        k, c = divmod(value - 1, base)
        c -= 1
        if k == 0:
            if c < 0 or c == background:
                continue  # neither an instance nor a class: background
            found.append((None, entries[c].name, value))
        elif c >= 0:
            found.append((k, entries[c].name, value))
        elif k in objects:
            found.append((k, objects[k].label, value))
        else:
            options.reject(
                object_png, where, f"instance {k} has no class (no SegmentationClass and no object {k})"
            )
    masks = []
    for k, label, value in found:
        sel = run_key == value
        bounds = np.empty(2 * int(sel.sum()) + 2, dtype=np.int64)
        bounds[0], bounds[-1] = 0, flat.size
        bounds[1:-1:2], bounds[2:-1:2] = run_start[sel], run_end[sel]
        counts = np.diff(bounds).tolist()  # zeros, ones, zeros, ... (uncompressed COCO RLE)
        if counts[-1] == 0:
            counts.pop()  # pycocotools' own encoding has no empty last run; Mask equality compares it
        masks.append(ReadMask(label, Mask.from_rle({"size": [h, w], "counts": counts}), k))
    return masks, size


@dataclass
class Painted:
    """What :func:`rasterize` paints: the two label maps and the pixel bounds of each object."""

    class_map: np.ndarray
    object_map: np.ndarray
    boxes: dict[int, Box]  # pixel bounds of each object's shapes (for objects without a box)


def _area_entries(
    image: ImageRecord,
    objects: Sequence[VocObject],
    size: ImageSize,
    class_index: Mapping[str, int],
    losses: LossReport,
) -> list[tuple[Annotation, int, int]]:
    """(annotation, object index k, class index) of every shape to paint, bottom first (z-order)."""
    entries = []
    for k, obj in enumerate(objects, 1):
        for ann in obj.areas:
            c = class_index.get(ann.label)
            if k > MAX_INDEX:
                losses.add(f"pixels of objects beyond the {MAX_INDEX}th of an image", image.file_name)
            elif c is None or c > MAX_INDEX:
                losses.add(f"pixels of classes beyond index {MAX_INDEX}", f"{image.file_name}: {ann.label}")
            elif isinstance(ann.shape, Mask) and ann.shape.size != size:
                losses.add(
                    "masks whose size differs from the image", f"{image.file_name}: annotation {ann.id}"
                )
            else:
                entries.append((ann, k, c))
    entries.sort(key=lambda e: e[0].z_order)  # stable: of equal z, the later annotation is on top
    return entries


def _paint(rles: Sequence[dict], h: int, w: int) -> tuple[np.ndarray, list[ColumnBand]]:
    """The column-major ``(W, H)`` map of 1 + the index of the last RLE covering each pixel (0: none),
    uint8 for fewer than 256 RLEs, and each RLE's :class:`ColumnBand`.

    The RLEs are decoded together into the band of columns each touches, and painted in order, so no
    full-frame plane is decoded per shape and the later shape wins.
    """
    by_column = np.zeros((w, h), dtype=np.uint8 if len(rles) < 256 else np.uint16)  # (x, y)
    counts = [c if isinstance(c, bytes) else c.encode("ascii") for c in (rle["counts"] for rle in rles)]
    bands = column_bands(counts, h)
    for value, band in enumerate(bands, 1):
        if band.area:
            by_column[band.start : band.stop].reshape(-1)[band.pixels] = value
    return by_column, bands


def paint_runs(rles: Sequence[dict], h: int, w: int) -> np.ndarray:
    """``(H, W)``: 1 + the index of the last RLE covering each pixel, 0 where none does."""
    return _paint(rles, h, w)[0].T


def rasterize(
    image: ImageRecord,
    objects: Sequence[VocObject],
    size: ImageSize,
    class_index: Mapping[str, int],
    losses: LossReport,
) -> Painted:
    """Paint every object's polygons and masks in z-order into one class map and one instance map.

    Each shape becomes one pycocotools RLE, the rings of all the image's polygons from a single
    ``frPyObjects`` call, so a polygon's pixels are exactly :func:`polygon_to_mask`'s (parts with holes go
    through it). Areas and bounds come from the RLEs; the pixels are decoded once, for painting.
    """
    h, w = size.height, size.width
    entries = _area_entries(image, objects, size, class_index, losses)
    simple = [
        p.exterior.ravel().tolist()
        for ann, _, _ in entries
        if isinstance(ann.shape, Polygon) and not ann.shape.has_holes
        for p in ann.shape.parts
        if len(p.exterior) >= 3
    ]
    ring_rles = iter(coco_mask.frPyObjects(simple, h, w) if simple else [])
    rles: list[dict] = []  # one per entry, in painting order
    for ann, _, _ in entries:
        shape = ann.shape
        if isinstance(shape, Mask):
            rles.append(shape.rle)
        elif shape.has_holes:
            rles.append(polygon_to_mask(shape, w, h).rle)
        else:
            rings = [next(ring_rles) for p in shape.parts if len(p.exterior) >= 3]
            if not rings:  # a polygon of degenerate parts covers nothing
                rings = [coco_mask.encode(np.zeros((h, w, 1), dtype=np.uint8, order="F"))[0]]
            rles.append(coco_mask.merge(rings, intersect=False) if len(rings) > 1 else rings[0])
    ann_map, bands = _paint(rles, h, w)  # (W, H): 1 + index in ``entries`` of the shape on top, 0 = none
    object_lut = np.array([0] + [k for _, k, _ in entries], dtype=np.uint8)
    class_lut = np.array([0] + [c for _, _, c in entries], dtype=np.uint8)
    visible = [0] * (len(objects) + 1)  # pixels of each object left on top, counted over its bands
    by_object: dict[int, list[dict]] = {}
    for value, ((_, k, _), rle, band) in enumerate(zip(entries, rles, bands, strict=True), 1):
        by_object.setdefault(k, []).append(rle)
        if band.area:
            on_top = ann_map[band.start : band.stop].reshape(-1)[band.pixels] == value
            visible[k] += int(np.count_nonzero(on_top))
    boxes: dict[int, Box] = {}
    for k, own in by_object.items():
        union = coco_mask.merge(own, intersect=False) if len(own) > 1 else own[0]
        area = int(coco_mask.area(union))
        if area == 0:
            losses.add("empty masks or polygons (no pixel to write)", f"{image.file_name}: object {k}")
            continue
        x, y, bw, bh = (float(v) for v in coco_mask.toBbox(union))
        boxes[k] = Box(x, y, x + bw, y + bh)
        if visible[k] < area:
            losses.add(
                "overlapping pixels hidden by a shape above (VOC holds one label per pixel)",
                f"{image.file_name}: object {k} lost {area - int(visible[k])} of {area} pixels",
            )
    # (H, W) views of (W, H) lookups: the PNG encoder copies them into its rows anyway. numpy, not OpenCV:
    # importing cv2 would add 15 MiB to the writer's peak memory.
    return Painted(class_lut[ann_map].T, object_lut[ann_map].T, boxes)
