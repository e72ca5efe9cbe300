"""YOLO datasets: Ultralytics detect, segment, pose and oriented boxes; Darknet layouts (read only).

Layouts read (all under the one ``yolo`` format; :func:`detect` tells them apart): Ultralytics dataset
YAMLs, Darknet ``obj.data`` and loose ``obj.names`` / ``classes.txt`` folders (:mod:`.layout`). Written:
always the Ultralytics layout (:mod:`.writer`).

Label lines are ``cls`` then values normalised by the image size: detect ``cx cy w h``; segment
``x1 y1 ... xn yn``; oriented box ``x1 y1 ... x4 y4``; pose ``cx cy w h`` + K x ``x y [v]``; a trailing
confidence column (Ultralytics ``save_conf``) is read as a model score when every line has it
(:mod:`.reader`). Values are converted here and nowhere else; normalised values are written as the
shortest decimals that give back the pixel coordinates exactly (:mod:`.numbers`).
"""

from __future__ import annotations

from seglab.core.ontology import COCO_PERSON_EDGES, COCO_PERSON_KEYPOINTS, ShapeType
from seglab.formats.base import FormatSpec
from seglab.formats.yolo.reader import detect, read
from seglab.formats.yolo.writer import write

SPEC = FormatSpec(
    name="yolo",
    description="Ultralytics YOLO detect/segment/pose/obb (data.yaml, images/, labels/); reads Darknet",
    detect=detect,
    read=read,
    write=write,
    carries=frozenset({ShapeType.BOX, ShapeType.POLYGON, ShapeType.KEYPOINTS}),
    extensions=(".yaml", ".yml", ".data"),
)

__all__ = ["COCO_PERSON_EDGES", "COCO_PERSON_KEYPOINTS", "SPEC", "detect", "read", "write"]
