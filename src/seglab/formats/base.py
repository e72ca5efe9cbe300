"""What every format shares: its spec, the loss report, the error policy and the per-object problem log.

A reader parses everything first and collects every problem (file, place, reason) before it decides: under
``ErrorPolicy.FAIL`` (the default) one bad object fails the whole read with the full list, so a failed
import changes nothing; under ``ErrorPolicy.SKIP`` (``--skip-invalid``) bad objects are left out and listed.
A writer returns a :class:`LossReport` of everything the target format cannot hold: never a silent drop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from seglab.core.dataset import Dataset
from seglab.core.errors import FormatError
from seglab.core.ontology import ShapeType


class ErrorPolicy(StrEnum):
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Problem:
    """One object a reader could not accept."""

    file: str
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.reason}"


class InvalidDataError(FormatError):
    """A read failed because of bad objects; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        head = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(
            f"{len(problems)} invalid object(s); nothing was imported "
            f"(use --skip-invalid to leave them out):\n{head}{more}"
        )


@dataclass
class ReadOptions:
    """How a reader treats bad objects, and the collected problems.

    Readers call :meth:`reject` for each bad object (and leave it out), then the registry calls
    :meth:`finish`, which raises under ``FAIL``.
    """

    policy: ErrorPolicy = ErrorPolicy.FAIL
    problems: list[Problem] = field(default_factory=list)

    def reject(self, file: str | Path, where: str, reason: str) -> None:
        self.problems.append(Problem(str(file), where, reason))

    def finish(self) -> list[Problem]:
        """Raise :class:`InvalidDataError` under FAIL if anything was rejected; else return the skipped."""
        if self.problems and self.policy is ErrorPolicy.FAIL:
            raise InvalidDataError(self.problems)
        return list(self.problems)


@dataclass
class WriteOptions:
    """How a dataset is written; each field means the same for every format.

    ``copy_images``: put the image files into the output layout (read from each record's media).

    ``subset`` and ``default_subset`` are applied once, by
    :func:`~seglab.formats.registry.write_dataset`, before the format's writer runs (writers never see
    them): ``subset`` keeps only the images of that subset (a filter); ``default_subset`` names the subset
    of images that have none, in place of the format's own default (``default`` for COCO, COCO panoptic,
    VOC and Cityscapes; ``train`` for YOLO when other images have a subset); a format without subsets
    reports it as lost like any subset.

    ``yolo_task``: the YOLO layout to write (``detect``, ``segment``, ``obb`` or ``pose``); None chooses
    from the content. Other formats ignore it.
    """

    copy_images: bool = True
    subset: str | None = None
    default_subset: str | None = None
    yolo_task: str | None = None


@dataclass
class LossReport:
    """What a writer could not carry into its format, counted by kind, with a first example of each."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, what: str, example: str = "", count: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + count
        if example and what not in self.examples:
            self.examples[what] = example

    def merge(self, other: LossReport) -> LossReport:
        for what, n in other.counts.items():
            self.add(what, other.examples.get(what, ""), n)
        return self

    def __bool__(self) -> bool:
        return bool(self.counts)

    def lines(self) -> list[str]:
        out = []
        for what, n in self.counts.items():
            ex = self.examples.get(what)
            out.append(f"{n} x {what}" + (f" (first: {ex})" if ex else ""))
        return out


Detect = Callable[[Path], float]
Read = Callable[[Path, ReadOptions], Dataset]
Write = Callable[[Dataset, Path, WriteOptions], LossReport]


@dataclass(frozen=True)
class FormatSpec:
    """A format: its CLI name, how to recognise it, and its symmetric reader and writer.

    ``detect(path)`` returns a confidence in [0, 1] (0: certainly not). ``write`` writes into an empty
    directory that the registry later moves into place, so a failed write leaves nothing behind.
    ``carries`` lists the shape types the format holds losslessly.
    """

    name: str
    description: str
    detect: Detect
    read: Read
    write: Write
    carries: frozenset[ShapeType]
    extensions: tuple[str, ...] = ()
