"""Active learning: k-center greedy diversity and uncertainty-weighted suggestions."""

from __future__ import annotations

import numpy as np

from seglab.autolabel import image_descriptor, suggest, train_pixel_classifier
from seglab.autolabel.selection import k_center_greedy
from tests.autolabel.scenes import CLASSES, fast_config, scene


def test_k_center_greedy_spreads_out():
    pts = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [10.1, 0.0], [5.0, 8.0]])
    picked = [i for i, _ in k_center_greedy(pts, np.array([[0.0, 0.0]]), 3)]
    assert picked[0] == 3 or picked[0] == 2  # farthest from the labeled point at the origin
    assert 4 in picked and not {2, 3} <= set(picked)  # never two near-copies in one batch


def test_weights_trade_off_against_distance():
    pts = np.array([[1.0, 0.0], [2.0, 0.0]])
    assert k_center_greedy(pts, np.zeros((1, 2)), 1, weights=np.array([1.0, 0.1]))[0][0] == 0
    assert k_center_greedy(pts, np.zeros((1, 2)), 1)[0][0] == 1


def test_suggest_prefers_unfamiliar_and_uncertain_images():
    train = [scene(s) for s in (1, 2)]
    model = train_pixel_classifier(
        [s.pixels for s in train], [s.labels for s in train], CLASSES, fast_config()
    )
    familiar = [scene(s) for s in (20, 21, 22)]
    odd = scene(23)
    strange = (255 - odd.pixels[:, :, ::-1]).copy()  # inverted, channel-swapped: unlike anything labeled
    candidates = [(f"familiar{i}", s.pixels, model.predict(s.pixels)) for i, s in enumerate(familiar)]
    candidates.append(("strange", strange, model.predict(strange)))
    known = [image_descriptor(s.pixels, model.predict(s.pixels)) for s in train]
    picks = suggest(candidates, known, 2)
    assert [p.rank for p in picks] == [1, 2]
    assert picks[0].image == "strange"
    assert picks[0].uncertainty > max(p.uncertainty for p in picks[1:])
    assert len({p.image for p in picks}) == 2
    assert suggest(candidates, known, 0) == []


def test_descriptor_is_fixed_length_whatever_the_size():
    a = image_descriptor(np.zeros((50, 70, 3), np.uint8))
    b = image_descriptor(np.zeros((500, 300), np.uint8))
    assert a.shape == b.shape and np.isfinite(a).all()
