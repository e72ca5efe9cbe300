"""Calibration: do the probabilities mean what they say?

- :func:`expected_calibration_error` and :func:`reliability_curve`: confidence (top-class probability)
  binned against the accuracy actually reached in each bin; :func:`reliability_diagram` draws it.
- :class:`TemperatureScaling` (one scalar, argmax unchanged) and :class:`IsotonicCalibration` (one
  monotone map per class, one-vs-rest, then renormalised), fitted on held-out labeled pixels.

Calibrators serialise to plain JSON (numbers only), so a model file never needs pickle to carry them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy.optimize import minimize_scalar

_EPS = 1e-7


@dataclass(frozen=True, eq=False)
class ReliabilityCurve:
    """Per confidence bin: mean confidence, accuracy and pixel count (empty bins are NaN / 0)."""

    edges: np.ndarray  # (B + 1,)
    confidence: np.ndarray  # (B,)
    accuracy: np.ndarray  # (B,)
    counts: np.ndarray  # (B,) int64

    @property
    def ece(self) -> float:
        """Expected calibration error: the count-weighted mean |accuracy - confidence| over bins."""
        total = self.counts.sum()
        if total == 0:
            return float("nan")
        gap = np.abs(np.nan_to_num(self.accuracy) - np.nan_to_num(self.confidence))
        return float((gap * self.counts).sum() / total)


def reliability_curve(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> ReliabilityCurve:
    """Bin top-class confidences (equal width on [0, 1]) against whether each prediction was right."""
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    ok = np.asarray(correct, dtype=bool).ravel()
    if conf.shape != ok.shape:
        raise ValueError(f"confidence and correct differ in size: {conf.size} vs {ok.size}")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)  # (N,)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=conf, minlength=bins) / counts
        accuracy = np.bincount(which, weights=ok.astype(np.float64), minlength=bins) / counts
    return ReliabilityCurve(edges, mean_conf, accuracy, counts.astype(np.int64))


def expected_calibration_error(proba: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE of ``(N, K)`` probabilities against ``(N,)`` true class indices."""
    p = np.asarray(proba).reshape(-1, np.asarray(proba).shape[-1])
    y = np.asarray(labels).ravel()
    return reliability_curve(p.max(axis=1), p.argmax(axis=1) == y, bins).ece


