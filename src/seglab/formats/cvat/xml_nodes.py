"""XML elements as plain data (kept for a lossless rewrite) and a small streaming writer that escapes
everything CVAT may hold and refuses what XML 1.0 cannot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from seglab.core.errors import FormatError
from seglab.formats.cvat.constants import ANNOTATIONS_FILE
from seglab.formats.safe_io import XML_INVALID_CHARS, XML_NAME


def element_json(el: Any) -> dict[str, Any]:
    """An XML element as plain data (tag, attrib, text or children), kept for a lossless rewrite."""
    out: dict[str, Any] = {"tag": el.tag}
    if el.attrib:
        out["attrib"] = dict(el.attrib)
    children = [element_json(c) for c in el]
    if children:
        out["children"] = children
    elif el.text is not None:
        out["text"] = el.text
    return out


@dataclass
class Node:
    """An XML element to write; written by :func:`write_node`, which escapes everything CVAT may hold."""

    tag: str
    attrib: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    children: list[Node] = field(default_factory=list)


def _check_text(value: str, where: str) -> str:
    bad = XML_INVALID_CHARS.search(value)
    if bad:
        raise FormatError(
            f"character U+{ord(bad.group()):04X} cannot be written in XML 1.0",
            file=ANNOTATIONS_FILE,
            where=where,
        )
    return value


def kept_attrib(kept: Mapping[Any, Any], taken: Mapping[str, str]) -> dict[str, str]:
    """XML attributes kept from the source (``extra["cvat_attrib"]``), never overriding ones seglab writes."""
    return {
        k: str(v) for k, v in kept.items() if isinstance(k, str) and XML_NAME.fullmatch(k) and k not in taken
    }


def _escape_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _escape_attr(value: str) -> str:
    return _escape_text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def write_node(out: IO[str], node: Node, level: int) -> None:
    """Write ``node`` and its children, indented two spaces per level."""
    pad = "  " * level
    attrs = "".join(
        f' {k}="{_escape_attr(_check_text(v, f"<{node.tag} {k}>"))}"' for k, v in node.attrib.items()
    )
    if node.children:
        out.write(f"{pad}<{node.tag}{attrs}>\n")
        for child in node.children:
            write_node(out, child, level + 1)
        out.write(f"{pad}</{node.tag}>\n")
    elif node.text:
        out.write(
            f"{pad}<{node.tag}{attrs}>{_escape_text(_check_text(node.text, f'<{node.tag}>'))}</{node.tag}>\n"
        )
    else:
        out.write(f"{pad}<{node.tag}{attrs}/>\n")


def leaf(tag: str, text: str) -> Node:
    """An element holding only text."""
    return Node(tag, text=text)


def node_from_json(data: Any, labels: list[Node] | None = None, depth: int = 0) -> Node:
    """Rebuild a stored element; ``{"tag": "labels"}`` directly in a meta container gets ``labels``."""
    if (
        not isinstance(data, Mapping)
        or not isinstance(data.get("tag"), str)
        or not XML_NAME.fullmatch(data["tag"])
    ):
        raise ValueError("stored CVAT element is malformed")
    attrib = data.get("attrib", {})
    if not isinstance(attrib, Mapping) or not all(
        isinstance(k, str) and XML_NAME.fullmatch(k) and isinstance(v, str) for k, v in attrib.items()
    ):
        raise ValueError("stored CVAT element attributes are malformed")
    text = data.get("text")
    if text is not None and not isinstance(text, str):
        raise ValueError("stored CVAT element text is malformed")
    children_data = data.get("children", [])
    if not isinstance(children_data, list):
        raise ValueError("stored CVAT element children are malformed")
    if labels is not None and depth == 1 and data["tag"] == "labels" and not children_data:
        return Node("labels", children=labels)
    return Node(
        data["tag"], dict(attrib), text, [node_from_json(c, labels, depth + 1) for c in children_data]
    )
