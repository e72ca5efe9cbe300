"""Pure core types of seglab: geometry, masks, ontology, annotations and datasets (numpy, no I/O).

The coordinate convention is written down once, in :mod:`seglab.core.conventions`.
"""

from seglab.core.annotation import Annotation, AttributeValue, Source
from seglab.core.conventions import BoxFormat, ImageSize, convert_boxes
from seglab.core.dataset import Dataset, ImageRecord, Media
from seglab.core.errors import FormatError, SeglabError
from seglab.core.geometry import Box, Keypoints, Polygon, PolygonPart, Polyline, Shape
from seglab.core.mask import Mask
from seglab.core.ontology import (
    AttributeSpec,
    AttributeType,
    LabelClass,
    LabelKind,
    Ontology,
    ShapeType,
    Skeleton,
)
from seglab.core.validation import Issue, validate

__all__ = [
    "Annotation",
    "AttributeSpec",
    "AttributeType",
    "AttributeValue",
    "Box",
    "BoxFormat",
    "Dataset",
    "FormatError",
    "ImageRecord",
    "ImageSize",
    "Issue",
    "Keypoints",
    "LabelClass",
    "LabelKind",
    "Mask",
    "Media",
    "Ontology",
    "Polygon",
    "PolygonPart",
    "Polyline",
    "SeglabError",
    "Shape",
    "ShapeType",
    "Skeleton",
    "Source",
    "convert_boxes",
    "validate",
]
