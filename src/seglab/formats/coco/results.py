"""COCO results lists: predictions ``[{image_id, category_id, bbox|segmentation|keypoints, score}]``.

A results list has no images or categories of its own, so it is read onto a reference dataset (category
ids are those :func:`~seglab.formats.coco.writer.write` gives the reference's classes) and written from
one. Each result is one annotation: a pose result stays one Keypoints annotation, its bbox in ``extra``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from seglab.core.annotation import Annotation, Source
from seglab.core.dataset import Dataset
from seglab.core.errors import FormatError
from seglab.core.geometry import Box
from seglab.formats.base import LossReport, ReadOptions
from seglab.formats.coco import jsonio, objects
from seglab.formats.coco.constants import BadObjectError, is_int
from seglab.formats.coco.writer import (
    NonFiniteError,
    category_ids,
    fields_json,
    geometry_json,
    image_size,
    prepare,
)
from seglab.formats.safe_io import load_json


def read_results(path: Path, reference: Dataset, options: ReadOptions) -> Dataset:
    """Attach a COCO results list to ``reference``: its images and classes, with the predictions only.

    A result naming an unknown image or category is rejected with the reason.
    """
    path = Path(path)
    file = str(path)
    data = load_json(path)
    if not isinstance(data, list):
        raise FormatError("not a COCO results list: expected a JSON list of predictions", file=file)
    by_id: dict[int, int] = {}
    ambiguous: set[int] = set()
    for index, image in enumerate(reference.images):
        if image.id in by_id:
            ambiguous.add(image.id)
        by_id.setdefault(image.id, index)
    labels = {cid: name for name, cid in category_ids(reference.ontology).items()}
    found: list[list[Annotation]] = [[] for _ in reference.images]
    next_id = 1
    for i, raw in enumerate(data):
        if not isinstance(raw, dict):
            options.reject(file, f"result #{i}", "result is not an object")
            continue
        image_id, cat = raw.get("image_id"), raw.get("category_id")
        index = by_id.get(image_id) if is_int(image_id) else None
        where = f"result #{i} (image {reference.images[index].file_name if index is not None else image_id})"
        try:
            if index is None:
                raise BadObjectError(f"image_id {image_id!r} is not an image of the reference dataset")
            if image_id in ambiguous:
                raise BadObjectError(
                    f"image_id {image_id} names images of several subsets of the reference dataset"
                )
            label = labels.get(cat) if is_int(cat) else None
            if label is None:
                raise BadObjectError(f"category_id {cat!r} is not a category of the reference dataset")
            extra = objects.unknown_keys(raw)
            shape, crowd = objects.result_shape(raw, extra)
            common = objects.fields(raw, extra)
        except BadObjectError as exc:
            options.reject(file, where, str(exc))
            continue
        if "source" not in raw:
            common["source"] = Source.MODEL
        found[index].append(Annotation(next_id, label, shape, crowd=crowd, extra=extra, **common))
        next_id += 1
    images = [img.with_annotations(anns) for img, anns in zip(reference.images, found, strict=True)]
    return reference.with_images(images)


def write_results(dataset: Dataset, path: Path) -> LossReport:
    """Write every annotation of ``dataset`` as a COCO results list (what COCOeval's ``loadRes`` reads).

    Polygons become RLE (``loadRes`` computes areas from RLE); annotations without a score get 1.0.
    """
    path = Path(path)
    report = LossReport()
    cat_ids = category_ids(dataset.ontology)
    out: list[dict[str, Any]] = []
    for image in dataset.images:
        size = image_size(image)
        for ann in image.annotations:
            where = f"{image.file_name}: annotation {ann.id}"
            if ann.label not in cat_ids:
                report.add("annotations of classes not in the ontology left out", where)
                continue
            prepared = prepare(ann, size, report, where, for_results=True)
            if prepared is None:
                continue
            entry: dict[str, Any] = {"image_id": image.id, "category_id": cat_ids[ann.label]}
            try:
                entry.update(
                    geometry_json(prepared, ann, None, crowd_rle=False)
                )  # loadRes needs compressed RLE
            except NonFiniteError as exc:
                raise FormatError(
                    f"cannot write: {where}: the {exc} has NaN or infinite coordinates", file=str(path)
                ) from None
            if isinstance(ann.shape, Box) and entry.get("segmentation") == []:
                del entry["segmentation"]
            fields_json(ann, entry, report, where)
            if prepared.kind == "keypoints":  # a pose result's own box, as the model gave it
                entry.update((k, ann.extra[k]) for k in ("bbox", "area") if k in ann.extra)
            if "score" not in entry:
                entry["score"] = 1.0
                report.add("annotations without a score written with score 1.0", where)
            out.append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        try:
            Path(tmp).write_bytes(jsonio.dumps(out))
        except jsonio.NonFiniteError:
            raise FormatError(
                "cannot write: a value is NaN or infinite; run validate to find it", file=str(path)
            ) from None
        except TypeError as exc:
            raise FormatError(f"cannot write: {exc}", file=str(path)) from None
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return report


__all__ = ["read_results", "write_results"]
