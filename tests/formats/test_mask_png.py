"""Plain semantic masks: exact round trips of class maps, 16-bit masks, conversions, losses, bad input."""

from __future__ import annotations

from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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
    Polygon,
)
from seglab.core.errors import FormatError
from seglab.core.segmentation import IGNORE, annotations_from_semantic, semantic_map
from seglab.formats import cityscapes, coco_panoptic, mask_png
from seglab.formats.base import ErrorPolicy, InvalidDataError, ReadOptions, WriteOptions
from seglab.formats.media import FileMedia
from tests.formats.label_png_cases import folder, ontology_of, panoptic_datasets, write_read

SPEC = mask_png.SPEC


@st.composite
def semantic_datasets(draw) -> Dataset:
    """Random class maps (with unlabeled pixels) turned into one mask annotation per class present."""
    kinds = draw(st.lists(st.sampled_from([LabelKind.THING, LabelKind.STUFF]), min_size=1, max_size=5))
    ontology = ontology_of(kinds)
    images = []
    first_id = 1
    for image_id in range(1, draw(st.integers(1, 2)) + 1):
        h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
        values = st.one_of(st.integers(0, len(ontology) - 1), st.just(IGNORE))
        sem = draw(hnp.arrays(np.uint8, (h, w), elements=values))
        anns = annotations_from_semantic(sem, ontology, first_id=first_id, split_things=False)
        first_id += len(anns)
        images.append(ImageRecord(image_id, f"sub/img{image_id}.png", ImageSize(w, h), tuple(anns)))
    return Dataset(ontology, tuple(images))


def _semantic(image: ImageRecord, ontology: Ontology) -> np.ndarray:
    return semantic_map(image.annotations, ontology, image.require_size())


@settings(max_examples=30)
@given(semantic_datasets())
def test_round_trip_is_exact(dataset: Dataset) -> None:
    with folder() as dst:
        report, back = write_read(SPEC, dataset, dst)
        assert not report, report.lines()
        assert back.ontology.names == dataset.ontology.names
        assert [c.kind for c in back.ontology.classes] == [c.kind for c in dataset.ontology.classes]
        assert [c.color for c in back.ontology.classes] == [c.color for c in dataset.ontology.classes]
        for img, got in zip(dataset.images, back.images, strict=True):
            assert got.file_name == img.file_name
            assert np.array_equal(_semantic(got, back.ontology), _semantic(img, dataset.ontology))
            # exactly the annotations the semantic map gives: one mask per class present
            assert [(a.label, a.shape) for a in got.annotations] == [
                (a.label, a.shape) for a in img.annotations
            ]


@settings(max_examples=15)
@given(panoptic_datasets(crowd=False))
def test_panoptic_to_semantic_keeps_every_class_pixel(dataset: Dataset) -> None:
    """COCO panoptic -> read -> masks -> read: the same semantic map; instance identity is reported."""
    with folder() as dst:
        _, panoptic = write_read(coco_panoptic.SPEC, dataset, dst / "panoptic")
        report, sem = write_read(SPEC, panoptic, dst / "masks")
        for img, got in zip(dataset.images, sem.images, strict=True):
            assert np.array_equal(_semantic(got, sem.ontology), _semantic(img, dataset.ontology))
        merged = sum(
            max(0, sum(a.label == c.name for a in img.annotations) - 1)
            for img in dataset.images
            for c in dataset.ontology.classes
            if c.is_thing
        )
        assert (
            report.counts.get("thing instances merged into one class mask (instance identity)", 0) == merged
        )


def test_cityscapes_to_masks_to_cityscapes(tmp_path: Path) -> None:
    """Cityscapes -> masks -> Cityscapes: the class map survives; instances become one mask per class."""
    ontology = Ontology((LabelClass("road", (1, 2, 3), LabelKind.STUFF), LabelClass("car", (4, 5, 6))))
    size = ImageSize(5, 3)
    a = np.zeros(size.shape, bool)
    a[0, :2] = True
    b = np.zeros(size.shape, bool)
    b[2, 3:] = True
    anns = (
        Annotation(1, "road", Mask.from_array(~(a | b))),
        Annotation(2, "car", Mask.from_array(a)),
        Annotation(3, "car", Mask.from_array(b)),
    )
    ds = Dataset(ontology, (ImageRecord(1, "x.png", size, anns),))
    _, city = write_read(cityscapes.SPEC, ds, tmp_path / "city")
    report, sem = write_read(SPEC, city, tmp_path / "masks")
    assert report.counts["thing instances merged into one class mask (instance identity)"] == 1
    want = _semantic(ds.images[0], ontology)
    assert np.array_equal(_semantic(sem.images[0], sem.ontology), want)
    _, city2 = write_read(cityscapes.SPEC, sem, tmp_path / "city2")
    assert np.array_equal(_semantic(city2.images[0], city2.ontology), want)
    cars = [x for x in city2.images[0].annotations if x.label == "car"]
    assert len(cars) == 1 and cars[0].shape.area == 4


