"""Pascal VOC: Annotations XML, SegmentationClass / SegmentationObject PNGs, ImageSets and a class list.

Coordinates. A VOC box holds 1-based pixel indices, inclusive at both ends: ``xmin = 1`` is the first pixel
column and ``xmax = W`` the last. In seglab's continuous coordinates the pixels xmin..xmax span
[xmin - 1, xmax), so ``x_min = xmin - 1`` and ``x_max = xmax`` (y alike). Floats are allowed (labelme and
CVAT write them) and never rounded; the shift by one is done in decimal arithmetic, so write -> read gives
back the same float bit for bit. A box is rejected when it is inverted in seglab's terms (x_max < x_min);
a box narrower than one pixel legitimately has xmax < xmin in VOC terms.

Object fields. ``pose`` (but VOC's ``Unspecified``), ``truncated``, ``difficult`` and ``occluded`` become
attributes; a 0 flag is VOC's default and reads as no attribute (the writer always writes all three, as
the devkit's parsers expect them). ``<actions>`` become bool attributes, CVAT's ``<attributes>`` typed ones
(``true``/``false`` and canonical numbers get their type back).

Layout (the devkit's, with Datumaro/CVAT and labelme extensions)::

    Annotations/<stem>.xml          objects: name, pose, truncated, difficult, occluded, bndbox, part,
                                    actions, CVAT <attributes>; unknown elements are kept in ``extra``
    JPEGImages/<file name>
    SegmentationClass/<stem>.png    class index per pixel (palette PNG), 255 = void boundary
    SegmentationObject/<stem>.png   instance index per pixel: k = the k-th <object> of the XML, 0 = none
    ImageSets/{Main,Segmentation,Layout,Action}/<subset>.txt, Main/<tag>_<subset>.txt (1 / -1 / 0)
    labelmap.txt                    name:r,g,b:parts:actions (Datumaro, CVAT); or labelme's class_names.txt

Without a class list the 21 standard classes (background + 20) are used, in the devkit's order and colours,
with person's parts (head, hand, foot) and actions. Classes named only as parts become classes after the
listed ones (marked ``extra["voc_part"]``), so a part is a Box of its own class sharing ``group_id`` with its
object (``extra["voc_part"]`` on the annotation tells the writer to nest it back).

Pixels. Each (instance k, class c) pair of the two PNGs becomes one Mask; it shares ``group_id`` k with the
k-th XML object's box. The writer paints polygons and masks in z-order (pycocotools rasterization, so a
polygon's pixels are exactly :func:`seglab.core.raster.polygon_to_mask`'s) and gives every object an XML
box; a box it had to derive from the pixels is marked ``<seglab_derived_box>`` so seglab reads the object
back as the mask alone, while other tools still see a VOC box. Class index 0 is background: when the
ontology does not start with ``background`` / ``_background_``, the writer puts ``background`` first.

Subsets: images without one are written to ``default`` (``WriteOptions.default_subset`` names another), and
``default`` reads back as no subset. An image listed in several subsets (VOC's trainval = train + val) is
given the smallest of them.
"""

from __future__ import annotations

from seglab.core.ontology import ShapeType
from seglab.formats.base import FormatSpec
from seglab.formats.voc.constants import (
    ANNOTATION_EXTRA_KEYS,
    ANNOTATIONS_DIR,
    BACKGROUND_NAMES,
    CLASS_DIRS,
    CLASS_EXTRA_KEYS,
    CLASS_NAMES_FILE,
    DEFAULT_SUBSET,
    DERIVED_BOX_TAG,
    FLAGS,
    IMAGE_EXTRA_KEYS,
    IMAGE_TAGS,
    IMAGES_DIR,
    LABELMAP_FILE,
    MAX_INDEX,
    NO_POSE,
    OBJECT_DIRS,
    OBJECT_TAGS,
    PNG_COMPRESS_LEVEL,
    SETS_DIR,
    TASKS,
    VOC_ACTIONS,
    VOC_CLASSES,
    VOC_PARTS,
    VOID,
)
from seglab.formats.voc.reader import detect, read
from seglab.formats.voc.writer import write

SPEC = FormatSpec(
    name="voc",
    description=(
        "Pascal VOC: Annotations XML (boxes, truncated/difficult/occluded, parts, actions), "
        "SegmentationClass/SegmentationObject palette PNGs, ImageSets, labelmap.txt"
    ),
    detect=detect,
    read=read,
    write=write,
    carries=frozenset({ShapeType.BOX, ShapeType.MASK}),
)

__all__ = [
    "ANNOTATIONS_DIR",
    "ANNOTATION_EXTRA_KEYS",
    "BACKGROUND_NAMES",
    "CLASS_DIRS",
    "CLASS_EXTRA_KEYS",
    "CLASS_NAMES_FILE",
    "DEFAULT_SUBSET",
    "DERIVED_BOX_TAG",
    "FLAGS",
    "IMAGES_DIR",
    "IMAGE_EXTRA_KEYS",
    "IMAGE_TAGS",
    "LABELMAP_FILE",
    "MAX_INDEX",
    "NO_POSE",
    "OBJECT_DIRS",
    "OBJECT_TAGS",
    "PNG_COMPRESS_LEVEL",
    "SETS_DIR",
    "SPEC",
    "TASKS",
    "VOC_ACTIONS",
    "VOC_CLASSES",
    "VOC_PARTS",
    "VOID",
    "detect",
    "read",
    "write",
]
