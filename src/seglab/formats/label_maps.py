"""Helpers shared by the label-PNG formats (COCO panoptic, Cityscapes, plain semantic masks).

Reading: one RLE mask per distinct value of a label map in a single pass (``np.unique`` + ``find_objects``,
so the dense per-segment arrays never outlive one image), and the checks every label PNG gets (size,
channels). Writing: class ids that keep the ontology's own ids where they fit, colours, and the loss
report entries that all three formats share (shapes without area, pixels hidden by overlaps, fields a
label PNG has no place for). For speed on thousands of maps: :func:`area_counts` rasterizes an image's
shapes together, :func:`column_bands` decodes their RLEs over the columns each touches only (never a whole
``(H, W)`` array per object), :func:`paint_runs` paints them in order from their runs alone (the COCO
panoptic writer), and :func:`write_rgb_png` / :func:`write_rgb_png_runs` / :func:`write_indexed_png`
encode RGB and palette PNGs with ISA-L deflate (the VOC writer uses the latter too).
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from isal import isal_zlib
from PIL import Image
from pycocotools import mask as coco_mask
from scipy import ndimage

from seglab.core.annotation import Annotation, Source
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError
from seglab.core.geometry import Polygon, Shape
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


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _write_png_file(
    path: Path, scanlines: np.ndarray, color_type: int, level: int, palette: bytes | None = None
) -> None:
    """Write ``scanlines`` (``(H, 1 + row bytes)`` uint8, filter byte 0 first) as an 8-bit PNG.

    Deflated unfiltered by ISA-L (``level`` 0..3), whose output any zlib inflates: for flat label maps this
    compresses as well as adaptive filtering at a small fraction of an image library's encoding time, which
    matters when thousands of maps are written. One ``write`` of the whole file.
    """
    height, row = scanlines.shape
    width = (row - 1) // (3 if color_type == 2 else 1)
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)  # 8-bit, no interlace
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + (_png_chunk(b"PLTE", palette) if palette is not None else b"")
        + _png_chunk(b"IDAT", isal_zlib.compress(scanlines, level))
        + _png_chunk(b"IEND", b"")
    )


def write_rgb_png(path: Path, values: np.ndarray, colors: np.ndarray, *, level: int = 1) -> None:
    """Write the ``(H, W)`` map ``values`` as an 8-bit RGB PNG whose pixel is ``colors[value]``.

    ``colors`` is ``(K, 3)`` uint8. The rows are gathered straight into the PNG's scanline buffer (see
    :func:`_write_png_file` for the encoding).
    """
    height, width = values.shape
    scanlines = np.empty((height, 1 + 3 * width), dtype=np.uint8)  # filter byte 0 (none), then RGB
    scanlines[:, 0] = 0
    if values.dtype == np.uint8 and len(colors) <= 256:
        # a palette image converted to RGB by Pillow (already loaded for reading), as fast as OpenCV's
        # table lookups without OpenCV's 19 MiB in the writing process, and 2-3x faster than numpy's
        palette = np.zeros((256, 3), dtype=np.uint8)
        palette[: len(colors)] = colors
        image = Image.frombuffer("P", (width, height), np.ascontiguousarray(values), "raw", "P", 0, 1)
        image.putpalette(palette.tobytes())
        rgb = image.convert("RGB").tobytes()
        scanlines[:, 1:] = np.frombuffer(rgb, dtype=np.uint8).reshape(height, 3 * width)
    else:
        table = np.ascontiguousarray(colors, dtype=np.uint8).view("V3").ravel()  # a 3-byte record each
        np.take(table, np.ascontiguousarray(values), out=scanlines[:, 1:].view("V3"))
    _write_png_file(path, scanlines, 2, level)


def write_indexed_png(
    path: Path, values: np.ndarray, palette: Sequence[tuple[int, int, int]], *, level: int = 1
) -> None:
    """Write the ``(H, W)`` uint8 map ``values`` as a palette PNG (what Pillow reads as mode ``P``).

    ``palette`` holds up to 256 colours; it is padded with black to 256 entries, as Pillow writes it, so
    that any stored index has a colour. Encoded like :func:`write_rgb_png`, without an image library.
    """
    if values.dtype != np.uint8:
        raise ValueError(f"a palette PNG holds uint8 indices, not {values.dtype}")
    if len(palette) > 256:
        raise ValueError(f"a palette PNG holds at most 256 colours, not {len(palette)}")
    height, width = values.shape
    scanlines = np.empty((height, 1 + width), dtype=np.uint8)  # filter byte 0 (none), then indices
    scanlines[:, 0] = 0
    scanlines[:, 1:] = values
    table = np.zeros((256, 3), dtype=np.uint8)
    if len(palette):
        table[: len(palette)] = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    _write_png_file(path, scanlines, 3, level, table.tobytes())


def parse_color(value: Any, *, what: str) -> tuple[int, int, int]:
    """``#rrggbb`` text or an ``[r, g, b]`` list as a colour, or ValueError saying why not."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 7 and text.startswith("#") and all(c in "0123456789abcdefABCDEF" for c in text[1:]):
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
    known = set(ontology.names)  # Ontology's own membership test scans its classes
    for _, ann in dataset.annotations():
        if ann.label not in known:
            ontology = ontology.with_class(LabelClass(ann.label, default_color(len(ontology) + 1)))
            known.add(ann.label)
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
    """Whether ``json.dumps(value, allow_nan=False)`` succeeds; plain scalars and flat lists of numbers
    (COCO's ``bbox``, ``area``) are answered without serializing them."""
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple) and all(
        isinstance(v, int) or (isinstance(v, float) and math.isfinite(v)) for v in value
    ):
        return True
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


