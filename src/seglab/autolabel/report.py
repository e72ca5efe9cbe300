"""An audit report a reviewer can read: one HTML page, one PNG per top suspect (image | label | model).

Every text from the dataset (image names, class names, explanations) is HTML-escaped; file names of the
PNGs are generated (``suspect-001.png``), never taken from the dataset, so nothing is written outside
the report folder.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from seglab.autolabel.audit import AuditResult, Suspect
from seglab.autolabel.backends import ClassInfo
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.ontology import default_color
from seglab.core.raster import shape_to_mask

_HIGHLIGHT = (255, 230, 0)
_PANEL = 256


def _colors(classes: Sequence[ClassInfo], dataset: Dataset) -> np.ndarray:
    """``(K + 1, 3)`` colour per class index (ontology colours where set), the last for 'none'."""
    out = []
    for i, c in enumerate(classes):
        cls = dataset.ontology.get(c.name)
        color = cls.color if cls is not None and any(cls.color) else default_color(i + 1)
        out.append((0, 0, 0) if c.background else color)
    out.append((0, 0, 0))
    return np.asarray(out, dtype=np.float32)


def _blend(rgb: np.ndarray, labels: np.ndarray, colors: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Tint each pixel with its class colour; pixels of no class (index >= K) stay as they are."""
    idx = np.minimum(labels.astype(np.int64), len(colors) - 1)
    tint = colors[idx]  # (H, W, 3)
    keep = (labels >= len(colors) - 1) | (tint.sum(axis=2) == 0)
    out = rgb.astype(np.float32) * (1 - alpha) + tint * alpha
    out[keep] = rgb[keep]
    return out.clip(0, 255).astype(np.uint8)


def _crop_box(s: Suspect, h: int, w: int, margin: int = 24, minimum: int = 96) -> tuple[int, int, int, int]:
    if s.box is None:
        return 0, 0, w, h
    x0, y0, x1, y1 = s.box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max((x1 - x0) / 2 + margin, (y1 - y0) / 2 + margin, minimum / 2)
    return (
        max(0, int(cx - half)),
        max(0, int(cy - half)),
        min(w, int(np.ceil(cx + half))),
        min(h, int(np.ceil(cy + half))),
    )


def suspect_panel(
    suspect: Suspect, image: ImageRecord, pixels: np.ndarray, result: AuditResult, dataset: Dataset
) -> np.ndarray:
    """``(h, 3w, 3)`` uint8: the image, the human labels and the model's prediction side by side, the
    suspect outlined in yellow."""
    classes = result.classes
    colors = _colors(classes, dataset)
    rgb = np.asarray(pixels)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    rgb = rgb[:, :, :3].astype(np.uint8)
    h, w = rgb.shape[:2]
    size = image.require_size()
    names = {c.name: i for i, c in enumerate(classes)}
    human = np.full((h, w), len(classes), dtype=np.int64)
    target = np.zeros((h, w), dtype=bool)
    for ann in sorted(image.annotations, key=lambda a: a.z_order):
        if ann.label not in names:
            continue
        try:
            mask = shape_to_mask(ann.shape, size).array
        except (TypeError, ValueError):
            continue
        human[mask] = names[ann.label]
        if ann.id == suspect.annotation_id:
            target = mask
    predicted = result.predicted_labels(image.file_name)
    panels = [rgb.copy(), _blend(rgb, human, colors)]
    panels.append(_blend(rgb, predicted, colors) if predicted is not None else rgb // 3)
    if not target.any() and suspect.box is not None:
        x0, y0, x1, y1 = (round(v) for v in suspect.box)
        target[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = True
    if target.any():
        contours, _ = cv2.findContours(target.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        for p in panels:
            cv2.drawContours(p, contours, -1, _HIGHLIGHT, 1)
    x0, y0, x1, y1 = _crop_box(suspect, h, w)
    crops = [p[y0:y1, x0:x1] for p in panels]
    scale = _PANEL / max(crops[0].shape[:2])
    size_out = (max(1, round(crops[0].shape[1] * scale)), max(1, round(crops[0].shape[0] * scale)))
    crops = [cv2.resize(c, size_out, interpolation=cv2.INTER_NEAREST) for c in crops]
    gap = np.full((size_out[1], 4, 3), 255, dtype=np.uint8)
    return np.concatenate([crops[0], gap, crops[1], gap, crops[2]], axis=1)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>seglab audit</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 6px 10px; text-align: left; vertical-align: top; }}
.kind {{ font-weight: 600; }} .score {{ font-variant-numeric: tabular-nums; }}
img {{ image-rendering: pixelated; }} .legend span {{ margin-right: 14px; }}
</style></head><body>
<h1>Audit: likely label errors</h1>
<p>{summary}</p>
<p class="legend"><span>panels: image | human label | model (cross-validated: never saw this image)</span>
<span style="color:#b8a000">yellow outline: the suspect</span></p>
{notes}
<table><tr><th>#</th><th>suspect</th><th>image | human label | model</th></tr>
{rows}
</table></body></html>
"""


def write_report(
    result: AuditResult,
    dataset: Dataset,
    folder: Path | str,
    *,
    top: int = 50,
    read_pixels: Callable[[ImageRecord], np.ndarray] | None = None,
) -> Path:
    """Write ``index.html`` and ``suspect-NNN.png`` for the ``top`` suspects into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images = {img.file_name: img for img in dataset.images}
    reader = read_pixels or (lambda img: img.media.read())  # type: ignore[union-attr]
    rows = []
    cache: dict[str, np.ndarray] = {}
    for n, s in enumerate(result.suspects[:top], start=1):
        image = images.get(s.image)
        picture = ""
        if image is not None and image.media is not None:
            if s.image not in cache:
                cache.clear()  # keep one image's pixels at a time
                cache[s.image] = reader(image)
            panel = suspect_panel(s, image, cache[s.image], result, dataset)
            name = f"suspect-{n:03d}.png"
            Image.fromarray(panel).save(folder / name)
            picture = f'<img src="{name}" alt="suspect {n}">'
        where = f"{s.image}" + (f", annotation {s.annotation_id}" if s.annotation_id is not None else "")
        rows.append(
            f"<tr><td>{n}</td><td><span class='kind'>{html.escape(s.kind.value)}</span> "
            f"<span class='score'>{s.score:.2f}</span> {html.escape(s.label or '')}<br>"
            f"{html.escape(s.explanation)}<br><small>{html.escape(where)}</small></td><td>{picture}</td></tr>"
        )
    counts: dict[str, int] = {}
    for s in result.suspects:
        counts[s.kind.value] = counts.get(s.kind.value, 0) + 1
    summary = f"{len(result.suspects)} suspect(s) in {len(dataset)} image(s)" + (
        " (" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + ")" if counts else ""
    )
    summary += f"; the {min(top, len(result.suspects))} most likely are shown."
    notes = "".join(f"<p><em>{html.escape(n)}</em></p>" for n in result.notes)
    page = _PAGE.format(summary=html.escape(summary), notes=notes, rows="\n".join(rows))
    out = folder / "index.html"
    out.write_text(page, encoding="utf-8")
    return out
