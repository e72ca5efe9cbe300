"""The ``seglab`` command line: formats, metrics, rendering, the server, workers and auto-labeling.

Exit status: 0 success, 1 bad or invalid data (the message says which file and object), 2 usage errors.
"""

from __future__ import annotations

import json
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from seglab.cli.autolabel_cmd import audit_cmd, autolabel_app, suggest_cmd
from seglab.cli.common import (
    check_format,
    handle_errors,
    is_nonempty_dir,
    load,
    open_source,
    read,
    report_skipped,
    say,
    stdout,
    usage_error,
)
from seglab.cli.demo import demo
from seglab.cli.eval_cmd import eval_cmd
from seglab.cli.remote_cmd import export_cmd, import_cmd
from seglab.cli.render import render
from seglab.cli.serve_cmd import gc_cmd, serve_cmd, worker_cmd
from seglab.core.validation import Severity, validate
from seglab.formats import registry
from seglab.formats.base import ErrorPolicy, WriteOptions
from seglab.formats.yolo.constants import TASKS as YOLO_TASKS

app = typer.Typer(
    name="seglab",
    help="Read, check, convert and render computer-vision annotations losslessly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

YoloTask = StrEnum("YoloTask", [(task.upper(), task) for task in YOLO_TASKS])  # the writer's own list

FromOption = Annotated[
    str | None,
    typer.Option("--from", help="Source format (detected when left out; see `seglab formats`)."),
]
SourceArgument = Annotated[Path, typer.Argument(help="Dataset folder, annotation file or zip archive.")]


def _version(value: bool) -> None:
    if value:
        try:
            typer.echo(f"seglab {version('seglab')}")
        except PackageNotFoundError:
            typer.echo("seglab (not installed)")
        raise typer.Exit()


@app.callback()
def main(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Read, check, convert and render computer-vision annotations losslessly."""


@app.command()
@handle_errors
def convert(
    src: SourceArgument,
    dst: Annotated[Path, typer.Argument(help="Output folder (must not exist or be empty).")],
    to: Annotated[str, typer.Option("--to", help="Target format (see `seglab formats`).")],
    from_: FromOption = None,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Leave invalid objects out (and list them) instead of failing."),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace DST once the new output is complete.")
    ] = False,
    no_copy_images: Annotated[
        bool, typer.Option("--no-copy-images", help="Write annotations only; do not copy image files.")
    ] = False,
    subset: Annotated[
        str | None, typer.Option("--subset", help="Write only the images of this subset (e.g. val).")
    ] = None,
    default_subset: Annotated[
        str | None,
        typer.Option(
            "--default-subset",
            help="Subset name for images that have none (else the format's default, e.g. COCO's 'default').",
        ),
    ] = None,
    task: Annotated[
        YoloTask | None,
        typer.Option(
            "--task",
            help="YOLO layout to write (--to yolo only). Default: pose if any keypoints, else segment if "
            "any polygon or mask, else obb if any rotated box, else detect.",
        ),
    ] = None,
) -> None:
    """Convert a dataset to another format. Losses are always printed; output appears whole or not at all."""
    target_format = check_format(to, "--to") or to
    source_format = check_format(from_, "--from")
    if task is not None and target_format != "yolo":
        raise usage_error(f"--task applies to --to yolo only, not to {target_format}", "--task")
    options = WriteOptions(
        copy_images=not no_copy_images,
        subset=subset,
        default_subset=default_subset,
        yolo_task=task.value if task is not None else None,
    )
    if is_nonempty_dir(dst) and not overwrite:
        raise usage_error(f"{dst} exists and is not empty; choose another folder or pass --overwrite", "DST")
    if src.exists() and dst.resolve() in (src.resolve(), *src.resolve().parents):
        raise usage_error(
            f"{dst} would replace the source or a folder around it; choose another folder", "DST"
        )
    if src.exists() and src.is_dir() and src.resolve() in dst.resolve().parents:
        raise usage_error(f"{dst} is inside the source folder; choose a folder outside it", "DST")

    out = stdout()
    policy = ErrorPolicy.SKIP if skip_invalid else ErrorPolicy.FAIL
    source = open_source(src, source_format)
    say(source.describe_format())
    with out.status(f"reading {src} ..."):
        loaded = read(source, policy)
    report_skipped(loaded.skipped)
    ds = registry.select_subset(loaded.dataset, options)
    with out.status(f"writing {target_format} to {dst} ..."):
        report = registry.write_dataset(
            ds,
            dst,
            target_format,
            options=options,
            overwrite=overwrite,
        )
    say(
        f"wrote {len(ds)} image(s), {ds.annotation_count} annotation(s) as {target_format} to {dst}",
        style="green",
    )
    if report:
        say(f"losses ({target_format} cannot hold everything that was read):", style="yellow")
        for line in report.lines():
            say(f"  {line}")
    else:
        say(f"losses: none; {target_format} holds everything that was read")


def info_data(loaded_format: str, ds: Any) -> dict[str, Any]:
    """The ``info --json`` document: exactly format, images, annotations, by_type and classes."""
    return {
        "format": loaded_format,
        "images": len(ds),
        "annotations": ds.annotation_count,
        "by_type": ds.count_by_type(),
        "classes": ds.count_by_class(),
    }


@app.command()
@handle_errors
def info(
    src: SourceArgument,
    from_: FromOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON document instead of tables.")] = False,
) -> None:
    """Summarise a dataset: format, images, annotations by shape type and classes."""
    loaded = load(src, check_format(from_, "--from"), ErrorPolicy.SKIP)
    report_skipped(loaded.skipped, err=True, hint="; run `seglab validate` for the full list")
    ds = loaded.dataset
    data = info_data(loaded.format, ds)
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    out = stdout()
    say(loaded.describe_format())
    subsets = {s: sum(1 for i in ds if i.subset == s) for s in ds.subsets()}
    split = ", ".join(f"{s or 'no subset'}: {n}" for s, n in subsets.items()) if len(subsets) > 1 else ""
    say(f"images: {len(ds)}" + (f" ({split})" if split else ""))
    say(f"annotations: {ds.annotation_count}")
    by_type = Table(title="annotations by shape type", title_justify="left")
    by_type.add_column("type")
    by_type.add_column("count", justify="right")
    for kind, n in data["by_type"].items():
        by_type.add_row(kind, str(n))
    out.print(by_type)
    classes = Table(title=f"classes ({len(ds.ontology)})", title_justify="left")
    for col, justify in (("class", "left"), ("kind", "left"), ("annotations", "right")):
        classes.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, n in data["classes"].items():
        cls = ds.ontology.get(name)
        kind = cls.kind.value if cls is not None else "not in ontology"
        classes.add_row(Text(name), kind, str(n))
    out.print(classes)


@app.command(name="validate")
@handle_errors
def validate_cmd(
    src: SourceArgument,
    from_: FromOption = None,
    panoptic: Annotated[
        bool | None,
        typer.Option(
            "--panoptic/--no-panoptic",
            help="Check overlaps and stuff segments (default: when the ontology requires full coverage).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as a JSON list.")] = False,
) -> None:
    """Check a dataset; exit 1 with one line per bad object (file, image, object, reason)."""
    loaded = load(src, check_format(from_, "--from"), ErrorPolicy.SKIP)
    issues = validate(loaded.dataset, panoptic=panoptic)
    source = str(src)
    rows: list[dict[str, Any]] = [
        {"file": p.file, "image": None, "object": p.where, "severity": "error", "reason": p.reason}
        for p in loaded.skipped
    ]
    rows += [
        {
            "file": source,
            "image": i.image,
            "object": f"annotation {i.annotation_id}" if i.annotation_id is not None else None,
            "severity": i.severity.value,
            "reason": f"{i.code}: {i.message}",
        }
        for i in issues
    ]
    errors = sum(1 for r in rows if r["severity"] == Severity.ERROR.value)
    warnings = len(rows) - errors
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        say(loaded.describe_format())
        say(f"{len(loaded.dataset)} image(s), {loaded.dataset.annotation_count} annotation(s) read")
        if rows:
            table = Table(show_lines=False)
            for col in ("file", "image", "object", "severity", "reason"):
                table.add_column(col, overflow="fold")
            for r in rows:
                table.add_row(
                    *(Text(str(r[c] or "")) for c in ("file", "image", "object", "severity", "reason"))
                )
            stdout().print(table)
        if errors:
            say(f"{errors} problem(s)" + (f", {warnings} warning(s)" if warnings else ""), style="bold red")
        else:
            say("no problems" + (f" ({warnings} warning(s))" if warnings else ""), style="green")
    if errors:
        raise typer.Exit(1)


@app.command(name="formats")
def formats_cmd() -> None:
    """List the formats seglab reads and writes, and the shapes each carries."""
    table = Table(title="formats", title_justify="left")
    for col in ("name", "carries", "extensions", "description"):
        table.add_column(col, overflow="fold")
    order = ("box", "polygon", "polyline", "keypoints", "mask")
    for spec in registry.list_formats():
        carries = ", ".join(k for k in order if k in {s.value for s in spec.carries})
        table.add_row(spec.name, carries, " ".join(spec.extensions), Text(spec.description))
    stdout().print(table)


app.command(name="render")(render)
app.command(name="demo")(demo)
app.command(name="eval")(eval_cmd)
app.command(name="serve")(serve_cmd)
app.command(name="import")(import_cmd)
app.command(name="export")(export_cmd)
app.command(name="worker")(worker_cmd)
app.command(name="gc")(gc_cmd)
app.add_typer(autolabel_app, name="autolabel")
app.command(name="audit")(audit_cmd)
app.command(name="suggest")(suggest_cmd)
