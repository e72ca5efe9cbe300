"""Plain semantic masks: one class-index PNG per image and a class table.

Layout::

    images/<name>.<ext>     the images (sub-folders allowed)
    masks/<name>.png        class index per pixel; 255 = ignore (65535 in a 16-bit PNG)
    classes.csv             header ``index,name,color,kind``; color ``#rrggbb``, kind thing|stuff

Masks are 8-bit while every index fits below 255, else 16-bit. The format is semantic: it holds which
class each pixel has, not which object, so reading gives one mask per class present
(:func:`~seglab.core.segmentation.annotations_from_semantic` with ``split_things=False``, its exact
inverse), and writing paints :func:`~seglab.core.segmentation.semantic_map` (higher z-order on top),
listing in the LossReport the instance identity of things merged per class, boxes, lines, points and
everything else a class map cannot hold.

Reading is strict: a mask of another size than its image, an index missing from ``classes.csv``, an
unreadable or colour mask, and an image without its mask are problems named by file.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from seglab.core.annotation import Annotation
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError
from seglab.core.ontology import LabelClass, LabelKind, Ontology, ShapeType, default_color
from seglab.core.segmentation import IGNORE, annotations_from_semantic, semantic_map
from seglab.formats.base import FormatSpec, LossReport, ReadOptions, WriteOptions
from seglab.formats.label_maps import (
    compact,
    declared_ontology,
    hex_color,
    image_size_for_writing,
    parse_color,
    read_label_image,
    report_annotation_fields,
    report_hidden,
    report_image_fields,
    report_ontology_fields,
    split_area_annotations,
)
from seglab.formats.media import FileMedia, copy_media
from seglab.formats.safe_io import find_images, image_size, read_text, safe_relative, write_png

NAME = "masks"
IMAGES_DIR = "images"
MASKS_DIR = "masks"
CLASSES_FILE = "classes.csv"
IGNORE_16 = 65535
HEADER = ("index", "name", "color", "kind")
MAX_CLASSES_8BIT = IGNORE  # indices 0..254 leave 255 free for ignore


# ------------------------------------------------------------------------------------------ class table


@dataclass(frozen=True)
class ClassTable:
    """The ontology (rows in file order) and each class's pixel index."""

    ontology: Ontology
    position_of_index: dict[int, int]


def read_classes(path: Path) -> ClassTable:
    """Parse ``classes.csv``; any malformed row fails the file (every mask depends on it)."""
    if not path.exists():
        raise FormatError(
            f"{CLASSES_FILE} is missing: it says which class each mask index is", file=str(path)
        )
    text = read_text(path)
    rows = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(rows, [])]
    if "index" not in header or "name" not in header:
        raise FormatError(f"header must name the columns {','.join(HEADER)}", file=str(path), where="line 1")
    col = {name: header.index(name) for name in HEADER if name in header}
    classes: list[LabelClass] = []
    positions: dict[int, int] = {}
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"line {line}"
        cells = {name: (row[i].strip() if i < len(row) else "") for name, i in col.items()}
        try:
            index = int(cells["index"])
        except ValueError:
            raise FormatError(
                f"index {cells['index']!r} is not an integer", file=str(path), where=where
            ) from None
        if not 0 <= index < IGNORE_16:
            raise FormatError(f"index {index} is outside 0..{IGNORE_16 - 1}", file=str(path), where=where)
        if index in positions:
            raise FormatError(f"index {index} appears twice", file=str(path), where=where)
        name = cells["name"]
        if not name:
            raise FormatError("a class needs a name", file=str(path), where=where)
        if any(c.name == name for c in classes):
            raise FormatError(f"class {name!r} appears twice", file=str(path), where=where)
        color = default_color(len(classes) + 1)
        if cells.get("color"):
            try:
                color = parse_color(cells["color"], what="color")
            except ValueError as exc:
                raise FormatError(str(exc), file=str(path), where=where) from None
        kind_text = cells.get("kind", "").lower() or LabelKind.THING.value
        if kind_text not in (LabelKind.THING.value, LabelKind.STUFF.value):
            raise FormatError(f"kind {kind_text!r} is not thing or stuff", file=str(path), where=where)
        positions[index] = len(classes)
        classes.append(LabelClass(name, color, LabelKind(kind_text), id=index))
    if IGNORE in positions and len(classes) <= MAX_CLASSES_8BIT:
        raise FormatError(
            f"index {IGNORE} means ignore; it can be a class only with more than 255 classes", file=str(path)
        )
    return ClassTable(Ontology(tuple(classes)), positions)


