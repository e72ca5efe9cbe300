"""Cityscapes-style label images (https://github.com/mcordts/cityscapesScripts).

Layout, per split and city::

    gtFine/<split>/<city>/<stem>_gtFine_labelIds.png      class id per pixel (0 = unlabeled, void)
    gtFine/<split>/<city>/<stem>_gtFine_instanceIds.png   class_id * 1000 + instance for thing instances,
                                                          the plain class id elsewhere (16-bit)
    gtFine/<split>/<city>/<stem>_gtFine_color.png         class colours, for viewing only
    leftImg8bit/<split>/<city>/<stem>_leftImg8bit.<ext>   the image (also under imgsFine/leftImg8bit/)

The class table comes from ``classes.json`` (written by seglab: id, name, color, kind, ignoreInEval), else
Datumaro's ``label_colors.txt`` (``r g b name`` per line, the line number is the id), else the official
Cityscapes table :data:`CITYSCAPES_LABELS`. Id 0 is void in every table.

Read: each distinct ``instanceIds`` value is one mask annotation: a thing instance (``>= 1000``, its value
kept in ``extra["instance_id"]``), a stuff class, or a thing class without instance ids, which Cityscapes
uses for groups (``cargroup``) and seglab reads as a crowd region. Without ``instanceIds`` every class
present in ``labelIds`` is one (non-crowd) mask. Values outside the table, PNGs of another size than their
image, the two PNGs disagreeing, and images without labels are problems named by file.

Write: both PNGs, the colour PNG and ``classes.json``; split from ``ImageRecord.subset`` (else
``default``), city from ``extra["city"]`` (else ``seglab``). Overlaps resolve by z-order through
:func:`~seglab.core.segmentation.panoptic_map`; what the layout cannot hold goes to the LossReport.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import numpy as np

from seglab.core.annotation import Annotation
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError
from seglab.core.ontology import LabelClass, LabelKind, Ontology, ShapeType, default_color
from seglab.core.segmentation import panoptic_map
from seglab.formats.base import FormatSpec, LossReport, ReadOptions, WriteOptions
from seglab.formats.label_maps import (
    assign_ids,
    declared_ontology,
    image_size_for_writing,
    jsonable,
    masks_by_value,
    parse_color,
    read_label_image,
    report_annotation_fields,
    report_hidden,
    report_image_fields,
    report_ontology_fields,
    split_area_annotations,
)
from seglab.formats.media import FileMedia, copy_media
from seglab.formats.safe_io import (
    IMAGE_EXTENSIONS,
    dump_json,
    image_size,
    load_json,
    read_text,
    write_png,
)

NAME = "cityscapes"
DEFAULT_SPLIT = "default"
DEFAULT_CITY = "seglab"
GT_DIR = "gtFine"
IMAGE_DIRS = ("leftImg8bit", "imgsFine/leftImg8bit")
IMAGE_SUFFIX = "_leftImg8bit"
LABEL_IDS = "_gtFine_labelIds.png"
INSTANCE_IDS = "_gtFine_instanceIds.png"
COLOR = "_gtFine_color.png"
CLASSES_FILE = "classes.json"
LABEL_COLORS_FILE = "label_colors.txt"
VOID_ID = 0
INSTANCE_BASE = 1000  # instanceIds value = class id * 1000 + instance index
MAX_VALUE = 65535  # instanceIds is a 16-bit PNG
MAX_CLASS_ID = INSTANCE_BASE - 1  # a plain class id must stay below the first instance value
CITY_KEY = "city"
INSTANCE_KEY = "instance_id"
_NAME_RE = re.compile(r"^[\w.-]+$")
_CLASS_KEYS = frozenset({"id", "name", "color", "kind", "category", "void"})


class CityscapesLabel(NamedTuple):
    """One row of the official table (cityscapesscripts/helpers/labels.py)."""

    name: str
    id: int
    train_id: int
    category: str
    category_id: int
    has_instances: bool
    ignore_in_eval: bool
    color: tuple[int, int, int]


# The official Cityscapes classes. Id -1 (license plate) never appears in the label PNGs.
CITYSCAPES_LABELS: tuple[CityscapesLabel, ...] = (
    CityscapesLabel("unlabeled", 0, 255, "void", 0, False, True, (0, 0, 0)),
    CityscapesLabel("ego vehicle", 1, 255, "void", 0, False, True, (0, 0, 0)),
    CityscapesLabel("rectification border", 2, 255, "void", 0, False, True, (0, 0, 0)),
    CityscapesLabel("out of roi", 3, 255, "void", 0, False, True, (0, 0, 0)),
    CityscapesLabel("static", 4, 255, "void", 0, False, True, (0, 0, 0)),
    CityscapesLabel("dynamic", 5, 255, "void", 0, False, True, (111, 74, 0)),
    CityscapesLabel("ground", 6, 255, "void", 0, False, True, (81, 0, 81)),
    CityscapesLabel("road", 7, 0, "flat", 1, False, False, (128, 64, 128)),
    CityscapesLabel("sidewalk", 8, 1, "flat", 1, False, False, (244, 35, 232)),
    CityscapesLabel("parking", 9, 255, "flat", 1, False, True, (250, 170, 160)),
    CityscapesLabel("rail track", 10, 255, "flat", 1, False, True, (230, 150, 140)),
    CityscapesLabel("building", 11, 2, "construction", 2, False, False, (70, 70, 70)),
    CityscapesLabel("wall", 12, 3, "construction", 2, False, False, (102, 102, 156)),
    CityscapesLabel("fence", 13, 4, "construction", 2, False, False, (190, 153, 153)),
    CityscapesLabel("guard rail", 14, 255, "construction", 2, False, True, (180, 165, 180)),
    CityscapesLabel("bridge", 15, 255, "construction", 2, False, True, (150, 100, 100)),
    CityscapesLabel("tunnel", 16, 255, "construction", 2, False, True, (150, 120, 90)),
    CityscapesLabel("pole", 17, 5, "object", 3, False, False, (153, 153, 153)),
    CityscapesLabel("polegroup", 18, 255, "object", 3, False, True, (153, 153, 153)),
    CityscapesLabel("traffic light", 19, 6, "object", 3, False, False, (250, 170, 30)),
    CityscapesLabel("traffic sign", 20, 7, "object", 3, False, False, (220, 220, 0)),
    CityscapesLabel("vegetation", 21, 8, "nature", 4, False, False, (107, 142, 35)),
    CityscapesLabel("terrain", 22, 9, "nature", 4, False, False, (152, 251, 152)),
    CityscapesLabel("sky", 23, 10, "sky", 5, False, False, (70, 130, 180)),
    CityscapesLabel("person", 24, 11, "human", 6, True, False, (220, 20, 60)),
    CityscapesLabel("rider", 25, 12, "human", 6, True, False, (255, 0, 0)),
    CityscapesLabel("car", 26, 13, "vehicle", 7, True, False, (0, 0, 142)),
    CityscapesLabel("truck", 27, 14, "vehicle", 7, True, False, (0, 0, 70)),
    CityscapesLabel("bus", 28, 15, "vehicle", 7, True, False, (0, 60, 100)),
    CityscapesLabel("caravan", 29, 255, "vehicle", 7, True, True, (0, 0, 90)),
    CityscapesLabel("trailer", 30, 255, "vehicle", 7, True, True, (0, 0, 110)),
    CityscapesLabel("train", 31, 16, "vehicle", 7, True, False, (0, 80, 100)),
    CityscapesLabel("motorcycle", 32, 17, "vehicle", 7, True, False, (0, 0, 230)),
    CityscapesLabel("bicycle", 33, 18, "vehicle", 7, True, False, (119, 11, 32)),
    CityscapesLabel("license plate", -1, -1, "vehicle", 7, False, True, (0, 0, 142)),
)


def _normalized(name: str) -> str:
    return re.sub(r"[\s_-]+", "", name.lower())


_OFFICIAL_BY_NAME = {_normalized(lab.name): lab for lab in CITYSCAPES_LABELS}


def _official_class(label: CityscapesLabel) -> LabelClass:
    return LabelClass(
        label.name,
        label.color,
        LabelKind.THING if label.has_instances else LabelKind.STUFF,
        id=label.id,
        parent=label.category,
        extra={
            "ignoreInEval": label.ignore_in_eval,
            "trainId": label.train_id,
            "categoryId": label.category_id,
        },
    )


@dataclass(frozen=True)
class ClassTable:
    """Pixel id -> class, and the ontology of the non-void classes in table order."""

    ontology: Ontology
    by_id: dict[int, LabelClass]
    source: str

    @classmethod
    def official(cls) -> ClassTable:
        classes = [_official_class(lab) for lab in CITYSCAPES_LABELS if lab.id != VOID_ID]
        return cls(Ontology(tuple(classes)), {c.id: c for c in classes if c.id is not None and c.id > 0}, "")


def _read_classes_json(path: Path) -> ClassTable:
    data = load_json(path)
    rows = data.get("classes") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise FormatError('expected {"classes": [...]}', file=str(path))
    classes: list[LabelClass] = []
    seen_ids: set[int] = set()
    for i, raw in enumerate(rows):
        where = f"classes[{i}]"
        if not isinstance(raw, dict):
            raise FormatError("a class must be an object", file=str(path), where=where)
        cid, name = raw.get("id"), raw.get("name")
        if not isinstance(cid, int) or isinstance(cid, bool) or not -1 <= cid <= MAX_CLASS_ID:
            raise FormatError(
                f"id {cid!r} is not an integer in -1..{MAX_CLASS_ID}", file=str(path), where=where
            )
        if not isinstance(name, str) or not name:
            raise FormatError("a class needs a name", file=str(path), where=where)
        if cid in seen_ids and cid >= 0:
            raise FormatError(f"class id {cid} appears twice", file=str(path), where=where)
        seen_ids.add(cid)
        if cid == VOID_ID:
            continue  # the void entry documents id 0; it is no class
        official = _OFFICIAL_BY_NAME.get(_normalized(name))
        kind_text = raw.get("kind")
        if kind_text is None:
            kind = LabelKind.THING if official is None or official.has_instances else LabelKind.STUFF
        elif kind_text in (LabelKind.THING.value, LabelKind.STUFF.value):
            kind = LabelKind(kind_text)
        else:
            raise FormatError(f"kind {kind_text!r} is not thing or stuff", file=str(path), where=where)
        try:
            color = (
                parse_color(raw["color"], what="color") if "color" in raw else default_color(len(classes) + 1)
            )
        except ValueError as exc:
            raise FormatError(str(exc), file=str(path), where=where) from None
        category = raw.get("category")
        classes.append(
            LabelClass(
                name,
                color,
                kind,
                id=cid,
                parent=category if isinstance(category, str) and category else None,
                extra={k: v for k, v in raw.items() if k not in _CLASS_KEYS},
            )
        )
    try:
        ontology = Ontology(tuple(classes))
    except ValueError as exc:
        raise FormatError(str(exc), file=str(path)) from None
    return ClassTable(ontology, {c.id: c for c in classes if c.id is not None and c.id > 0}, str(path))


def _read_label_colors(path: Path) -> ClassTable:
    """Datumaro's ``label_colors.txt``: ``r g b name`` (or ``name``) per line; the id is the line's index."""
    classes: list[LabelClass] = []
    by_id: dict[int, LabelClass] = {}
    index = 0
    lines = read_text(path).splitlines()
    for n, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split()
        color: tuple[int, int, int] | None = None
        if len(parts) >= 4 and all(p.isdigit() for p in parts[:3]):
            values = [int(p) for p in parts[:3]]
            if max(values) > 255:
                raise FormatError(f"colour {values} is outside 0..255", file=str(path), where=f"line {n}")
            color = (values[0], values[1], values[2])
            name = " ".join(parts[3:])
        else:
            name = text
        if index != VOID_ID:
            official = _OFFICIAL_BY_NAME.get(_normalized(name))
            kind = LabelKind.THING if official is None or official.has_instances else LabelKind.STUFF
            cls = LabelClass(name, color or default_color(index), kind, id=index)
            if name in (c.name for c in classes):
                raise FormatError(f"class {name!r} appears twice", file=str(path), where=f"line {n}")
            classes.append(cls)
            by_id[index] = cls
        index += 1
    return ClassTable(Ontology(tuple(classes)), by_id, str(path))


def load_class_table(root: Path) -> ClassTable:
    """``classes.json``, else ``label_colors.txt``, else the official Cityscapes table."""
    if (root / CLASSES_FILE).is_file():
        return _read_classes_json(root / CLASSES_FILE)
    if (root / LABEL_COLORS_FILE).is_file():
        return _read_label_colors(root / LABEL_COLORS_FILE)
    return ClassTable.official()


# ---------------------------------------------------------------------------------------------- detect


def _first(folder: Path, pattern: str) -> Path | None:
    return next(iter(folder.glob(pattern)), None) if folder.is_dir() else None


def detect(path: Path) -> float:
    """0.95 with labels and images in the Cityscapes layout, 0.9 with labels only, else 0."""
    path = Path(path)
    gt = path / GT_DIR
    if _first(gt, f"*/*/*{LABEL_IDS}") is None and _first(gt, f"*/*/*{INSTANCE_IDS}") is None:
        return 0.0
    has_images = any(_first(path / d, f"*/*/*{IMAGE_SUFFIX}.*") is not None for d in IMAGE_DIRS)
    return 0.95 if has_images else 0.9


# ------------------------------------------------------------------------------------------------ read


class _Key(NamedTuple):
    split: str
    city: str
    stem: str


def _scan(root: Path) -> tuple[dict[_Key, Path], dict[_Key, dict[str, Path]]]:
    images: dict[_Key, Path] = {}
    for folder in IMAGE_DIRS:
        base = root / folder
        if not base.is_dir():
            continue
        for p in sorted(base.glob(f"*/*/*{IMAGE_SUFFIX}.*")):
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
                stem = p.name[: p.name.rindex(IMAGE_SUFFIX)]
                images.setdefault(_Key(p.parent.parent.name, p.parent.name, stem), p)
    labels: dict[_Key, dict[str, Path]] = {}
    gt = root / GT_DIR
    for suffix in (LABEL_IDS, INSTANCE_IDS):
        for p in sorted(gt.glob(f"*/*/*{suffix}")) if gt.is_dir() else ():
            if p.is_file():
                key = _Key(p.parent.parent.name, p.parent.name, p.name[: -len(suffix)])
                labels.setdefault(key, {})[suffix] = p
    return images, labels


@dataclass
class _Reader:
    root: Path
    table: ClassTable
    options: ReadOptions
    next_id: int = 1
    images: list[ImageRecord] = field(default_factory=list)

    def image(self, key: _Key, image_path: Path | None, pngs: dict[str, Path]) -> None:
        ext = image_path.suffix if image_path is not None else ".png"
        file_name = f"{key.city}/{key.stem}{IMAGE_SUFFIX}{ext}"
        where = f"image {file_name}"
        media = FileMedia(image_path) if image_path is not None else None
        size: ImageSize | None = None
        try:
            if media is not None:
                size = media.size()
            elif LABEL_IDS in pngs or INSTANCE_IDS in pngs:
                size = image_size(pngs.get(LABEL_IDS) or pngs[INSTANCE_IDS])
        except FormatError as exc:
            self.options.reject(exc.file or file_name, where, exc.reason)
        annotations: list[Annotation] = []
        if not pngs:
            expected = self.root / GT_DIR / key.split / key.city / f"{key.stem}{LABEL_IDS}"
            self.options.reject(expected, where, "label image is missing")
        elif size is not None:
            annotations = self.annotations(pngs, size, where)
        self.images.append(
            ImageRecord(
                id=len(self.images) + 1,
                file_name=file_name,
                size=size,
                annotations=tuple(annotations),
                media=media,
                subset=key.split,
                extra={CITY_KEY: key.city},
            )
        )

    def _unknown(self, path: Path, where: str, class_ids: np.ndarray, what: str) -> bool:
        """Reject the file when some class id is neither void nor in the table; True when all are known."""
        unknown = [int(v) for v in class_ids.tolist() if v != VOID_ID and int(v) not in self.table.by_id]
        if unknown:
            table = self.table.source or "the official Cityscapes table"
            shown = ", ".join(map(str, unknown[:10]))
            self.options.reject(path, where, f"{what} {shown} not in the class table ({table})")
        return not unknown

    def annotations(self, pngs: dict[str, Path], size: ImageSize, where: str) -> list[Annotation]:
        label_path, inst_path = pngs.get(LABEL_IDS), pngs.get(INSTANCE_IDS)
        labels = inst = None
        if label_path is not None:
            labels = read_label_image(label_path, size, self.options, where=where)
            if labels is None:
                return []
            if not self._unknown(label_path, where, np.unique(labels), "class id(s)"):
                return []
        if inst_path is not None:
            inst = read_label_image(inst_path, size, self.options, where=where)
            if inst is None:
                return []
            inst = inst.astype(np.int64)
            values = np.unique(inst)
            classes = np.where(values >= INSTANCE_BASE, values // INSTANCE_BASE, values)
            if not self._unknown(inst_path, where, np.unique(classes), "class id(s) of instance values"):
                return []
            if labels is not None:
                derived = np.where(inst >= INSTANCE_BASE, inst // INSTANCE_BASE, inst)  # (H, W)
                wrong = int(np.count_nonzero(derived != labels))
                if wrong:
                    self.options.reject(
                        inst_path, where, f"disagrees with {label_path.name} at {wrong} pixels"
                    )
                    return []
        source = inst if inst is not None else labels
        assert source is not None  # pngs holds at least one of the two
        anns = []
        for value, mask in masks_by_value(source).items():
            cid = value // INSTANCE_BASE if value >= INSTANCE_BASE else value
            if cid == VOID_ID:
                continue
            cls = self.table.by_id[cid]
            is_instance = value >= INSTANCE_BASE
            anns.append(
                Annotation(
                    id=self.next_id,
                    label=cls.name,
                    shape=mask,
                    crowd=inst is not None and cls.is_thing and not is_instance,
                    extra={INSTANCE_KEY: value} if is_instance else {},
                )
            )
            self.next_id += 1
        return anns


def read(path: Path, options: ReadOptions) -> Dataset:
    """Read a Cityscapes-style folder: every split and city under ``gtFine/`` and ``leftImg8bit/``."""
    root = Path(path)
    if not (root / GT_DIR).is_dir():
        raise FormatError(f"no {GT_DIR}/ folder", file=str(root))
    table = load_class_table(root)
    images, labels = _scan(root)
    reader = _Reader(root, table, options)
    for key in sorted(set(images) | set(labels)):
        reader.image(key, images.get(key), labels.get(key, {}))
    return Dataset(table.ontology, tuple(reader.images))


# ----------------------------------------------------------------------------------------------- write


def _safe_name(name: str, what: str) -> str:
    if not _NAME_RE.match(name) or name in (".", ".."):
        raise FormatError(f"{what} {name!r} cannot be a folder name (letters, digits, _ . - only)")
    return name


def _stem_and_ext(file_name: str) -> tuple[str, str]:
    base = PurePosixPath(file_name).name
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, "png"
    if stem.endswith(IMAGE_SUFFIX):
        stem = stem[: -len(IMAGE_SUFFIX)]
    return re.sub(r"[^\w.-]", "_", stem) or "image", f".{ext}"


@dataclass
class _Writer:
    dst: Path
    ontology: Ontology
    ids: dict[str, int]
    options: WriteOptions
    report: LossReport
    taken: set[_Key] = field(default_factory=set)

    def palette(self) -> np.ndarray:
        top = max(self.ids.values(), default=0)
        colors = np.zeros((top + 1, 3), dtype=np.uint8)  # (ids, 3); void stays black
        for c in self.ontology.classes:
            colors[self.ids[c.name]] = c.color
        return colors

    def key(self, image: ImageRecord) -> tuple[_Key, str]:
        split = _safe_name(image.subset or DEFAULT_SPLIT, "split")
        city_value = image.extra.get(CITY_KEY)
        city = _safe_name(city_value, "city") if isinstance(city_value, str) else DEFAULT_CITY
        stem, ext = _stem_and_ext(image.file_name)
        key = _Key(split, city, stem)
        n = 2
        while key in self.taken:
            key = _Key(split, city, f"{stem}-{n}")
            n += 1
        self.taken.add(key)
        # without an image file, a reader names the image after its label PNGs (.png)
        has_file = self.options.copy_images and image.media is not None
        new_name = f"{city}/{key.stem}{IMAGE_SUFFIX}{ext if has_file else '.png'}"
        if new_name != image.file_name:
            self.report.add(
                "image file names changed to the Cityscapes layout", f"{image.file_name} -> {new_name}"
            )
        return key, ext

    def instance_values(self, pm, anns: list[Annotation], image: ImageRecord) -> list[int]:
        """The instanceIds value of each segment: instance ids kept from ``extra`` where they still fit."""
        values: list[int | None] = []
        used: set[int] = set()
        for seg in pm.segments:
            cid = self.ids[seg.label]
            first = anns[seg.annotation_ids[0]]
            wanted = first.extra.get(INSTANCE_KEY)
            value = None
            if seg.is_thing and not seg.crowd:
                if (
                    isinstance(wanted, int)
                    and wanted // INSTANCE_BASE == cid
                    and wanted <= MAX_VALUE
                    and wanted not in used
                ):
                    value = wanted
                    used.add(wanted)
            else:
                value = cid
            values.append(value)
        out = []
        crowd_seen: set[int] = set()
        for seg, value in zip(pm.segments, values, strict=True):
            cid = self.ids[seg.label]
            where = f"image {image.file_name!r} annotation {anns[seg.annotation_ids[0]].id}"
            if value is None:
                free = (
                    v
                    for v in range(
                        cid * INSTANCE_BASE, min(cid * INSTANCE_BASE + INSTANCE_BASE, MAX_VALUE + 1)
                    )
                    if v not in used
                )
                value = next(free, None)
                if value is None:
                    self.report.add("thing instances written without an instance id (no id left)", where)
                    value = cid
                else:
                    used.add(value)
            elif seg.is_thing and seg.crowd:
                if cid in crowd_seen:
                    self.report.add("crowd regions of one class merged into one region", where)
                crowd_seen.add(cid)
            out.append(value)
        return out

    def image(self, image: ImageRecord, palette: np.ndarray) -> None:
        key, ext = self.key(image)
        size = image_size_for_writing(image)
        report_image_fields(self.report, image, kept_extra={CITY_KEY})
        anns = split_area_annotations(image, size, self.report)
        local = [a.with_(id=i) for i, a in enumerate(anns)]
        pm = panoptic_map(local, self.ontology, size)
        owner: list[int | None] = [None] * len(anns)
        for seg in pm.segments:
            for i in seg.annotation_ids:
                owner[i] = seg.id
        report_hidden(self.report, image, size, anns, pm.ids, owner)
        for seg in pm.segments:
            members = [anns[i] for i in seg.annotation_ids]
            self._report_segment(image, seg.is_thing, members)

        values = self.instance_values(pm, anns, image)
        top = max((s.id for s in pm.segments), default=0)
        inst_lut = np.zeros(top + 1, dtype=np.uint16)
        class_lut = np.zeros(top + 1, dtype=np.uint16)
        for seg, value in zip(pm.segments, values, strict=True):
            inst_lut[seg.id] = value
            class_lut[seg.id] = self.ids[seg.label]
        class_map = class_lut[pm.ids]  # (H, W)
        if palette.shape[0] <= 256:
            class_map = class_map.astype(np.uint8)
        folder = self.dst / GT_DIR / key.split / key.city
        write_png(folder / f"{key.stem}{LABEL_IDS}", class_map)
        write_png(folder / f"{key.stem}{INSTANCE_IDS}", inst_lut[pm.ids])
        write_png(folder / f"{key.stem}{COLOR}", palette[class_map])
        if self.options.copy_images:
            target = self.dst / IMAGE_DIRS[0] / key.split / key.city / f"{key.stem}{IMAGE_SUFFIX}{ext}"
            copy_media(image, target)

    def _report_segment(self, image: ImageRecord, is_thing: bool, members: list[Annotation]) -> None:
        if len(members) > 1:
            what = (
                "thing parts joined by group_id written as one instance"
                if is_thing
                else "stuff annotations of one class merged into one region"
            )
            self.report.add(what, f"image {image.file_name!r} annotation {members[0].id}", len(members) - 1)
        for ann in members:
            where = f"image {image.file_name!r} annotation {ann.id}"
            report_annotation_fields(self.report, image, ann, keeps_crowd=is_thing, kept_extra={INSTANCE_KEY})
            if ann.group_id is not None:
                self.report.add("group ids", where)


def _class_json(c: LabelClass, cid: int) -> dict[str, Any]:
    row: dict[str, Any] = {"id": cid, "name": c.name, "color": list(c.color), "kind": c.kind.value}
    if c.parent is not None:
        row["category"] = c.parent
    row["ignoreInEval"] = bool(c.extra.get("ignoreInEval", False))
    row.update({k: v for k, v in c.extra.items() if k not in _CLASS_KEYS and jsonable(v)})
    return row


def write(dataset: Dataset, dst: Path, options: WriteOptions) -> LossReport:
    """Write the ``gtFine`` PNGs (label ids, instance ids, colours), the images and ``classes.json``."""
    dst = Path(dst)
    report = LossReport()
    ontology = declared_ontology(dataset)
    high = 255 if len(ontology) <= 255 else MAX_CLASS_ID
    ids = assign_ids(ontology.classes, low=1, high=high)
    for c in ontology.classes:
        if c.is_thing and ids[c.name] * INSTANCE_BASE > MAX_VALUE:
            report.add("thing classes whose id is too large for instance ids (written as regions)", c.name)
    report_ontology_fields(
        report,
        ontology,
        keeps_parent=True,
        keeps_class_extra=lambda key, value: key not in _CLASS_KEYS and jsonable(value),
    )
    if dataset.info:
        report.add("dataset info fields", ", ".join(map(str, list(dataset.info)[:5])), len(dataset.info))
    void = {"id": VOID_ID, "name": "unlabeled", "color": [0, 0, 0], "kind": "stuff", "void": True}
    rows = [void] + [_class_json(c, ids[c.name]) for c in ontology.classes]
    dst.mkdir(parents=True, exist_ok=True)
    (dst / GT_DIR).mkdir(exist_ok=True)
    writer = _Writer(dst, ontology, ids, options, report)
    palette = writer.palette()
    for image in dataset.images:
        writer.image(image, palette)
    dump_json({"classes": rows}, dst / CLASSES_FILE, indent=2)
    return report


SPEC = FormatSpec(
    name=NAME,
    description="Cityscapes-style gtFine labelIds/instanceIds PNGs with leftImg8bit images",
    detect=detect,
    read=read,
    write=write,
    carries=frozenset({ShapeType.MASK}),
)
