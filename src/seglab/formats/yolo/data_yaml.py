"""The dataset level of a YOLO output: ``data.yaml`` (splits, names, pose keys) and what classes lose."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import UnsafeInputError
from seglab.core.geometry import Keypoints
from seglab.core.ontology import LabelKind, default_color
from seglab.formats.base import LossReport
from seglab.formats.yolo.constants import INFO_KEY, INFO_KPT_DIMS, SPLIT_KEYS, YAML_KEYS
from seglab.formats.yolo.reader import _skeleton


def _where(image: ImageRecord) -> str:
    return f"image {image.file_name}"


def report_ontology(dataset: Dataset, task: str, report: LossReport) -> None:
    for i, c in enumerate(dataset.ontology.classes):
        checks = {
            "class colours": c.color != default_color(i + 1),
            "stuff/thing class kinds": c.kind is not LabelKind.THING,
            "class attribute definitions": bool(c.attributes),
            "class parents (supercategories)": c.parent is not None,
            "source class ids (YOLO ids are positions 0..N-1)": c.id is not None and c.id != i,
            "class extra fields": bool(c.extra),
            "allowed shape types of classes": bool(c.shapes),
            "skeletons (not a pose task)": c.skeleton is not None and task != "pose",
        }
        for what, lost in checks.items():
            if lost:
                report.add(what, f"class {c.name}")
    onto = dataset.ontology
    if onto.tags:
        report.add("image-level tag classes", onto.tags[0])
    if onto.image_attributes:
        report.add("image attribute definitions", onto.image_attributes[0].name)
    if onto.full_coverage:
        report.add("the full-coverage (panoptic) flag")
    for key in dataset.info:
        if key not in (INFO_KEY, INFO_KPT_DIMS):
            report.add("dataset info fields", key)


def pose_yaml(dataset: Dataset, images: Sequence[ImageRecord], report: LossReport) -> tuple[int, int, dict]:
    """(K, dims, YAML keys) for a pose dataset; reports skeleton parts that YOLO cannot hold."""
    counts = Counter(
        len(a.shape.points) for i in images for a in i.annotations if isinstance(a.shape, Keypoints)
    )
    skeletons = [c.skeleton for c in dataset.ontology.classes if c.skeleton is not None]
    if counts:
        k = counts.most_common(1)[0][0]
    elif skeletons:
        k = len(skeletons[0])
    else:
        k = 17
    all_visible = all(
        bool((a.shape.points[:, 2] == 2).all())
        for i in images
        for a in i.annotations
        if isinstance(a.shape, Keypoints)
    )
    dims = 2 if dataset.info.get(INFO_KPT_DIMS) == 2 and all_visible else 3
    flips = [s.flip_index for s in skeletons if s.flip_index is not None and len(s) == k]
    doc: dict[str, Any] = {"kpt_shape": [k, dims]}
    if flips:
        doc["flip_idx"] = list(flips[0])
    kpt_names: dict[int, list[str]] = {}
    for i, c in enumerate(dataset.ontology.classes):
        sk = c.skeleton
        if sk is None or len(sk) != k:
            if sk is not None:
                report.add(f"skeletons with a point count other than kpt_shape's {k}", f"class {c.name}")
            continue
        kpt_names[i] = list(sk.points)
        default = _skeleton(k, list(sk.points), sk.flip_index)
        if sk.edges != default.edges:
            report.add("skeleton edges", f"class {c.name}")
        if sk.sigmas != default.sigmas:
            report.add("keypoint OKS sigmas", f"class {c.name}")
        if sk.flip_index is not None and flips and sk.flip_index != flips[0]:
            report.add("per-class flip_idx (YOLO has one for all classes)", f"class {c.name}")
    if kpt_names:
        doc["kpt_names"] = kpt_names
    return k, dims, doc


def splits(images: Sequence[ImageRecord], report: LossReport) -> dict[int, str]:
    """Image position -> split folder under images/ ("" for an unsplit dataset)."""
    if all(i.subset is None for i in images):
        return dict.fromkeys(range(len(images)), "")
    out = {}
    for n, image in enumerate(images):
        subset = image.subset
        if subset is None:
            report.add("images without a subset written to the train split", _where(image))
            subset = "train"
        if not subset or subset in (".", "..") or "/" in subset or "\\" in subset:
            raise UnsafeInputError(f"subset name {subset!r} is not a plain folder name", where=_where(image))
        out[n] = subset
    return out


def split_keys(folders: Iterable[str], report: LossReport) -> dict[str, str]:
    """YAML split key -> images folder; train and val are required by Ultralytics."""
    present = list(dict.fromkeys(folders))
    if present == [""]:
        return {"train": "images", "val": "images"}
    order = [s for s in SPLIT_KEYS if s in present] + [s for s in present if s not in SPLIT_KEYS]
    keys: dict[str, str] = {}
    for key in SPLIT_KEYS:
        if key in present or key != "test":
            keys[key] = f"images/{key if key in present else order[0]}"
    for subset in order:
        if subset in SPLIT_KEYS:
            continue
        if subset in YAML_KEYS or subset == "download":
            report.add("subsets named like data.yaml keys (images written but not listed)", subset)
            continue
        keys[subset] = f"images/{subset}"
    return keys


def write_yaml(
    path: Path, dataset: Dataset, names: list[str], splits: dict[str, str], pose_doc: dict, needs_task: bool
) -> None:
    """Block style for mappings, flow style for short lists, keys in Ultralytics' usual order."""
    chunks = [yaml.safe_dump(splits, sort_keys=False, allow_unicode=True)]
    if needs_task:
        chunks.append(yaml.safe_dump({"task": "segment"}, sort_keys=False))
    chunks.append(yaml.safe_dump({"names": dict(enumerate(names))}, sort_keys=False, allow_unicode=True))
    for key, value in pose_doc.items():
        style = False if key == "kpt_names" else None
        chunks.append(
            yaml.safe_dump({key: value}, sort_keys=False, allow_unicode=True, default_flow_style=style)
        )
    extra = dataset.info.get(INFO_KEY)
    if isinstance(extra, dict):
        written = set(splits) | YAML_KEYS
        rest = {k: v for k, v in extra.items() if k not in written}
        if rest:
            chunks.append(yaml.safe_dump(rest, sort_keys=False, allow_unicode=True))
    path.write_text("".join(chunks), encoding="utf-8")
