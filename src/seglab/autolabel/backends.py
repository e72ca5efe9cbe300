"""The backend interface: anything that turns an image into per-pixel class probabilities.

Auto-labeling, uncertainty, audit and active learning only ever talk to a :class:`SegmentationBackend`,
so a user with a GPU can bring a stronger model than the built-in tree ensemble
(:class:`~seglab.autolabel.pixel_classifier.PixelClassifier`). Two backends run a user-supplied
segmentation network, with the same preprocessing, tiling and outputs:

- :class:`OnnxBackend`: an ONNX file through ONNX Runtime (no Python code of the user's is executed, no
  pickle);
- :class:`TorchBackend` (optional extra ``pip install 'seglab[torch]'``): a TorchScript file through
  PyTorch, on the CPU or a CUDA GPU. Trust model: only TorchScript archives are accepted (their layout is
  checked before PyTorch reads a byte of them); they are read with ``torch.jit.load``, whose restricted
  C++ unpickler rebuilds tensors and TorchScript classes only and never imports or calls Python objects.
  Checkpoints written with ``torch.save`` (a state dict or a pickled ``nn.Module``) are refused, since
  reading them takes Python's pickle, which runs arbitrary code. A TorchScript model is still a program
  that runs with the operators PyTorch offers: load model files only from sources you trust, as with any
  executable.

A backend returns a :class:`Prediction`: the mean ``(H, W, K)`` probabilities of its ensemble members
(one member for a single model) and, with several members, their disagreement, one of the uncertainty
signals.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from seglab.autolabel.features import as_float_image, iter_tiles
from seglab.autolabel.uncertainty import PixelUncertainty, ensemble_disagreement, pixel_uncertainty
from seglab.core.errors import SeglabError
from seglab.core.ontology import LabelKind, Ontology


class ModelError(SeglabError):
    """A model file that cannot be used: not ours, tampered, or not fitting the images it is given."""


@dataclass(frozen=True)
class ClassInfo:
    """A class a model predicts: its name, thing/stuff kind, and whether it is the implicit background.

    Background pixels are predicted like any class but give no annotation.
    """

    name: str
    kind: LabelKind = LabelKind.THING
    background: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind.value, "background": self.background}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClassInfo:
        return cls(str(data["name"]), LabelKind(str(data["kind"])), bool(data.get("background", False)))


def classes_from_ontology(ontology: Ontology, names: Sequence[str] | None = None) -> tuple[ClassInfo, ...]:
    """ClassInfo for the ontology's classes (or the ``names`` chosen among them, in ontology order)."""
    chosen = set(names) if names is not None else None
    if chosen is not None:
        unknown = chosen - set(ontology.names)
        if unknown:
            raise ModelError(f"classes {sorted(unknown)} are not in the dataset's ontology {ontology.names}")
    return tuple(ClassInfo(c.name, c.kind) for c in ontology if chosen is None or c.name in chosen)


@dataclass(frozen=True, eq=False)
class Prediction:
    """What a backend says about one image: mean class probabilities and the members' disagreement.

    Backends reduce their members tile by tile, so memory stays at ``K + 1`` floats and ``M`` bytes
    (each member's class map, from which object-level agreement is measured) per pixel.
    """

    proba: np.ndarray  # (H, W, K) float32, sums to 1 over K
    disagreement: np.ndarray | None = None  # (H, W) float32 in [0, 1]; None for a single model
    members: int = 1
    member_labels: np.ndarray | None = None  # (M, H, W) each member's class map; objects' stability

    @property
    def labels(self) -> np.ndarray:
        """``(H, W)`` class index of the highest probability."""
        return self.proba.argmax(axis=2).astype(np.uint8 if self.proba.shape[2] < 256 else np.uint16)

    def uncertainty(self) -> PixelUncertainty:
        return pixel_uncertainty(self.proba, self.disagreement)