def test_layout_and_class_table(tmp_path: Path) -> None:
    ds = Dataset(
        Ontology.from_names(["background", "cat, big", "dog"]),
        (ImageRecord(1, "a.jpg", ImageSize(3, 1), (Annotation(1, "dog", Box(0, 0, 1, 1)),)),),
    )
    report, _ = write_read(SPEC, ds, tmp_path / "out")
    assert (tmp_path / "out/classes.csv").read_text().splitlines() == [
        "index,name,color,kind",
        "0,background,#800000,thing",
        '1,"cat, big",#008000,thing',
        "2,dog,#808000,thing",
    ]
    mask = Image.open(tmp_path / "out/masks/a.png")
    assert mask.mode == "L" and np.asarray(mask).tolist() == [[IGNORE, IGNORE, IGNORE]]
    assert report.counts == {
        "image file names changed": 1,  # no image file: read back under the mask's name
        "box annotations (no area in a label image)": 1,
    }


def test_more_than_255_classes_use_16_bit_masks(tmp_path: Path) -> None:
    ontology = Ontology.from_names([f"c{i}" for i in range(300)])
    sem = np.array([[0, 254, 255, 299, 65535]], dtype=np.uint16)
    anns = annotations_from_semantic(np.where(sem == 65535, 300, sem), ontology, split_things=False)
    ds = Dataset(ontology, (ImageRecord(1, "a.png", ImageSize(5, 1), tuple(anns)),))
    report, back = write_read(SPEC, ds, tmp_path / "out")
    assert not report
    png = Image.open(tmp_path / "out/masks/a.png")
    assert png.mode == "I;16" and np.asarray(png).tolist() == sem.tolist()
    assert sorted(a.label for a in back.images[0].annotations) == ["c0", "c254", "c255", "c299"]


def test_images_are_copied_and_paired_by_name(tmp_path: Path) -> None:
    src = tmp_path / "img.jpg"
    Image.fromarray(np.zeros((2, 3, 3), np.uint8)).save(src)
    ontology = Ontology.from_names(["a"])
    anns = (Annotation(1, "a", Polygon.from_flat([[0, 0, 2, 0, 2, 2, 0, 2]])),)
    ds = Dataset(
        ontology,
        (
            ImageRecord(1, "d/x.jpg", None, anns, media=FileMedia(src), subset="train"),
            ImageRecord(2, "d/x.png", ImageSize(3, 2), (), media=FileMedia(src)),
        ),
    )
    report, back = write_read(SPEC, ds, tmp_path / "out")
    assert report.counts == {"image subsets": 1, "image file names changed": 1}
    assert [i.file_name for i in back.images] == ["d/x.jpg", "d/x-2.png"]
    assert (tmp_path / "out/images/d/x.jpg").is_file() and (tmp_path / "out/masks/d/x-2.png").is_file()
    got = back.image("d/x.jpg")
    assert got.size == ImageSize(3, 2) and got.annotations[0].shape.area == 4


def test_overlaps_and_losses(tmp_path: Path) -> None:
    ontology = ontology_of([LabelKind.STUFF, LabelKind.THING])
    size = ImageSize(4, 4)
    full = Mask.from_array(np.ones(size.shape, bool))
    anns = (
        Annotation(1, "stuff0", full),
        Annotation(2, "stuff0", Polygon.from_flat([[0, 0, 1, 0, 1, 1, 0, 1]])),
        Annotation(3, "thing1", Polygon.from_flat([[0, 0, 2, 0, 2, 2, 0, 2]]), z_order=1, crowd=True),
        Annotation(4, "thing1", Polygon.from_flat([[2, 2, 4, 2, 4, 4, 2, 4]]), z_order=1, group_id=3),
    )
    ds = Dataset(ontology, (ImageRecord(1, "a.png", size, anns, tags=("x",)),))
    report, back = write_read(SPEC, ds, tmp_path / "out")
    assert report.counts == {
        "image tags": 1,
        "crowd flags": 1,
        "z-order values (overlaps are resolved into the pixels)": 2,
        "group ids": 1,
        "stuff annotations of one class merged into one mask": 1,
        "thing instances merged into one class mask (instance identity)": 1,
        "pixels hidden by overlapping annotations (z-order)": 8,
        "annotations hidden entirely by overlapping annotations": 1,
    }
    areas = {a.label: a.shape.area for a in back.images[0].annotations}
    assert areas == {"stuff0": 8, "thing1": 8}


