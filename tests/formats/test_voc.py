"""Pascal VOC: the 1-based box convention, real exports (Datumaro, labelme), round trips, hostile input."""

from __future__ import annotations

import itertools
import time
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from seglab.core.annotation import Annotation, Source
from seglab.core.conventions import ImageSize
from seglab.core.dataset import ArrayMedia, Dataset, ImageRecord
from seglab.core.errors import FormatError, UnsafeInputError
from seglab.core.geometry import Box, Keypoints, Polygon, Polyline
from seglab.core.mask import Mask
from seglab.core.ontology import LabelClass, LabelKind, Ontology, default_color
from seglab.core.raster import polygon_to_mask
from seglab.formats import registry, voc
from seglab.formats.base import ErrorPolicy, InvalidDataError, LossReport, ReadOptions, WriteOptions
from seglab.formats.coco.shapes import decode_counts
from seglab.formats.voc.pixels import paint_runs
from tests.conftest import shared_data

_counter = itertools.count()


def write_voc(ds: Dataset, tmp: Path, options: WriteOptions | None = None) -> tuple[Path, LossReport]:
    dst = tmp / f"voc_{next(_counter)}"
    dst.mkdir()
    return dst, voc.SPEC.write(ds, dst, options or WriteOptions())


def read_voc(path: Path, policy: ErrorPolicy = ErrorPolicy.FAIL) -> tuple[Dataset, ReadOptions]:
    options = ReadOptions(policy=policy)
    ds = voc.SPEC.read(path, options)
    options.finish()
    return ds, options


def by_name(ds: Dataset) -> dict[str, ImageRecord]:
    return {i.file_name: i for i in ds.images}


def loss_text(report: LossReport) -> str:
    return "\n".join(report.lines())


# ------------------------------------------------------------------------------------- box convention


def _one_box_dataset(box: Box) -> Dataset:
    ann = Annotation(1, "cat", box)
    return Dataset(
        Ontology.from_names(["background", "cat"]),
        (ImageRecord(1, "a.jpg", ImageSize(20, 10), (ann,)),),
    )


def test_box_is_one_based_inclusive(tmp_path: Path) -> None:
    dst, _ = write_voc(_one_box_dataset(Box(0.0, 0.0, 1.0, 1.0)), tmp_path)
    bnd = ET.parse(dst / "Annotations" / "a.xml").getroot().find("object/bndbox")
    assert [bnd.findtext(k) for k in ("xmin", "ymin", "xmax", "ymax")] == ["1", "1", "1", "1"]
    ds, _ = read_voc(dst)
    assert ds.images[0].annotations[0].shape == Box(0.0, 0.0, 1.0, 1.0)


@pytest.mark.parametrize("x", [0.1, 1e-20, 2.5e-7, 123.456789012345, -0.3, 1e15 + 0.5, 5e-324])
def test_fractional_coordinates_survive_the_shift_exactly(tmp_path: Path, x: float) -> None:
    box = Box(x, x / 3, x + 0.7, x / 3 + 1.1)
    dst, _ = write_voc(_one_box_dataset(box), tmp_path)
    ds, _ = read_voc(dst)
    assert ds.images[0].annotations[0].shape == box  # bit for bit, no rounding


# ------------------------------------------------------------------------------------- real fixtures


def test_datumaro_voc_dataset1_boxes_parts_actions_masks() -> None:
    ds, _ = read_voc(shared_data("format_fixtures", "datumaro", "voc_dataset", "voc_dataset1"))
    assert ds.ontology.names[:21] == list(voc.VOC_CLASSES)
    assert ds.ontology.names[21:] == ["head", "hand", "foot"]  # person's parts, after the classes
    images = by_name(ds)
    assert [i.subset for i in ds.images] == ["test", "train"]
    img = images["2007_000001.jpg"]
    assert img.size == ImageSize(20, 10)
    assert img.extra["voc_elements"] == {"folder": "VOC2007"}
    assert set(img.tags) == {
        "aeroplane", "bird", "bottle", "car", "chair", "diningtable", "horse", "person", "sheep", "train",
        "ignored",
    }  # fmt: skip
    cat, cat_mask, person, head = img.annotations
    assert (cat.label, cat.shape) == ("cat", Box(0.0, 1.0, 3.0, 4.0))
    assert cat.attributes == {"truncated": True}  # pose Unspecified and 0 flags are VOC's defaults
    assert person.shape == Box(3.0, 4.0, 6.0, 7.0)
    actions = {a: i % 2 == 0 for i, a in enumerate(voc.VOC_ACTIONS)}
    assert person.attributes == actions
    assert (head.label, head.shape, head.extra) == ("head", Box(4.5, 5.0, 7.5, 8.0), {"voc_part": True})
    assert head.group_id == person.group_id == 2
    # SegmentationObject: every pixel is instance 1, of the class the SegmentationClass colour says
    assert isinstance(cat_mask.shape, Mask) and cat_mask.group_id == cat.group_id == 1
    assert cat_mask.shape.area == 200 and cat_mask.label == "bicycle"
    assert len({a.id for _, a in ds.annotations()}) == ds.annotation_count


