"""Telling COCO instance/keypoint ground truth from the other JSON files met beside it."""

from __future__ import annotations

import mmap
import re
from pathlib import Path

from seglab.core.errors import FormatError
from seglab.formats.safe_io import load_json

FULL_PARSE_BYTES = 16 * 1024**2  # detection parses files up to this size; larger ones are scanned
_KEY_RE = {k: re.compile(rb'"%s"\s*:' % k.encode()) for k in ("images", "categories", "segments_info")}


def classify(data: object) -> str | None:
    """``"coco"`` (instances/keypoints ground truth), ``"results"``, ``"panoptic"`` or None."""
    if isinstance(data, list):
        if data and all(isinstance(d, dict) and "image_id" in d and "category_id" in d for d in data[:20]):
            return "results"
        return None
    if not isinstance(data, dict):
        return None
    if not isinstance(data.get("images"), list) or not isinstance(data.get("categories"), list):
        return None  # captions and other COCO tasks have no categories
    anns = data.get("annotations", [])
    if not isinstance(anns, list):
        return None
    if anns and isinstance(anns[0], dict) and "segments_info" in anns[0]:
        return "panoptic"
    return "coco"


def peek_kind(path: Path, full_parse_bytes: int | None = None) -> str | None:
    """What a JSON file holds, parsing it when small and scanning its bytes when large."""
    limit = FULL_PARSE_BYTES if full_parse_bytes is None else full_parse_bytes
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size <= limit:
        try:
            return classify(load_json(path))
        except FormatError:
            return None
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        head = bytes(mm[:4096]).lstrip(b"\xef\xbb\xbf \t\r\n")
        if head.startswith(b"["):
            return "results" if b'"image_id"' in head and b'"category_id"' in head else None
        if not head.startswith(b"{"):
            return None
        if not (_KEY_RE["images"].search(mm) and _KEY_RE["categories"].search(mm)):
            return None
        return "panoptic" if _KEY_RE["segments_info"].search(mm) else "coco"


def folder_jsons(folder: Path) -> list[Path]:
    """The candidate annotation files of a folder: ``annotations/*.json`` if any, else its own ``*.json``."""
    ann_dir = folder / "annotations"
    found = sorted(ann_dir.glob("*.json")) if ann_dir.is_dir() else []
    return found or sorted(folder.glob("*.json"))


def detect(path: Path) -> float:
    """0.95 for a COCO ground-truth file, 0.9 for a folder of them, 0.3 for a results list, else 0."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() != ".json":
            return 0.0
        kind = peek_kind(path)
        return 0.95 if kind == "coco" else 0.3 if kind == "results" else 0.0
    if not path.is_dir():
        return 0.0
    in_annotations = (path / "annotations").is_dir()
    for candidate in folder_jsons(path)[:20]:
        if peek_kind(candidate) == "coco":
            return 0.9 if candidate.parent.name == "annotations" and in_annotations else 0.85
    return 0.0
