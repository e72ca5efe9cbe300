"""Cityscapes: the official table, round trips, panoptic <-> Cityscapes conversions and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from PIL import Image

from seglab.core import (
    Annotation,
    Box,
    Dataset,
    ImageRecord,
    ImageSize,
    LabelClass,
    LabelKind,
    Mask,
    Ontology,
)
from seglab.core.errors import FormatError
from seglab.formats import cityscapes, coco_panoptic
from seglab.formats.base import ErrorPolicy, InvalidDataError, ReadOptions, WriteOptions
from tests.formats.label_png_cases import (
    assert_same_maps,
    folder,
    merged_crowds,
    panoptic_datasets,
    segments,
    write_read,
)

SPEC = cityscapes.SPEC
STEM = "aachen_000000_000019"
GT = f"gtFine/train/aachen/{STEM}"


def _official_tree(root: Path, *, instances: bool = True) -> None:
    """A 6x4 image labelled with official ids: sky, road, two cars, a crowd of people, a void pixel."""
    labels = np.full((4, 6), 7, np.uint8)  # road
    labels[0] = 23  # sky
    labels[2:, 0:2] = 26  # car
    labels[2:, 3:5] = 26  # car
    labels[1, 5] = 24  # person, no instance id: a group
    labels[3, 5] = 0  # unlabeled
    inst = labels.astype(np.uint16)
    inst[2:, 0:2] = 26000
    inst[2:, 3:5] = 26001
    (root / "gtFine/train/aachen").mkdir(parents=True)
    Image.fromarray(labels).save(root / f"{GT}_gtFine_labelIds.png")
    if instances:
        Image.fromarray(inst).save(root / f"{GT}_gtFine_instanceIds.png")
    (root / "leftImg8bit/train/aachen").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(
        root / f"leftImg8bit/train/aachen/{STEM}_leftImg8bit.png"
    )


def _read(root: Path, policy: ErrorPolicy = ErrorPolicy.FAIL) -> tuple[Dataset, list]:
    options = ReadOptions(policy=policy)
    ds = SPEC.read(root, options)
    return ds, options.finish()


def test_official_table() -> None:
    table = cityscapes.CITYSCAPES_LABELS
    assert sorted(lab.id for lab in table) == [-1, *range(34)]
    things = {lab.name for lab in table if lab.has_instances}
    assert things == {
        "person",
        "rider",
        "car",
        "truck",
        "bus",
        "caravan",
        "trailer",
        "train",
        "motorcycle",
        "bicycle",
    }
    assert next(lab for lab in table if lab.name == "car").color == (0, 0, 142)
    assert next(lab for lab in table if lab.name == "road").train_id == 0
    assert sum(not lab.ignore_in_eval for lab in table) == 19  # the 19 evaluated classes


def test_reads_official_ids(tmp_path: Path) -> None:
    _official_tree(tmp_path)
    assert SPEC.detect(tmp_path) == 0.95
    ds, _ = _read(tmp_path)
    assert "unlabeled" not in ds.ontology and len(ds.ontology) == 34
    assert ds.ontology["car"].kind is LabelKind.THING and ds.ontology["road"].kind is LabelKind.STUFF
    assert ds.ontology["road"].parent == "flat" and ds.ontology["road"].extra["trainId"] == 0
    img = ds.images[0]
    assert (img.file_name, img.subset, img.extra) == (
        f"aachen/{STEM}_leftImg8bit.png",
        "train",
        {"city": "aachen"},
    )
    assert img.size == ImageSize(6, 4) and img.media is not None
    got = sorted((a.label, a.crowd, a.shape.area, a.extra.get("instance_id")) for a in img.annotations)
    assert got == [
        ("car", False, 4, 26000),
        ("car", False, 4, 26001),
        ("person", True, 1, None),
        ("road", False, 8, None),
        ("sky", False, 6, None),
    ]
    assert len({a.id for _, a in ds.annotations()}) == 5


def test_labelids_alone_give_one_mask_per_class(tmp_path: Path) -> None:
    _official_tree(tmp_path, instances=False)
    ds, _ = _read(tmp_path)
    got = sorted((a.label, a.crowd, a.shape.area) for a in ds.images[0].annotations)
    assert got == [("car", False, 8), ("person", False, 1), ("road", False, 8), ("sky", False, 6)]


def test_rewrite_keeps_ids_names_and_bytes(tmp_path: Path) -> None:
    _official_tree(tmp_path / "src")
    ds, _ = _read(tmp_path / "src")
    report, back = write_read(SPEC, ds, tmp_path / "out")
    assert not report, report.lines()
    for suffix in ("_gtFine_labelIds.png", "_gtFine_instanceIds.png"):
        want = np.asarray(Image.open(tmp_path / "src" / f"{GT}{suffix}"))
        assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / f"{GT}{suffix}")), want)
    assert [i.file_name for i in back.images] == [i.file_name for i in ds.images]
    assert [segments(i) for i in back.images] == [segments(i) for i in ds.images]
    assert sorted(a.extra.get("instance_id", 0) for a in back.images[0].annotations) == [
        0,
        0,
        0,
        26000,
        26001,
    ]
    assert back.ontology.names == ds.ontology.names
    ids = {c.name: c.id for c in back.ontology.classes}
    assert ids["car"] == 26 and ids["road"] == 7 and ids["license plate"] == 34  # -1 has no pixel value
    assert back.ontology["road"].extra == ds.ontology["road"].extra
    color = np.asarray(Image.open(tmp_path / "out" / f"{GT}_gtFine_color.png"))
    assert tuple(color[0, 0]) == (70, 130, 180) and tuple(color[3, 5]) == (0, 0, 0)
    rows = json.loads((tmp_path / "out/classes.json").read_text())["classes"]
    assert rows[0] == {"id": 0, "name": "unlabeled", "color": [0, 0, 0], "kind": "stuff", "void": True}
    car = next(r for r in rows if r["name"] == "car")
    assert car["kind"] == "thing" and car["category"] == "vehicle" and car["ignoreInEval"] is False


@settings(max_examples=25)
@given(panoptic_datasets(crowd=True))
def test_round_trip_pixel_for_pixel(dataset: Dataset) -> None:
    """Things per instance, stuff per class, crowds per class (Cityscapes groups) come back exactly."""
    dataset = dataset.with_images([i.with_(subset="val", extra={"city": "bonn"}) for i in dataset.images])
    with folder() as dst:
        report, back = write_read(SPEC, dataset, dst)
        assert set(report.counts) <= {
            "crowd regions of one class merged into one region",
            "image file names changed to the Cityscapes layout",
        }
        want = merged_crowds(dataset)
        assert_same_maps(want, back)
        for img, got in zip(want.images, back.images, strict=True):
            assert segments(got) == segments(img)
            assert got.subset == "val" and got.extra == {"city": "bonn"}
        assert [c.kind for c in back.ontology.classes] == [c.kind for c in dataset.ontology.classes]


def _without_stuff_crowds(dataset: Dataset) -> Dataset:
    images = []
    for img in dataset.images:
        anns = [a.with_(crowd=a.crowd and dataset.ontology[a.label].is_thing) for a in img.annotations]
        images.append(img.with_annotations(anns))
    return dataset.with_images(images)


@settings(max_examples=20)
@given(panoptic_datasets(crowd=True, stuff_crowd=True))
def test_panoptic_to_cityscapes_and_back_keeps_things_and_stuff(dataset: Dataset) -> None:
    """COCO panoptic -> read -> Cityscapes -> read -> COCO panoptic -> read: the same segments."""
    with folder() as dst:
        _, panoptic = write_read(coco_panoptic.SPEC, dataset, dst / "panoptic")
        report, city = write_read(SPEC, panoptic, dst / "cityscapes")
        stuff_crowds = any(
            a.crowd and not dataset.ontology[a.label].is_thing for _, a in dataset.annotations()
        )
        assert ("crowd flags" in report.counts) == stuff_crowds  # stuff has no crowd in Cityscapes
        want = merged_crowds(_without_stuff_crowds(dataset))
        assert_same_maps(want, city)
        for img, got in zip(want.images, city.images, strict=True):
            assert segments(got) == segments(img)
        _, again = write_read(coco_panoptic.SPEC, city, dst / "panoptic2")
        assert_same_maps(want, again)
        assert [segments(i) for i in again.images] == [segments(i) for i in want.images]


def test_label_colors_txt(tmp_path: Path) -> None:
    """Datumaro's class table: ``r g b name`` per line, the line number is the pixel id, 0 is void."""
    (tmp_path / "gtFine/val/x").mkdir(parents=True)
    (tmp_path / "label_colors.txt").write_text(
        "0 0 0 background\n128 64 128 road\n0 0 142 car\n# note\nbird\n"
    )
    labels = np.array([[0, 1, 2, 3]], np.uint8)
    inst = np.array([[0, 1, 2001, 3]], np.uint16)
    Image.fromarray(labels).save(tmp_path / "gtFine/val/x/a_gtFine_labelIds.png")
    Image.fromarray(inst).save(tmp_path / "gtFine/val/x/a_gtFine_instanceIds.png")
    assert SPEC.detect(tmp_path) == 0.9
    ds, _ = _read(tmp_path)
    assert ds.ontology.names == ["road", "car", "bird"]
    assert [c.kind for c in ds.ontology.classes] == [LabelKind.STUFF, LabelKind.THING, LabelKind.THING]
    assert ds.ontology["car"].color == (0, 0, 142)
    img = ds.images[0]
    assert img.file_name == "x/a_leftImg8bit.png" and img.media is None and img.size == ImageSize(4, 1)
    got = sorted((a.label, a.crowd, a.shape.area) for a in img.annotations)
    assert got == [("bird", True, 1), ("car", False, 1), ("road", False, 1)]