def _decode_counts(strings: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Run lengths of several compressed COCO RLE strings at once: ``(values, first)`` where the runs of
    string ``k`` are ``values[first[k]:first[k + 1]]`` (``first`` has one entry more than ``strings``).

    pycocotools has no call for this, so its coding (5-bit groups with a continuation bit, a sign bit,
    counts from the fourth on stored as the difference to the one two before) is undone in numpy for all
    the strings together, instead of decoding each whole ``(H, W)`` image.
    """
    chars = np.frombuffer(b"".join(strings), dtype=np.uint8).astype(np.int64) - 48
    ends = np.cumsum([len(text) for text in strings])  # (K,) character offsets where each string ends
    last = np.flatnonzero((chars & 0x20) == 0)  # the last character of each value
    start = np.empty_like(last)
    start[:1] = 0
    start[1:] = last[:-1] + 1
    lengths = last - start + 1
    shift = 5 * (np.arange(chars.size) - np.repeat(start, lengths))
    values = np.add.reduceat((chars & 0x1F) << shift, start) if chars.size else np.zeros(0, np.int64)
    negative = (chars[last] & 0x10) != 0
    values[negative] -= np.left_shift(1, 5 * lengths[negative])
    first = np.zeros(len(strings) + 1, dtype=np.int64)
    first[1:] = np.searchsorted(last, ends - 1, side="right")
    # counts[j] += counts[j - 2] for j >= 3: a running sum along each string's odd runs and its even runs
    # from the third on; chains are made contiguous by a stable sort, summed, and put back.
    owner = np.repeat(np.arange(len(strings)), np.diff(first))
    local = np.arange(values.size) - first[owner]
    chain = np.where(local == 0, 3 * owner, 3 * owner + 1 + (local & 1))
    order = np.argsort(chain, kind="stable")
    ordered = values[order]
    total = np.cumsum(ordered)
    head = np.ones(values.size, dtype=bool)
    head[1:] = chain[order][1:] != chain[order][:-1]
    before = np.maximum.accumulate(np.where(head, np.arange(values.size), 0))
    summed = total - (total[before] - ordered[before])
    values[order] = summed
    return values, first


class ColumnBand(NamedTuple):
    """A mask's pixels inside the band of image columns it touches, without decoding the whole image.

    ``pixels`` is the band flattened column-major, ``(stop - start) * H`` bools, which is exactly the
    slice ``ids.T[start:stop].ravel()`` of an ``(H, W)`` map: a column-major ``(W, H)`` map is painted and
    compared band by band, in time proportional to the object's columns rather than to the image.
    """

    start: int
    stop: int
    pixels: np.ndarray
    area: int


def area_counts(shapes: Sequence[Shape], size: ImageSize) -> list[bytes]:
    """The compressed RLE counts of each area shape at ``size``: exactly :func:`shape_to_mask`'s pixels.

    Polygons without holes, the common case, are rasterized by pycocotools in one call for the rings of
    all of them (what :func:`~seglab.core.raster.polygon_to_mask` does one polygon at a time), parts of
    one polygon united; masks give their own RLE and the rest goes through :func:`shape_to_mask`.
    """
    out: list[bytes] = [b""] * len(shapes)
    rings: list[np.ndarray] = []
    owners: list[int] = []
    for i, shape in enumerate(shapes):
        if isinstance(shape, Polygon) and not shape.has_holes:
            exteriors = [p.exterior for p in shape.parts if len(p.exterior) >= 3]
            if exteriors:
                rings.extend(ring.reshape(-1) for ring in exteriors)  # float64 arrays: no list round trip
                owners.extend([i] * len(exteriors))
                continue
        out[i] = shape_to_mask(shape, size).rle["counts"]
    if rings:
        grouped: dict[int, list[dict]] = {}
        for i, rle in zip(owners, coco_mask.frPyObjects(rings, size.height, size.width), strict=True):
            grouped.setdefault(i, []).append(rle)
        for i, group in grouped.items():
            out[i] = (group[0] if len(group) == 1 else coco_mask.merge(group, intersect=False))["counts"]
    return out


def column_bands(counts: Sequence[bytes], height: int) -> list[ColumnBand]:
    """The :class:`ColumnBand` of each compressed RLE ``counts`` (masks of image height ``height``),
    decoded together."""
    if not counts:
        return []
    values, first = _decode_counts(counts)
    count = len(counts)
    owner = np.repeat(np.arange(count), np.diff(first))  # (V,) which mask each run belongs to
    local = np.arange(values.size) - first[owner]
    foreground = (local & 1) == 1
    area = np.bincount(owner[foreground], weights=values[foreground], minlength=count).astype(np.int64)
    filled = np.flatnonzero(foreground & (values > 0))  # foreground runs that hold pixels
    has = area > 0
    lo = np.zeros(count, dtype=np.int64)  # first and last filled run of each mask (global run index)
    hi = np.full(count, -1, dtype=np.int64)
    lo[has] = filled[np.searchsorted(owner[filled], np.flatnonzero(has), side="left")]
    hi[has] = filled[np.searchsorted(owner[filled], np.flatnonzero(has), side="right") - 1]
    total = np.cumsum(values)
    base = np.where(first[:-1] > 0, total[np.maximum(first[:-1] - 1, 0)], 0)  # runs before each mask
    begin = np.where(has, total[np.maximum(lo - 1, 0)] - base, 0)  # linear span of the foreground
    end = np.where(has, total[np.maximum(hi, 0)] - base, 0)
    start = begin // height
    stop = np.where(has, (end - 1) // height + 1, start)
    # one repeat for every band: the background run before the first foreground pixel (cut at the band's
    # first column), the runs up to the last foreground pixel, and background padding to the band's end
    keep = (np.arange(values.size) >= np.repeat(lo - 1, np.diff(first))) & (
        np.arange(values.size) <= np.repeat(hi, np.diff(first))
    )
    runs = np.where(keep, values, 0)
    runs[np.maximum(lo - 1, 0)[has]] -= (start * height)[has]
    pad_at = np.where(has, hi + 1, first[1:])  # after each band's last run
    runs = np.insert(runs, pad_at, (stop - start) * height - (end - start * height))
    paint = np.insert(foreground & keep, pad_at, False)
    pixels = np.repeat(paint, runs)
    offsets = np.zeros(count + 1, dtype=np.int64)
    offsets[1:] = np.cumsum((stop - start) * height)
    spans = zip(start.tolist(), stop.tolist(), offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)
    return [ColumnBand(a, b, pixels[o:e], n) for (a, b, o, e), n in zip(spans, area.tolist(), strict=True)]


def report_hidden(
    report: LossReport,
    image: ImageRecord,
    size: ImageSize,
    anns: Sequence[Annotation],
    owner: np.ndarray,
    owned_by: Sequence[int | None],
    bands: Sequence[ColumnBand] | None = None,
) -> None:
    """Report annotations whose pixels ended up owned by another label (overlaps, z-order) or nobody.

    ``owner`` is the written ``(H, W)`` map and ``owned_by[i]`` the value annotation ``i`` should own
    (None: it got no value at all). ``bands``: each annotation's :class:`ColumnBand` when the caller has
    them already (painting), so that no shape is rasterized twice.
    """
    if bands is None:
        bands = column_bands(area_counts([a.shape for a in anns], size), size.height)
    by_column = owner.T  # (W, H): a band of columns is a block of rows here
    for i, (ann, value) in enumerate(zip(anns, owned_by, strict=True)):
        band = bands[i]
        kept = 0
        if band.area and value is not None:
            kept = int(np.count_nonzero(by_column[band.start : band.stop].reshape(-1)[band.pixels] == value))
        _report_loss(report, image, ann, band.area, kept, value is not None)


def report_hidden_counts(
    report: LossReport,
    image: ImageRecord,
    anns: Sequence[Annotation],
    painting: RunPainting,
    owned_by: Sequence[int | None],
) -> None:
    """:func:`report_hidden` from the pixel counts of :func:`paint_runs` (nothing decoded again)."""
    for ann, area, kept, value in zip(
        anns, painting.areas.tolist(), painting.kept.tolist(), owned_by, strict=True
    ):
        _report_loss(report, image, ann, area, kept, value is not None)


def _report_loss(
    report: LossReport, image: ImageRecord, ann: Annotation, area: int, kept: int, owns: bool
) -> None:
    """One annotation's entry: ``area`` of its own pixels, ``kept`` of them still its value in the map,
    ``owns`` whether it was given a value at all."""
    if area == 0:
        _tally(report, "annotations with an empty area", image, ann)
    elif not owns or kept == 0:
        _tally(report, "annotations hidden entirely by overlapping annotations", image, ann)
    elif kept < area:
        _tally(report, "pixels hidden by overlapping annotations (z-order)", image, ann, area - kept)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of a 1-D array by a sort: numpy 2's hashing ``unique`` is ten times slower on the
    few thousand run ends of an image."""
    ordered = np.sort(values)
    keep = np.empty(ordered.size, dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


class RunPainting(NamedTuple):
    """What :func:`paint_runs` painted: the column-major pixel range cut at ``bounds`` (``(E + 1,)``,
    from 0 to ``W * H``) into intervals of one value each, ``interval_values`` (``(E,)``, 0 = nothing);
    per shape, ``areas`` counts its own pixels and ``kept`` those that ended up with its value; per
    painted value ``v``, ``value_areas[v]`` counts its pixels and ``value_boxes[v]`` is their
    ``x, y, w, h`` (zeros for a value without pixels)."""

    size: ImageSize
    bounds: np.ndarray
    interval_values: np.ndarray
    areas: np.ndarray
    kept: np.ndarray
    value_areas: np.ndarray
    value_boxes: np.ndarray

    @property
    def by_column(self) -> np.ndarray:
        """The ``(W, H)`` map of values (``.T`` is the ``(H, W)`` image), uint8 where the values fit."""
        dtype = np.uint8 if self.value_areas.size <= 256 else np.int32
        values = np.repeat(self.interval_values.astype(dtype), np.diff(self.bounds))
        return values.reshape(self.size.width, self.size.height)


def paint_runs(
    counts: Sequence[bytes], values: Sequence[int], order: Sequence[int], size: ImageSize
) -> RunPainting:
    """Paint shapes given as compressed RLE ``counts`` in ``order`` (later on top), shape ``i`` with
    ``values[i]`` (> 0; shapes left out of ``order`` are counted, not painted), without decoding a mask.

    The foreground runs of all shapes cut the column-major pixel range into elementary intervals that
    every run covers whole; the value of an interval is that of the last shape painted over it, so a
    map is one ``np.repeat`` of a few thousand values away, and every count and box comes from the
    intervals. The result is pixel for pixel what painting each decoded mask in turn gives.
    """
    height, width = size.height, size.width
    shapes = len(counts)
    if shapes:
        runs, first = _decode_counts(counts)
    else:
        runs, first = np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
    owner = np.repeat(np.arange(shapes), np.diff(first))  # (R,) the shape of each run
    stop = np.cumsum(runs)
    stop -= np.concatenate(([0], stop))[first[:-1]][owner]  # each shape's runs restart at pixel 0
    foreground = ((np.arange(runs.size) - first[owner]) & 1).astype(bool) & (runs > 0)
    areas = np.bincount(owner[foreground], weights=runs[foreground], minlength=shapes).astype(np.int64)

    order_arr = np.asarray(order, dtype=np.int64)
    rank = np.full(shapes, -1, dtype=np.int64)  # position in the paint order, -1: not painted
    rank[order_arr] = np.arange(order_arr.size)
    value_of_rank = np.asarray(values, dtype=np.int64).reshape(-1)[order_arr]  # (P,)
    painted = foreground & (rank[owner] >= 0)
    run_stop = stop[painted]
    run_start = run_stop - runs[painted]
    run_rank = rank[owner[painted]]
    bounds = _sorted_unique(np.concatenate(([0, height * width], run_start, run_stop)))  # (E + 1,)
    lo = np.searchsorted(bounds, run_start)
    n = np.searchsorted(bounds, run_stop) - lo  # elementary intervals inside each run
    pair_interval = np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))  # (pairs,)
    pair_rank = np.repeat(run_rank, n)
    top = np.full(bounds.size - 1, -1, dtype=np.int64)  # last paint rank over each interval
    np.maximum.at(top, pair_interval, pair_rank)
    lengths = np.diff(bounds)
    interval_value = np.zeros(top.size, dtype=np.int64)
    covered = top >= 0
    interval_value[covered] = value_of_rank[top[covered]]

    same = interval_value[pair_interval] == value_of_rank[pair_rank]  # still this shape's value there
    kept = np.zeros(shapes, dtype=np.int64)
    kept[order_arr] = np.bincount(
        pair_rank[same], weights=lengths[pair_interval[same]], minlength=order_arr.size
    ).astype(np.int64)

    top_value = int(value_of_rank.max()) if value_of_rank.size else 0
    value_areas = np.bincount(interval_value, weights=lengths, minlength=top_value + 1).astype(np.int64)
    value_boxes = np.zeros((top_value + 1, 4), dtype=np.int64)
    if covered.any():
        v = interval_value[covered]
        first_px, last_px = bounds[:-1][covered], bounds[1:][covered] - 1
        col0, col1 = first_px // height, last_px // height
        one_column = col0 == col1  # an interval over several columns reaches the top and bottom rows
        row0 = np.where(one_column, first_px % height, 0)
        row1 = np.where(one_column, last_px % height, height - 1)
        box_lo = np.full((2, top_value + 1), np.iinfo(np.int64).max)
        box_hi = np.full((2, top_value + 1), -1)
        np.minimum.at(box_lo[0], v, col0)  # 1-D ufunc.at: numpy's fast path, 20x its 2-D one
        np.minimum.at(box_lo[1], v, row0)
        np.maximum.at(box_hi[0], v, col1)
        np.maximum.at(box_hi[1], v, row1)
        has = value_areas > 0
        has[0] = False
        value_boxes[has, :2] = box_lo.T[has]
        value_boxes[has, 2:] = box_hi.T[has] + 1 - box_lo.T[has]
    return RunPainting(size, bounds, interval_value, areas, kept, value_areas, value_boxes)


