"""COCO panoptic: round trips pixel for pixel, the real Datumaro fixture, ids, losses and bad input."""

from __future__ import annotations

import json
import shutil
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
    Keypoints,
    LabelClass,
    LabelKind,
    Mask,
    Ontology,
    Polygon,
    Polyline,
)
from seglab.core.errors import FormatError
from seglab.formats import coco_panoptic
from seglab.formats.base import ErrorPolicy, InvalidDataError, ReadOptions, WriteOptions
from tests.conftest import shared_data
from tests.formats.label_png_cases import assert_same_maps, folder, panoptic_datasets, segments, write_read

SPEC = coco_panoptic.SPEC


def _png_ids(path: Path) -> np.ndarray:
    return coco_panoptic.rgb_to_id(np.asarray(Image.open(path).convert("RGB")))


def _scene() -> Dataset:
    """Sky (stuff) over the top, two cars (things, one of them in two grouped parts), a crowd of people."""
    ontology = Ontology(
        (
            LabelClass("sky", (70, 130, 180), LabelKind.STUFF, id=23, parent="sky"),
            LabelClass("car", (0, 0, 142), LabelKind.THING, id=26, parent="vehicle"),
            LabelClass("person", (220, 20, 60), LabelKind.THING, id=24),
        )
    )
    h, w = 8, 10
    grid = np.zeros((h, w), int)
    grid[:3] = 1
    grid[4:, :3] = 2
    grid[4:6, 5:7] = 3
    grid[7, 5:7] = 4
    grid[4:, 8:] = 5
    anns = (
        Annotation(1, "sky", Mask.from_array(grid == 1)),
        Annotation(2, "car", Mask.from_array(grid == 2)),
        Annotation(3, "car", Mask.from_array(grid == 3), group_id=7),
        Annotation(4, "car", Mask.from_array(grid == 4), group_id=7),
        Annotation(5, "person", Mask.from_array(grid == 5), crowd=True),
    )
    return Dataset(ontology, (ImageRecord(1, "street/a.jpg", ImageSize(w, h), anns, subset="val"),))


# ------------------------------------------------------------------------------------------ round trips


@settings(max_examples=25)
@given(panoptic_datasets(crowd=True, stuff_crowd=True))
def test_round_trip_keeps_every_segment_pixel_for_pixel(dataset: Dataset) -> None:
    with folder() as dst:
        report, back = write_read(SPEC, dataset, dst)
        assert not report, report.lines()
        assert_same_maps(dataset, back)
        for img, got in zip(dataset.images, back.images, strict=True):
            assert segments(got) == segments(img)
            assert got.file_name == img.file_name
        kinds = {c.name: c.kind for c in dataset.ontology.classes}
        assert {c.name: c.kind for c in back.ontology.classes} == kinds
        # a second trip keeps the segment ids it read, so the PNGs come out byte-identical
        again = dst.parent / "again"
        _, back2 = write_read(SPEC, back, again)
        assert [a.extra for i in back2.images for a in i.annotations] == [
            a.extra for i in back.images for a in i.annotations
        ]
        for png in sorted((dst / "annotations").rglob("*.png")):
            assert png.read_bytes() == (again / png.relative_to(dst)).read_bytes()


def test_scene_round_trip_groups_crowds_and_class_fields(tmp_path: Path) -> None:
    ds = _scene()
    report, back = write_read(SPEC, ds, tmp_path / "out")
    assert report.counts == {"thing parts joined by group_id written as one segment": 1, "group ids": 2}
    img = back.images[0]
    assert img.subset == "val" and img.file_name == "street/a.jpg" and img.size == ImageSize(10, 8)
    got = {(a.label, a.crowd, a.shape.area) for a in img.annotations}
    assert got == {("sky", False, 30), ("car", False, 12), ("car", False, 6), ("person", True, 8)}
    cars = [a.shape.array for a in img.annotations if a.label == "car" and a.shape.area == 6]
    assert np.array_equal(
        cars[0], ds.images[0].annotations[2].shape.array | ds.images[0].annotations[3].shape.array
    )
    sky = back.ontology["sky"]
    assert (sky.kind, sky.id, sky.parent, sky.color) == (LabelKind.STUFF, 23, "sky", (70, 130, 180))
    assert back.ontology["person"].parent is None
    data = json.loads((tmp_path / "out/annotations/panoptic_val.json").read_text())
    entry = data["annotations"][0]
    assert entry["file_name"] == "street/a.png"
    by_cat = {s["category_id"]: s for s in entry["segments_info"]}
    assert by_cat[23]["bbox"] == [0, 0, 10, 3] and by_cat[23]["area"] == 30
    assert by_cat[24]["iscrowd"] == 1 and by_cat[24]["bbox"] == [8, 4, 2, 4]
    # stuff takes its category colour as id, as panopticapi does; void stays 0
    ids = _png_ids(tmp_path / "out/annotations/panoptic_val/street/a.png")
    assert by_cat[23]["id"] == 70 + 256 * 130 + 256**2 * 180
    assert set(np.unique(ids).tolist()) == {0} | {s["id"] for s in entry["segments_info"]}


