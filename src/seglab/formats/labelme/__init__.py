"""LabelMe JSON: one ``<stem>.json`` per image, beside the image or pointing at it through ``imagePath``.

Coordinates: LabelMe stores the positions of its Qt canvas, where the image is drawn with its top-left
corner at (0, 0) and pixel (i, j) covering [j, j+1) x [i, i+1). That is seglab's convention already, so
points cross the border unchanged (no half-pixel shift) and a round trip gives back the same numbers.
The data agree: LabelMe clamps points to [0, width] (rectangles end at exactly x = width), labelme2coco
copies the points unchanged, and on LabelMe's own examples pycocotools' rasterization of the unshifted
points matches LabelMe's exported VOC masks better than a +0.5 shift does (pixel agreement 0.995 vs
0.992, mean instance IoU 0.977 vs 0.959; LabelMe's PIL masks also paint the outline, so they run about
0.3 px fatter than either). ``tests/formats/test_labelme.py`` keeps these numbers true.

Shapes: ``polygon`` -> Polygon; ``rectangle`` (two corners, any order) -> Box; ``oriented_rectangle``
(four corners) -> rotated Box (a Polygon when the corners are not a rectangle); ``circle`` (centre and a
point on the circle) -> a Polygon of :data:`CIRCLE_VERTICES` vertices; ``line`` / ``linestrip`` ->
Polyline; ``point`` / ``points`` -> Keypoints (v = 2); ``mask`` -> Mask, whose PNG patch is placed with
its top-left pixel at the rounded first point (LabelMe's own rule) and clipped to the image.

Round trip: when the writer's canonical form of a shape would not reproduce the source (a circle, a
``line`` rather than a ``linestrip``, corners in another order, a mask patch with empty borders), the
source ``shape_type`` and points are kept in ``extra`` as ``labelme_shape`` / ``labelme_points``; the
writer uses them again only if they still give exactly the annotation's geometry.

Other fields: shape ``flags`` -> boolean attributes; a non-empty ``description`` -> the text attribute
``description``; ``group_id`` -> ``Annotation.group_id`` (shapes sharing it stay separate annotations,
as in LabelMe); image ``flags`` that are true -> ``ImageRecord.tags`` (the full dict is kept in
``extra["labelme_flags"]`` so false flags survive); unknown keys -> ``extra["labelme_other"]``.
The ``__ignore__`` label of LabelMe's examples is an ordinary class here: what it means is up to the user.
An embedded ``imageData`` is decoded lazily by :class:`EmbeddedMedia` when no image file exists; the
writer embeds ``imageData`` again only for images whose source embedded it (else ``null``).
A ``labels.txt`` / ``flags.txt`` in the dataset folder (LabelMe's ``--labels`` / ``--flags`` lists) gives
the class and tag order; the writer writes both, so classes without annotations survive.
"""

from __future__ import annotations

from seglab.core.ontology import ShapeType
from seglab.formats.base import FormatSpec
from seglab.formats.labelme.constants import (
    CIRCLE_VERTICES,
    DEFAULT_VERSION,
    DETECT_SAMPLE,
    FLAGS_FILE,
    LABELS_FILE,
    NAME,
    SHAPE_KEYS,
    TOP_KEYS,
)
from seglab.formats.labelme.embedded import EmbeddedMedia
from seglab.formats.labelme.masks import mask_from_labelme, mask_to_labelme
from seglab.formats.labelme.reader import detect, read
from seglab.formats.labelme.shapes import canonical_points, circle_polygon, parse_points, shape_from_points
from seglab.formats.labelme.writer import write

SPEC = FormatSpec(
    name=NAME,
    description="LabelMe JSON, one <stem>.json per image: polygons, boxes, circles, lines, points, masks",
    detect=detect,
    read=read,
    write=write,
    carries=frozenset(
        {ShapeType.BOX, ShapeType.POLYGON, ShapeType.POLYLINE, ShapeType.KEYPOINTS, ShapeType.MASK}
    ),
    extensions=(".json",),
)

__all__ = [
    "CIRCLE_VERTICES",
    "DEFAULT_VERSION",
    "DETECT_SAMPLE",
    "FLAGS_FILE",
    "LABELS_FILE",
    "NAME",
    "SHAPE_KEYS",
    "SPEC",
    "TOP_KEYS",
    "EmbeddedMedia",
    "canonical_points",
    "circle_polygon",
    "detect",
    "mask_from_labelme",
    "mask_to_labelme",
    "parse_points",
    "read",
    "shape_from_points",
    "write",
]