def reduce_members(members: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(M, h, w, K)`` -> mean ``(h, w, K)`` and disagreement ``(h, w)`` (None when M = 1)."""
    if members.shape[0] == 1:
        return members[0], None
    return members.mean(axis=0), ensemble_disagreement(members)


@runtime_checkable
class SegmentationBackend(Protocol):
    """Per-pixel class probabilities for an image; ``classes`` gives the order of the last axis."""

    @property
    def classes(self) -> tuple[ClassInfo, ...]: ...

    def predict(self, image: np.ndarray) -> Prediction:
        """Probabilities for an ``(H, W)`` or ``(H, W, C)`` image."""
        ...


def checked_predict(backend: SegmentationBackend, image: np.ndarray) -> Prediction:
    """Run a backend and check what it returns, so a misbehaving plug-in fails with a clear message."""
    pred = backend.predict(image)
    h, w = np.asarray(image).shape[:2]
    k = len(backend.classes)
    if pred.proba.shape != (h, w, k):
        raise ModelError(f"backend returned shape {pred.proba.shape}, expected ({h}, {w}, {k})")
    if not np.isfinite(pred.proba).all():
        raise ModelError("backend returned NaN or infinite probabilities")
    return pred


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


class _NetworkBackend:
    """What the network backends share: ``(image / 255 - mean) / std`` as ``(1, C, H, W)`` float32 in,
    ``(1, K, H, W)`` logits (``outputs="logits"``) or probabilities out.

    A network with a fixed input size gets the image resized to it and its output resized back
    (bilinear); otherwise the image runs in tiles of ``tile`` pixels with a ``halo`` of context, so memory
    stays bounded on large images, each tile padded (reflected) to a multiple of ``multiple`` pixels for
    networks that downsample. Subclasses set the attributes in :meth:`_configure` and run the network in
    :meth:`_infer`.
    """

    _kind = "network"

    def _configure(
        self,
        classes: Sequence[ClassInfo | str],
        *,
        channels: int,
        fixed_size: tuple[int, int] | None,
        mean: Sequence[float],
        std: Sequence[float],
        outputs: str,
        tile: int,
        halo: int,
        multiple: int = 1,
    ) -> None:
        if outputs not in ("logits", "probabilities"):
            raise ValueError(f"outputs must be 'logits' or 'probabilities', got {outputs!r}")
        if tile <= 0 or halo < 0 or multiple < 1:
            raise ValueError(f"need tile > 0, halo >= 0 and multiple >= 1, got {tile}, {halo}, {multiple}")
        self._classes = tuple(c if isinstance(c, ClassInfo) else ClassInfo(str(c)) for c in classes)
        if len(self._classes) < 2:
            raise ModelError(f"a segmentation model ({self._kind}) needs at least two classes")
        self._channels = channels
        self._fixed_size = fixed_size
        self._mean = np.asarray(mean, dtype=np.float32)[:channels].reshape(-1, 1, 1)
        self._std = np.asarray(std, dtype=np.float32)[:channels].reshape(-1, 1, 1)
        self._logits = outputs == "logits"
        self._tile, self._halo, self._multiple = tile, halo, multiple

    @property
    def classes(self) -> tuple[ClassInfo, ...]:
        return self._classes

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        """``(1, C, h, w)`` float32 -> the network's raw output (``(1, K, h', w')`` if it behaves)."""
        raise NotImplementedError

    def _run(self, chw: np.ndarray) -> np.ndarray:
        """``(C, h, w)`` -> ``(h', w', K)`` probabilities at the network's output size."""
        _, h, w = chw.shape
        pad_h, pad_w = -h % self._multiple, -w % self._multiple
        if pad_h or pad_w:  # reflection needs a pad shorter than the side it mirrors
            mode = "reflect" if pad_h < h and pad_w < w else "edge"
            chw = np.pad(chw, ((0, 0), (0, pad_h), (0, pad_w)), mode=mode)
        out = np.asarray(self._infer(np.ascontiguousarray(chw[None], dtype=np.float32)), dtype=np.float32)
        if out.ndim != 4 or out.shape[0] != 1 or out.shape[1] != len(self._classes):
            raise ModelError(
                f"the {self._kind} model returned shape {out.shape}; expected (1, {len(self._classes)}, H, W)"
            )
        if pad_h or pad_w:  # drop the padding's share of the output, at the output's own scale
            oh, ow = out.shape[2:]
            keep_h = max(1, round(h * oh / (h + pad_h)))
            keep_w = max(1, round(w * ow / (w + pad_w)))
            out = out[:, :, :keep_h, :keep_w]
        out = np.moveaxis(out[0], 0, -1)  # (h, w, K)
        return softmax(out, axis=2) if self._logits else out

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        img = as_float_image(image)  # (H, W, C)
        if img.shape[2] != self._channels:
            img = np.repeat(img.mean(axis=2, keepdims=True), self._channels, axis=2)
        chw = np.moveaxis(img, -1, 0)
        return (chw - self._mean) / self._std  # (C, H, W)

    def predict(self, image: np.ndarray) -> Prediction:
        chw = self._prepare(image)
        _, h, w = chw.shape
        k = len(self._classes)
        if self._fixed_size is not None:
            fh, fw = self._fixed_size
            resized = np.stack([cv2.resize(c, (fw, fh), interpolation=cv2.INTER_LINEAR) for c in chw])
            probs = self._run(resized)
            probs = cv2.resize(probs, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, k)
            probs /= probs.sum(axis=2, keepdims=True)
            return Prediction(probs)
        out = np.empty((h, w, k), dtype=np.float32)
        for t in iter_tiles(h, w, self._tile, self._halo):
            window = chw[:, t.oy0 : t.oy1, t.ox0 : t.ox1]
            probs = self._run(window)
            if probs.shape[:2] != window.shape[1:]:
                probs = cv2.resize(probs, window.shape[:0:-1], interpolation=cv2.INTER_LINEAR).reshape(
                    window.shape[1], window.shape[2], k
                )
            out[t.y0 : t.y1, t.x0 : t.x1] = probs[t.inner_in_outer]
        return Prediction(out)


class OnnxBackend(_NetworkBackend):
    """A user's segmentation network in an ONNX file, run with ONNX Runtime.

    The network takes ``(1, C, H, W)`` float32 (``(image / 255 - mean) / std``) and returns
    ``(1, K, H, W)`` logits (``outputs="logits"``) or probabilities. When the network fixes its input size
    the image is resized to it and the output resized back (bilinear); otherwise the image is run in tiles
    of ``tile`` pixels with a ``halo`` of context so memory stays bounded on large images.
    """

    _kind = "ONNX"

    def __init__(
        self,
        path: Path | str,
        classes: Sequence[ClassInfo | str],
        *,
        mean: Sequence[float] = (0.0, 0.0, 0.0),
        std: Sequence[float] = (1.0, 1.0, 1.0),
        outputs: str = "logits",
        tile: int = 1024,
        halo: int = 32,
        providers: Sequence[str] | None = None,
    ) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: no such ONNX model file")
        try:
            self._session = ort.InferenceSession(
                str(path), providers=list(providers or ["CPUExecutionProvider"])
            )
        except Exception as exc:  # onnxruntime raises its own exception types for malformed files
            raise ModelError(f"{path}: ONNX Runtime cannot load this model: {exc}") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError(f"{path}: expected one (N, C, H, W) input, found {[i.shape for i in inputs]}")
        self._input = inputs[0].name
        shape = inputs[0].shape
        fixed = isinstance(shape[2], int) and isinstance(shape[3], int)
        self._configure(
            classes,
            channels=shape[1] if isinstance(shape[1], int) else 3,
            fixed_size=(int(shape[2]), int(shape[3])) if fixed else None,
            mean=mean, std=std, outputs=outputs, tile=tile, halo=halo,
        )  # fmt: skip

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: batch})[0]