def test_datumaro_voc_dataset2_custom_labelmap() -> None:
    ds, _ = read_voc(shared_data("format_fixtures", "datumaro", "voc_dataset", "voc_dataset2"))
    assert ds.ontology.names == [*voc.VOC_CLASSES, "ignored"]
    assert ds.ontology["ignored"].color == (224, 224, 192)
    assert [i.file_name for i in ds.images] == ["@.jpg", "a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    assert {i.subset for i in ds.images} == {"trainval"}
    b = by_name(ds)["b.jpg"]
    assert b.size is None and b.media is None
    (plane,) = b.annotations
    assert plane.shape == Box(1.0, 1.0, 7.0, 6.0) and plane.attributes == {"occluded": True}
    assert by_name(ds)["@.jpg"].annotations == ()


def test_datumaro_voc_dataset3_comments_in_image_sets() -> None:
    ds, _ = read_voc(shared_data("format_fixtures", "datumaro", "voc_dataset", "voc_dataset3"))
    (img,) = ds.images
    assert img.subset == "train" and len(img.annotations) == 1
    assert img.media is not None and img.media.size() == ImageSize(20, 10)


def test_several_datasets_in_one_folder_is_refused() -> None:
    with pytest.raises(FormatError, match="several Pascal VOC datasets"):
        voc.SPEC.read(shared_data("format_fixtures", "datumaro", "voc_dataset"), ReadOptions())


def test_labelme_bbox_export() -> None:
    root = shared_data("labelme_examples", "examples", "bbox_detection", "data_dataset_voc")
    ds, _ = read_voc(root)
    assert ds.ontology.names[0] == "_background_" and "potted plant" in ds.ontology
    for img in ds.images:
        xml_objects = ET.parse(root / "Annotations" / f"{img.stem}.xml").getroot().findall("object")
        assert len(img.annotations) == len(xml_objects)
        assert all(isinstance(a.shape, Box) and not a.attributes for a in img.annotations)
    first = by_name(ds)["2011_000003.jpg"].annotations[0].shape
    assert first.y_min == float(Decimal("107.36900369003689") - 1)  # exact decimal shift
    assert first.x_min == 190.0


@pytest.mark.parametrize("stem,count", [("2011_000003", 3), ("2011_000006", 6), ("2011_000025", 3)])
def test_labelme_instance_export_matches_its_pngs(stem: str, count: int) -> None:
    root = shared_data("labelme_examples", "examples", "instance_segmentation", "data_dataset_voc")
    ds, _ = read_voc(root)
    img = by_name(ds)[f"{stem}.jpg"]
    classes = np.asarray(Image.open(root / "SegmentationClass" / f"{stem}.png"))
    objects = np.asarray(Image.open(root / "SegmentationObject" / f"{stem}.png"))
    masks = [a for a in img.annotations if isinstance(a.shape, Mask)]
    assert len(masks) == count == len(set(np.unique(objects).tolist()) - {0})
    coverage = np.zeros(classes.shape, dtype=int)
    for a in masks:
        m = a.shape.array
        coverage += m
        assert m.any()
        assert set(np.unique(classes[m]).tolist()) == {ds.ontology.index(a.label)}
        assert len(set(np.unique(objects[m]).tolist())) == 1  # one instance each
    assert coverage.max() == 1  # instances do not overlap
    labeled = (classes != 0) & (classes != 255)
    assert np.array_equal(coverage.astype(bool), labeled)


def test_labelme_semantic_and_video_exports() -> None:
    sem, _ = read_voc(
        shared_data("labelme_examples", "examples", "semantic_segmentation", "data_dataset_voc")
    )
    img = by_name(sem)["2011_000006.jpg"]
    assert sorted(a.label for a in img.annotations) == ["chair", "person", "sofa"]  # one mask per class
    video, _ = read_voc(shared_data("labelme_examples", "examples", "video_annotation", "data_dataset_voc"))
    assert video.ontology.names == ["_background_", "car", "track"]
    assert len(video.images) == 5  # SegmentationClassPNG, labelme's older folder name
    assert all(sorted(a.label for a in i.annotations) == ["car", "track"] for i in video.images)


@pytest.mark.parametrize(
    "parts",
    [
        ("format_fixtures", "datumaro", "voc_dataset", "voc_dataset1"),
        ("format_fixtures", "datumaro", "voc_dataset", "voc_dataset2"),
        ("labelme_examples", "examples", "instance_segmentation", "data_dataset_voc"),
        ("labelme_examples", "examples", "bbox_detection", "data_dataset_voc"),
    ],
)
def test_real_exports_survive_write_then_read(tmp_path: Path, parts: tuple[str, ...]) -> None:
    src = shared_data(*parts)
    ds, _ = read_voc(src)
    dst, report = write_voc(ds, tmp_path)
    again, _ = read_voc(dst)
    assert again.ontology.names == ds.ontology.names and set(again.ontology.tags) == set(ds.ontology.tags)
    assert [c.color for c in again.ontology] == [c.color for c in ds.ontology]
    for a, b in zip(ds.images, again.images, strict=True):
        assert (a.file_name, a.size, a.subset, a.tags, dict(a.extra)) == (
            b.file_name, b.size, b.subset, b.tags, dict(b.extra),
        )  # fmt: skip
        assert [(x.label, x.shape, dict(x.attributes), x.group_id, dict(x.extra)) for x in a.annotations] == [
            (x.label, x.shape, dict(x.attributes), x.group_id, dict(x.extra)) for x in b.annotations
        ]
    assert all("image files" in line for line in report.lines())  # nothing else is lost


def test_detect() -> None:
    for parts in [
        ("format_fixtures", "datumaro", "voc_dataset", "voc_dataset1"),
        ("labelme_examples", "examples", "instance_segmentation", "data_dataset_voc"),
    ]:
        assert voc.SPEC.detect(shared_data(*parts)) >= 0.6
    assert voc.SPEC.detect(shared_data("format_fixtures", "datumaro", "coco_dataset")) == 0.0


def test_detect_refuses_labelme_xml(tmp_path: Path) -> None:
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><object><name>x</name>"
        "<polygon><pt><x>1</x><y>2</y></pt></polygon></object></annotation>"
    )
    assert voc.SPEC.detect(tmp_path) == 0.0


