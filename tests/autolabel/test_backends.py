"""The network backends, on tiny segmentation networks built here: ONNX (with the onnx helper API) and
TorchScript (with PyTorch, the optional ``torch`` extra; those tests skip when it is not installed)."""

from __future__ import annotations

import sys
import zipfile

import numpy as np
import pytest

from seglab.autolabel import (
    ClassInfo,
    ModelError,
    OnnxBackend,
    SegmentationBackend,
    TorchBackend,
    annotations_from_prediction,
    checked_predict,
)

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")
NO_TORCH = "PyTorch is the optional extra seglab[torch] (pip install 'seglab[torch]'); not installed here"

WEIGHTS = np.array([[4.0, 0.0, 0.0], [-4.0, 0.0, 0.0]], dtype=np.float32)  # (K=2, C=3): red means class 0
BIAS = np.array([-2.0, 2.0], dtype=np.float32)


def _conv_model(path, size: tuple[int, int] | None = None, classes: int = 2) -> None:
    """A 1x1 convolution from RGB to ``classes`` logits: (N, 3, H, W) -> (N, K, H, W)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

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


# ------------------------------------------------------------------------------------------ TorchScript


def _torch_conv(torch, classes: int = 2):
    """The same 1x1 convolution as the ONNX model, as a PyTorch module."""
    conv = torch.nn.Conv2d(3, classes, kernel_size=1)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(WEIGHTS[:classes].reshape(classes, 3, 1, 1)))
        conv.bias.copy_(torch.from_numpy(BIAS[:classes]))
    return conv.eval()


def _traced(torch, path, classes: int = 2) -> None:
    conv = _torch_conv(torch, classes)
    torch.jit.save(torch.jit.trace(conv, torch.zeros(1, 3, 8, 8)), str(path))


def _strided_scripted(torch, path) -> None:
    """A scripted network that, like a U-Net, only takes sizes divisible by 8 and returns a dict."""

    class Strided(torch.nn.Module):
        def __init__(self, conv: torch.nn.Module) -> None:
            super().__init__()
            self.conv = conv

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            if x.shape[2] % 8 != 0 or x.shape[3] % 8 != 0:
                raise RuntimeError("input sides must be multiples of 8")
            return {"out": self.conv(x)}

    torch.jit.save(torch.jit.script(Strided(_torch_conv(torch))), str(path))


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason=NO_TORCH)


DEVICES = ["cpu", "cuda"]  # cuda skips without a GPU


@pytest.mark.parametrize("device", DEVICES)
def test_torch_backend_runs_a_torchscript_model_in_tiles(torch, tmp_path, device):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here")
    path = tmp_path / "seg.pt"
    _traced(torch, path)
    backend = TorchBackend(path, [ClassInfo("red"), ClassInfo("other")], device=device, tile=16, halo=2)
    assert isinstance(backend, SegmentationBackend) and backend.device.startswith(device)
    pred = checked_predict(backend, _image())
    np.testing.assert_allclose(pred.proba, _expected(_image()), atol=1e-5)  # the ONNX backend's contract
    assert pred.disagreement is None
    assert {a.label for a in annotations_from_prediction(pred, backend.classes)} == {"red", "other"}


def test_torch_tiles_are_padded_to_the_networks_multiple(torch, tmp_path):
    path = tmp_path / "strided.pt"
    _strided_scripted(torch, path)
    with pytest.raises(ModelError, match="multiples of 8"):  # 17-pixel tiles, no padding
        TorchBackend(path, ["red", "other"], device="cpu", tile=15, halo=2).predict(_image())
    backend = TorchBackend(path, ["red", "other"], device="cpu", tile=15, halo=2, multiple=8)
    np.testing.assert_allclose(backend.predict(_image()).proba, _expected(_image()), atol=1e-5)


def test_torch_fixed_input_size_is_resized(torch, tmp_path):
    path = tmp_path / "seg.pt"
    _traced(torch, path)
    pred = TorchBackend(path, ["red", "other"], device="cpu", input_size=(20, 25)).predict(_image())
    assert pred.proba.shape == (40, 50, 2)
    assert pred.labels[20, 15] == 0 and pred.labels[5, 45] == 1


def test_torch_refuses_files_that_are_not_torchscript(torch, tmp_path, monkeypatch):
    conv = _torch_conv(torch)
    torch.save(conv.state_dict(), tmp_path / "state.pt")
    torch.save(conv, tmp_path / "pickled.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a zip at all")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("model/data.pkl", b"x")
        z.writestr("model/version", b"3")
    loads = []
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: loads.append(a))  # must never be reached
    for name, why in [
        ("state.pt", "torch.save checkpoint"),
        ("pickled.pt", "torch.save checkpoint"),
        ("garbage.pt", "not a zip"),
        ("other.zip", "no constants.pkl, code/"),
    ]:
        with pytest.raises(ModelError, match=why):
            TorchBackend(tmp_path / name, ["a", "b"], device="cpu")
    assert loads == []
    with pytest.raises(ModelError, match="no such"):
        TorchBackend(tmp_path / "missing.pt", ["a", "b"], device="cpu")


def test_torch_model_that_does_not_fit_is_refused(torch, tmp_path):
    path = tmp_path / "seg.pt"
    _traced(torch, path)
    with pytest.raises(ModelError, match=r"expected \(1, 3, H, W\)"):  # 3 classes named, the network has 2
        TorchBackend(path, ["a", "b", "c"], device="cpu").predict(_image())
    broken = tmp_path / "broken.pt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.namelist():  # the right layout, a corrupted module record
            dst.writestr(item, b"junk" if item.endswith("/data.pkl") else src.read(item))
    with pytest.raises(ModelError, match="cannot load"):
        TorchBackend(broken, ["a", "b"], device="cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA"):
            TorchBackend(path, ["a", "b"], device="cuda")


def test_torch_backend_without_torch_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(ModelError, match=r"seglab\[torch\]"):
        TorchBackend(tmp_path / "seg.pt", ["a", "b"])