def test_detect(tmp_path: Path) -> None:
    assert SPEC.detect(tmp_path) == 0.0
    (tmp_path / "masks").mkdir()
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "masks/a.png")
    assert SPEC.detect(tmp_path) == 0.5
    (tmp_path / "classes.csv").write_text("index,name\n0,a\n")
    assert SPEC.detect(tmp_path) == 0.9


# ------------------------------------------------------------------------------------------- bad input


@pytest.fixture
def written(tmp_path: Path) -> Path:
    src = tmp_path / "src.png"
    Image.fromarray(np.zeros((2, 3, 3), np.uint8)).save(src)
    sem = np.array([[0, 1, 255], [1, 1, 0]], np.uint8)
    ontology = Ontology.from_names(["a", "b"])
    anns = annotations_from_semantic(sem, ontology, split_things=False)
    ds = Dataset(ontology, (ImageRecord(1, "p.png", None, tuple(anns), media=FileMedia(src)),))
    dst = tmp_path / "ds"
    dst.mkdir()
    SPEC.write(ds, dst, WriteOptions())
    return dst


def _problems(root: Path) -> tuple[Dataset, list]:
    options = ReadOptions(policy=ErrorPolicy.SKIP)
    ds = SPEC.read(root, options)
    return ds, options.finish()


def test_written_fixture_reads_cleanly(written: Path) -> None:
    ds, problems = _problems(written)
    assert problems == [] and len(ds.images[0].annotations) == 2


def test_wrong_size_mask_names_the_file(written: Path) -> None:
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(written / "masks/p.png")
    ds, problems = _problems(written)
    assert [p.file for p in problems] == [str(written / "masks/p.png")] and "3x3" in problems[0].reason
    assert ds.images[0].annotations == ()
    with pytest.raises(InvalidDataError, match=r"p\.png"):
        options = ReadOptions()
        SPEC.read(written, options)
        options.finish()


def test_value_outside_the_class_table_names_the_file(written: Path) -> None:
    Image.fromarray(np.array([[0, 1, 7], [1, 9, 0]], np.uint8)).save(written / "masks/p.png")
    _, problems = _problems(written)
    assert [p.file for p in problems] == [str(written / "masks/p.png")]
    assert "7, 9" in problems[0].reason and "classes.csv" in problems[0].reason


def test_missing_mask_is_a_problem(written: Path) -> None:
    (written / "masks/p.png").unlink()
    ds, problems = _problems(written)
    assert [(p.file, p.reason) for p in problems] == [(str(written / "masks/p.png"), "mask PNG is missing")]
    assert len(ds.images) == 1


def test_colour_and_unreadable_masks_are_problems(written: Path) -> None:
    Image.fromarray(np.zeros((2, 3, 3), np.uint8)).save(written / "masks/p.png")
    _, problems = _problems(written)
    assert "single-channel" in problems[0].reason
    (written / "masks/p.png").write_bytes(b"not a png")
    _, problems = _problems(written)
    assert [p.file for p in problems] == [str(written / "masks/p.png")]


def test_class_table_errors_are_format_errors(written: Path) -> None:
    table = written / "classes.csv"
    for text, message in [
        ("index,name\n0,a\n0,b\n", "appears twice"),
        ("index,name\nx,a\n", "not an integer"),
        ("idx,name\n0,a\n", "header"),
        ("index,name,color\n0,a,red\n", "#rrggbb"),
        ("index,name,kind\n0,a,blob\n", "thing or stuff"),
        ("index,name\n255,a\n", "ignore"),
    ]:
        table.write_text(text)
        with pytest.raises(FormatError, match=message):
            SPEC.read(written, ReadOptions())
    table.unlink()
    with pytest.raises(FormatError, match=r"classes\.csv is missing"):
        SPEC.read(written, ReadOptions())


def test_non_contiguous_indices_are_read(written: Path) -> None:
    (written / "classes.csv").write_text("index,name,color,kind\n10,a,#010203,stuff\n20,b,,\n")
    Image.fromarray(np.array([[10, 20, 255], [20, 20, 10]], np.uint8)).save(written / "masks/p.png")
    ds, problems = _problems(written)
    assert problems == []
    assert [(c.name, c.id, c.kind) for c in ds.ontology.classes] == [
        ("a", 10, LabelKind.STUFF),
        ("b", 20, LabelKind.THING),
    ]
    assert ds.ontology["a"].color == (1, 2, 3)
    assert {a.label: a.shape.area for a in ds.images[0].annotations} == {"a": 2, "b": 3}
