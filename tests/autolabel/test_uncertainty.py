"""Per-pixel, per-object and per-image uncertainty; higher where the scene is deliberately ambiguous."""

from __future__ import annotations

import numpy as np
import pytest

from seglab.autolabel import image_uncertainty, objects_uncertainty, pixel_uncertainty, train_pixel_classifier
from seglab.autolabel.uncertainty import ensemble_disagreement, margin_uncertainty, normalized_entropy
from tests.autolabel.scenes import CLASSES, fast_config, scene


def test_entropy_and_margin_values():
    p = np.array([[1.0, 0.0], [0.5, 0.5], [0.8, 0.2]], dtype=np.float32)
    np.testing.assert_allclose(normalized_entropy(p), [0.0, 1.0, 0.7219], atol=1e-3)
    np.testing.assert_allclose(margin_uncertainty(p), [0.0, 1.0, 0.4], atol=1e-6)
    three = np.full((1, 3), 1 / 3, dtype=np.float32)
    assert normalized_entropy(three)[0] == np.float32(1.0) or abs(normalized_entropy(three)[0] - 1) < 1e-6


def test_disagreement_is_zero_for_agreeing_members_and_high_for_opposite_ones():
    agree = np.array([[[0.9, 0.1]], [[0.9, 0.1]]], dtype=np.float32)  # (M=2, N=1, K=2)
    oppose = np.array([[[0.99, 0.01]], [[0.01, 0.99]]], dtype=np.float32)
    assert ensemble_disagreement(agree)[0] < 1e-6
    assert ensemble_disagreement(oppose)[0] > 0.8
    # each member is sure, so entropy of a member is low; the mean is split: that is what MI measures
    u = pixel_uncertainty(oppose.mean(axis=0), ensemble_disagreement(oppose))
    assert u.total[0] > 0.9


def test_object_and_image_aggregation():
    unc = np.zeros((20, 20), dtype=np.float32)
    inst = np.zeros((20, 20), dtype=np.int32)
    inst[2:8, 2:8] = 1
    inst[10:18, 10:18] = 2
    unc[10:18, 13] = 0.9  # an uncertain ridge through object 2: a missed separating boundary
    objs = objects_uncertainty(inst, unc, band=1, core_quantile=0.5)
    assert objs[1].value == 0.0
    # the core's median does not see a one-pixel ridge; the interior mean and the band still do
    assert objs[2].peak == 0.0 and objs[2].interior > 0.1 and objs[2].boundary > 0.0
    assert objs[2].value > objs[2].interior
    ridge = objects_uncertainty(inst, unc, band=1, core_quantile=0.9)  # a high quantile sees it
    assert ridge[2].peak > 0.5 and ridge[2].value > 0.5
    summary = image_uncertainty(unc, list(objs.values()))
    assert summary.objects == 2 and summary.uncertain_objects == 0
    assert summary.max_object == objs[2].value and 0 < summary.mean < 0.05
    assert image_uncertainty(unc, list(ridge.values())).uncertain_objects == 1


def test_object_signals_combine_as_documented():
    from seglab.autolabel.uncertainty import BOUNDARY_WEIGHT, INSTABILITY_SCALE, combine_object_uncertainty

    assert combine_object_uncertainty(0.0, 0.0, 0.0, 0.0) == 0.0
    assert combine_object_uncertainty(0.0, 0.0, 0.0, 1.0 / INSTABILITY_SCALE) == 1.0  # saturates there
    expected = 1.0 - 0.8 * (1.0 - BOUNDARY_WEIGHT * 0.5) * 0.9
    assert abs(combine_object_uncertainty(0.2, 0.5, 0.1, 0.0) - expected) < 1e-12
    # more of any signal never makes an object look surer
    base = combine_object_uncertainty(0.1, 0.2, 0.1, 0.05)
    for bumped in ((0.3, 0.2, 0.1, 0.05), (0.1, 0.4, 0.1, 0.05), (0.1, 0.2, 0.3, 0.05), (0.1, 0.2, 0.1, 0.2)):
        assert combine_object_uncertainty(*bumped) > base
    with pytest.raises(ValueError, match="core_quantile"):
        objects_uncertainty(np.ones((4, 4), np.int32), np.zeros((4, 4), np.float32), core_quantile=1.5)


def test_uncertainty_is_higher_on_deliberately_ambiguous_pixels():
    """Train on clean scenes, then paint a patch that mixes disc and background texture half and half."""
    train = [scene(s) for s in (1, 2)]
    model = train_pixel_classifier(
        [s.pixels for s in train], [s.labels for s in train], CLASSES, fast_config()
    )
    a, b = scene(11), scene(12)
    mixed = a.pixels.copy()
    ambiguous = np.zeros(a.labels.shape, dtype=bool)
    disc = np.argwhere(b.labels == 1)
    ys, xs = disc[:, 0], disc[:, 1]
    ambiguous[ys, xs] = a.labels[ys, xs] == 0
    blend = 0.5 * a.pixels.astype(np.float32) + 0.5 * b.pixels.astype(np.float32)
    mixed[ambiguous] = blend[ambiguous].astype(np.uint8)
    pred = model.predict(mixed)
    total = pred.uncertainty().total
    clean = (a.labels == 0) & ~ambiguous
    assert ambiguous.sum() > 100
    assert total[ambiguous].mean() > 2 * total[clean].mean()
    assert pred.disagreement is not None
    assert pred.disagreement[ambiguous].mean() > pred.disagreement[clean].mean()


def test_instability_is_the_object_level_disagreement_of_members():
    from seglab.autolabel.uncertainty import INSTABILITY_SCALE, instance_instability

    inst = np.zeros((10, 20), dtype=np.int32)
    inst[2:8, 2:18] = 1  # one long object in the mean prediction
    owner = np.array([1])
    same = (inst.copy(), owner)
    split = np.zeros_like(inst)
    split[2:8, 2:10], split[2:8, 10:18] = 1, 2  # a member that sees two objects there
    other_class = (inst.copy(), np.array([2]))  # a member that sees another class there
    assert instance_instability(inst, owner, [same, same])[0] == 0.0
    np.testing.assert_allclose(instance_instability(inst, owner, [same, (split, np.array([1, 1]))]), [0.25])
    assert instance_instability(inst, owner, [other_class])[0] == 1.0
    objs = objects_uncertainty(inst, np.zeros((10, 20), np.float32), instability=np.array([0.25]))
    assert objs[1].instability == 0.25 and abs(objs[1].value - min(1.0, 0.25 * INSTABILITY_SCALE)) < 1e-9
