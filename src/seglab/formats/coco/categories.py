"""COCO categories into label classes: merged over the files of a folder, skeletons converted to 0-based."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from seglab.core.ontology import (
    COCO_PERSON_KEYPOINTS,
    COCO_PERSON_SIGMAS,
    AttributeSpec,
    AttributeType,
    LabelClass,
    LabelKind,
    ShapeType,
    Skeleton,
    default_color,
)
from seglab.formats.coco.constants import CATEGORY_KEYS, SHAPE_NAMES, is_int


@dataclass
class ClassDraft:
    """A label class being assembled from one or more files' categories."""

    name: str
    id: int
    file: str
    parent: str | None = None
    kind: LabelKind = LabelKind.THING
    color: tuple[int, int, int] | None = None
    keypoint_names: list[str] | None = None
    skeleton: list[Any] | None = None
    sigmas: tuple[float, ...] | None = None
    flip_index: tuple[int, ...] | None = None
    attributes: tuple[AttributeSpec, ...] = ()
    shapes: frozenset[ShapeType] = frozenset()
    extra: dict[str, Any] = field(default_factory=dict)
    max_points: int = 0  # most keypoints seen in one annotation, for skeletons that name no points


def attribute_spec(raw: object) -> AttributeSpec | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return None
    try:
        kind = AttributeType(raw.get("type", "text"))
    except ValueError:
        return None
    choices = raw.get("choices", [])
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        return None
    return AttributeSpec(
        raw["name"], kind, tuple(choices), raw.get("default"), raw.get("minimum"), raw.get("maximum")
    )


class Categories:
    """The classes being assembled from one or more files' categories (by name, first file first)."""

    def __init__(self) -> None:
        self.drafts: dict[str, ClassDraft] = {}

    def note_points(self, label: str, count: int) -> None:
        """An annotation of ``label`` has ``count`` keypoints (names skeletons that name no points)."""
        draft = self.drafts[label]
        draft.max_points = max(draft.max_points, count)

    def add(self, raw_cats: list[Any], file: str, reject: Callable[[str, str, str], None]) -> dict[int, str]:
        """Merge a file's categories; returns its category id -> class name (rejected ones left out)."""
        by_id: dict[int, str] = {}
        names: set[str] = set()
        for i, cat in enumerate(raw_cats):
            where = f"category #{i}"
            if not isinstance(cat, dict):
                reject(file, where, "category is not an object")
                continue
            cid, name = cat.get("id"), cat.get("name")
            where = f"category {cid} ({name})"
            if not is_int(cid):
                reject(file, where, f"category id {cid!r} is not an integer")
                continue
            if not isinstance(name, str) or not name:
                reject(file, where, f"category name {name!r} is not a non-empty string")
                continue
            if cid in by_id:
                reject(file, where, f"category id {cid} is used twice")
                continue
            if name in names:
                reject(file, where, f"category name {name!r} is used by another id")
                continue
            by_id[cid] = name
            names.add(name)
            self._merge(cat, cid, name, file)
        return by_id

    def _merge(self, cat: Mapping[str, Any], cid: int, name: str, file: str) -> None:
        draft = self.drafts.get(name)
        if draft is None:
            draft = self.drafts[name] = ClassDraft(name=name, id=cid, file=file)
            parent = cat.get("supercategory")
            draft.parent = parent if isinstance(parent, str) and parent else None
            if cat.get("isthing") in (0, False):
                draft.kind = LabelKind.STUFF
            color = cat.get("color")
            if (
                isinstance(color, list)
                and len(color) == 3
                and all(is_int(c) and 0 <= c <= 255 for c in color)
            ):
                draft.color = (color[0], color[1], color[2])
            elif color is not None:
                draft.extra["color"] = color
            specs = cat.get("attributes")
            if isinstance(specs, list) and all(attribute_spec(s) for s in specs):
                draft.attributes = tuple(s for s in map(attribute_spec, specs) if s is not None)
            elif specs is not None:
                draft.extra["attributes"] = specs
            kinds = cat.get("shapes")
            if isinstance(kinds, list) and all(s in SHAPE_NAMES for s in kinds):
                draft.shapes = frozenset(ShapeType(s) for s in kinds)
            elif kinds is not None:
                draft.extra["shapes"] = kinds
            for key, value in cat.items():
                if key not in CATEGORY_KEYS:
                    draft.extra.setdefault(key, value)
        # keypoint definitions may come from a later file (person_keypoints_* next to instances_*)
        names, edges = cat.get("keypoints"), cat.get("skeleton")
        if draft.keypoint_names is None and (names or edges):
            if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
                draft.extra.update(keypoints=names, skeleton=edges)  # unusable: kept verbatim
                return
            draft.keypoint_names, draft.skeleton, draft.file = list(names or []), edges or [], file
            sigmas, flip = cat.get("sigmas"), cat.get("flip_index")
            if (
                isinstance(sigmas, list)
                and len(sigmas) == len(draft.keypoint_names)
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in sigmas)
            ):
                draft.sigmas = tuple(float(v) for v in sigmas)
            if isinstance(flip, list) and len(flip) == len(draft.keypoint_names) and all(map(is_int, flip)):
                draft.flip_index = tuple(flip)

    def _skeleton(self, draft: ClassDraft) -> Skeleton | None:
        names, edges = draft.keypoint_names, draft.skeleton
        if names is None:
            return None
        if not names:
            if not draft.max_points:  # no names and no annotation says how many: keep the raw fields
                draft.extra.update(keypoints=[], skeleton=edges)
                return None
            names = [str(i + 1) for i in range(draft.max_points)]
        n = len(names)
        pairs_ok = isinstance(edges, list) and all(
            isinstance(e, list) and len(e) == 2 and all(map(is_int, e)) for e in edges
        )
        flat = [v for e in edges for v in e] if pairs_ok else [-1]
        if all(1 <= v <= n for v in flat):
            pairs = tuple((a - 1, b - 1) for a, b in edges or [])
        elif all(0 <= v < n for v in flat):
            pairs = tuple((a, b) for a, b in edges or [])  # 0-based, as some exporters write it
        else:  # e.g. CrowdPose files carry COCO's 17-point skeleton beside 14 names: keep it verbatim
            draft.extra["skeleton"] = edges
            pairs = ()
        sigmas = draft.sigmas
        if sigmas is None and tuple(names) == COCO_PERSON_KEYPOINTS:
            sigmas = COCO_PERSON_SIGMAS
        return Skeleton(tuple(names), pairs, sigmas, draft.flip_index)

    def classes(self) -> tuple[LabelClass, ...]:
        """The label classes, in the order their names first appeared."""
        classes = []
        for i, draft in enumerate(self.drafts.values()):
            classes.append(
                LabelClass(
                    name=draft.name,
                    color=draft.color or default_color(i + 1),
                    kind=draft.kind,
                    shapes=draft.shapes,
                    attributes=draft.attributes,
                    skeleton=self._skeleton(draft),
                    id=draft.id,
                    parent=draft.parent,
                    extra=draft.extra,
                )
            )
        return tuple(classes)


def ontology_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    tags = raw.get("tags")
    if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
        out["tags"] = tuple(tags)
    specs = raw.get("image_attributes")
    if isinstance(specs, list) and all(attribute_spec(s) for s in specs):
        out["image_attributes"] = tuple(s for s in map(attribute_spec, specs) if s is not None)
    if isinstance(raw.get("full_coverage"), bool):
        out["full_coverage"] = raw["full_coverage"]
    return out