def reliability_diagram(
    curves: dict[str, ReliabilityCurve], path: Path | str, *, title: str = "Reliability diagram"
) -> Path:
    """Write a PNG with one reliability curve per entry (e.g. before / after calibration)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # an optional dependency: say how to get it
        raise ImportError("reliability diagrams need matplotlib: pip install matplotlib") from exc

    path = Path(path)
    # the object API on the Agg canvas: no pyplot, no global state, no display needed
    fig = Figure(figsize=(5.2, 6.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax, hist = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.55", linewidth=1, label="perfectly calibrated")
    for i, (name, curve) in enumerate(curves.items()):
        keep = curve.counts > 0
        centers = (curve.edges[:-1] + curve.edges[1:]) / 2
        ax.plot(
            curve.confidence[keep], curve.accuracy[keep], marker="o", markersize=4,
            label=f"{name} (ECE {curve.ece:.3f})", color=f"C{i}",
        )  # fmt: skip
        width = (curve.edges[1] - curve.edges[0]) / (len(curves) + 0.5)
        hist.bar(centers + (i - (len(curves) - 1) / 2) * width, curve.counts, width=width, color=f"C{i}")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    hist.set_xlabel("confidence (top-class probability)")
    hist.set_ylabel("pixels")
    hist.set_yscale("log")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


class Calibrator(Protocol):
    """Maps probabilities ``(..., K)`` to calibrated probabilities of the same shape."""

    def apply(self, proba: np.ndarray) -> np.ndarray: ...

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class TemperatureScaling:
    """``softmax(log p / T)``: one scalar fitted by maximum likelihood; keeps every argmax."""

    temperature: float = 1.0

    @classmethod
    def fit(cls, proba: np.ndarray, labels: np.ndarray) -> TemperatureScaling:
        p = np.asarray(proba, dtype=np.float64).reshape(-1, np.asarray(proba).shape[-1])
        y = np.asarray(labels).ravel().astype(np.int64)
        logp = np.log(np.clip(p, _EPS, 1.0))  # (N, K)

        def nll(log_t: float) -> float:
            z = logp / np.exp(log_t)
            z -= z.max(axis=1, keepdims=True)
            return float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1))).mean())

        found = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
        return cls(float(np.exp(found.x)))

    def apply(self, proba: np.ndarray) -> np.ndarray:
        if self.temperature == 1.0:
            return np.asarray(proba, dtype=np.float32)
        z = np.log(np.clip(np.asarray(proba, dtype=np.float32), _EPS, 1.0)) / np.float32(self.temperature)
        z -= z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)

    def to_json(self) -> dict[str, Any]:
        return {"method": "temperature", "temperature": self.temperature}


@dataclass(frozen=True)
class IsotonicCalibration:
    """One isotonic (monotone, piecewise-linear) map per class, one-vs-rest, renormalised to sum 1.

    Stored as each class's breakpoints ``(x, y)``; applying it is ``np.interp``.
    """

    x: tuple[tuple[float, ...], ...]
    y: tuple[tuple[float, ...], ...]

    @classmethod
    def fit(cls, proba: np.ndarray, labels: np.ndarray, max_points: int = 64) -> IsotonicCalibration:
        from sklearn.isotonic import IsotonicRegression

        p = np.asarray(proba, dtype=np.float64).reshape(-1, np.asarray(proba).shape[-1])
        y = np.asarray(labels).ravel()
        xs, ys = [], []
        grid = np.linspace(0.0, 1.0, max_points)
        for k in range(p.shape[1]):
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
            iso.fit(p[:, k], (y == k).astype(np.float64))
            xs.append(tuple(grid.tolist()))
            ys.append(tuple(np.asarray(iso.predict(grid), dtype=np.float64).tolist()))
        return cls(tuple(xs), tuple(ys))

    def apply(self, proba: np.ndarray) -> np.ndarray:
        p = np.asarray(proba, dtype=np.float32)
        out = np.empty_like(p)
        for k in range(p.shape[-1]):
            out[..., k] = np.interp(p[..., k], self.x[k], self.y[k])
        total = out.sum(axis=-1, keepdims=True)
        # where every map says 0, fall back to the uncalibrated probabilities rather than dividing by 0
        return np.where(total > _EPS, out / np.maximum(total, _EPS), p)

    def to_json(self) -> dict[str, Any]:
        return {"method": "isotonic", "x": [list(r) for r in self.x], "y": [list(r) for r in self.y]}


def calibrator_from_json(data: dict[str, Any] | None) -> TemperatureScaling | IsotonicCalibration | None:
    if data is None:
        return None
    method = data.get("method")
    if method == "temperature":
        t = float(data["temperature"])
        if not (np.isfinite(t) and t > 0):
            raise ValueError(f"temperature must be a positive number, got {t}")
        return TemperatureScaling(t)
    if method == "isotonic":
        x = tuple(tuple(float(v) for v in row) for row in data["x"])
        y = tuple(tuple(float(v) for v in row) for row in data["y"])
        if len(x) != len(y) or any(len(a) != len(b) or len(a) < 2 for a, b in zip(x, y, strict=True)):
            raise ValueError("isotonic calibration tables are malformed")
        return IsotonicCalibration(x, y)
    raise ValueError(f"unknown calibration method {method!r}")


def fit_calibrator(
    method: str, proba: np.ndarray, labels: np.ndarray
) -> TemperatureScaling | IsotonicCalibration | None:
    """``method``: ``"temperature"``, ``"isotonic"`` or ``"none"``."""
    if method == "none":
        return None
    if method == "temperature":
        return TemperatureScaling.fit(proba, labels)
    if method == "isotonic":
        return IsotonicCalibration.fit(proba, labels)
    raise ValueError(f"unknown calibration method {method!r}; use temperature, isotonic or none")