def test_losses_are_reported(tmp_path: Path) -> None:
    ontology = Ontology((LabelClass("road", kind=LabelKind.STUFF), LabelClass("car")))
    size = ImageSize(4, 2)
    left = np.zeros(size.shape, bool)
    left[:, :2] = True
    corner = np.zeros(size.shape, bool)
    corner[0, 0] = True
    anns = (
        Annotation(1, "road", Mask.from_array(left), crowd=True),
        Annotation(2, "road", Mask.from_array(~left)),
        Annotation(3, "car", Box(0, 0, 1, 1)),
        Annotation(4, "car", Mask.from_array(corner), crowd=True, z_order=2),
        Annotation(5, "car", Mask.from_array(corner[:, ::-1]), crowd=True, z_order=2, extra={"note": 1}),
    )
    ds = Dataset(ontology, (ImageRecord(1, "a.png", size, anns),), info={"year": 1})
    report, back = write_read(SPEC, ds, tmp_path / "out")
    assert report.counts == {
        "dataset info fields": 1,
        "image file names changed to the Cityscapes layout": 1,
        "box annotations (no area in a label image)": 1,
        "pixels hidden by overlapping annotations (z-order)": 2,
        "stuff annotations of one class merged into one region": 1,
        "crowd flags": 1,
        "z-order values (overlaps are resolved into the pixels)": 2,
        "annotation extra fields": 1,
        "crowd regions of one class merged into one region": 1,
    }
    got = sorted((a.label, a.crowd, a.shape.area) for a in back.images[0].annotations)
    assert got == [("car", True, 2), ("road", False, 6)]


