"""Writing LabelMe: one JSON beside each image, shapes in their canonical (or kept source) form, and a
LossReport of everything LabelMe has no place for."""

from __future__ import annotations

import base64
import io
import posixpath
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from seglab.core.annotation import Annotation, Source
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError
from seglab.core.geometry import Box, Keypoints, Polygon, Polyline
from seglab.core.mask import Mask
from seglab.core.ontology import AttributeType, LabelKind, default_color
from seglab.formats.base import LossReport, WriteOptions
from seglab.formats.labelme.constants import DEFAULT_VERSION, FLAGS_FILE, LABELS_FILE
from seglab.formats.labelme.masks import mask_to_labelme
from seglab.formats.labelme.shapes import canonical_points, restore_points
from seglab.formats.media import FileMedia, copy_media, raw_bytes
from seglab.formats.safe_io import dump_json, safe_relative


def _json_names(images: list[ImageRecord]) -> list[str]:
    """``<folder>/<stem>.json`` beside each image; ``<name>.json`` where two images share a stem."""
    stems = [posixpath.splitext(i.file_name)[0] for i in images]
    taken: dict[str, int] = {}
    for s in stems:
        taken[s] = taken.get(s, 0) + 1
    return [
        f"{s}.json" if taken[s] == 1 else f"{i.file_name}.json" for s, i in zip(stems, images, strict=True)
    ]


def _report_ontology(dataset: Dataset, report: LossReport) -> None:
    onto = dataset.ontology
    for i, c in enumerate(onto.classes):
        if c.color != default_color(i + 1):
            report.add("class colour (LabelMe has none)", c.name)
        if c.kind is not LabelKind.THING:
            report.add("class kind thing/stuff", c.name)
        if c.id is not None or c.parent is not None:
            report.add("class source id / parent", c.name)
        if c.skeleton is not None:
            report.add("keypoint skeleton (point names, edges)", c.name)
        if c.shapes:
            report.add("allowed shape types of a class", c.name)
        for a in c.attributes:
            if a.type is not AttributeType.BOOL and not (
                a.name == "description" and a.type is AttributeType.TEXT
            ):
                report.add("attribute definition (LabelMe flags are true/false only)", f"{c.name}.{a.name}")
        if "\n" in c.name or "\r" in c.name:
            report.add(f"class name with a line break left out of {LABELS_FILE}", repr(c.name))
    if onto.image_attributes:
        report.add("image attribute definitions", onto.image_attributes[0].name)
    if onto.full_coverage:
        report.add("ontology full_coverage rule")
    if dataset.info:
        report.add("dataset info (LabelMe has no dataset-level file)", ", ".join(map(str, dataset.info))[:80])


