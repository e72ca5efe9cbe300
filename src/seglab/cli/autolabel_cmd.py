"""``seglab autolabel train|predict``, ``seglab audit`` and ``seglab suggest``.

The library is :mod:`seglab.autolabel`; this module reads datasets and images (any format seglab reads),
writes results (any format seglab writes) and prints. Exit status as for every command: 0 success, 1 bad
data or a refused model file, 2 usage errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table
from rich.text import Text

from seglab.autolabel import (
    AuditOptions,
    ClassInfo,
    FeatureConfig,
    InstanceOptions,
    ModelError,
    OnnxBackend,
    SegmentationBackend,
    TorchBackend,
    TrainConfig,
    annotations_from_prediction,
    audit_dataset,
    checked_predict,
    classes_from_ontology,
    image_descriptor,
    image_uncertainty,
    label_map,
    load_model,
    save_model,
    suggest,
    train_pixel_classifier,
)
from seglab.autolabel.report import write_report
from seglab.cli.common import (
    check_format,
    handle_errors,
    load,
    report_skipped,
    say,
    stderr,
    stdout,
    usage_error,
)
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import SeglabError
from seglab.core.geometry import Polygon, Polyline
from seglab.core.mask import Mask
from seglab.core.ontology import LabelClass, LabelKind, Ontology, default_color
from seglab.formats import registry
from seglab.formats.base import ErrorPolicy, WriteOptions
from seglab.formats.media import FileMedia
from seglab.formats.safe_io import find_images, read_image_rgb, write_png

autolabel_app = typer.Typer(
    name="autolabel",
    help="Learn from a few labeled images and label the rest, with a score and an uncertainty per object.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

FromOption = Annotated[
    str | None, typer.Option("--from", help="Dataset format (detected when left out; see `seglab formats`).")
]
DatasetArgument = Annotated[Path, typer.Argument(help="Dataset folder, annotation file or zip archive.")]
ThreadsOption = Annotated[
    int, typer.Option("--threads", min=0, help="CPU threads for training and prediction (0: all cores).")
]
BackgroundOption = Annotated[
    str | None,
    typer.Option(
        "--background",
        help="Class that every unlabeled pixel belongs to (for exhaustively labeled objects on an "
        "unlabeled background); without it unlabeled pixels are ignored (scribbles).",
    ),
]


def _split_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise usage_error("give at least one class name", "--classes")
    return names


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise usage_error(f"expected comma-separated numbers, got {text!r}", "--sigmas") from None


def _trainable(image: ImageRecord, names: set[str]) -> bool:
    return image.media is not None and any(
        a.label in names and isinstance(a.shape, Polygon | Mask | Polyline) for a in image.annotations
    )


def _is_gray(pixels: np.ndarray) -> bool:
    return pixels.ndim == 2 or bool(
        (pixels[:, :, 0] == pixels[:, :, 1]).all() and (pixels[:, :, 1] == pixels[:, :, 2]).all()
    )


def _model_classes(ds: Dataset, names: list[str] | None, background: str | None) -> tuple[ClassInfo, ...]:
    classes = list(classes_from_ontology(ds.ontology, names))
    if background is not None:
        if background in [c.name for c in classes]:
            classes = [
                ClassInfo(c.name, LabelKind.STUFF, True) if c.name == background else c for c in classes
            ]
        else:
            classes.insert(0, ClassInfo(background, LabelKind.STUFF, True))
    return tuple(classes)


def _training_data(
    ds: Dataset, classes: tuple[ClassInfo, ...], background: str | None, max_images: int | None, stroke: float
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    names = [c.name for c in classes]
    chosen = [img for img in ds.images if _trainable(img, set(names))]
    if max_images is not None:
        chosen = chosen[:max_images]
    if not chosen:
        raise SeglabError(
            "no labeled image with pixels to learn from: label a few images (masks, polygons or brush "
            f"strokes of the classes {names}) and make sure their image files are found"
        )
    images, labels = [], []
    for img in chosen:
        pixels = img.media.read()  # type: ignore[union-attr]
        images.append(pixels)
        labels.append(
            label_map(img.annotations, names, img.require_size(), background=background, stroke_width=stroke)
        )
    return images, labels


@autolabel_app.command("train")
@handle_errors
def train(
    src: DatasetArgument,
    out: Annotated[Path, typer.Option("--out", help="Model file to write (.seglab-model).")],
    from_: FromOption = None,
    classes: Annotated[
        str | None, typer.Option("--classes", help="Comma-separated classes to learn (default: all).")
    ] = None,
    background: BackgroundOption = None,
    max_images: Annotated[
        int | None, typer.Option("--max-images", min=1, help="Learn from at most N images.")
    ] = None,
    members: Annotated[int, typer.Option("--members", min=1, max=16, help="Ensemble members.")] = 5,
    rounds: Annotated[int, typer.Option("--rounds", min=5, max=2000, help="Boosting rounds per model.")] = 40,
    calibration: Annotated[
        str, typer.Option("--calibration", help="temperature, isotonic or none (fitted on held-out pixels).")
    ] = "temperature",
    color: Annotated[str, typer.Option("--color", help="auto, rgb or gray features.")] = "auto",
    sigmas: Annotated[
        str | None,
        typer.Option("--sigmas", help="Comma-separated feature scales in pixels (default 0.7 ... 16)."),
    ] = None,
    stroke_width: Annotated[
        float, typer.Option("--stroke-width", min=1.0, help="Width in pixels of polyline scribbles.")
    ] = 3.0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same data + seed = same model).")] = 0,
    threads: ThreadsOption = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing model file.")] = False,
) -> None:
    """Train an auto-label model from the labeled images of a dataset (masks, polygons or scribbles)."""
    if calibration not in ("temperature", "isotonic", "none"):
        raise usage_error("choose temperature, isotonic or none", "--calibration")
    if color not in ("auto", "rgb", "gray"):
        raise usage_error("choose auto, rgb or gray", "--color")
    if out.exists() and not overwrite:
        raise usage_error(f"{out} exists; choose another file or pass --overwrite", "--out")
    loaded = load(src, check_format(from_, "--from"), ErrorPolicy.SKIP)
    report_skipped(loaded.skipped, err=True)
    ds = loaded.dataset
    model_classes = _model_classes(ds, _split_names(classes), background)
    images, labels = _training_data(ds, model_classes, background, max_images, stroke_width)
    if color == "auto":
        color = "gray" if all(_is_gray(np.asarray(px)) for px in images) else "rgb"
    try:
        features = FeatureConfig(color=color, **({"sigmas": _floats(sigmas)} if sigmas else {}))
    except ValueError as exc:
        raise usage_error(str(exc), "--sigmas") from None
    config = TrainConfig(
        features=features,
        members=members,
        rounds=rounds,
        calibration=calibration,
        seed=seed,
    )
    with stderr().status("training ...") as status:
        model = train_pixel_classifier(
            images, labels, model_classes, config, progress=lambda msg, _f: status.update(f"training: {msg}")
        )
    save_model(model, out)
    counts = ", ".join(f"{k}: {v}" for k, v in model.info["labeled_pixels"].items())
    say(f"trained on {len(images)} image(s) ({counts} labeled pixels) in {model.info['seconds']:.1f} s")
    if model.calibrator is not None:
        say(f"calibration: {model.calibrator.to_json()['method']}")
    say(f"wrote {out}", style="green")


NETWORK_SUFFIXES = {".onnx": "ONNX", ".pt": "TorchScript", ".ts": "TorchScript"}


def _backend(model: Path, classes: str | None, threads: int = 0) -> SegmentationBackend:
    """A seglab model, or a user's network: ``.onnx`` through ONNX Runtime, ``.pt``/``.ts`` (TorchScript)
    through PyTorch (``pip install seglab[torch]``) on CUDA when available."""
    kind = NETWORK_SUFFIXES.get(model.suffix.lower())
    if kind is not None:
        names = _split_names(classes)
        if not names:
            raise usage_error(f"an {kind} model needs --classes (its output channels, in order)", "--classes")
        return OnnxBackend(model, names) if kind == "ONNX" else TorchBackend(model, names)
    if classes is not None:
        raise usage_error(
            "--classes is only for ONNX / TorchScript models; seglab models carry their classes", "--classes"
        )
    loaded = load_model(model)
    loaded.threads = threads
    return loaded


def _ontology(classes: tuple[ClassInfo, ...]) -> Ontology:
    return Ontology(
        tuple(
            LabelClass(c.name, default_color(i + 1), c.kind)
            for i, c in enumerate(x for x in classes if not x.background)
        )
    )


@autolabel_app.command("predict")
@handle_errors
def predict(
    model: Annotated[
        Path,
        typer.Argument(help="A .seglab-model from `train`, or a network (.onnx, TorchScript .pt)."),
    ],
    images: Annotated[
        Path, typer.Argument(help="An image file or a folder of images (searched recursively).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Output folder for the labeled dataset.")],
    to: Annotated[str, typer.Option("--to", help="Output format (see `seglab formats`).")],
    probabilities: Annotated[
        Path | None,
        typer.Option(
            "--probabilities",
            help="Also write <image>.npy (H, W, K float16 probabilities), <image>_uncertainty.png and "
            "uncertainty.json here.",
        ),
    ] = None,
    shape: Annotated[str, typer.Option("--shape", help="polygon (exact, with holes) or mask.")] = "polygon",
    min_area: Annotated[int, typer.Option("--min-area", min=1, help="Drop objects below N pixels.")] = 16,
    split_depth: Annotated[
        float, typer.Option("--split-depth", min=0.0, help="Watershed marker depth in px (0: no split).")
    ] = 2.0,
    classes: Annotated[
        str | None,
        typer.Option("--classes", help="ONNX / TorchScript models only: comma-separated output classes."),
    ] = None,
    threads: ThreadsOption = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace DST once complete.")] = False,
) -> None:
    """Label images with a model: masks split into instances, each with score and uncertainty."""
    target_format = check_format(to, "--to") or to
    if shape not in ("polygon", "mask"):
        raise usage_error("choose polygon or mask", "--shape")
    backend = _backend(model, classes, threads)
    if images.is_file():
        files = {images.name: images}
    else:
        files = find_images(images)
    if not files:
        raise SeglabError(f"{images}: no image files found")
    options = InstanceOptions(min_area=min_area, split_depth=split_depth, shape=shape)
    records, summary = [], {}
    next_id = 1
    if probabilities is not None:
        probabilities.mkdir(parents=True, exist_ok=True)
    with stderr().status("predicting ...") as status:
        for n, (name, path) in enumerate(files.items(), start=1):
            status.update(f"predicting {n}/{len(files)}: {name}")
            pixels = read_image_rgb(path)
            pred = checked_predict(backend, pixels)
            unc = pred.uncertainty()
            anns = annotations_from_prediction(
                pred, backend.classes, options=options, first_id=next_id, uncertainty=unc
            )
            next_id += len(anns)
            records.append(ImageRecord(n, name, FileMedia(path).size(), tuple(anns), media=FileMedia(path)))
            objects = [a.uncertainty for a in anns if a.uncertainty is not None]
            summary[name] = image_uncertainty(unc).to_json() | {
                "objects": len(objects),
                "uncertain_objects": sum(u > 0.5 for u in objects),
            }
            if probabilities is not None:
                stem = name.replace("/", "__").rsplit(".", 1)[0]
                np.save(probabilities / f"{stem}.npy", pred.proba.astype(np.float16), allow_pickle=False)
                write_png(
                    probabilities / f"{stem}_uncertainty.png", (unc.total * 255).round().astype(np.uint8)
                )
    ds = Dataset(_ontology(backend.classes), tuple(records), info={"generator": "seglab autolabel"})
    report = registry.write_dataset(ds, out, target_format, options=WriteOptions(), overwrite=overwrite)
    if probabilities is not None:
        (probabilities / "uncertainty.json").write_text(
            json.dumps({"classes": [c.name for c in backend.classes], "images": summary}, indent=2), "utf-8"
        )
    say(f"labeled {len(records)} image(s): {ds.annotation_count} annotation(s) as {target_format} in {out}")
    if report:
        say(f"losses ({target_format} cannot hold everything):", style="yellow")
        for line in report.lines():
            say(f"  {line}")


@handle_errors
def audit_cmd(
    src: DatasetArgument,
    from_: FromOption = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the suspects as a JSON list.")
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option("--report", help="Write an HTML page with overlays of the top suspects here."),
    ] = None,
    top: Annotated[
        int, typer.Option("--top", min=1, help="Suspects shown in the table and the report.")
    ] = 30,
    folds: Annotated[int, typer.Option("--folds", min=2, max=20, help="Cross-validation folds.")] = 5,
    background: BackgroundOption = None,
    no_model: Annotated[
        bool, typer.Option("--no-model", help="Only the model-free checks (no training).")
    ] = False,
    rounds: Annotated[
        int, typer.Option("--rounds", min=5, max=2000, help="Boosting rounds per fold model.")
    ] = 60,
    threads: ThreadsOption = 0,
) -> None:
    """Rank likely errors in human labels (missing, spurious, wrong class, boundary, other)."""
    loaded = load(src, check_format(from_, "--from"), ErrorPolicy.SKIP)
    report_skipped(loaded.skipped, err=True)
    ds = loaded.dataset
    fold_model = TrainConfig(
        members=1, rounds=rounds, calibration="none", samples_per_class=20_000, threads=threads
    )
    options = AuditOptions(folds=folds, train=fold_model, background=background, model_based=not no_model)
    with stderr().status("auditing ...") as status:
        result = audit_dataset(ds, options, progress=lambda msg, _f: status.update(f"auditing: {msg}"))
    for note in result.notes:
        say(note, style="yellow", err=True)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(
            json.dumps([s.to_json() for s in result.suspects], indent=2, ensure_ascii=False), "utf-8"
        )
    if report_dir is not None:
        page = write_report(result, ds, report_dir, top=top)
        say(f"report: {page}", err=True)
    table = Table(title=f"{len(result.suspects)} suspect(s), most likely first", title_justify="left")
    for col in ("score", "kind", "image", "annotation", "explanation"):
        table.add_column(col, overflow="fold")
    for s in result.suspects[:top]:
        ann_id = "" if s.annotation_id is None else str(s.annotation_id)
        table.add_row(f"{s.score:.2f}", s.kind.value, Text(s.image), ann_id, Text(s.explanation))
    stdout().print(table)


@handle_errors
def suggest_cmd(
    src: DatasetArgument,
    count: Annotated[int, typer.Option("--count", min=1, help="How many images to suggest.")] = 10,
    from_: FromOption = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the suggestions as a JSON list.")
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="Model to score uncertainty with (default: train one here)."),
    ] = None,
    background: BackgroundOption = None,
    rounds: Annotated[
        int, typer.Option("--rounds", min=5, max=2000, help="Boosting rounds of that model.")
    ] = 40,
    threads: ThreadsOption = 0,
) -> None:
    """Which unlabeled images to label next: expected uncertainty plus diversity (k-center greedy)."""
    loaded = load(src, check_format(from_, "--from"), ErrorPolicy.SKIP)
    report_skipped(loaded.skipped, err=True)
    ds = loaded.dataset
    backend: SegmentationBackend | None
    if model is not None:
        backend = _backend(model, None, threads)
    else:
        backend = None
        model_classes = _model_classes(ds, None, background)
        names = {c.name for c in model_classes}
        if any(_trainable(img, names) for img in ds.images) and len(model_classes) >= 2:
            images, labels = _training_data(ds, model_classes, background, None, 3.0)
            with stderr().status("training a model to measure uncertainty ..."):
                try:
                    backend = train_pixel_classifier(
                        images,
                        labels,
                        model_classes,
                        TrainConfig(rounds=rounds, calibration="none", threads=threads),
                    )
                except ModelError as exc:
                    say(f"no model ({exc}); ranking by diversity only", style="yellow", err=True)
    known_classes = {c.name for c in ds.ontology}
    with_pixels = [img for img in ds.images if img.media is not None]
    unlabeled = [img for img in with_pixels if not any(a.label in known_classes for a in img.annotations)]
    unlabeled_ids = {id(img) for img in unlabeled}
    labeled = [img for img in with_pixels if id(img) not in unlabeled_ids]
    if not unlabeled:
        raise SeglabError("every image already has labels; nothing to suggest")
    candidates: list[tuple[str, Any, Any]] = []
    with stderr().status("scoring images ...") as status:
        for n, img in enumerate(unlabeled, start=1):
            status.update(f"scoring {n}/{len(unlabeled)}: {img.file_name}")
            px = img.media.read()  # type: ignore[union-attr]
            candidates.append((img.file_name, px, checked_predict(backend, px) if backend else None))
        known = []
        for img in labeled:
            px = img.media.read()  # type: ignore[union-attr]
            known.append(image_descriptor(px, checked_predict(backend, px) if backend else None))
    picks = suggest(candidates, known, count)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps([p.to_json() for p in picks], indent=2, ensure_ascii=False), "utf-8")
    table = Table(title=f"label next ({len(picks)} of {len(unlabeled)} unlabeled)", title_justify="left")
    for col in ("rank", "image", "score", "uncertainty", "novelty"):
        table.add_column(col)
    for p in picks:
        table.add_row(
            str(p.rank), Text(p.image), f"{p.score:.3f}", f"{p.uncertainty:.3f}", f"{p.novelty:.2f}"
        )
    stdout().print(table)
