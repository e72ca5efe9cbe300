"""Where a VOC dataset's files are: its root folder (also below VOCdevkit/), the files of each folder by
stem, and the ImageSets lists (subsets, class presence files) read and written."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from seglab.core.errors import FormatError
from seglab.formats.safe_io import read_text, safe_relative
from seglab.formats.voc.constants import ANNOTATIONS_DIR, CLASS_DIRS, IMAGES_DIR, OBJECT_DIRS, SETS_DIR, TASKS


def first_existing(root: Path, names: Iterable[str]) -> Path:
    """The first of ``names`` that is a folder below ``root`` (else the first name, absent)."""
    for name in names:
        if (root / name).is_dir():
            return root / name
    return root / next(iter(names))


def files_by_stem(folder: Path, suffix: str) -> dict[str, Path]:
    """The ``suffix`` files below ``folder`` keyed by their relative path without the suffix, sorted."""
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix()[: -len(suffix)]: p
        for p in sorted(folder.rglob("*" + suffix))
        if p.is_file()
    }


def _looks_like_voc(folder: Path) -> bool:
    return (folder / ANNOTATIONS_DIR).is_dir() or (
        any((folder / d).is_dir() for d in (*CLASS_DIRS, *OBJECT_DIRS))
        and ((folder / SETS_DIR).is_dir() or (folder / IMAGES_DIR).is_dir())
    )


def _subfolders(path: Path) -> list[Path]:
    """Folders directly inside ``path``, sorted; files are skipped without being stat'ed one by one."""
    try:
        with os.scandir(path) as it:
            return sorted(Path(e.path) for e in it if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def dataset_root(path: Path) -> Path:
    """The VOC folder itself, or the single VOC folder below it (VOCdevkit/VOC2012)."""
    if not path.is_dir():
        raise FormatError("a Pascal VOC dataset is a folder", file=str(path))
    if _looks_like_voc(path):
        return path
    children = _subfolders(path)
    candidates = [
        p for p in [*children, *(g for c in children for g in _subfolders(c))] if _looks_like_voc(p)
    ]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise FormatError(
            "no Annotations/ or SegmentationClass/ folder: not a Pascal VOC dataset", file=str(path)
        )
    names = ", ".join(str(c.relative_to(path)) for c in candidates)
    raise FormatError(f"several Pascal VOC datasets inside ({names}); pass one of them", file=str(path))


def _list_stem(line: str) -> str:
    """A subset list line: the stem, optionally quoted, optionally followed by an object index."""
    if line.startswith('"'):
        end = line.find('"', 1)
        return line[1:end] if end > 0 else line[1:]
    return line.split()[0]


def read_image_sets(root: Path) -> tuple[dict[str, list[str]], dict[str, dict[str, int]]]:
    """Subset lists (subset -> stems in file order) and class presence files (tag -> stem -> 1/0/-1)."""
    sets_dir = root / SETS_DIR
    files: dict[str, dict[str, Path]] = {}
    for task in TASKS:
        folder = sets_dir / task
        if folder.is_dir():
            files[task] = {p.stem: p for p in sorted(folder.glob("*.txt")) if p.is_file()}
    all_stems = {s for task_files in files.values() for s in task_files}
    # "aeroplane_train" is a presence file of subset "train" when "train" is a list of its own
    subsets_of = {s: t for s in all_stems for t in all_stems if t != s and s.endswith("_" + t)}
    subsets: dict[str, list[str]] = {}
    presence: dict[str, dict[str, int]] = {}
    for task, task_files in files.items():
        for stem, path in task_files.items():
            if stem in subsets_of:
                rows = _read_presence(path)  # None: not '<image> 1/-1/0' lines, so a subset after all
                if rows is not None:
                    if task == "Main":
                        presence.setdefault(stem[: -len(subsets_of[stem]) - 1], {}).update(rows)
                    continue
            listed = subsets.setdefault(stem, [])
            seen = set(listed)
            for line in read_text(path).splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                name = line if task in ("Main", "Segmentation") else _list_stem(line)
                name = safe_relative(name, file=str(path), where=f"entry {name!r}")
                if name not in seen:
                    seen.add(name)
                    listed.append(name)
    return subsets, presence


def _read_presence(path: Path) -> dict[str, int] | None:
    """A class presence file (``<image> 1``, ``-1`` or ``0`` per line), or None when it is not one."""
    out: dict[str, int] = {}
    for raw in read_text(path).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.rsplit(maxsplit=1)
        if len(fields) != 2 or fields[1] not in ("1", "0", "-1"):
            return None
        out[fields[0]] = int(fields[1])
    return out


def file_safe(name: str) -> bool:
    """Whether ``name`` can be a file name of its own (a subset or tag list in ImageSets)."""
    return (
        bool(name)
        and "/" not in name
        and "\\" not in name
        and not name.startswith(".")
        and "\x00" not in name
    )


def write_image_sets(
    dst: Path,
    lists: Mapping[str, Mapping[str, list[str]]],
    presence: Mapping[tuple[str, int], set[str]],
    tag_names: Sequence[str],
) -> None:
    """ImageSets/<task>/<subset>.txt, and Main/<tag>_<subset>.txt with 1 / -1 (and 0: difficult only)."""
    subsets = list(lists["Main"])
    for task, by_subset in lists.items():
        if task == "Segmentation" and by_subset:
            by_subset = {s: by_subset.get(s, []) for s in subsets}  # every subset, as the devkit has
        for subset, listed in by_subset.items():
            _write_list(dst / SETS_DIR / task / f"{subset}.txt", [_quoted(s, task) for s in listed])
    for tag in tag_names:
        yes, zero = presence.get((tag, 1), set()), presence.get((tag, 0), set())
        for subset in subsets:
            rows = [f"{s} {1 if s in yes else 0 if s in zero else -1:>2}" for s in lists["Main"][subset]]
            _write_list(dst / SETS_DIR / "Main" / f"{tag}_{subset}.txt", rows)


def _quoted(stem: str, task: str) -> str:
    return f'"{stem}"' if task in ("Layout", "Action") and any(ch.isspace() for ch in stem) else stem


def _write_list(path: Path, lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
