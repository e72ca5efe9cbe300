"""YOLO format: real Ultralytics and Darknet data, round trips per task, loss reports, hostile input."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from seglab.core import Annotation, Box, Dataset, ImageRecord, Keypoints, Mask, Ontology, Polygon, Polyline
from seglab.core.annotation import Source
from seglab.core.dataset import ArrayMedia
from seglab.core.errors import FormatError, UnsafeInputError
from seglab.core.ontology import COCO_PERSON_SIGMAS, AttributeSpec, LabelClass, Skeleton
from seglab.core.raster import polygon_to_mask
from seglab.formats import registry, yolo
from seglab.formats.base import ErrorPolicy, InvalidDataError, ReadOptions, WriteOptions
from seglab.formats.yolo import numbers
from tests.conftest import shared_data

ROUND_TRIP = settings(max_examples=20, deadline=None)


def read(path: Path, policy: ErrorPolicy = ErrorPolicy.FAIL) -> tuple[Dataset, list]:
    options = ReadOptions(policy=policy)
    dataset = yolo.SPEC.read(path, options)
    return dataset, options.finish()


def write_read(dataset: Dataset, tmp: Path, task: str | None = None) -> tuple[Dataset, list[str]]:
    out = tmp / "out"
    out.mkdir()
    report = yolo.write(dataset, out, WriteOptions(), task=task)
    back, _ = read(out)
    return back, report.lines()


def by_image(dataset: Dataset) -> dict[tuple[str | None, str], ImageRecord]:
    return {(i.subset, i.file_name): i for i in dataset.images}


def image(file_name: str, w: int, h: int, annotations: list[Annotation], subset: str | None = "train"):
    return ImageRecord(
        id=0,
        file_name=file_name,
        size=None,
        annotations=tuple(annotations),
        media=ArrayMedia(np.zeros((h, w, 3), np.uint8)),
        subset=subset,
    )


def make(images: list[ImageRecord], names: tuple[str, ...] = ("cat", "dog"), **onto) -> Dataset:
    ontology = Ontology.from_names(names)
    if onto:
        ontology = Ontology(tuple(LabelClass(**{**c.__dict__, **onto}) for c in ontology.classes))
    return Dataset(ontology, tuple(i.with_(id=n + 1) for n, i in enumerate(images)))


def write_png(path: Path, w: int, h: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (w, h)).save(path)


def detect_dataset(tmp: Path, lines: str, names: list[str] | None = None, size=(100, 50)) -> Path:
    root = tmp / "ds"
    write_png(root / "images/train/a.png", *size)
    (root / "labels/train").mkdir(parents=True)
    (root / "labels/train/a.txt").write_text(lines)
    doc = {"train": "images/train", "val": "images/train", "names": names or ["cat", "dog"]}
    (root / "data.yaml").write_text(yaml.safe_dump(doc))
    return root


# ------------------------------------------------------------------------------------------ real data


def test_coco8_detect() -> None:
    ds, _ = read(shared_data("ultralytics_coco8", "coco8"))
    assert len(ds) == 8 and len(ds.ontology) == 80
    assert Counter(i.subset for i in ds) == {"train": 4, "val": 4}
    assert ds.count_by_type()["box"] == 30 and ds.annotation_count == 30
    counts = {k: v for k, v in ds.count_by_class().items() if v}
    assert len(counts) == 12 and counts["person"] == 10
    first = ds.image("000000000009")
    assert first.size == (640, 480)
    box = first.annotations[0].shape
    assert box == Box.from_cxcywh(0.479492 * 640, 0.688771 * 480, 0.955609 * 640, 0.5955 * 480)


def test_coco8_seg_polygons_match_coco8_boxes() -> None:
    boxes, _ = read(shared_data("ultralytics_coco8", "coco8"))
    polys, _ = read(shared_data("ultralytics_coco8", "coco8-seg"))
    assert polys.count_by_type()["polygon"] == 30
    for key, img in by_image(boxes).items():
        other = by_image(polys)[key]
        assert [a.label for a in img.annotations] == [a.label for a in other.annotations]
        for a, b in zip(img.annotations, other.annotations, strict=True):
            assert np.allclose(a.shape.coordinates().ravel(), b.bounds().coordinates(), atol=0.01)


def test_coco8_pose_keypoints() -> None:
    ds, _ = read(shared_data("ultralytics_coco8", "coco8-pose"))
    assert ds.count_by_type() == {"box": 21, "polygon": 0, "polyline": 0, "keypoints": 21, "mask": 0}
    skeleton = ds.ontology["person"].skeleton
    assert skeleton is not None and len(skeleton) == 17 and skeleton.points[0] == "nose"
    assert skeleton.flip_index == (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
    assert skeleton.sigmas == COCO_PERSON_SIGMAS and len(skeleton.edges) == 19
    for img in ds:
        groups = Counter(a.group_id for a in img.annotations)
        assert all(n == 2 for n in groups.values())  # each person: one box and one keypoints
    kp = next(a.shape for _, a in ds.annotations() if isinstance(a.shape, Keypoints))
    assert kp.points.shape == (17, 3) and set(np.unique(kp.points[:, 2])) <= {0.0, 1.0, 2.0}
    assert (kp.points[kp.points[:, 2] == 0, :2] == 0).all()


def test_dota8_oriented_boxes() -> None:
    ds, _ = read(shared_data("ultralytics_coco8", "dota8"))
    assert ds.count_by_type()["box"] == 133 and ds.count_by_class()["ship"] == 105
    rotated = [a for _, a in ds.annotations() if a.shape.rotation != 0]
    assert len(rotated) > 100
    img = ds.images[0]
    first = img.annotations[0]
    corners = np.array([0.813477, 0.523437, 0.814453, 0.504882, 0.87207, 0.504882, 0.87207, 0.524414])
    assert first.shape == Box.from_corners(corners.reshape(4, 2) * 1024)


@pytest.mark.parametrize("name", ["coco8", "coco8-seg", "coco8-pose", "dota8"])
def test_real_datasets_write_back_the_same_numbers(name: str, tmp_path: Path) -> None:
    src = shared_data("ultralytics_coco8", name)
    ds, _ = read(src)
    report = yolo.SPEC.write(ds, tmp_path, WriteOptions())
    assert not report, report.lines()
    for label in sorted((src / "labels").rglob("*.txt")):
        ours = tmp_path / label.relative_to(src)
        for a, b in zip(label.read_text().splitlines(), ours.read_text().splitlines(), strict=True):
            assert [float(v) for v in a.split()] == [float(v) for v in b.split()]
    back, _ = read(tmp_path)
    assert [a.shape for _, a in back.annotations()] == [a.shape for _, a in ds.annotations()]
    assert back.ontology.names == ds.ontology.names
    assert back.ontology.classes[0].skeleton == ds.ontology.classes[0].skeleton


def test_detect_confidence() -> None:
    for name in ("coco8", "coco8-seg", "coco8-pose", "dota8"):
        assert yolo.detect(shared_data("ultralytics_coco8", name)) == 0.9
    fixtures = shared_data("format_fixtures", "datumaro", "yolo_dataset")
    assert yolo.detect(fixtures / "strict") == 0.9
    assert yolo.detect(fixtures / "labels") == 0.5
    assert yolo.detect(fixtures / "annotations") == 0.5
    assert yolo.detect(fixtures) == 0.0


@pytest.mark.parametrize(
    ("layout", "subsets"), [("strict", ["train"]), ("labels", ["train", "val"]), ("annotations", [None])]
)
def test_darknet_layouts(layout: str, subsets: list) -> None:
    ds, _ = read(shared_data("format_fixtures", "datumaro", "yolo_dataset", layout))
    assert ds.ontology.names == [f"label_{i}" for i in range(10)]
    assert [i.subset for i in ds] == subsets
    for img in ds:
        assert img.file_name == "1.jpg" and img.size == (15, 10)
        assert [a.label for a in img.annotations] == ["label_2", "label_4"]
        box = img.annotations[1].shape
        assert math.isclose(box.x_min, (0.266667 - 0.133333 / 2) * 15) and math.isclose(box.y_max, 6.0)


def test_darknet_is_written_as_ultralytics(tmp_path: Path) -> None:
    ds, _ = read(shared_data("format_fixtures", "datumaro", "yolo_dataset", "strict"))
    report = yolo.SPEC.write(ds, tmp_path, WriteOptions())
    assert "dataset info fields" in " ".join(report.lines())  # obj.data's backup = ... has no place
    assert (tmp_path / "data.yaml").is_file() and (tmp_path / "labels/train/1.txt").is_file()
    back, _ = read(tmp_path)
    assert [a.shape for _, a in back.annotations()] == [a.shape for _, a in ds.annotations()]


# ------------------------------------------------------------------------------------------ round trips

sizes = st.tuples(st.integers(4, 300), st.integers(4, 300))
unit = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def boxes_in(draw, w: int, h: int) -> Box:
    x0, x1 = sorted((draw(unit) * w, draw(unit) * w))
    y0, y1 = sorted((draw(unit) * h, draw(unit) * h))
    return Box(x0, y0, x1, y1)


@st.composite
def datasets(draw, shape_kind: str) -> Dataset:
    images = []
    for n in range(draw(st.integers(1, 3))):
        w, h = draw(sizes)
        anns = []
        for _ in range(draw(st.integers(0, 4))):
            label = draw(st.sampled_from(["cat", "dog"]))
            if shape_kind == "box":
                shape = draw(boxes_in(w, h))
            elif shape_kind == "polygon":
                k = draw(st.integers(3, 8))
                pts = [(draw(unit) * w, draw(unit) * h) for _ in range(k)]
                shape = Polygon.from_rings(pts)
            else:  # oriented box with its centre inside the image and small enough to stay near it
                cx, cy = draw(unit) * w, draw(unit) * h
                side = min(w, h) / 3  # the enclosing box stays within Ultralytics' range
                bw, bh = draw(st.floats(0.5, 1.0)) * side, draw(st.floats(0.5, 1.0)) * side
                shape = Box.from_cxcywh(cx, cy, bw, bh, draw(st.floats(-179.0, 179.0)))
            anns.append(Annotation(len(anns) + 1, label, shape))
        images.append(image(f"img{n}.png", w, h, anns, subset=draw(st.sampled_from(["train", "val"]))))
    return make(images)


def assert_same_images(a: Dataset, b: Dataset) -> None:
    assert set(by_image(a)) == set(by_image(b))
    assert b.ontology.names == a.ontology.names


@ROUND_TRIP
@given(datasets("box"))
def test_detect_round_trip(tmp_path_factory, ds: Dataset) -> None:
    back, losses = write_read(ds, tmp_path_factory.mktemp("yolo"))
    assert losses == []
    assert_same_images(ds, back)
    for key, img in by_image(ds).items():
        got = by_image(back)[key].annotations
        assert [a.label for a in got] == [a.label for a in img.annotations]
        for a, b in zip(img.annotations, got, strict=True):
            assert np.allclose(a.shape.coordinates(), b.shape.coordinates(), rtol=1e-12, atol=1e-12)
            assert b.source is Source.HUMAN and b.score is None


@ROUND_TRIP
@given(datasets("polygon"))
def test_segment_round_trip(tmp_path_factory, ds: Dataset) -> None:
    back, losses = write_read(ds, tmp_path_factory.mktemp("yolo"))
    assert losses == []
    assert_same_images(ds, back)
    for key, img in by_image(ds).items():
        got = by_image(back)[key].annotations
        assert [a.label for a in got] == [a.label for a in img.annotations]
        for a, b in zip(img.annotations, got, strict=True):
            assert isinstance(b.shape, Polygon)  # never mistaken for an oriented box, even with 4 points
            assert np.allclose(a.shape.coordinates(), b.shape.coordinates(), rtol=1e-12, atol=1e-12)


@ROUND_TRIP
@given(datasets("obb"))
def test_obb_round_trip(tmp_path_factory, ds: Dataset) -> None:
    back, losses = write_read(ds, tmp_path_factory.mktemp("yolo"))
    assert losses == []
    assert_same_images(ds, back)
    for key, img in by_image(ds).items():
        got = by_image(back)[key].annotations
        for a, b in zip(img.annotations, got, strict=True):
            assert isinstance(b.shape, Box) and a.label == b.label
            assert np.allclose(a.shape.corners(), b.shape.corners(), rtol=0, atol=1e-9)


@st.composite
def pose_datasets(draw) -> Dataset:
    k = draw(st.integers(1, 6))
    skeleton = Skeleton(tuple(f"kp{i}" for i in range(k)))
    images, group = [], 1
    for n in range(draw(st.integers(1, 3))):
        w, h = draw(sizes)
        anns: list[Annotation] = []
        for _ in range(draw(st.integers(0, 3))):
            vis = [draw(st.sampled_from([0, 1, 2])) for _ in range(k)]
            pts = [(draw(unit) * w, draw(unit) * h, v) if v else (0.0, 0.0, 0) for v in vis]
            kp = Keypoints(pts)
            box = draw(boxes_in(w, h))
            anns += [
                Annotation(len(anns) + 1, "person", box, group_id=group),
                Annotation(len(anns) + 2, "person", kp, group_id=group),
            ]
            group += 1
        images.append(image(f"p{n}.png", w, h, anns))
    return make(images, ("person",), skeleton=skeleton)


@ROUND_TRIP
@given(pose_datasets())
def test_pose_round_trip(tmp_path_factory, ds: Dataset) -> None:
    back, losses = write_read(ds, tmp_path_factory.mktemp("yolo"))
    assert losses == []
    assert back.ontology["person"].skeleton == ds.ontology["person"].skeleton
    for key, img in by_image(ds).items():
        got = by_image(back)[key].annotations
        assert len(got) == len(img.annotations)
        for (box, kp), (box2, kp2) in zip(pairs(img.annotations), pairs(got), strict=True):
            assert np.allclose(box.shape.coordinates(), box2.shape.coordinates(), rtol=1e-12, atol=1e-12)
            assert np.allclose(kp.shape.points, kp2.shape.points, rtol=1e-12, atol=1e-12)


def pairs(anns) -> list[tuple[Annotation, Annotation]]:
    groups: dict[int, list[Annotation]] = {}
    for a in anns:
        groups.setdefault(a.group_id, []).append(a)
    out = []
    for members in groups.values():
        box = next(a for a in members if isinstance(a.shape, Box))
        kp = next(a for a in members if isinstance(a.shape, Keypoints))
        out.append((box, kp))
    return out


def connected_masks(w: int, h: int):
    """A filled, 4-connected blob: a random union of overlapping rectangles chained together."""

    @st.composite
    def build(draw) -> np.ndarray:
        arr = np.zeros((h, w), bool)
        x, y = draw(st.integers(0, w - 2)), draw(st.integers(0, h - 2))
        for _ in range(draw(st.integers(1, 4))):
            x1, y1 = draw(st.integers(x + 1, w)), draw(st.integers(y + 1, h))
            arr[y:y1, x:x1] = True
            x, y = draw(st.integers(x, x1 - 1)), draw(st.integers(y, y1 - 1))
        from scipy import ndimage

        return ndimage.binary_fill_holes(arr)

    return build()


@ROUND_TRIP
@given(
    st.tuples(st.integers(2, 60), st.integers(2, 60)).flatmap(
        lambda s: st.tuples(st.just(s), connected_masks(*s))
    )
)
def test_masks_come_back_pixel_equal(tmp_path_factory, case) -> None:
    (w, h), arr = case
    ds = make([image("m.png", w, h, [Annotation(1, "cat", Mask.from_array(arr))])])
    back, losses = write_read(ds, tmp_path_factory.mktemp("yolo"))
    assert losses == [
        "1 x masks written as their exact pixel-outline polygons (first: image m.png annotation 1)"
    ]
    (ann,) = back.images[0].annotations
    assert np.array_equal(polygon_to_mask(ann.shape, w, h).array, arr)


def test_scores_use_the_confidence_column(tmp_path: Path) -> None:
    anns = [
        Annotation(i, "cat", Box(i, i, i + 5, i + 6), source=Source.MODEL, score=0.25 * i) for i in (1, 2)
    ]
    back, losses = write_read(make([image("a.png", 40, 30, anns)]), tmp_path)
    assert losses == []
    got = back.images[0].annotations
    assert [a.score for a in got] == [0.25, 0.5] and all(a.source is Source.MODEL for a in got)
    line = (tmp_path / "out/labels/train/a.txt").read_text().splitlines()[0]
    assert len(line.split()) == 6


def test_mixed_scores_are_reported_not_written(tmp_path: Path) -> None:
    anns = [Annotation(1, "cat", Box(1, 1, 5, 5), score=0.5), Annotation(2, "cat", Box(2, 2, 6, 6))]
    back, losses = write_read(make([image("a.png", 40, 30, anns)]), tmp_path)
    assert any("scores" in line for line in losses)
    assert all(a.score is None for a in back.images[0].annotations)


# ------------------------------------------------------------------------------------------ losses and tasks


def test_auto_task_and_losses(tmp_path: Path) -> None:
    donut = np.ones((10, 10), bool)
    donut[4:6, 4:6] = False
    two = Polygon.from_flat([[0, 0, 4, 0, 4, 4], [10, 10, 14, 10, 14, 14]])
    anns = [
        Annotation(1, "cat", Mask.from_array(np.pad(donut, ((0, 10), (0, 10))))),
        Annotation(2, "dog", two, attributes={"color": "red"}, crowd=True),
        Annotation(3, "dog", Polyline([(0, 0), (5, 5)])),
        Annotation(4, "cat", Box(1, 2, 3, 4)),
    ]
    ds = make([image("a.png", 20, 20, anns)])
    back, losses = write_read(ds, tmp_path)
    text = "\n".join(losses)
    for what in ("holes filled", "multi-part polygons split", "polylines left out", "attributes", "crowd",
                 "boxes written as 4-point polygons", "masks written"):  # fmt: skip
        assert what in text
    assert [type(a.shape) for a in back.images[0].annotations] == [Polygon] * 4  # mask, 2 parts, box
    assert "task" not in yaml.safe_load((tmp_path / "out/data.yaml").read_text())


def test_detect_task_writes_polygon_bounds(tmp_path: Path) -> None:
    poly = Polygon.from_rings([(1, 1), (9, 2), (5, 8)])
    ds = make([image("a.png", 20, 20, [Annotation(1, "cat", poly)])])
    back, losses = write_read(ds, tmp_path, task="detect")
    assert any("bounding boxes (detect task)" in line for line in losses)
    assert back.images[0].annotations[0].shape == Box(1, 1, 9, 8)


def test_quadrilateral_polygons_stay_polygons(tmp_path: Path) -> None:
    quad = Polygon.from_rings([(1, 1), (9, 2), (8, 8), (2, 7)])
    back, _ = write_read(make([image("a.png", 20, 20, [Annotation(1, "cat", quad)])]), tmp_path)
    assert yaml.safe_load((tmp_path / "out/data.yaml").read_text())["task"] == "segment"
    assert back.images[0].annotations[0].shape == quad


def test_pose_unpaired_objects(tmp_path: Path) -> None:
    skeleton = Skeleton(("a", "b"), edges=((0, 1),))
    kp = Keypoints([(2, 3, 2), (6, 9, 1)])
    anns = [Annotation(1, "hand", kp), Annotation(2, "hand", Box(1, 1, 4, 4))]
    ds = make([image("a.png", 20, 20, anns)], ("hand",), skeleton=skeleton)
    back, losses = write_read(ds, tmp_path)
    assert len(losses) == 2 and "skeleton edges" in losses[0]
    assert "objects without keypoints written with all keypoints unlabeled" in losses[1]
    got = back.images[0].annotations
    assert got[0].shape == Box(2, 3, 6, 9) and got[1].shape == kp  # the keypoints' bounds as their box
    assert got[3].shape == Keypoints(np.zeros((2, 3)))
    doc = yaml.safe_load((tmp_path / "out/data.yaml").read_text())
    assert doc["kpt_shape"] == [2, 3] and doc["kpt_names"] == {0: ["a", "b"]}


def test_data_yaml_names_and_splits(tmp_path: Path) -> None:
    names = ("zebra", "ant", "<script>x</script>", "a: b", "null", "1")
    attrs = (AttributeSpec("occluded"),)
    ds = make([image("x/a.png", 8, 8, [], "val"), image("b.png", 8, 8, [], "test")], names, attributes=attrs)
    out = tmp_path / "out"
    report = yolo.SPEC.write(ds, out, WriteOptions())
    assert "class attribute definitions" in report.counts
    doc = yaml.safe_load((out / "data.yaml").read_text())
    assert doc["names"] == dict(enumerate(names))
    assert doc["train"] == "images/val" and doc["val"] == "images/val" and doc["test"] == "images/test"
    assert (out / "images/val/x/a.png").is_file() and (out / "labels/val/x/a.txt").is_file()
    back, _ = read(out)
    assert back.ontology.names == list(names)
    assert sorted((i.subset, i.file_name) for i in back) == [("test", "b.png"), ("val", "x/a.png")]


@pytest.mark.parametrize("subsets", [[None, None], ["test"], ["valid", "train"]])
def test_subsets_survive(tmp_path: Path, subsets: list) -> None:
    ds = make([image(f"{n}.png", 8, 8, [], s) for n, s in enumerate(subsets)])
    back, _ = write_read(ds, tmp_path)
    assert sorted(by_image(back), key=str) == sorted(by_image(ds), key=str)


def test_subset_filter_and_unsafe_names(tmp_path: Path) -> None:
    ds = make([image("a.png", 8, 8, [], "train"), image("b.png", 8, 8, [], "val")])
    registry.write_dataset(ds, tmp_path / "one", "yolo", options=WriteOptions(subset="val"))
    assert [i.file_name for i in read(tmp_path / "one")[0]] == ["b.png"]
    with pytest.raises(UnsafeInputError):
        yolo.SPEC.write(make([image("../../evil.png", 8, 8, [])]), tmp_path / "two", WriteOptions())
    with pytest.raises(UnsafeInputError):
        yolo.SPEC.write(make([image("a.png", 8, 8, [], "..")]), tmp_path / "three", WriteOptions())


# ------------------------------------------------------------------------------------------ hostile input


def test_yaml_python_tags_are_refused(tmp_path: Path) -> None:
    root = detect_dataset(tmp_path, "")
    (root / "data.yaml").write_text('!!python/object/apply:os.system ["touch pwned"]\n')
    with pytest.raises(UnsafeInputError):
        read(root)
    assert not Path("pwned").exists()


@pytest.mark.parametrize("entry", ["../../etc/passwd", "/etc/passwd", "..\\..\\x.jpg", "C:/x.jpg"])
def test_path_traversal_in_a_list_is_refused(tmp_path: Path, entry: str) -> None:
    root = detect_dataset(tmp_path, "")
    (root / "train.txt").write_text(f"./images/train/a.png\n{entry}\n")
    (root / "data.yaml").write_text(
        yaml.safe_dump({"train": "train.txt", "val": "train.txt", "names": ["a"]})
    )
    with pytest.raises(UnsafeInputError, match="leaves the dataset folder"):
        read(root)


@pytest.mark.parametrize("split", ["../outside", "/abs/images", "images/../../x"])
def test_split_paths_outside_the_root_are_refused(tmp_path: Path, split: str) -> None:
    root = detect_dataset(tmp_path, "")
    (root / "data.yaml").write_text(yaml.safe_dump({"train": split, "val": "images/train", "names": ["a"]}))
    with pytest.raises(UnsafeInputError):
        read(root)


def test_roboflow_parent_paths_are_followed_inside(tmp_path: Path) -> None:
    root = tmp_path / "rf"
    write_png(root / "train/images/a.jpg", 10, 10)
    (root / "train/labels").mkdir(parents=True)
    (root / "train/labels/a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    doc = {"train": "../train/images", "val": "../train/images", "nc": 1, "names": ["a"]}
    (root / "data.yaml").write_text(yaml.safe_dump(doc))
    ds, _ = read(root)
    assert ds.images[0].annotations[0].shape == Box(4, 4, 6, 6)


def test_malformed_lines_are_reported_with_their_line(tmp_path: Path) -> None:
    lines = [
        "0 0.5 0.5 0.2 0.2",  # fine
        "1 0.5 0.5 0.2",  # 4 columns
        "0 0.5 abc 0.2 0.2",  # not a number
        "0 nan 0.5 0.2 0.2",  # NaN
        "2 0.5 0.5 0.2 0.2",  # class out of range
        "0 1.5 0.5 0.2 0.2",  # not normalised
        "0.5 0.5 0.5 0.2 0.2",  # fractional class
        "1 0.5 0.5 -0.2 0.2",  # negative size
        "",
        "1 0.25 0.5 0.5 0.5",  # fine
    ]
    root = detect_dataset(tmp_path, "\n".join(lines))
    with pytest.raises(InvalidDataError) as err:
        read(root)
    problems = err.value.problems
    assert [p.where for p in problems] == [f"line {n}" for n in (2, 3, 4, 5, 6, 7, 8)]
    reasons = [p.reason for p in problems]
    assert "4 columns" in reasons[0] and "not a number" in reasons[1] and "finite" in reasons[2]
    assert "class 2 is outside" in reasons[3] and "outside [0, 1]" in reasons[4]
    ds, skipped = read(root, ErrorPolicy.SKIP)
    assert len(skipped) == 7
    assert [a.shape for a in ds.images[0].annotations] == [Box(40, 20, 60, 30), Box(0, 12.5, 50, 37.5)]


def test_missing_images_are_problems(tmp_path: Path) -> None:
    root = detect_dataset(tmp_path, "0 0.5 0.5 0.2 0.2\n")
    (root / "labels/train/ghost.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "list.txt").write_text("images/train/a.png\nimages/train/gone.png\n")
    doc = {"train": "images/train", "val": "list.txt", "names": ["a"]}
    (root / "data.yaml").write_text(yaml.safe_dump(doc))
    _, skipped = read(root, ErrorPolicy.SKIP)
    assert sorted((Path(p.file).name, p.where) for p in skipped) == [
        ("ghost.txt", "file"),
        ("list.txt", "line 2"),
    ]


def test_bad_yaml_content(tmp_path: Path) -> None:
    root = detect_dataset(tmp_path, "")
    cases = [
        {"train": "images/train", "names": ["a", "b"], "nc": 3},
        {"train": "images/train", "names": {0: "a", 2: "b"}},
        {"train": "images/train", "names": ["a", "a"]},
        {"train": "images/train", "names": ["a"], "kpt_shape": [17, 4]},
        {"train": "nowhere", "names": ["a"]},
    ]
    for doc in cases:
        (root / "data.yaml").write_text(yaml.safe_dump(doc))
        with pytest.raises(FormatError):
            read(root)


def test_pose_lines_need_the_kpt_shape_columns(tmp_path: Path) -> None:
    root = detect_dataset(
        tmp_path, "0 0.5 0.5 0.2 0.2 0.5 0.5 2\n0 0.5 0.5 0.2 0.2 0.5 0.5\n0 0.5 0.5 0.2 0.2 0.5 0.5 7\n"
    )
    doc = {"train": "images/train", "val": "images/train", "names": ["a"], "kpt_shape": [1, 3]}
    (root / "data.yaml").write_text(yaml.safe_dump(doc))
    ds, skipped = read(root, ErrorPolicy.SKIP)
    assert [(p.where, "columns" in p.reason or "visibility" in p.reason) for p in skipped] == [
        ("line 2", True),
        ("line 3", True),
    ]
    assert ds.images[0].annotations[1].shape == Keypoints([(50, 25, 2)])


def test_two_dimensional_keypoints_and_yaml_extras_survive(tmp_path: Path) -> None:
    root = detect_dataset(tmp_path, "0 0.5 0.5 0.2 0.2 0.25 0.5 0.75 0.5\n")
    doc = {
        "path": "/somewhere/else",
        "train": "images/train",
        "val": "images/train",
        "names": {0: "hand"},
        "kpt_shape": [2, 2],
        "download": "https://example.com/x.zip",
        "license": {"name": "CC-BY", "url": None},
    }
    (root / "data.yaml").write_text(yaml.safe_dump(doc))
    ds, _ = read(root)
    kp = ds.images[0].annotations[1].shape
    assert kp == Keypoints([(25, 25, 2), (75, 25, 2)])
    assert ds.info["yolo"] == {
        "download": "https://example.com/x.zip",
        "license": {"name": "CC-BY", "url": None},
    }
    out = tmp_path / "out"
    assert not yolo.SPEC.write(ds, out, WriteOptions())
    written = yaml.safe_load((out / "data.yaml").read_text())
    assert written["kpt_shape"] == [2, 2] and "path" not in written
    assert written["download"] == doc["download"] and written["license"] == doc["license"]
    assert (out / "labels/train/a.txt").read_text() == "0 0.5 0.5 0.2 0.2 0.25 0.5 0.75 0.5\n"


def test_objects_outside_the_image_are_clipped_and_reported(tmp_path: Path) -> None:
    anns = [Annotation(1, "cat", Box(-50, 0, 10, 10)), Annotation(2, "cat", Box(12, 9, 2, 1))]
    back, losses = write_read(make([image("a.png", 20, 20, anns)]), tmp_path)
    assert any("clipped" in line for line in losses) and any("inverted" in line for line in losses)
    assert [a.shape for a in back.images[0].annotations] == [Box(0, 0, 10, 10), Box(2, 1, 12, 9)]


def test_unreadable_image_is_a_problem(tmp_path: Path) -> None:
    root = detect_dataset(tmp_path, "0 0.5 0.5 0.2 0.2\n")
    (root / "images/train/b.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    ds, skipped = read(root, ErrorPolicy.SKIP)
    assert [Path(p.file).name for p in skipped] == ["b.png"] and len(ds) == 1


def test_labels_only_output(tmp_path: Path) -> None:
    ds = make([image("a.png", 8, 8, [Annotation(1, "cat", Box(1, 1, 2, 2))])])
    report = yolo.SPEC.write(ds, tmp_path, WriteOptions(copy_images=False))
    assert not report and not (tmp_path / "images").exists()
    assert (tmp_path / "labels/train/a.txt").read_text() == "0 0.1875 0.1875 0.125 0.125\n"


def test_loose_layout_reports_labels_without_images(tmp_path: Path) -> None:
    root = tmp_path / "loose"
    write_png(root / "images/train/a.jpg", 10, 10)
    (root / "labels/train").mkdir(parents=True)
    (root / "labels/train/a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "labels/train/b.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "obj.names").write_text("thing\n")
    assert yolo.detect(root) == 0.5
    ds, skipped = read(root, ErrorPolicy.SKIP)
    assert [Path(p.file).name for p in skipped] == ["b.txt"]
    assert ds.images[0].annotations[0].shape == Box(4, 4, 6, 6) and ds.images[0].subset == "train"


# ------------------------------------------------------------------------------ numbers, persons, validation


def _shortest_one_by_one(target: float, size: float) -> float:
    """The reference: the shortest decimal of 1..17 places that multiplies back to ``target`` (candidates
    rounded as the writer rounds them, ``np.round``, which differs from ``round`` in the last digit)."""
    v = np.float64(target) / np.float64(size)
    for places in range(1, 18):
        step = 10.0**-places
        for cand in (np.round(v, places), np.round(v + step, places), np.round(v - step, places)):
            if cand * size == target:
                return float(cand)
    return float(v)


def _box_one_by_one(lo: float, hi: float, size: float) -> tuple[float, float]:
    """The reference for one box axis: the first centre and size candidates (1..17 places, centre then
    size, nearest then one unit up then down) for which ``c*W -/+ (s*W)/2`` gives back ``lo`` and ``hi``."""
    lo64, hi64, w = np.float64(lo), np.float64(hi), np.float64(size)
    c_est, s_est = (lo64 + hi64) / 2.0 / w, (hi64 - lo64) / w
    exact = c_est * w - (s_est * w) / 2.0 == lo64 and c_est * w + (s_est * w) / 2.0 == hi64
    if exact and np.round(c_est, 12) == c_est and np.round(s_est, 12) == s_est:
        return float(c_est), float(s_est)
    for places in range(1, 18):
        step = 10.0**-places
        sizes = (np.round(s_est, places), np.round(s_est + step, places), np.round(s_est - step, places))
        for c in (np.round(c_est, places), np.round(c_est + step, places), np.round(c_est - step, places)):
            for s in sizes:
                if c * w - (s * w) / 2.0 == lo64 and c * w + (s * w) / 2.0 == hi64:
                    return float(c), float(s)
    return float(c_est), float(s_est)


_COORDINATE = st.one_of(
    st.floats(0, 2000, allow_nan=False),
    st.integers(0, 200_000).map(lambda n: n / 100),  # two decimals, as COCO files hold them
    st.integers(0, 4000).map(float),
    st.floats(-1e6, 1e12, allow_nan=False),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_COORDINATE, _COORDINATE, st.integers(1, 4000)), min_size=1, max_size=60))
def test_box_normalisation_matches_the_box_by_box_search(boxes: list[tuple[float, float, int]]) -> None:
    """The pruned search (only candidates within reach of the estimate are tried) finds what trying every
    candidate finds."""
    lo = np.array([[min(a, b)] for a, b, _ in boxes])
    hi = np.array([[max(a, b)] for a, b, _ in boxes])
    sizes = np.array([[float(w)] for _, _, w in boxes])
    centre, extent = numbers.normalise_boxes(lo, hi, sizes)
    expected = [_box_one_by_one(min(a, b), max(a, b), w) for a, b, w in boxes]
    assert list(zip(centre[:, 0].tolist(), extent[:, 0].tolist(), strict=True)) == expected


def test_box_normalisation_of_a_benchmark_like_sample_matches_the_box_by_box_search() -> None:
    rng = np.random.default_rng(3)
    corner = np.round(rng.uniform(0, 600, (3000, 2)), 2)
    lo, hi = corner, np.minimum(corner + np.round(rng.uniform(0, 120, (3000, 2)), 2), [640, 480])
    sizes = np.broadcast_to([640.0, 480.0], lo.shape).copy()
    centre, extent = numbers.normalise_boxes(lo, hi, sizes)
    for axis in (0, 1):
        triples = zip(lo[:, axis].tolist(), hi[:, axis].tolist(), sizes[:, axis].tolist(), strict=True)
        expected = [_box_one_by_one(a, b, w) for a, b, w in triples]
        got = list(zip(centre[:, axis].tolist(), extent[:, axis].tolist(), strict=True))
        assert got == expected


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.floats(0, 2000, allow_nan=False), st.integers(0, 200_000).map(lambda n: n / 100)),
            st.integers(1, 4000),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_vectorised_normalisation_matches_the_value_by_value_search(pairs: list[tuple[float, int]]) -> None:
    values = np.array([v for v, _ in pairs])
    sizes = np.array([float(s) for _, s in pairs])
    got = numbers.normalise(values, sizes)
    assert got.tolist() == [_shortest_one_by_one(v, s) for v, s in pairs]
    assert (got * sizes == values).sum() >= (values / sizes * sizes == values).sum()  # never less exact
    assert [float(t) for t in numbers.tokens(got)] == got.tolist()


def test_coco_persons_become_one_pose_line_each(tmp_path: Path) -> None:
    skeleton = Skeleton(("a", "b"))
    outline = Polygon.from_rings([(2, 2), (30, 2), (30, 40), (2, 40)])
    kp = Keypoints([(10, 10, 2), (20, 30, 1)])
    anns = [Annotation(7, "person", outline, group_id=7), Annotation(8, "person", kp, group_id=7)]
    ds = make([image("a.png", 50, 50, anns)], ("person",), skeleton=skeleton)
    back, losses = write_read(ds, tmp_path)
    assert losses == [
        "1 x outlines of pose objects written as their bounding boxes (pose task)"
        " (first: image a.png annotation 7)"
    ]
    box, points = back.images[0].annotations
    assert np.allclose(box.shape.coordinates(), [2, 2, 30, 40], rtol=1e-12, atol=1e-12)
    assert points.shape == kp and box.group_id == points.group_id
    assert len((tmp_path / "out/labels/train/a.txt").read_text().splitlines()) == 1


def test_written_output_validates(tmp_path: Path) -> None:
    from seglab.core.ontology import ShapeType
    from seglab.core.validation import validate

    donut = np.ones((10, 10), bool)
    donut[4:6, 4:6] = False
    anns = [
        Annotation(1, "cat", Box(2, 2, 8, 6, rotation=30.0)),
        Annotation(2, "dog", Mask.from_array(np.pad(donut, ((0, 10), (0, 10))))),
        Annotation(3, "dog", Polygon.from_flat([[0, 0, 4, 0, 4, 4], [10, 10, 14, 10, 14, 14]])),
    ]
    ds = make(
        [image("a.png", 20, 20, anns)], shapes=frozenset({ShapeType.BOX, ShapeType.MASK, ShapeType.POLYGON})
    )
    assert not validate(ds)
    back, losses = write_read(ds, tmp_path)
    assert any(
        "allowed shape types" in line for line in losses
    )  # YOLO keeps no shape rules: nothing to break
    assert [type(a.shape) for a in back.images[0].annotations] == [Polygon] * 4
    assert validate(back) == []


def test_ochuman_persons_with_outline_box_and_keypoints_give_one_line_each(tmp_path: Path) -> None:
    from seglab.formats import coco
    from seglab.formats.base import ReadOptions

    src = coco.read(shared_data("coco_keypoints", "ochuman", "test_ochuman.json"), ReadOptions())
    assert src.count_by_type() == {"box": 5, "polygon": 0, "polyline": 0, "keypoints": 5, "mask": 5}
    back, losses = write_read(src, tmp_path)
    assert any("outlines of pose objects left out" in line for line in losses)
    assert back.count_by_type() == {"box": 5, "polygon": 0, "polyline": 0, "keypoints": 5, "mask": 0}

    def boxes(ds: Dataset) -> list[np.ndarray]:  # the persons' boxes, image by image (read back sorted)
        return [a.shape.coordinates() for i in sorted(ds, key=lambda i: i.file_name) for a in i.annotations
                if isinstance(a.shape, Box)]  # fmt: skip

    assert np.allclose(boxes(src), boxes(back), rtol=0, atol=1e-9)


def test_tokens_without_orjson_are_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.array([1e-7, 0.1, 1 / 3, 0.479492, 2.0])
    fast = numbers.tokens(values)
    monkeypatch.setattr(numbers, "orjson", None)
    assert [float(t) for t in numbers.tokens(values)] == [float(t) for t in fast] == values.tolist()


@ROUND_TRIP
@given(
    st.lists(
        st.lists(
            st.one_of(
                st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 1), st.sampled_from([0.0, -0.0])
            ),
            min_size=1,
            max_size=9,
        ),
        min_size=1,
        max_size=12,
    )
)
def test_line_texts_from_one_serialisation_match_the_token_lists(runs: list[list[float]]) -> None:
    flat = np.array([v for run in runs for v in run])
    lengths = np.array([len(run) for run in runs])
    words, at, expected = numbers.tokens(flat), 0, []
    for n in lengths.tolist():
        expected.append(" ".join(words[at : at + n]))
        at += n
    assert numbers.run_texts(flat, lengths) == expected  # NaN among the values: the token-list path
    rows = np.resize(flat, (len(runs), 3))
    row_words = numbers.tokens(rows)
    assert numbers.row_texts(rows) == [" ".join(row_words[3 * i : 3 * i + 3]) for i in range(len(runs))]
