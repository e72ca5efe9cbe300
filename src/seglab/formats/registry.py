"""The explicit list of formats, detection with a confidence, and atomic read/write entry points."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path

from seglab.core.dataset import Dataset
from seglab.core.errors import FormatError
from seglab.formats.base import ErrorPolicy, FormatSpec, LossReport, Problem, ReadOptions, WriteOptions
from seglab.formats.safe_io import extract_archive, fsync_tree


def _specs() -> dict[str, FormatSpec]:
    # Imported here, not at module level, so each format module can import the shared helpers above.
    from seglab.formats import (
        cityscapes,
        coco,
        coco_panoptic,
        cvat,
        labelme,
        mask_png,
        voc,
        yolo,
    )

    specs = [
        coco.SPEC,
        coco_panoptic.SPEC,
        yolo.SPEC,
        voc.SPEC,
        labelme.SPEC,
        cvat.SPEC,
        cityscapes.SPEC,
        mask_png.SPEC,
    ]
    return {s.name: s for s in specs}


_REGISTRY: dict[str, FormatSpec] | None = None


def _registry() -> dict[str, FormatSpec]:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _specs()
    return _REGISTRY


def list_formats() -> list[FormatSpec]:
    return list(_registry().values())


def get_format(name: str) -> FormatSpec:
    try:
        return _registry()[name]
    except KeyError:
        known = ", ".join(_registry())
        raise FormatError(f"unknown format {name!r}; known formats: {known}") from None


def detect(path: Path) -> list[tuple[str, float]]:
    """Every format with a positive confidence for ``path``, most likely first."""
    path = Path(path)
    scores = []
    for spec in _registry().values():
        try:
            confidence = spec.detect(path)
        except FormatError:
            confidence = 0.0
        if confidence > 0:
            scores.append((spec.name, confidence))
    return sorted(scores, key=lambda s: -s[1])


_EXTRACTED: list[Path] = []


def _cleanup_extracted() -> None:
    for folder in _EXTRACTED:
        shutil.rmtree(folder, ignore_errors=True)


atexit.register(_cleanup_extracted)


def _unpacked(path: Path) -> Path:
    """A zip archive is checked and extracted to a temporary folder that lives until the process exits."""
    if path.is_file() and zipfile.is_zipfile(path):
        holder = Path(tempfile.mkdtemp(prefix="seglab-src-"))
        _EXTRACTED.append(holder)
        with extract_archive(path) as extracted:
            target = holder / "data"
            shutil.copytree(extracted, target)
        return target
    return path


def open_source(path: Path | str) -> Path:
    """The path a reader takes for ``path``: a zip archive is checked and extracted, anything else is kept.

    Lets a caller detect the format of an archive (and show the confidence) before reading it; passing the
    result to :func:`read_dataset` does not extract it again.
    """
    return _unpacked(Path(path))


def read_dataset(
    path: Path | str, format: str | None = None, *, policy: ErrorPolicy = ErrorPolicy.FAIL
) -> tuple[Dataset, list[Problem]]:
    """Read a dataset (folder, file or zip archive); returns it with the objects skipped under SKIP.

    With no ``format`` the most confident detection wins. Under FAIL any bad object raises
    :class:`~seglab.formats.base.InvalidDataError` listing all of them.
    """
    src = Path(path)
    if not src.exists():
        raise FormatError("no such file or folder", file=str(src))
    src = _unpacked(src)
    if format is None:
        found = detect(src)
        if not found:
            raise FormatError("cannot tell which format this is; pass --from", file=str(path))
        format = found[0][0]
    spec = get_format(format)
    options = ReadOptions(policy=policy)
    dataset = spec.read(src, options)
    skipped = options.finish()
    return dataset, skipped


def write_dataset(
    dataset: Dataset,
    dst: Path | str,
    format: str,
    *,
    options: WriteOptions | None = None,
    overwrite: bool = False,
) -> LossReport:
    """Write ``dataset`` into the folder ``dst`` atomically: all of it appears, or nothing does.

    An existing non-empty ``dst`` is refused unless ``overwrite`` is set, in which case it is replaced
    only once the new output is complete. ``options.subset`` (a filter) and ``options.default_subset``
    are applied here, the same for every format, and cleared before the format's writer runs.
    """
    spec = get_format(format)
    options = options or WriteOptions()
    dataset = select_subset(dataset, options)
    target = Path(dst)
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not overwrite:
        raise FormatError(
            "output exists and is not empty; choose another folder or pass --overwrite", file=str(target)
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        report = spec.write(dataset, staging, replace(options, subset=None, default_subset=None))
        fsync_tree(staging)
        if target.exists():
            backup = target.with_name(f".{target.name}.old-{staging.name[-8:]}")
            target.rename(backup)
            staging.rename(target)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            staging.rename(target)
        _fsync_dir(target.parent)  # the rename itself, durable
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def select_subset(dataset: Dataset, options: WriteOptions) -> Dataset:
    """The images ``options.subset`` keeps, those without a subset named ``options.default_subset``.

    :func:`write_dataset` applies it; callers use it to see beforehand what will be written (applying it
    twice changes nothing).
    """
    images = dataset.images
    if options.subset is not None:
        images = tuple(i for i in images if i.subset == options.subset)
        if not images:
            present = ", ".join(sorted(s if s is not None else "(none)" for s in dataset.subsets()))
            raise FormatError(f"no image is in subset {options.subset!r} (subsets present: {present})")
    if options.default_subset is not None:
        if not options.default_subset.strip():
            raise FormatError("the default subset name is empty")
        images = tuple(i if i.subset is not None else i.with_(subset=options.default_subset) for i in images)
    return dataset if images is dataset.images else dataset.with_images(images)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; its renames are journaled by NTFS
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
