"""VOC XML <-> plain values: the 1-based box shift (exact, in decimal), flags, typed CVAT attributes,
unknown elements kept as plain data, and ``<object>`` elements parsed and written."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Context, Decimal
from pathlib import Path
from typing import Any

from seglab.core.annotation import Annotation, AttributeValue
from seglab.core.conventions import ImageSize
from seglab.core.errors import FormatError
from seglab.core.geometry import Box
from seglab.core.ontology import Ontology
from seglab.formats.base import LossReport, ReadOptions
from seglab.formats.safe_io import XML_INVALID_CHARS, XML_NAME, parse_xml, safe_relative
from seglab.formats.voc.constants import DERIVED_BOX_TAG, FLAGS, IMAGE_TAGS, NO_POSE, OBJECT_TAGS

_DECIMAL = Context(prec=400)  # enough digits for any float + 1, so the VOC shift is exact
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_INT_TEXT = re.compile(r"-?(0|[1-9]\d*)")


def _parse_number(text: str | None, what: str) -> float:
    t = (text or "").strip()
    if not _NUMBER.fullmatch(t):
        if t.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise ValueError(f"{what} is {t!r}, not a finite number")
        raise ValueError(f"{what} is {t!r}, not a number")
    return float(t)


def _voc_min_to_seglab(text: str | None, what: str) -> float:
    """``xmin`` (1-based, inclusive) -> seglab ``x_min``: minus one, exactly, in decimal."""
    t = (text or "").strip()
    if t.isdigit():
        return float(int(t) - 1)
    _parse_number(t, what)
    return float(_DECIMAL.subtract(Decimal(t), 1))


def _seglab_min_to_voc(value: float) -> str:
    """seglab ``x_min`` -> ``xmin``: plus one, written so that reading it back gives ``value`` exactly."""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value) + 1)
    return format(_DECIMAL.add(Decimal(repr(value)), 1), "f")


def _seglab_max_to_voc(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def _parse_flag(text: str | None, what: str) -> bool | None:
    """VOC's 0/1 flags (also true/false); None for an empty element such as labelme's ``<truncated/>``."""
    t = (text or "").strip().lower()
    if not t:
        return None
    if t in ("1", "true", "yes"):
        return True
    if t in ("0", "false", "no"):
        return False
    raise ValueError(f"{what} is {t!r}, expected 0 or 1")


def attribute_from_text(text: str | None) -> AttributeValue:
    """A CVAT ``<attribute><value>``: canonical true/false and numbers get their type back, else text."""
    t = text or ""
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    if _INT_TEXT.fullmatch(t):
        return int(t)
    try:
        number = float(t)
    except ValueError:
        return t
    return number if math.isfinite(number) and repr(number) == t else t


def _attribute_to_text(value: AttributeValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _element_value(elem: ET.Element) -> Any:
    """An unknown element as plain data: its text, or a dict of its children (repeated tags -> list)."""
    if len(elem) == 0 and not elem.attrib:
        return (elem.text or "").strip()
    out: dict[str, Any] = {f"@{k}": v for k, v in elem.attrib.items()}
    for child in elem:
        value = _element_value(child)
        if child.tag in out:
            previous = out[child.tag]
            out[child.tag] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[child.tag] = value
    if len(elem) == 0 and (elem.text or "").strip():
        out["#text"] = elem.text.strip()
    return out


def append_value(parent: ET.Element, tag: str, value: Any) -> None:
    """Write plain data back as elements (the inverse of :func:`_element_value`)."""
    if isinstance(value, list):
        for item in value:
            append_value(parent, tag, item)
        return
    elem = ET.SubElement(parent, tag)
    if isinstance(value, Mapping):
        for key, child in value.items():
            if key.startswith("@"):
                elem.set(key[1:], xml_text(child, f"attribute {key}"))
            elif key == "#text":
                elem.text = xml_text(child, tag)
            else:
                append_value(elem, key, child)
    elif value is not None:
        elem.text = xml_text(value, tag)


def xml_text(value: Any, where: str) -> str:
    """``value`` as element text, or FormatError when XML 1.0 cannot carry it."""
    text = _attribute_to_text(value) if isinstance(value, bool | int | float) else str(value)
    if XML_INVALID_CHARS.search(text):
        raise FormatError(f"{where}: {text!r} holds a control character that XML cannot carry")
    return text


def _plain_data_ok(value: Any) -> bool:
    """Whether ``value`` can be written as elements and read back equal."""
    if isinstance(value, str):
        return not XML_INVALID_CHARS.search(value) and value == value.strip()
    if isinstance(value, list):
        return len(value) > 1 and all(_plain_data_ok(v) and not isinstance(v, list) for v in value)
    if isinstance(value, Mapping):
        return bool(value) and all(
            isinstance(k, str)
            and (
                (k.startswith("@") and isinstance(v, str) and bool(XML_NAME.fullmatch(k[1:])))
                or (k == "#text" and isinstance(v, str) and _plain_data_ok(v))
                or (bool(XML_NAME.fullmatch(k)) and _plain_data_ok(v))
            )
            for k, v in value.items()
        )
    return False


@dataclass
class XmlObject:
    """One ``<object>`` as read: its box, attributes, parts and unknown elements."""

    index: int  # 1-based position among the <object> elements: its SegmentationObject value
    label: str
    box: Box | None  # None when the box was derived by seglab from the object's pixels
    attributes: dict[str, AttributeValue]
    parts: list[tuple[str, Box]]
    extra: dict[str, Any]


@dataclass
class XmlImage:
    """One annotation XML as read; empty when the image has none."""

    file_name: str | None = None
    size: ImageSize | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    objects: list[XmlObject] = field(default_factory=list)


def _parse_box(elem: ET.Element | None, what: str) -> Box:
    if elem is None:
        raise ValueError(f"{what} has no <bndbox>")
    values = {}
    for key in ("xmin", "ymin", "xmax", "ymax"):
        child = elem.find(key)
        if child is None:
            raise ValueError(f"{what} <bndbox> has no <{key}>")
        values[key] = child.text
    x_min = _voc_min_to_seglab(values["xmin"], f"{what} xmin")
    y_min = _voc_min_to_seglab(values["ymin"], f"{what} ymin")
    x_max = _parse_number(values["xmax"], f"{what} xmax")
    y_max = _parse_number(values["ymax"], f"{what} ymax")
    if x_max < x_min or y_max < y_min:
        raise ValueError(
            f"{what} box is inverted: xmin {values['xmin']}, xmax {values['xmax']}, "
            f"ymin {values['ymin']}, ymax {values['ymax']}"
        )
    return Box(x_min, y_min, x_max, y_max)


def _parse_object(elem: ET.Element, index: int, ontology: Ontology, class_list: str) -> XmlObject:
    """One <object>; ValueError says why it cannot be accepted."""
    name_elem = elem.find("name")
    label = (name_elem.text or "").strip() if name_elem is not None else ""
    if not label:
        raise ValueError("object has no <name>")
    if label not in ontology:
        raise ValueError(f"class {label!r} is not {class_list}")
    derived = _parse_flag(elem.findtext(DERIVED_BOX_TAG), DERIVED_BOX_TAG) is True
    box = _parse_box(elem.find("bndbox"), "object")
    attributes: dict[str, AttributeValue] = {}
    pose = (elem.findtext("pose") or "").strip()
    if pose and pose != NO_POSE:
        attributes["pose"] = pose
    for flag in FLAGS:  # 0 is VOC's default, read as no attribute, so a round trip adds nothing
        if _parse_flag(elem.findtext(flag), flag):
            attributes[flag] = True
    actions = elem.find("actions")
    if actions is not None:
        for action in actions:
            value = _parse_flag(action.text, f"action {action.tag}")
            if value is not None:
                attributes[action.tag] = value
    custom = elem.find("attributes")
    if custom is not None:
        for attr in custom.iter("attribute"):
            attr_name = (attr.findtext("name") or "").strip()
            if not attr_name:
                raise ValueError("an <attribute> has no <name>")
            attributes[attr_name] = attribute_from_text(attr.findtext("value"))
    parts = []
    for j, part in enumerate(elem.findall("part"), 1):
        part_label = (part.findtext("name") or "").strip()
        if part_label not in ontology:
            raise ValueError(f"part {j}: class {part_label!r} is not {class_list}")
        parts.append((part_label, _parse_box(part.find("bndbox"), f"part {j}")))
    extra = {c.tag: _element_value(c) for c in elem if c.tag not in OBJECT_TAGS}
    return XmlObject(index, label, None if derived else box, attributes, parts, extra)


def parse_annotation_file(path: Path, ontology: Ontology, class_list: str, options: ReadOptions) -> XmlImage:
    """One ``Annotations/<stem>.xml``; bad objects are rejected and left out, a bad file raises."""
    root = parse_xml(path).getroot()
    if root.tag != "annotation":
        raise FormatError(f"root element is <{root.tag}>, expected <annotation>", file=str(path))
    out = XmlImage()
    file_name = (root.findtext("filename") or "").strip()
    if file_name:
        out.file_name = safe_relative(file_name, file=str(path), where="filename")
    size = root.find("size")
    if size is not None:
        try:
            w = _parse_number(size.findtext("width"), "width")
            h = _parse_number(size.findtext("height"), "height")
            if w > 0 and h > 0:  # many exporters write 0 when they did not know the size
                if not (w.is_integer() and h.is_integer()):
                    raise ValueError(f"image size {w:g}x{h:g} is not whole pixels")
                out.size = ImageSize(int(w), int(h))
        except ValueError as exc:
            options.reject(path, "size", str(exc))
        depth = (size.findtext("depth") or "").strip()
        if depth != "3":
            out.extra["voc_depth"] = depth
    elements = {c.tag: _element_value(c) for c in root if c.tag not in IMAGE_TAGS}
    if elements:
        out.extra["voc_elements"] = elements
    for index, elem in enumerate(root.iterfind("object"), 1):
        try:
            out.objects.append(_parse_object(elem, index, ontology, class_list))
        except ValueError as exc:
            options.reject(path, f"object {index}", str(exc))
    return out


def writable_elements(
    elements: Mapping[str, Any], reserved: frozenset[str], where: str, losses: LossReport
) -> dict[str, Any]:
    """The kept unknown XML elements that can be written back as they were read; the rest reported."""
    out = {}
    for tag, value in elements.items():
        if tag in reserved or not XML_NAME.fullmatch(tag) or not _plain_data_ok(value):
            losses.add("kept XML elements that cannot be written back", f"{where}: <{tag}>")
        else:
            out[tag] = value
    return out


def object_element(
    main: Annotation,
    parts: Sequence[Annotation],
    box: Box,
    derived: bool,
    actions_of: Mapping[str, tuple[str, ...]],
    where: str,
    losses: LossReport,
) -> ET.Element:
    """One <object>: the devkit's fields first (pose, flags, bndbox), then parts, actions, attributes."""
    elem = ET.Element("object")
    ET.SubElement(elem, "name").text = xml_text(main.label, f"{where}: name")
    attributes = dict(main.attributes)
    pose = attributes.pop("pose", NO_POSE)
    ET.SubElement(elem, "pose").text = xml_text(pose if isinstance(pose, str) else NO_POSE, f"{where}: pose")
    if not isinstance(pose, str):
        attributes["pose"] = pose  # a non-text pose goes to <attributes>, typed
    for flag in FLAGS:  # always written: the devkit's and most tools' parsers expect them
        value = attributes.pop(flag, False)
        ET.SubElement(elem, flag).text = "1" if value is True else "0"
        if not isinstance(value, bool):
            attributes[flag] = value
    _append_box(elem, box)
    if derived:
        ET.SubElement(elem, DERIVED_BOX_TAG).text = "1"
    for part in parts:
        part_elem = ET.SubElement(elem, "part")
        ET.SubElement(part_elem, "name").text = xml_text(part.label, f"{where}: part name")
        _append_box(part_elem, part.bounds())
    actions = [a for a in actions_of.get(main.label, ()) if isinstance(attributes.get(a), bool)]
    if actions:
        actions_elem = ET.SubElement(elem, "actions")
        for a in actions:
            ET.SubElement(actions_elem, a).text = "1" if attributes.pop(a) else "0"
    if attributes:
        attrs_elem = ET.SubElement(elem, "attributes")
        for name, value in attributes.items():
            attr = ET.SubElement(attrs_elem, "attribute")
            ET.SubElement(attr, "name").text = xml_text(name, f"{where}: attribute name")
            ET.SubElement(attr, "value").text = xml_text(value, f"{where}: attribute {name!r}")
    kept = writable_elements(dict(main.extra.get("voc_elements", {})), OBJECT_TAGS, where, losses)
    for tag, value in kept.items():
        append_value(elem, tag, value)
    return elem


def _append_box(parent: ET.Element, box: Box) -> None:
    bnd = ET.SubElement(parent, "bndbox")
    ET.SubElement(bnd, "xmin").text = _seglab_min_to_voc(float(box.x_min))
    ET.SubElement(bnd, "ymin").text = _seglab_min_to_voc(float(box.y_min))
    ET.SubElement(bnd, "xmax").text = _seglab_max_to_voc(float(box.x_max))
    ET.SubElement(bnd, "ymax").text = _seglab_max_to_voc(float(box.y_max))
