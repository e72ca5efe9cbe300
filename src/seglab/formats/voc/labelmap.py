"""The class list: ``labelmap.txt`` (Datumaro, CVAT), labelme2voc's ``class_names.txt`` or the devkit's
21 classes when there is neither; read into an ontology, and written with background first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seglab.core.dataset import Dataset
from seglab.core.errors import FormatError
from seglab.core.geometry import Box, Polygon
from seglab.core.mask import Mask
from seglab.core.ontology import AttributeSpec, AttributeType, LabelClass, LabelKind, Ontology, default_color
from seglab.formats.base import LossReport
from seglab.formats.safe_io import XML_INVALID_CHARS, read_text
from seglab.formats.voc.constants import (
    BACKGROUND_NAMES,
    CLASS_EXTRA_KEYS,
    CLASS_NAMES_FILE,
    LABELMAP_FILE,
    SHARED_ATTRIBUTES,
    VOC_ACTIONS,
    VOC_CLASSES,
    VOC_PARTS,
)


@dataclass(frozen=True)
class LabelEntry:
    """One line of labelmap.txt: a class, its colour, its parts and its actions."""

    name: str
    color: tuple[int, int, int]
    parts: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()


def _default_labelmap() -> list[LabelEntry]:
    return [
        LabelEntry(
            name,
            default_color(i),
            VOC_PARTS if name == "person" else (),
            VOC_ACTIONS if name == "person" else (),
        )
        for i, name in enumerate(VOC_CLASSES)
    ]


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def _parse_labelmap(path: Path) -> list[LabelEntry]:
    """``name:r,g,b:parts:actions`` lines (Datumaro, CVAT); the name is everything before the last 3 ':'."""
    entries: list[LabelEntry] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(read_text(path).splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.rsplit(":", 3)
        if len(fields) != 4:
            raise FormatError(
                f"expected 4 ':'-separated fields (name:color:parts:actions), got {len(fields)}",
                file=str(path),
                where=f"line {lineno}",
            )
        name, color_text, parts, actions = fields
        if name in seen:
            raise FormatError(f"class {name!r} is listed twice", file=str(path), where=f"line {lineno}")
        seen.add(name)
        color = default_color(len(entries))
        if color_text.strip():
            try:
                rgb = tuple(int(c) for c in color_text.split(","))
            except ValueError:
                rgb = ()
            if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
                raise FormatError(
                    f"class {name!r} has colour {color_text!r}, expected r,g,b in 0..255",
                    file=str(path),
                    where=f"line {lineno}",
                )
            color = (rgb[0], rgb[1], rgb[2])
        entries.append(LabelEntry(name, color, _split_list(parts), _split_list(actions)))
    return entries


def _parse_class_names(path: Path) -> list[LabelEntry]:
    """labelme2voc's one name per line, in index order; colours are the VOC colour map."""
    names = [line.strip() for line in read_text(path).splitlines() if line.strip()]
    return [LabelEntry(n, default_color(i)) for i, n in enumerate(names)]


def ontology_from_labelmap(entries: Sequence[LabelEntry]) -> Ontology:
    """The ontology of a class list: VOC's shared attributes and each class's actions; classes named only
    as parts after the listed ones."""
    classes = []
    for e in entries:
        extra: dict[str, Any] = {}
        if e.parts:
            extra["voc_parts"] = e.parts
        if e.actions:
            extra["voc_actions"] = e.actions
        actions = tuple(AttributeSpec(a, AttributeType.BOOL, default=False) for a in e.actions)
        kind = LabelKind.STUFF if e.name in BACKGROUND_NAMES else LabelKind.THING
        classes.append(LabelClass(e.name, e.color, kind, attributes=SHARED_ATTRIBUTES + actions, extra=extra))
    names = {e.name for e in entries}
    parts = [p for p in dict.fromkeys(p for e in entries for p in e.parts) if p not in names]
    for j, part in enumerate(parts):
        classes.append(LabelClass(part, default_color(len(entries) + j), extra={"voc_part": True}))
    return Ontology(tuple(classes))


def labelmap_text(entries: Sequence[LabelEntry]) -> str:
    """labelmap.txt as Datumaro and CVAT write it."""
    lines = ["# label:color_rgb:parts:actions"]
    for e in entries:
        color = ",".join(str(c) for c in e.color)
        lines.append(f"{e.name}:{color}:{','.join(e.parts)}:{','.join(e.actions)}")
    return "\n".join(lines) + "\n"


def read_class_list(root: Path) -> tuple[list[LabelEntry], str]:
    """The dataset's class list and how to say a class is not in it (for rejection messages)."""
    if (root / LABELMAP_FILE).is_file():
        return _parse_labelmap(root / LABELMAP_FILE), f"in {LABELMAP_FILE}"
    if (root / CLASS_NAMES_FILE).is_file():
        return _parse_class_names(root / CLASS_NAMES_FILE), f"in {CLASS_NAMES_FILE}"
    return _default_labelmap(), f"a VOC class (there is no {LABELMAP_FILE} to declare other classes)"