def test_unknown_fields_survive_a_round_trip(tmp_path: Path) -> None:
    ds = _scene()
    img = ds.images[0]
    anns = list(img.annotations)
    anns[0] = anns[0].with_(extra={"segment_id": 4242, "note": "kept"})
    ds = ds.with_images([img.with_(annotations=tuple(anns), extra={"license": 3, "coco_url": "u"})])
    ds = ds.with_(info={"info": {"year": 2024}, "licenses": [{"id": 3}], "custom": [1, 2]})
    sky_class = LabelClass(
        "sky", (70, 130, 180), LabelKind.STUFF, id=23, parent="sky", extra={"isfancy": True}
    )
    ds = ds.with_(ontology=ds.ontology.with_class(sky_class))
    _, back = write_read(SPEC, ds, tmp_path / "out")
    sky = next(a for a in back.images[0].annotations if a.label == "sky")
    assert sky.extra == {"segment_id": 4242, "note": "kept"} and sky.id == 4242
    assert back.images[0].extra == {"license": 3, "coco_url": "u"}
    assert back.info == {"info": {"year": 2024}, "licenses": [{"id": 3}], "custom": [1, 2]}
    assert back.ontology["sky"].extra == {"isfancy": True}


def test_overlaps_resolve_by_z_order_and_losses_are_reported(tmp_path: Path) -> None:
    ontology = Ontology((LabelClass("road", kind=LabelKind.STUFF), LabelClass("car")))
    size = ImageSize(6, 4)
    road = Mask.from_array(np.ones(size.shape, bool))
    car = Polygon.from_flat([[1, 1, 4, 1, 4, 3, 1, 3]])
    anns = (
        Annotation(1, "road", road, attributes={"wet": True}),
        Annotation(2, "car", car, z_order=1, score=0.9),
        Annotation(3, "car", Box(0, 0, 1, 1)),
        Annotation(4, "car", Polyline(np.array([[0, 0], [3, 3]]))),
        Annotation(5, "car", Keypoints(np.array([[1, 1, 2]]))),
        Annotation(6, "car", Mask.from_array(np.zeros(size.shape, bool))),
    )
    ds = Dataset(ontology, (ImageRecord(1, "x.png", size, anns, tags=("day",)),))
    report, back = write_read(SPEC, ds, tmp_path / "out")
    assert report.counts == {
        "box annotations (no area in a label image)": 1,
        "polyline annotations (no area in a label image)": 1,
        "keypoints annotations (no area in a label image)": 1,
        "image tags": 1,
        "pixels hidden by overlapping annotations (z-order)": 6,
        "annotations with an empty area": 1,
        "annotation attributes": 1,
        "annotation scores": 1,
        "z-order values (overlaps are resolved into the pixels)": 1,
    }
    got = {a.label: a.shape.array for a in back.images[0].annotations}
    car_px = np.zeros(size.shape, bool)
    car_px[1:3, 1:4] = True
    assert np.array_equal(got["car"], car_px) and np.array_equal(got["road"], ~car_px)


def test_segment_ids_are_unique_nonzero_and_near_the_class_colour() -> None:
    ids = coco_panoptic.segment_ids(
        [None, 7, 7, None, None, 0],
        [(10, 10, 10), (0, 0, 0), (0, 0, 0), (10, 10, 10), (0, 0, 0), (200, 0, 0)],
        [False, True, True, True, False, True],
        seed=1,
    )
    assert ids[1] == 7 and len(set(ids)) == len(ids) and 0 not in ids
    assert ids[0] == 10 + 2560 + 655360  # stuff: its colour exactly
    rgb = coco_panoptic.id_to_rgb(np.array(ids[3:4]))[0].astype(int)
    assert np.abs(rgb - 10).max() <= 30  # thing: jittered around its colour


def test_images_are_copied_and_found_again(tmp_path: Path) -> None:
    src = tmp_path / "src.png"
    Image.fromarray(np.zeros((8, 10, 3), np.uint8)).save(src)
    from seglab.formats.media import FileMedia

    ds = _scene()
    ds = ds.with_images([ds.images[0].with_(media=FileMedia(src), size=None)])
    _, back = write_read(SPEC, ds, tmp_path / "out")
    assert (tmp_path / "out/images/val/street/a.jpg").is_file()
    assert back.images[0].media.path == tmp_path / "out/images/val/street/a.jpg"
    assert back.images[0].size == ImageSize(10, 8)


