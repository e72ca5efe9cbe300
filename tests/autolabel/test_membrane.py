"""Learning on real data: ISBI 2012 electron-microscopy slices (../shared/data/membrane)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from seglab.autolabel import ClassInfo, FeatureConfig, annotations_from_prediction, train_pixel_classifier
from seglab.core import LabelKind
from tests.autolabel.scenes import fast_config, miou
from tests.conftest import shared_data

CLASSES = (ClassInfo("membrane", LabelKind.STUFF), ClassInfo("cell", LabelKind.THING))


def _slice(index: int, crop: int = 256) -> tuple[np.ndarray, np.ndarray]:
    root = shared_data("membrane", "train")
    image = np.asarray(Image.open(root / "image" / f"{index}.png"))[:crop, :crop]
    label = (np.asarray(Image.open(root / "label" / f"{index}.png"))[:crop, :crop] > 127).astype(np.uint8)
    return image, label


def test_few_shot_membrane_segmentation():
    train = [_slice(i) for i in (0, 1)]
    config = fast_config(features=FeatureConfig(sigmas=(0.7, 1.6, 4.0), color="gray"), rounds=40)
    model = train_pixel_classifier([t[0] for t in train], [t[1] for t in train], CLASSES, config)
    image, truth = _slice(20)
    pred = model.predict(image)
    assert miou(pred.labels, truth, 2) > 0.68
    cells = [a for a in annotations_from_prediction(pred, CLASSES) if a.label == "cell"]
    assert len(cells) > 20  # the slice shows dozens of cells
    assert np.median([a.uncertainty for a in cells]) < 0.5