# ------------------------------------------------------------------------------------- round trip


CLASSES = ("background", "cat", "dog <b>&amp;", "naïve:x", "person", "head")


def _ontology() -> Ontology:
    return Ontology(
        (
            LabelClass("background", (0, 0, 0), LabelKind.STUFF),
            LabelClass("cat", default_color(1)),
            LabelClass("dog <b>&amp;", (10, 20, 30)),
            LabelClass("naïve:x", default_color(3)),
            LabelClass("person", (192, 128, 128), extra={"voc_parts": ("head",), "voc_actions": ("jump",)}),
            LabelClass("head", default_color(5), extra={"voc_part": True}),
        ),
        tags=("sunny", "cat"),
    )


TEXT = st.text(alphabet="abcxyz <&>é", min_size=1, max_size=6)
ATTRIBUTES = st.fixed_dictionaries(
    {},
    optional={
        "truncated": st.just(True),
        "difficult": st.just(True),
        "occluded": st.just(True),
        "pose": st.sampled_from(["Left", "Frontal", "up <&>"]),
        "colour": TEXT,
        "count": st.integers(-1000, 1000),
        "conf": st.floats(allow_nan=False, allow_infinity=False),
        "flag": st.booleans(),
    },
)


@st.composite
def boxes(draw: st.DrawFn, w: int, h: int) -> Box:
    coord = st.floats(-3, 30, allow_nan=False)
    x0, y0 = draw(coord), draw(coord)
    return Box(x0, y0, x0 + draw(st.floats(0, 12)), y0 + draw(st.floats(0, 12)))