def _ignore_values(table: ClassTable) -> set[int]:
    values = {IGNORE_16}
    if IGNORE not in table.position_of_index:
        values.add(IGNORE)
    return values


# ---------------------------------------------------------------------------------------------- detect


def detect(path: Path) -> float:
    """0.9 for ``classes.csv`` with a ``masks/`` folder of PNGs, 0.5 for the folder alone, else 0."""
    path = Path(path)
    masks = path / MASKS_DIR
    if not masks.is_dir() or next(iter(masks.rglob("*.png")), None) is None:
        return 0.0
    return 0.9 if (path / CLASSES_FILE).is_file() else 0.5


# ------------------------------------------------------------------------------------------------ read


def _without_suffix(rel: str) -> str:
    p = PurePosixPath(rel)
    return p.with_suffix("").as_posix() if p.suffix else rel


@dataclass
class _Reader:
    root: Path
    table: ClassTable
    options: ReadOptions
    next_id: int = 1
    images: list[ImageRecord] = field(default_factory=list)

    def image(self, key: str, image_path: Path | None, mask_path: Path | None) -> None:
        file_name = (
            image_path.relative_to(self.root / IMAGES_DIR).as_posix()
            if image_path is not None
            else f"{key}.png"
        )
        where = f"image {file_name}"
        media = FileMedia(image_path) if image_path is not None else None
        size: ImageSize | None = None
        try:
            size = media.size() if media is not None else image_size(mask_path) if mask_path else None
        except FormatError as exc:
            self.options.reject(exc.file or file_name, where, exc.reason)
        annotations: list[Annotation] = []
        if mask_path is None:
            self.options.reject(self.root / MASKS_DIR / f"{key}.png", where, "mask PNG is missing")
        elif size is not None:
            annotations = self.annotations(mask_path, size, where)
        self.images.append(
            ImageRecord(
                id=len(self.images) + 1,
                file_name=file_name,
                size=size,
                annotations=tuple(annotations),
                media=media,
            )
        )

    def annotations(self, mask_path: Path, size: ImageSize, where: str) -> list[Annotation]:
        values = read_label_image(mask_path, size, self.options, where=where)
        if values is None:
            return []
        uniq, inverse = np.unique(values, return_inverse=True)
        ignore = _ignore_values(self.table)
        known = self.table.position_of_index
        unknown = [int(v) for v in uniq.tolist() if int(v) not in known and int(v) not in ignore]
        if unknown:
            shown = ", ".join(map(str, unknown[:10]))
            self.options.reject(mask_path, where, f"value(s) {shown} are not indices in {CLASSES_FILE}")
            return []
        n = len(self.table.ontology)
        # index -> 0-based position (ignore -> n, which annotations_from_semantic skips)
        lut = np.array([known.get(int(v), n) for v in uniq.tolist()], dtype=np.int64)
        positions = lut[inverse].reshape(values.shape)  # (H, W)
        anns = annotations_from_semantic(
            positions, self.table.ontology, first_id=self.next_id, split_things=False
        )
        self.next_id += len(anns)
        return [compact(a) for a in anns]


def read(path: Path, options: ReadOptions) -> Dataset:
    """Read ``classes.csv``, then every image in ``images/`` with its mask in ``masks/``."""
    root = Path(path)
    if not (root / MASKS_DIR).is_dir():
        raise FormatError(f"no {MASKS_DIR}/ folder", file=str(root))
    table = read_classes(root / CLASSES_FILE)
    images: dict[str, Path] = {}
    for rel, p in find_images(root / IMAGES_DIR).items():
        key = _without_suffix(rel)
        if key in images:
            options.reject(p, f"image {rel}", f"shares its mask name with {images[key].name}")
            continue
        images[key] = p
    masks = {
        _without_suffix(p.relative_to(root / MASKS_DIR).as_posix()): p
        for p in sorted((root / MASKS_DIR).rglob("*"))
        if p.is_file() and p.suffix.lower() == ".png"
    }
    reader = _Reader(root, table, options)
    for key in sorted(set(images) | set(masks)):
        reader.image(key, images.get(key), masks.get(key))
    return Dataset(table.ontology, tuple(reader.images))


