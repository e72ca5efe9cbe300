"""What the commands share: consoles, error handling, format options and reading a source with detection.

Results go to stdout, diagnostics and errors to stderr. Text from files (names, reasons) is printed as plain
text, never as Rich markup, so a class called ``[bold]`` prints as itself.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from seglab.core.dataset import Dataset
from seglab.core.errors import SeglabError
from seglab.formats import registry
from seglab.formats.base import ErrorPolicy, InvalidDataError, Problem

P = ParamSpec("P")
R = TypeVar("R")

SHOWN_PROBLEMS = 10  # how many skipped objects are listed line by line before a count


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def say(message: str, *, style: str | None = None, err: bool = False) -> None:
    """Print one line of plain text (no markup interpretation)."""
    (stderr() if err else stdout()).print(Text(message, style=style or ""))


def usage_error(message: str, param: str | None = None) -> typer.BadParameter:
    """A usage error: Typer prints it with the usage line and exits with status 2."""
    return typer.BadParameter(message, param_hint=param)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn seglab's own errors into a clean message on stderr and exit status 1 (no traceback).

    An :class:`InvalidDataError` lists every bad object, one per line. Anything else is a bug and keeps
    its traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except InvalidDataError as exc:
            err = stderr()
            err.print(
                Text(
                    f"error: {len(exc.problems)} invalid object(s); nothing was written. "
                    "Fix them, or pass --skip-invalid to leave them out:",
                    style="bold red",
                )
            )
            for problem in exc.problems:
                err.print(Text(f"  {problem}"))
            raise typer.Exit(1) from None
        except SeglabError as exc:
            say(f"error: {exc}", style="bold red", err=True)
            raise typer.Exit(1) from None

    return wrapper


def format_names() -> list[str]:
    return [spec.name for spec in registry.list_formats()]


def check_format(name: str | None, option: str) -> str | None:
    """``name`` when it is a known format (or None); else a usage error naming the known ones."""
    if name is None:
        return None
    known = format_names()
    if name not in known:
        raise usage_error(f"unknown format {name!r}; known formats: {', '.join(known)}", option)
    return name


@dataclass(frozen=True)
class Source:
    """A dataset to read: where it is (a zip already extracted), its format and how that was decided."""

    path: Path  # as the user gave it
    resolved: Path  # what the reader gets
    format: str
    confidence: float | None  # None when the format was given with --from
    alternatives: tuple[tuple[str, float], ...] = ()

    def describe_format(self) -> str:
        if self.confidence is None:
            return f"format: {self.format} (given with --from)"
        line = f"format: {self.format} (detected, confidence {self.confidence:.2f})"
        close = [f"{name} {conf:.2f}" for name, conf in self.alternatives if conf >= self.confidence - 0.15]
        if close:
            line += f"; also plausible: {', '.join(close)} (use --from to choose)"
        return line


def open_source(path: Path, fmt: str | None) -> Source:
    """Find ``path`` (folder, file or zip) and its format: ``fmt``, or the most confident detection."""
    if not path.exists():
        raise SeglabError(f"{path}: no such file or folder")
    resolved = registry.open_source(path)
    if fmt is not None:
        return Source(path, resolved, fmt, None)
    found = registry.detect(resolved)
    if not found:
        raise SeglabError(
            f"{path}: cannot tell which format this is; pass --from FORMAT "
            f"(one of: {', '.join(format_names())})"
        )
    (name, confidence), alternatives = found[0], tuple(found[1:])
    return Source(path, resolved, name, confidence, alternatives)


@dataclass(frozen=True)
class Loaded:
    """A dataset read from a :class:`Source`, and the objects left out under SKIP."""

    source: Source
    dataset: Dataset
    skipped: tuple[Problem, ...]

    @property
    def format(self) -> str:
        return self.source.format

    def describe_format(self) -> str:
        return self.source.describe_format()


def read(source: Source, policy: ErrorPolicy = ErrorPolicy.FAIL) -> Loaded:
    dataset, skipped = registry.read_dataset(source.resolved, source.format, policy=policy)
    return Loaded(source, dataset, tuple(skipped))


def load(path: Path, fmt: str | None, policy: ErrorPolicy = ErrorPolicy.FAIL) -> Loaded:
    """Find and read a dataset in one step."""
    return read(open_source(path, fmt), policy)


def report_skipped(skipped: Sequence[Problem], *, err: bool = False, hint: str = "") -> None:
    """Say how many objects were left out, per file, and list the first few: never a silent skip."""
    if not skipped:
        return
    console = stderr() if err else stdout()
    per_file = Counter(p.file for p in skipped)
    files = ", ".join(f"{Path(f).name}: {n}" for f, n in per_file.most_common())
    console.print(
        Text(f"skipped {len(skipped)} invalid object(s) ({files}){hint}", style="yellow"),
    )
    for problem in skipped[:SHOWN_PROBLEMS]:
        console.print(Text(f"  {problem}"))
    if len(skipped) > SHOWN_PROBLEMS:
        console.print(Text(f"  ... and {len(skipped) - SHOWN_PROBLEMS} more"))


def is_nonempty_dir(path: Path) -> bool:
    """True when ``path`` exists and is a file or a folder with something in it."""
    return path.exists() and (not path.is_dir() or any(path.iterdir()))
