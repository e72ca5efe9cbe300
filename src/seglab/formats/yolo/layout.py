"""Finding a YOLO dataset's classes, images and label files in its three layouts.

- Ultralytics: a dataset YAML (``data.yaml`` or ``<name>.yaml``) whose ``train`` / ``val`` / ``test`` are
  folders, ``.txt`` image lists or lists of either, with ``names`` (a list or ``{id: name}``), optional
  ``nc``, ``kpt_shape: [K, 2|3]``, ``flip_idx`` and ``kpt_names``. An image's label file follows
  Ultralytics' rule: the last ``images`` folder of its path becomes ``labels``, the extension ``.txt``.
  The YAML's ``path`` is where the dataset lived on the machine that wrote it, so it is ignored: the
  root is the YAML's folder. Split paths must stay inside it (one leading ``../`` is dropped first, as
  Ultralytics does for Roboflow exports); anything else is refused.
- Darknet (CVAT, Datumaro "strict"): ``obj.data`` (``names = obj.names``, ``<subset> = <subset>.txt``),
  image lists with optional ``data/`` prefixes, each image's ``.txt`` beside it in ``obj_<subset>_data/``.
- Loose (Datumaro, LabelImg, Label Studio): ``obj.names`` or ``classes.txt`` with ``images/[<subset>/]``
  and ``labels/`` (or ``Images/`` and ``Annotations/``) folders.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seglab.core.errors import FormatError, UnsafeInputError
from seglab.formats.safe_io import find_images, load_yaml, read_text, safe_relative
from seglab.formats.yolo.constants import (
    DARKNET_RESERVED,
    INFO_KEY,
    INFO_KPT_DIMS,
    NAMES_FILES,
    SPLIT_KEYS,
    TASKS,
    YAML_KEYS,
)


@dataclass
class _Entry:
    """One image of the source and where its labels are."""

    image: Path
    file_name: str
    subset: str | None
    label: Path | None


@dataclass
class _Layout:
    """What a layout reader found: classes, images with their label files, and pose settings."""

    root: Path
    names: list[str]
    entries: list[_Entry] = field(default_factory=list)
    orphans: list[tuple[Path, str]] = field(default_factory=list)  # label files without an image
    missing: list[tuple[Path, str, str]] = field(default_factory=list)  # (list file, where, reason)
    kpt_shape: tuple[int, int] | None = None
    flip_idx: tuple[int, ...] | None = None
    kpt_names: dict[int, list[str]] = field(default_factory=dict)
    task: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _label_candidates(root: Path, rel: str) -> list[Path]:
    """Label files an image may have, most specific first (Ultralytics, Darknet, Datumaro loose)."""
    parts = rel.split("/")
    out: list[Path] = []
    for i in range(len(parts) - 2, -1, -1):
        folder = parts[i]
        if folder.lower() in ("images", "jpegimages"):
            for swap in ("labels", "Labels", "annotations", "Annotations"):
                new = [*parts[:i], swap, *parts[i + 1 :]]
                out.append(root.joinpath(*new).with_suffix(".txt"))
            break
    out.append((root / rel).with_suffix(".txt"))
    return out


def _find_label(root: Path, rel: str) -> Path | None:
    return next((p for p in _label_candidates(root, rel) if p.is_file()), None)


def _strip_prefix(rel: str, subset: str | None) -> str:
    """The file name inside its split: drop a leading ``images/``, then the split's own folder."""
    parts = rel.split("/")
    if len(parts) > 1 and parts[0].lower() == "images":
        parts = parts[1:]
    if len(parts) > 1 and subset is not None and parts[0] in (subset, f"obj_{subset}_data"):
        parts = parts[1:]
    return "/".join(parts)


def _inside(root: Path, entry: str, *, file: Path, where: str, darknet: bool = False) -> str:
    """A path entry of a YAML or list file, relative to ``root``; refused when it leaves the dataset."""
    text = entry.strip().replace("\\", "/")
    if text.startswith("./"):
        text = text[2:]
    if darknet and text.startswith("data/") and not (root / text).exists():
        text = text[len("data/") :]
    if text.startswith("../"):
        stripped = text[3:]
        try:
            rel = safe_relative(stripped, file=str(file), where=where)
        except UnsafeInputError:
            rel = None
        if rel is not None and (root / rel).exists():
            return rel
    return safe_relative(text, file=str(file), where=where)


