"""Reading YOLO label files: each line checked and converted from normalised values to pixels.

Label lines are ``cls`` then values normalised by the image size: detect ``cx cy w h``; segment
``x1 y1 ... xn yn``; oriented box ``x1 y1 ... x4 y4``; pose ``cx cy w h`` + K x ``x y [v]``; a trailing
confidence column (Ultralytics ``save_conf``) is read as a model score when every line has it. The task
is taken from the YAML (``kpt_shape`` means pose, an optional ``task`` key) and else from line lengths.
A pose line becomes a Box and a Keypoints sharing a ``group_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from seglab.core.annotation import Annotation, Source
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import FormatError, UnsafeInputError
from seglab.core.geometry import Box, Keypoints, Polygon
from seglab.core.ontology import COCO_PERSON_KEYPOINTS, Ontology, Skeleton, coco_person_skeleton
from seglab.formats.base import ReadOptions
from seglab.formats.media import FileMedia
from seglab.formats.safe_io import finite_number, read_text
from seglab.formats.yolo.constants import CORNERS_KEY, NAMES_FILES, TOLERANCE
from seglab.formats.yolo.layout import _find_layout, _Layout, _yaml_has_names


@dataclass(frozen=True)
class _LineSpec:
    """How to read every line of one dataset (decided once, from the YAML and all line lengths)."""

    pose: tuple[int, int] | None
    conf: bool
    segment: bool
    task: str | None


def _line_spec(layout: _Layout, counts: list[int]) -> _LineSpec:
    """``counts``: values per line after the class. Without a confidence every layout has an even count,
    so a dataset whose lines all have an odd count carries Ultralytics' ``save_conf`` column."""
    if layout.kpt_shape is not None:
        k, d = layout.kpt_shape
        conf = bool(counts) and all(c == 4 + k * d + 1 for c in counts)
        return _LineSpec(layout.kpt_shape, conf, False, "pose")
    conf = bool(counts) and all(c % 2 == 1 for c in counts)
    values = [c - conf for c in counts]
    segment = layout.task == "segment" or (
        layout.task is None and any(v >= 6 and v % 2 == 0 and v != 8 for v in values)
    )
    return _LineSpec(None, conf, segment, layout.task)


def _line_kind(n: int, spec: _LineSpec) -> str:
    """``box``, ``obb``, ``polygon`` or ``pose`` for ``n`` coordinate values; ValueError when none fits."""
    if spec.pose is not None:
        k, d = spec.pose
        if n == 4 + k * d:
            return "pose"
        expected = f"{5 + k * d} columns (kpt_shape [{k}, {d}])"
    elif spec.task == "detect":
        if n == 4:
            return "box"
        expected = "5 columns (cls cx cy w h)"
    elif spec.task == "obb":
        if n == 8:
            return "obb"
        expected = "9 columns (cls and 4 corners)"
    else:
        if n == 4:
            return "box"
        if n == 8 and not spec.segment:
            return "obb"
        if n >= 6 and n % 2 == 0:
            return "polygon"
        expected = "5 (box), 9 (oriented box) or an odd number >= 7 (polygon) columns"
    columns = n + 1 + spec.conf
    raise ValueError(f"{columns} columns, expected {expected}" + (" and a confidence" if spec.conf else ""))


def _numbers(tokens: Sequence[str]) -> list[float]:
    return [finite_number(token, what=f"column {i + 1}") for i, token in enumerate(tokens)]


def _range_problem(values: np.ndarray, what: str) -> str | None:
    bad = values[(values < -TOLERANCE) | (values > 1 + TOLERANCE)]
    if bad.size:
        return (
            f"{what} {float(bad[0])!r} is outside [0, 1] beyond the {TOLERANCE} tolerance (not normalised?)"
        )
    return None


def _points_problem(points: np.ndarray) -> str | None:
    """Ultralytics checks a polygon or corner list through its enclosing box (corners may stick out)."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    return _range_problem(np.concatenate([(lo + hi) / 2, hi - lo]), "enclosing box value")


def _parse_line(
    tokens: Sequence[str], spec: _LineSpec, n_classes: int, size: ImageSize
) -> tuple[int, str, Any, Any, float | None]:
    """(class index, kind, geometry, keypoints, score) of one line; ValueError says what is wrong."""
    numbers = _numbers(tokens)
    cls_value = numbers[0]
    if cls_value != int(cls_value):
        raise ValueError(f"class {tokens[0]!r} is not an integer")
    cls = int(cls_value)
    if not 0 <= cls < n_classes:
        raise ValueError(f"class {cls} is outside the {n_classes} names (0..{n_classes - 1})")
    values = np.array(numbers[1:], dtype=np.float64)
    score = None
    if spec.conf:
        score = float(values[-1])
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"confidence {score!r} is outside [0, 1]")
        values = values[:-1]
    kind = _line_kind(len(values), spec)
    scale = np.array([size.width, size.height], dtype=np.float64)
    if kind in ("box", "pose"):
        box = values[:4]
        problem = _range_problem(box, "box value")
        if problem is None and (box[2] < 0 or box[3] < 0):
            problem = "box width and height must not be negative"
        if problem:
            raise ValueError(problem)
        cx, cy = box[:2] * scale
        w, h = box[2:] * scale
        geometry = Box.from_cxcywh(float(cx), float(cy), float(w), float(h))
        if kind == "box":
            return cls, kind, geometry, None, score
        k, d = spec.pose  # type: ignore[misc]
        kpts = values[4:].reshape(k, d)
        problem = _range_problem(kpts[:, :2], "keypoint coordinate")
        if problem:
            raise ValueError(problem)
        vis = kpts[:, 2] if d == 3 else np.full(k, 2.0)
        if ((vis < 0) | (vis > 2)).any():
            raise ValueError(f"keypoint visibility {float(vis[(vis < 0) | (vis > 2)][0])!r} is not 0, 1 or 2")
        return cls, kind, geometry, Keypoints(np.column_stack([kpts[:, :2] * scale, vis])), score
    points = values.reshape(-1, 2)
    problem = _points_problem(points)
    if problem:
        raise ValueError(problem)
    pixels = points * scale
    if kind == "obb":
        return cls, kind, Box.from_corners(pixels), pixels, score
    return cls, kind, Polygon.from_rings(pixels), None, score


def _skeleton(k: int, names: list[str] | None, flip: tuple[int, ...] | None) -> Skeleton:
    """The skeleton of a pose dataset: COCO's person (edges, OKS sigmas) when it has its 17 points."""
    points = (
        tuple(names) if names else (COCO_PERSON_KEYPOINTS if k == 17 else tuple(f"kp{i}" for i in range(k)))
    )
    if points == COCO_PERSON_KEYPOINTS:
        return coco_person_skeleton(flip)
    return Skeleton(points=points, flip_index=flip)