@st.composite
def area_shapes(draw: st.DrawFn, w: int, h: int) -> Polygon | Mask:
    if draw(st.booleans()):
        pt = st.tuples(st.floats(-1, w + 1), st.floats(-1, h + 1))
        return Polygon.from_rings(draw(st.lists(pt, min_size=3, max_size=6)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return Mask.from_array(rng.random((h, w)) < draw(st.floats(0.05, 0.6)))


@st.composite
def objects(draw: st.DrawFn, w: int, h: int, group: int) -> list[Annotation]:
    """One VOC object: a box, an area shape or both (grouped), with parts for a person box."""
    kind = draw(st.sampled_from(["box", "area", "both"]))
    anns = []
    gid = group if kind == "both" else None
    if kind in ("box", "both"):
        label = draw(st.sampled_from(CLASSES[1:5]))
        attrs = draw(ATTRIBUTES)
        extra = {}
        if label == "person":
            attrs |= draw(st.fixed_dictionaries({}, optional={"jump": st.booleans()}))
            n_parts = draw(st.integers(0, 2))
            gid = group if n_parts else gid
        if draw(st.booleans()):
            extra = {"voc_elements": {"note": draw(TEXT).strip() or "n", "meta": {"a": "1", "b": ["x", "y"]}}}
        anns.append(Annotation(0, label, draw(boxes(w, h)), attrs, group_id=gid, extra=extra))
        if label == "person":
            for _ in range(n_parts):
                anns.append(Annotation(0, "head", draw(boxes(w, h)), group_id=gid, extra={"voc_part": True}))
    if kind in ("area", "both"):
        attrs = draw(ATTRIBUTES) if kind == "area" else {}
        anns.append(
            Annotation(0, draw(st.sampled_from(CLASSES[:5])), draw(area_shapes(w, h)), attrs, group_id=gid)
        )
    return anns


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    images = []
    next_id = 1
    names = ["a.jpg", "sub/b.png", "c d.jpg"]
    for i in range(draw(st.integers(1, 3))):
        w, h = draw(st.integers(3, 16)), draw(st.integers(3, 16))
        anns = []
        for k in range(draw(st.integers(0, 5))):
            for ann in draw(objects(w, h, group=10 * k + 7)):
                anns.append(ann.with_(id=next_id))
                next_id += 1
        images.append(
            ImageRecord(
                i + 1,
                names[i],
                ImageSize(w, h),
                tuple(anns),
                subset=draw(st.sampled_from([None, "train", "val"])),
                tags=tuple(draw(st.lists(st.sampled_from(["sunny", "cat"]), unique=True))),
                extra={"voc_elements": {"folder": "VOC", "source": {"database": "db"}}} if i == 0 else {},
            )
        )
    return Dataset(_ontology(), tuple(images))


def _expected(image: ImageRecord) -> list[tuple]:
    """What reading the written image must give, in VOC object order (the independent model)."""
    size = image.require_size()
    groups: dict[object, list[Annotation]] = {}
    for i, a in enumerate(image.annotations):
        groups.setdefault(a.group_id if a.group_id is not None else ("alone", i), []).append(a)
    objs = list(groups.values())
    areas = [(k, a) for k, obj in enumerate(objs) for a in obj if not isinstance(a.shape, Box)]
    raster = [
        a.shape.array if isinstance(a.shape, Mask) else polygon_to_mask(a.shape, *size).array
        for _, a in areas
    ]
    visible = {}
    for j, (k, _) in enumerate(areas):
        above = np.zeros(size.shape, bool)
        for later in raster[j + 1 :]:
            above |= later
        visible[k] = raster[j] & ~above
    out = []
    for k, obj in enumerate(objs):
        box = next((a for a in obj if isinstance(a.shape, Box) and not a.extra.get("voc_part")), None)
        area = next((a for a in obj if not isinstance(a.shape, Box)), None)
        parts = [a for a in obj if a.extra.get("voc_part")]
        rows = []
        if box is not None:
            rows.append((box.label, box.shape, dict(box.attributes), dict(box.extra)))
        rows += [(p.label, p.shape, {}, {"voc_part": True}) for p in parts]
        if area is not None and visible[k].any():
            rows.append((area.label, Mask.from_array(visible[k]), dict(area.attributes), {}))
        group = "g" if len(rows) > 1 else None
        out += [(*row, group and k) for row in rows]
    return out


def _actual(image: ImageRecord) -> list[tuple]:
    first: dict[int, int] = {}
    for a in image.annotations:
        if a.group_id is not None:
            first.setdefault(a.group_id, len(first))
    return [
        (
            a.label,
            a.shape,
            dict(a.attributes),
            dict(a.extra),
            None if a.group_id is None else first[a.group_id],
        )
        for a in image.annotations
    ]


def _renumbered(rows: list[tuple]) -> list[tuple]:
    first: dict[int, int] = {}
    for *_, g in rows:
        if g is not None:
            first.setdefault(g, len(first))
    return [(*row[:-1], None if row[-1] is None else first[row[-1]]) for row in rows]


@settings(max_examples=25)
@given(ds=datasets())
def test_write_then_read_round_trip(tmp_path_factory: pytest.TempPathFactory, ds: Dataset) -> None:
    dst, report = write_voc(ds, tmp_path_factory.mktemp("rt"))
    again, _ = read_voc(dst)
    assert again.ontology.names == ds.ontology.names
    assert [c.color for c in again.ontology] == [c.color for c in ds.ontology]
    assert set(again.ontology.tags) == set(ds.ontology.tags)
    assert len(again.images) == len(ds.images)
    read_images = by_name(again)
    for image in ds.images:
        got = read_images[image.file_name]
        assert (got.size, got.subset, set(got.tags), dict(got.extra)) == (
            image.size, image.subset, set(image.tags), dict(image.extra),
        )  # fmt: skip
        assert _actual(got) == _renumbered(_expected(image))
    if any(isinstance(a.shape, Polygon) for _, a in ds.annotations()):
        assert "polygons written as pixels" in loss_text(report)
    assert "image files not copied" in loss_text(report)  # the records have no media


def test_polygon_pixels_equal_pycocotools(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    anns = []
    for i in range(20):
        pts = rng.uniform(-2, 42, size=(rng.integers(3, 9), 2))
        anns.append(Annotation(i + 1, ["cat", "dog"][i % 2], Polygon.from_rings(pts)))
    holed = Polygon.from_rings([[1, 1], [30, 1], [30, 30], [1, 30]], [[[5, 5], [20, 5], [20, 20], [5, 20]]])
    anns.append(Annotation(99, "cat", holed, z_order=-1))  # below everything despite coming last
    ds = Dataset(
        Ontology.from_names(["cat", "dog"]), (ImageRecord(1, "x.png", ImageSize(40, 35), tuple(anns)),)
    )
    dst, report = write_voc(ds, tmp_path)
    objects = np.asarray(Image.open(dst / "SegmentationObject" / "x.png"))
    classes = np.asarray(Image.open(dst / "SegmentationClass" / "x.png"))
    expect_obj = np.zeros((35, 40), np.uint8)
    expect_cls = np.zeros((35, 40), np.uint8)
    order = [20, *range(20)]  # z-order: the holed polygon first
    for k in order:
        m = polygon_to_mask(anns[k].shape, 40, 35).array
        expect_obj[m] = k + 1
        expect_cls[m] = 1 + ["cat", "dog"].index(anns[k].label)  # background was added at 0
    assert np.array_equal(objects, expect_obj) and np.array_equal(classes, expect_cls)
    text = loss_text(report)
    assert "class 'background' added at index 0" in text and "z_order" in text and "overlapping" in text
    again, _ = read_voc(dst)
    assert again.ontology.names == ["background", "cat", "dog"]


def test_losses_are_reported(tmp_path: Path) -> None:
    size = ImageSize(10, 10)
    anns = (
        Annotation(1, "cat", Polyline(np.array([[0, 0], [5, 5]]))),
        Annotation(2, "cat", Keypoints(np.array([[1, 1, 2]]))),
        Annotation(3, "cat", Box(1, 1, 4, 4, rotation=30.0)),
        Annotation(4, "cat", Box(1, 1, 4, 4), source=Source.MODEL, score=0.5),
        Annotation(5, "cat", Box(1, 1, 4, 4), attributes={"difficult": False, "note": "12"}),
        Annotation(6, "cat", Box(1, 1, 4, 4), extra={"coco_id": 3}),
        Annotation(7, "cat", Box(float("nan"), 1, 4, 4)),
    )
    ds = Dataset(
        Ontology.from_names(["background", "cat"]),
        (
            ImageRecord(
                1,
                "a.jpg",
                size,
                anns,
                extra={"license": 1},
                media=ArrayMedia(np.zeros((10, 10, 3), np.uint8)),
            ),
        ),
        info={"year": 2024},
    )
    dst, report = write_voc(ds, tmp_path)
    text = loss_text(report)
    for expected in [
        "polyline shapes", "keypoints shapes", "NaN or infinite", "rotated boxes", "annotation source",
        "annotation score",
        "false truncated/difficult/occluded", "text attributes that read back as numbers",
        "annotation extra field 'coco_id'", "image extra field 'license'", "dataset info",
    ]:  # fmt: skip
        assert expected in text, expected
    assert (dst / "JPEGImages" / "a.jpg").is_file()  # in-memory pixels are encoded
    again, _ = read_voc(dst)
    assert len(again.images[0].annotations) == 4
    assert again.images[0].annotations[0].shape == Box(1, 1, 4, 4, rotation=30.0).bounds()


def test_tags_and_subsets_round_trip(tmp_path: Path) -> None:
    images = (
        ImageRecord(
            1, "a.jpg", ImageSize(4, 4), subset="train", tags=("dog",), extra={"voc_difficult_tags": ["cat"]}
        ),
        ImageRecord(2, "b.jpg", ImageSize(4, 4), subset=None, tags=("cat", "dog")),
    )
    ds = Dataset(Ontology(tuple(Ontology.from_names(["background"]).classes), tags=("cat", "dog")), images)
    dst = tmp_path / "misc_default"
    registry.write_dataset(ds, dst, "voc", options=WriteOptions(default_subset="misc"))
    assert (dst / "ImageSets" / "Main" / "cat_train.txt").read_text() == "a  0\n"
    assert (dst / "ImageSets" / "Main" / "dog_misc.txt").read_text() == "b  1\n"
    again, _ = read_voc(dst)
    a, b = again.images if again.images[0].file_name == "a.jpg" else again.images[::-1]
    assert (a.subset, a.tags, a.extra) == ("train", ("dog",), {"voc_difficult_tags": ["cat"]})
    assert (b.subset, set(b.tags)) == ("misc", {"cat", "dog"})


def test_trainval_images_take_the_smallest_subset(tmp_path: Path) -> None:
    main = tmp_path / "ImageSets" / "Main"
    main.mkdir(parents=True)
    (tmp_path / "Annotations").mkdir()
    for stem in "abc":
        (tmp_path / "Annotations" / f"{stem}.xml").write_text(
            f"<annotation><filename>{stem}.jpg</filename></annotation>"
        )
    (main / "train.txt").write_text("a\nb\n")
    (main / "val.txt").write_text("c\n")
    (main / "trainval.txt").write_text("a\nb\nc\n")
    ds, _ = read_voc(tmp_path)
    assert [(i.stem, i.subset) for i in ds.images] == [("a", "train"), ("b", "train"), ("c", "val")]


def test_class_names_with_separators_round_trip(tmp_path: Path) -> None:
    ds = Dataset(
        Ontology.from_names(["background", "a:b:c", "x,y"]), (ImageRecord(1, "a.jpg", ImageSize(4, 4)),)
    )
    dst, _ = write_voc(ds, tmp_path)
    again, _ = read_voc(dst)
    assert again.ontology.names == ["background", "a:b:c", "x,y"]
    bad = Dataset(Ontology.from_names(["background", " padded"]), ())
    with pytest.raises(FormatError, match="white space"):
        write_voc(bad, tmp_path)


# ------------------------------------------------------------------------------------ hostile input


def _voc_folder(tmp: Path, xml: str, name: str = "a") -> Path:
    (tmp / "Annotations").mkdir(parents=True, exist_ok=True)
    (tmp / "Annotations" / f"{name}.xml").write_text(xml)
    return tmp


XXE = """<?xml version="1.0"?>
<!DOCTYPE annotation [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<annotation><filename>&xxe;</filename></annotation>"""

LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10)
    )
    + "]>\n<annotation><filename>&lol9;</filename></annotation>"
)


