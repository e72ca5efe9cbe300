"""Core value types: conventions, boxes, polygons, keypoints, masks, ontology and datasets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seglab.core import (
    Annotation,
    AttributeSpec,
    AttributeType,
    Box,
    BoxFormat,
    Dataset,
    ImageRecord,
    ImageSize,
    Keypoints,
    LabelClass,
    Mask,
    Ontology,
    Polygon,
    Polyline,
    Skeleton,
    convert_boxes,
)
from seglab.core.ontology import default_color
from seglab.core.raster import box_to_mask, shape_to_mask
from seglab.core.segmentation import panoptic_from_semantic_instances

coord = st.floats(-1e4, 1e4, allow_nan=False)


@given(st.lists(st.tuples(coord, coord, st.floats(0.1, 1e3), st.floats(0.1, 1e3)), min_size=1, max_size=8))
def test_box_layout_conversions_are_inverse(rows: list[tuple[float, float, float, float]]) -> None:
    xywh = np.array(rows)
    for layout in BoxFormat:
        there = convert_boxes(xywh, BoxFormat.XYWH, layout)
        back = convert_boxes(there, layout, BoxFormat.XYWH)
        np.testing.assert_allclose(back, xywh, rtol=1e-9, atol=1e-6)


@given(coord, coord, st.floats(1, 500), st.floats(1, 500), st.floats(-179, 179))
def test_rotated_box_corners_round_trip(cx: float, cy: float, w: float, h: float, angle: float) -> None:
    box = Box.from_cxcywh(cx, cy, w, h, angle)
    again = Box.from_corners(box.corners())
    np.testing.assert_allclose(again.corners(), box.corners(), atol=1e-6)


def test_first_pixel_box_is_one_pixel() -> None:
    mask = box_to_mask(Box(0, 0, 1, 1), 3, 3).array
    assert mask.sum() == 1 and mask[0, 0]
    assert ImageSize(640, 480).shape == (480, 640)


def test_shapes_are_frozen_values() -> None:
    poly = Polygon.from_rings([(0, 0), (4, 0), (4, 4), (0, 4)], holes=[[(1, 1), (2, 1), (2, 2)]])
    same = Polygon.from_rings([(0, 0), (4, 0), (4, 4), (0, 4), (0, 0)], holes=[[(1, 1), (2, 1), (2, 2)]])
    assert poly == same  # a closed ring equals the open one
    with pytest.raises(ValueError):
        poly.parts[0].exterior[0, 0] = 5.0
    assert Polyline([(0, 0), (3, 4)]).length == 5.0
    kp = Keypoints.from_flat([10, 20, 2, 0, 0, 0, 30, 5, 1])
    assert kp.num_labeled == 2 and kp.bounds() == Box(10, 5, 30, 20)


def test_polygon_from_coco_parts_and_back() -> None:
    flat = [[0, 0, 10, 0, 10, 10], [20, 20, 30, 20, 30, 30, 20, 30]]
    poly = Polygon.from_flat(flat)
    assert len(poly.parts) == 2 and poly.exteriors_flat() == [[float(v) for v in r] for r in flat]


def test_mask_area_bounds_iou_without_decoding() -> None:
    arr = np.zeros((10, 10), bool)
    arr[2:5, 3:8] = True
    m = Mask.from_array(arr)
    r = Mask.from_rle(m.rle_json())
    assert r.area == 15 and r.bounds() == Box(3, 2, 8, 5)
    other = np.zeros((10, 10), bool)
    other[2:5, 3:5] = True
    assert r.iou(Mask.from_array(other)) == pytest.approx(6 / 15)


def test_ontology_rules() -> None:
    assert default_color(1) == (128, 0, 0) and default_color(15) == (192, 128, 128)
    with pytest.raises(ValueError, match="twice"):
        Ontology((LabelClass("a"), LabelClass("a")))
    with pytest.raises(ValueError, match="outside"):
        Skeleton(("a", "b"), edges=((0, 2),))
    onto = Ontology.from_names(["cat", "dog"])
    assert onto.index("dog") == 1 and "cat" in onto and onto.with_class(LabelClass("cow")).names[-1] == "cow"
    spec = AttributeSpec("colour", AttributeType.CHOICE, choices=("red", "blue"))
    assert spec.explain_invalid("red") is None and "not one of" in (spec.explain_invalid("green") or "")
    assert AttributeSpec("n", AttributeType.NUMBER, maximum=3).explain_invalid(4)


def test_dataset_counts_and_renumbering() -> None:
    onto = Ontology.from_names(["a", "b"])
    img1 = ImageRecord(7, "x/1.jpg", ImageSize(4, 4), (Annotation(5, "a", Box(0, 0, 1, 1)),))
    img2 = ImageRecord(8, "2.jpg", ImageSize(4, 4), (Annotation(5, "b", Keypoints([[1, 1, 2]])),))
    ds = Dataset(onto, (img1, img2))
    assert ds.count_by_type()["box"] == 1 and ds.count_by_class() == {"a": 1, "b": 1}
    assert [a.id for _, a in ds.renumbered().annotations()] == [1, 2]
    assert ds.image("1").id == 7


def test_polyline_rasterizes_as_a_stroke() -> None:
    m = shape_to_mask(Polyline([(0, 5), (10, 5)]), ImageSize(10, 10), line_thickness=2.0)
    assert m.area == 20


def test_cityscapes_style_instance_map_to_panoptic() -> None:
    onto = Ontology.from_names(["road", "car"])
    semantic = np.array([[0, 0, 1, 1], [0, 0, 1, 1]], np.uint8)
    instances = np.array([[0, 0, 1, 2], [0, 0, 1, 2]])
    pan = panoptic_from_semantic_instances(semantic, instances, onto)
    assert len(pan.segments) == 3 and pan.void_pixels == 0


@given(
    size=st.integers(1, 500),
    bad=st.sampled_from([np.nan, np.inf, -np.inf, None]),
    where=st.floats(0, 1, exclude_max=True),
)
def test_all_finite_agrees_with_isfinite(size: int, bad: float | None, where: float) -> None:
    from seglab.core.geometry import all_finite

    values = np.random.default_rng(size).uniform(-1e300, 1e300, (size, 2))
    if bad is not None:
        values.flat[int(where * values.size)] = bad
    assert all_finite(values) == (bad is None)
    assert all_finite(values[:, 1]) == bool(np.isfinite(values[:, 1]).all())  # a strided view
    assert all_finite(np.zeros((0, 2))) and all_finite(np.arange(size))


def test_shared_empty_mapping_is_an_empty_dict_that_cannot_be_filled() -> None:
    import copy
    import json
    import pickle

    from seglab.core.annotation import EMPTY, empty_to_shared

    assert isinstance(EMPTY, dict) and EMPTY == {} and json.dumps(EMPTY) == "{}"
    assert pickle.loads(pickle.dumps(EMPTY)) is EMPTY and copy.deepcopy(EMPTY) is EMPTY
    for change in (
        lambda m: m.__setitem__("a", 1),
        lambda m: m.update(a=1),
        lambda m: m.setdefault("a", 1),
        lambda m: m.pop("a", None),
        lambda m: m.clear(),
    ):
        with pytest.raises(TypeError):
            change(EMPTY)
    assert EMPTY == {} and (EMPTY | {"a": 1}) == {"a": 1}
    filled = {"a": 1}
    assert empty_to_shared({}) is EMPTY and empty_to_shared(filled) is filled
    shared = Annotation(1, "a", Box(0, 0, 1, 1), attributes=EMPTY, extra=EMPTY)
    assert shared == Annotation(1, "a", Box(0, 0, 1, 1))