# ----------------------------------------------------------------------------------------------- write


def _report_merges(
    report: LossReport, image: ImageRecord, ontology: Ontology, anns: list[Annotation]
) -> None:
    counts = Counter(a.label for a in anns)
    for label, n in counts.items():
        if n < 2:
            continue
        where = f"image {image.file_name!r} class {label!r}"
        if ontology[label].is_thing:
            report.add("thing instances merged into one class mask (instance identity)", where, n - 1)
        else:
            report.add("stuff annotations of one class merged into one mask", where, n - 1)


def _output_names(image: ImageRecord, taken: set[str]) -> tuple[str, str]:
    """The mask key (``masks/<key>.png``) and image path of one image, unique among ``taken``."""
    rel = safe_relative(image.file_name, file=image.file_name, where=f"image {image.id}")
    key = _without_suffix(rel)
    suffix = rel[len(key) :]
    unique, n = key, 2
    while unique in taken:
        unique = f"{key}-{n}"
        n += 1
    taken.add(unique)
    return unique, f"{unique}{suffix}"


def write(dataset: Dataset, dst: Path, options: WriteOptions) -> LossReport:
    """Write ``classes.csv``, ``masks/<name>.png`` per image and (optionally) ``images/``."""
    dst = Path(dst)
    report = LossReport()
    ontology = declared_ontology(dataset)
    n = len(ontology)
    if n >= IGNORE_16:
        raise FormatError(f"{n} classes do not fit a 16-bit mask")
    fill = IGNORE if n <= MAX_CLASSES_8BIT else IGNORE_16
    for position, c in enumerate(ontology.classes):
        if c.id is not None and c.id != position:
            report.add("class ids (masks hold 0-based class positions)", f"{c.name}: {c.id} -> {position}")
    report_ontology_fields(report, ontology, keeps_parent=False)
    if dataset.info:
        report.add("dataset info fields", ", ".join(map(str, list(dataset.info)[:5])), len(dataset.info))

    (dst / MASKS_DIR).mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    for image in dataset.images:
        size = image_size_for_writing(image)
        report_image_fields(report, image, keeps_subset=False)
        key, rel = _output_names(image, taken)
        has_file = options.copy_images and image.media is not None
        read_back = rel if has_file else f"{key}.png"  # without an image, named after its mask
        if read_back != image.file_name:
            report.add("image file names changed", f"{image.file_name} -> {read_back}")
        anns = split_area_annotations(image, size, report)
        for ann in anns:
            report_annotation_fields(report, image, ann, keeps_crowd=False)
            if ann.group_id is not None:
                report.add("group ids", f"image {image.file_name!r} annotation {ann.id}")
        _report_merges(report, image, ontology, anns)
        semantic = semantic_map(anns, ontology, size, fill=fill)  # (H, W) class positions
        report_hidden(report, image, size, anns, semantic, [ontology.index(a.label) for a in anns])
        write_png(dst / MASKS_DIR / f"{key}.png", semantic.astype(np.uint8 if fill == IGNORE else np.uint16))
        if has_file:
            copy_media(image, dst / IMAGES_DIR / rel)
    with (dst / CLASSES_FILE).open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(HEADER)
        for position, c in enumerate(ontology.classes):
            out.writerow([position, c.name, hex_color(c.color), c.kind.value])
    return report


SPEC = FormatSpec(
    name=NAME,
    description="Semantic masks: masks/<name>.png class indices (255 = ignore) with classes.csv",
    detect=detect,
    read=read,
    write=write,
    carries=frozenset({ShapeType.MASK}),
)
