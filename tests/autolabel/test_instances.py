"""Probabilities to annotations: stuff regions, split touching things, polygons with holes, provenance."""

from __future__ import annotations

import numpy as np

from seglab.autolabel import ClassInfo, InstanceOptions, Prediction, annotations_from_prediction, instance_map
from seglab.autolabel.instances import split_instances
from seglab.core import LabelKind, Mask, Polygon, Source
from seglab.core.raster import polygon_to_mask

CLASSES = (ClassInfo("ground", LabelKind.STUFF), ClassInfo("coin", LabelKind.THING))


def _disc(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _prediction(region: np.ndarray, p: float = 0.9) -> Prediction:
    proba = np.where(region[:, :, None], [1 - p, p], [p, 1 - p]).astype(np.float32)
    return Prediction(proba)


def test_touching_discs_are_split_and_an_elongated_bar_is_not():
    touching = _disc(60, 80, 30, 25, 12) | _disc(60, 80, 30, 47, 12)
    ids = split_instances(touching, split_depth=2.0)
    assert ids.max() == 2
    left, right = ids[30, 20], ids[30, 52]
    assert left != right and left > 0 and right > 0
    bar = np.zeros((40, 120), dtype=bool)
    bar[15:25, 5:115] = True
    assert split_instances(bar, split_depth=2.0).max() == 1
    # no splitting asked for: one component stays one object
    assert split_instances(touching, split_depth=0).max() == 1


def test_small_pieces_are_dropped():
    region = _disc(40, 40, 20, 20, 8)
    region[2:4, 2:4] = True  # 4-pixel speck
    ids = split_instances(region, min_area=16)
    assert ids.max() == 1 and ids[3, 3] == 0


def test_annotations_carry_model_provenance_and_exact_polygons_with_holes():
    ring = _disc(64, 64, 32, 32, 20) & ~_disc(64, 64, 32, 32, 8)
    pred = _prediction(ring)
    anns = annotations_from_prediction(pred, CLASSES)
    by_label = {a.label: a for a in anns}
    assert set(by_label) == {"ground", "coin"}
    coin = by_label["coin"]
    assert isinstance(coin.shape, Polygon) and coin.shape.has_holes
    np.testing.assert_array_equal(polygon_to_mask(coin.shape, 64, 64).array, ring)  # exact, hole kept
    for a in anns:
        assert a.source is Source.MODEL
        assert 0.0 <= a.uncertainty <= 1.0 and 0.0 <= a.score <= 1.0
    assert abs(coin.score - 0.9) < 1e-5
    assert set(coin.extra["uncertainty_detail"]) == {"interior", "boundary", "peak", "instability"}
    # ground is stuff: one annotation for all of it, including the hole of the ring
    ground = polygon_to_mask(by_label["ground"].shape, 64, 64).array
    np.testing.assert_array_equal(ground, ~ring)


def test_mask_output_and_background_classes_give_no_annotation():
    region = _disc(40, 40, 20, 20, 10)
    classes = (ClassInfo("bg", LabelKind.STUFF, background=True), ClassInfo("coin"))
    anns = annotations_from_prediction(_prediction(region), classes, options=InstanceOptions(shape="mask"))
    assert [a.label for a in anns] == ["coin"]
    assert isinstance(anns[0].shape, Mask)
    np.testing.assert_array_equal(anns[0].shape.array, region)


def test_instance_map_matches_annotations():
    region = _disc(60, 80, 30, 20, 10) | _disc(60, 80, 30, 60, 10)
    pred = _prediction(region)
    _, owner = instance_map(pred, CLASSES)
    anns = annotations_from_prediction(pred, CLASSES, first_id=10)
    assert len(anns) == len(owner) == 3  # ground + two coins
    assert [a.id for a in anns] == [10, 11, 12]
    for a, k in zip(anns, owner, strict=True):
        assert a.label == CLASSES[k].name


def test_uncertain_object_gets_higher_uncertainty():
    region = _disc(60, 80, 30, 20, 10) | _disc(60, 80, 30, 60, 10)
    proba = np.where(region[:, :, None], [0.05, 0.95], [0.95, 0.05]).astype(np.float32)
    right = _disc(60, 80, 30, 60, 10)
    proba[right] = [0.4, 0.6]  # the model barely prefers 'coin' here
    anns = [a for a in annotations_from_prediction(Prediction(proba), CLASSES) if a.label == "coin"]
    sure, unsure = sorted(anns, key=lambda a: a.shape.parts[0].exterior[:, 0].min())
    assert unsure.uncertainty > sure.uncertainty + 0.3
    assert unsure.score < sure.score


def test_objects_the_members_do_not_reproduce_are_uncertain():
    region = _disc(60, 80, 30, 20, 10) | _disc(60, 80, 30, 60, 10)
    proba = np.where(region[:, :, None], [0.1, 0.9], [0.9, 0.1]).astype(np.float32)
    labels = region.astype(np.uint8)
    shifted = labels.copy()
    shifted[:, 50:] = 0  # the second member does not see the right disc at all
    pred = Prediction(proba, np.zeros((60, 80), np.float32), 2, np.stack([labels, shifted]))
    coins = sorted(
        (a for a in annotations_from_prediction(pred, CLASSES) if a.label == "coin"),
        key=lambda a: a.shape.parts[0].exterior[:, 0].min(),
    )
    assert coins[0].extra["uncertainty_detail"]["instability"] == 0.0
    assert coins[1].extra["uncertainty_detail"]["instability"] == 0.5
    assert coins[1].uncertainty == 1.0 > coins[0].uncertainty