def test_detect(tmp_path: Path) -> None:
    SPEC.write(_scene(), tmp_path, WriteOptions())
    assert SPEC.detect(tmp_path) == 0.95
    assert SPEC.detect(tmp_path / "annotations/panoptic_val.json") == 0.95
    assert SPEC.detect(tmp_path / "annotations/panoptic_val") == 0.0
    other = tmp_path / "other.json"
    other.write_text('{"images": []}')
    assert SPEC.detect(other) == 0.0


# ------------------------------------------------------------------------------------------ real fixture


def test_reads_the_datumaro_fixture() -> None:
    root = shared_data("format_fixtures", "datumaro", "coco_dataset", "coco_panoptic")
    assert SPEC.detect(root) == 0.95
    options = ReadOptions(policy=ErrorPolicy.SKIP)
    ds = SPEC.read(root, options)
    # the fixture's train PNG is 5x5 while its image is declared (and stored) 10x5: a real mismatch
    assert [(Path(p.file).name, p.where) for p in options.finish()] == [("a.png", "image 5 (a.jpg)")]
    assert "5x5" in options.problems[0].reason and "10x5" in options.problems[0].reason
    assert ds.ontology.names == ["a", "b"]
    assert all(c.kind is LabelKind.STUFF for c in ds.ontology.classes)
    a, b = ds.images
    assert (a.id, a.subset, a.size, a.annotations) == (5, "train", ImageSize(10, 5), ())
    assert (b.id, b.subset, b.size) == (40, "val", ImageSize(5, 10))
    assert b.extra == {"license": 0, "flickr_url": "", "coco_url": "", "date_captured": 0}
    assert b.media.path.name == "b.jpg"
    want = np.zeros((10, 5), int)
    want[:, :2] = 7
    want[:, 2:4] = 20
    got = {a.extra["segment_id"]: a for a in b.annotations}
    assert [a.id for a in b.annotations] == [7, 20]
    assert np.array_equal(got[7].shape.array, want == 7) and got[7].label == "a" and not got[7].crowd
    assert np.array_equal(got[20].shape.array, want == 20) and got[20].label == "b" and got[20].crowd
    assert ds.info["licenses"] == [{"name": "", "id": 0, "url": ""}]
    with pytest.raises(InvalidDataError, match=r"a\.png"):
        opts = ReadOptions()
        SPEC.read(root, opts)
        opts.finish()


def test_fixture_rewrite_is_read_back_identically(tmp_path: Path) -> None:
    root = shared_data("format_fixtures", "datumaro", "coco_dataset", "coco_panoptic")
    ds = SPEC.read(root, ReadOptions(policy=ErrorPolicy.SKIP))
    _, back = write_read(SPEC, ds, tmp_path / "out")
    assert [segments(i) for i in back.images] == [segments(i) for i in ds.images]
    assert [a.extra for a in back.images[1].annotations] == [{"segment_id": 7}, {"segment_id": 20}]
    assert (tmp_path / "out/images/val/b.jpg").read_bytes() == (root / "images/val/b.jpg").read_bytes()


# ------------------------------------------------------------------------------------------- bad input


@pytest.fixture
def written(tmp_path: Path) -> Path:
    dst = tmp_path / "ds"
    dst.mkdir()
    SPEC.write(_scene(), dst, WriteOptions())
    return dst


def _problems(root: Path) -> list:
    options = ReadOptions(policy=ErrorPolicy.SKIP)
    ds = SPEC.read(root, options)
    return [ds, options.finish()]


def _edit_json(root: Path, change) -> None:
    path = root / "annotations/panoptic_val.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


PNG = "annotations/panoptic_val/street/a.png"


def test_wrong_size_png_names_the_file(written: Path) -> None:
    Image.fromarray(np.zeros((8, 11, 3), np.uint8)).save(written / PNG)
    ds, problems = _problems(written)
    assert [(p.file, "11x8" in p.reason) for p in problems] == [(str(written / PNG), True)]
    assert ds.images[0].annotations == ()
    with pytest.raises(InvalidDataError, match=r"street/a\.png"):
        opts = ReadOptions()
        SPEC.read(written, opts)
        opts.finish()


def test_unlisted_segment_id_in_png_names_the_file(written: Path) -> None:
    rgb = np.asarray(Image.open(written / PNG).convert("RGB")).copy()
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(written / PNG)
    _, problems = _problems(written)
    assert [p.file for p in problems] == [str(written / PNG)]
    assert "not in segments_info" in problems[0].reason and str(1 + 2 * 256 + 3 * 65536) in problems[0].reason


def test_missing_png_is_a_problem(written: Path) -> None:
    (written / PNG).unlink()
    ds, problems = _problems(written)
    assert [(p.file, p.reason) for p in problems] == [(str(written / PNG), "panoptic PNG is missing")]
    assert len(ds.images) == 1


