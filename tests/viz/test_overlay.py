"""seglab.viz.draw_annotations: what is drawn where, on a copy, for every shape type."""

from __future__ import annotations

import numpy as np
import pytest

from seglab.core.annotation import Annotation
from seglab.core.geometry import Box, Keypoints, Polygon, Polyline
from seglab.core.mask import Mask
from seglab.core.ontology import LabelClass, LabelKind, Ontology, Skeleton
from seglab.viz import class_color, draw_annotations

GREY = 100
ONTOLOGY = Ontology(
    (
        LabelClass("thing", (255, 0, 0)),
        LabelClass("ground", (0, 0, 255), LabelKind.STUFF),
        LabelClass("body", (0, 255, 0), skeleton=Skeleton(("a", "b", "c"), ((0, 1), (1, 2)))),
        LabelClass("unset"),  # black: read as 'no colour', a palette colour is used
    )
)


def _canvas(h: int = 60, w: int = 80) -> np.ndarray:
    return np.full((h, w, 3), GREY, dtype=np.uint8)


def _draw(*anns: Annotation, **kw) -> np.ndarray:
    kw.setdefault("labels", False)
    return draw_annotations(_canvas(), anns, ONTOLOGY, **kw).pixels.astype(int)


def test_the_callers_image_is_never_changed() -> None:
    image = _canvas()
    before = image.copy()
    out = draw_annotations(image, [Annotation(1, "thing", Box(5, 5, 30, 30))], ONTOLOGY).pixels
    assert np.array_equal(image, before)
    assert out is not image and not np.shares_memory(out, image)
    assert not np.array_equal(out, image)


def test_mask_fill_blends_exactly_the_mask_pixels() -> None:
    m = np.zeros((60, 80), dtype=bool)
    m[10:40, 20:60] = True
    out = _draw(Annotation(1, "thing", Mask.from_array(m)), alpha=0.5)
    inner = out[15:35, 25:55]  # away from the 1-pixel outline
    assert (inner == np.rint(np.array([GREY, GREY, GREY]) * 0.5 + np.array([255, 0, 0]) * 0.5)).all()
    assert (out[50:, :] == GREY).all() and (out[:, :15] == GREY).all()


def test_polygon_hole_stays_unfilled() -> None:
    poly = Polygon.from_rings(
        [[5, 5], [75, 5], [75, 55], [5, 55]], [[[30, 20], [50, 20], [50, 40], [30, 40]]]
    )
    out = _draw(Annotation(1, "thing", poly))
    assert (out[30, 40] == GREY).all()  # centre of the hole
    assert out[12, 12, 0] > GREY and out[12, 12, 2] < GREY  # tinted red in the ring
    assert out[20, 40, 0] > GREY  # the hole's outline is drawn


def test_multi_part_polygon_fills_both_parts_only() -> None:
    poly = Polygon.from_flat([[2, 2, 20, 2, 20, 20, 2, 20], [50, 30, 70, 30, 70, 50, 50, 50]])
    out = _draw(Annotation(1, "thing", poly))
    assert out[10, 10, 0] > GREY and out[40, 60, 0] > GREY
    assert (out[40, 30] == GREY).all()


def test_stuff_is_drawn_below_things() -> None:
    ground = Polygon.from_rings([[0, 0], [80, 0], [80, 60], [0, 60]])
    thing = Polygon.from_rings([[20, 20], [40, 20], [40, 40], [20, 40]])
    # the thing comes first in the list but must still end up on top of the stuff
    out = _draw(Annotation(1, "thing", thing), Annotation(2, "ground", ground), alpha=0.6)
    assert out[30, 30, 0] > out[30, 30, 2]  # red over blue
    assert out[5, 5, 2] > out[5, 5, 0]


