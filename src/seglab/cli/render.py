"""``seglab render``: PNG overlays of every annotation, one per image (the drawing itself is seglab.viz)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated

import numpy as np
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from seglab.cli.common import check_format, handle_errors, load, report_skipped, say, stderr, usage_error
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import SeglabError
from seglab.formats.base import ErrorPolicy
from seglab.formats.safe_io import write_png
from seglab.viz import draw_annotations

PROGRESS_FROM = 20  # show a progress bar from this many images on
_BLANK = 128  # grey canvas for images whose pixels are not available


@dataclass
class RenderSummary:
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _output_name(image: ImageRecord, by_subset: bool) -> PurePosixPath:
    """``<subset>/<file name>.png``: the image's relative path, kept inside the output folder."""
    parts = [p for p in PurePosixPath(image.file_name.replace("\\", "/")).parts if p not in ("..", "/", ".")]
    name = PurePosixPath(*parts) if parts else PurePosixPath(f"image_{image.id}")
    if by_subset and image.subset:
        name = PurePosixPath(image.subset) / name
    return name.with_suffix(".png")


def _pixels(image: ImageRecord) -> tuple[np.ndarray, str | None]:
    """The image's pixels, or a grey canvas of its size with the reason when they cannot be read."""
    reason = "no image file"
    if image.media is not None:
        try:
            return image.media.read(), None
        except (SeglabError, OSError) as exc:
            reason = str(exc)
    size = image.require_size()
    return np.full((size.height, size.width, 3), _BLANK, dtype=np.uint8), reason


def render_dataset(dataset: Dataset, out_dir: Path, images: list[ImageRecord] | None = None) -> RenderSummary:
    """Write one overlay PNG per image into ``out_dir``; what could not be drawn is listed in the notes."""
    chosen = list(dataset.images if images is None else images)
    by_subset = len({i.subset for i in dataset.images}) > 1
    summary = RenderSummary()
    progress = Progress(
        TextColumn("rendering"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr(),
        transient=True,
        disable=len(chosen) < PROGRESS_FROM,
    )
    with progress:
        for image in progress.track(chosen):
            try:
                pixels, missing = _pixels(image)
            except ValueError as exc:  # neither a size nor pixels: nothing to draw on
                summary.notes.append(f"{image.file_name}: not rendered: {exc}")
                continue
            if missing:
                summary.notes.append(f"{image.file_name}: drawn on grey, pixels unavailable ({missing})")
            drawn = draw_annotations(pixels, image.annotations, dataset.ontology)
            summary.notes.extend(f"{image.file_name}: {s}" for s in drawn.skipped)
            target = out_dir / _output_name(image, by_subset)
            write_png(target, drawn.pixels)
            summary.written.append(target)
    return summary


@handle_errors
def render(
    src: Annotated[Path, typer.Argument(help="Dataset folder, annotation file or zip archive.")],
    out_dir: Annotated[Path, typer.Argument(help="Folder for the overlay PNGs (created if needed).")],
    image: Annotated[
        list[str] | None,
        typer.Option("--image", help="Only this image (file name or stem); repeat for several."),
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Source format (detected when left out).")
    ] = None,
) -> None:
    """Draw every annotation over its image: masks, polygons with holes, polylines, boxes and skeletons."""
    loaded = load(src, check_format(from_, "--from"), ErrorPolicy.SKIP)
    report_skipped(loaded.skipped, err=True, hint="; they are not drawn")
    ds = loaded.dataset
    chosen: list[ImageRecord] | None = None
    if image:
        chosen = []
        for name in image:
            try:
                chosen.append(ds.image(name))
            except KeyError:
                some = ", ".join(i.file_name for i in ds.images[:5])
                raise usage_error(f"no image {name!r} in {src} (images include: {some})", "--image") from None
    if out_dir.exists() and not out_dir.is_dir():
        raise usage_error(f"{out_dir} is a file, not a folder", "OUT_DIR")
    summary = render_dataset(ds, out_dir, chosen)
    for note in summary.notes:
        say(note, style="yellow", err=True)
    say(f"wrote {len(summary.written)} overlay(s) to {out_dir}", style="green")