def _ontology(layout: _Layout) -> Ontology:
    ontology = Ontology.from_names(layout.names)
    if layout.kpt_shape is None:
        return ontology
    k = layout.kpt_shape[0]
    classes = tuple(
        replace(c, skeleton=_skeleton(k, layout.kpt_names.get(i), layout.flip_idx))
        for i, c in enumerate(ontology.classes)
    )
    return Ontology(classes)


def read(path: Path, options: ReadOptions) -> Dataset:
    """Read any YOLO layout (Ultralytics YAML, Darknet ``obj.data``, loose ``obj.names``)."""
    layout = _find_layout(Path(path))
    for label, reason in layout.orphans:
        options.reject(label, "file", reason)
    for file, where, reason in layout.missing:
        options.reject(file, where, reason)

    rows: list[list[tuple[int, list[str]]] | None] = []
    for entry in layout.entries:
        if entry.label is None:
            rows.append([])
            continue
        try:
            text = read_text(entry.label)
        except FormatError as exc:  # not UTF-8, or unreadable: this file's problem, not the dataset's
            options.reject(entry.label, "file", exc.reason)
            rows.append(None)
            continue
        rows.append([(n, line.split()) for n, line in enumerate(text.splitlines(), 1) if line.strip()])
    spec = _line_spec(layout, [len(t) - 1 for r in rows if r for _, t in r])

    source = Source.MODEL if spec.conf else Source.HUMAN
    images: list[ImageRecord] = []
    next_id, next_group = 1, 1
    for entry, lines in zip(layout.entries, rows, strict=True):
        if lines is None:
            continue
        media = FileMedia(entry.image)
        try:
            size = media.size()
        except UnsafeInputError:
            raise
        except FormatError as exc:
            options.reject(entry.image, "image", exc.reason)
            continue
        annotations: list[Annotation] = []
        for n, tokens in lines:
            try:
                cls, kind, geometry, more, score = _parse_line(tokens, spec, len(layout.names), size)
            except ValueError as exc:
                options.reject(entry.label or entry.image, f"line {n}", str(exc))
                continue
            label = layout.names[cls]
            if kind == "pose":
                for shape in (geometry, more):
                    annotations.append(
                        Annotation(next_id, label, shape, source=source, score=score, group_id=next_group)
                    )
                    next_id += 1
                next_group += 1
                continue
            extra = {CORNERS_KEY: more.tolist()} if kind == "obb" else {}
            annotations.append(Annotation(next_id, label, geometry, source=source, score=score, extra=extra))
            next_id += 1
        images.append(
            ImageRecord(
                id=len(images) + 1,
                file_name=entry.file_name,
                size=size,
                annotations=tuple(annotations),
                media=media,
                subset=entry.subset,
            )
        )
    return Dataset(_ontology(layout), tuple(images), info=layout.info)


def detect(path: Path) -> float:
    """0.9 for a dataset YAML beside images/labels or a Darknet obj.data; 0.5 for a loose obj.names."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() in (".yaml", ".yml"):
            return 0.9 if _yaml_has_names(path) else 0.0
        return 0.9 if path.name == "obj.data" else 0.0
    if not path.is_dir():
        return 0.0
    has_dirs = any((path / d).is_dir() for d in ("images", "labels"))
    if (path / "data.yaml").is_file():
        return 0.9 if has_dirs or _yaml_has_names(path / "data.yaml") else 0.3
    if any(_yaml_has_names(p) for p in path.glob("*.y*ml") if p.suffix.lower() in (".yaml", ".yml")):
        return 0.9 if has_dirs else 0.8
    if (path / "obj.data").is_file():
        return 0.9
    if any((path / n).is_file() for n in NAMES_FILES):
        label_dirs = ("labels", "Labels", "annotations", "Annotations")
        if any((path / d).is_dir() for d in label_dirs) or any(path.glob("obj_*_data")):
            return 0.5
    return 0.0
