"""COCO object detection, instance segmentation and keypoints JSON (https://cocodataset.org/#format-data).

COCO coordinates are seglab's (continuous pixels, origin at the top-left corner), so geometry passes through
unchanged: ``bbox`` is ``[x, y, width, height]``, polygons are flat ``[x0, y0, x1, y1, ...]`` lists, masks
are pycocotools RLE. Only keypoint skeletons are converted: 1-based point indices in the file, 0-based in
seglab (a skeleton that only fits 0-based indices, as some exporters write, is read as 0-based).

Read (:mod:`.reader`): one JSON file; a folder with ``annotations/*.json`` (``instances_<subset>.json``,
``person_keypoints_<subset>.json``, ...; images in ``images/<subset>/``, ``<subset>/`` or ``images/``); or a
folder holding the JSON files directly. Files of one subset describing the same image ids are merged.
Folders may hold other JSON (captions, panoptic, results lists): only instance/keypoint ground truth is read.

Persons: a COCO annotation with keypoints and a segmentation (or only a bbox) is one object seen two ways;
seglab reads it as two annotations sharing a ``group_id``, the area shape (polygon, mask or box) and the
Keypoints, as YOLO pose lines are read, so that ``info`` and ``render`` show the outline as well as the
skeleton. The area shape keeps the COCO id and the group is that id (unless the file says otherwise); the
keypoints get the COCO id plus an offset above every id of the files read. The writer merges such a pair
back into one COCO annotation with the same id, and writes ``group_id`` / ``keypoints_id`` keys only when
the dataset's own values are not the ones the reader derives. Keypoints alone are written with the bbox of
their labeled points and no ``segmentation`` key, which is how the reader knows they have no box.

Derived fields: ``area`` of a polygon is its shoelace area (what COCO's own ground truth holds), of a mask
its pixel count, of a box ``width * height``; ``bbox`` is the shape's bounds. A file value that differs
(rounded, a pixel count, or another convention as in CrowdPose) is kept in ``extra`` and written back
while the shape still has that bbox (within a pixel); an edited shape gets fresh values. A bbox farther
than a pixel from the segmentation's bounds is an object's box of its own (OCHuman's amodal person boxes):
it becomes a Box in the group, and is merged back into the one COCO annotation.

Write (:mod:`.writer`): ``annotations/instances_<subset>.json`` per subset (``default`` for images without
one) holding every annotation kind, and the image files in ``images/<subset>/``. Polygon holes and rotated
boxes have no COCO form and are reported in the :class:`LossReport`; a class that restricts its shapes
also allows the kinds written for it, so the output validates. seglab fields COCO lacks (image tags,
``group_id``, ``track_id``, ``z_order``, ``uncertainty``, attribute specs, class colours) are written as
extra keys that pycocotools ignores.

Results lists (:mod:`.results`) have no images or categories of their own: :func:`read_results` attaches
them to a reference dataset and :func:`write_results` writes one.

Big files are streamed both ways (:mod:`.jsonio`): memory holds a file's text and the dataset, not the
parse tree of the whole file.
"""

from __future__ import annotations

from seglab.core.ontology import COCO_PERSON_KEYPOINTS, ShapeType
from seglab.formats.base import FormatSpec
from seglab.formats.coco.detection import detect
from seglab.formats.coco.reader import read
from seglab.formats.coco.results import read_results, write_results
from seglab.formats.coco.shapes import decode_counts
from seglab.formats.coco.writer import write

SPEC = FormatSpec(
    name="coco",
    description="COCO JSON: boxes, polygons, RLE masks and keypoints (instances / person_keypoints files)",
    detect=detect,
    read=read,
    write=write,
    carries=frozenset({ShapeType.BOX, ShapeType.POLYGON, ShapeType.MASK, ShapeType.KEYPOINTS}),
    extensions=(".json",),
)

__all__ = [
    "COCO_PERSON_KEYPOINTS",
    "SPEC",
    "decode_counts",
    "detect",
    "read",
    "read_results",
    "write",
    "write_results",
]