def write_rgb_png_runs(path: Path, painting: RunPainting, colors: np.ndarray, *, level: int = 1) -> None:
    """:func:`write_rgb_png` of ``painting``'s map, its pixel ``colors[value]``, without the map itself.

    The colours are repeated over the intervals as 4-byte pixels in column order, which Pillow (already
    loaded for reading) turns into rows and packs to RGB: a third less time than painting a uint8 map,
    transposing it and looking its colours up.
    """
    height, width = painting.size.height, painting.size.width
    table = np.zeros((len(colors), 4), dtype=np.uint8)  # R, G, B, pad: one uint32 per colour
    table[:, :3] = colors
    columns = np.repeat(table.view(np.uint32).ravel()[painting.interval_values], np.diff(painting.bounds))
    image = Image.frombuffer("RGBX", (height, width), columns, "raw", "RGBX", 0, 1)  # a column per row
    rgb = image.transpose(Image.Transpose.TRANSPOSE).tobytes("raw", "RGB")
    scanlines = np.empty((height, 1 + 3 * width), dtype=np.uint8)  # filter byte 0 (none), then RGB
    scanlines[:, 0] = 0
    scanlines[:, 1:] = np.frombuffer(rgb, dtype=np.uint8).reshape(height, 3 * width)
    _write_png_file(path, scanlines, 2, level)


