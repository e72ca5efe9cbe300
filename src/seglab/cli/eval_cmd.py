"""``seglab eval GT PRED --task ...``: score predictions (or a second annotator) against ground truth.

GT and PRED are datasets in any format seglab reads; PRED may also be a COCO results list (a JSON list of
``{image_id, category_id, bbox|segmentation|keypoints, score}``), attached to GT's images and classes.
A table goes to stdout, warnings and errors to stderr; ``--json``, ``--per-image`` and ``--plots`` write
files. Exit status as for every command: 0 success, 1 bad data (unknown images, mismatched sizes), 2 usage.
"""

from __future__ import annotations

import csv
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from seglab.cli.common import check_format, handle_errors, load, report_skipped, say, stdout, usage_error
from seglab.core.dataset import Dataset
from seglab.formats.base import ReadOptions
from seglab.formats.safe_io import dump_json
from seglab.metrics import (
    AgreementResult,
    CocoResult,
    PanopticResult,
    SemanticResult,
    evaluate_agreement,
    evaluate_coco,
    evaluate_panoptic,
    evaluate_semantic,
)

RESULTS_FORMAT = "coco-results"


class EvalTask(StrEnum):
    BOXES = "boxes"
    MASKS = "masks"
    KEYPOINTS = "keypoints"
    SEMANTIC = "semantic"
    PANOPTIC = "panoptic"
    AGREEMENT = "agreement"


Result = CocoResult | SemanticResult | PanopticResult | AgreementResult


def _is_results_list(path: Path) -> bool:
    """A JSON file whose first character is ``[``: a COCO results list, not a dataset."""
    if not path.is_file() or path.suffix.lower() != ".json":
        return False
    with path.open("rb") as fh:
        head = fh.read(256).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def _read_predictions(pred: Path, gt: Dataset, pred_format: str | None) -> Dataset:
    if pred_format == RESULTS_FORMAT or (pred_format is None and _is_results_list(pred)):
        from seglab.formats.coco import read_results

        options = ReadOptions()
        dataset = read_results(pred, gt, options)
        options.finish()  # raises with every rejected result listed
        say(f"predictions: COCO results list ({dataset.annotation_count} results)", err=True)
        return dataset
    loaded = load(pred, check_format(pred_format, "--pred-format"))
    say(f"predictions: {loaded.describe_format()}", err=True)
    report_skipped(loaded.skipped, err=True)
    return loaded.dataset


def _cell(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return ""
    return value


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        if not rows:
            return
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)


def _per_class_table(result: Result) -> Table | None:
    per_class = result.per_class if not isinstance(result, SemanticResult) else result.to_json()["per_class"]
    if not per_class:
        return None
    columns = list(next(iter(per_class.values())))
    table = Table(title="per class", title_justify="left")
    table.add_column("class")
    for col in columns:
        table.add_column(col, justify="right")
    for name, values in per_class.items():
        cells = []
        for col in columns:
            v = values.get(col)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                cells.append("n/a")
            elif isinstance(v, float):
                cells.append(f"{v:.3f}")
            else:
                cells.append(str(v))
        table.add_row(Text(name), *cells)
    return table


