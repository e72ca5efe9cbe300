"""The ``<meta>``: labels with their colours, types, attribute specs and skeletons (sublabels and the
``<svg>`` drawing) read into an ontology, and written back from one."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from seglab.core.ontology import (
    AttributeSpec,
    AttributeType,
    LabelClass,
    LabelKind,
    ShapeType,
    Skeleton,
    default_color,
)
from seglab.formats.base import LossReport, ReadOptions
from seglab.formats.cvat.attributes import raw_attribute, raw_from_spec, spec_from_raw
from seglab.formats.cvat.constants import LABEL_TYPE_SHAPES, SHAPE_LABEL_TYPE
from seglab.formats.cvat.text import parse_color
from seglab.formats.cvat.xml_nodes import Node, element_json, leaf, node_from_json
from seglab.formats.label_maps import hex_color

_SVG_TAG_RE = re.compile(r"<\s*(line|circle)\b([^>]*)>", re.I)
_SVG_ATTR_RE = re.compile(r'([\w:.-]+)\s*=\s*"([^"]*)"')


def _parse_svg(svg: str, names: Sequence[str]) -> tuple[list[str], list[tuple[int, int]]]:
    """Point names (when ``names`` is empty) and 0-based edges of a CVAT skeleton ``<svg>`` fragment.

    Edges are ``<line data-node-from data-node-to>`` between ``<circle data-node-id>`` nodes; a circle names
    its point with ``data-label-name`` (exports), else node k is the k-th sublabel.
    """
    nodes: dict[int, str | None] = {}
    raw_edges: list[tuple[int, int]] = []
    for match in _SVG_TAG_RE.finditer(svg):
        attrs = {k: html.unescape(v) for k, v in _SVG_ATTR_RE.findall(match.group(2))}
        if match.group(1).lower() == "circle" and "data-node-id" in attrs:
            nodes[int(attrs["data-node-id"])] = attrs.get("data-label-name")
        elif match.group(1).lower() == "line" and "data-node-from" in attrs and "data-node-to" in attrs:
            raw_edges.append((int(attrs["data-node-from"]), int(attrs["data-node-to"])))
    points = list(names) or [n for _, n in sorted(nodes.items()) if n]
    index = {n: i for i, n in enumerate(points)}

    def position(node: int) -> int:
        name = nodes.get(node)
        if name is not None and name in index:
            return index[name]
        if name is None and 1 <= node <= len(points):
            return node - 1
        raise ValueError(f"skeleton edge refers to node {node}, which is no point of the skeleton")

    return points, [(position(a), position(b)) for a, b in raw_edges]


def _skeleton_svg(skeleton: Skeleton) -> str:
    """A CVAT skeleton drawing: points on a circle, a line per edge (layout only; CVAT lets users move it)."""
    n = max(len(skeleton.points), 1)
    pos = [
        (
            50 + 40 * math.cos(2 * math.pi * i / n - math.pi / 2),
            50 + 40 * math.sin(2 * math.pi * i / n - math.pi / 2),
        )
        for i in range(len(skeleton.points))
    ]
    lines = [
        f'<line x1="{pos[a][0]:.2f}" y1="{pos[a][1]:.2f}" x2="{pos[b][0]:.2f}" y2="{pos[b][1]:.2f}" '
        f'stroke="black" data-type="edge" data-node-from="{a + 1}" stroke-width="0.5" '
        f'data-node-to="{b + 1}"></line>'
        for a, b in skeleton.edges
    ]
    circles = [
        f'<circle r="1.5" stroke="black" fill="#b3b3b3" cx="{x:.2f}" cy="{y:.2f}" stroke-width="0.1" '
        f'data-type="element node" data-element-id="{i + 1}" data-node-id="{i + 1}" '
        f'data-label-name="{html.escape(name, quote=True)}"></circle>'
        for i, ((x, y), name) in enumerate(zip(pos, skeleton.points, strict=True))
    ]
    return "".join(lines + circles)


@dataclass
class Labels:
    """What the meta declares, and the attribute specs used to type values."""

    classes: dict[str, LabelClass] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    tag_labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    specs: dict[str, dict[str, AttributeSpec]] = field(default_factory=dict)
    point_specs: dict[tuple[str, str], dict[str, AttributeSpec]] = field(default_factory=dict)
    declared: bool = False
    skeleton_types: set[str] = field(default_factory=set)
    """Labels of CVAT type ``skeleton``: they allow keypoints plus the shapes the document uses them for."""

    def widened(self, used: Mapping[str, set[ShapeType]]) -> dict[str, LabelClass]:
        """The classes, each ``skeleton``-type one allowing also the shapes ``used`` with it.

        CVAT has one type per label, so a class with a skeleton that also allows boxes or masks (a person
        with its box, mask and keypoints) is written as a ``skeleton`` label; its other shapes are only
        known from the annotations that use them.
        """
        out = dict(self.classes)
        for name in self.skeleton_types:
            cls = out.get(name)
            extra_shapes = used.get(name, set()) - {ShapeType.KEYPOINTS}
            if cls is not None and cls.shapes and extra_shapes:
                out[name] = replace(cls, shapes=cls.shapes | extra_shapes)
        return out


def _derived_type(shapes: frozenset[ShapeType], skeleton: Skeleton | None) -> str | None:
    """The CVAT label type that allowed shapes imply (None when several shapes are allowed)."""
    if not shapes:
        return "any"
    if len(shapes) > 1:
        return None
    (shape,) = shapes
    return "skeleton" if shape is ShapeType.KEYPOINTS and skeleton is not None else SHAPE_LABEL_TYPE[shape]


def _parse_label_attributes(
    label_el: Any, where: str, file: str, options: ReadOptions
) -> tuple[list[AttributeSpec], dict[str, dict[str, Any]], list[dict[str, str]]]:
    specs: list[AttributeSpec] = []
    extras: dict[str, dict[str, Any]] = {}
    raws: list[dict[str, str]] = []
    attributes = label_el.find("attributes")
    for k, attr_el in enumerate(attributes.findall("attribute") if attributes is not None else (), 1):
        try:
            raw = raw_attribute(attr_el)
            spec, extra = spec_from_raw(raw)
        except ValueError as exc:
            options.reject(file, f"{where}: attribute #{k}", str(exc))
            continue
        if any(s.name == spec.name for s in specs):
            options.reject(file, f"{where}: attribute #{k}", f"attribute {spec.name!r} is declared twice")
            continue
        specs.append(spec)
        raws.append(raw)
        if extra:
            extras[spec.name] = extra
    return specs, extras, raws


def parse_labels(meta: Any, file: str, options: ReadOptions) -> Labels:
    """The labels of the meta (task, job or project ``<labels>``); bad ones are rejected."""
    out = Labels()
    labels_el = None
    if meta is not None:
        labels_el = meta.find("./*/labels")
        labels_el = meta.find("labels") if labels_el is None else labels_el
    if labels_el is None:
        return out
    out.declared = True
    tops: list[tuple[Any, str]] = []
    children: dict[str, list[Any]] = {}
    for k, label_el in enumerate(labels_el.findall("label"), 1):
        name = label_el.findtext("name")
        if not name:
            options.reject(file, f"label #{k}", "the label has no <name>")
            continue
        parent = label_el.findtext("parent")
        if parent:
            children.setdefault(parent, []).append(label_el)
        elif any(n == name for _, n in tops):
            options.reject(file, f"label {name!r}", "the label is declared twice")
        else:
            tops.append((label_el, name))
    names = {n for _, n in tops}
    for parent in children:
        if parent not in names:
            options.reject(file, f"label {parent!r}", "sublabels name a parent label that is not declared")
    for index, (label_el, name) in enumerate(tops):
        where = f"label {name!r}"
        label_type = (label_el.findtext("type") or "any").strip().lower()
        color = parse_color(label_el.findtext("color"))
        if color is None:
            if label_el.findtext("color"):
                options.reject(file, where, f"color {label_el.findtext('color')!r} is not #rrggbb")
            color = default_color(index + 1)
        specs, attr_extras, raws = _parse_label_attributes(label_el, where, file, options)
        if label_type == "tag":
            out.tags.append(name)
            out.tag_labels[name] = {"color": hex_color(color), "attributes": raws}
            out.specs[name] = {s.name: s for s in specs}
            continue
        extra: dict[str, Any] = {}
        if attr_extras:
            extra["cvat_attributes"] = attr_extras
        skeleton = None
        subs = children.get(name, [])
        if label_type == "skeleton" or subs:
            skeleton = _parse_skeleton_label(label_el, name, color, subs, extra, out, file, options)
        shapes = LABEL_TYPE_SHAPES.get(label_type, frozenset())
        if label_type == "skeleton":
            out.skeleton_types.add(name)
        if label_type != _derived_type(shapes, skeleton):
            extra["cvat_type"] = label_type
        out.classes[name] = LabelClass(
            name, color, shapes=shapes, attributes=tuple(specs), skeleton=skeleton, extra=extra
        )
        out.specs[name] = {s.name: s for s in specs}
    return out


def _parse_skeleton_label(
    label_el: Any,
    name: str,
    color: tuple[int, int, int],
    subs: list[Any],
    extra: dict[str, Any],
    out: Labels,
    file: str,
    options: ReadOptions,
) -> Skeleton | None:
    where = f"label {name!r}"
    points: list[str] = []
    sub_extra: dict[str, dict[str, Any]] = {}
    for sub in subs:
        point = sub.findtext("name") or ""
        if point in points:
            options.reject(file, where, f"skeleton point {point!r} is declared twice")
            continue
        points.append(point)
        specs, _, raws = _parse_label_attributes(sub, f"{where}: point {point!r}", file, options)
        out.point_specs[(name, point)] = {s.name: s for s in specs}
        info: dict[str, Any] = {}
        sub_color = parse_color(sub.findtext("color"))
        if sub_color is not None and sub_color != color:
            info["color"] = hex_color(sub_color)
        if raws:
            info["attributes"] = raws
        sub_type = (sub.findtext("type") or "points").strip().lower()
        if sub_type != "points":
            info["type"] = sub_type
        if info:
            sub_extra[point] = info
    svg = label_el.findtext("svg") or ""
    try:
        points, edges = _parse_svg(svg, points)
        skeleton = Skeleton(tuple(points), tuple(edges))
    except ValueError as exc:
        options.reject(file, where, str(exc))
        skeleton = Skeleton(tuple(points))
    if sub_extra:
        extra["cvat_sublabels"] = sub_extra
    if svg and svg != _skeleton_svg(skeleton):
        extra["cvat_svg"] = svg
    return skeleton


def meta_json(meta: Any) -> dict[str, Any]:
    """The meta without its labels (rebuilt from the ontology); ``{"tag": "labels"}`` marks their place."""
    out = element_json(meta)
    for container in out.get("children", []):
        if "children" in container:
            container["children"] = [
                {"tag": "labels"} if c["tag"] == "labels" else c for c in container["children"]
            ]
    return out


def meta_node(stored: Any, labels: list[Node], size: int, report: LossReport) -> Node:
    """The ``<meta>`` to write: the stored one with fresh labels in place, else a minimal task."""
    if stored is not None:
        try:
            if not isinstance(stored, Mapping) or stored.get("tag") != "meta":
                raise ValueError("stored CVAT meta is malformed")
            meta = Node("meta")
            for container in stored.get("children", []):
                meta.children.append(node_from_json(container, labels))
            containers = [c for c in meta.children if c.tag in ("task", "job", "project")]
            if not any(c.tag == "labels" for cont in containers for c in cont.children):
                if not containers:
                    containers = [Node("task")]
                    meta.children.insert(0, containers[0])
                containers[0].children.append(Node("labels", children=labels))
            return meta
        except (ValueError, AttributeError, TypeError):
            report.add("stored CVAT meta unusable; a fresh <meta> written", "info['cvat_meta']")
    task = Node(
        "task",
        children=[leaf("name", "seglab export"), leaf("size", str(size)), leaf("mode", "annotation")],
    )
    task.children.append(Node("labels", children=labels))
    return Node("meta", children=[task])


def attribute_specs_node(raws: Iterable[Any]) -> Node:
    """``<attributes>`` from CVAT's attribute fields (kept ones may come from anywhere: checked here)."""
    fields = ("name", "mutable", "input_type", "default_value", "values")
    return Node(
        "attributes",
        children=[
            Node("attribute", children=[leaf(k, str(raw.get(k, ""))) for k in fields])
            for raw in (raws if isinstance(raws, list) else [])
            if isinstance(raw, Mapping)
        ],
    )