def report_annotation_fields(
    report: LossReport,
    image: ImageRecord,
    ann: Annotation,
    *,
    keeps_crowd: bool,
    kept_extra: Collection[str] = (),
) -> None:
    """Report the fields of an annotation that a label image cannot hold."""
    lost: list[str] = []
    if ann.attributes:
        lost.append("annotation attributes")
    if ann.score is not None:
        lost.append("annotation scores")
    if ann.uncertainty is not None:
        lost.append("annotation uncertainties")
    if ann.source is Source.MODEL:
        lost.append("model-made flags (read back as human labels)")
    if ann.track_id is not None:
        lost.append("track ids")
    if ann.z_order != 0:
        lost.append("z-order values (overlaps are resolved into the pixels)")
    if ann.crowd and not keeps_crowd:
        lost.append("crowd flags")
    for what in lost:
        _tally(report, what, image, ann)
    if any(k not in kept_extra for k in ann.extra):
        what = "annotation extra fields"
        if what in report.examples:
            report.counts[what] += 1
        else:
            keys = [k for k in ann.extra if k not in kept_extra]
            report.add(what, f"{_where(image, ann)}: {', '.join(map(str, keys[:5]))}")


def _where(image: ImageRecord, ann: Annotation) -> str:
    return f"image {image.file_name!r} annotation {ann.id}"


def _tally(report: LossReport, what: str, image: ImageRecord, ann: Annotation, count: int = 1) -> None:
    """``report.add(what, _where(image, ann), count)``, the example text made only for the first of its
    kind: the label-image writers report per annotation, 100,000 times on a big dataset."""
    if what in report.examples:
        report.counts[what] += count
    else:
        report.add(what, _where(image, ann), count)


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
