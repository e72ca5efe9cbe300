"""ECE, reliability diagrams and the two calibrators."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from seglab.autolabel import (
    IsotonicCalibration,
    TemperatureScaling,
    expected_calibration_error,
    reliability_curve,
    reliability_diagram,
)
from seglab.autolabel.calibration import calibrator_from_json, fit_calibrator


def _overconfident(n: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """True class probability q ~ U(0.5, 1) for class 0, reported as q sharpened (overconfident)."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.5, 1.0, n)
    y = np.where(rng.random(n) < q, 0, 1)
    logit = np.log(q / (1 - q)) * 3.0
    p0 = 1 / (1 + np.exp(-logit))
    return np.stack([p0, 1 - p0], axis=1).astype(np.float32), y


def test_ece_is_near_zero_when_calibrated_and_large_when_not():
    rng = np.random.default_rng(1)
    q = rng.uniform(0.5, 1.0, 50000)
    y = np.where(rng.random(q.size) < q, 0, 1)
    calibrated = np.stack([q, 1 - q], axis=1)
    assert expected_calibration_error(calibrated, y) < 0.01
    proba, y2 = _overconfident()
    assert expected_calibration_error(proba, y2) > 0.08


def test_temperature_scaling_softens_overconfidence_and_keeps_argmax():
    proba, y = _overconfident()
    t = TemperatureScaling.fit(proba, y)
    assert 2.0 < t.temperature < 4.0  # the sharpening factor was 3
    fixed = t.apply(proba)
    np.testing.assert_array_equal(fixed.argmax(axis=1), proba.argmax(axis=1))
    assert expected_calibration_error(fixed, y) < 0.02


def test_isotonic_calibration_reduces_ece_and_round_trips_through_json():
    proba, y = _overconfident()
    iso = IsotonicCalibration.fit(proba, y)
    fixed = iso.apply(proba)
    np.testing.assert_allclose(fixed.sum(axis=1), 1.0, atol=1e-5)
    assert expected_calibration_error(fixed, y) < 0.03 < expected_calibration_error(proba, y)
    again = calibrator_from_json(iso.to_json())
    np.testing.assert_allclose(again.apply(proba), fixed, atol=1e-6)
    assert calibrator_from_json(TemperatureScaling(2.5).to_json()) == TemperatureScaling(2.5)
    assert fit_calibrator("none", proba, y) is None
    with pytest.raises(ValueError):
        calibrator_from_json({"method": "temperature", "temperature": -1})


def test_reliability_diagram_png(tmp_path):
    proba, y = _overconfident(5000)
    before = reliability_curve(proba.max(axis=1), proba.argmax(axis=1) == y)
    after_p = TemperatureScaling.fit(proba, y).apply(proba)
    after = reliability_curve(after_p.max(axis=1), after_p.argmax(axis=1) == y)
    assert before.counts.sum() == 5000 and after.ece < before.ece
    path = reliability_diagram({"raw": before, "temperature": after}, tmp_path / "rel.png")
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size[0] > 300
