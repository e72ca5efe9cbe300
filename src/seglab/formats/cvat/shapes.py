"""Shape elements <-> seglab shapes: boxes, polygons, polylines, points, ellipses, masks and skeletons."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from seglab.core.annotation import Annotation, ShapeValue
from seglab.core.conventions import ImageSize
from seglab.core.geometry import Box, Keypoints, Polygon, PolygonPart, Polyline
from seglab.core.mask import Mask
from seglab.core.ontology import AttributeSpec, LabelClass, Ontology
from seglab.core.raster import polygon_to_mask
from seglab.formats.base import LossReport
from seglab.formats.cvat.attributes import attribute_values, value_text
from seglab.formats.cvat.constants import COMMON_ATTRIBS, ELLIPSE_VERTICES
from seglab.formats.cvat.rle import mask_attrib, mask_from_attrib
from seglab.formats.cvat.text import attr_number, fmt, parse_points, points_text, source_word
from seglab.formats.cvat.xml_nodes import Node, kept_attrib
from seglab.formats.safe_io import finite_number


def ellipse_polygon(cx: float, cy: float, rx: float, ry: float, rotation: float = 0.0) -> Polygon:
    """The :data:`ELLIPSE_VERTICES`-gon in an ellipse rotated clockwise (degrees) about its centre."""
    t = np.linspace(0.0, 2.0 * math.pi, ELLIPSE_VERTICES, endpoint=False)
    local = np.stack([rx * np.cos(t), ry * np.sin(t)], axis=1)  # (V, 2)
    theta = math.radians(rotation)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    return Polygon((PolygonPart(local @ rot.T + np.array([cx, cy])),))


# A shape element to write, as :meth:`ShapeWriter.geometry` gives it: (tag, geometry attributes, group id).
Element = tuple[str, dict[str, str], int | None]


def read_geometry(
    el: Any,
    cls: LabelClass,
    size: ImageSize | None,
    extra: dict[str, Any],
    point_specs: Mapping[tuple[str, str], Mapping[str, AttributeSpec]],
) -> ShapeValue:
    """The shape of a shape element (``<box>``, ``<polygon>``, ...); what it keeps for a rewrite goes to
    ``extra``; ValueError naming what is wrong."""
    tag = el.tag
    a = el.attrib
    if tag == "box":
        x0, y0, x1, y1 = (attr_number(a, k) for k in ("xtl", "ytl", "xbr", "ybr"))
        if x1 < x0 or y1 < y0:
            raise ValueError(f"box corners are reversed: xtl={x0}, ytl={y0}, xbr={x1}, ybr={y1}")
        return Box(x0, y0, x1, y1, finite_number(a.get("rotation", "0"), what="rotation"))
    if tag == "polygon":
        pts = parse_points(a.get("points"), "polygon")
        if len(pts) < 3:
            raise ValueError(f"polygon has {len(pts)} points, a polygon needs at least 3")
        return Polygon((PolygonPart(pts),))
    if tag == "polyline":
        pts = parse_points(a.get("points"), "polyline")
        if len(pts) < 2:
            raise ValueError(f"polyline has {len(pts)} point, a polyline needs at least 2")
        return Polyline(pts)
    if tag == "points":
        pts = parse_points(a.get("points"), "points")
        return Keypoints(np.column_stack([pts, np.full(len(pts), 2.0)]))
    if tag == "ellipse":
        cx, cy, rx, ry = (attr_number(a, k) for k in ("cx", "cy", "rx", "ry"))
        rotation = finite_number(a.get("rotation", "0"), what="rotation")
        if rx <= 0 or ry <= 0:
            raise ValueError(f"ellipse radii must be positive, got rx={rx}, ry={ry}")
        extra["cvat_ellipse"] = {"cx": cx, "cy": cy, "rx": rx, "ry": ry, "rotation": rotation}
        return ellipse_polygon(cx, cy, rx, ry, rotation)
    if tag == "mask":
        return mask_from_attrib(a, size)
    return _read_skeleton(el, cls, extra, point_specs)


def _read_skeleton(
    el: Any,
    cls: LabelClass,
    extra: dict[str, Any],
    point_specs: Mapping[tuple[str, str], Mapping[str, AttributeSpec]],
) -> Keypoints:
    """A ``<skeleton>``: v = 0 for an ``outside`` point, 1 for an ``occluded`` one, else 2."""
    if cls.skeleton is None:
        raise ValueError(f"label {cls.name!r} is not a skeleton")
    names = cls.skeleton.points
    index = {n: i for i, n in enumerate(names)}
    pts = np.zeros((len(names), 3), dtype=np.float64)
    seen: set[str] = set()
    elements: dict[str, dict[str, Any]] = {}
    for child in el:
        if child.tag == "attribute":
            continue
        if child.tag != "points":
            raise ValueError(f"a skeleton holds <{child.tag}>; only <points> elements are allowed")
        name = child.get("label")
        if name not in index:
            raise ValueError(f"point {name!r} is not in skeleton {cls.name!r}")
        if name in seen:
            raise ValueError(f"point {name!r} appears twice")
        seen.add(name)
        xy = parse_points(child.get("points"), f"point {name!r}")
        if len(xy) != 1:
            raise ValueError(f"point {name!r} has {len(xy)} coordinate pairs, not 1")
        visibility = 0 if child.get("outside") == "1" else 1 if child.get("occluded") == "1" else 2
        pts[index[name]] = (xy[0, 0], xy[0, 1], visibility)
        info: dict[str, Any] = {}
        values = attribute_values(child, point_specs.get((cls.name, name), {}))
        if values:
            info["attributes"] = values
        if child.get("source") is not None and child.get("source") != el.get("source"):
            info["source"] = child.get("source")
        unknown = {k: v for k, v in child.attrib.items() if k not in COMMON_ATTRIBS and k != "points"}
        if unknown:
            info["attrib"] = unknown
        if info:
            elements[name] = info
    if elements:
        extra["cvat_elements"] = elements
    return Keypoints(pts)


class ShapeWriter:
    """Annotations as CVAT shape elements, reporting what CVAT cannot carry.

    ``next_group`` is the group id given to the parts of a multi-part polygon that has none; the writer
    sets it per image above the ids in use.
    """

    def __init__(self, ontology: Ontology, report: LossReport) -> None:
        self.ontology = ontology
        self.report = report
        self.next_group = 1

    def geometry(self, ann: Annotation, size: ImageSize | None, where: str) -> list[Element]:
        """``(tag, geometry attributes, group id)`` per element the shape becomes (several for multi-part)."""
        shape = ann.shape
        group = ann.group_id or None
        if not isinstance(shape, Mask) and not np.isfinite(shape.coordinates()).all():
            self.report.add("shape with non-finite coordinates", where)
            return []
        if isinstance(shape, Box):
            geometry = {k: fmt(v) for k, v in zip(("xtl", "ytl", "xbr", "ybr"), shape.xyxy(), strict=True)}
            if shape.rotation:
                geometry["rotation"] = fmt(shape.rotation)
            return [("box", geometry, group)]
        if isinstance(shape, Polyline):
            if len(shape.points) < 2:
                self.report.add("polyline with fewer than 2 points", where)
                return []
            return [("polyline", {"points": points_text(shape.points)}, group)]
        if isinstance(shape, Keypoints):
            return self.keypoints(ann, shape, where, group)
        if isinstance(shape, Mask):
            return self.mask(shape, size, where, group)
        return self.polygon(ann, shape, size, where, group)

    def polygon(
        self, ann: Annotation, shape: Polygon, size: ImageSize | None, where: str, group: int | None
    ) -> list[Element]:
        ellipse = ann.extra.get("cvat_ellipse")
        if isinstance(ellipse, Mapping):
            try:
                params = [float(ellipse[k]) for k in ("cx", "cy", "rx", "ry", "rotation")]
                if ellipse_polygon(*params) == shape:
                    geometry = {k: fmt(v) for k, v in zip(("cx", "cy", "rx", "ry"), params[:4], strict=True)}
                    if params[4]:
                        geometry["rotation"] = fmt(params[4])
                    return [("ellipse", geometry, group)]
            except (KeyError, TypeError, ValueError):
                pass
        if shape.has_holes:
            if size is None:
                self.report.add("polygon with holes on an image of unknown size", where)
                return []
            self.report.add("polygon with holes written as a pixel-exact <mask>", where)
            return self.mask(polygon_to_mask(shape, size.width, size.height), size, where, group)
        if not shape.parts:
            self.report.add("empty polygon", where)
            return []
        parts = [p for p in shape.parts if len(p.exterior) >= 3]
        if len(parts) < len(shape.parts):
            self.report.add("polygon part with fewer than 3 points", where)
        if len(parts) > 1:
            self.report.add("multi-part polygon written as one <polygon> per part sharing a group_id", where)
            if group is None:
                group = self.next_group
                self.next_group += 1
        return [("polygon", {"points": points_text(p.exterior)}, group) for p in parts]

    def keypoints(self, ann: Annotation, shape: Keypoints, where: str, group: int | None) -> list[Element]:
        cls = self.ontology.get(ann.label)
        if cls is not None and cls.skeleton is not None and len(cls.skeleton) == len(shape.points):
            return [("skeleton", {}, group)]
        if cls is not None and cls.skeleton is not None:
            self.report.add("keypoints whose count differs from the skeleton written as <points>", where)
        visible = shape.points[shape.points[:, 2] > 0]
        if len(visible) < len(shape.points):
            self.report.add("unlabeled keypoints (v=0) outside a skeleton", where)
        if (visible[:, 2] == 1).any():
            self.report.add("per-point occlusion (v=1) outside a skeleton read back as visible", where)
        if not len(visible):
            return []
        return [("points", {"points": points_text(visible[:, :2])}, group)]

    def skeleton_points(self, ann: Annotation, where: str) -> list[Node]:
        """The ``<points>`` children of a ``<skeleton>``, one per point of the class's skeleton."""
        cls = self.ontology[ann.label]
        assert cls.skeleton is not None and isinstance(ann.shape, Keypoints)
        elements = ann.extra.get("cvat_elements", {})
        elements = elements if isinstance(elements, Mapping) else {}
        skeleton_source = source_word(ann.source, ann.extra.get("cvat_source"))
        nodes = []
        for name, (x, y, v) in zip(cls.skeleton.points, ann.shape.points.tolist(), strict=True):
            info = elements.get(name, {})
            info = info if isinstance(info, Mapping) else {}
            attrib = {
                "label": name,
                "source": str(info.get("source", skeleton_source)),
                "outside": "1" if v == 0 else "0",
                "occluded": "1" if v == 1 else "0",
                "points": f"{fmt(x)},{fmt(y)}",
            }
            kept = info.get("attrib", {})
            if isinstance(kept, Mapping):
                attrib.update(kept_attrib(kept, attrib))
            values = info.get("attributes", {})
            children = [
                Node("attribute", {"name": str(k)}, value_text(val))
                for k, val in (values.items() if isinstance(values, Mapping) else ())
            ]
            nodes.append(Node("points", attrib, children=children))
        return nodes

    def mask(self, shape: Mask, size: ImageSize | None, where: str, group: int | None) -> list[Element]:
        if size is not None and shape.size != size:
            self.report.add("mask whose size differs from its image", where)
            return []
        geometry = mask_attrib(shape)
        if geometry is None:
            self.report.add("empty mask (CVAT holds no empty masks)", where)
            return []
        return [("mask", geometry, group)]
