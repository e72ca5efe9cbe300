"""Names and keys of the COCO format that the reader and the writer share."""

from __future__ import annotations

from seglab.core.ontology import ShapeType

DEFAULT_SUBSET = "default"  # file and folder name of images without a subset (as Datumaro and CVAT do)
SUBSET_PREFIXES = ("instances_", "person_keypoints_", "keypoints_", "stuff_", "image_info_")
SEGLAB_KEY = "seglab"  # top-level key for ontology fields COCO has no place for
# The id of the Keypoints half of a person split in two (see the package docstring); written only when it is
# not the one the reader derives.
KEYPOINTS_ID_KEY = "keypoints_id"
BOX_ID_KEY = "bbox_id"  # the same for the Box of a bbox that is not its segmentation's bounds

# Keys this package interprets; every other key is kept in ``extra`` and written back.
ANN_KEYS = frozenset(
    {
        "id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd", "keypoints",
        "num_keypoints", "score", "attributes", "group_id", "track_id", "z_order", "uncertainty", "source",
        KEYPOINTS_ID_KEY, BOX_ID_KEY,
    }
)  # fmt: skip
IMAGE_KEYS = frozenset({"id", "file_name", "width", "height", "tags", "attributes"})
CATEGORY_KEYS = frozenset(
    {"id", "name", "supercategory", "isthing", "color", "keypoints", "skeleton", "sigmas", "flip_index",
     "attributes", "shapes"}
)  # fmt: skip
SHAPE_NAMES = frozenset(s.value for s in ShapeType)
TOP_KEYS = frozenset({"images", "annotations", "categories", SEGLAB_KEY})
# Fields whose source values are kept in ``extra`` when they differ from what the writer derives.
DERIVED_KEYS = ("bbox", "area")
# A file's bbox within this many pixels of the segmentation's bounds is the segmentation's box: COCO rounds
# to 2 decimals, other exporters take the box of the rasterized mask (up to a pixel off). Such a bbox is kept
# in ``extra`` and written back while the shape still has (nearly) that box; a bbox farther off is a Box of
# its own (an amodal person box, as in OCHuman).
BBOX_TOLERANCE = 1.0


class BadObjectError(Exception):
    """One object is invalid; the message is the reason given to ``options.reject``."""


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_scalar(value: object) -> bool:
    return isinstance(value, bool | int | float | str)
