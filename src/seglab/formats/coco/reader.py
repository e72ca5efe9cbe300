"""Reading COCO ground truth: one file, or a folder of them merged by subset.

A file is streamed (:mod:`.jsonio`): each annotation's geometry is parsed as its JSON arrives and the JSON
is dropped, so memory holds the file's text and the dataset, never the parse tree of the whole file. Every
other decision (classes, images, ids) waits for the whole file, because COCO puts its categories last.
Problems are collected for every object and reported in file order: categories, images, annotations.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seglab.core.annotation import Annotation, empty_to_shared
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError, UnsafeInputError
from seglab.core.geometry import Box, Polygon
from seglab.core.ontology import (
    Ontology,
)
from seglab.core.runtime import gc_paused
from seglab.formats.base import ReadOptions
from seglab.formats.coco import jsonio, objects, shapes
from seglab.formats.coco.categories import Categories, ontology_fields
from seglab.formats.coco.constants import (
    BOX_ID_KEY,
    DEFAULT_SUBSET,
    IMAGE_KEYS,
    KEYPOINTS_ID_KEY,
    SEGLAB_KEY,
    SUBSET_PREFIXES,
    TOP_KEYS,
    BadObjectError,
    is_int,
    is_scalar,
)
from seglab.formats.coco.detection import classify, folder_jsons, peek_kind
from seglab.formats.media import FileMedia
from seglab.formats.safe_io import safe_relative

STATS_BLOCK = 8192  # polygons whose derived bbox/area are computed together

# What the streaming pass keeps of one annotation: the JSON without its geometry, and the parsed geometry
# or the reason it is invalid.
_Pending = tuple[dict[str, Any], objects.Geometry | None, str | None]


@dataclass
class _Group:
    """The annotations one COCO annotation became (indices in the image): its area shape (which keeps the
    COCO id), its keypoints and a box of its own, with the file's explicit ids of the latter two."""

    area: int
    points: int | None
    box: int | None
    points_id: int | None
    box_id: int | None
    explicit_group: bool

    def derived(self, area_id: int, offset: int) -> list[tuple[int, int]]:
        """(index, id) of the halves beside the area shape: COCO id plus one or two offsets."""
        out = []
        if self.points is not None:
            out.append((self.points, self.points_id if self.points_id is not None else area_id + offset))
        if self.box is not None:
            out.append((self.box, self.box_id if self.box_id is not None else area_id + 2 * offset))
        return out


@dataclass
class _ImageDraft:
    record: ImageRecord
    file: str
    annotations: list[Annotation] = field(default_factory=list)
    source_ids: list[int | None] = field(default_factory=list)  # None for the halves of a group
    groups: list[_Group] = field(default_factory=list)


def _pending(raw: object) -> _Pending | object:
    """The streaming step: parse the geometry of one annotation and drop its JSON coordinates."""
    if not isinstance(raw, dict):
        return raw
    try:
        geometry, error = objects.geometry(raw), None
    except BadObjectError as exc:
        geometry, error = None, str(exc)
    raw.pop("segmentation", None)
    raw.pop("keypoints", None)
    return raw, geometry, error