def _split_entries(
    layout: _Layout, key: str, value: str, yaml_file: Path, *, darknet: bool = False
) -> tuple[str, list[tuple[Path, str, Path | None]]]:
    """The images of one split entry (folder or list file): (image path, path relative to root, label)."""
    root = layout.root
    rel = _inside(root, value, file=yaml_file, where=key, darknet=darknet)
    target = root / rel
    found: list[tuple[Path, str, Path | None]] = []
    if target.is_dir():
        for name, path in find_images(target).items():
            img_rel = f"{rel}/{name}" if rel not in ("", ".") else name
            found.append((path, img_rel, _find_label(root, img_rel)))
        _collect_orphans(layout, rel, {r for _, r, _ in found})
        return rel, found
    if target.is_file() and target.suffix.lower() == ".txt":
        text = read_text(target)
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            where = f"line {n}"
            item = _inside(root, line, file=target, where=where, darknet=darknet)
            path = root / item
            if not path.is_file() and (target.parent / item).is_file():
                path, item = target.parent / item, (target.parent / item).relative_to(root).as_posix()
            if not path.is_file():
                layout.missing.append((target, where, f"image {line.strip()!r} not found"))
                continue
            found.append((path, item, _find_label(root, item)))
        return rel, found
    raise FormatError(
        f"split {key!r}: {value!r} is neither a folder nor a .txt image list", file=str(yaml_file)
    )


def _collect_orphans(layout: _Layout, image_dir: str, image_rels: set[str]) -> None:
    """Label files under the labels folder of ``image_dir`` that no image claims."""
    parts = image_dir.split("/")
    if "images" not in parts:
        return
    i = len(parts) - 1 - parts[::-1].index("images")
    label_dir = layout.root.joinpath(*parts[:i], "labels", *parts[i + 1 :])
    if not label_dir.is_dir():
        return
    stems = {r.rsplit(".", 1)[0] for r in image_rels}
    known = {p for p, _ in layout.orphans}
    for label in sorted(label_dir.rglob("*.txt")):
        rel = label.relative_to(layout.root).as_posix().split("/")
        rel[i] = "images"
        if "/".join(rel)[: -len(".txt")] not in stems and label not in known:
            layout.orphans.append((label, f"no image for this label file in {image_dir}/"))


def _class_names(raw: Any, nc: Any, file: Path) -> list[str]:
    """``names`` as a list or ``{id: name}`` with ids 0..n-1 (Ultralytics' rule); ``nc`` must agree."""
    if nc is not None and (isinstance(nc, bool) or not isinstance(nc, int) or nc < 0):
        raise FormatError(f"nc is {nc!r}, not a class count", file=str(file), where="nc")
    if raw is None:
        if nc is None:
            raise FormatError("no 'names' (and no 'nc') in the dataset YAML", file=str(file))
        return [f"class_{i}" for i in range(nc)]
    if isinstance(raw, list):
        items = list(enumerate(raw))
    elif isinstance(raw, dict):
        items = []
        for k, v in raw.items():
            try:
                items.append((int(k), v))
            except (TypeError, ValueError):
                raise FormatError(
                    f"class id {k!r} is not an integer", file=str(file), where="names"
                ) from None
        items.sort()
        ids = [i for i, _ in items]
        if ids != list(range(len(ids))):
            raise FormatError(
                f"class ids must be 0..{len(ids) - 1} without gaps, got {ids}", file=str(file), where="names"
            )
    else:
        raise FormatError("'names' must be a list or a mapping {id: name}", file=str(file), where="names")
    names: list[str] = []
    for i, v in items:
        if v is None or isinstance(v, list | dict):
            raise FormatError(f"class {i} has no usable name ({v!r})", file=str(file), where="names")
        names.append(str(v))
    if nc is not None and nc != len(names):
        raise FormatError(f"nc is {nc} but {len(names)} names are given", file=str(file), where="nc")
    dup = [n for n, c in Counter(names).items() if c > 1]
    if dup:
        raise FormatError(f"class name {dup[0]!r} appears twice", file=str(file), where="names")
    return names


