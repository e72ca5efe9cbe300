"""A user's SAM-style model (image encoder + prompt decoder in ONNX) run through ONNX Runtime.

The layout is the official Segment Anything ONNX export:

- encoder: one input, the preprocessed image ``(1, 3, 1024, 1024)`` float32 (resized so the long side is
  1024, normalised by SAM's pixel mean and std, zero-padded at the bottom and right); the first output is
  the image embedding;
- decoder: inputs ``image_embeddings``, ``point_coords`` (1, N, 2) float32, ``point_labels`` (1, N)
  float32 (1 positive, 0 negative, 2 and 3 the box's top-left and bottom-right corners, -1 a padding point
  when there is no box), ``mask_input`` (1, 1, 256, 256), ``has_mask_input`` (1,), ``orig_im_size`` (2,)
  as (height, width); outputs ``masks`` (logits at the original size), ``iou_predictions`` and
  ``low_res_masks``.

Coordinates: SAM takes pixel indices of the resized image (it adds 0.5 to reach pixel centres) and scales
each axis by ``new_size / old_size`` with the long side rounded to 1024. A seglab point ``(x, y)`` (pixel
centre of pixel j at j + 0.5) is therefore ``(x * sx - 0.5, y * sy - 0.5)`` for SAM.

Model files are only ever read from paths the user gives (or ``SEGLAB_SAM_ENCODER`` /
``SEGLAB_SAM_DECODER``); nothing is downloaded. The embedding is computed once per image and kept in the
image's :class:`~seglab.assist.cache.AssistSession`; the decoder's own low-resolution logits of the last
answer are fed back as ``mask_input`` when the caller refines that answer.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from seglab.assist.prompts import Prompts

if TYPE_CHECKING:
    from seglab.assist.cache import AssistSession
    from seglab.core.conventions import ImageSize

ENCODER_ENV = "SEGLAB_SAM_ENCODER"
DECODER_ENV = "SEGLAB_SAM_DECODER"
IMAGE_SIZE = 1024
LOW_RES = 256
PIXEL_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
PIXEL_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)
DECODER_INPUTS = (
    "image_embeddings",
    "point_coords",
    "point_labels",
    "mask_input",
    "has_mask_input",
    "orig_im_size",
)
DECODER_OUTPUTS = ("masks", "iou_predictions", "low_res_masks")
STROKE_POINTS = 8  # points sampled along each scribble


def _model_path(path: str | os.PathLike[str], what: str) -> Path:
    p = Path(path).expanduser()
    if p.suffix.lower() != ".onnx":
        raise ValueError(f"SAM {what} must be an .onnx file, got {str(p)!r}")
    if not p.is_file():
        raise ValueError(f"SAM {what} {str(p)!r} does not exist or is not a file")
    return p.resolve()


def resized_shape(height: int, width: int, long_side: int = IMAGE_SIZE) -> tuple[int, int]:
    """SAM's ResizeLongestSide target ``(new_h, new_w)``: the long side becomes ``long_side``."""
    scale = long_side / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def to_sam_coords(points: np.ndarray, size: ImageSize) -> np.ndarray:
    """seglab ``(x, y)`` points (N, 2) to SAM's resized-image pixel-index coordinates (N, 2) float32."""
    new_h, new_w = resized_shape(size.height, size.width)
    scale = np.array([new_w / size.width, new_h / size.height])
    return (np.asarray(points, dtype=np.float64) * scale - 0.5).astype(np.float32)


def preprocess(image: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) to the encoder's (1, 3, 1024, 1024) float32 input."""
    h, w = image.shape[:2]
    new_h, new_w = resized_shape(h, w)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    normalised = (resized - PIXEL_MEAN) / PIXEL_STD
    padded = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.float32)
    padded[:new_h, :new_w] = normalised
    return np.ascontiguousarray(padded.transpose(2, 0, 1)[None])


def _stroke_samples(strokes: tuple[np.ndarray, ...]) -> np.ndarray:
    """Up to STROKE_POINTS points evenly spaced along each stroke (by arc length)."""
    out = []
    for s in strokes:
        if len(s) == 1:
            out.append(s)
            continue
        seg = np.linalg.norm(np.diff(s, axis=0), axis=1)
        arc = np.concatenate([[0.0], np.cumsum(seg)])
        at = np.linspace(0.0, arc[-1], STROKE_POINTS if arc[-1] > 0 else 1)
        out.append(np.stack([np.interp(at, arc, s[:, 0]), np.interp(at, arc, s[:, 1])], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2))


def prompt_arrays(prompts: Prompts) -> tuple[np.ndarray, np.ndarray]:
    """``point_coords`` (1, N, 2) and ``point_labels`` (1, N) for the decoder, in SAM's coordinates."""
    pos = np.concatenate([prompts.positives, _stroke_samples(prompts.scribbles_pos)])
    neg = np.concatenate([prompts.negatives, _stroke_samples(prompts.scribbles_neg)])
    coords = [to_sam_coords(pos, prompts.size), to_sam_coords(neg, prompts.size)]
    labels = [np.ones(len(pos), np.float32), np.zeros(len(neg), np.float32)]
    if prompts.box is not None:
        x0, y0, x1, y1 = prompts.box
        coords.append(to_sam_coords(np.array([[x0, y0], [x1, y1]]), prompts.size))
        labels.append(np.array([2, 3], np.float32))
    else:  # the export expects a padding point when there is no box
        coords.append(np.zeros((1, 2), np.float32))
        labels.append(np.array([-1], np.float32))
    return np.concatenate(coords)[None].astype(np.float32), np.concatenate(labels)[None].astype(np.float32)