class _Reader:
    """Parses every file first and collects every problem, then builds the dataset once."""

    def __init__(self, options: ReadOptions) -> None:
        self.options = options
        self.categories = Categories()
        self.images: dict[tuple[str | None, int], _ImageDraft] = {}
        self.info: dict[str, Any] = {}
        self.ontology_extra: dict[str, Any] = {}
        self._listings: dict[Path, set[str]] = {}

    # -- images
    def _has_file(self, folder: Path, name: str) -> bool:
        """Whether ``folder / name`` is a file; a folder is listed once, not asked once per image."""
        if "/" in name:
            return (folder / name).is_file()
        listing = self._listings.get(folder)
        if listing is None:
            try:
                listing = {e.name for e in os.scandir(folder) if e.is_file()}
            except OSError:
                listing = set()
            self._listings[folder] = listing
        return name in listing

    def _image(
        self, raw: object, index: int, file: str, subset: str | None, dirs: list[Path]
    ) -> _ImageDraft | None:
        if not isinstance(raw, dict):
            self.options.reject(file, f"image #{index}", "image is not an object")
            return None
        image_id, name = raw.get("id"), raw.get("file_name")
        where = f"image {image_id} ({name})"
        if not is_int(image_id):
            self.options.reject(file, where, f"image id {image_id!r} is not an integer")
            return None
        if not isinstance(name, str) or not name:
            self.options.reject(file, where, "image has no file_name")
            return None
        try:
            name = safe_relative(name, file=file, where=where)
        except UnsafeInputError as exc:
            self.options.reject(file, where, exc.reason)
            return None
        media = None
        for folder in dirs:
            if self._has_file(folder, name):
                media = FileMedia(folder / name)
                break
        size: ImageSize | None = None
        width, height = raw.get("width"), raw.get("height")
        if width is not None or height is not None:
            dims = []
            for value in (width, height):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                if not is_int(value) or value <= 0:
                    self.options.reject(
                        file, where, f"image size {width!r} x {height!r} is not positive integers"
                    )
                    return None
                dims.append(value)
            size = ImageSize(dims[0], dims[1])
        elif media is not None:
            try:
                size = media.size()
            except FormatError as exc:
                self.options.reject(
                    file, where, f"no width/height and the image cannot be read: {exc.reason}"
                )
                return None
        extra = {k: v for k, v in raw.items() if k not in IMAGE_KEYS}
        tags, attributes = raw.get("tags", []), raw.get("attributes", {})
        if not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            extra["tags"], tags = tags, []
        if not (isinstance(attributes, dict) and all(is_scalar(v) for v in attributes.values())):
            extra["attributes"], attributes = attributes, {}
        record = ImageRecord(
            id=image_id, file_name=name, size=size, media=media, subset=subset, tags=tuple(tags),
            attributes=attributes, extra=extra,
        )  # fmt: skip
        known = self.images.get((subset, image_id))
        if known is None:
            draft = self.images[(subset, image_id)] = _ImageDraft(record, file)
            return draft
        old = known.record
        if old.file_name != record.file_name or (size is not None and old.size not in (None, size)):
            self.options.reject(
                file, where, f"image id {image_id} is {old.file_name!r} ({old.size}) in {known.file}"
            )
            return None
        merged = {**record.extra, **old.extra}
        tags_all = tuple(dict.fromkeys((*old.tags, *record.tags)))
        known.record = old.with_(
            size=old.size or size, media=old.media or media, extra=merged, tags=tags_all,
            attributes={**record.attributes, **old.attributes},
        )  # fmt: skip
        return known

    # -- files
    def read_file(
        self, path: Path, data: dict[str, Any], pending: list[Any], subset: str | None, root: Path
    ) -> None:
        """Add one parsed file; ``pending`` holds its streamed annotations (see :func:`_pending`)."""
        file = str(path)
        for key, value in data.items():
            if key not in TOP_KEYS and not (key in ("info", "licenses") and not value):
                self.info.setdefault(key, value)  # an empty info/licenses is what write() puts by default
        seglab = data.get(SEGLAB_KEY)
        if isinstance(seglab, dict):
            for key, value in seglab.items():
                self.ontology_extra.setdefault(key, value)
        categories = self.categories.add(data.get("categories", []), file, self.options.reject)
        folder = subset or DEFAULT_SUBSET
        dirs = list(
            dict.fromkeys([root / "images" / folder, root / folder, root / "images", root, path.parent])
        )
        images: dict[int, _ImageDraft | None] = {}
        raw_images = data["images"]
        for i, raw in enumerate(raw_images):
            draft = self._image(raw, i, file, subset, dirs)
            if isinstance(raw, dict) and is_int(raw.get("id")):
                images.setdefault(raw["id"], draft)  # None marks a rejected image: its annotations go too
        self._annotations(pending, file, images, categories)

    def _annotations(
        self, pending: list[Any], file: str, images: dict[int, _ImageDraft | None], categories: dict[int, str]
    ) -> None:
        seen: set[int] = set()
        reject = self.options.reject
        accepted: list[tuple[int, _ImageDraft, dict[str, Any], objects.Geometry, str]] = []
        for i, item in enumerate(pending):
            pending[i] = None  # drop it as we go
            if not isinstance(item, tuple):
                reject(file, f"annotation #{i}", "annotation is not an object")
                continue
            raw, geometry, error = item
            ann_id = raw.get("id")
            image_id = raw.get("image_id")
            draft = (
                images.get(image_id) if type(image_id) is int else None
            )  # (not is_int: this runs per object)
            try:
                if draft is None:
                    if is_int(image_id) and image_id in images:
                        raise BadObjectError(f"its image {image_id} was rejected")
                    raise BadObjectError(f"image_id {image_id!r} is not an image of this file")
                if type(ann_id) is int:
                    if ann_id in seen:
                        raise BadObjectError(f"annotation id {ann_id} is used twice in this file")
                    seen.add(ann_id)
                cat = raw.get("category_id")
                label = categories.get(cat) if type(cat) is int else None
                if label is None:
                    raise BadObjectError(f"category_id {cat!r} is not a category of this file")
                if error is not None:
                    raise BadObjectError(error)
                assert geometry is not None
                for key in (KEYPOINTS_ID_KEY, BOX_ID_KEY):
                    if key in raw and not is_int(raw[key]):
                        raise BadObjectError(f"{key} {raw[key]!r} is not an integer id")
                extra = objects.unknown_keys(raw)
                common = objects.fields(raw, extra)
            except BadObjectError as exc:
                name = draft.record.file_name if draft is not None else f"image_id {image_id!r}"
                reject(file, f"annotation {ann_id} ({name})", str(exc))
                continue
            accepted.append((i, draft, raw, geometry, label))
            raw["_extra"], raw["_common"] = extra, common
        # Derived bbox/area of the polygons, vectorised a block at a time (each polygon's numbers do not
        # depend on the others): at once, the temporaries of 100,000 polygons outweigh the dataset.
        polys = [g.area for _, _, _, g, _ in accepted if isinstance(g.area, Polygon)]
        areas, boxes = np.zeros(0), np.zeros((0, 4))
        poly_index = 0
        for j, (_, draft, raw, geometry, label) in enumerate(accepted):
            accepted[j] = None  # type: ignore[call-overload]  # its JSON goes as its annotations come
            stats = None
            if isinstance(geometry.area, Polygon):
                row = poly_index % STATS_BLOCK
                if row == 0:
                    areas, boxes = shapes.polygon_stats(polys[poly_index : poly_index + STATS_BLOCK])
                stats = (float(areas[row]), boxes[row].tolist())
                poly_index += 1
            self._add(draft, raw, geometry, label, stats)

    def _add(
        self,
        draft: _ImageDraft,
        raw: dict[str, Any],
        geometry: objects.Geometry,
        label: str,
        stats: tuple[float, list[float]] | None,
    ) -> None:
        extra, common = raw["_extra"], raw["_common"]
        ann_id = raw.get("id")
        source_id = ann_id if is_int(ann_id) else None
        crowd = geometry.crowd
        points = geometry.points
        points_extra: dict[str, Any] = {}
        if points is not None:
            self.categories.note_points(label, len(points.points))
            if "num_keypoints" in raw and raw["num_keypoints"] != points.num_labeled:
                points_extra["num_keypoints"] = raw["num_keypoints"]  # CrowdPose counts differently
        region = geometry.area
        if region is None:  # keypoints alone
            assert points is not None
            bbox = shapes.keypoints_bbox(points)
            kept = objects.kept_fields(raw, bbox, bbox[2] * bbox[3])
            extra = {**extra, **kept, **points_extra}
            draft.annotations.append(
                Annotation(_id(source_id), label, points, crowd=crowd, extra=empty_to_shared(extra), **common)
            )
            draft.source_ids.append(source_id)
            return
        bbox, area = objects.derived_area_fields(region, stats)
        box = None
        box_extra: dict[str, Any] = {}
        if "bbox" in raw and not isinstance(region, Box) and not shapes.bbox_close(raw["bbox"], bbox):
            try:  # beside a segmentation, a bad bbox is only a derived value to write anew
                box = shapes.box(raw["bbox"])
            except BadObjectError:
                box = None
        if box is not None:
            # a bbox that is not the segmentation's bounds (an amodal person box): a Box of its own
            if raw["bbox"] != shapes.xywh(box):
                box_extra["bbox"] = raw["bbox"]
            kept = {"area": raw["area"]} if "area" in raw and raw["area"] != area else {}
        else:
            kept = objects.kept_fields(raw, bbox, area)
        region_extra = empty_to_shared({**extra, **kept} if extra and kept else kept or extra)
        if points is None and box is None:
            draft.annotations.append(
                Annotation(_id(source_id), label, region, crowd=crowd, extra=region_extra, **common)
            )
            draft.source_ids.append(source_id)
            return
        group = common.pop("group_id", None)
        explicit = group is not None
        if group is None:
            group = _id(source_id)  # renumbered in finish() when the file's ids clash
        start = len(draft.annotations)
        members: list[tuple[Any, dict[str, Any], int | None]] = [(region, region_extra, source_id)]
        if points is not None:
            members.append((points, empty_to_shared(points_extra), None))
        if box is not None:
            members.append((box, empty_to_shared(box_extra), None))
        for shape, shape_extra, sid in members:
            draft.annotations.append(
                Annotation(_id(sid), label, shape, crowd=crowd, extra=shape_extra, group_id=group, **common)
            )
            draft.source_ids.append(sid)
        draft.groups.append(
            _Group(
                area=start,
                points=start + 1 if points is not None else None,
                box=start + len(members) - 1 if box is not None else None,
                points_id=raw.get(KEYPOINTS_ID_KEY),
                box_id=raw.get(BOX_ID_KEY),
                explicit_group=explicit,
            )
        )

    def finish(self) -> Dataset:
        ontology = Ontology(self.categories.classes(), **ontology_fields(self.ontology_extra))
        drafts = list(self.images.values())
        keep = _keep_ids(drafts)
        offset = _halves_offset(drafts) if keep else 0
        records, next_id = [], 1
        for draft in drafts:
            anns = draft.annotations
            if keep:
                for g in draft.groups:
                    for index, new_id in g.derived(anns[g.area].id, offset):
                        anns[index] = anns[index].with_(id=new_id)
            else:  # the file's ids clash: number 1..N, a group being its area shape's new id
                anns = [a.with_(id=next_id + k) for k, a in enumerate(anns)]
                for g in draft.groups:
                    if not g.explicit_group:
                        group = anns[g.area].id
                        for index in (g.area, g.points, g.box):
                            if index is not None:
                                anns[index] = anns[index].with_(group_id=group)
                next_id += len(anns)
            records.append(draft.record.with_annotations(anns))
        return Dataset(ontology, tuple(records), self.info)


