"""Checks of what users send against the project: annotations against the ontology and the image, and
ontologies against themselves. Each returns a list of reasons (empty when all is well) naming the object.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from seglab.core.annotation import Annotation
from seglab.core.conventions import ImageSize
from seglab.core.geometry import Box, Keypoints, Polygon, Polyline
from seglab.core.mask import Mask
from seglab.core.ontology import AttributeSpec, AttributeType, Ontology

MAX_NAME = 200
EPS = 1e-6


def _outside(points: np.ndarray, size: ImageSize) -> bool:
    """Does any ``(N, 2)`` point lie outside the image rectangle [0, W] x [0, H]?"""
    if points.size == 0:
        return False
    # Two whole-array operations: saving thousands of polygons checks each of them here.
    return bool(points.min() < -EPS or (points > (size.width + EPS, size.height + EPS)).any())


def outside_flags(annotations: Sequence[Annotation], size: ImageSize) -> list[bool | None]:
    """For each annotation, whether its polygon or polyline has a point outside the image (None for
    other shapes), found for all of them at once: a save of thousands of polygons would otherwise pay
    numpy's per-call cost several times per object in :func:`_outside`."""
    rings: list[np.ndarray] = []
    owners: list[int] = []
    for i, ann in enumerate(annotations):
        shape = ann.shape
        if isinstance(shape, Polygon):
            for part in shape.parts:
                rings.append(part.exterior)
                rings.extend(part.holes)
                owners.extend([i] * (1 + len(part.holes)))
        elif isinstance(shape, Polyline):
            rings.append(shape.points)
            owners.append(i)
    flags: list[bool | None] = [
        False if isinstance(a.shape, Polygon | Polyline) else None for a in annotations
    ]
    if not rings:
        return flags
    points = np.concatenate(rings)
    bad = (points < -EPS).any(axis=1) | (points > (size.width + EPS, size.height + EPS)).any(axis=1)
    lengths = np.fromiter(map(len, rings), dtype=np.intp, count=len(rings))
    owner_of_point = np.repeat(np.asarray(owners, dtype=np.intp), lengths)
    for i in np.unique(owner_of_point[bad]).tolist():
        flags[i] = True
    return flags


def geometry_problems(
    ann: Annotation, size: ImageSize, ontology: Ontology, name: str | None = None, outside: bool | None = None
) -> list[str]:
    """Why the shape does not fit the image; ``outside`` is :func:`outside_flags`' answer when known."""
    shape = ann.shape
    where = f"{name or f'object {ann.id}'} ({ann.kind.value})"
    if isinstance(shape, Box):
        if not (shape.x_max > shape.x_min and shape.y_max > shape.y_min):
            return [f"{where}: box needs x_max > x_min and y_max > y_min"]
        if shape.rotation == 0.0:
            outside = _outside(np.array([[shape.x_min, shape.y_min], [shape.x_max, shape.y_max]]), size)
        else:
            outside = _outside(np.array([shape.centre]), size)
        return [f"{where}: box lies outside the {size.width}x{size.height} image"] if outside else []
    if isinstance(shape, Polygon):
        problems = []
        for i, part in enumerate(shape.parts):
            for j, ring in enumerate((part.exterior, *part.holes)):
                if len(ring) < 3:
                    name = "exterior" if j == 0 else f"hole {j - 1}"
                    problems.append(f"{where}: part {i} {name} has {len(ring)} points, a ring needs 3")
        if not problems and (_outside(shape.coordinates(), size) if outside is None else outside):
            problems.append(f"{where}: polygon has points outside the {size.width}x{size.height} image")
        return problems
    if isinstance(shape, Polyline):
        if len(shape.points) < 2:
            return [f"{where}: a polyline needs at least 2 points"]
        if _outside(shape.points, size) if outside is None else outside:
            return [f"{where}: polyline has points outside the {size.width}x{size.height} image"]
        return []
    if isinstance(shape, Keypoints):
        problems = []
        label = ontology.get(ann.label)
        skeleton = label.skeleton if label is not None else None
        if skeleton is not None and len(shape.points) != len(skeleton):
            problems.append(
                f"{where}: {len(shape.points)} keypoints, the skeleton of {ann.label!r} has {len(skeleton)}"
            )
        if not np.isin(shape.points[:, 2], (0.0, 1.0, 2.0)).all():
            problems.append(f"{where}: keypoint visibility must be 0, 1 or 2")
        elif _outside(shape.points[shape.labeled, :2], size):
            problems.append(f"{where}: keypoints outside the {size.width}x{size.height} image")
        return problems
    if isinstance(shape, Mask):
        if shape.size != size:
            return [
                f"{where}: mask is {shape.size.width}x{shape.size.height}, the image is "
                f"{size.width}x{size.height}"
            ]
        return []
    return [f"{where}: unknown shape"]


def annotation_problems(
    ann: Annotation,
    ontology: Ontology,
    size: ImageSize,
    name: str | None = None,
    outside: bool | None = None,
) -> list[str]:
    """Why ``ann`` cannot be stored in a project with this ontology on an image of this size.

    ``name`` is how the reasons refer to the object (default ``object <id>``); ``outside`` as in
    :func:`geometry_problems`.
    """
    label = ontology.get(ann.label)
    where = name or f"object {ann.id}"
    if label is None:
        return [f"{where}: class {ann.label!r} is not in the project's ontology"]
    problems = []
    if not label.allows(ann.kind):
        allowed = ", ".join(sorted(s.value for s in label.shapes))
        problems.append(f"{where}: class {ann.label!r} allows {allowed}, not {ann.kind.value}")
    for name, value in ann.attributes.items():
        spec = label.attribute(name)
        if spec is None:
            problems.append(f"{where}: class {ann.label!r} has no attribute {name!r}")
        elif (reason := spec.explain_invalid(value)) is not None:
            problems.append(f"{where}: attribute {name!r}: {reason}")
    if ann.uncertainty is not None and not 0.0 <= ann.uncertainty <= 1.0:
        problems.append(f"{where}: uncertainty must lie in [0, 1]")
    if ann.score is not None and not math.isfinite(ann.score):
        problems.append(f"{where}: score must be a finite number")
    return problems + geometry_problems(ann, size, ontology, name, outside)


def _attribute_spec_problems(spec: AttributeSpec, where: str) -> list[str]:
    problems = []
    if not spec.name or len(spec.name) > MAX_NAME:
        problems.append(f"{where}: attribute names need 1 to {MAX_NAME} characters")
    if spec.type is AttributeType.CHOICE and not spec.choices:
        problems.append(f"{where}: choice attribute {spec.name!r} has no choices")
    if spec.default is not None and (reason := spec.explain_invalid(spec.default)) is not None:
        problems.append(f"{where}: default of {spec.name!r}: {reason}")
    return problems


def ontology_problems(ontology: Ontology) -> list[str]:
    """Why this ontology cannot be a project's (names, colours, attribute specs)."""
    problems = []
    for c in ontology.classes:
        where = f"class {c.name!r}"
        if not c.name or len(c.name) > MAX_NAME:
            problems.append(f"{where}: class names need 1 to {MAX_NAME} characters")
        if len(c.color) != 3 or any(not 0 <= v <= 255 for v in c.color):
            problems.append(f"{where}: colour must be three values in 0..255")
        names = [a.name for a in c.attributes]
        if len(set(names)) != len(names):
            problems.append(f"{where}: attribute names repeat")
        for spec in c.attributes:
            problems.extend(_attribute_spec_problems(spec, where))
    for spec in ontology.image_attributes:
        problems.extend(_attribute_spec_problems(spec, "image attributes"))
    return problems