def _pose_settings(doc: dict[str, Any], layout: _Layout, file: Path) -> None:
    shape = doc.get("kpt_shape")
    if shape is not None:
        if (
            not isinstance(shape, list)
            or len(shape) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape)
            or shape[0] < 1
            or shape[1] not in (2, 3)
        ):
            raise FormatError(f"kpt_shape must be [K, 2] or [K, 3], got {shape!r}", file=str(file))
        layout.kpt_shape = (shape[0], shape[1])
    flip = doc.get("flip_idx")
    if flip is not None and layout.kpt_shape is not None:
        k = layout.kpt_shape[0]
        if not isinstance(flip, list) or sorted(flip) != list(range(k)):
            raise FormatError(
                f"flip_idx must be a permutation of 0..{k - 1}", file=str(file), where="flip_idx"
            )
        layout.flip_idx = tuple(int(v) for v in flip)
    names = doc.get("kpt_names")
    if names is not None and layout.kpt_shape is not None:
        items = (
            names.items()
            if isinstance(names, dict)
            else enumerate(names)
            if isinstance(names, list)
            else None
        )
        if items is None:
            raise FormatError("kpt_names must be {class id: [names]}", file=str(file), where="kpt_names")
        for cls, point_names in items:
            if not isinstance(point_names, list) or len(point_names) != layout.kpt_shape[0]:
                raise FormatError(
                    f"kpt_names of class {cls} must list {layout.kpt_shape[0]} names",
                    file=str(file),
                    where="kpt_names",
                )
            layout.kpt_names[int(cls)] = [str(p) for p in point_names]


def _ultralytics_layout(yaml_file: Path) -> _Layout:
    doc = load_yaml(yaml_file)
    if not isinstance(doc, dict):
        raise FormatError("the dataset YAML is not a mapping", file=str(yaml_file))
    layout = _Layout(root=yaml_file.parent, names=_class_names(doc.get("names"), doc.get("nc"), yaml_file))
    _pose_settings(doc, layout, yaml_file)
    task = doc.get("task")
    if task is not None:
        if task not in TASKS:
            raise FormatError(f"task {task!r} is not one of {list(TASKS)}", file=str(yaml_file), where="task")
        layout.task = str(task)
    if layout.kpt_shape is not None:
        layout.task = "pose"
    elif layout.task == "pose":
        raise FormatError("task pose needs kpt_shape", file=str(yaml_file), where="task")

    splits: dict[str, list[str]] = {}
    extra: dict[str, Any] = {}
    for key, value in doc.items():
        if key in SPLIT_KEYS:
            values = value if isinstance(value, list) else [value]
            values = [v for v in values if v not in (None, "")]
            if not all(isinstance(v, str) for v in values):
                raise FormatError(f"split {key!r} must be a path or a list of paths", file=str(yaml_file))
            if values:
                splits[key] = values
        elif key not in YAML_KEYS:
            if _is_extra_split(layout.root, value, yaml_file, key):
                splits[str(key)] = [value]
            else:
                extra[str(key)] = value
    if not splits:
        raise FormatError("no train/val/test split in the dataset YAML", file=str(yaml_file))
    if extra:
        layout.info[INFO_KEY] = extra
    if layout.kpt_shape is not None and layout.kpt_shape[1] == 2:
        layout.info[INFO_KPT_DIMS] = 2

    per_split: dict[str, tuple[tuple[str, ...], list[tuple[Path, str, Path | None]]]] = {}
    for key, values in splits.items():
        rels: list[str] = []
        images: list[tuple[Path, str, Path | None]] = []
        for value in values:
            rel, found = _split_entries(layout, key, value, yaml_file)
            rels.append(rel)
            images.extend(found)
        per_split[key] = (tuple(rels), images)
    _assign_subsets(layout, per_split)
    return layout


def _is_extra_split(root: Path, value: Any, file: Path, key: Any) -> bool:
    """A non-standard YAML key names a split when its value is a folder inside the dataset."""
    if not isinstance(value, str) or not value or key == "download":
        return False
    try:
        rel = _inside(root, value, file=file, where=str(key))
    except UnsafeInputError:
        return False
    return (root / rel).is_dir()


def _assign_subsets(layout: _Layout, per_split: dict[str, tuple[tuple[str, ...], list]]) -> None:
    """Each image once. Splits that share an entry (``val: images/train``) give it the split named like
    its folder, else, when every split shares it (an unsplit dataset), no subset; else the first split."""
    by_entry: dict[tuple[str, ...], list[str]] = {}
    for key, (rels, _) in per_split.items():
        by_entry.setdefault(rels, []).append(key)
    seen: set[Path] = set()
    done: set[tuple[str, ...]] = set()
    for key, (rels, images) in per_split.items():
        if rels in done:
            continue
        done.add(rels)
        keys = by_entry[rels]
        folder = rels[0].rsplit("/", 1)[-1] if len(rels) == 1 else None
        if len(keys) == 1:
            subset: str | None = key
        elif folder in keys:
            subset = folder
        elif len(keys) == len(per_split):
            subset = None
        else:
            subset = key
        for path, rel, label in images:
            if path in seen:
                continue
            seen.add(path)
            base = rels[0] if len(rels) == 1 and rel.startswith(rels[0] + "/") else None
            name = rel[len(base) + 1 :] if base else _strip_prefix(rel, subset or key)
            layout.entries.append(_Entry(path, name, subset, label))