def test_many_instances_and_ids(tmp_path: Path) -> None:
    """Instance values count from class_id * 1000; ids kept from extra where they still fit."""
    ontology = Ontology((LabelClass("car", id=26),))
    size = ImageSize(3, 1)
    px = [np.eye(1, 3, k, dtype=bool) for k in range(3)]
    anns = (
        Annotation(1, "car", Mask.from_array(px[0]), extra={"instance_id": 26007}),
        Annotation(2, "car", Mask.from_array(px[1]), extra={"instance_id": 26007}),  # taken: a new one
        Annotation(3, "car", Mask.from_array(px[2]), extra={"instance_id": 5000}),  # another class: new
    )
    ds = Dataset(ontology, (ImageRecord(1, "a.png", size, anns, subset="s", extra={"city": "c"}),))
    SPEC.write(ds, tmp_path, WriteOptions())
    inst = np.asarray(Image.open(tmp_path / "gtFine/s/c/a_gtFine_instanceIds.png"))
    assert inst.tolist() == [[26007, 26000, 26001]]
    assert np.asarray(Image.open(tmp_path / "gtFine/s/c/a_gtFine_labelIds.png")).tolist() == [[26, 26, 26]]


# ------------------------------------------------------------------------------------------- bad input


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    _official_tree(tmp_path)
    return tmp_path