def _id(source_id: int | None) -> int:
    return -1 if source_id is None else source_id  # -1: numbered in finish()


def _halves_offset(drafts: list[_ImageDraft]) -> int:
    """What the keypoints of a group add to its COCO id (its own box: twice this): ids above every id of
    the files read. The writer derives the same number from the ids it writes, so it writes a
    ``keypoints_id`` / ``bbox_id`` only when the dataset's own differs."""
    ids = [i for d in drafts for i in d.source_ids if i is not None]
    return max(ids) - min(ids) + 1 if ids else 1


def _keep_ids(drafts: list[_ImageDraft]) -> bool:
    """Whether every annotation can keep its file id (and every group's halves their derived ones)."""
    ids: list[int] = []
    for d in drafts:
        halves = {i for g in d.groups for i in (g.points, g.box) if i is not None}
        for k, i in enumerate(d.source_ids):
            if k in halves:
                continue
            if i is None:
                return False  # an annotation without an integer id
            ids.append(i)
    if len(set(ids)) != len(ids):
        return False
    offset = max(ids) - min(ids) + 1 if ids else 1
    taken = set(ids)
    for d in drafts:
        for g in d.groups:
            area_id = d.source_ids[g.area]
            assert area_id is not None
            for _, new_id in g.derived(area_id, offset):
                if new_id in taken:
                    return False
                taken.add(new_id)
    return True