class OnnxSam:
    """A SAM-style encoder/decoder pair. Build it with paths, or :meth:`from_env`."""

    def __init__(
        self,
        encoder: str | os.PathLike[str],
        decoder: str | os.PathLike[str],
        *,
        providers: list[str] | None = None,
        threads: int | None = None,
    ) -> None:
        self.encoder_path = _model_path(encoder, "encoder")
        self.decoder_path = _model_path(decoder, "decoder")
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - onnxruntime is a dependency
            raise RuntimeError("the SAM backend needs onnxruntime: pip install onnxruntime") from exc
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        provs = providers or ["CPUExecutionProvider"]
        try:
            self._encoder = ort.InferenceSession(str(self.encoder_path), options, providers=provs)
            self._decoder = ort.InferenceSession(str(self.decoder_path), options, providers=provs)
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise ValueError(f"cannot load SAM model: {exc}") from exc
        self._check_layout()
        self.id = f"{self.encoder_path}|{self.decoder_path}"

    @classmethod
    def from_env(cls) -> OnnxSam | None:
        """The model named by SEGLAB_SAM_ENCODER / SEGLAB_SAM_DECODER, or None when either is unset."""
        enc, dec = os.environ.get(ENCODER_ENV), os.environ.get(DECODER_ENV)
        if not enc or not dec:
            return None
        return cls(enc, dec)

    def _check_layout(self) -> None:
        enc_inputs = self._encoder.get_inputs()
        if len(enc_inputs) != 1:
            raise ValueError(f"SAM encoder must take one input (the image), it takes {len(enc_inputs)}")
        shape = enc_inputs[0].shape
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            raise ValueError(f"SAM encoder input must be (1, 3, 1024, 1024) preprocessed, got shape {shape}")
        self._encoder_input = enc_inputs[0].name
        names = {i.name for i in self._decoder.get_inputs()}
        missing = [n for n in DECODER_INPUTS if n not in names]
        if missing:
            raise ValueError(
                f"SAM decoder lacks inputs {missing}; expected the official export's {DECODER_INPUTS}"
            )
        outputs = [o.name for o in self._decoder.get_outputs()]
        missing = [n for n in DECODER_OUTPUTS if n not in outputs]
        if missing:
            raise ValueError(f"SAM decoder lacks outputs {missing}; expected {DECODER_OUTPUTS}")

    def embed(self, session: AssistSession) -> np.ndarray:
        """The image embedding, computed once per session and model."""

        def compute() -> np.ndarray:
            (emb, *_) = self._encoder.run(None, {self._encoder_input: preprocess(session.image)})
            return np.asarray(emb, dtype=np.float32)

        return session.cached(f"sam_embedding:{self.id}", compute)

    def decode(
        self, embedding: np.ndarray, prompts: Prompts, mask_input: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Run the decoder; returns (mask logits (H, W), low-res logits (256, 256), predicted IoU) of the
        best of its candidate masks."""
        coords, labels = prompt_arrays(prompts)
        has_mask = mask_input is not None
        feed: dict[str, Any] = {
            "image_embeddings": embedding,
            "point_coords": coords,
            "point_labels": labels,
            "mask_input": (mask_input if has_mask else np.zeros((LOW_RES, LOW_RES), np.float32))
            .reshape(1, 1, LOW_RES, LOW_RES)
            .astype(np.float32),
            "has_mask_input": np.array([1.0 if has_mask else 0.0], np.float32),
            "orig_im_size": np.array([prompts.size.height, prompts.size.width], np.float32),
        }
        masks, iou, low = self._decoder.run(list(DECODER_OUTPUTS), feed)
        masks, iou, low = np.asarray(masks), np.asarray(iou).reshape(-1), np.asarray(low)
        best = int(np.argmax(iou)) if iou.size else 0
        logits = masks[0, best]
        if logits.shape != prompts.size.shape:
            raise ValueError(
                f"SAM decoder returned masks of shape {logits.shape}, "
                f"expected {prompts.size.shape} (orig_im_size)"
            )
        return logits, low[0, best], float(iou[best]) if iou.size else 0.0

    def predict(self, session: AssistSession, prompts: Prompts) -> tuple[np.ndarray, np.ndarray]:
        """The decoder's mask (bool, full resolution) and its low-res logits, for the prompts.

        When ``prompts.previous`` is this model's last answer on the session (see
        :meth:`AssistSession.remember`), its logits go back in as ``mask_input``.
        """
        embedding = self.embed(session)
        mask_input = session.recall(f"sam:{self.id}", prompts.previous)
        logits, low, _ = self.decode(embedding, prompts, mask_input)
        return logits > 0.0, low


_DEFAULT: dict[tuple[str, str], OnnxSam] = {}
_DEFAULT_LOCK = threading.Lock()


def sam_for_session(session: AssistSession) -> OnnxSam:
    """The session's SAM model, else the one named by the environment (loaded once per process)."""
    if session.sam is not None:
        return session.sam
    enc, dec = os.environ.get(ENCODER_ENV), os.environ.get(DECODER_ENV)
    if not enc or not dec:
        raise ValueError(
            f"method 'sam' needs a model: set {ENCODER_ENV} and {DECODER_ENV} to .onnx files, "
            "or give the session an OnnxSam"
        )
    with _DEFAULT_LOCK:
        key = (enc, dec)
        if key not in _DEFAULT:
            _DEFAULT[key] = OnnxSam(enc, dec)
        return _DEFAULT[key]
