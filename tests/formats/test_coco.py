"""COCO: lossless round trips, real files (COCO, MMPose, Datumaro, labelme), pycocotools, bad input."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from seglab.core import (
    Annotation,
    Box,
    Dataset,
    FormatError,
    ImageRecord,
    ImageSize,
    Keypoints,
    LabelClass,
    LabelKind,
    Mask,
    Ontology,
    Polygon,
    Polyline,
    Skeleton,
    Source,
)
from seglab.core.ontology import COCO_PERSON_SIGMAS, AttributeSpec, AttributeType, ShapeType
from seglab.core.raster import polygon_to_mask, shape_to_mask
from seglab.core.validation import validate
from seglab.formats import coco, registry
from seglab.formats.base import ErrorPolicy, InvalidDataError, LossReport, ReadOptions, WriteOptions
from seglab.formats.coco import SPEC, jsonio, read_results, write_results
from seglab.formats.media import FileMedia
from tests.conftest import shared_data

KEYPOINT_FILES = [
    "coco/test_coco.json",
    "crowdpose/test_crowdpose.json",
    "ochuman/test_ochuman.json",
    "ap10k/test_ap10k.json",
    "animalpose/test_animalpose.json",
    "macaque/test_macaque.json",
]


# ------------------------------------------------------------------------------------------------ helpers


def _read(path: Path, policy: ErrorPolicy = ErrorPolicy.FAIL) -> tuple[Dataset, ReadOptions]:
    options = ReadOptions(policy=policy)
    dataset = SPEC.read(path, options)
    options.finish()
    return dataset, options


def _round_trip(dataset: Dataset, folder: Path, **write: Any) -> tuple[Dataset, LossReport]:
    """Write into an empty folder (as the registry does), then read it back strictly."""
    folder.mkdir(parents=True, exist_ok=False)
    write.setdefault("copy_images", False)
    report = SPEC.write(dataset, folder, WriteOptions(**write))
    back, _ = _read(folder)
    return back, report


def _write_json(folder: Path, name: str, data: Any) -> Path:
    path = folder / name
    path.write_text(json.dumps(data))  # allow_nan: NaN and Infinity literals are what bad files hold
    return path


def _quiet_coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def _assert_shape_equal(a: Any, b: Any) -> None:
    if isinstance(a, Box):
        # COCO stores width and height: x_max comes back as x + (x_max - x), equal up to rounding
        assert isinstance(b, Box) and b.rotation == a.rotation
        assert np.allclose(a.coordinates(), b.coordinates(), rtol=1e-12, atol=1e-9)
    else:
        assert a == b, (a, b)


def _assert_same(a: Dataset, b: Dataset) -> None:
    """Equal datasets, up to image order (files are read per subset) and box rounding."""
    assert a.ontology.names == b.ontology.names
    for ca, cb in zip(a.ontology.classes, b.ontology.classes, strict=True):
        assert ca.id is None or ca.id == cb.id  # classes without one get COCO ids 1..N
        assert (ca.parent, ca.kind, ca.color, ca.attributes, ca.shapes) == (
            cb.parent,
            cb.kind,
            cb.color,
            cb.attributes,
            cb.shapes,
        )
        assert ca.skeleton == cb.skeleton
        assert dict(ca.extra) == dict(cb.extra)
    assert (a.ontology.tags, a.ontology.image_attributes, a.ontology.full_coverage) == (
        b.ontology.tags,
        b.ontology.image_attributes,
        b.ontology.full_coverage,
    )
    assert dict(a.info) == dict(b.info)
    images_b = {(i.subset, i.id): i for i in b.images}
    assert len(images_b) == len(b.images) == len(a.images)
    for ia in a.images:
        ib = images_b[(ia.subset, ia.id)]
        assert (ia.file_name, ia.size, ia.tags, dict(ia.attributes), dict(ia.extra)) == (
            ib.file_name,
            ib.size,
            ib.tags,
            dict(ib.attributes),
            dict(ib.extra),
        )
        assert len(ia.annotations) == len(ib.annotations)
        for x, y in zip(ia.annotations, ib.annotations, strict=True):
            assert (x.id, x.label, x.crowd, x.score, x.source, dict(x.attributes), dict(x.extra)) == (
                y.id,
                y.label,
                y.crowd,
                y.score,
                y.source,
                dict(y.attributes),
                dict(y.extra),
            )
            assert (x.group_id, x.track_id, x.z_order, x.uncertainty) == (
                y.group_id,
                y.track_id,
                y.z_order,
                y.uncertainty,
            )
            _assert_shape_equal(x.shape, y.shape)


# ------------------------------------------------------------------------------------------ round trip

coords = st.floats(-20, 80, allow_nan=False, width=64)
scalars = st.one_of(
    st.booleans(), st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False), st.text(max_size=8)
)
attr_dicts = st.dictionaries(st.sampled_from(["occluded", "colour", "truncated", "n"]), scalars, max_size=3)
extras = st.dictionaries(st.sampled_from(["note", "review", "vendor_id"]), st.text(max_size=6), max_size=2)


@st.composite
def _polygons(draw: st.DrawFn) -> Polygon:
    rings = []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(3, 7))
        ring = draw(st.lists(st.tuples(coords, coords), min_size=n, max_size=n))
        if ring[0] == ring[-1]:  # a repeated first point is a closed ring: seglab stores rings open
            ring = [*ring, (ring[0][0] + 1.5, ring[0][1] + 0.25)]
        rings.append(np.array(ring).ravel())
    polygon = Polygon.from_flat(rings)
    if any(len(p.exterior) < 3 for p in polygon.parts):
        return Polygon.from_flat([[0.0, 0.0, 5.0, 0.0, 5.0, 5.0]])
    return polygon


@st.composite
def _datasets(draw: st.DrawFn) -> Dataset:
    n_classes = draw(st.integers(1, 4))
    names = ["person", "car", "cat", "road"][:n_classes]
    with_ids = draw(st.booleans())
    ids = draw(st.lists(st.integers(0, 500), min_size=n_classes, max_size=n_classes, unique=True))
    classes = []
    for i, name in enumerate(names):
        skeleton = None
        if draw(st.booleans()):
            k = draw(st.integers(1, 5))
            edges = draw(st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), max_size=4))
            sigmas = draw(st.none() | st.just(tuple(0.05 + 0.01 * j for j in range(k))))
            skeleton = Skeleton(tuple(f"p{j}" for j in range(k)), tuple(edges), sigmas)
        classes.append(
            LabelClass(
                name,
                color=draw(st.tuples(*[st.integers(0, 255)] * 3)),
                kind=draw(st.sampled_from(LabelKind)),
                skeleton=skeleton,
                id=ids[i] if with_ids else None,
                parent=draw(st.none() | st.sampled_from(["vehicle", "living"])),
                attributes=(AttributeSpec("occluded", AttributeType.BOOL, default=False),) if i == 0 else (),
            )
        )
    ontology = Ontology(
        tuple(classes), tags=tuple(draw(st.lists(st.sampled_from(["day", "night"]), unique=True)))
    )
    images, next_id = [], 1
    image_ids = draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=3, unique=True))
    for image_id in image_ids:
        size = ImageSize(draw(st.integers(4, 24)), draw(st.integers(4, 24)))
        anns = []
        for _ in range(draw(st.integers(0, 4))):
            cls = draw(st.sampled_from(classes))
            kind = draw(st.sampled_from(["box", "polygon", "mask", "keypoints"]))
            crowd = False
            if kind == "keypoints" and cls.skeleton is not None:
                k = len(cls.skeleton)
                xy = draw(
                    st.lists(st.tuples(coords, coords, st.sampled_from([0, 1, 2])), min_size=k, max_size=k)
                )
                shape: Any = Keypoints(np.array(xy, dtype=np.float64))
            elif kind == "mask":
                pixels = np.array(draw(st.lists(st.booleans(), min_size=size.area, max_size=size.area)))
                pixels = pixels.reshape(size.shape)
                pixels[draw(st.integers(0, size.height - 1)), draw(st.integers(0, size.width - 1))] = True
                shape, crowd = Mask.from_array(pixels), draw(st.booleans())
            elif kind == "polygon":
                shape, crowd = draw(_polygons()), draw(st.booleans())
            else:
                x, y = draw(coords), draw(coords)
                shape = Box(x, y, x + draw(st.floats(0, 30)), y + draw(st.floats(0, 30)))
            score = draw(st.none() | st.floats(0, 1))
            anns.append(
                Annotation(
                    id=next_id,
                    label=cls.name,
                    shape=shape,
                    attributes=draw(attr_dicts),
                    source=Source.MODEL if score is not None else Source.HUMAN,
                    score=score,
                    group_id=draw(st.none() | st.integers(1, 9)),
                    track_id=draw(st.none() | st.integers(1, 9)),
                    z_order=draw(st.integers(-2, 2)),
                    uncertainty=draw(st.none() | st.floats(0, 1)),
                    crowd=crowd,
                    extra=draw(extras),
                )
            )
            next_id += 1
        images.append(
            ImageRecord(
                id=image_id,
                file_name=draw(st.sampled_from(["a.jpg", "dir/b.png", "c d.jpg"])) + f".{image_id}.jpg",
                size=size,
                annotations=tuple(anns),
                subset=draw(st.sampled_from([None, "train", "val"])),
                tags=tuple(draw(st.lists(st.sampled_from(["day", "night"]), unique=True))),
                attributes=draw(attr_dicts),
                extra=draw(st.dictionaries(st.sampled_from(["license", "coco_url"]), st.integers(0, 9))),
            )
        )
    info = draw(st.sampled_from([{}, {"info": {"description": "x", "year": 2024}, "licenses": [{"id": 1}]}]))
    return Dataset(ontology, tuple(images), info)


@settings(max_examples=25)
@given(_datasets())
def test_round_trip_is_lossless(dataset: Dataset) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        back, report = _round_trip(dataset, Path(tmp) / "out")
    assert not report, report.lines()
    _assert_same(dataset, back)


def test_polygon_holes_become_pixel_exact_rle(tmp_path: Path) -> None:
    donut = Polygon.from_rings([[1, 1], [15, 1], [15, 12], [1, 12]], holes=[[[5, 4], [9, 4], [9, 8], [5, 8]]])
    ds = Dataset(
        Ontology.from_names(["ring"]),
        (ImageRecord(1, "a.png", ImageSize(20, 16), (Annotation(7, "ring", donut),)),),
    )
    back, report = _round_trip(ds, tmp_path / "out")
    assert report.counts == {"polygon holes written as RLE masks": 1}
    shape = back.images[0].annotations[0].shape
    assert isinstance(shape, Mask)
    expected = polygon_to_mask(donut, 20, 16)
    assert np.array_equal(shape.array, expected.array) and not shape.array[5, 6]


def test_losses_are_reported_never_silent(tmp_path: Path) -> None:
    anns = (
        Annotation(1, "a", Polyline(np.array([[0, 0], [5, 5]]))),
        Annotation(2, "a", Box(2, 2, 8, 6, rotation=30.0)),
        Annotation(3, "a", Polygon.from_flat([[0, 0, 4, 0]])),
    )
    ds = Dataset(Ontology.from_names(["a"]), (ImageRecord(1, "x.jpg", ImageSize(10, 10), anns),))
    back, report = _round_trip(ds, tmp_path / "out")
    assert set(report.counts) == {
        "polylines left out (COCO has no open lines)",
        "rotated boxes written as 4-corner polygons",
        "polygon parts with fewer than 3 points left out",
        "polygons without any part of 3 or more points left out",
    }
    (rotated,) = back.images[0].annotations
    assert isinstance(rotated.shape, Polygon)
    assert np.allclose(rotated.shape.parts[0].exterior, Box(2, 2, 8, 6, rotation=30.0).corners())


def test_write_layout_ids_and_images(tmp_path: Path) -> None:
    src = tmp_path / "src.png"
    Image.fromarray(np.full((6, 9, 3), 200, np.uint8)).save(src)
    classes = (LabelClass("b", id=7), LabelClass("a", id=7), LabelClass("c"))
    anns = (
        Annotation(5, "a", Box(0, 0, 2, 2)),
        Annotation(5, "b", Box(1, 1, 3, 3)),
        Annotation(9, "new", Box(0, 0, 1, 1)),
    )
    ds = Dataset(
        Ontology(classes),
        (
            ImageRecord(3, "sub/x.png", None, anns, media=FileMedia(src)),
            ImageRecord(4, "y.png", ImageSize(9, 6), subset="val"),
        ),
    )
    out = tmp_path / "out"
    out.mkdir()
    report = SPEC.write(ds, out, WriteOptions(copy_images=True))
    assert report.counts == {"image files not copied (no pixels known)": 1}
    assert sorted(p.name for p in (out / "annotations").iterdir()) == [
        "instances_default.json",
        "instances_val.json",
    ]
    assert (out / "images" / "default" / "sub" / "x.png").read_bytes() == src.read_bytes()
    doc = json.loads((out / "annotations" / "instances_default.json").read_text())
    assert [(c["name"], c["id"]) for c in doc["categories"]] == [("b", 7), ("a", 8), ("c", 9), ("new", 10)]
    assert [a["id"] for a in doc["annotations"]] == [1, 2, 3]  # duplicate ids renumbered
    assert doc["images"][0]["width"] == 9 and doc["images"][0]["height"] == 6  # from the image header
    back, _ = _read(out)
    assert back.subsets() == [None, "val"]
    assert back.images[0].media is not None and back.images[0].media.size() == ImageSize(9, 6)
    assert [a.label for a in back.images[0].annotations] == ["a", "b", "new"]


def test_default_subset_option_and_unsafe_names(tmp_path: Path) -> None:
    ds = Dataset(Ontology.from_names(["a"]), (ImageRecord(1, "x.jpg", ImageSize(4, 4)),))
    out = tmp_path / "o1"
    registry.write_dataset(ds, out, "coco", options=WriteOptions(copy_images=False, default_subset="train"))
    assert [p.name for p in (out / "annotations").iterdir()] == ["instances_train.json"]
    bad = ds.with_images([ds.images[0].with_(file_name="../../etc/passwd")])
    out2 = tmp_path / "o2"
    out2.mkdir()
    with pytest.raises(FormatError, match="leaves the dataset folder"):
        SPEC.write(bad, out2, WriteOptions(copy_images=False))
    with pytest.raises(FormatError, match="subset name"):
        SPEC.write(ds.with_images([ds.images[0].with_(subset="../x")]), out2, WriteOptions(copy_images=False))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_non_finite_values_fail_the_write_with_a_reason(tmp_path: Path) -> None:
    poly = Polygon.from_flat([[0, 0, float("nan"), 0, 3, 3]])
    ds = Dataset(Ontology.from_names(["a"]), (ImageRecord(1, "x.jpg", None, (Annotation(1, "a", poly),)),))
    with pytest.raises(FormatError, match="validate"):
        SPEC.write(ds, tmp_path, WriteOptions(copy_images=False))


# --------------------------------------------------------------------------------------- pycocotools


def test_pycocotools_reads_our_output_and_agrees_on_every_mask(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    size = ImageSize(40, 30)
    blob = np.zeros(size.shape, bool)
    blob[5:20, 8:30] = True
    blob[9:12, 12:15] = False
    anns = [
        Annotation(
            1,
            "thing",
            Polygon.from_flat([[3.2, 4.7, 20.1, 2.0, 25.5, 18.3, 6.0, 22.9], [30, 20, 38, 21, 35, 28.5]]),
        ),
        Annotation(2, "thing", Mask.from_array(rng.random(size.shape) > 0.6)),
        Annotation(3, "thing", Mask.from_array(blob), crowd=True),
        Annotation(
            4, "thing", Polygon.from_rings([[0, 0], [20, 0], [20, 20], [0, 20]], [[[5, 5], [9, 5], [9, 9]]])
        ),
        Annotation(5, "thing", Box(1.5, 2.25, 10.75, 12.0)),
        Annotation(6, "thing", Polygon.from_flat([[10, 10, 14, 10, 14, 14, 10, 14]]), crowd=True),
    ]
    ds = Dataset(Ontology.from_names(["thing"]), (ImageRecord(1, "a.png", size, tuple(anns)),))
    out = tmp_path / "out"
    out.mkdir()
    SPEC.write(ds, out, WriteOptions(copy_images=False))
    api = _quiet_coco(out / "annotations" / "instances_default.json")
    ours = {a.id: a for a in ds.images[0].annotations}
    for ann in api.loadAnns(api.getAnnIds()):
        shape = ours[ann["id"]].shape
        expected = shape_to_mask(shape, size).array
        if isinstance(shape, Box):
            assert ann["segmentation"] == [] and ann["area"] == shape.area
            assert ann["bbox"] == [1.5, 2.25, 9.25, 9.75]
            continue
        assert np.array_equal(api.annToMask(ann).astype(bool), expected), ann["id"]
        if isinstance(shape, Polygon) and not shape.has_holes:  # COCO's polygon area: the shoelace area
            assert ann["area"] == pytest.approx(shape.area, rel=1e-12)
        else:  # masks (and holes, written as RLE): the pixel count
            assert ann["area"] == expected.sum()
        assert ann["iscrowd"] == int(ours[ann["id"]].crowd)
    crowd = api.loadAnns([3])[0]["segmentation"]
    assert isinstance(crowd["counts"], list)  # crowd regions as uncompressed RLE, as COCO has them


@pytest.mark.parametrize("name", KEYPOINT_FILES)
def test_real_files_written_back_field_for_field(name: str, tmp_path: Path) -> None:
    path = shared_data("coco_keypoints", name)
    ds, _ = _read(path)
    back, report = _round_trip(ds, tmp_path / "out")
    assert not report
    _assert_same(ds, back)
    original = json.loads(path.read_text())
    written = json.loads((tmp_path / "out" / "annotations" / "instances_default.json").read_text())
    for a, b in zip(original["annotations"], written["annotations"], strict=True):
        assert {k: b[k] for k in a} == a  # every source field, segmentation and area included
    for a, b in zip(original["images"], written["images"], strict=True):
        assert {k: b[k] for k in a} == a
    api = _quiet_coco(tmp_path / "out" / "annotations" / "instances_default.json")
    for ann in api.loadAnns(api.getAnnIds()):
        seg = ann.get("segmentation")
        if not seg:  # a person given by its box and keypoints only
            continue
        h, w = api.imgs[ann["image_id"]]["height"], api.imgs[ann["image_id"]]["width"]
        rle = coco_mask.frPyObjects(seg, h, w) if isinstance(seg, list) else seg
        expected = coco_mask.decode(coco_mask.merge(rle) if isinstance(rle, list) else rle)
        assert np.array_equal(api.annToMask(ann), expected)


# ---------------------------------------------------------------------------------------- real files


@pytest.mark.parametrize("name", KEYPOINT_FILES)
def test_keypoint_files_read_completely(name: str) -> None:
    path = shared_data("coco_keypoints", name)
    raw = json.loads(path.read_text())
    ds, options = _read(path)
    assert not options.problems
    assert len(ds) == len(raw["images"])
    assert [(c.name, c.id) for c in ds.ontology] == [(c["name"], c["id"]) for c in raw["categories"]]
    by_id = {a.id: a for _, a in ds.annotations()}
    groups: dict[int | None, list[Annotation]] = {}
    for _, a in ds.annotations():
        groups.setdefault(a.group_id, []).append(a)
    count = 0
    for ann in raw["annotations"]:
        first = by_id[ann["id"]]  # the outline (or box) keeps the COCO id
        members = groups[first.group_id] if first.group_id is not None else [first]
        count += len(members)
        assert first.group_id in (None, ann["id"]) and members[0] is first
        (points,) = [a for a in members if isinstance(a.shape, Keypoints)]
        assert np.array_equal(points.shape.points, np.reshape(ann["keypoints"], (-1, 3)))
        assert points.extra.get("num_keypoints", points.shape.num_labeled) == ann["num_keypoints"]
        assert set(np.unique(points.shape.points[:, 2])) <= {0, 1, 2}
        seg = ann.get("segmentation")
        if isinstance(seg, list) and seg:
            assert first.shape == Polygon.from_flat(seg)
        elif isinstance(seg, dict):
            assert isinstance(first.shape, Mask) and first.shape.area > 0
        elif first is not points:
            assert isinstance(first.shape, Box)
            assert np.allclose(first.shape.xywh(), ann["bbox"], rtol=1e-12, atol=1e-9)
        boxes = [a for a in members if isinstance(a.shape, Box)]
        if isinstance(seg, dict | list) and seg and boxes:  # OCHuman: a person box far off the mask's box
            assert np.allclose(boxes[0].shape.xywh(), ann["bbox"])
    assert ds.annotation_count == count
    for cat in raw["categories"]:
        cls = ds.ontology[cat["name"]]
        assert cls.skeleton is not None and cls.skeleton.points == tuple(cat["keypoints"])
        n = len(cat["keypoints"])
        if all(1 <= v <= n for e in cat["skeleton"] for v in e):
            assert cls.skeleton.edges == tuple((a - 1, b - 1) for a, b in cat["skeleton"])
        else:  # CrowdPose ships COCO's 17-point skeleton beside its 14 names: kept verbatim, not guessed
            assert cls.skeleton.edges == () and cls.extra["skeleton"] == cat["skeleton"]
    for image in ds.images:
        assert image.media is not None and image.media.size() == image.size


def test_coco_person_gets_the_coco_sigmas_and_others_do_not() -> None:
    person, _ = _read(shared_data("coco_keypoints", "coco", "test_coco.json"))
    assert person.ontology["person"].skeleton.sigmas == COCO_PERSON_SIGMAS  # type: ignore[union-attr]
    crowd, _ = _read(shared_data("coco_keypoints", "crowdpose", "test_crowdpose.json"))
    assert crowd.ontology["person"].skeleton.sigmas is None  # type: ignore[union-attr]
    animals, _ = _read(shared_data("coco_keypoints", "ap10k", "test_ap10k.json"))
    assert len(animals.ontology) == 54 and animals.ontology["antelope"].parent == "Bovidae"
    assert animals.info["info"]["description"] == "AP-10k"


def test_folder_of_json_files_is_one_subset_per_file() -> None:
    folder = shared_data("coco_keypoints", "coco")
    assert SPEC.detect(folder) == 0.85
    ds, _ = _read(folder)  # the results list beside them is not ground truth and is not read
    assert ds.subsets() == ["test_coco", "test_coco_wholebody", "test_keypoint_partition_metric"]
    assert ds.annotation_count == 3 * 14 * 2  # every person: its polygon and its keypoints
    wholebody = [a for i, a in ds.annotations() if i.subset == "test_coco_wholebody"]
    assert len(wholebody[0].extra["face_kpts"]) == 68 * 3  # unknown keys stay with the outline


def test_datumaro_instances_fixture() -> None:
    folder = shared_data("format_fixtures", "datumaro", "coco_dataset", "coco_instances")
    assert SPEC.detect(folder) == 0.9
    ds, _ = _read(folder)
    assert ds.ontology.names == ["a", "b", "c"] and ds.subsets() == ["train", "val"]
    train, val = ds.images
    assert train.media is not None and train.media.path.parts[-3:] == ("images", "train", "a.jpg")
    (box,) = train.annotations
    assert box.label == "b" and box.shape == Box(2.0, 2.0, 5.0, 3.0)
    polygon, crowd = val.annotations
    assert polygon.attributes == {"x": 1, "y": "hello"}
    assert polygon.shape == Polygon.from_flat([[0, 0, 1, 0, 1, 2, 0, 2]])
    assert isinstance(crowd.shape, Mask) and crowd.crowd and crowd.shape.area == 20
    assert len({a.id for _, a in ds.annotations()}) == 3  # both files use id 1: renumbered


def test_datumaro_keypoints_fixture_and_its_zero_based_skeleton(tmp_path: Path) -> None:
    folder = shared_data("format_fixtures", "datumaro", "coco_dataset", "coco_person_keypoints")
    ds, _ = _read(folder)
    cls = ds.ontology["a"]
    assert cls.skeleton == Skeleton(("1", "2", "3"), ((0, 1), (1, 2)))
    box, points = ds.images[0].annotations  # "segmentation": [] beside keypoints: the bbox is the object
    assert box.shape == Box(2, 2, 5, 3) and isinstance(points.shape, Keypoints)
    assert box.group_id == points.group_id is not None
    region, kp = ds.images[1].annotations[2:]  # a crowd RLE with keypoints: a mask and its keypoints
    assert isinstance(region.shape, Mask) and region.crowd and region.shape.area == 20
    assert isinstance(kp.shape, Keypoints) and kp.crowd and kp.group_id == region.group_id
    assert region.extra["bbox"] == [0.0, 0.0, 1.0, 9.0]  # a pixel off the mask's box: kept, written back
    back, _ = _round_trip(ds, tmp_path / "out")
    _assert_same(ds, back)


def test_datumaro_panoptic_is_not_coco_instances() -> None:
    folder = shared_data("format_fixtures", "datumaro", "coco_dataset", "coco_panoptic")
    assert SPEC.detect(folder) == 0.0
    assert SPEC.detect(folder / "annotations" / "panoptic_train.json") == 0.0
    with pytest.raises(FormatError, match="no COCO annotation file"):
        _read(folder)


def test_labelme_coco_export(tmp_path: Path) -> None:
    folder = shared_data("labelme_examples", "examples", "instance_segmentation", "data_dataset_coco")
    ds, _ = _read(folder)
    assert len(ds) == 3 and ds.annotation_count == 12 and len(ds.ontology) == 21
    assert ds.ontology.classes[0].name == "_background_" and ds.ontology.classes[0].id == 0
    assert ds.count_by_type()["polygon"] == 12
    assert all(i.media is not None and i.file_name.startswith("JPEGImages/") for i in ds.images)
    assert ds.info["type"] == "instances"
    back, _ = _round_trip(ds, tmp_path / "out", copy_images=True)
    _assert_same(ds, back)
    assert (tmp_path / "out" / "images" / "default" / "JPEGImages" / "2011_000003.jpg").is_file()


# ------------------------------------------------------------------------------------------- results


def test_results_attach_to_reference_and_reproduce_the_reference_ap(tmp_path: Path) -> None:
    folder = shared_data("coco_keypoints", "coco")
    gt, _ = _read(folder / "test_coco.json")
    options = ReadOptions()
    pred = read_results(folder / "test_coco_det_AP_H_56.json", gt, options)
    assert not options.finish()
    raw = json.loads((folder / "test_coco_det_AP_H_56.json").read_text())
    assert pred.annotation_count == len(raw) == 118
    assert [i.id for i in pred.images] == [i.id for i in gt.images]
    assert all(a.source is Source.MODEL and a.score is not None for _, a in pred.annotations())
    first = next(a for i, a in pred.annotations() if i.id == raw[0]["image_id"])
    assert first.score == raw[0]["score"] and np.allclose(first.shape.xywh(), raw[0]["bbox"])
    gt_dir = tmp_path / "gt"
    gt_dir.mkdir()
    SPEC.write(gt, gt_dir, WriteOptions(copy_images=False))
    assert not write_results(pred, tmp_path / "res.json")
    with contextlib.redirect_stdout(io.StringIO()):
        api = COCO(str(gt_dir / "annotations" / "instances_default.json"))
        evaluator = COCOeval(api, api.loadRes(str(tmp_path / "res.json")), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    reference = [0.789, 0.982, 0.982, 0.650, 0.767, 0.872, 0.279, 0.829, 0.843, 0.650, 0.820, 0.914]
    assert np.round(evaluator.stats, 3).tolist() == reference  # the numbers in the data's SOURCE.md
    again = read_results(tmp_path / "res.json", gt, ReadOptions())
    for (_, a), (_, b) in zip(pred.annotations(), again.annotations(), strict=True):
        assert a.score == b.score and a.label == b.label
        _assert_shape_equal(a.shape, b.shape)


def test_results_round_trip_masks_and_keypoints(tmp_path: Path) -> None:
    sk = Skeleton(("a", "b"), ((0, 1),))
    onto = Ontology((LabelClass("p", skeleton=sk, id=3), LabelClass("q", id=5)))
    m = np.zeros((8, 10), bool)
    m[2:5, 3:9] = True
    anns = (
        Annotation(
            1, "p", Keypoints(np.array([[1.5, 2, 0.9], [4, 5.25, 0.2]])), source=Source.MODEL, score=0.7
        ),
        Annotation(2, "q", Mask.from_array(m), source=Source.MODEL, score=0.5, crowd=True),
        Annotation(3, "q", Box(0, 0, 2, 2)),
    )
    ref = Dataset(onto, (ImageRecord(11, "x.jpg", ImageSize(10, 8), anns),))
    report = write_results(ref, tmp_path / "r.json")
    assert report.counts == {"annotations without a score written with score 1.0": 1}
    back = read_results(
        tmp_path / "r.json", ref.with_images([ref.images[0].with_annotations(())]), ReadOptions()
    )
    got = back.images[0].annotations
    assert [a.label for a in got] == ["p", "q", "q"] and [a.score for a in got] == [0.7, 0.5, 1.0]
    assert got[0].shape == anns[0].shape and got[1].shape == anns[1].shape
    assert all(a.source is Source.MODEL for a in got)


def test_results_reject_unknown_images_and_categories(tmp_path: Path) -> None:
    ref = Dataset(Ontology((LabelClass("a", id=1),)), (ImageRecord(1, "x.jpg", ImageSize(9, 9)),))
    path = _write_json(
        tmp_path,
        "r.json",
        [
            {"image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2], "score": 0.9},
            {"image_id": 2, "category_id": 1, "bbox": [0, 0, 2, 2], "score": 0.9},
            {"image_id": 1, "category_id": 4, "bbox": [0, 0, 2, 2], "score": 0.9},
            {"image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2], "score": float("nan")},
        ],
    )
    options = ReadOptions(policy=ErrorPolicy.SKIP)
    pred = read_results(path, ref, options)
    assert pred.annotation_count == 1
    problems = [str(p) for p in options.finish()]
    assert problems == [
        f"{path}: result #1 (image 2): image_id 2 is not an image of the reference dataset",
        f"{path}: result #2 (image x.jpg): category_id 4 is not a category of the reference dataset",
        f"{path}: result #3 (image x.jpg): score nan is not a finite number",
    ]


def test_results_list_is_detected_but_needs_a_reference(tmp_path: Path) -> None:
    path = shared_data("coco_keypoints", "coco", "test_coco_det_AP_H_56.json")
    assert 0 < SPEC.detect(path) < 0.5
    with pytest.raises(FormatError, match="read_results"):
        _read(path)


# ---------------------------------------------------------------------------------------- detection


def test_detect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert SPEC.detect(shared_data("coco_keypoints", "coco", "test_coco.json")) == 0.95
    assert SPEC.detect(tmp_path) == 0.0
    _write_json(tmp_path, "labelme.json", {"shapes": [], "imagePath": "x.jpg"})
    _write_json(tmp_path, "captions_val.json", {"images": [], "annotations": [{"caption": "x"}]})
    assert SPEC.detect(tmp_path) == 0.0
    (tmp_path / "notes.txt").write_text("{}")
    assert SPEC.detect(tmp_path / "notes.txt") == 0.0
    (tmp_path / "broken.json").write_text("{")
    assert SPEC.detect(tmp_path / "broken.json") == 0.0
    big = _write_json(tmp_path, "big.json", {"info": {"x": "y" * 5000}, "categories": [], "images": []})
    monkeypatch.setattr(coco.detection, "FULL_PARSE_BYTES", 100)  # the byte scan for files too big to parse
    assert SPEC.detect(big) == 0.95
    results = _write_json(
        tmp_path, "res.json", [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}] * 20
    )
    assert SPEC.detect(results) == 0.3
    panoptic = _write_json(
        tmp_path, "p.json", {"images": [], "categories": [], "annotations": [{"segments_info": []}]}
    )
    assert SPEC.detect(panoptic) == 0.0


# ----------------------------------------------------------------------------------------- bad input


def _base() -> dict[str, Any]:
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 8}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3], "iscrowd": 0},
        ],
    }


BAD_ANNOTATIONS = [
    ({"category_id": 99, "bbox": [0, 0, 1, 1]}, "annotation 2 (a.jpg)", "category_id 99 is not a category"),
    ({"image_id": 5, "bbox": [0, 0, 1, 1]}, "annotation 2 (image_id 5)", "image_id 5 is not an image"),
    ({"segmentation": [[0, 0, float("nan"), 1, 2, 2]]}, "annotation 2 (a.jpg)", "NaN"),
    ({"segmentation": [[0, 0, 4, 4]]}, "annotation 2 (a.jpg)", "polygon has 2 points"),
    ({"segmentation": [[0, 0, 4, 4, 5]]}, "annotation 2 (a.jpg)", "odd number of coordinates"),
    ({"segmentation": [[[0, 0], [4, 4], [4, 0]]]}, "annotation 2 (a.jpg)", "flat list"),
    ({"segmentation": {"size": [8, 10], "counts": ""}}, "annotation 2 (a.jpg)", "empty RLE"),
    ({"segmentation": {"size": [8, 10], "counts": []}}, "annotation 2 (a.jpg)", "empty RLE"),
    ({"segmentation": {"size": [8, 10], "counts": [80]}}, "annotation 2 (a.jpg)", "covers no pixel"),
    ({"segmentation": {"size": [8, 10], "counts": [10, 5]}}, "annotation 2 (a.jpg)", "cover 15 pixels"),
    ({"segmentation": {"size": [8, 10], "counts": "0ZZZZZZZZ1"}}, "annotation 2 (a.jpg)", "RLE"),
    ({"segmentation": {"size": [8, 10], "counts": "a"}}, "annotation 2 (a.jpg)", "truncated"),
    ({"segmentation": {"size": [8], "counts": "1"}}, "annotation 2 (a.jpg)", "RLE size"),
    ({"segmentation": "x"}, "annotation 2 (a.jpg)", "segmentation must be"),
    ({"bbox": [0, 0, -2, 3]}, "annotation 2 (a.jpg)", "negative width or height"),
    ({"bbox": [0, 0, float("inf"), 3]}, "annotation 2 (a.jpg)", "NaN or infinite"),
    ({"bbox": [0, 0, 3]}, "annotation 2 (a.jpg)", "[x, y, width, height]"),
    ({"keypoints": [1, 2, 2, 3]}, "annotation 2 (a.jpg)", "triplets"),
    ({"iscrowd": 3, "bbox": [0, 0, 1, 1]}, "annotation 2 (a.jpg)", "iscrowd"),
    ({"score": "high", "bbox": [0, 0, 1, 1]}, "annotation 2 (a.jpg)", "score"),
    ({}, "annotation 2 (a.jpg)", "no segmentation, bbox or keypoints"),
    ({"id": 1, "bbox": [0, 0, 1, 1]}, "annotation 1 (a.jpg)", "used twice"),
]


@pytest.mark.parametrize(("change", "where", "reason"), BAD_ANNOTATIONS)
def test_bad_annotation_is_rejected_with_file_place_and_reason(
    change: dict[str, Any], where: str, reason: str, tmp_path: Path
) -> None:
    data = _base()
    data["annotations"].append({"id": 2, "image_id": 1, "category_id": 1, **change})
    path = _write_json(tmp_path, "instances_x.json", data)
    with pytest.raises(InvalidDataError) as failed:
        _read(path)
    (problem,) = failed.value.problems
    assert (problem.file, problem.where) == (str(path), where)
    assert reason in problem.reason
    ds, _ = _read(path, ErrorPolicy.SKIP)  # the good annotation stays, the bad one is left out
    assert [a.id for _, a in ds.annotations()] == [1]


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ({"width": float("nan")}, "not positive integers"),
        ({"height": -8}, "not positive integers"),
        ({"file_name": "../../etc/passwd"}, "leaves the dataset folder"),
        ({"id": "one"}, "not an integer"),
    ],
)
def test_bad_image_is_rejected_with_its_annotations(
    image: dict[str, Any], reason: str, tmp_path: Path
) -> None:
    data = _base()
    data["images"][0].update(image)
    path = _write_json(tmp_path, "instances_x.json", data)
    ds, options = _read(path, ErrorPolicy.SKIP)
    assert len(ds) == 0
    assert reason in options.problems[0].reason and options.problems[0].where.startswith("image ")
    assert len(options.problems) == 2  # the image and the annotation that needed it


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "instances_x.json"
    path.write_text('{\n  "images": [],\n  "categories": [,]\n}')
    with pytest.raises(FormatError) as failed:
        _read(path)
    assert failed.value.file == str(path) and failed.value.where == "line 3 column 18"
    path.write_text('{"images": {}, "categories": []}')
    with pytest.raises(FormatError, match="not a COCO file"):
        _read(path)
    path.write_text('{"images": [], "categories": [], "annotations": {}}')
    with pytest.raises(FormatError, match="not a COCO file"):
        _read(path)


def test_bad_categories_and_conflicting_images(tmp_path: Path) -> None:
    data = _base()
    data["categories"] += [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}, {"id": "x", "name": "e"}]
    ann_dir = tmp_path / "annotations"
    ann_dir.mkdir()
    _write_json(ann_dir, "instances_val.json", data)
    other = _base()
    other["images"][0]["file_name"] = "b.jpg"
    other["annotations"][0]["id"] = 2
    _write_json(ann_dir, "person_keypoints_val.json", other)
    ds, options = _read(tmp_path, ErrorPolicy.SKIP)
    reasons = [(p.where, p.reason) for p in options.problems]
    assert reasons[:3] == [
        ("category 1 (dog)", "category id 1 is used twice"),
        ("category 2 (cat)", "category name 'cat' is used by another id"),
        ("category x (e)", "category id 'x' is not an integer"),
    ]
    assert reasons[3][0] == "image 1 (b.jpg)" and "'a.jpg'" in reasons[3][1]
    assert reasons[4] == ("annotation 2 (image_id 1)", "its image 1 was rejected")
    assert len(ds) == 1 and ds.annotation_count == 1


def test_same_subset_files_merge_images_and_keep_distinct_annotations(tmp_path: Path) -> None:
    ann_dir = tmp_path / "annotations"
    ann_dir.mkdir()
    instances = _base()
    instances["annotations"][0]["segmentation"] = [[1, 1, 4, 1, 4, 4]]
    keypoints = _base()
    keypoints["images"][0]["license"] = 3
    keypoints["categories"] = [{"id": 1, "name": "cat", "keypoints": ["nose", "tail"], "skeleton": [[1, 2]]}]
    keypoints["annotations"][0].update(
        keypoints=[2, 2, 2, 0, 0, 0], num_keypoints=1, segmentation=[[1, 1, 4, 1, 4, 4]]
    )
    _write_json(ann_dir, "instances_train.json", instances)
    _write_json(ann_dir, "person_keypoints_train.json", keypoints)
    ds, _ = _read(tmp_path)
    (image,) = ds.images
    assert image.subset == "train" and image.extra == {"license": 3}
    polygon, region, points = image.annotations  # the keypoints file's person: its outline and keypoints
    assert isinstance(polygon.shape, Polygon) and isinstance(points.shape, Keypoints)
    assert region.shape == polygon.shape and region.group_id == points.group_id == region.id
    assert len({polygon.id, region.id, points.id}) == 3  # both files use id 1: renumbered
    assert ds.ontology["cat"].skeleton == Skeleton(("nose", "tail"), ((0, 1),))


def test_rle_string_decoder_matches_pycocotools() -> None:
    rng = np.random.default_rng(0)
    for shape in [(1, 1), (7, 3), (40, 50), (200, 300)]:
        for density in (0.02, 0.5, 0.98):
            mask = Mask.from_array(rng.random(shape) < density)
            runs = coco.decode_counts(mask.rle_json()["counts"])
            assert runs.tolist() == mask.uncompressed_counts()


# ------------------------------------------------------------------------------ persons, groups, streaming


def test_persons_are_outline_and_keypoints_and_merge_back(tmp_path: Path) -> None:
    path = shared_data("coco_keypoints", "coco", "test_coco.json")
    raw = json.loads(path.read_text())
    ds, _ = _read(path)
    ids = [a["id"] for a in raw["annotations"]]
    offset = max(ids) - min(ids) + 1  # the keypoints' ids lie above every COCO id
    by_id = {a.id: a for _, a in ds.annotations()}
    for ann in raw["annotations"]:
        outline, points = by_id[ann["id"]], by_id[ann["id"] + offset]
        assert isinstance(outline.shape, Polygon) and isinstance(points.shape, Keypoints)
        assert outline.group_id == points.group_id == ann["id"]
    assert ds.count_by_type()["polygon"] == ds.count_by_type()["keypoints"] == len(ids)
    out = tmp_path / "out"
    out.mkdir()
    assert not SPEC.write(ds, out, WriteOptions(copy_images=False))
    written = json.loads((out / "annotations" / "instances_default.json").read_text())["annotations"]
    assert [a["id"] for a in written] == ids  # one COCO annotation per person again, with its id
    assert not any({"group_id", "keypoints_id", "bbox_id"} & set(a) for a in written)  # all derivable


def test_groups_of_a_seglab_dataset_round_trip(tmp_path: Path) -> None:
    onto = Ontology((LabelClass("p", skeleton=Skeleton(("a", "b"), ((0, 1),))),))
    kp = Keypoints(np.array([[2.0, 3.0, 2.0], [5.0, 6.0, 1.0]]))
    kp2 = Keypoints(np.array([[3.0, 3.0, 2.0], [4.5, 4.0, 2.0]]))
    anns = (
        Annotation(5, "p", Polygon.from_flat([[1, 1, 9, 1, 9, 9, 1, 9]]), group_id=9),
        Annotation(77, "p", kp, group_id=9),
        Annotation(3, "p", Box(1, 1, 6, 6), group_id=4),  # a person given by a box and keypoints
        Annotation(4, "p", kp2, group_id=4),
        Annotation(10, "p", kp2),  # keypoints alone
        Annotation(11, "p", Polygon.from_flat([[0, 0, 20, 0, 20, 20]]), group_id=12),
        Annotation(13, "p", kp, group_id=12),
        Annotation(
            12, "p", Box(0, 0, 30, 25), group_id=12
        ),  # far off the outline: an (amodal) box of its own
    )
    ds = Dataset(onto, (ImageRecord(1, "a.jpg", ImageSize(40, 30), anns),))
    back, report = _round_trip(ds, tmp_path / "out")
    assert not report, report.lines()
    _assert_same(ds, back)
    doc = json.loads((tmp_path / "out" / "annotations" / "instances_default.json").read_text())
    written = {a["id"]: a for a in doc["annotations"]}
    assert list(written) == [5, 3, 10, 11]  # three persons merged, the lone keypoints on their own
    assert (written[5]["group_id"], written[5]["keypoints_id"]) == (9, 77)
    assert written[3]["segmentation"] == [] and written[3]["bbox"] == [1.0, 1.0, 5.0, 5.0]
    assert "segmentation" not in written[10]  # how the reader knows these keypoints have no box
    assert written[11]["bbox"] == [0.0, 0.0, 30.0, 25.0] and written[11]["bbox_id"] == 12


def test_converted_shapes_stay_allowed_so_the_output_validates(tmp_path: Path) -> None:
    onto = Ontology(
        (
            LabelClass("sign", shapes=frozenset({ShapeType.BOX})),
            LabelClass("lake", shapes=frozenset({ShapeType.POLYGON})),
        )
    )
    donut = Polygon.from_rings([[1, 1], [15, 1], [15, 12], [1, 12]], holes=[[[5, 4], [9, 4], [9, 8], [5, 8]]])
    anns = (Annotation(1, "sign", Box(2, 2, 8, 6, rotation=30.0)), Annotation(2, "lake", donut))
    ds = Dataset(onto, (ImageRecord(1, "a.png", ImageSize(20, 16), anns),))
    assert not validate(ds)
    back, report = _round_trip(ds, tmp_path / "out")
    assert set(report.counts) == {
        "rotated boxes written as 4-corner polygons",
        "polygon holes written as RLE masks",
    }
    assert [type(a.shape) for a in back.images[0].annotations] == [Polygon, Mask]
    assert back.ontology["sign"].shapes == {ShapeType.BOX, ShapeType.POLYGON}
    assert back.ontology["lake"].shapes == {ShapeType.POLYGON, ShapeType.MASK}
    assert validate(back) == []


def test_a_bbox_kept_from_the_file_is_dropped_once_the_shape_moves(tmp_path: Path) -> None:
    data = _base()
    data["annotations"][0].update(segmentation=[[1, 1, 4, 1, 4, 4]], bbox=[1.0, 1.0, 3.004, 3.0], area=4.5)
    ds, _ = _read(_write_json(tmp_path, "instances_x.json", data))
    (ann,) = ds.images[0].annotations
    assert ann.extra == {"bbox": [1.0, 1.0, 3.004, 3.0]}  # rounded differently: kept, written back
    moved = ds.with_images(
        [ds.images[0].with_annotations([ann.with_(shape=Polygon.from_flat([[2, 2, 7, 2, 7, 7]]))])]
    )
    back, _ = _round_trip(moved, tmp_path / "out")
    (again,) = back.images[0].annotations
    assert again.extra == {}  # the moved polygon's own bbox and area were written, not the stale ones


@pytest.mark.parametrize("indent", [None, 1])
def test_streamed_json_parses_exactly_like_json_loads(
    indent: int | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonio, "CHUNK", 16)  # cut often: inside strings, nested lists, between elements
    anns: list[Any] = [
        {
            "id": i,
            "note": 'x},{"y' * (i % 3),
            "seg": [[1.5, 2, 3e-7]],
            "attributes": {"k": [{"a": 1}, {"b": 2}]},
        }
        for i in range(40)
    ]
    anns[7]["score"] = float("nan")  # orjson refuses NaN: that slice is parsed by the standard library
    anns[9]["big"] = 2**70
    doc = {"info": {"a": "},{"}, "annotations": anns, "categories": [{"id": 1, "name": "c"}], "images": []}
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc, indent=indent))
    seen: list[Any] = []
    parsed = jsonio.load_streaming(path, {"annotations": seen.append, "images": seen.append})
    assert json.dumps(seen) == json.dumps(anns)
    assert parsed["annotations"] is jsonio.STREAMED and parsed["info"] == doc["info"]
    path.write_text(json.dumps(doc)[:-40])
    with pytest.raises(FormatError, match="malformed JSON") as failed:
        jsonio.load_streaming(path, {"annotations": seen.append})
    assert failed.value.where is not None and failed.value.where.startswith("line 1 column")


def test_without_orjson_the_standard_library_gives_the_same_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = shared_data("coco_keypoints", "ochuman", "test_ochuman.json")
    ds, _ = _read(path)
    fast = tmp_path / "fast"
    fast.mkdir()
    SPEC.write(ds, fast, WriteOptions(copy_images=False))
    monkeypatch.setattr(jsonio, "orjson", None)  # orjson is optional: json does the same, slower
    slow = tmp_path / "slow"
    slow.mkdir()
    SPEC.write(ds, slow, WriteOptions(copy_images=False))
    name = "annotations/instances_default.json"
    assert json.loads((fast / name).read_text()) == json.loads((slow / name).read_text())
    back, _ = _read(slow)
    _assert_same(ds, back)


def test_kept_bboxes_are_checked_at_once_exactly_as_one_by_one() -> None:
    from seglab.formats.coco import shapes, writer

    derived = np.array([[1.0, 1.0, 3.0, 3.0], [10.0, 20.0, 5.5, 7.25], [0.0, 0.0, 1e300, 2.0]])
    cases: list[list[Any]] = [
        [[1, 1, 3, 3], [11.1, 20.0, 5.5, 7.25], [0.5, 0.0, 1e300, 2.0]],  # ints, one off by more than 1
        [[1.0, 1.0, 4.0, 3.0], [9.0, 21.0, 6.5, 8.25], [0.0, 0.0, float("inf"), 2.0]],  # exactly 1 off, inf
        [[True, 1, 3, 3], ["10", 20, 5.5, 7.25], [None, 0, 0, 0]],  # not plain numbers: one by one
        [[float("nan"), 1, 3, 3], [10, 20, 5.5, 7.25], [0, 0, 1e300 * (1 + 1e-10), 2]],
    ]
    for kept in cases:
        expected = [shapes.bbox_close(k, d) for k, d in zip(kept, derived.tolist(), strict=True)]
        assert writer._kept_bboxes_close(kept, derived) == expected
