"""COCO panoptic segmentation (https://cocodataset.org/#format-data, panopticapi conventions).

Layout: ``annotations/panoptic_<subset>.json`` beside a folder ``annotations/panoptic_<subset>/`` of RGB
PNGs, one per image, whose pixel value is a segment id ``R + 256 * G + 256**2 * B`` (0 = void). Each
image's entry lists its ``segments_info`` (``id``, ``category_id``, ``iscrowd``, ``bbox`` ``[x, y, w, h]``,
``area``); categories carry ``isthing`` (seglab's thing/stuff kind), ``color`` and ``supercategory``.
Images are looked for in ``images/<subset>/``, ``images/``, ``<subset>/`` and the dataset folder.

Read (strict, like panopticapi's checks): each segment becomes a mask annotation, crowd from ``iscrowd``,
its segment id kept in ``extra["segment_id"]`` (and as the annotation id when segment ids are unique over
the dataset). A PNG that is missing, unreadable or of another size than its image, pixels whose id no
segment lists, and listed segments without pixels are problems named by file. ``bbox`` and ``area`` are
derived from the PNG, which is the ground truth. Each PNG is decoded once and its masks kept as RLE.

Write: per image, stuff merged per class and things per instance (``group_id`` joins parts), higher
``z_order`` on top, by the rules of :func:`~seglab.core.segmentation.panoptic_map`. Each shape is
rasterized once (pycocotools, all the image's polygons in one call) and painted from its runs, never
decoded to pixels: the few thousand intervals of one value that the runs cut the image into give the
segments' areas and boxes and the hidden-pixel report, and the PNG's colours are repeated over them before
ISA-L deflates the rows. Segment ids from ``extra`` are kept where unique, others are drawn near the
category colour as panopticapi does, so the PNGs stay viewable. Everything a panoptic PNG cannot hold is
listed in the :class:`LossReport`.
"""

from __future__ import annotations

import re
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seglab.core.annotation import Annotation
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError, UnsafeInputError
from seglab.core.ontology import LabelClass, LabelKind, Ontology, ShapeType, default_color
from seglab.formats.base import FormatSpec, LossReport, ReadOptions, WriteOptions
from seglab.formats.coco import jsonio
from seglab.formats.label_maps import (
    RunPainting,
    area_counts,
    assign_ids,
    declared_ontology,
    image_size_for_writing,
    jsonable,
    masks_by_value,
    paint_runs,
    parse_color,
    read_label_image,
    report_annotation_fields,
    report_hidden_counts,
    report_image_fields,
    report_ontology_fields,
    split_area_annotations,
    unique_name,
    write_rgb_png_runs,
)
from seglab.formats.media import FileMedia, copy_media
from seglab.formats.safe_io import load_json, safe_relative

NAME = "coco-panoptic"
DEFAULT_SUBSET = "default"
MAX_SEGMENT_ID = 256**3 - 1
PNG_COMPRESS_LEVEL = 1  # ISA-L deflate level (0..3): segment maps are mostly flat and compress well at 1
_JSON_RE = re.compile(r"^panoptic_(.+)\.json$")
_SUBSET_RE = re.compile(r"^[\w.-]+$")
_SEGMENT_KEYS = frozenset({"id", "category_id", "iscrowd", "bbox", "area"})
_CATEGORY_KEYS = frozenset({"id", "name", "supercategory", "isthing", "color"})
_IMAGE_KEYS = frozenset({"id", "file_name", "width", "height"})
_ENTRY_KEYS = frozenset({"image_id", "file_name", "segments_info"})
_TOP_KEYS = frozenset({"images", "annotations", "categories"})
# seglab's own keys in ImageRecord.extra: the PNG's name when it is not the image's, unknown entry keys
PNG_NAME_KEY = "panoptic_file_name"
ENTRY_EXTRA_KEY = "panoptic_annotation"
SEGMENT_ID_KEY = "segment_id"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def rgb_to_id(rgb: np.ndarray) -> np.ndarray:
    """Segment ids ``R + 256 G + 256^2 B`` of an ``(H, W, 3)`` uint8 image, as ``(H, W)`` uint32."""
    c = rgb.astype(np.uint32)
    return c[..., 0] + (c[..., 1] << 8) + (c[..., 2] << 16)