def test_wrong_size_png_names_the_file(tree: Path) -> None:
    path = tree / f"{GT}_gtFine_labelIds.png"
    Image.fromarray(np.full((5, 6), 7, np.uint8)).save(path)
    ds, problems = _read(tree, ErrorPolicy.SKIP)
    assert [(p.file, "6x5" in p.reason) for p in problems] == [(str(path), True)]
    assert ds.images[0].annotations == ()
    with pytest.raises(InvalidDataError, match="labelIds"):
        _read(tree)


def test_unknown_class_id_names_the_file(tree: Path) -> None:
    path = tree / f"{GT}_gtFine_labelIds.png"
    labels = np.asarray(Image.open(path)).copy()
    labels[0, 0] = 40
    Image.fromarray(labels).save(path)
    _, problems = _read(tree, ErrorPolicy.SKIP)
    assert [p.file for p in problems] == [str(path)] and "40" in problems[0].reason


def test_unknown_instance_class_names_the_file(tree: Path) -> None:
    path = tree / f"{GT}_gtFine_instanceIds.png"
    inst = np.asarray(Image.open(path)).copy()
    inst[2, 0] = 40000
    Image.fromarray(inst).save(path)
    _, problems = _read(tree, ErrorPolicy.SKIP)
    assert [p.file for p in problems] == [str(path)] and "40" in problems[0].reason


def test_disagreeing_pngs_name_the_instance_file(tree: Path) -> None:
    path = tree / f"{GT}_gtFine_instanceIds.png"
    inst = np.asarray(Image.open(path)).copy()
    inst[2, 0] = 24000  # a person where labelIds says car
    Image.fromarray(inst).save(path)
    _, problems = _read(tree, ErrorPolicy.SKIP)
    assert [p.file for p in problems] == [str(path)] and "1 pixels" in problems[0].reason


def test_missing_labels_for_an_image_is_a_problem(tree: Path) -> None:
    for p in (tree / "gtFine").rglob("*.png"):
        p.unlink()
    (tree / "gtFine/train/aachen/other_gtFine_labelIds.png").write_bytes(b"")  # keep detect honest
    ds, problems = _read(tree, ErrorPolicy.SKIP)
    missing = [p for p in problems if p.reason == "label image is missing"]
    assert [Path(p.file).name for p in missing] == [f"{STEM}_gtFine_labelIds.png"]
    assert any(Path(p.file).name == "other_gtFine_labelIds.png" for p in problems)  # unreadable
    assert len(ds.images) == 2


def test_colour_label_png_is_refused(tree: Path) -> None:
    path = tree / f"{GT}_gtFine_labelIds.png"
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(path)
    _, problems = _read(tree, ErrorPolicy.SKIP)
    assert [p.file for p in problems] == [str(path)] and "single-channel" in problems[0].reason


def test_bad_classes_json_is_a_format_error(tree: Path) -> None:
    (tree / "classes.json").write_text(json.dumps({"classes": [{"id": 1, "name": "a", "kind": "blob"}]}))
    with pytest.raises(FormatError, match=r"classes\.json"):
        _read(tree)


def test_unsafe_city_is_refused(tmp_path: Path) -> None:
    ds = Dataset(Ontology(), (ImageRecord(1, "a.png", ImageSize(1, 1), extra={"city": "../x"}),))
    with pytest.raises(FormatError, match="city"):
        SPEC.write(ds, tmp_path, WriteOptions())