TORCHSCRIPT_ENTRIES = ("data.pkl", "constants.pkl", "version")  # beside code/ in every TorchScript archive


def check_torchscript_archive(path: Path) -> None:
    """Refuse a file that is not a TorchScript archive before PyTorch reads it.

    ``torch.jit.save`` writes a zip with one top folder holding ``code/`` (the TorchScript source),
    ``data.pkl``, ``constants.pkl`` and ``version``; ``torch.save`` checkpoints (state dicts, pickled
    modules) have no ``code/`` nor ``constants.pkl``, and the legacy format is no zip at all.
    """
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path}: not a TorchScript archive (not a zip file); export with torch.jit.save")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) != 1 or any("/" not in n for n in names):
        raise ModelError(f"{path}: not a TorchScript archive (expected one top folder, found {sorted(tops)})")
    top = tops.pop()
    missing = [e for e in TORCHSCRIPT_ENTRIES if f"{top}/{e}" not in names]
    if not any(n.startswith(f"{top}/code/") for n in names):
        missing.append("code/")
    if missing:
        raise ModelError(
            f"{path}: not a TorchScript archive (no {', '.join(missing)}): a torch.save checkpoint or "
            "pickled module is refused because loading it would run pickle; export with torch.jit.save"
        )


class TorchBackend(_NetworkBackend):
    """A user's segmentation network as a TorchScript file, run with PyTorch on the CPU or a CUDA GPU.

    Same contract as :class:`OnnxBackend`: ``(1, C, H, W)`` float32 (``(image / 255 - mean) / std``) in,
    ``(1, K, H, W)`` logits or probabilities out (a dict output uses its ``"out"`` entry, as torchvision's
    segmentation models return; a tuple its first). TorchScript does not record input sizes, so
    ``channels`` and ``input_size`` (a fixed ``(height, width)``, else tiled) are given here, and
    ``multiple`` pads each tile for networks that need sizes divisible by their total stride.
    ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available). See the module
    docstring for what is trusted.
    """

    _kind = "TorchScript"

    def __init__(
        self,
        path: Path | str,
        classes: Sequence[ClassInfo | str],
        *,
        device: str = "auto",
        channels: int = 3,
        input_size: tuple[int, int] | None = None,
        mean: Sequence[float] = (0.0, 0.0, 0.0),
        std: Sequence[float] = (1.0, 1.0, 1.0),
        outputs: str = "logits",
        tile: int = 1024,
        halo: int = 32,
        multiple: int = 1,
    ) -> None:
        try:
            import torch
        except ImportError:
            raise ModelError(
                "the PyTorch backend needs PyTorch, an optional extra: pip install 'seglab[torch]'"
            ) from None
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: no such TorchScript model file")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError(f"device {device!r} asked for, but PyTorch sees no CUDA GPU")
        try:
            self._device = torch.device(device)
        except RuntimeError as exc:
            raise ModelError(f"unknown device {device!r}: {exc}") from None
        check_torchscript_archive(path)
        try:
            with warnings.catch_warnings():  # PyTorch 2.13 deprecates TorchScript for torch.export
                warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
                module = torch.jit.load(str(path), map_location=self._device)
        except Exception as exc:  # PyTorch raises RuntimeError and friends for malformed archives
            raise ModelError(f"{path}: PyTorch cannot load this TorchScript model: {exc}") from None
        self._module = module.eval()
        self._torch = torch
        self._configure(
            classes, channels=channels, fixed_size=input_size, mean=mean, std=std, outputs=outputs,
            tile=tile, halo=halo, multiple=multiple,
        )  # fmt: skip

    @property
    def device(self) -> str:
        return str(self._device)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            try:
                out = self._module(torch.from_numpy(batch).to(self._device))
            except (RuntimeError, torch.jit.Error) as exc:  # the network's own checks and shape errors
                text = str(exc).strip()
                message = text.splitlines()[-1] if text else type(exc).__name__  # TorchScript's last line
                raise ModelError(f"the TorchScript model failed on input {batch.shape}: {message}") from None
            if isinstance(out, dict):
                if "out" not in out:
                    raise ModelError(f"the TorchScript model returned a dict without 'out': {sorted(out)}")
                out = out["out"]
            elif isinstance(out, list | tuple):
                out = out[0]
            if not isinstance(out, torch.Tensor):
                raise ModelError(f"the TorchScript model returned {type(out).__name__}, not a tensor")
            return out.float().cpu().numpy()
