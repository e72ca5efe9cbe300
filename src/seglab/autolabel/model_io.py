"""Model files without pickle: a JSON header and LightGBM's own text format, sealed with SHA-256.

Layout (one file)::

    SEGLAB-AUTOLABEL-MODEL\\n         magic line
    {json header}\\n                  one line, at most 4 MiB
    <payload>                         the boosters' text models, concatenated (UTF-8)

The header holds the format version, the classes, the feature configurations, the calibration, each
booster's byte length in the payload, and ``sha256``: the digest of the header without that field
(canonical JSON) followed by the payload. Loading refuses a file without the magic line (a pickle, a
model of another tool), with a version it does not know, or whose digest does not match (edited or
truncated). Nothing in the file is ever executed: LightGBM parses its text model, the rest is JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from seglab.autolabel.backends import ClassInfo, ModelError
from seglab.autolabel.calibration import calibrator_from_json
from seglab.autolabel.features import FeatureConfig
from seglab.autolabel.pixel_classifier import PixelClassifier

MAGIC = b"SEGLAB-AUTOLABEL-MODEL\n"
FORMAT_VERSION = 1
MAX_HEADER = 4 << 20
SUFFIX = ".seglab-model"


def _digest(header: dict[str, Any], payload: bytes) -> str:
    canonical = json.dumps(
        {k: v for k, v in header.items() if k != "sha256"}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8") + b"\n" + payload).hexdigest()


def save_model(model: PixelClassifier, path: Path | str) -> Path:
    """Write ``model`` to ``path`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    parts: list[tuple[str, bytes]] = []
    if model.stage1 is not None:
        parts.append(("stage1", model.stage1.model_to_string().encode("utf-8")))
    parts += [("member", b.model_to_string().encode("utf-8")) for b in model.members]
    payload = b"".join(data for _, data in parts)
    header: dict[str, Any] = {
        "format": "seglab-autolabel",
        "version": FORMAT_VERSION,
        "backend": "lightgbm",
        "classes": [c.to_json() for c in model.class_info],
        "features": model.features.to_json(),
        "context": model.context.to_json() if model.context is not None else None,
        "channels": model.channels,
        "tile": model.tile,
        "calibration": model.calibrator.to_json() if model.calibrator is not None else None,
        "boosters": [{"role": role, "bytes": len(data)} for role, data in parts],
        "info": model.info,
    }
    header["sha256"] = _digest(header, payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(MAGIC)
            fh.write(json.dumps(header, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n")
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_header(path: Path | str) -> tuple[dict[str, Any], bytes]:
    """The verified header and payload of a model file; :class:`ModelError` for anything else."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model file: {exc.strerror or exc}") from None
    if not data.startswith(MAGIC):
        raise ModelError(
            f"{path}: not a seglab auto-label model (refused: seglab only loads model files it wrote, "
            "never pickles)"
        )
    end = data.find(b"\n", len(MAGIC), len(MAGIC) + MAX_HEADER + 1)
    if end < 0:
        raise ModelError(f"{path}: the model header is missing or too large")
    try:
        header = json.loads(data[len(MAGIC) : end].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: the model header is not valid JSON: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != "seglab-autolabel":
        raise ModelError(f"{path}: not a seglab auto-label model header")
    if header.get("version") != FORMAT_VERSION:
        raise ModelError(
            f"{path}: model format version {header.get('version')!r} is not supported "
            f"(this seglab reads version {FORMAT_VERSION})"
        )
    payload = data[end + 1 :]
    if not isinstance(header.get("sha256"), str) or _digest(header, payload) != header["sha256"]:
        raise ModelError(f"{path}: the model file was modified or truncated (SHA-256 mismatch); refused")
    return header, payload


def load_model(path: Path | str) -> PixelClassifier:
    """Load a model :func:`save_model` wrote; refuses anything else (see the module doc)."""
    import lightgbm as lgb

    header, payload = read_header(path)
    try:
        classes = tuple(ClassInfo.from_json(c) for c in header["classes"])
        features = FeatureConfig.from_json(header["features"])
        context = FeatureConfig.from_json(header["context"]) if header["context"] is not None else None
        calibrator = calibrator_from_json(header["calibration"])
        sizes = [(str(b["role"]), int(b["bytes"])) for b in header["boosters"]]
        channels, tile = int(header["channels"]), int(header["tile"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: the model header is malformed: {exc}") from None
    if sum(n for _, n in sizes) != len(payload):
        raise ModelError(f"{path}: the payload size does not match the header")
    boosters: list[tuple[str, Any]] = []
    offset = 0
    for role, n in sizes:
        text = payload[offset : offset + n].decode("utf-8")
        offset += n
        try:
            boosters.append((role, lgb.Booster(model_str=text)))
        except lgb.basic.LightGBMError as exc:
            raise ModelError(f"{path}: a booster in the model cannot be parsed: {exc}") from None
    stage1 = next((b for role, b in boosters if role == "stage1"), None)
    members = [b for role, b in boosters if role == "member"]
    if not members or (context is not None) != (stage1 is not None):
        raise ModelError(f"{path}: the model's stages do not match its feature configuration")
    return PixelClassifier(
        classes,
        features,
        context,
        stage1,
        members,
        calibrator,
        channels,
        tile,
        info=dict(header.get("info") or {}),
    )