def writer_labelmap(dataset: Dataset, losses: LossReport) -> list[LabelEntry]:
    """Class lines for labelmap.txt: background first, parts nested in their objects' classes."""
    ontology = dataset.ontology
    area_labels = {a.label for _, a in dataset.annotations() if isinstance(a.shape, Polygon | Mask)}
    part_use: dict[str, list[str]] = {}
    for image in dataset.images:
        groups = {
            a.group_id: a.label
            for a in image.annotations
            if isinstance(a.shape, Box) and not a.extra.get("voc_part") and a.group_id is not None
        }
        for a in image.annotations:
            if a.extra.get("voc_part") and a.group_id in groups:
                part_use.setdefault(groups[a.group_id], []).append(a.label)
    classes = list(ontology.classes)
    used = {a.label for _, a in dataset.annotations()}
    for label in sorted(used - set(ontology.names)):
        losses.add("classes missing from the ontology (added to labelmap.txt)", label)
        classes.append(LabelClass(label, default_color(len(classes))))
    parts_of = {
        c.name: tuple(dict.fromkeys((*c.extra.get("voc_parts", ()), *part_use.get(c.name, ()))))
        for c in classes
    }
    declared = {p for ps in parts_of.values() for p in ps}
    lines = [
        c
        for c in classes
        if not (c.extra.get("voc_part") and c.name in declared and c.name not in area_labels)
    ]
    if not lines or lines[0].name not in BACKGROUND_NAMES:
        existing = next((c for c in lines if c.name in BACKGROUND_NAMES), None)
        if existing is not None:
            losses.add("class order: background moved to index 0 (VOC's background index)", existing.name)
            lines.remove(existing)
        else:
            losses.add("class 'background' added at index 0 (VOC's background index)", "background")
            existing = LabelClass("background", (0, 0, 0), LabelKind.STUFF)
        lines.insert(0, existing)
    entries = []
    for c in lines:
        problem = _labelmap_name_problem(c.name)
        if problem:
            raise FormatError(f"class {c.name!r} cannot be written to {LABELMAP_FILE}: {problem}")
        for p in (*parts_of.get(c.name, ()), *c.extra.get("voc_actions", ())):
            if problem := _labelmap_name_problem(p) or ("has ',' or ':'" if ("," in p or ":" in p) else ""):
                raise FormatError(f"part or action {p!r} cannot be written to {LABELMAP_FILE}: {problem}")
        entries.append(
            LabelEntry(c.name, c.color, parts_of.get(c.name, ()), tuple(c.extra.get("voc_actions", ())))
        )
    line_names = [e.name for e in entries]
    part_only = [p for p in dict.fromkeys(p for e in entries for p in e.parts) if p not in line_names]
    by_name = {c.name: c for c in classes}
    expected = [lines[0].name, *(c.name for c in classes if c.name != lines[0].name)]
    if [*line_names, *part_only] != expected:
        losses.add("class order (classes used only as parts are listed after the others)")
    for j, name in enumerate(part_only):
        cls = by_name.get(name)
        if cls is not None and cls.color != default_color(len(entries) + j):
            losses.add("colours of classes used only as parts (labelmap.txt has no line for them)", name)
    for c in classes:
        if c.extra.get("voc_part") and c.name in line_names:
            losses.add("part flag of classes that need a labelmap line of their own", c.name)
    _check_ontology_losses(ontology, classes, losses)
    return entries


def _labelmap_name_problem(name: str) -> str:
    if not name:
        return "it is empty"
    if name != name.strip():
        return "it starts or ends with white space"
    if "\n" in name or "\r" in name or XML_INVALID_CHARS.search(name):
        return "it holds a line break or control character"
    if name.startswith("#"):
        return "it starts with '#' (a comment line)"
    return ""


def _check_ontology_losses(ontology: Ontology, classes: Sequence[LabelClass], losses: LossReport) -> None:
    shared = {a.name for a in SHARED_ATTRIBUTES}
    for c in classes:
        actions = set(c.extra.get("voc_actions", ()))
        background = c.name in BACKGROUND_NAMES
        if (c.kind is LabelKind.STUFF) != background:
            losses.add("class kind thing/stuff (VOC reads background as stuff, the rest as things)", c.name)
        if c.shapes:
            losses.add("allowed shape types of classes", c.name)
        if c.skeleton is not None:
            losses.add("keypoint skeletons", c.name)
        if c.id is not None:
            losses.add("source class ids (VOC numbers classes by position)", c.name)
        if c.parent is not None:
            losses.add("class parents (supercategories)", c.name)
        if any(a.name not in shared | actions for a in c.attributes):
            losses.add("attribute definitions other than VOC actions (labelmap.txt has no types)", c.name)
        if any(k not in CLASS_EXTRA_KEYS for k in c.extra):
            losses.add("class extra fields", c.name)
    if ontology.image_attributes:
        losses.add("image attribute definitions")
    if ontology.full_coverage:
        losses.add("full_coverage rule of the ontology")