def test_polyline_is_drawn_along_its_points_and_not_closed() -> None:
    line = Polyline(np.array([[5.0, 10.0], [75.0, 10.0], [75.0, 50.0]]))
    out = _draw(Annotation(1, "thing", line))
    assert out[10, 40, 0] > 200  # on the first segment (y = 10 is between pixel rows 9 and 10)
    assert out[30, 75, 0] > 200 or out[30, 74, 0] > 200  # on the second segment
    assert (out[30, 40] == GREY).all()  # not filled
    assert (out[30, 5:10] == GREY).all()  # not closed back to the start


def test_rotated_box_follows_its_corners() -> None:
    box = Box.from_cxcywh(40, 30, 40, 10, rotation=45)
    out = _draw(Annotation(1, "thing", box))
    corners = box.corners()
    for x, y in corners:
        patch = out[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2, 0]
        assert (patch > GREY).any(), (x, y)
    # the corner of the unrotated box is far from the rotated outline
    assert (out[25, 20] == GREY).all()


def test_keypoints_visibility_styles() -> None:
    pts = np.array([[10.5, 10.5, 2], [40.5, 10.5, 1], [70.5, 10.5, 0]])
    out = _draw(Annotation(1, "body", Keypoints(pts)), line_width=3)
    assert out[10, 10, 1] > 200 and out[10, 10, 0] < 50  # visible: filled green
    assert out[10, 40].min() > 200  # occluded: a hollow ring, (nearly) white inside
    assert out[10, 43, 1] > 150  # ... with a green rim
    assert (out[5:16, 65:76] == GREY).all()  # not labeled: not drawn, nor its edge
    assert out[10, 25, 1] > GREY + 30  # the edge between the two labeled points


def test_box_caption_is_drawn_above_the_box() -> None:
    out = draw_annotations(_canvas(), [Annotation(1, "thing", Box(10, 30, 70, 55))], ONTOLOGY).pixels
    plain = draw_annotations(
        _canvas(), [Annotation(1, "thing", Box(10, 30, 70, 55))], ONTOLOGY, labels=False
    ).pixels
    differs = np.abs(out.astype(int) - plain.astype(int)).sum(axis=2) > 0
    rows = np.flatnonzero(differs.any(axis=1))
    assert rows.size and rows.max() < 30  # the caption sits above the top edge


def test_undrawable_annotations_are_reported_not_raised() -> None:
    bad_box = Box(float("nan"), 0, 10, 10)
    wrong_size = Mask.from_array(np.ones((5, 5), dtype=bool))
    rendered = draw_annotations(
        _canvas(),
        [
            Annotation(1, "thing", bad_box),
            Annotation(2, "thing", wrong_size),
            Annotation(3, "thing", Box(1, 1, 9, 9)),
        ],
        ONTOLOGY,
    )
    assert len(rendered.skipped) == 2
    assert "annotation 1" in rendered.skipped[0] and "not finite" in rendered.skipped[0]
    assert "annotation 2" in rendered.skipped[1]


def test_gray_and_rgba_inputs() -> None:
    gray = np.full((20, 30), 50, dtype=np.uint8)
    assert draw_annotations(gray, [], ONTOLOGY).pixels.shape == (20, 30, 3)
    rgba = np.zeros((20, 30, 4), dtype=np.uint8)
    assert draw_annotations(rgba, [], ONTOLOGY).pixels.shape == (20, 30, 3)
    with pytest.raises(ValueError, match="expected an"):
        draw_annotations(np.zeros((2, 2, 2), dtype=np.uint8), [], ONTOLOGY)


def test_class_colours() -> None:
    assert class_color(ONTOLOGY, "thing") == (255, 0, 0)
    assert class_color(ONTOLOGY, "unset") != (0, 0, 0)
    unknown = class_color(ONTOLOGY, "not-a-class")
    assert unknown == class_color(ONTOLOGY, "not-a-class")  # stable
    out = _draw(Annotation(1, "not-a-class", Box(5, 5, 30, 30)))
    assert not (out == GREY).all()  # unknown classes are still drawn
