"""PNG figures of metric results: precision-recall curves, confusion matrices, per-class PQ.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state, no display needed).
matplotlib is an optional dependency; importing this module without it raises a clear error.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

try:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("plots need matplotlib: pip install 'seglab[dev]' or pip install matplotlib") from exc

from seglab.metrics.agreement import AgreementResult
from seglab.metrics.coco import CocoResult
from seglab.metrics.panoptic import PanopticResult
from seglab.metrics.semantic import SemanticResult


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110)
    return path


def pr_curves(result: CocoResult, path: Path, *, iou: float = 0.5) -> Path:
    """Interpolated precision against recall at one IoU threshold, per class and their mean (area all)."""
    ious = np.asarray(result.iou_thresholds)
    t = np.flatnonzero(np.isclose(ious, iou))
    if t.size == 0:
        raise ValueError(f"IoU {iou} is not one of the evaluated thresholds {result.iou_thresholds}")
    recall = np.linspace(0.0, 1.0, result.precision.shape[1])
    curves = result.precision[t[0], :, :, 0, -1]  # (R, K)
    fig = Figure(figsize=(7, 5.5))
    ax = fig.add_subplot(1, 1, 1)
    defined = [k for k in range(curves.shape[1]) if np.all(curves[:, k] > -1)]
    shown = defined if len(defined) <= 20 else []
    for k in shown:
        ap = curves[:, k].mean()
        ax.plot(recall, curves[:, k], linewidth=1, label=f"{result.class_names[k]} {ap:.3f}")
    if defined:
        mean = curves[:, defined].mean(axis=1)
        ax.plot(recall, mean, color="black", linewidth=2.5, label=f"all classes {mean.mean():.3f}")
    else:
        ax.text(0.5, 0.5, "no class with ground truth", ha="center", va="center", transform=ax.transAxes)
    metric = "OKS" if result.task == "keypoints" else "IoU"
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision")
    ax.set_title(f"{result.task}: precision-recall at {metric} {iou:g} (AP in the legend)")
    ax.grid(alpha=0.3)
    if defined:
        ax.legend(loc="lower left", fontsize=8)
    return _save(fig, path)


def confusion_plot(
    matrix: np.ndarray,
    rows: Sequence[str],
    cols: Sequence[str],
    path: Path,
    *,
    title: str,
    row_axis: str = "ground truth",
    col_axis: str = "prediction",
) -> Path:
    """A confusion matrix, each row normalised to 1 (colour), with the raw counts written in small ones."""
    m = np.asarray(matrix, dtype=np.float64)
    totals = m.sum(axis=1, keepdims=True)
    norm = np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)
    side = max(5.0, 0.35 * max(len(rows), len(cols)) + 2.5)
    fig = Figure(figsize=(side + 1, side))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the row")
    ax.set_xticks(range(len(cols)), labels=list(cols), rotation=90, fontsize=8)
    ax.set_yticks(range(len(rows)), labels=list(rows), fontsize=8)
    ax.set(xlabel=col_axis, ylabel=row_axis, title=title)
    if max(len(rows), len(cols)) <= 20:
        for (i, j), value in np.ndenumerate(m):
            if value:
                colour = "white" if norm[i, j] > 0.5 else "black"
                text = f"{int(value)}" if float(value).is_integer() else f"{value:.2g}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
    fig.tight_layout()
    return _save(fig, path)


def pq_bars(result: PanopticResult, path: Path) -> Path:
    """PQ, SQ and RQ per class, things and stuff marked."""
    names = list(result.per_class)
    fig = Figure(figsize=(max(6.0, 0.45 * len(names) + 2), 5))
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(names))
    for offset, key in zip((-0.27, 0.0, 0.27), ("PQ", "SQ", "RQ"), strict=True):
        ax.bar(x + offset, [result.per_class[n][key] for n in names], width=0.27, label=key)
    ax.set_xticks(x, labels=names, rotation=90, fontsize=8)
    ax.set(ylim=(0, 1.15), ylabel="score", title=f"panoptic quality per class (PQ {result.PQ:.3f})")
    ax.legend(loc="upper center", ncol=3, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def write_plots(
    result: CocoResult | SemanticResult | PanopticResult | AgreementResult,
    folder: Path,
    *,
    detections: AgreementResult | None = None,
) -> list[Path]:
    """Every figure that fits the result; ``detections`` adds a class confusion of matched detections."""
    folder = Path(folder)
    written: list[Path] = []
    if isinstance(result, CocoResult):
        written.append(pr_curves(result, folder / "pr_curve_iou50.png", iou=0.5))
        if np.any(np.isclose(result.iou_thresholds, 0.75)):
            written.append(pr_curves(result, folder / "pr_curve_iou75.png", iou=0.75))
    elif isinstance(result, SemanticResult):
        written.append(
            confusion_plot(
                result.confusion,
                result.class_names,
                [*result.class_names, "none"],
                folder / "confusion_matrix.png",
                title="pixel confusion (rows normalised)",
            )
        )
    elif isinstance(result, PanopticResult):
        written.append(pq_bars(result, folder / "pq_per_class.png"))
    agreement = result if isinstance(result, AgreementResult) else detections
    if agreement is not None:
        labels = [*agreement.labels, "none"]
        written.append(
            confusion_plot(
                agreement.confusion,
                labels,
                labels,
                folder / "confusion_matrix.png",
                title=f"objects matched at {agreement.kind} IoU >= {agreement.iou_threshold:g}",
                row_axis="A (reference)" if isinstance(result, AgreementResult) else "ground truth",
                col_axis="B" if isinstance(result, AgreementResult) else "prediction",
            )
        )
    return written