def _subset_name(path: Path, alone: bool | Callable[[], bool]) -> str | None:
    """``instances_val2017.json`` -> ``val2017``; ``default`` and a lone unprefixed file -> None."""
    stem = path.stem
    for prefix in SUBSET_PREFIXES:
        if stem.startswith(prefix) and len(stem) > len(prefix):
            stem = stem[len(prefix) :]
            break
    else:
        if alone if isinstance(alone, bool) else alone():
            return None
    return None if stem == DEFAULT_SUBSET else stem


def results_error(path: Path) -> FormatError:
    return FormatError(
        "this is a COCO results list (predictions without images or categories); read it with "
        "seglab.formats.coco.read_results(path, reference_dataset)",
        file=str(path),
    )


def _load(path: Path) -> tuple[Any, list[Any], str | None]:
    """A file streamed: (document, pending annotations, kind as :func:`classify` names it)."""
    pending: list[Any] = []
    first: list[bool] = []

    def take(raw: Any) -> None:
        if not first:
            first.append(isinstance(raw, dict) and "segments_info" in raw)
        pending.append(_pending(raw))

    data = jsonio.load_streaming(path, {"annotations": take})
    if isinstance(data, dict) and data.get("annotations") is jsonio.STREAMED:
        if first and first[0]:
            return data, [], "panoptic"
        if not isinstance(data.get("images"), list) or not isinstance(data.get("categories"), list):
            return data, [], None
        return data, pending, "coco"
    return data, [], classify(data)