def label_node(name: str, color: str, label_type: str, attributes: Node) -> Node:
    """A ``<label>`` of the meta: name, ``#rrggbb`` colour, CVAT label type and ``<attributes>``."""
    return Node(
        "label", children=[leaf("name", name), leaf("color", color), leaf("type", label_type), attributes]
    )


def _label_type(cls: LabelClass, used: frozenset[ShapeType], report: LossReport) -> str:
    """CVAT's one label type: a skeleton class is ``skeleton``; the type read is kept while it fits.

    A ``skeleton`` label reads back as allowing keypoints plus the shapes written with it (``used``), so
    a skeleton class's other allowed shapes survive exactly when annotations use them; the rest is a loss.
    """
    if cls.skeleton is not None and cls.allows(ShapeType.KEYPOINTS):
        allowed = cls.shapes or frozenset(ShapeType)
        unused = allowed - used - {ShapeType.KEYPOINTS}
        if unused:
            report.add(
                "shapes a skeleton class allows that none of its annotations uses (a CVAT 'skeleton' "
                "label reads back as keypoints plus the shapes used)",
                f"{cls.name}: {', '.join(sorted(unused))}",
            )
        if used - allowed:
            report.add(
                "annotations of shapes their skeleton class does not allow (read back as allowed)",
                f"{cls.name}: {', '.join(sorted(used - allowed))}",
            )
        return "skeleton"
    kept = cls.extra.get("cvat_type")
    if (
        isinstance(kept, str)
        and kept != "skeleton"
        and LABEL_TYPE_SHAPES.get(kept, frozenset()) == cls.shapes
    ):
        return kept
    derived = _derived_type(cls.shapes, None)
    if derived is None:
        report.add("label allowing several shape types written as CVAT type 'any'", cls.name)
        return "any"
    return derived


