"""The SAM backend with tiny generated ONNX models of the official export's layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from seglab.assist import AssistSession, OnnxSam, segment
from seglab.assist.cache import SESSIONS
from seglab.assist.onnx_sam import (
    IMAGE_SIZE,
    PIXEL_MEAN,
    PIXEL_STD,
    preprocess,
    prompt_arrays,
    resized_shape,
    to_sam_coords,
)
from seglab.assist.prompts import Prompts
from seglab.core.conventions import ImageSize
from tests.assist.tiny_sam import LOW_RES_VALUE, decoder_model, disk, write_models


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_models(tmp_path_factory.mktemp("sam"))


@pytest.fixture(scope="module")
def sam(models: tuple[Path, Path]) -> OnnxSam:
    return OnnxSam(*models)


def _image(h: int = 200, w: int = 300) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_resize_to_1024_long_side() -> None:
    assert resized_shape(200, 300) == (683, 1024)
    assert resized_shape(300, 200) == (1024, 683)
    assert resized_shape(1024, 1024) == (1024, 1024)
    assert resized_shape(480, 640) == (768, 1024)


def test_coordinates_map_pixel_centres_to_sam_indices() -> None:
    size = ImageSize(300, 200)  # scale 1024 / 300 on x, 683 / 200 on y
    got = to_sam_coords(np.array([[0.5, 0.5], [150.0, 100.0]]), size)
    sx, sy = 1024 / 300, 683 / 200
    assert np.allclose(got, [[0.5 * sx - 0.5, 0.5 * sy - 0.5], [150 * sx - 0.5, 100 * sy - 0.5]])


def test_preprocess_resizes_normalises_and_pads() -> None:
    img = np.full((200, 300, 3), 100, np.uint8)
    x = preprocess(img)
    assert x.shape == (1, 3, IMAGE_SIZE, IMAGE_SIZE) and x.dtype == np.float32
    assert np.allclose(x[0, :, 0, 0], (100 - PIXEL_MEAN) / PIXEL_STD)
    assert np.allclose(x[0, :, 682, 1023], (100 - PIXEL_MEAN) / PIXEL_STD)
    assert (x[0, :, 683:, :] == 0).all()  # padding below the resized image


def test_prompt_arrays_layout() -> None:
    size = ImageSize(300, 200)
    p = Prompts.build(size, positives=[(10.5, 20.5)], negatives=[(50.5, 60.5)])
    coords, labels = prompt_arrays(p)
    assert coords.shape == (1, 3, 2) and coords.dtype == np.float32
    assert labels.tolist() == [[1.0, 0.0, -1.0]]  # the padding point when there is no box
    boxed = Prompts.build(size, positives=[(10.5, 20.5)], box=(5, 6, 100, 150))
    coords, labels = prompt_arrays(boxed)
    assert labels.tolist() == [[1.0, 2.0, 3.0]]
    assert np.allclose(coords[0, 1:], to_sam_coords(np.array([[5, 6], [100, 150]]), size))
    stroke = Prompts.build(size, scribbles_neg=[[(10, 10), (100, 10)]])
    coords, labels = prompt_arrays(stroke)
    assert (labels[0, :-1] == 0).all() and len(labels[0]) == 9  # 8 samples along the stroke + padding


def test_embedding_is_the_encoder_output_and_computed_once(sam: OnnxSam) -> None:
    img = _image()
    s = AssistSession(img)
    emb = sam.embed(s)
    expected = preprocess(img)[0].reshape(3, 64, 16, 64, 16).mean(axis=(2, 4))
    assert np.allclose(emb[0], expected, atol=1e-4)
    assert sam.embed(s) is emb
    assert s.counts[f"sam_embedding:{sam.id}"] == 1


@pytest.mark.parametrize(
    ("h", "w", "x", "y"), [(200, 300, 120.5, 80.5), (300, 200, 30.5, 250.5), (64, 64, 3.5, 60.5)]
)
def test_click_maps_back_to_the_same_place(sam: OnnxSam, h: int, w: int, x: float, y: float) -> None:
    img = _image(h, w)
    s = AssistSession(img)
    s.sam = sam
    out = segment(img, positives=[(x, y)], method="sam", session=s)
    # The decoder's best candidate (IoU 0.9) is the big disk, centred where the user clicked.
    assert np.array_equal(out, disk(h, w, x, y, 10.5))


def test_last_logits_come_back_as_mask_input(sam: OnnxSam) -> None:
    img = _image()
    s = AssistSession(img)
    s.sam = sam
    first = segment(img, positives=[(120.5, 80.5)], method="sam", session=s)
    again = segment(img, positives=[(120.5, 80.5)], previous=first, method="sam", session=s)
    assert np.array_equal(again, disk(200, 300, 120.5, 80.5, 10.5 + LOW_RES_VALUE))
    foreign = disk(200, 300, 50.5, 50.5, 5)  # not the model's own answer: no mask input
    fresh = segment(img, positives=[(120.5, 80.5)], previous=foreign, method="sam", session=s)
    assert np.array_equal(fresh, disk(200, 300, 120.5, 80.5, 10.5))
    assert s.counts[f"sam_embedding:{sam.id}"] == 1


def test_negative_click_is_imposed_on_the_model_answer(sam: OnnxSam) -> None:
    img = _image()
    s = AssistSession(img)
    s.sam = sam
    out = segment(img, positives=[(120.5, 80.5)], negatives=[(125.5, 80.5)], method="sam", session=s)
    assert out[80, 120] and not out[80, 125]


def test_environment_enables_sam_for_auto(models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGLAB_SAM_ENCODER", str(models[0]))
    monkeypatch.setenv("SEGLAB_SAM_DECODER", str(models[1]))
    img = _image()
    SESSIONS.clear()
    out = segment(img, positives=[(120.5, 80.5)])
    assert np.array_equal(out, disk(200, 300, 120.5, 80.5, 10.5))
    assert OnnxSam.from_env() is not None


def test_sam_without_a_model_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEGLAB_SAM_ENCODER", raising=False)
    monkeypatch.delenv("SEGLAB_SAM_DECODER", raising=False)
    assert OnnxSam.from_env() is None
    with pytest.raises(ValueError, match="SEGLAB_SAM_ENCODER"):
        segment(_image(), positives=[(1, 1)], method="sam", session=AssistSession(_image()))


def test_refuses_bad_model_paths(tmp_path: Path, models: tuple[Path, Path]) -> None:
    weights = tmp_path / "sam.pth"
    weights.write_bytes(b"not onnx")
    with pytest.raises(ValueError, match=r"must be an \.onnx file"):
        OnnxSam(weights, models[1])
    with pytest.raises(ValueError, match="does not exist"):
        OnnxSam(tmp_path / "missing.onnx", models[1])
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01 not a model")
    with pytest.raises(ValueError, match="cannot load SAM model"):
        OnnxSam(garbage, models[1])


def test_refuses_a_decoder_of_another_layout(tmp_path: Path, models: tuple[Path, Path]) -> None:
    odd = tmp_path / "odd.onnx"
    onnx.save(decoder_model(rename={"orig_im_size": "image_size"}), odd)
    with pytest.raises(ValueError, match=r"lacks inputs \['orig_im_size'\]"):
        OnnxSam(models[0], odd)
    with pytest.raises(ValueError, match="encoder must take one input"):
        OnnxSam(models[1], models[1])
