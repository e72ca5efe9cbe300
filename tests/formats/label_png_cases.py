"""Shared builders for the label-PNG format tests: random label maps and pixel-exact comparisons."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import strategies as st

from seglab.core import Annotation, Dataset, ImageRecord, ImageSize, LabelClass, LabelKind, Mask, Ontology
from seglab.core.ontology import default_color
from seglab.core.segmentation import panoptic_map, semantic_map
from seglab.formats.base import FormatSpec, LossReport, ReadOptions, WriteOptions

SLOTS = 6  # region values 1..SLOTS in a random map; 0 stays unlabeled


def ontology_of(kinds: Iterable[LabelKind]) -> Ontology:
    classes = []
    for i, kind in enumerate(kinds):
        classes.append(LabelClass(f"{kind.value}{i}", default_color(i + 1), kind))
    return Ontology(tuple(classes))


@st.composite
def panoptic_datasets(draw, *, crowd: bool = True, stuff_crowd: bool = False, max_side: int = 9) -> Dataset:
    """Datasets of 1-2 images whose annotations partition random label maps.

    Each slot of the map is one thing instance (optionally crowd) or part of a stuff class; the stuff
    slots of one class form a single annotation, as the panoptic formats hold them.
    """
    kinds = draw(st.lists(st.sampled_from([LabelKind.THING, LabelKind.STUFF]), min_size=1, max_size=4))
    ontology = ontology_of(kinds)
    images = []
    next_id = 1
    for image_id in range(1, draw(st.integers(1, 2)) + 1):
        h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
        slots = draw(hnp.arrays(np.int8, (h, w), elements=st.integers(0, SLOTS)))
        slot_class = draw(st.lists(st.sampled_from(ontology.classes), min_size=SLOTS, max_size=SLOTS))
        slot_crowd = draw(st.lists(st.booleans(), min_size=SLOTS, max_size=SLOTS))
        anns: list[Annotation] = []
        stuff: dict[str, np.ndarray] = {}
        stuff_crowd_flag: dict[str, bool] = {}
        for slot in range(1, SLOTS + 1):
            region = slots == slot
            if not region.any():
                continue
            cls = slot_class[slot - 1]
            if cls.is_thing:
                is_crowd = crowd and slot_crowd[slot - 1]
                anns.append(Annotation(next_id, cls.name, Mask.from_array(region), crowd=is_crowd))
                next_id += 1
            else:
                stuff[cls.name] = stuff.get(cls.name, np.zeros((h, w), bool)) | region
                stuff_crowd_flag[cls.name] = stuff_crowd and slot_crowd[slot - 1]
        for name, region in stuff.items():
            anns.append(Annotation(next_id, name, Mask.from_array(region), crowd=stuff_crowd_flag[name]))
            next_id += 1
        images.append(ImageRecord(image_id, f"img{image_id}.png", ImageSize(w, h), tuple(anns)))
    return Dataset(ontology, tuple(images))


@contextmanager
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="seglab-test-") as tmp:
        yield Path(tmp) / "out"


def write_read(spec: FormatSpec, dataset: Dataset, dst: Path) -> tuple[LossReport, Dataset]:
    """Write into the empty folder ``dst``, then read it back strictly."""
    dst.mkdir(parents=True)
    report = spec.write(dataset, dst, WriteOptions())
    options = ReadOptions()
    back = spec.read(dst, options)
    options.finish()
    return report, back


def segments(image: ImageRecord) -> list[tuple[str, bool, bytes]]:
    """An image's annotations as comparable (label, crowd, mask bytes) triples."""
    size = image.require_size()
    out = []
    for a in image.annotations:
        arr = a.to_mask(size).array
        out.append((a.label, a.crowd, np.packbits(arr).tobytes() + bytes(str(arr.shape), "ascii")))
    return sorted(out)


def merged_crowds(dataset: Dataset) -> Dataset:
    """The dataset with the crowd regions of each thing class joined, as Cityscapes stores them."""
    images = []
    for image in dataset.images:
        size = image.require_size()
        crowd: dict[str, np.ndarray] = {}
        rest = []
        for a in image.annotations:
            if a.crowd and dataset.ontology[a.label].is_thing:
                crowd[a.label] = crowd.get(a.label, np.zeros(size.shape, bool)) | a.to_mask(size).array
            else:
                rest.append(a)
        merged = [
            Annotation(-k, name, Mask.from_array(v), crowd=True) for k, (name, v) in enumerate(crowd.items())
        ]
        images.append(image.with_annotations([*rest, *merged]))
    return dataset.with_images(images)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Two segment-id maps describe the same segments (void to void), whatever the ids are."""
    if a.shape != b.shape or not np.array_equal(a == 0, b == 0):
        return False
    pairs = np.unique(np.stack([a.ravel(), b.ravel()], axis=1), axis=0)
    return len(np.unique(pairs[:, 0])) == len(pairs) == len(np.unique(pairs[:, 1]))


def assert_same_maps(original: Dataset, back: Dataset) -> None:
    """Pixel for pixel the same panoptic segments and the same semantic map, image by image."""
    assert back.ontology.names == original.ontology.names
    assert len(back.images) == len(original.images)
    for img, got in zip(original.images, back.images, strict=True):
        size = img.require_size()
        assert got.require_size() == size
        want_pan = panoptic_map(img.annotations, original.ontology, size)
        got_pan = panoptic_map(got.annotations, back.ontology, size)
        assert same_partition(want_pan.ids, got_pan.ids)
        want_sem = semantic_map(img.annotations, original.ontology, size)
        got_sem = semantic_map(got.annotations, back.ontology, size)
        assert np.array_equal(want_sem, got_sem)