@pytest.mark.parametrize("payload", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_hostile_xml_is_refused_quickly(tmp_path: Path, payload: str) -> None:
    root = _voc_folder(tmp_path, payload)
    start = time.perf_counter()
    with pytest.raises(UnsafeInputError) as caught:
        voc.SPEC.read(root, ReadOptions())
    assert time.perf_counter() - start < 1.0
    assert "root:" not in str(caught.value) and "a.xml" in str(caught.value)


def test_malformed_xml_names_file_and_line(tmp_path: Path) -> None:
    root = _voc_folder(tmp_path, "<annotation>\n  <object>\n    <name>cat</name>\n  </objet>\n</annotation>")
    with pytest.raises(FormatError) as caught:
        voc.SPEC.read(root, ReadOptions())
    assert caught.value.file.endswith("a.xml") and caught.value.where.startswith("line 4")


def _obj(
    name: str, xmin: str = "1", ymin: str = "1", xmax: str = "5", ymax: str = "5", drop: str = ""
) -> str:
    fields = {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}
    box = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items() if k != drop)
    return f"<object><name>{name}</name><bndbox>{box}</bndbox></object>"


@pytest.mark.parametrize(
    "bad,reason",
    [
        (_obj("cat", drop="ymax"), "has no <ymax>"),
        (_obj("cat", xmin="nan"), "not a finite number"),
        (_obj("cat", xmin="abc"), "not a number"),
        (_obj("cat", xmin="10", xmax="2"), "inverted"),
        (_obj("unicorn"), "'unicorn' is not a VOC class"),
        ("<object><name>cat</name></object>", "no <bndbox>"),
        (_obj("cat").replace("<bndbox>", "<truncated>maybe</truncated><bndbox>"), "expected 0 or 1"),
    ],
)
def test_bad_objects_are_rejected_with_file_and_index(tmp_path: Path, bad: str, reason: str) -> None:
    xml = f"<annotation><filename>a.jpg</filename>{_obj('dog')}{bad}{_obj('cat')}</annotation>"
    root = _voc_folder(tmp_path, xml)
    with pytest.raises(InvalidDataError) as caught:
        read_voc(root)
    (problem,) = caught.value.problems
    assert problem.file.endswith("a.xml") and problem.where == "object 2" and reason in problem.reason
    ds, options = read_voc(root, ErrorPolicy.SKIP)
    assert [a.label for a in ds.images[0].annotations] == ["dog", "cat"] and len(options.problems) == 1