def read(path: Path, options: ReadOptions) -> Dataset:
    """Read a COCO file or folder; bad objects go to ``options.reject`` and are left out."""
    with gc_paused():  # millions of small objects, none in a reference cycle
        return _read(Path(path), options)


def _read(path: Path, options: ReadOptions) -> Dataset:
    reader = _Reader(options)
    if path.is_file():
        data, pending, kind = _load(path)
        if kind == "results":
            raise results_error(path)
        if kind != "coco":
            raise FormatError(
                "not a COCO file: expected an object with 'images' and 'categories'", file=str(path)
            )
        root = path.parent.parent if path.parent.name == "annotations" else path.parent
        reader.read_file(path, data, pending, _subset_name(path, alone=True), root)
        return reader.finish()
    if not path.is_dir():
        raise FormatError("no such file or folder", file=str(path))
    candidates = folder_jsons(path)
    found = 0
    for candidate in candidates:
        data, pending, kind = _load(candidate)  # one file in memory at a time
        if kind != "coco":
            continue
        found += 1
        subset = _subset_name(candidate, alone=lambda c=candidate: _alone(c, candidates))
        reader.read_file(candidate, data, pending, subset, path)
    if not found:
        raise FormatError(
            "no COCO annotation file (instances or keypoints JSON) in this folder", file=str(path)
        )
    return reader.finish()


def _alone(candidate: Path, candidates: list[Path]) -> bool:
    """Whether ``candidate`` is the folder's only ground-truth file (then an unprefixed name is no subset).

    Asked only for unprefixed names; the others are recognised by a byte scan, not parsed again.
    """
    return all(other == candidate or peek_kind(other, full_parse_bytes=0) != "coco" for other in candidates)
