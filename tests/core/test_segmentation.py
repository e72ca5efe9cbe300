"""Semantic <-> instance <-> panoptic conversions and validation."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from seglab.core import (
    Annotation,
    Dataset,
    ImageRecord,
    ImageSize,
    LabelClass,
    LabelKind,
    Mask,
    Ontology,
    Polygon,
)
from seglab.core.segmentation import (
    IGNORE,
    annotations_from_panoptic,
    annotations_from_semantic,
    panoptic_map,
    semantic_map,
)
from seglab.core.validation import validate

ONTOLOGY = Ontology(
    (
        LabelClass("road", (128, 64, 128), LabelKind.STUFF),
        LabelClass("sky", (70, 130, 180), LabelKind.STUFF),
        LabelClass("car", (0, 0, 142), LabelKind.THING),
        LabelClass("person", (220, 20, 60), LabelKind.THING),
    )
)


@given(arrays(np.uint8, (12, 16), elements=st.sampled_from([0, 1, 2, 3, IGNORE])))
def test_semantic_to_instances_and_back(semantic: np.ndarray) -> None:
    size = ImageSize(16, 12)
    anns = annotations_from_semantic(semantic, ONTOLOGY)
    assert np.array_equal(semantic_map(anns, ONTOLOGY, size), semantic)


@given(arrays(np.uint8, (12, 16), elements=st.sampled_from([0, 1, 2, 3, IGNORE])))
def test_instances_to_panoptic_and_back(semantic: np.ndarray) -> None:
    size = ImageSize(16, 12)
    anns = annotations_from_semantic(semantic, ONTOLOGY)
    pan = panoptic_map(anns, ONTOLOGY, size)
    assert pan.void_pixels == int((semantic == IGNORE).sum())
    stuff = [s for s in pan.segments if not s.is_thing]
    assert len({s.label for s in stuff}) == len(stuff)  # stuff merged per class
    again = annotations_from_panoptic(pan)
    assert np.array_equal(semantic_map(again, ONTOLOGY, size), semantic)
    assert np.array_equal(panoptic_map(again, ONTOLOGY, size).ids, pan.ids)


def test_z_order_decides_overlaps() -> None:
    size = ImageSize(10, 10)
    low = Annotation(1, "car", Polygon.from_rings([(0, 0), (8, 0), (8, 8), (0, 8)]), z_order=1)
    high = Annotation(2, "person", Polygon.from_rings([(4, 4), (10, 4), (10, 10), (4, 10)]), z_order=2)
    for order in ([low, high], [high, low]):
        sem = semantic_map(order, ONTOLOGY, size)
        assert sem[5, 5] == ONTOLOGY.index("person")
        assert sem[1, 1] == ONTOLOGY.index("car")


def test_validate_explains_problems() -> None:
    bowtie = Polygon.from_rings([(0, 0), (4, 4), (4, 0), (0, 4)])
    anns = (
        Annotation(1, "car", bowtie),
        Annotation(2, "unicorn", Polygon.from_rings([(0, 0), (2, 0), (2, 2)])),
        Annotation(3, "car", Polygon.from_rings([(0, 0), (1, 1)])),
        Annotation(4, "road", Mask.from_array(np.ones((5, 5), bool))),
        Annotation(5, "road", Mask.from_array(np.ones((5, 5), bool)), group_id=3),
    )
    ds = Dataset(ONTOLOGY, (ImageRecord(1, "a.jpg", ImageSize(5, 5), anns),))
    issues = validate(ds, panoptic=True)
    codes = {(i.code, i.annotation_id) for i in issues}
    assert ("invalid-polygon", 1) in codes
    assert any("Self-intersection" in i.message for i in issues if i.annotation_id == 1)
    assert ("unknown-class", 2) in codes
    assert ("degenerate-polygon", 3) in codes
    assert ("stuff-instance", 5) in codes
    assert ("overlap", None) in codes
