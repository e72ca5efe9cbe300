"""LabelMe's file names, JSON keys and the defaults the writer uses."""

from __future__ import annotations

NAME = "labelme"
DEFAULT_VERSION = "5.7.0"
CIRCLE_VERTICES = 64
LABELS_FILE = "labels.txt"
FLAGS_FILE = "flags.txt"
DETECT_SAMPLE = 8
SHAPE_KEYS = ("label", "points", "group_id", "description", "shape_type", "flags", "mask")
TOP_KEYS = ("version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth")