def _print(result: Result, task: str) -> None:
    out = stdout()
    table = Table(title=f"seglab eval --task {task}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in result.table():
        table.add_row(name, value)
    out.print(table)
    per_class = _per_class_table(result)
    if per_class is not None:
        out.print(per_class)
    for warning in result.warnings:
        say(f"warning: {warning}", style="yellow", err=True)


def _evaluate(
    gt: Path,
    pred: Path,
    task: str,
    json_out: Path | None,
    per_image_csv: Path | None,
    plots_dir: Path | None,
    iou_threshold: float,
    gt_format: str | None,
    pred_format: str | None,
    min_score: float,
    tolerance: float,
    ignore_index: int,
    engine: str,
) -> None:
    loaded = load(gt, check_format(gt_format, "--gt-format"))
    say(f"ground truth: {loaded.describe_format()}", err=True)
    report_skipped(loaded.skipped, err=True)
    truth = loaded.dataset
    predictions = _read_predictions(pred, truth, pred_format)
    detections: AgreementResult | None = None
    result: Result
    if task in ("boxes", "masks", "keypoints"):
        result = evaluate_coco(truth, predictions, task, engine=engine)  # type: ignore[arg-type]
        if per_image_csv is not None or plots_dir is not None:
            detections = evaluate_agreement(
                truth, predictions, kind=task, iou_threshold=iou_threshold, min_score=min_score
            )  # type: ignore[arg-type]
        per_image = list(detections.per_image) if detections is not None else []
    elif task == "semantic":
        result = evaluate_semantic(truth, predictions, ignore_index=ignore_index, tolerance=tolerance)
        per_image = list(result.per_image)
    elif task == "panoptic":
        result = evaluate_panoptic(truth, predictions)
        per_image = list(result.per_image)
    else:
        result = evaluate_agreement(truth, predictions, iou_threshold=iou_threshold, min_score=min_score)
        per_image = list(result.per_image)
    _print(result, task)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        dump_json({"task": task, **result.to_json()}, json_out, indent=2)
        say(f"wrote {json_out}", err=True)
    if per_image_csv is not None:
        _write_csv([dict(r) for r in per_image], per_image_csv)
        say(f"wrote {per_image_csv} ({len(per_image)} images)", err=True)
    if plots_dir is not None:
        try:
            from seglab.metrics.plots import write_plots
        except ImportError as exc:
            raise usage_error(str(exc), "--plots") from None
        for path in write_plots(result, plots_dir, detections=detections):
            say(f"wrote {path}", err=True)


def eval_command(
    gt: Path,
    pred: Path,
    task: str,
    json_out: Path | None = None,
    per_image_csv: Path | None = None,
    plots_dir: Path | None = None,
    iou_threshold: float = 0.5,
    gt_format: str | None = None,
    pred_format: str | None = None,
    *,
    min_score: float = 0.0,
    tolerance: float = 2.0,
    ignore_index: int = 255,
    engine: str = "auto",
) -> int:
    """Run one evaluation and print/write its results; returns the exit status (0, or 1 for bad data)."""
    task = str(task.value if isinstance(task, EvalTask) else task)
    if task not in {t.value for t in EvalTask}:
        raise usage_error(f"unknown task {task!r}; one of: {', '.join(t.value for t in EvalTask)}", "--task")
    if not 0.0 < iou_threshold <= 1.0:
        raise usage_error(f"the IoU threshold must be in (0, 1], got {iou_threshold}", "--iou-threshold")
    if engine not in ("auto", "faster", "pycocotools"):
        raise usage_error(f"engine must be auto, faster or pycocotools, got {engine!r}", "--engine")
    try:
        handle_errors(_evaluate)(
            gt, pred, task, json_out, per_image_csv, plots_dir, iou_threshold, gt_format, pred_format,
            min_score, tolerance, ignore_index, engine,
        )  # fmt: skip
    except typer.Exit as done:
        return int(done.exit_code)
    return 0


def eval_cmd(
    gt: Annotated[Path, typer.Argument(help="Ground truth: a dataset in any format seglab reads.")],
    pred: Annotated[
        Path, typer.Argument(help="Predictions or a second annotator: a dataset, or a COCO results list.")
    ],
    task: Annotated[EvalTask, typer.Option("--task", help="What to measure.", case_sensitive=False)],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the numbers as JSON here.")] = None,
    per_image_csv: Annotated[
        Path | None, typer.Option("--per-image", help="Write one CSV row per image here.")
    ] = None,
    plots_dir: Annotated[
        Path | None, typer.Option("--plots", help="Write PR curves / confusion matrices as PNG here.")
    ] = None,
    iou_threshold: Annotated[
        float,
        typer.Option("--iou-threshold", help="Match threshold for agreement, per-image rows and confusion."),
    ] = 0.5,
    gt_format: Annotated[
        str | None, typer.Option("--gt-format", help="Format of GT (detected when left out).")
    ] = None,
    pred_format: Annotated[
        str | None,
        typer.Option(
            "--pred-format", help=f"Format of PRED (detected; '{RESULTS_FORMAT}' for a results list)."
        ),
    ] = None,
    min_score: Annotated[
        float, typer.Option("--min-score", help="Leave out predictions scored below this in matching.")
    ] = 0.0,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Boundary F1 tolerance in pixels (semantic).")
    ] = 2.0,
    ignore_index: Annotated[
        int, typer.Option("--ignore-index", help="Class index left out of semantic scores.")
    ] = 255,
    engine: Annotated[
        str, typer.Option("--engine", help="COCO evaluator: auto, faster (faster-coco-eval) or pycocotools.")
    ] = "auto",
) -> None:
    """Score PRED against GT: COCO AP/AR, semantic IoU, panoptic PQ or annotator agreement."""
    code = eval_command(
        gt, pred, task.value, json_out, per_image_csv, plots_dir, iou_threshold, gt_format, pred_format,
        min_score=min_score, tolerance=tolerance, ignore_index=ignore_index, engine=engine,
    )  # fmt: skip
    if code:
        raise typer.Exit(code)