def test_unknown_class_names_the_labelmap(tmp_path: Path) -> None:
    root = _voc_folder(tmp_path, f"<annotation>{_obj('unicorn')}</annotation>")
    (root / "labelmap.txt").write_text("background:0,0,0::\ncat:1,2,3::\n")
    with pytest.raises(InvalidDataError, match=r"not in labelmap\.txt"):
        read_voc(root)


def test_png_size_mismatch_is_rejected(tmp_path: Path) -> None:
    root = _voc_folder(
        tmp_path, f"<annotation><size><width>20</width><height>10</height></size>{_obj('cat')}</annotation>"
    )
    (root / "SegmentationClass").mkdir()
    Image.fromarray(np.zeros((10, 10), np.uint8), mode="L").save(root / "SegmentationClass" / "a.png")
    with pytest.raises(InvalidDataError) as caught:
        read_voc(root)
    (problem,) = caught.value.problems
    assert problem.file.endswith("a.png") and "10x10" in problem.reason and "20x10" in problem.reason
    ds, _ = read_voc(root, ErrorPolicy.SKIP)
    assert [a.kind.value for a in ds.images[0].annotations] == ["box"]


def test_path_traversal_in_filename_is_refused(tmp_path: Path) -> None:
    root = _voc_folder(tmp_path, "<annotation><filename>../../etc/passwd</filename></annotation>")
    with pytest.raises(UnsafeInputError, match="leaves the dataset folder"):
        voc.SPEC.read(root, ReadOptions())


