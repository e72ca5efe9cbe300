"""The project ontology: label classes, their kinds, allowed shapes, typed attributes and skeletons.

Class order is meaningful and deterministic: it is the order of the source file (or of creation), and
formats derive contiguous class indices from it (YOLO ids, semantic mask values). A class may also carry the
source's own id (COCO category ids need not be contiguous) so that a round trip keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class ShapeType(StrEnum):
    """The kinds of annotation geometry seglab knows."""

    BOX = "box"
    POLYGON = "polygon"
    POLYLINE = "polyline"
    KEYPOINTS = "keypoints"
    MASK = "mask"


class LabelKind(StrEnum):
    """Panoptic role of a class: countable ``thing`` (one segment per instance) or amorphous ``stuff``."""

    THING = "thing"
    STUFF = "stuff"


class AttributeType(StrEnum):
    BOOL = "bool"
    NUMBER = "number"
    TEXT = "text"
    CHOICE = "choice"


@dataclass(frozen=True)
class AttributeSpec:
    """A typed attribute a class (or image) may carry, e.g. ``occluded: bool`` or ``colour: choice``."""

    name: str
    type: AttributeType = AttributeType.TEXT
    choices: tuple[str, ...] = ()
    default: bool | float | str | None = None
    minimum: float | None = None
    maximum: float | None = None

    def explain_invalid(self, value: object) -> str | None:
        """Why ``value`` does not fit this attribute, or None when it does."""
        if self.type is AttributeType.BOOL:
            return None if isinstance(value, bool) else f"expected true/false, got {value!r}"
        if self.type is AttributeType.NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return f"expected a number, got {value!r}"
            if self.minimum is not None and value < self.minimum:
                return f"{value} is below the minimum {self.minimum}"
            if self.maximum is not None and value > self.maximum:
                return f"{value} is above the maximum {self.maximum}"
            return None
        if self.type is AttributeType.CHOICE:
            return None if value in self.choices else f"{value!r} is not one of {list(self.choices)}"
        return None if isinstance(value, str) else f"expected text, got {value!r}"


@dataclass(frozen=True)
class Skeleton:
    """Named keypoints and the edges between them (0-based point indices).

    ``sigmas`` are the per-point OKS constants (COCO's for the 17-point person); ``flip_index`` maps each
    point to its mirror for horizontal flips (Ultralytics' ``flip_idx``).
    """

    points: tuple[str, ...]
    edges: tuple[tuple[int, int], ...] = ()
    sigmas: tuple[float, ...] | None = None
    flip_index: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.points)
        for a, b in self.edges:
            if not (0 <= a < n and 0 <= b < n):
                raise ValueError(f"skeleton edge ({a}, {b}) refers to a point outside 0..{n - 1}")
        if self.sigmas is not None and len(self.sigmas) != n:
            raise ValueError(f"skeleton has {n} points but {len(self.sigmas)} sigmas")
        if self.flip_index is not None and len(self.flip_index) != n:
            raise ValueError(f"skeleton has {n} points but flip_index has {len(self.flip_index)}")

    def __len__(self) -> int:
        return len(self.points)


COCO_PERSON_SIGMAS: tuple[float, ...] = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
    0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)  # fmt: skip

# The 17 points of COCO's person, in COCO's order, and its 19 skeleton edges (0-based; COCO files write them
# 1-based). Ultralytics' pose models and most keypoint tools use this same layout.
COCO_PERSON_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
COCO_PERSON_EDGES: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9),
    (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip


def coco_person_skeleton(flip_index: tuple[int, ...] | None = None) -> Skeleton:
    """COCO's 17-point person skeleton with its OKS sigmas (``flip_index`` as the source gives it)."""
    return Skeleton(COCO_PERSON_KEYPOINTS, COCO_PERSON_EDGES, COCO_PERSON_SIGMAS, flip_index)


def default_color(index: int) -> tuple[int, int, int]:
    """The Pascal VOC colour map: distinct, deterministic colours for class index 0, 1, 2, ..."""
    r = g = b = 0
    c = index
    for shift in range(7, -1, -1):
        r |= ((c >> 0) & 1) << shift
        g |= ((c >> 1) & 1) << shift
        b |= ((c >> 2) & 1) << shift
        c >>= 3
    return (r, g, b)


@dataclass(frozen=True)
class LabelClass:
    """One class of the ontology.

    ``shapes`` lists the shape types an annotation of this class may have (empty: any). ``id`` is the
    source's own class id when it had one (COCO category id), kept for round trips.
    """

    name: str
    color: tuple[int, int, int] = (0, 0, 0)
    kind: LabelKind = LabelKind.THING
    shapes: frozenset[ShapeType] = frozenset()
    attributes: tuple[AttributeSpec, ...] = ()
    skeleton: Skeleton | None = None
    id: int | None = None
    parent: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_thing(self) -> bool:
        return self.kind is LabelKind.THING

    def allows(self, shape: ShapeType) -> bool:
        return not self.shapes or shape in self.shapes

    def attribute(self, name: str) -> AttributeSpec | None:
        return next((a for a in self.attributes if a.name == name), None)


@dataclass(frozen=True)
class Ontology:
    """The ordered classes of a project, image-level tags, and project-wide rules.

    ``full_coverage`` says every pixel must belong to some segment (panoptic projects).
    """

    classes: tuple[LabelClass, ...] = ()
    tags: tuple[str, ...] = ()
    image_attributes: tuple[AttributeSpec, ...] = ()
    full_coverage: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        seen: set[str] = set()
        for c in self.classes:
            if c.name in seen:
                raise ValueError(f"class name {c.name!r} appears twice in the ontology")
            seen.add(c.name)

    @classmethod
    def from_names(cls, names: Iterable[str], kind: LabelKind = LabelKind.THING) -> Ontology:
        """Classes with default colours, in the given order."""
        return cls(tuple(LabelClass(n, default_color(i + 1), kind) for i, n in enumerate(names)))

    def __iter__(self) -> Iterator[LabelClass]:
        return iter(self.classes)

    def __len__(self) -> int:
        return len(self.classes)

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.classes)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    def get(self, name: str) -> LabelClass | None:
        return self._by_name().get(name)

    def __getitem__(self, name: str) -> LabelClass:
        found = self._by_name().get(name)
        if found is None:
            raise KeyError(f"no class named {name!r} in the ontology")
        return found

    def index(self, name: str) -> int:
        """0-based position of a class: the contiguous id that formats derive."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no class named {name!r} in the ontology") from None

    def _by_name(self) -> dict[str, LabelClass]:
        cached = self.__dict__.get("_name_cache")
        if cached is None:
            cached = {c.name: c for c in self.classes}
            object.__setattr__(self, "_name_cache", cached)
        return cached

    def with_class(self, label: LabelClass) -> Ontology:
        """A new ontology with ``label`` added at the end, or replacing the class of the same name."""
        if label.name in self:
            return replace(self, classes=tuple(label if c.name == label.name else c for c in self.classes))
        return replace(self, classes=(*self.classes, label))

    def merged(self, other: Ontology) -> Ontology:
        """Classes of both, this ontology's first; a class already present is kept as it is."""
        out = self
        for c in other.classes:
            if c.name not in out:
                out = out.with_class(c)
        tags = (*self.tags, *(t for t in other.tags if t not in self.tags))
        return replace(out, tags=tags, full_coverage=self.full_coverage or other.full_coverage)