class _Writer:
    def __init__(self, out: Path, options: WriteOptions, report: LossReport) -> None:
        self.out = out
        self.options = options
        self.report = report

    def image(self, image: ImageRecord, json_name: str, tags: tuple[str, ...]) -> None:
        file_name = safe_relative(image.file_name, file=image.file_name, where="file_name")
        json_name = safe_relative(json_name, file=image.file_name, where="file_name")
        json_path = self.out / json_name
        json_path.parent.mkdir(parents=True, exist_ok=True)
        where = f"image {image.file_name!r}"
        if image.subset is not None:
            self.report.add("image subset (LabelMe has no splits)", image.file_name)
        for name in image.attributes:
            self.report.add("image attribute", f"{where}: {name}")
        size = image.size
        if size is None:
            try:
                size = image.require_size()
            except (ValueError, FormatError):
                self.report.add(
                    "image size unknown (imageWidth/imageHeight written as null)", image.file_name
                )
        if self.options.copy_images:
            self.copy_image(image, self.out / file_name)
        flags = dict(image.extra.get("labelme_flags", {t: False for t in tags}))
        flags = {k: k in image.tags for k in flags} | {t: True for t in image.tags}
        shapes = self.shapes(image, size)
        data: dict[str, Any] = {
            "version": image.extra.get("labelme_version") or DEFAULT_VERSION,
            "flags": flags,
            "shapes": shapes,
            "imagePath": posixpath.relpath(file_name, posixpath.dirname(json_name) or "."),
            "imageData": self.image_data(image) if image.extra.get("labelme_image_data") else None,
            "imageHeight": size.height if size else None,
            "imageWidth": size.width if size else None,
        }
        for k, v in (image.extra.get("labelme_other") or {}).items():
            data.setdefault(k, v)
        try:
            dump_json(data, json_path, indent=2)
        except ValueError as exc:
            raise FormatError(f"cannot write: {exc}", file=json_name) from None

    def copy_image(self, image: ImageRecord, target: Path) -> None:
        media = image.media
        if isinstance(media, FileMedia):
            if not media.path.is_file():
                self.report.add("image file missing at the source (not copied)", image.file_name)
                return
        elif (raw := raw_bytes(media)) is not None:
            # An embedded file as it is, whatever the name says: LabelMe itself embeds PNG bytes for a
            # .bmp or .tif image, and a LabelMe round trip gives back exactly what it read.
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(raw[0])
            return
        if not copy_media(image, target):
            self.report.add("image file not copied (the record has no media)", image.file_name)

    def image_data(self, image: ImageRecord) -> str | None:
        """Base64 of the image file, for images whose source embedded it (LabelMe's ``imageData``)."""
        media = image.media
        encoded = raw_bytes(media)
        if encoded is not None:
            raw = encoded[0]
        elif media is not None and not isinstance(media, FileMedia):
            buf = io.BytesIO()
            Image.fromarray(media.read()).save(buf, format="PNG")
            raw = buf.getvalue()
        else:
            self.report.add("embedded imageData (no pixels to embed; written as null)", image.file_name)
            return None
        return base64.b64encode(raw).decode("ascii")

    def shapes(self, image: ImageRecord, size: ImageSize | None) -> list[dict[str, Any]]:
        used = [a.group_id for a in image.annotations if a.group_id is not None]
        next_group = max(used, default=0) + 1
        out: list[dict[str, Any]] = []
        for ann in image.annotations:
            where = f"image {image.file_name!r} annotation {ann.id}"
            flags, description = self.attributes(ann, where)
            self.provenance(ann, where)
            other = dict(ann.extra.get("labelme_other") or {})
            geometry = self.geometry(ann, size, where)
            group_id = ann.group_id
            if len(geometry) > 1 and group_id is None:  # the parts of one object share a fresh group
                group_id = next_group
                next_group += 1
            for shape_type, points, mask in geometry:
                shape = {
                    "label": ann.label,
                    "points": points,
                    "group_id": group_id,
                    "description": description,
                    "shape_type": shape_type,
                    "flags": dict(flags),
                    "mask": mask,
                }
                for k, v in other.items():
                    shape.setdefault(k, v)
                out.append(shape)
        return out

    def attributes(self, ann: Annotation, where: str) -> tuple[dict[str, bool], str | None]:
        flags: dict[str, bool] = {}
        description = ann.extra.get("labelme_description", "")
        for name, value in ann.attributes.items():
            if isinstance(value, bool):
                flags[name] = value
            elif name == "description" and isinstance(value, str):
                description = value
            else:
                self.report.add("attribute that is not true/false (LabelMe flags are)", f"{where}: {name}")
        return flags, description

    def provenance(self, ann: Annotation, where: str) -> None:
        if ann.source is not Source.HUMAN or ann.score is not None or ann.uncertainty is not None:
            self.report.add("model source / score / uncertainty", where)
        if ann.track_id is not None:
            self.report.add("track id", where)
        if ann.z_order:
            self.report.add("z_order (LabelMe keeps only the shape order)", where)
        if ann.crowd:
            self.report.add("crowd flag", where)

    def geometry(
        self, ann: Annotation, size: ImageSize | None, where: str
    ) -> list[tuple[str, Any, str | None]]:
        """``(shape_type, points, mask)`` for each LabelMe shape the annotation becomes."""
        shape = ann.shape
        if not np.isfinite(shape.coordinates()).all():
            raise FormatError("non-finite coordinates", file=where)
        if isinstance(shape, Mask):
            if size is not None and shape.size != size:
                self.report.add("mask whose size differs from the image (left out)", where)
                return []
            points, png = mask_to_labelme(shape, ann.extra)
            return [("mask", points, png)]
        canonical = canonical_points(shape)
        restored = restore_points(shape, ann.extra, canonical)
        if restored is not None:
            return [(restored[0], restored[1], None)]
        if canonical is not None:
            return [(canonical[0], canonical[1].tolist(), None)]
        if isinstance(shape, Box):
            self.report.add("rotated box (written as a 4-point polygon)", where)
            return [("polygon", shape.corners().tolist(), None)]
        if isinstance(shape, Keypoints):
            return self.keypoints(shape, where)
        if isinstance(shape, Polyline):
            self.report.add("polyline with fewer than 2 points (left out)", where)
            return []
        if not isinstance(shape, Polygon):
            raise TypeError(f"{where}: cannot write a {type(shape).__name__}")
        if shape.has_holes:
            self.report.add("polygon hole (LabelMe has none; exterior written)", where)
        if len(shape.parts) > 1:
            self.report.add("multi-part polygon (one shape per part, sharing a group_id)", where)
        parts = [p.exterior for p in shape.parts if len(p.exterior) >= 3]
        if len(parts) < len(shape.parts):
            self.report.add("polygon part with fewer than 3 points (left out)", where)
        return [("polygon", ring.tolist(), None) for ring in parts]

    def keypoints(self, shape: Keypoints, where: str) -> list[tuple[str, Any, str | None]]:
        """LabelMe points are all visible: unlabeled ones (v = 0) are left out, occluded ones lose v."""
        v = shape.points[:, 2]
        if np.any(v == 0):
            self.report.add("unlabeled keypoint (v = 0, left out)", where, int(np.sum(v == 0)))
        if np.any((v != 0) & (v != 2)):
            self.report.add("keypoint visibility (occluded written as visible)", where)
        pts = shape.points[v != 0, :2]
        if len(pts) == 0:
            self.report.add("keypoints with no labeled point (left out)", where)
            return []
        return [("point" if len(pts) == 1 else "points", pts.tolist(), None)]


def write(dataset: Dataset, out: Path, options: WriteOptions) -> LossReport:
    """Write one JSON per image beside its image, plus ``labels.txt`` and ``flags.txt``."""
    out = Path(out)
    report = LossReport()
    _report_ontology(dataset, report)
    images = dataset.images
    writer = _Writer(out, options, report)
    for image, json_name in zip(images, _json_names(images), strict=True):
        writer.image(image, json_name, dataset.ontology.tags)
    names = [n for n in dataset.ontology.names if "\n" not in n and "\r" not in n]
    (out / LABELS_FILE).write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    if dataset.ontology.tags:
        (out / FLAGS_FILE).write_text("".join(f"{t}\n" for t in dataset.ontology.tags), encoding="utf-8")
    return report
