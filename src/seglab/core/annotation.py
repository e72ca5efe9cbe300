"""Annotation: one labeled object of an image (its class, geometry, attributes and provenance)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from seglab.core.conventions import ImageSize
from seglab.core.geometry import Box, Keypoints, Polygon, Polyline
from seglab.core.mask import Mask
from seglab.core.ontology import ShapeType

AttributeValue = bool | int | float | str
ShapeValue = Box | Polygon | Polyline | Keypoints | Mask


class _FrozenEmptyDict(dict[str, Any]):
    """An empty dict that refuses to be filled. Its one instance, :data:`EMPTY`, stands in for the empty
    ``attributes`` and ``extra`` of annotations built in bulk: a reader of 100,000 objects would otherwise
    hold 100,000 empty dicts of 64 bytes per field. It is a real dict (JSON encoders, ``dict(...)`` and
    equality with ``{}`` behave as before); copies and pickles give back the same instance."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("this empty mapping is shared by many objects and cannot be changed")

    __setitem__ = __delitem__ = __ior__ = _refuse
    update = setdefault = pop = popitem = clear = _refuse

    def __reduce__(self) -> str:
        return "EMPTY"


EMPTY: Mapping[str, Any] = _FrozenEmptyDict()
"""The shared empty ``attributes`` / ``extra`` mapping (see :class:`_FrozenEmptyDict`)."""


def empty_to_shared(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    """``mapping``, or :data:`EMPTY` when it is empty: for builders of many annotations at once."""
    return mapping if mapping else EMPTY


class Source(StrEnum):
    """Who made a label: a person, or a model (auto-labeling, imported predictions)."""

    HUMAN = "human"
    MODEL = "model"


@dataclass(frozen=True, slots=True)
class Annotation:
    """One object: ``label`` is the class name, ``shape`` its geometry in seglab's coordinates.

    ``score`` is a model's confidence (COCO results' ``score``); ``uncertainty`` in [0, 1] is how likely the
    label is wrong. ``group_id`` joins several annotations into one object (LabelMe, CVAT groups);
    ``track_id`` follows an object across video frames. ``crowd`` is COCO's ``iscrowd``. ``extra`` keeps the
    source's fields that seglab has no place for, so a round trip through the same format loses nothing.
    """

    id: int
    label: str
    shape: ShapeValue
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    source: Source = Source.HUMAN
    score: float | None = None
    uncertainty: float | None = None
    track_id: int | None = None
    group_id: int | None = None
    z_order: int = 0
    crowd: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> ShapeType:
        return self.shape.kind

    def bounds(self) -> Box:
        """The axis-aligned box enclosing the shape."""
        b = self.shape.bounds()
        return b.bounds() if isinstance(b, Box) else b

    def with_(self, **changes: Any) -> Annotation:
        """A copy with some fields changed (annotations are values; nothing is edited in place)."""
        return replace(self, **changes)

    def to_mask(self, size: ImageSize) -> Mask:
        from seglab.core.raster import shape_to_mask

        return shape_to_mask(self.shape, size)
