"""Learning on generated scenes: from full masks, from scribbles; tiled = whole; label maps."""

from __future__ import annotations

import numpy as np
import pytest

from seglab.autolabel import ClassInfo, ModelError, label_map, train_pixel_classifier
from seglab.autolabel.pixel_classifier import PixelClassifier
from seglab.core import Annotation, ImageSize, Mask, Polygon, Polyline
from seglab.core.segmentation import IGNORE
from tests.autolabel.scenes import CLASSES, fast_config, miou, scene


@pytest.fixture(scope="module")
def trained() -> PixelClassifier:
    train = [scene(s) for s in (1, 2)]
    return train_pixel_classifier(
        [s.pixels for s in train], [s.labels for s in train], CLASSES, fast_config()
    )


def test_learns_textured_shapes_from_full_masks(trained):
    test = scene(7)
    pred = trained.predict(test.pixels)
    assert pred.proba.shape == (96, 96, 3)
    np.testing.assert_allclose(pred.proba.sum(axis=2), 1.0, atol=1e-5)
    assert miou(pred.labels, test.labels, 3) > 0.85
    assert pred.members == 2 and pred.disagreement is not None


def test_members_average_to_the_prediction(trained):
    test = scene(8, size=48, n_objects=2)
    members = trained.predict_members(test.pixels)
    mean = members.mean(axis=0)
    if trained.calibrator is not None:
        mean = trained.calibrator.apply(mean)
    np.testing.assert_allclose(mean, trained.predict(test.pixels).proba, atol=1e-5)


def test_tiled_prediction_equals_whole_image(trained):
    test = scene(9, size=80)
    whole = trained.predict(test.pixels)
    trained.tile = 24
    try:
        tiled = trained.predict(test.pixels)
    finally:
        trained.tile = 512
    np.testing.assert_allclose(tiled.proba, whole.proba, atol=1e-4)


def test_tile_sizes_off_the_coarse_feature_grid_are_rounded_up(trained):
    """The 4 px scale is filtered on a 2x coarser grid; a 21 px tile would start tiles off that grid."""
    test = scene(9, size=80)
    whole = trained.predict(test.pixels)
    trained.tile = 21
    try:
        assert trained.aligned_tile == 24
        tiled = trained.predict(test.pixels)
    finally:
        trained.tile = 512
    np.testing.assert_allclose(tiled.proba, whole.proba, atol=1e-4)


def test_members_differ_and_the_pixel_stage_has_its_own_rounds():
    """Members are subsets of one binned dataset yet differ (other pixels, other seeds)."""
    s = scene(4, size=64, n_objects=3)
    model = train_pixel_classifier([s.pixels], [s.labels], CLASSES, fast_config(members=3))
    assert len(model.members) == 3
    dumps = [b.model_to_string() for b in model.members]
    assert len(set(dumps)) == 3
    assert model.info["config"]["stage1_rounds"] == fast_config().stage1_rounds
    assert model.stage1.current_iteration() == fast_config().stage1_rounds


def test_learns_from_sparse_scribbles():
    """A few brush strokes per class (polylines) on two images; every other pixel is unlabeled."""
    images, maps = [], []
    for seed in (1, 2):
        s = scene(seed)
        size = ImageSize(96, 96)
        strokes = []
        for obj, cls in s.objects:
            ys, xs = np.nonzero(s.instances == obj)
            cy = ys.mean()
            line = np.array([[xs.min() + 2.0, cy - 2], [xs.max() - 1.0, cy + 2]])  # across the object
            strokes.append(Annotation(len(strokes) + 1, CLASSES[cls].name, Polyline(line)))
        for n, line in enumerate(([[2, 2], [93, 3], [93, 93]], [[3, 90], [50, 60], [90, 50]])):
            strokes.append(Annotation(90 + n, "background", Polyline(np.array(line, dtype=float))))
        lab = label_map(strokes, [c.name for c in CLASSES], size, stroke_width=3)
        assert (lab == IGNORE).mean() > 0.85  # sparse indeed
        images.append(s.pixels)
        maps.append(lab)
    model = train_pixel_classifier(images, maps, CLASSES, fast_config(members=1, calibration="none"))
    assert not model.info["calibrated"]  # too few labeled pixels to hold some out
    for seed in (1, 2):  # the scribbled images: ~88% of their pixels were never labeled
        s = scene(seed)
        assert miou(model.predict(s.pixels).labels, s.labels, 3) > 0.65
    test = scene(7)  # and an image without a single stroke
    assert miou(model.predict(test.pixels).labels, test.labels, 3) > 0.5


def test_label_map_painting_order_and_background():
    size = ImageSize(10, 10)
    big = Annotation(1, "a", Polygon.from_rings([np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)]))
    small = Annotation(2, "b", Mask.from_array(np.pad(np.ones((2, 2), bool), 4)), z_order=1)
    lab = label_map([small, big], ["a", "b"], size)
    assert lab[5, 5] == 1 and lab[0, 0] == 0
    lab = label_map([small], ["bg", "a", "b"], size, background="bg")
    assert lab[0, 0] == 0 and lab[5, 5] == 2
    assert (label_map([], ["a", "b"], size) == IGNORE).all()


def test_refuses_labels_of_one_class_only():
    s = scene(1, size=32, n_objects=0)
    with pytest.raises(ModelError, match="at least two"):
        train_pixel_classifier([s.pixels], [s.labels], CLASSES, fast_config())
    with pytest.raises(ModelError, match="two classes"):
        train_pixel_classifier([s.pixels], [s.labels], [ClassInfo("x")], fast_config())
    with pytest.raises(ModelError, match="does not match"):
        train_pixel_classifier([s.pixels], [s.labels[:5]], CLASSES, fast_config())


def test_same_seed_same_model():
    s = scene(3, size=48, n_objects=2)
    a = train_pixel_classifier([s.pixels], [s.labels], CLASSES, fast_config(members=1))
    b = train_pixel_classifier([s.pixels], [s.labels], CLASSES, fast_config(members=1))
    np.testing.assert_array_equal(a.predict(s.pixels).proba, b.predict(s.pixels).proba)