# ----------------------------------------------------------------------------- pixels: exactness, limits


@pytest.mark.parametrize("shapes, repeats", [(8, 30), (300, 3)])  # uint8 map, and uint16 past 255 shapes
def test_run_painting_equals_pycocotools_decode(shapes: int, repeats: int) -> None:
    from pycocotools import mask as coco_mask

    rng = np.random.default_rng(11)
    h, w = 37, 53
    for _ in range(repeats):
        rings = [rng.uniform(-10, 60, size=rng.integers(3, 12) * 2).tolist() for _ in range(shapes)]
        rles = coco_mask.frPyObjects(rings, h, w)
        rles.append(Mask.from_array(rng.random((h, w)) < 0.3).rle)
        rles.append(Mask.empty(ImageSize(w, h)).rle)
        decoded = coco_mask.decode(rles).astype(bool)
        expected = np.zeros((h, w), np.uint16)
        for i in range(len(rles)):
            expected[decoded[:, :, i]] = i + 1
        assert np.array_equal(paint_runs(rles, h, w), expected)
        for i, rle in enumerate(rles):
            counts = decode_counts(rle["counts"])
            assert counts.sum() == h * w
            assert np.array_equal(counts[1::2].sum(), decoded[:, :, i].sum())


def test_instance_png_without_class_png_takes_the_xml_classes(tmp_path: Path) -> None:
    xml = (
        f"<annotation><size><width>6</width><height>4</height></size>{_obj('cat')}{_obj('dog')}</annotation>"
    )
    root = _voc_folder(tmp_path, xml)
    objects = np.zeros((4, 6), np.uint8)
    objects[0, :3], objects[2:, 4:] = 1, 2
    (root / "SegmentationObject").mkdir()
    Image.fromarray(objects, mode="L").save(root / "SegmentationObject" / "a.png")
    ds, _ = read_voc(root)
    cat, cat_mask, dog, dog_mask = ds.images[0].annotations
    assert (cat.group_id, dog.group_id) == (1, 2)
    assert (cat_mask.label, cat_mask.group_id, cat_mask.shape.area) == ("cat", 1, 3)
    assert (dog_mask.label, dog_mask.group_id, dog_mask.shape.area) == ("dog", 2, 4)
    objects[3, 0] = 3  # an instance with neither a class pixel nor an XML object
    Image.fromarray(objects, mode="L").save(root / "SegmentationObject" / "a.png")
    with pytest.raises(InvalidDataError, match="instance 3 has no class"):
        read_voc(root)


