"""Pascal VOC's folder and file names, the devkit's classes, parts and actions, and the XML tags and
``extra`` keys seglab reads and writes."""

from __future__ import annotations

from seglab.core.ontology import AttributeSpec, AttributeType, default_color

ANNOTATIONS_DIR = "Annotations"
IMAGES_DIR = "JPEGImages"
CLASS_DIRS = ("SegmentationClass", "SegmentationClassPNG")  # the second is older labelme's name
OBJECT_DIRS = ("SegmentationObject", "SegmentationObjectPNG")
SETS_DIR = "ImageSets"
TASKS = ("Main", "Segmentation", "Layout", "Action")
LABELMAP_FILE = "labelmap.txt"
CLASS_NAMES_FILE = "class_names.txt"  # labelme2voc
DEFAULT_SUBSET = "default"
VOID = 255  # the devkit's "void" boundary / don't-care value in both PNGs
MAX_INDEX = 254  # the most classes or instances an 8-bit PNG holds besides void
DERIVED_BOX_TAG = "seglab_derived_box"
PNG_COMPRESS_LEVEL = 1  # ISA-L deflate level (0..3): label PNGs are mostly flat and compress well at 1

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)  # fmt: skip
VOC_PARTS = ("head", "hand", "foot")
VOC_ACTIONS = (
    "other", "jumping", "phoning", "playinginstrument", "reading", "ridingbike", "ridinghorse", "running",
    "takingphoto", "usingcomputer", "walking",
)  # fmt: skip
BACKGROUND_NAMES = ("background", "_background_")
FLAGS = ("truncated", "difficult", "occluded")
NO_POSE = "Unspecified"  # VOC's "no pose": read back as no ``pose`` attribute
OBJECT_TAGS = frozenset({"name", "pose", *FLAGS, "bndbox", "part", "actions", "attributes", DERIVED_BOX_TAG})
IMAGE_TAGS = frozenset({"filename", "size", "object", "segmented"})
IMAGE_EXTRA_KEYS = ("voc_elements", "voc_depth", "voc_difficult_tags")
ANNOTATION_EXTRA_KEYS = ("voc_elements", "voc_part")
CLASS_EXTRA_KEYS = ("voc_parts", "voc_actions", "voc_part")
VOC_COLORMAP = tuple(default_color(i) for i in range(256))
SHARED_ATTRIBUTES = (
    AttributeSpec("truncated", AttributeType.BOOL, default=False),
    AttributeSpec("difficult", AttributeType.BOOL, default=False),
    AttributeSpec("occluded", AttributeType.BOOL, default=False),
    AttributeSpec("pose", AttributeType.TEXT),
)
