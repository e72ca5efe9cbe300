"""The ONNX Runtime backend, on tiny segmentation networks built here with the onnx helper API."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from seglab.autolabel import (  # noqa: E402
    ClassInfo,
    ModelError,
    OnnxBackend,
    SegmentationBackend,
    annotations_from_prediction,
    checked_predict,
)

WEIGHTS = np.array([[4.0, 0.0, 0.0], [-4.0, 0.0, 0.0]], dtype=np.float32)  # (K=2, C=3): red means class 0
BIAS = np.array([-2.0, 2.0], dtype=np.float32)


def _conv_model(path, size: tuple[int, int] | None = None, classes: int = 2) -> None:
    """A 1x1 convolution from RGB to ``classes`` logits: (N, 3, H, W) -> (N, K, H, W)."""
    h, w = size if size is not None else ("H", "W")
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, h, w])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes, h, w])
    weight = numpy_helper.from_array(WEIGHTS[:classes].reshape(classes, 3, 1, 1), "weight")
    bias = numpy_helper.from_array(BIAS[:classes], "bias")
    node = helper.make_node("Conv", ["image", "weight", "bias"], ["logits"], kernel_shape=[1, 1])
    graph = helper.make_graph([node], "tiny-seg", [x], [y], initializer=[weight, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _expected(image: np.ndarray) -> np.ndarray:
    x = image.astype(np.float32) / 255.0
    logits = x @ WEIGHTS.T + BIAS  # (H, W, K)
    e = np.exp(logits - logits.max(axis=2, keepdims=True))
    return e / e.sum(axis=2, keepdims=True)


def _image() -> np.ndarray:
    img = np.zeros((40, 50, 3), dtype=np.uint8)
    img[10:30, 5:25, 0] = 255  # a red square
    return img


def test_onnx_backend_runs_a_user_model_in_tiles(tmp_path):
    path = tmp_path / "seg.onnx"
    _conv_model(path)
    backend = OnnxBackend(path, [ClassInfo("red"), ClassInfo("other")], tile=16, halo=2)
    assert isinstance(backend, SegmentationBackend)
    pred = checked_predict(backend, _image())
    np.testing.assert_allclose(pred.proba, _expected(_image()), atol=1e-5)
    assert pred.disagreement is None
    anns = annotations_from_prediction(pred, backend.classes)
    assert {a.label for a in anns} == {"red", "other"}


def test_fixed_input_size_is_resized(tmp_path):
    path = tmp_path / "fixed.onnx"
    _conv_model(path, size=(20, 25))
    backend = OnnxBackend(path, ["red", "other"])
    pred = backend.predict(_image())
    assert pred.proba.shape == (40, 50, 2)
    assert pred.labels[20, 15] == 0 and pred.labels[5, 45] == 1


def test_bad_models_are_refused(tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelError, match="cannot load"):
        OnnxBackend(garbage, ["a", "b"])
    path = tmp_path / "three.onnx"
    _conv_model(path, classes=2)
    backend = OnnxBackend(path, ["a", "b", "c"])  # says 3 classes, the network gives 2
    with pytest.raises(ModelError, match="expected"):
        backend.predict(_image())
    with pytest.raises(ModelError, match="no such"):
        OnnxBackend(tmp_path / "missing.onnx", ["a", "b"])