def test_rgb_class_png_is_mapped_through_the_colours(tmp_path: Path) -> None:
    root = _voc_folder(tmp_path, "<annotation><filename>a.jpg</filename></annotation>")
    (root / "SegmentationClass").mkdir()
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2] = default_color(8)  # cat
    rgb[3, 3] = (224, 224, 192)  # void
    Image.fromarray(rgb).save(root / "SegmentationClass" / "a.png")
    ds, _ = read_voc(root)
    (cat,) = ds.images[0].annotations
    assert cat.label == "cat" and cat.shape.area == 8
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(root / "SegmentationClass" / "a.png")
    with pytest.raises(InvalidDataError, match=r"colour \(1, 2, 3\)"):
        read_voc(root)


def test_more_objects_than_an_8_bit_png_holds_are_reported(tmp_path: Path) -> None:
    anns = tuple(Annotation(i + 1, "cat", Polygon.from_rings([[0, 0], [1, 0], [1, 1]])) for i in range(256))
    ds = Dataset(
        Ontology.from_names(["background", "cat"]), (ImageRecord(1, "a.jpg", ImageSize(4, 4), anns),)
    )
    _, report = write_voc(ds, tmp_path)
    assert "beyond the 254th" in loss_text(report)


def test_nested_devkit_folder_and_similar_subset_names(tmp_path: Path) -> None:
    root = tmp_path / "VOCdevkit" / "VOC2012"
    _voc_folder(root, f"<annotation>{_obj('cat')}</annotation>", name="x")
    _voc_folder(root, f"<annotation>{_obj('dog')}</annotation>", name="y")
    main = root / "ImageSets" / "Main"
    main.mkdir(parents=True)
    (main / "val.txt").write_text("x\n")
    (main / "hard_val.txt").write_text("y\n")  # a subset, although its name ends in _val
    (main / "cat_val.txt").write_text("x  1\n")
    ds, _ = read_voc(tmp_path)
    assert [(i.stem, i.subset, i.tags) for i in ds.images] == [("y", "hard_val", ()), ("x", "val", ("cat",))]
    assert voc.SPEC.detect(tmp_path) > 0.9


@pytest.mark.parametrize(
    "ann",
    [
        Annotation(1, "cat\x01", Box(0, 0, 1, 1)),
        Annotation(1, "cat", Box(0, 0, 1, 1), attributes={"note": "a\ud800"}),
        Annotation(1, "cat", Box(0, 0, 1, 1), attributes={"note": "bell\x07"}),
    ],
)
def test_text_xml_cannot_carry_is_refused_by_name(tmp_path: Path, ann: Annotation) -> None:
    ds = Dataset(
        Ontology.from_names(["background", "cat"]), (ImageRecord(1, "a.jpg", ImageSize(4, 4), (ann,)),)
    )
    with pytest.raises(FormatError, match=r"control character|line break"):
        write_voc(ds, tmp_path)
