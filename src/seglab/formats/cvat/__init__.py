"""CVAT for images 1.1: one ``annotations.xml`` beside an ``images/`` folder.

Coordinates: CVAT draws in continuous pixel coordinates with the origin at the top-left corner of the
top-left pixel, y down, which is seglab's convention: ``<box xtl="0" ytl="0" xbr="1" ybr="1">`` covers the
first pixel, and CVAT's own COCO export writes ``[xtl, ytl, xbr - xtl, ybr - ytl]`` unshifted. Polygon,
polyline, point and ellipse coordinates are the same continuous values. Masks are pixel-indexed: ``left`` and
``top`` are the column and row of the first pixel of the mask's box and ``width`` x ``height`` its size, so
the box covers [left, left + width) x [top, top + height). Nothing is shifted at this border.

Mask RLE (``<mask rle="3, 1, 5" ...>``): run lengths over the pixels of the mask's box in row-major order
(row by row, left to right), alternating background and foreground and starting with background (a leading
0 when the first pixel is set); the runs sum to ``width * height``. COCO's RLE is column-major over the whole
image: the two are never mixed (see :func:`cvat_rle_encode` / :func:`cvat_rle_decode`).

Mapping. Labels: ``<color>`` -> RGB, ``<type>`` -> allowed shapes, ``<attributes>`` -> typed
:class:`AttributeSpec` (checkbox: bool, number: number with ``min/max/step`` lines in ``<values>``,
radio/select: choice, text: text); a ``skeleton`` label with sublabels (``<parent>``) -> a class with a
:class:`Skeleton` (points from the sublabels, edges from the ``<svg>`` lines' ``data-node-from/to``) that
allows keypoints plus every shape the document uses the label for (CVAT has one type per label, so a class
with a skeleton that also allows boxes or masks is written as one ``skeleton`` label and its other shapes
come back from use; allowed shapes no annotation uses are reported as lost); ``tag`` labels -> ontology
tags. Shapes: ``occluded="1"`` -> attribute ``occluded: True``, ``z_order``, ``group_id`` (0 is CVAT's
"no group"), ``source`` (manual -> human, auto / semi-auto -> model, the exact word kept in
``extra``), box ``rotation`` (degrees clockwise, as :class:`Box`), ``<points>`` -> keypoints with v = 2,
``<skeleton>`` -> keypoints with v = 0 for ``outside``, 1 for ``occluded``, else 2, ``<ellipse>`` -> a
:data:`ELLIPSE_VERTICES`-gon with the exact ellipse in ``extra["cvat_ellipse"]`` (written back as an ellipse
while the polygon is unedited), ``<tag>`` -> ``ImageRecord.tags`` with its attributes in ``extra``.

Tracks (CVAT for video): every shape of a ``<track>`` on frame f becomes an annotation of image id f with the
track's id as ``track_id``; ``keyframe`` is kept in ``extra``. Shapes marked ``outside="1"`` say the object
has left the frame, so they are not objects and are skipped, as CVAT's own per-frame export does; frames
between keyframes are not interpolated (CVAT exports every frame of a track). A frame with no ``<image>`` is
named ``frame_000000`` (the file found in ``images/``, else ``.png``). The writer always writes the per-image
layout; ``track_id`` and ``keyframe`` ride on each shape as XML attributes, which CVAT ignores on import and
seglab reads back.

Writing: multi-part polygons become one ``<polygon>`` per part sharing a group id, polygons with holes a
pixel-exact ``<mask>``; scores, crowd flags, class ids, stuff kinds and other formats' extras are not carried:
every such case is listed in the LossReport. A document without ``<labels>`` takes its labels from use;
with them, an undeclared label is rejected. Precision: coordinates are written with ``repr`` (shortest exact
text), never CVAT's two decimals; both are read.
"""

from __future__ import annotations

from seglab.core.ontology import ShapeType
from seglab.formats.base import FormatSpec
from seglab.formats.cvat.constants import (
    ANNOTATIONS_FILE,
    ELLIPSE_VERTICES,
    IMAGES_DIR,
    MAX_MASK_PIXELS,
    VERSION,
)
from seglab.formats.cvat.reader import detect, read
from seglab.formats.cvat.rle import cvat_rle_decode, cvat_rle_encode
from seglab.formats.cvat.shapes import ellipse_polygon
from seglab.formats.cvat.writer import write

SPEC = FormatSpec(
    name="cvat",
    description="CVAT for images 1.1 XML (annotations.xml + images/); reads CVAT for video tracks too",
    detect=detect,
    read=read,
    write=write,
    carries=frozenset(
        {ShapeType.BOX, ShapeType.POLYGON, ShapeType.POLYLINE, ShapeType.KEYPOINTS, ShapeType.MASK}
    ),
    extensions=(".xml",),
)

__all__ = [
    "ANNOTATIONS_FILE",
    "ELLIPSE_VERTICES",
    "IMAGES_DIR",
    "MAX_MASK_PIXELS",
    "SPEC",
    "VERSION",
    "cvat_rle_decode",
    "cvat_rle_encode",
    "detect",
    "ellipse_polygon",
    "read",
    "write",
]
