"""ImageRecord and Dataset: images with their annotations and the project ontology.

An ImageRecord holds a lazy :class:`Media` handle rather than pixels, so a dataset of a million images costs
only its annotations in memory; pixels are read when someone asks (rendering, auto-labeling).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from seglab.core.annotation import Annotation, AttributeValue
from seglab.core.conventions import ImageSize
from seglab.core.ontology import Ontology


@runtime_checkable
class Media(Protocol):
    """Where an image's pixels come from. Implemented by the I/O layers (files, object storage)."""

    def read(self) -> np.ndarray:
        """The pixels as ``(height, width, 3)`` uint8 RGB (grayscale is expanded)."""
        ...

    def size(self) -> ImageSize:
        """The size, read from the header without decoding the pixels where possible."""
        ...


@dataclass(frozen=True)
class ArrayMedia:
    """Pixels already in memory (generated scenes, tests)."""

    pixels: np.ndarray

    def read(self) -> np.ndarray:
        px = self.pixels
        if px.ndim == 2:
            px = np.repeat(px[:, :, None], 3, axis=2)
        return px

    def size(self) -> ImageSize:
        return ImageSize.from_shape(self.pixels.shape)


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One image: its file name (relative, with ``/``), size, annotations and image-level labels.

    ``subset`` is the split (train, val, ...). ``tags`` are image-level classes (LabelMe flags, CVAT tags).
    """

    id: int
    file_name: str
    size: ImageSize | None
    annotations: tuple[Annotation, ...] = ()
    media: Media | None = field(default=None, compare=False, repr=False)
    subset: str | None = None
    tags: tuple[str, ...] = ()
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "annotations", tuple(self.annotations))
        object.__setattr__(self, "tags", tuple(self.tags))

    @property
    def stem(self) -> str:
        name = self.file_name.rsplit("/", 1)[-1]
        return name.rsplit(".", 1)[0] if "." in name else name

    def with_annotations(self, annotations: Iterable[Annotation]) -> ImageRecord:
        return replace(self, annotations=tuple(annotations))

    def with_(self, **changes: Any) -> ImageRecord:
        return replace(self, **changes)

    def require_size(self) -> ImageSize:
        """The size, from the record or else the media header; raises when neither knows it."""
        if self.size is not None:
            return self.size
        if self.media is not None:
            return self.media.size()
        raise ValueError(f"image {self.file_name!r} has no known size and no media to read it from")


@dataclass(frozen=True)
class Dataset:
    """Images, their annotations and the ontology they use. ``info`` keeps dataset-level metadata."""

    ontology: Ontology
    images: tuple[ImageRecord, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", tuple(self.images))

    def __iter__(self) -> Iterator[ImageRecord]:
        return iter(self.images)

    def __len__(self) -> int:
        return len(self.images)

    def annotations(self) -> Iterator[tuple[ImageRecord, Annotation]]:
        for image in self.images:
            for ann in image.annotations:
                yield image, ann

    @property
    def annotation_count(self) -> int:
        return sum(len(i.annotations) for i in self.images)

    def count_by_type(self) -> dict[str, int]:
        counts = Counter(a.kind.value for _, a in self.annotations())
        return {k: counts.get(k, 0) for k in ("box", "polygon", "polyline", "keypoints", "mask")}

    def count_by_class(self) -> dict[str, int]:
        counts = Counter(a.label for _, a in self.annotations())
        names = self.ontology.names
        return {n: counts.get(n, 0) for n in names} | {k: v for k, v in counts.items() if k not in names}

    def image(self, file_name: str) -> ImageRecord:
        for img in self.images:
            if img.file_name == file_name or img.stem == file_name:
                return img
        raise KeyError(f"no image {file_name!r} in the dataset")

    def subsets(self) -> list[str | None]:
        return list(dict.fromkeys(i.subset for i in self.images))

    def with_images(self, images: Sequence[ImageRecord]) -> Dataset:
        return replace(self, images=tuple(images))

    def with_(self, **changes: Any) -> Dataset:
        return replace(self, **changes)

    def renumbered(self) -> Dataset:
        """A copy whose annotation ids are 1..N over the whole dataset (unique, in order)."""
        next_id = 1
        images = []
        for img in self.images:
            anns = []
            for a in img.annotations:
                anns.append(a.with_(id=next_id))
                next_id += 1
            images.append(img.with_annotations(anns))
        return self.with_images(images)
