"""Names and limits of the YOLO layouts that the reader and the writer share."""

from __future__ import annotations

TOLERANCE = 0.01  # Ultralytics accepts normalised box values in [-0.01, 1.01]
TASKS = ("detect", "segment", "obb", "pose")
SPLIT_KEYS = ("train", "val", "test")
YAML_KEYS = frozenset(
    {"path", "train", "val", "test", "names", "nc", "kpt_shape", "flip_idx", "kpt_names", "task"}
)
DARKNET_RESERVED = frozenset({"classes", "names", "backup", "eval", "results"})
NAMES_FILES = ("obj.names", "classes.txt")
INFO_KEY = "yolo"  # dataset.info[INFO_KEY]: YAML keys seglab does not interpret, written back as they were
INFO_KPT_DIMS = "yolo_kpt_dims"  # dataset.info[INFO_KPT_DIMS] == 2 when the source had no visibility column
CORNERS_KEY = "yolo_corners"  # annotation.extra: the source's 4 pixel corners of an oriented box
