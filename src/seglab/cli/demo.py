"""``seglab demo``: the bundled sample written in every format, read back, compared and rendered.

Everything is built in a staging folder beside OUT_DIR and renamed into place at the end, so an
interrupted demo leaves no half-written folder. A folder left by an earlier demo (it holds a marker file)
is replaced without asking; any other non-empty folder needs --overwrite.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from seglab.cli.common import handle_errors, is_nonempty_dir, say, stdout, usage_error
from seglab.cli.render import render_dataset
from seglab.core.dataset import Dataset
from seglab.core.errors import SeglabError
from seglab.demo import build_sample_dataset
from seglab.formats import registry
from seglab.formats.base import ErrorPolicy

MARKER = ".seglab-demo"


@dataclass(frozen=True)
class FormatRound:
    """One format's round trip of the sample."""

    format: str
    detected: str
    written: int
    read: int
    losses: tuple[str, ...]
    error: str | None = None


def round_trip(dataset: Dataset, folder: Path, fmt: str) -> tuple[FormatRound, Dataset | None]:
    """Write ``dataset`` as ``fmt`` into ``folder``, read it back, and say what came back."""
    try:
        report = registry.write_dataset(dataset, folder, fmt)
        back, skipped = registry.read_dataset(folder, fmt, policy=ErrorPolicy.SKIP)
    except SeglabError as exc:
        return FormatRound(fmt, "", dataset.annotation_count, 0, (), error=str(exc)), None
    found = registry.detect(folder)
    detected = f"{found[0][0]} {found[0][1]:.2f}" if found else "not detected"
    # the table shows what was lost and how often; `seglab convert` prints the first example of each
    losses = tuple(f"{n} x {what}" for what, n in report.counts.items())
    losses += tuple(f"not read back: {p}" for p in skipped)
    return FormatRound(fmt, detected, dataset.annotation_count, back.annotation_count, losses), back


def _replace(staging: Path, target: Path) -> None:
    if target.exists():
        backup = target.with_name(f".{target.name}.old-{staging.name[-8:]}")
        target.rename(backup)
        staging.rename(target)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        staging.rename(target)


@handle_errors
def demo(
    out_dir: Annotated[Path, typer.Argument(help="Folder for the demo output.")] = Path("demo-output"),
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUT_DIR even when an earlier demo did not make it.")
    ] = False,
) -> None:
    """Build the bundled sample, write it in every format, read each back, and render overlays."""
    started = time.perf_counter()
    if is_nonempty_dir(out_dir) and not (out_dir / MARKER).is_file() and not overwrite:
        raise usage_error(f"{out_dir} exists and was not made by `seglab demo`; pass --overwrite", "OUT_DIR")
    sample = build_sample_dataset()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        rounds = []
        backs: dict[str, Dataset] = {}
        with stdout().status("writing the sample in every format ..."):
            for spec in registry.list_formats():
                result, back = round_trip(sample, staging / "formats" / spec.name, spec.name)
                rounds.append(result)
                if back is not None:
                    backs[spec.name] = back
        with stdout().status("rendering overlays ..."):
            notes = render_dataset(sample, staging / "overlays" / "sample").notes
            for name, back in backs.items():
                notes += render_dataset(back, staging / "overlays" / name).notes
        (staging / MARKER).write_text("made by `seglab demo`; the next demo replaces this folder\n")
        _replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    types = ", ".join(f"{n} {k}" for k, n in sample.count_by_type().items())
    say(
        f"sample: {len(sample)} street scenes {sample.images[0].size.width}x{sample.images[0].size.height}, "
        f"{sample.annotation_count} annotations ({types})"
    )
    table = Table(
        title="every format: written, read back, and what the format cannot hold", title_justify="left"
    )
    for col, justify in (
        ("format", "left"),
        ("detected as", "left"),
        ("objects written", "right"),
        ("objects read", "right"),
        ("losses", "left"),
    ):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in rounds:
        losses = Text(f"failed: {r.error}", style="red") if r.error else Text("\n".join(r.losses) or "none")
        table.add_row(r.format, r.detected, str(r.written), str(r.read), losses)
    stdout().print(table)
    for note in notes:
        say(note, style="yellow", err=True)
    say(f"formats:  {out_dir / 'formats'}/<format>")
    overlays = out_dir / "overlays"
    say(f"overlays: {overlays / 'sample'} (the sample), {overlays}/<format> (as read back)")
    say(f"try:      seglab info {out_dir / 'formats' / 'coco'}")
    say(f"done in {time.perf_counter() - started:.1f} s", style="green")
    if any(r.error for r in rounds):
        raise typer.Exit(1)