def class_nodes(cls: LabelClass, used: frozenset[ShapeType], report: LossReport) -> list[Node]:
    """A class's ``<label>`` and, for a skeleton, one ``<label>`` per point with ``<parent>``.

    ``used``: the shape types written for the class's annotations (see :func:`_label_type`).
    """
    attr_extra = cls.extra.get("cvat_attributes", {})
    raws = []
    for spec in cls.attributes:
        if spec.type is AttributeType.CHOICE and any("\n" in c for c in spec.choices):
            report.add(
                "choice value with a line break cannot be listed in CVAT <values>", f"{cls.name}.{spec.name}"
            )
        raws.append(
            raw_from_spec(spec, attr_extra.get(spec.name, {}) if isinstance(attr_extra, Mapping) else {})
        )
    label_type = _label_type(cls, used, report)
    node = label_node(cls.name, hex_color(cls.color), label_type, attribute_specs_node(raws))
    for what, lost in (
        ("stuff kind (CVAT has no thing/stuff)", cls.kind is not LabelKind.THING),
        ("class id", cls.id is not None),
        ("class parent (supercategory)", cls.parent is not None),
        (
            "skeleton sigmas / flip index",
            cls.skeleton is not None and (cls.skeleton.sigmas or cls.skeleton.flip_index),
        ),
    ):
        if lost:
            report.add(what, cls.name)
    if cls.skeleton is None or label_type != "skeleton":
        if cls.skeleton is not None:
            report.add("skeleton of a class that allows no keypoints", cls.name)
        return [node]
    kept_svg = cls.extra.get("cvat_svg")
    svg = _skeleton_svg(cls.skeleton)
    if isinstance(kept_svg, str):
        try:
            if _parse_svg(kept_svg, cls.skeleton.points) == (
                list(cls.skeleton.points),
                list(cls.skeleton.edges),
            ):
                svg = kept_svg
        except ValueError:
            pass
    node.children.append(leaf("svg", svg))
    subs = cls.extra.get("cvat_sublabels", {})
    nodes = [node]
    for point in cls.skeleton.points:
        info = subs.get(point, {}) if isinstance(subs, Mapping) else {}
        color = str(info.get("color", hex_color(cls.color)))
        attributes = attribute_specs_node(info.get("attributes", []))
        sublabel = label_node(point, color, str(info.get("type", "points")), attributes)
        sublabel.children.append(leaf("parent", cls.name))
        nodes.append(sublabel)
    return nodes