def id_to_rgb(ids: np.ndarray) -> np.ndarray:
    """The ``(H, W, 3)`` uint8 colours of an ``(H, W)`` segment id map (inverse of :func:`rgb_to_id`)."""
    ids = ids.astype(np.uint32)
    return np.stack([ids & 0xFF, (ids >> 8) & 0xFF, (ids >> 16) & 0xFF], axis=-1).astype(np.uint8)


# ---------------------------------------------------------------------------------------------- detect


def _subset_of(json_path: Path) -> str:
    m = _JSON_RE.match(json_path.name)
    return m.group(1) if m else json_path.stem


def _json_files(path: Path) -> list[Path]:
    """The panoptic JSON files of a folder (``annotations/panoptic_*.json``, else ``panoptic_*.json``)."""
    for folder in (path / "annotations", path):
        if folder.is_dir():
            found = sorted(p for p in folder.glob("panoptic_*.json") if p.is_file())
            if found:
                return found
    return []


def _mentions_segments_info(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return b'"segments_info"' in fh.read(1 << 20)
    except OSError:
        return False


def detect(path: Path) -> float:
    """0.95 with the PNG folder beside a ``panoptic_*.json``, less on weaker evidence, else 0."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() != ".json":
            return 0.0
        if _JSON_RE.match(path.name):
            return 0.95 if path.with_suffix("").is_dir() else 0.7
        return 0.6 if _mentions_segments_info(path) else 0.0
    if not path.is_dir():
        return 0.0
    files = _json_files(path)
    if not files:
        return 0.0
    return 0.95 if any(f.with_suffix("").is_dir() for f in files) else 0.7


# ------------------------------------------------------------------------------------------------ read


@dataclass
class _Reader:
    root: Path
    options: ReadOptions
    classes: dict[str, LabelClass] = field(default_factory=dict)
    images: list[ImageRecord] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def categories(self, data: dict, file: Path) -> dict[int, str]:
        """Category id -> class name of one file; the classes join the ontology in first-seen order."""
        by_id: dict[int, str] = {}
        for i, raw in enumerate(data["categories"]):
            where = f"categories[{i}]"
            if (
                not isinstance(raw, dict)
                or not _is_int(raw.get("id"))
                or not isinstance(raw.get("name"), str)
            ):
                raise FormatError("a category needs an integer id and a name", file=str(file), where=where)
            cid, name = int(raw["id"]), raw["name"]
            if cid in by_id:
                raise FormatError(f"category id {cid} appears twice", file=str(file), where=where)
            isthing = raw.get("isthing", 1)
            if isthing not in (0, 1):
                raise FormatError(f"isthing is {isthing!r}, not 0 or 1", file=str(file), where=where)
            color: tuple[int, int, int] = default_color(len(self.classes) + 1)
            if "color" in raw:
                try:
                    color = parse_color(raw["color"], what="color")
                except ValueError as exc:
                    raise FormatError(str(exc), file=str(file), where=where) from None
            parent = raw.get("supercategory")
            by_id[cid] = name
            if name not in self.classes:
                self.classes[name] = LabelClass(
                    name,
                    color,
                    LabelKind.THING if isthing else LabelKind.STUFF,
                    id=cid,
                    parent=parent if isinstance(parent, str) and parent else None,
                    extra={k: v for k, v in raw.items() if k not in _CATEGORY_KEYS},
                )
        return by_id

    def media(self, subset: str, file_name: str) -> FileMedia | None:
        for folder in (self.root / "images" / subset, self.root / "images", self.root / subset, self.root):
            candidate = folder / file_name
            if candidate.is_file():
                return FileMedia(candidate)
        return None

    def read_file(self, file: Path) -> None:
        data = load_json(file)
        if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in _TOP_KEYS):
            raise FormatError(
                "not a COCO panoptic file: needs lists images, annotations, categories", file=str(file)
            )
        for key, value in data.items():
            if key not in _TOP_KEYS:
                self.info.setdefault(key, value)
        subset = _subset_of(file)
        png_dir = file.with_suffix("")
        cats = self.categories(data, file)
        entries = self.entries(data, file)
        seen: set[int] = set()
        for i, raw in enumerate(data["images"]):
            where = f"images[{i}]"
            if (
                not isinstance(raw, dict)
                or not _is_int(raw.get("id"))
                or not isinstance(raw.get("file_name"), str)
            ):
                self.options.reject(file, where, "an image needs an integer id and a file_name")
                continue
            image_id = int(raw["id"])
            if image_id in seen:
                self.options.reject(file, where, f"image id {image_id} appears twice")
                continue
            seen.add(image_id)
            try:
                name = safe_relative(raw["file_name"], file=str(file), where=where)
            except UnsafeInputError as exc:
                self.options.reject(file, where, exc.reason)
                continue
            self.image(file, png_dir, subset, raw, name, entries.pop(image_id, None), cats)
        for image_id in entries:
            self.options.reject(file, f"annotation of image_id {image_id}", "no image with this id")

    def entries(self, data: dict, file: Path) -> dict[int, dict]:
        out: dict[int, dict] = {}
        for i, raw in enumerate(data["annotations"]):
            where = f"annotations[{i}]"
            if (
                not isinstance(raw, dict)
                or not _is_int(raw.get("image_id"))
                or not isinstance(raw.get("file_name"), str)
                or not isinstance(raw.get("segments_info"), list)
            ):
                self.options.reject(
                    file, where, "needs an integer image_id, a file_name and a segments_info list"
                )
                continue
            if raw["image_id"] in out:
                self.options.reject(file, where, f"a second annotation for image_id {raw['image_id']}")
                continue
            out[int(raw["image_id"])] = raw
        return out

    def image(
        self,
        file: Path,
        png_dir: Path,
        subset: str,
        raw: dict,
        name: str,
        entry: dict | None,
        cats: dict[int, str],
    ) -> None:
        where = f"image {raw['id']} ({name})"
        extra = {k: v for k, v in raw.items() if k not in _IMAGE_KEYS}
        media = self.media(subset, name)
        size = self.size(file, raw, media, where)
        annotations: list[Annotation] = []
        if entry is None:
            self.options.reject(file, where, "no entry in annotations, so no panoptic PNG")
        else:
            png_name = entry["file_name"]
            if png_name != _default_png_name(name):
                extra[PNG_NAME_KEY] = png_name
            entry_extra = {k: v for k, v in entry.items() if k not in _ENTRY_KEYS}
            if entry_extra:
                extra[ENTRY_EXTRA_KEY] = entry_extra
            annotations = self.segments(file, png_dir, entry, size, cats, where)
        self.images.append(
            ImageRecord(
                id=int(raw["id"]),
                file_name=name,
                size=size,
                annotations=tuple(annotations),
                media=media,
                subset=subset,
                extra=extra,
            )
        )

    def size(self, file: Path, raw: dict, media: FileMedia | None, where: str) -> ImageSize | None:
        w, h = raw.get("width"), raw.get("height")
        if _is_int(w) and _is_int(h) and w > 0 and h > 0:
            return ImageSize(int(w), int(h))
        if w is not None or h is not None:
            self.options.reject(file, where, f"width/height {w!r}x{h!r} are not positive integers")
        if media is not None:
            try:
                return media.size()
            except FormatError as exc:
                self.options.reject(media.path, where, exc.reason)
        return None

    def segments(
        self, file: Path, png_dir: Path, entry: dict, size: ImageSize | None, cats: dict[int, str], where: str
    ) -> list[Annotation]:
        try:
            png = png_dir / safe_relative(entry["file_name"], file=str(file), where=where)
        except UnsafeInputError as exc:
            self.options.reject(file, where, exc.reason)
            return []
        if not png.is_file():
            self.options.reject(png, where, "panoptic PNG is missing")
            return []
        rgb = read_label_image(png, size, self.options, where=where, rgb=True)
        if rgb is None:
            return []
        masks = masks_by_value(rgb_to_id(rgb))  # one decode and one pass for every segment of the image
        listed: dict[int, tuple[str, dict]] = {}
        refused: set[int] = set()
        for k, seg in enumerate(entry["segments_info"]):
            seg_where = f"{where} segments_info[{k}]"
            if not isinstance(seg, dict) or not _is_int(seg.get("id")) or not 0 < seg["id"] <= MAX_SEGMENT_ID:
                self.options.reject(file, seg_where, "a segment needs an integer id in 1..16777215")
                continue
            sid = int(seg["id"])
            reason = None
            if sid in listed or sid in refused:
                reason = f"segment id {sid} is listed twice"
            elif seg.get("category_id") not in cats:
                reason = f"unknown category_id {seg.get('category_id')!r}"
            elif seg.get("iscrowd", 0) not in (0, 1):
                reason = f"iscrowd is {seg.get('iscrowd')!r}, not 0 or 1"
            elif sid not in masks:
                reason = f"segment id {sid} has no pixels in {png.name}"
            if reason is not None:
                self.options.reject(file, seg_where, reason)
                refused.add(sid)
                continue
            listed[sid] = (cats[seg["category_id"]], seg)
        unlisted = [v for v in masks if v != 0 and v not in listed and v not in refused]
        if unlisted:
            self.options.reject(
                png,
                where,
                f"{len(unlisted)} segment id(s) in the PNG are not in segments_info (first: {unlisted[0]})",
            )
        anns = []
        for sid, (label, seg) in listed.items():
            extra = {SEGMENT_ID_KEY: sid} | {k: v for k, v in seg.items() if k not in _SEGMENT_KEYS}
            anns.append(
                Annotation(
                    id=0, label=label, shape=masks[sid], crowd=bool(seg.get("iscrowd", 0)), extra=extra
                )
            )
        return anns

    def dataset(self) -> Dataset:
        images = self.images
        if len({i.id for i in images}) != len(images):  # subsets reuse ids: number the images 1..N
            images = [img.with_(id=n) for n, img in enumerate(images, start=1)]
        sids = [a.extra[SEGMENT_ID_KEY] for img in images for a in img.annotations]
        keep = len(set(sids)) == len(sids)
        next_id = 1
        numbered = []
        for img in images:
            anns = []
            for a in img.annotations:
                anns.append(a.with_(id=a.extra[SEGMENT_ID_KEY] if keep else next_id))
                next_id += 1
            numbered.append(img.with_annotations(anns))
        return Dataset(Ontology(tuple(self.classes.values())), tuple(numbered), info=self.info)


def _default_png_name(file_name: str) -> str:
    stem = file_name.rsplit(".", 1)[0] if "." in file_name.rsplit("/", 1)[-1] else file_name
    return f"{stem}.png"


def read(path: Path, options: ReadOptions) -> Dataset:
    """Read every ``panoptic_<subset>.json`` of a folder (or one such file) with its PNGs."""
    path = Path(path)
    if path.is_file():
        files = [path]
        root = path.parent.parent if path.parent.name == "annotations" else path.parent
    else:
        files = _json_files(path)
        root = path
        if not files:
            raise FormatError("no annotations/panoptic_<subset>.json found", file=str(path))
    reader = _Reader(root, options)
    for file in files:
        reader.read_file(file)
    return reader.dataset()


# ----------------------------------------------------------------------------------------------- write


def _safe_subset(name: str) -> str:
    if not _SUBSET_RE.match(name) or name in (".", ".."):
        raise FormatError(f"subset name {name!r} cannot be a file name (letters, digits, _ . - only)")
    return name


def _clamp(channel: int) -> int:
    return 0 if channel < 0 else 255 if channel > 255 else channel


class _Jitter:
    """Colour offsets in -30..30 drawn three at a time from a seeded generator, in batches.

    numpy's bounded integers come out of the stream in the same order whether drawn 3 or 3 * n at a time,
    so the ids are those of one ``integers(-30, 31, size=3)`` call per try, at a fraction of the cost.
    """

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._batch: list[list[int]] = []
        self._next = 0
        self._size = 8

    def next(self) -> list[int]:
        if self._next == len(self._batch):
            self._batch = self._rng.integers(-30, 31, size=(self._size, 3)).tolist()
            self._next = 0
            self._size = min(self._size * 2, 1024)
        self._next += 1
        return self._batch[self._next - 1]


def segment_ids(
    candidates: Sequence[int | None],
    colors: Sequence[tuple[int, int, int]],
    is_thing: Sequence[bool],
    seed: int,
) -> list[int]:
    """Unique segment ids: each candidate where valid and free, else an id near the class colour.

    As in panopticapi's IdGenerator a stuff segment takes its category colour itself, a thing segment a
    colour jittered around it, so the PNG stays readable by eye; a deterministic generator (``seed``)
    keeps the output reproducible. Id 0 (void) is never used.
    """
    out: list[int | None] = [None] * len(candidates)
    used: set[int] = set()
    for i, cand in enumerate(candidates):
        if _is_int(cand) and 0 < cand <= MAX_SEGMENT_ID and cand not in used:
            out[i] = int(cand)
            used.add(int(cand))
    jitter = _Jitter(seed)
    fallback = 1
    for i, value in enumerate(out):
        if value is not None:
            continue
        red, green, blue = (int(c) for c in colors[i])
        choice = None
        if not is_thing[i]:
            sid = red + 256 * green + 65536 * blue
            if sid and sid not in used:
                choice = sid
        for _ in range(64 if choice is None else 0):
            dr, dg, db = jitter.next()
            sid = _clamp(red + dr) + 256 * _clamp(green + dg) + 65536 * _clamp(blue + db)
            if sid and sid not in used:
                choice = sid
                break
        while choice is None:
            if fallback not in used:
                choice = fallback
            fallback += 1
        out[i] = choice
        used.add(choice)
    return [int(v) for v in out if v is not None]


@dataclass
class _Segment:
    """One painted segment: ``id`` is its value in the painted map, ``members`` index the annotations."""

    id: int
    label: str
    is_thing: bool
    crowd: bool
    members: list[int]
    area: int = 0
    bbox: tuple[int, int, int, int] = (0, 0, 0, 0)  # x, y, w, h of its pixels


def _paint(
    anns: Sequence[Annotation], classes: dict[str, LabelClass], size: ImageSize
) -> tuple[list[_Segment], RunPainting]:
    """Paint one image by the rules of :func:`seglab.core.segmentation.panoptic_map`.

    Things are one segment per annotation (``group_id`` joins parts), stuff one per class; higher
    ``z_order`` paints on top, ties go to the later annotation. Each shape is rasterized once and painted
    from its runs (:func:`~seglab.formats.label_maps.paint_runs`), whose pixel counts also feed the
    hidden-pixel report. Returns the segments that kept pixels (in first-painted order, ``id`` being the
    value painted) and the painting (``by_column.T`` is the ``(H, W)`` map, 0 = void).
    """
    keys: dict[tuple, _Segment] = {}
    values = [0] * len(anns)
    order = []
    for i in sorted(range(len(anns)), key=lambda k: anns[k].z_order):
        ann = anns[i]
        cls = classes.get(ann.label)
        if cls is None:
            continue
        if cls.kind is LabelKind.STUFF:
            key: tuple = ("stuff", ann.label)
        elif ann.group_id is not None:
            key = ("group", ann.label, ann.group_id)
        else:
            key = ("ann", i)
        seg = keys.get(key)
        if seg is None:
            seg = keys[key] = _Segment(len(keys) + 1, ann.label, cls.is_thing, False, [])
        seg.members.append(i)
        seg.crowd = seg.crowd or ann.crowd
        values[i] = seg.id
        order.append(i)
    painting = paint_runs(area_counts([a.shape for a in anns], size), values, order, size)
    areas, boxes = painting.value_areas.tolist(), painting.value_boxes.tolist()
    kept = []
    for seg in keys.values():
        seg.area = areas[seg.id]
        if seg.area == 0:
            continue  # no pixels, or covered entirely by segments painted above it
        x, y, w, h = boxes[seg.id]
        seg.bbox = (x, y, w, h)
        kept.append(seg)
    return kept, painting


@dataclass
class _Writer:
    dst: Path
    ontology: Ontology
    cat_ids: dict[str, int]
    options: WriteOptions
    report: LossReport
    classes: dict[str, LabelClass] = field(init=False)

    def __post_init__(self) -> None:
        self.classes = {c.name: c for c in self.ontology.classes}  # Ontology lookups scan its classes

    def image(self, image: ImageRecord, subset: str, png_names: set[str]) -> tuple[dict, dict]:
        """Write one image's PNG (and copy its file); return its ``images`` and ``annotations`` entries."""
        size = image_size_for_writing(image)
        name = safe_relative(image.file_name, file=image.file_name, where=f"image {image.id}")
        report_image_fields(self.report, image, kept_extra=self._kept_image_extra(image))
        anns = split_area_annotations(image, size, self.report)
        segments, painting = _paint(anns, self.classes, size)
        owner: list[int | None] = [None] * len(anns)
        for seg in segments:
            for i in seg.members:
                owner[i] = seg.id
        report_hidden_counts(self.report, image, anns, painting, owner)

        seed = zlib.crc32(f"{subset}/{name}".encode())
        final = segment_ids(
            [anns[seg.members[0]].extra.get(SEGMENT_ID_KEY) for seg in segments],
            [self.classes[seg.label].color for seg in segments],
            [seg.is_thing for seg in segments],
            seed,
        )
        colors = np.zeros((len(anns) + 1, 3), dtype=np.uint8)  # painted value -> RGB; 0 stays black
        segments_info = []
        for seg, sid in zip(segments, final, strict=True):
            colors[seg.id] = (sid & 0xFF, (sid >> 8) & 0xFF, sid >> 16)
            members = [anns[i] for i in seg.members]
            self._report_segment(image, seg.is_thing, members)
            info: dict[str, Any] = {
                "id": sid,
                "category_id": self.cat_ids[seg.label],
                "iscrowd": int(seg.crowd),
                "bbox": list(seg.bbox),
                "area": seg.area,
            }
            for key, value in members[0].extra.items():
                if key not in _SEGMENT_KEYS and key != SEGMENT_ID_KEY and jsonable(value):
                    info[key] = value
            segments_info.append(info)

        png_name = self._png_name(image, name, png_names)
        write_rgb_png_runs(
            self.dst / "annotations" / f"panoptic_{subset}" / png_name,
            painting,
            colors,
            level=PNG_COMPRESS_LEVEL,
        )
        if self.options.copy_images:
            copy_media(image, self.dst / "images" / subset / name)

        image_json: dict[str, Any] = {"id": int(image.id), "width": size.width, "height": size.height}
        image_json["file_name"] = name
        for key, value in image.extra.items():
            if key not in _IMAGE_KEYS and key not in (PNG_NAME_KEY, ENTRY_EXTRA_KEY) and jsonable(value):
                image_json[key] = value
        entry: dict[str, Any] = {
            "image_id": int(image.id),
            "file_name": png_name,
            "segments_info": segments_info,
        }
        entry_extra = image.extra.get(ENTRY_EXTRA_KEY)
        if isinstance(entry_extra, dict):
            entry.update({k: v for k, v in entry_extra.items() if k not in _ENTRY_KEYS and jsonable(v)})
        return image_json, entry

    @staticmethod
    def _kept_image_extra(image: ImageRecord) -> set[str]:
        kept = {PNG_NAME_KEY, ENTRY_EXTRA_KEY}
        return kept | {k for k, v in image.extra.items() if k not in _IMAGE_KEYS and jsonable(v)}

    def _png_name(self, image: ImageRecord, name: str, taken: set[str]) -> str:
        wanted = image.extra.get(PNG_NAME_KEY)
        if isinstance(wanted, str) and wanted.lower().endswith(".png"):
            try:
                wanted = safe_relative(wanted, file=image.file_name, where=f"image {image.id}")
            except UnsafeInputError:
                wanted = None
        else:
            wanted = None
        return unique_name(wanted or _default_png_name(name), taken)

    def _report_segment(self, image: ImageRecord, is_thing: bool, members: list[Annotation]) -> None:
        where = f"image {image.file_name!r} annotation {members[0].id}"
        if len(members) > 1:
            what = (
                "thing parts joined by group_id written as one segment"
                if is_thing
                else "stuff annotations of one class merged into one segment"
            )
            self.report.add(what, where, count=len(members) - 1)
        for k, ann in enumerate(members):
            kept = {SEGMENT_ID_KEY} | {
                key for key, v in ann.extra.items() if k == 0 and key not in _SEGMENT_KEYS and jsonable(v)
            }
            report_annotation_fields(self.report, image, ann, keeps_crowd=True, kept_extra=kept)
            if ann.group_id is not None:
                self.report.add("group ids", f"image {image.file_name!r} annotation {ann.id}")


def write(dataset: Dataset, dst: Path, options: WriteOptions) -> LossReport:
    """Write ``annotations/panoptic_<subset>.json`` with its PNG folder per subset, and the images."""
    dst = Path(dst)
    report = LossReport()
    ontology = declared_ontology(dataset)
    cat_ids = assign_ids(ontology.classes, low=1, high=MAX_SEGMENT_ID)
    report_ontology_fields(
        report,
        ontology,
        keeps_parent=True,
        keeps_class_extra=lambda key, value: key not in _CATEGORY_KEYS and jsonable(value),
    )
    categories = []
    for c in ontology.classes:
        cat: dict[str, Any] = {
            "id": cat_ids[c.name],
            "name": c.name,
            "supercategory": c.parent or "",
            "isthing": int(c.is_thing),
            "color": list(c.color),
        }
        cat.update({k: v for k, v in c.extra.items() if k not in _CATEGORY_KEYS and jsonable(v)})
        categories.append(cat)
    head: dict[str, Any] = {"info": {}, "licenses": []}
    for key, value in dataset.info.items():
        if key in _TOP_KEYS or not jsonable(value):
            report.add("dataset info fields", str(key))
        else:
            head[key] = value

    subsets: dict[str, list[ImageRecord]] = {}
    for image in dataset.images:
        subsets.setdefault(_safe_subset(image.subset or DEFAULT_SUBSET), []).append(image)
    if not subsets:
        subsets[_safe_subset(DEFAULT_SUBSET)] = []
    writer = _Writer(dst, ontology, cat_ids, options, report)
    (dst / "annotations").mkdir(parents=True, exist_ok=True)
    for subset, images in subsets.items():
        (dst / "annotations" / f"panoptic_{subset}").mkdir(parents=True, exist_ok=True)
        images_json: list[dict[str, Any]] = []
        png_names: set[str] = set()
        # Each entry is serialised at once and waits in an unnamed file beside the output, one per line
        # (compact JSON holds no newline), until the images list before it is written: in memory, the
        # entries of 100,000 segments would take 20 MB, and as many again when joined.
        with tempfile.TemporaryFile(dir=dst / "annotations") as entries:
            for image in images:
                image_json, entry = writer.image(image, subset, png_names)
                images_json.append(image_json)
                entries.write(jsonio.dumps(entry) + b"\n")
            entries.seek(0)
            with (dst / "annotations" / f"panoptic_{subset}.json").open("wb") as fh:
                doc = jsonio.JsonObjectWriter(fh)
                for key, value in head.items():
                    doc.value(key, value)
                doc.value("images", images_json)
                doc.raw_array("annotations", (line.rstrip(b"\n") for line in entries))
                doc.value("categories", categories)
                doc.close()
    return report


SPEC = FormatSpec(
    name=NAME,
    description="COCO panoptic: panoptic_<subset>.json + RGB segment-id PNGs (things and stuff)",
    detect=detect,
    read=read,
    write=write,
    carries=frozenset({ShapeType.MASK}),
    extensions=(".json",),
)