def _darknet_layout(data_file: Path) -> _Layout:
    root = data_file.parent
    config: dict[str, str] = {}
    for n, line in enumerate(read_text(data_file).splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if "=" not in text:
            raise FormatError("expected 'key = value'", file=str(data_file), where=f"line {n}")
        key, value = (s.strip() for s in text.split("=", 1))
        config[key] = value
    names_entry = config.get("names")
    if not names_entry:
        raise FormatError("no 'names =' entry", file=str(data_file))
    names_file = root / _inside(root, names_entry, file=data_file, where="names", darknet=True)
    names = _names_file(names_file)
    classes = config.get("classes")
    if classes is not None and (not classes.isdigit() or int(classes) != len(names)):
        raise FormatError(
            f"classes = {classes} but {names_file.name} has {len(names)} names", file=str(data_file)
        )
    layout = _Layout(root=root, names=names)
    kept = {k: v for k, v in config.items() if k in DARKNET_RESERVED - {"classes", "names"}}
    if kept:
        layout.info["darknet"] = kept
    for key, value in config.items():
        if key in DARKNET_RESERVED:
            continue
        _, found = _split_entries(layout, key, value, data_file, darknet=True)
        for path, rel, label in found:
            layout.entries.append(_Entry(path, _strip_prefix(rel, key), key, label))
    return layout


def _names_file(path: Path) -> list[str]:
    if not path.is_file():
        raise FormatError("class names file not found", file=str(path))
    names = [line.strip() for line in read_text(path).splitlines() if line.strip()]
    dup = [n for n, c in Counter(names).items() if c > 1]
    if dup:
        raise FormatError(f"class name {dup[0]!r} appears twice", file=str(path))
    return names


def _loose_layout(names_file: Path) -> _Layout:
    root = names_file.parent
    layout = _Layout(root=root, names=_names_file(names_file))
    images = find_images(root)
    claimed: set[Path] = set()
    for rel, path in images.items():
        parts = rel.split("/")
        lowered = [p.lower() for p in parts]
        subset = None
        if "images" in lowered[:-1]:
            i = len(parts) - 1 - lowered[::-1].index("images")
            if len(parts) - i >= 3:  # images/<subset>/<name>
                subset = parts[i + 1]
            name = "/".join(parts[i + 2 :] if subset else parts[i + 1 :])
        else:
            name = rel
        label = _find_label(root, rel)
        if label is not None:
            claimed.add(label)
        layout.entries.append(_Entry(path, name, subset, label))
    for folder in ("labels", "Labels", "annotations", "Annotations"):
        if (root / folder).is_dir():
            for label in sorted((root / folder).rglob("*.txt")):
                if label not in claimed:
                    layout.orphans.append((label, "no image for this label file"))
    return layout


def _find_layout(path: Path) -> _Layout:
    if path.is_file():
        if path.suffix.lower() in (".yaml", ".yml"):
            return _ultralytics_layout(path)
        if path.name.endswith(".data"):
            return _darknet_layout(path)
        if path.name in NAMES_FILES:
            return _loose_layout(path)
        raise FormatError("not a YOLO dataset file (expected a .yaml, obj.data or obj.names)", file=str(path))
    if not path.is_dir():
        raise FormatError("no such file or folder", file=str(path))
    if (path / "data.yaml").is_file():
        return _ultralytics_layout(path / "data.yaml")
    candidates = [p for p in sorted(path.glob("*.y*ml")) if p.suffix.lower() in (".yaml", ".yml")]
    with_names = [p for p in candidates if _yaml_has_names(p)]
    if len(with_names) > 1:
        raise FormatError(
            f"several dataset YAML files ({', '.join(p.name for p in with_names)}); pass one of them",
            file=str(path),
        )
    if with_names:
        return _ultralytics_layout(with_names[0])
    if (path / "obj.data").is_file():
        return _darknet_layout(path / "obj.data")
    for name in NAMES_FILES:
        if (path / name).is_file():
            return _loose_layout(path / name)
    raise FormatError("no data.yaml, <name>.yaml, obj.data or obj.names found", file=str(path))


def _yaml_has_names(path: Path) -> bool:
    """Whether a YAML file is a dataset description. An unsafe YAML counts, so reading it refuses it."""
    try:
        doc = load_yaml(path)
    except UnsafeInputError:
        return True
    except FormatError:
        return False
    return isinstance(doc, dict) and ("names" in doc or "nc" in doc) and any(k in doc for k in SPLIT_KEYS)