def test_unreadable_png_names_the_file(written: Path) -> None:
    (written / PNG).write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    _, problems = _problems(written)
    assert [p.file for p in problems] == [str(written / PNG)]


def test_unknown_category_and_empty_segment_are_problems(written: Path) -> None:
    def change(data: dict) -> None:
        infos = data["annotations"][0]["segments_info"]
        infos[0]["category_id"] = 999
        infos.append({"id": 123, "category_id": 26, "iscrowd": 0})

    _edit_json(written, change)
    ds, problems = _problems(written)
    reasons = sorted(p.reason for p in problems)
    assert reasons == ["segment id 123 has no pixels in a.png", "unknown category_id 999"]
    assert all(p.file.endswith("panoptic_val.json") for p in problems)
    assert len(ds.images[0].annotations) == 3  # the good segments are still read


def test_image_without_annotation_entry_is_a_problem(written: Path) -> None:
    _edit_json(written, lambda d: d["annotations"].clear())
    ds, problems = _problems(written)
    assert "no entry in annotations" in problems[0].reason and ds.images[0].annotations == ()


def test_path_traversal_in_png_name_is_refused(written: Path) -> None:
    def change(data: dict) -> None:
        data["annotations"][0]["file_name"] = "../../../etc/passwd.png"

    _edit_json(written, change)
    _, problems = _problems(written)
    assert "leaves the dataset folder" in problems[0].reason


def test_malformed_json_is_a_format_error(written: Path) -> None:
    (written / "annotations/panoptic_val.json").write_text("{not json")
    with pytest.raises(FormatError, match=r"panoptic_val\.json"):
        SPEC.read(written, ReadOptions())


def test_empty_folder_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="panoptic_"):
        SPEC.read(tmp_path, ReadOptions())


def test_image_without_size_cannot_be_written(tmp_path: Path) -> None:
    ds = _scene()
    ds = ds.with_images([ds.images[0].with_(size=None)])
    with pytest.raises(FormatError, match=r"street/a\.jpg"):
        SPEC.write(ds, tmp_path, WriteOptions())


def test_reads_a_single_json_file(written: Path, tmp_path: Path) -> None:
    shutil.copytree(written, tmp_path / "copy")
    ds = SPEC.read(tmp_path / "copy/annotations/panoptic_val.json", ReadOptions())
    assert len(ds.images[0].annotations) == 4


def test_mask_of_another_size_cannot_be_written(tmp_path: Path) -> None:
    ds = _scene()
    img = ds.images[0]
    bad = img.annotations[0].with_(shape=Mask.from_array(np.ones((3, 3), bool)))
    ds = ds.with_images([img.with_annotations([bad, *img.annotations[1:]])])
    with pytest.raises(FormatError, match="3x3 but the image is 10x8"):
        SPEC.write(ds, tmp_path, WriteOptions())


def test_class_ids_are_kept_where_they_fit() -> None:
    from seglab.formats.label_maps import assign_ids

    classes = [LabelClass("a", id=5), LabelClass("b", id=5), LabelClass("c"), LabelClass("d", id=-1)]
    assert assign_ids(classes, low=1, high=10) == {"a": 5, "b": 1, "c": 2, "d": 3}
    with pytest.raises(FormatError, match="do not fit"):
        assign_ids(classes, low=1, high=3)


@pytest.mark.parametrize("shapes", [6, 300])  # uint8 values, and more values than a byte holds
def test_png_painted_from_runs_holds_the_colours_of_the_painted_map(tmp_path: Path, shapes: int) -> None:
    from seglab.formats.label_maps import paint_runs, write_rgb_png, write_rgb_png_runs

    rng = np.random.default_rng(shapes)
    size = ImageSize(37, 23)
    masks = [Mask.from_array(rng.random(size.shape) < 0.2) for _ in range(shapes)]
    order = rng.permutation(shapes)[: shapes - 1].tolist()  # one shape left unpainted
    painting = paint_runs([m.rle["counts"] for m in masks], list(range(1, shapes + 1)), order, size)
    expected = np.zeros((size.width, size.height), dtype=np.int64)
    for i in order:
        expected[masks[i].array.T] = i + 1
    np.testing.assert_array_equal(painting.by_column, expected)
    colors = rng.integers(0, 256, (shapes + 1, 3)).astype(np.uint8)
    colors[0] = 0
    write_rgb_png_runs(tmp_path / "runs.png", painting, colors)
    write_rgb_png(tmp_path / "map.png", painting.by_column.T, colors)
    from_runs = np.asarray(Image.open(tmp_path / "runs.png"))
    np.testing.assert_array_equal(from_runs, colors[expected.T])
    np.testing.assert_array_equal(from_runs, np.asarray(Image.open(tmp_path / "map.png")))
