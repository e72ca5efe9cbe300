"""CVAT for images 1.1: file names, label types, attribute input types and the XML attributes seglab
reads as geometry or common shape fields."""

from __future__ import annotations

from seglab.core.annotation import Source
from seglab.core.ontology import AttributeType, ShapeType

ANNOTATIONS_FILE = "annotations.xml"
IMAGES_DIR = "images"
VERSION = "1.1"
ELLIPSE_VERTICES = 64

LABEL_TYPE_SHAPES: dict[str, frozenset[ShapeType]] = {
    "any": frozenset(),
    "rectangle": frozenset({ShapeType.BOX}),
    "polygon": frozenset({ShapeType.POLYGON}),
    "polyline": frozenset({ShapeType.POLYLINE}),
    "points": frozenset({ShapeType.KEYPOINTS}),
    "skeleton": frozenset({ShapeType.KEYPOINTS}),
    "mask": frozenset({ShapeType.MASK}),
    "ellipse": frozenset({ShapeType.POLYGON}),
}
SHAPE_LABEL_TYPE = {
    ShapeType.BOX: "rectangle",
    ShapeType.POLYGON: "polygon",
    ShapeType.POLYLINE: "polyline",
    ShapeType.KEYPOINTS: "points",
    ShapeType.MASK: "mask",
}
SHAPE_TAG_SHAPES: dict[str, ShapeType] = {
    "box": ShapeType.BOX,
    "polygon": ShapeType.POLYGON,
    "ellipse": ShapeType.POLYGON,
    "polyline": ShapeType.POLYLINE,
    "points": ShapeType.KEYPOINTS,
    "skeleton": ShapeType.KEYPOINTS,
    "mask": ShapeType.MASK,
}
"""The shape type each CVAT shape element reads back as."""
INPUT_TYPES = {
    "checkbox": AttributeType.BOOL,
    "number": AttributeType.NUMBER,
    "radio": AttributeType.CHOICE,
    "select": AttributeType.CHOICE,
    "text": AttributeType.TEXT,
}
DEFAULT_INPUT_TYPE = {
    AttributeType.BOOL: "checkbox",
    AttributeType.NUMBER: "number",
    AttributeType.CHOICE: "select",
    AttributeType.TEXT: "text",
}
SHAPE_TAGS = frozenset({"box", "polygon", "polyline", "points", "mask", "ellipse", "skeleton"})
GEOMETRY_ATTRIBS = frozenset(
    {"xtl", "ytl", "xbr", "ybr", "rotation", "points", "rle", "left", "top", "width", "height"}
    | {"cx", "cy", "rx", "ry"}
)
COMMON_ATTRIBS = frozenset(
    {"label", "source", "occluded", "z_order", "group_id", "track_id", "keyframe", "outside", "frame"}
)
IMAGE_ATTRIBS = frozenset({"id", "name", "width", "height", "subset"})
MODEL_SOURCES = frozenset({"auto", "semi-auto"})
CANONICAL_SOURCE = {Source.HUMAN: "manual", Source.MODEL: "auto"}
MAX_MASK_PIXELS = 178_956_970  # Pillow's decompression-bomb limit: no mask canvas larger than an image may be
