"""Model files: reload to identical predictions; refuse files seglab did not write or that were changed."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from seglab.autolabel import ModelError, load_model, save_model, train_pixel_classifier
from seglab.autolabel.model_io import MAGIC
from tests.autolabel.scenes import CLASSES, fast_config, scene


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    train = [scene(s, size=64, n_objects=3) for s in (1, 2)]
    model = train_pixel_classifier(
        [s.pixels for s in train], [s.labels for s in train], CLASSES, fast_config()
    )
    path = save_model(model, tmp_path_factory.mktemp("m") / "scene.seglab-model")
    return model, path


def test_reloaded_model_predicts_identically(model_file):
    model, path = model_file
    again = load_model(path)
    assert again.classes == model.classes
    assert again.features == model.features and again.context == model.context
    assert again.calibrator == model.calibrator
    test = scene(5, size=64)
    a, b = model.predict(test.pixels), again.predict(test.pixels)
    np.testing.assert_array_equal(a.proba, b.proba)
    np.testing.assert_array_equal(a.disagreement, b.disagreement)


def test_file_is_not_a_pickle_and_names_its_contents(model_file):
    _, path = model_file
    data = path.read_bytes()
    assert data.startswith(MAGIC)
    header = json.loads(data[len(MAGIC) : data.index(b"\n", len(MAGIC))])
    assert [c["name"] for c in header["classes"]] == ["background", "disc", "square"]
    assert header["version"] == 1 and len(header["sha256"]) == 64
    assert b"\x80\x04" not in data[:2]  # no pickle protocol marker at the start


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d[:-10] + b"0123456789",  # a number in a tree changed
        lambda d: d[:-200],  # truncated
        lambda d: d.replace(b'"name":"disc"', b'"name":"dogs"'),  # header edited
    ],
    ids=["payload", "truncated", "header"],
)
def test_tampered_file_is_refused(model_file, tmp_path, edit):
    _, path = model_file
    bad = tmp_path / "bad.seglab-model"
    changed = edit(path.read_bytes())
    assert changed != path.read_bytes()
    bad.write_bytes(changed)
    with pytest.raises(ModelError, match="modified or truncated"):
        load_model(bad)


def test_foreign_files_are_refused(tmp_path):
    evil = tmp_path / "model.pkl"
    evil.write_bytes(pickle.dumps({"not": "a model"}))
    with pytest.raises(ModelError, match="not a seglab auto-label model"):
        load_model(evil)
    with pytest.raises(ModelError, match="cannot read"):
        load_model(tmp_path / "missing.seglab-model")
    newer = tmp_path / "newer.seglab-model"
    newer.write_bytes(MAGIC + json.dumps({"format": "seglab-autolabel", "version": 99}).encode() + b"\n")
    with pytest.raises(ModelError, match="version 99"):
        load_model(newer)
