"""CVAT for images 1.1 XML: mask RLE, a hand-written sample of every element, round trips, hostile input."""

from __future__ import annotations

import html
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from seglab.core import (
    Annotation,
    AttributeSpec,
    AttributeType,
    Box,
    Dataset,
    ImageRecord,
    ImageSize,
    Keypoints,
    LabelClass,
    Mask,
    Ontology,
    Polygon,
    Polyline,
    ShapeType,
    Skeleton,
    Source,
)
from seglab.core.errors import FormatError, UnsafeInputError
from seglab.core.geometry import PolygonPart
from seglab.core.raster import polygon_to_mask
from seglab.core.validation import validate
from seglab.demo import build_sample_dataset
from seglab.formats import cvat, registry
from seglab.formats.base import ErrorPolicy, InvalidDataError, ReadOptions, WriteOptions
from seglab.formats.media import FileMedia
from seglab.formats.safe_io import write_png

# ---------------------------------------------------------------------------------------------------------
# CVAT mask RLE against its definition, written out pixel by pixel


def brute_encode(mask: np.ndarray) -> list[int]:
    """Walk the box row by row counting runs; the first run is background (0 when the first pixel is set)."""
    runs = [0]
    current = False
    for row in mask.tolist():
        for pixel in row:
            if bool(pixel) != current:
                runs.append(0)
                current = bool(pixel)
            runs[-1] += 1
    return runs


def brute_decode(runs: list[int], width: int, height: int) -> np.ndarray:
    out = np.zeros((height, width), dtype=bool)
    index = 0
    for k, run in enumerate(runs):
        for _ in range(run):
            out[index // width, index % width] = k % 2 == 1
            index += 1
    return out


masks = st.tuples(st.integers(1, 9), st.integers(1, 9)).flatmap(
    lambda hw: hnp.arrays(np.bool_, hw, elements=st.booleans())
)


@given(masks)
def test_rle_encode_and_decode_match_the_definition(mask: np.ndarray) -> None:
    runs = cvat.cvat_rle_encode(mask)
    assert runs == brute_encode(mask)
    assert sum(runs) == mask.size
    h, w = mask.shape
    assert np.array_equal(cvat.cvat_rle_decode(runs, w, h), mask)
    assert np.array_equal(brute_decode(runs, w, h), mask)


def test_rle_examples_from_cvat() -> None:
    # CVAT's own examples: [0, 0, 0, 1] -> [3, 1] and [1, 1, 0, 0] -> [0, 2, 2]
    assert cvat.cvat_rle_encode(np.array([[0, 0, 0, 1]])) == [3, 1]
    assert cvat.cvat_rle_encode(np.array([[1, 1], [0, 0]])) == [0, 2, 2]
    # row-major: the second row follows the first
    assert cvat.cvat_rle_decode([1, 1, 2], 2, 2).tolist() == [[False, True], [False, False]]


@pytest.mark.parametrize(
    ("runs", "message"),
    [([1, 2], "sum to 3"), ([5, 1], "sum to 6"), ([-1, 5], "negative"), ([10**12], "sum to")],
)
def test_rle_decode_refuses_runs_that_do_not_fill_the_box(runs: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cvat.cvat_rle_decode(runs, 2, 2)


# ---------------------------------------------------------------------------------------------------------
# A hand-written document with every element CVAT for images 1.1 has, plus a CVAT for video track

SVG = (
    '<line x1="10" y1="10" x2="20" y2="20" data-type="edge" data-node-from="1" data-node-to="2"></line>'
    '<line x1="20" y1="20" x2="30" y2="30" data-type="edge" data-node-from="2" data-node-to="3"></line>'
    + "".join(
        f'<circle r="1.5" cx="{10 * k}" cy="{10 * k}" data-type="element node" data-element-id="{k}" '
        f'data-node-id="{k}" data-label-name="{name}"></circle>'
        for k, name in enumerate(("head", "hip", "foot"), 1)
    )
)
SAMPLE_TEMPLATE = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <id>7</id>
      <name>street</name>
      <size>2</size>
      <mode>annotation</mode>
      <original_size><width>40</width><height>30</height></original_size>
      <labels>
        <label>
          <name>car</name><color>#ff0000</color><type>rectangle</type>
          <attributes>
            <attribute><name>parked</name><mutable>False</mutable><input_type>checkbox</input_type>
              <default_value>false</default_value><values>false</values></attribute>
            <attribute><name>speed</name><mutable>True</mutable><input_type>number</input_type>
              <default_value>0</default_value><values>0
200
5</values></attribute>
            <attribute><name>colour</name><mutable>False</mutable><input_type>radio</input_type>
              <default_value>red</default_value><values>red
blue</values></attribute>
            <attribute><name>kind</name><mutable>False</mutable><input_type>select</input_type>
              <default_value>sedan</default_value><values>sedan
van</values></attribute>
            <attribute><name>plate</name><mutable>False</mutable><input_type>text</input_type>
              <default_value></default_value><values></values></attribute>
          </attributes>
        </label>
        <label><name>road</name><color>#00ff00</color><type>polygon</type><attributes/></label>
        <label><name>lane</name><color>#0000ff</color><type>polyline</type><attributes/></label>
        <label><name>sign</name><color>#ffff00</color><type>points</type><attributes/></label>
        <label><name>sky</name><color>#00ffff</color><type>mask</type><attributes/></label>
        <label><name>wheel</name><color>#101010</color><type>ellipse</type><attributes/></label>
        <label><name>thing</name><color>#202020</color><type>any</type><attributes/></label>
        <label>
          <name>person</name><color>#ff00ff</color><type>skeleton</type><attributes/>
          <svg>{svg}</svg>
        </label>
        <label><name>head</name><color>#aa0000</color><type>points</type><attributes/><parent>person</parent></label>
        <label><name>hip</name><color>#ff00ff</color><type>points</type><attributes/><parent>person</parent></label>
        <label><name>foot</name><color>#ff00ff</color><type>points</type><attributes/><parent>person</parent></label>
        <label>
          <name>daytime</name><color>#333333</color><type>tag</type>
          <attributes><attribute><name>sunny</name><mutable>False</mutable><input_type>checkbox</input_type>
            <default_value>true</default_value><values>true</values></attribute></attributes>
        </label>
      </labels>
    </task>
    <dumped>2024-01-01 00:00:00</dumped>
  </meta>
  <image id="0" name="a.png" width="40" height="30" subset="train" task_id="7">
    <box label="car" source="auto" occluded="1" xtl="1.5" ytl="2.25" xbr="10" ybr="12.125" rotation="15.5"
         z_order="2" group_id="3">
      <attribute name="parked">true</attribute>
      <attribute name="speed">42.5</attribute>
      <attribute name="colour">blue</attribute>
      <attribute name="kind">van</attribute>
      <attribute name="plate"> AB &amp; 123 </attribute>
    </box>
    <polygon label="road" source="manual" occluded="0" points="0,0;10,0;10,5.5;0,5" z_order="0"/>
    <polyline label="lane" source="semi-auto" occluded="0" points="1.00,1.00;5,5;9,1" z_order="1"/>
    <points label="sign" source="manual" occluded="0" points="3,4;5.5,6" z_order="0"/>
    <mask label="sky" source="manual" occluded="0" rle="1, 2, 3, 2, 1" left="5" top="6" width="3" height="3"
          z_order="0"/>
    <ellipse label="wheel" source="manual" occluded="0" cx="20" cy="15" rx="4" ry="2" rotation="30"
             z_order="0"/>
    <skeleton label="person" source="manual" z_order="0">
      <points label="head" source="manual" outside="0" occluded="0" points="12,3"/>
      <points label="hip" source="manual" outside="0" occluded="1" points="12,9"/>
      <points label="foot" source="manual" outside="1" occluded="0" points="12,14"/>
    </skeleton>
    <tag label="daytime" source="manual"><attribute name="sunny">false</attribute></tag>
  </image>
  <image id="1" name="b.png" width="40" height="30" subset="train">
    <box label="thing" source="file" occluded="0" xtl="0" ytl="0" xbr="1" ybr="1" z_order="0"/>
  </image>
  <track id="5" label="car" source="manual">
    <box frame="1" keyframe="1" outside="0" occluded="0" xtl="2" ytl="2" xbr="6" ybr="6" z_order="0"/>
    <box frame="2" keyframe="0" outside="0" occluded="1" xtl="3" ytl="3" xbr="7" ybr="7" z_order="0">
      <attribute name="speed">3</attribute>
    </box>
    <box frame="3" keyframe="1" outside="1" occluded="0" xtl="3" ytl="3" xbr="7" ybr="7" z_order="0"/>
  </track>
</annotations>
"""
SAMPLE = SAMPLE_TEMPLATE.replace("{svg}", html.escape(SVG, quote=False))


def read_text(
    tmp_path: Path, text: str, policy: ErrorPolicy = ErrorPolicy.FAIL
) -> tuple[Dataset, ReadOptions]:
    folder = tmp_path / "src"
    folder.mkdir(exist_ok=True)
    (folder / cvat.ANNOTATIONS_FILE).write_text(text, encoding="utf-8")
    options = ReadOptions(policy=policy)
    return cvat.SPEC.read(folder, options), options


def write_read(tmp_path: Path, ds: Dataset, options: WriteOptions | None = None, name: str = "out"):
    out = tmp_path / name
    out.mkdir()
    report = cvat.SPEC.write(ds, out, options or WriteOptions(copy_images=False))
    read_options = ReadOptions()
    back = cvat.SPEC.read(out, read_options)
    read_options.finish()
    return back, report


def test_sample_reads_every_element(tmp_path: Path) -> None:
    (tmp_path / "src" / "images").mkdir(parents=True)
    write_png(tmp_path / "src" / "images" / "frame_000002.jpg", np.zeros((30, 40), np.uint8))
    ds, options = read_text(tmp_path, SAMPLE)
    assert options.finish() == []

    onto = ds.ontology
    assert onto.names == ["car", "road", "lane", "sign", "sky", "wheel", "thing", "person"]
    assert onto.tags == ("daytime",)
    car = onto["car"]
    assert car.color == (255, 0, 0)
    assert car.shapes == {ShapeType.BOX}
    assert car.attributes == (
        AttributeSpec("parked", AttributeType.BOOL, default=False),
        AttributeSpec("speed", AttributeType.NUMBER, default=0.0, minimum=0.0, maximum=200.0),
        AttributeSpec("colour", AttributeType.CHOICE, choices=("red", "blue"), default="red"),
        AttributeSpec("kind", AttributeType.CHOICE, choices=("sedan", "van"), default="sedan"),
        AttributeSpec("plate", AttributeType.TEXT),
    )
    assert car.extra["cvat_attributes"] == {
        "speed": {"mutable": True, "step": "5"},
        "colour": {"input_type": "radio"},
    }
    assert onto["wheel"].shapes == {ShapeType.POLYGON} and onto["wheel"].extra["cvat_type"] == "ellipse"
    assert onto["thing"].shapes == frozenset()
    assert onto["person"].skeleton == Skeleton(("head", "hip", "foot"), ((0, 1), (1, 2)))
    assert onto["person"].extra["cvat_sublabels"] == {"head": {"color": "#aa0000"}}

    a, b, frame2 = ds.images
    assert (a.id, a.file_name, a.size, a.subset, a.tags) == (
        0,
        "a.png",
        ImageSize(40, 30),
        "train",
        ("daytime",),
    )
    assert a.extra == {"cvat_attrib": {"task_id": "7"}, "cvat_tags": [{"attributes": {"sunny": False}}]}
    box, road, lane, sign, sky, wheel, person = a.annotations
    assert [x.id for x in (box, road, lane, sign, sky, wheel, person)] == [1, 2, 3, 4, 5, 6, 7]
    assert box.shape == Box(1.5, 2.25, 10.0, 12.125, 15.5)
    assert box.attributes == {
        "parked": True,
        "speed": 42.5,
        "colour": "blue",
        "kind": "van",
        "plate": " AB & 123 ",
        "occluded": True,
    }
    assert (box.source, box.group_id, box.z_order, box.extra) == (Source.MODEL, 3, 2, {})
    assert road.shape == Polygon.from_flat([[0, 0, 10, 0, 10, 5.5, 0, 5]]) and road.attributes == {}
    assert lane.shape == Polyline(np.array([[1, 1], [5, 5], [9, 1]])) and lane.source is Source.MODEL
    assert lane.extra == {"cvat_source": "semi-auto"} and lane.z_order == 1
    assert sign.shape == Keypoints(np.array([[3, 4, 2], [5.5, 6, 2]]))
    expected_sky = np.zeros((30, 40), bool)
    expected_sky[6:9, 5:8] = [[0, 1, 1], [0, 0, 0], [1, 1, 0]]
    assert sky.shape == Mask.from_array(expected_sky)
    assert wheel.shape == cvat.ellipse_polygon(20, 15, 4, 2, 30)
    assert len(wheel.shape.parts[0].exterior) == cvat.ELLIPSE_VERTICES
    assert wheel.extra["cvat_ellipse"] == {"cx": 20.0, "cy": 15.0, "rx": 4.0, "ry": 2.0, "rotation": 30.0}
    assert person.shape == Keypoints(np.array([[12, 3, 2], [12, 9, 1], [12, 14, 0]]))

    assert [x.label for x in b.annotations] == ["thing", "car"]
    assert b.annotations[0].extra == {"cvat_source": "file"} and b.annotations[0].source is Source.HUMAN
    tracked = b.annotations[1]
    assert (tracked.track_id, tracked.shape, tracked.extra) == (5, Box(2, 2, 6, 6), {"cvat_keyframe": True})
    # frame 2 has no <image>: named after the frame file found in images/, sized from <original_size>
    assert (frame2.id, frame2.file_name, frame2.size) == (2, "frame_000002.jpg", ImageSize(40, 30))
    assert isinstance(frame2.media, FileMedia)
    (moving,) = frame2.annotations  # frame 3 is outside="1": the object has left, so it is no annotation
    assert moving.attributes == {"speed": 3, "occluded": True} and moving.extra == {"cvat_keyframe": False}
    assert ds.annotation_count == 10
    assert ds.info["cvat_meta"]["children"][1] == {"tag": "dumped", "text": "2024-01-01 00:00:00"}


def test_sample_round_trips_exactly(tmp_path: Path) -> None:
    ds, _ = read_text(tmp_path, SAMPLE)
    back, report = write_read(tmp_path, ds)
    assert report.lines() == []
    assert back.ontology == ds.ontology
    assert back.images == ds.images
    assert back.info == ds.info
    write_read(tmp_path, back, name="again")
    assert (tmp_path / "out" / cvat.ANNOTATIONS_FILE).read_text() == (
        tmp_path / "again" / cvat.ANNOTATIONS_FILE
    ).read_text()
    text = (tmp_path / "out" / cvat.ANNOTATIONS_FILE).read_text()
    assert '<ellipse label="wheel"' in text and 'cx="20" cy="15" rx="4" ry="2" rotation="30"' in text
    assert 'rle="1, 2, 3, 2, 1" left="5" top="6" width="3" height="3"' in text
    assert "<dumped>2024-01-01 00:00:00</dumped>" in text and 'data-label-name="head"' in text


def test_edited_ellipse_is_written_as_the_polygon_it_became(tmp_path: Path) -> None:
    ds, _ = read_text(tmp_path, SAMPLE)
    wheel = ds.images[0].annotations[5]
    moved = Polygon((PolygonPart(wheel.shape.parts[0].exterior + 1.0),))
    edited = ds.with_images([ds.images[0].with_annotations([wheel.with_(shape=moved)]), *ds.images[1:]])
    back, _ = write_read(tmp_path, edited)
    assert back.images[0].annotations[0].shape == moved
    assert "cvat_ellipse" not in back.images[0].annotations[0].extra


# ---------------------------------------------------------------------------------------------------------
# Property-based round trip: everything CVAT carries comes back exactly, and nothing is reported lost

SIZE = ImageSize(16, 12)
NAMES = {
    "box": "car <&\">'",
    "polygon": "road",
    "polyline": "lane ü",
    "points": "sign",
    "mask": "sky",
    "any": "thing",
}
ONTOLOGY = Ontology(
    (
        LabelClass(
            NAMES["box"],
            (255, 0, 0),
            shapes=frozenset({ShapeType.BOX}),
            attributes=(
                AttributeSpec("parked", AttributeType.BOOL, default=False),
                AttributeSpec("speed", AttributeType.NUMBER, default=1.5, minimum=-3.0, maximum=250.0),
                AttributeSpec(
                    "kind", AttributeType.CHOICE, choices=("sedan", "van & bus", ""), default="van & bus"
                ),
                AttributeSpec("plate", AttributeType.TEXT, default="n/a"),
                AttributeSpec("count", AttributeType.NUMBER),
            ),
        ),
        LabelClass(NAMES["polygon"], (0, 255, 0), shapes=frozenset({ShapeType.POLYGON})),
        LabelClass(NAMES["polyline"], (0, 0, 255), shapes=frozenset({ShapeType.POLYLINE})),
        LabelClass(NAMES["points"], (9, 9, 9), shapes=frozenset({ShapeType.KEYPOINTS})),
        LabelClass(NAMES["mask"], (0, 9, 99), shapes=frozenset({ShapeType.MASK})),
        LabelClass(NAMES["any"], (1, 2, 3)),
        LabelClass(
            "person",
            (200, 0, 200),
            shapes=frozenset({ShapeType.KEYPOINTS}),
            skeleton=Skeleton(("nose", "left <eye>", "tail"), ((0, 1), (1, 2), (2, 0))),
        ),
    ),
    tags=("day", "night & fog"),
)

coord = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, width=64)
point = st.tuples(coord, coord)
xml_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\n\t\r"), max_size=12)


def box_shapes() -> st.SearchStrategy[Box]:
    return st.builds(
        lambda x, y, w, h, r: Box(x, y, x + w, y + h, r),
        coord,
        coord,
        st.floats(0, 500),
        st.floats(0, 500),
        st.floats(-360, 360) | st.just(0.0),
    )


car_attributes = st.fixed_dictionaries(
    {},
    optional={
        "parked": st.booleans(),
        "speed": st.integers(-5, 300) | st.floats(-1e6, 1e6, allow_nan=False),
        "kind": st.sampled_from(("sedan", "van & bus", "", "not listed")),
        "plate": xml_text,
        "count": st.integers(-(10**12), 10**12),
        "occluded": st.just(True),
        "note <free>": xml_text,
    },
)


def shapes_for(kind: str) -> st.SearchStrategy:
    if kind == "box":
        return st.tuples(st.just(NAMES["box"]), box_shapes(), car_attributes)
    if kind == "polygon":
        return st.tuples(
            st.just(NAMES["polygon"]),
            st.lists(point, min_size=3, max_size=7, unique=True).map(
                lambda p: Polygon.from_rings(np.array(p))
            ),
            st.just({}),
        )
    if kind == "polyline":
        return st.tuples(
            st.just(NAMES["polyline"]),
            st.lists(point, min_size=2, max_size=7).map(lambda p: Polyline(np.array(p))),
            st.fixed_dictionaries({}, optional={"occluded": st.just(True)}),
        )
    if kind == "points":
        return st.tuples(
            st.just(NAMES["points"]),
            st.lists(point, min_size=1, max_size=5).map(
                lambda p: Keypoints(np.column_stack([p, np.full(len(p), 2)]))
            ),
            st.just({}),
        )
    if kind == "mask":
        bits = hnp.arrays(np.bool_, SIZE.shape, elements=st.booleans()).filter(lambda a: a.any())
        return st.tuples(st.just(NAMES["mask"]), bits.map(Mask.from_array), st.just({}))
    if kind == "skeleton":
        kp = st.lists(st.tuples(coord, coord, st.sampled_from((0.0, 1.0, 2.0))), min_size=3, max_size=3)
        return st.tuples(st.just("person"), kp.map(lambda p: Keypoints(np.array(p))), st.just({}))
    return st.tuples(st.just(NAMES["any"]), box_shapes(), st.just({}))


annotation_parts = st.tuples(
    st.sampled_from(("box", "polygon", "polyline", "points", "mask", "skeleton", "any")).flatmap(shapes_for),
    st.sampled_from(Source),
    st.none() | st.integers(1, 40),
    st.integers(-3, 3),
    st.none() | st.integers(0, 99),
)
image_parts = st.tuples(
    st.lists(annotation_parts, max_size=6),
    st.none() | st.sampled_from(("train", "val")),
    st.lists(st.sampled_from(ONTOLOGY.tags), max_size=2),
)


def build_dataset(images: list) -> Dataset:
    records, next_id = [], 1
    for k, (anns, subset, tags) in enumerate(images):
        built = []
        for (label, shape, attributes), source, group, z_order, track in anns:
            built.append(
                Annotation(
                    next_id,
                    label,
                    shape,
                    attributes,
                    source=source,
                    group_id=group,
                    z_order=z_order,
                    track_id=track,
                )
            )
            next_id += 1
        name = f"dir {k % 2}/img_{k}.png" if k % 3 else f"img_{k}.jpg"
        records.append(ImageRecord(10 + 7 * k, name, SIZE, tuple(built), subset=subset, tags=tuple(tags)))
    return Dataset(ONTOLOGY, tuple(records))


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(image_parts, min_size=1, max_size=4))
def test_round_trip_is_exact_and_reports_no_loss(
    tmp_path_factory: pytest.TempPathFactory, images: list
) -> None:
    ds = build_dataset(images)
    back, report = write_read(tmp_path_factory.mktemp("rt"), ds)
    assert report.lines() == []
    assert back.ontology == ds.ontology
    for got, want in zip(back.images, ds.images, strict=True):
        assert got == want, (got, want)
    assert len(back.images) == len(ds.images)


# ---------------------------------------------------------------------------------------------------------
# What CVAT cannot carry is reported, and written as close as CVAT allows


def one_image(*annotations: Annotation, ontology: Ontology = ONTOLOGY) -> Dataset:
    return Dataset(ontology, (ImageRecord(1, "a.png", SIZE, annotations),))


def test_multi_part_polygon_becomes_grouped_polygons(tmp_path: Path) -> None:
    two = Polygon.from_flat([[0, 0, 4, 0, 4, 4], [8, 8, 12, 8, 12, 11]])
    ds = one_image(Annotation(1, "road", two), Annotation(2, "road", two, group_id=3))
    back, report = write_read(tmp_path, ds)
    assert report.counts == {"multi-part polygon written as one <polygon> per part sharing a group_id": 2}
    a, b, c, d = back.images[0].annotations
    assert a.group_id == b.group_id == 4 and c.group_id == d.group_id == 3  # a fresh group next to group 3
    assert [x.shape for x in (a, b)] == [Polygon((p,)) for p in two.parts]


def test_polygon_with_a_hole_is_written_as_a_pixel_exact_mask(tmp_path: Path) -> None:
    ring = Polygon.from_rings([[1, 1], [11, 1], [11, 10], [1, 10]], holes=[[[4, 4], [7, 4], [7, 7], [4, 7]]])
    back, report = write_read(tmp_path, one_image(Annotation(1, "road", ring)))
    assert report.counts == {"polygon with holes written as a pixel-exact <mask>": 1}
    assert back.images[0].annotations[0].shape == polygon_to_mask(ring, SIZE.width, SIZE.height)


def test_fields_cvat_has_no_place_for_are_reported(tmp_path: Path) -> None:
    ann = Annotation(
        1,
        "thing",
        Box(0, 0, 1, 1),
        {"occluded": False},
        score=0.9,
        uncertainty=0.1,
        crowd=True,
        extra={"coco_area": 3},
    )
    sign = Annotation(2, "sign", Keypoints(np.array([[1, 1, 2], [2, 2, 1], [3, 3, 0]])))
    empty = Annotation(3, "sky", Mask.empty(SIZE))
    _, report = write_read(tmp_path, one_image(ann, sign, empty))
    assert set(report.counts) == {
        "score",
        "uncertainty",
        "crowd flag",
        "annotation extra field 'coco_area'",
        "attribute occluded=false (CVAT's default) read back as absent",
        "unlabeled keypoints (v=0) outside a skeleton",
        "per-point occlusion (v=1) outside a skeleton read back as visible",
        "empty mask (CVAT holds no empty masks)",
    }


def test_images_are_copied_and_found_again(tmp_path: Path) -> None:
    src = tmp_path / "pixels.png"
    write_png(src, np.full((12, 16), 7, np.uint8))
    ds = Dataset(ONTOLOGY, (ImageRecord(3, "sub/x.png", None, media=FileMedia(src), subset="val"),))
    back, report = write_read(tmp_path, ds, WriteOptions(copy_images=True))
    assert not report
    (img,) = back.images
    assert (img.file_name, img.size, img.subset) == ("sub/x.png", SIZE, "val")
    assert (
        isinstance(img.media, FileMedia) and img.media.path == tmp_path / "out" / "images" / "sub" / "x.png"
    )
    assert img.media.read()[0, 0].tolist() == [7, 7, 7]


def test_subset_option_writes_only_that_subset(tmp_path: Path) -> None:
    ds = Dataset(
        ONTOLOGY, (ImageRecord(1, "a.png", SIZE, subset="train"), ImageRecord(2, "b.png", SIZE, subset="val"))
    )
    registry.write_dataset(
        ds, tmp_path / "val", "cvat", options=WriteOptions(copy_images=False, subset="val")
    )
    back, _ = registry.read_dataset(tmp_path / "val", "cvat")
    assert [i.file_name for i in back.images] == ["b.png"]


def test_writer_refuses_names_that_leave_the_folder(tmp_path: Path) -> None:
    ds = Dataset(ONTOLOGY, (ImageRecord(1, "../evil.png", SIZE),))
    with pytest.raises(UnsafeInputError):
        cvat.SPEC.write(ds, tmp_path, WriteOptions(copy_images=False))


# ---------------------------------------------------------------------------------------------------------
# Hostile and malformed input


def test_xxe_is_refused_without_leaking_the_file(tmp_path: Path) -> None:
    xxe = (
        '<?xml version="1.0"?>\n<!DOCTYPE annotations [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        "<annotations><version>&xxe;</version></annotations>\n"
    )
    start = time.perf_counter()
    with pytest.raises(UnsafeInputError) as info:
        read_text(tmp_path, xxe)
    assert time.perf_counter() - start < 1.0
    assert "root:" not in str(info.value)
    assert cvat.detect(tmp_path / "src") == 0.5  # claimed, so reading reports the refusal


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    bomb = f'<?xml version="1.0"?>\n<!DOCTYPE annotations [{entities}]>\n<annotations>&lol9;</annotations>\n'
    start = time.perf_counter()
    with pytest.raises(UnsafeInputError, match="refused unsafe XML"):
        read_text(tmp_path, bomb)
    assert time.perf_counter() - start < 1.0


def test_path_traversal_in_an_image_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeInputError, match="leaves the dataset folder"):
        read_text(tmp_path, document('<image id="0" name="../../etc/x.png" width="40" height="30"/>'))


def test_not_cvat_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="not CVAT's <annotations>"):
        read_text(tmp_path, "<annotation><object/></annotation>")
    with pytest.raises(FormatError, match="malformed XML"):
        read_text(tmp_path, "<annotations><image></annotations>")
    with pytest.raises(FormatError, match=r"no annotations\.xml"):
        cvat.SPEC.read(tmp_path / "nothing", ReadOptions())


LABELS = """<labels>
  <label><name>car</name><color>#ff0000</color><type>rectangle</type><attributes>
    <attribute><name>speed</name><mutable>False</mutable><input_type>number</input_type>
      <default_value>0</default_value><values>0
9
1</values></attribute>
    <attribute><name>parked</name><mutable>False</mutable><input_type>checkbox</input_type>
      <default_value>false</default_value><values>false</values></attribute>
  </attributes></label>
  <label><name>road</name><color>#00ff00</color><type>polygon</type><attributes/></label>
  <label><name>sky</name><color>#0000ff</color><type>mask</type><attributes/></label>
  <label><name>person</name><color>#ff00ff</color><type>skeleton</type><attributes/><svg></svg></label>
  <label><name>nose</name><color>#ff00ff</color><type>points</type><attributes/><parent>person</parent></label>
</labels>"""


def document(body: str, labels: str = LABELS) -> str:
    return f"<annotations><version>1.1</version><meta><task>{labels}</task></meta>{body}</annotations>"


GOOD_POLYGON = '<polygon label="road" points="0,0;4,0;4,4"/>'


@pytest.mark.parametrize(
    ("shapes", "where", "reason"),
    [
        (
            '<polygon label="road" points="0,0;1,1"/>',
            "polygon #1",
            "polygon has 2 points, a polygon needs at least 3",
        ),
        (
            GOOD_POLYGON + '<polygon label="road" points="0,0;1;2,2"/>',
            "polygon #2",
            "point 1 is '1', not 'x,y'",
        ),
        (
            '<polygon label="road" points="0,0;1,x;2,2"/>',
            "polygon #1",
            "polygon: point 1 y is 'x', not a number",
        ),
        (
            '<box label="car" xtl="nan" ytl="0" xbr="1" ybr="1"/>',
            "box #1",
            "xtl is 'nan', not a finite number",
        ),
        ('<box label="car" ytl="0" xbr="1" ybr="1"/>', "box #1", "xtl is missing"),
        ('<box label="car" xtl="5" ytl="0" xbr="1" ybr="1"/>', "box #1", "box corners are reversed"),
        (
            '<box label="bus" xtl="0" ytl="0" xbr="1" ybr="1"/>',
            "box #1",
            "label 'bus' is not declared in the meta",
        ),
        (
            '<box label="car" xtl="0" ytl="0" xbr="1" ybr="1"><attribute name="speed">fast</attribute></box>',
            "box #1",
            "attribute 'speed' is 'fast', not a number",
        ),
        (
            '<box label="car" xtl="0" ytl="0" xbr="1" ybr="1"><attribute name="speed">NaN</attribute></box>',
            "box #1",
            "attribute 'speed' is 'NaN', not a finite number",
        ),
        (
            '<box label="car" xtl="0" ytl="0" xbr="1" ybr="1"><attribute name="parked">no?</attribute></box>',
            "box #1",
            "attribute 'parked' is 'no?', not true or false",
        ),
        (
            '<mask label="sky" rle="1, 2" left="0" top="0" width="2" height="2"/>',
            "mask #1",
            "run lengths sum to 3, but the 2x2 mask box has 4 pixels",
        ),
        (
            '<mask label="sky" rle="6" left="38" top="0" width="3" height="2"/>',
            "mask #1",
            "mask box left=38 top=0 width=3 height=2 leaves the 40x30 image",
        ),
        (
            '<mask label="sky" rle="1, -3" left="0" top="0" width="2" height="2"/>',
            "mask #1",
            "not a list of whole",
        ),
        (
            '<mask label="sky" rle="4" left="0" top="0" width="2.5" height="2"/>',
            "mask #1",
            "mask width is '2.5'",
        ),
        (
            '<polyline label="road" points="1,1"/>',
            "polyline #1",
            "polyline has 1 point, a polyline needs at least 2",
        ),
        ('<points label="road" points=""/>', "points #1", "points has no points"),
        (
            '<skeleton label="person"><points label="ear" points="1,1"/></skeleton>',
            "skeleton #1",
            "'ear' is not in",
        ),
        ('<skeleton label="road"/>', "skeleton #1", "label 'road' is not a skeleton"),
        ('<cuboid label="car"/>', "cuboid #1", "<cuboid> is not a shape seglab reads"),
        ('<tag label="bus"/>', "tag #1", "label 'bus' is not declared in the meta"),
        ('<box label="car" xtl="0" ytl="0" xbr="1" ybr="1" group_id="x"/>', "box #1", "group_id is 'x'"),
    ],
)
def test_malformed_objects_are_named_precisely(tmp_path: Path, shapes: str, where: str, reason: str) -> None:
    text = document(f'<image id="0" name="a.png" width="40" height="30">{GOOD_POLYGON}{shapes}</image>')
    ds, options = read_text(tmp_path, text, ErrorPolicy.SKIP)
    (problem,) = options.problems
    expected_where = f"image a.png: {where}"
    if where.startswith("polygon #"):  # GOOD_POLYGON comes first in the image
        expected_where = f"image a.png: polygon #{int(where[-1]) + 1}"
    assert problem.where == expected_where
    assert reason in problem.reason
    assert problem.file.endswith(cvat.ANNOTATIONS_FILE)
    kept = ds.images[0].annotations
    assert kept[0].shape == Polygon.from_flat([[0, 0, 4, 0, 4, 4]])  # the good object stays


def test_fail_policy_refuses_the_whole_read_with_every_problem(tmp_path: Path) -> None:
    text = document(
        '<image id="0" name="a.png" width="40" height="30"><polygon label="road" points="0,0"/></image>'
        '<image id="1" name="b.png"><box label="bus" xtl="0" ytl="0" xbr="1" ybr="1"/></image>'
        '<image id="1" name="c.png"/>'
    )
    _, options = read_text(tmp_path, text)
    with pytest.raises(InvalidDataError) as info:
        options.finish()
    assert [p.where for p in info.value.problems] == [
        "image a.png: polygon #1",
        "image b.png: box #1",
        "image c.png",
    ]
    assert info.value.problems[2].reason == "image id 1 appears twice"


def test_track_problems_name_the_track_and_frame(tmp_path: Path) -> None:
    text = document('<track id="4" label="car"><box frame="2" xtl="0" ytl="0" xbr="x" ybr="1"/></track>')
    _, options = read_text(tmp_path, text, ErrorPolicy.SKIP)
    assert [(p.where, p.reason) for p in options.problems] == [
        ("track 4: box frame 2", "xbr is 'x', not a number")
    ]


def test_label_problems_are_reported(tmp_path: Path) -> None:
    labels = (
        "<labels><label><name>a</name><color>red</color></label><label><name>a</name></label>"
        '<label><name>p</name><type>skeleton</type><svg>&lt;line data-node-from="1" data-node-to="9"/&gt;'
        "</svg></label><label><name>x</name><type>points</type><parent>p</parent></label></labels>"
    )
    ds, options = read_text(tmp_path, document("", labels), ErrorPolicy.SKIP)
    assert [(p.where, p.reason) for p in options.problems] == [
        ("label 'a'", "the label is declared twice"),
        ("label 'a'", "color 'red' is not #rrggbb"),
        ("label 'p'", "skeleton edge refers to node 9, which is no point of the skeleton"),
    ]
    assert ds.ontology.names == ["a", "p"] and ds.ontology["p"].skeleton == Skeleton(("x",))


def test_without_declared_labels_they_are_taken_from_use(tmp_path: Path) -> None:
    text = (
        '<annotations><image id="0" name="a.png" width="4" height="4">'
        '<box label="b" xtl="0" ytl="0" xbr="1" ybr="1"/><polygon label="a" points="0,0;1,0;1,1"/>'
        '<tag label="t"/></image></annotations>'
    )
    ds, options = read_text(tmp_path, text)
    assert options.problems == [] and ds.ontology.names == ["b", "a"] and ds.ontology.tags == ("t",)


def test_cvat_1_0_attribute_syntax_is_read(tmp_path: Path) -> None:
    labels = (
        "<labels><label><name>car</name><attributes><attribute>~select=kind:van,sedan</attribute>"
        "</attributes></label></labels>"
    )
    ds, _ = read_text(tmp_path, document("", labels))
    assert ds.ontology["car"].attributes == (
        AttributeSpec("kind", AttributeType.CHOICE, ("van", "sedan"), "van"),
    )
    assert ds.ontology["car"].extra == {"cvat_attributes": {"kind": {"mutable": True}}}


def test_two_decimal_cvat_exports_read_to_their_values(tmp_path: Path) -> None:
    text = document(
        '<image id="0" name="a.png" width="40" height="30">'
        '<box label="car" xtl="1.50" ytl="2.00" xbr="3.25" ybr="4.10"/></image>'
    )
    ds, _ = read_text(tmp_path, text)
    assert ds.images[0].annotations[0].shape == Box(1.5, 2.0, 3.25, 4.1)


def test_detect(tmp_path: Path) -> None:
    read_text(tmp_path, SAMPLE)
    assert cvat.detect(tmp_path / "src") == 0.95
    assert cvat.detect(tmp_path / "src" / cvat.ANNOTATIONS_FILE) == 0.95
    (tmp_path / "src" / cvat.ANNOTATIONS_FILE).write_text("<annotations><image/></annotations>")
    assert cvat.detect(tmp_path / "src") == 0.6
    (tmp_path / "src" / cvat.ANNOTATIONS_FILE).write_text("<annotation><folder/></annotation>")
    assert cvat.detect(tmp_path / "src") == 0.0
    assert cvat.detect(tmp_path / "missing") == 0.0


def test_text_xml_cannot_hold_is_refused_by_name(tmp_path: Path) -> None:
    ds = Dataset(Ontology.from_names(["bad\x01name"]), (ImageRecord(1, "a.png", SIZE),))
    with pytest.raises(FormatError, match=r"U\+0001 cannot be written in XML 1\.0"):
        cvat.SPEC.write(ds, tmp_path, WriteOptions(copy_images=False))


def test_labels_and_tags_missing_from_the_ontology_are_declared_and_reported(tmp_path: Path) -> None:
    record = ImageRecord(1, "a.png", SIZE, (Annotation(1, "stray", Box(0, 0, 2, 2)),), tags=("odd",))
    back, report = write_read(tmp_path, Dataset(ONTOLOGY, (record,)))
    assert report.counts == {
        "annotation label missing from the ontology declared as a CVAT label": 1,
        "image tag missing from the ontology declared as a CVAT tag label": 1,
    }
    assert back.ontology.names[-1] == "stray" and back.ontology.tags[-1] == "odd"
    assert back.images[0].annotations[0].shape == Box(0, 0, 2, 2) and back.images[0].tags == ("odd",)


# ---------------------------------------------------------------------------------------------------------
# A class with a skeleton that also allows other shapes: one CVAT 'skeleton' label, its shapes from use

SKELETON = Skeleton(("head", "hip"), ((0, 1),))


def person_dataset(shapes: frozenset[ShapeType], *annotations: Annotation) -> Dataset:
    person = LabelClass("person", (220, 20, 60), shapes=shapes, skeleton=SKELETON)
    return Dataset(Ontology((person,)), (ImageRecord(1, "a.png", SIZE, annotations),))


def test_skeleton_class_with_boxes_and_masks_round_trips_and_validates(tmp_path: Path) -> None:
    mask = Mask.from_array(np.pad(np.ones((3, 2), bool), ((2, 7), (4, 10))))
    ds = person_dataset(
        frozenset({ShapeType.BOX, ShapeType.MASK, ShapeType.KEYPOINTS}),
        Annotation(1, "person", Keypoints(np.array([[3.5, 2.0, 2], [4.0, 5.0, 1]])), group_id=7),
        Annotation(2, "person", Box(3, 1.5, 6, 6), group_id=7),
        Annotation(3, "person", mask, group_id=7),
    )
    back, report = write_read(tmp_path, ds)
    assert report.lines() == []
    assert back.ontology == ds.ontology
    assert back.images[0].annotations == ds.images[0].annotations
    assert validate(back) == []
    xml = (tmp_path / "out" / cvat.ANNOTATIONS_FILE).read_text()
    assert xml.count("<name>person</name>") == 1 and "<type>skeleton</type>" in xml


def test_shapes_a_skeleton_class_allows_but_never_uses_are_reported(tmp_path: Path) -> None:
    ds = person_dataset(
        frozenset({ShapeType.BOX, ShapeType.MASK, ShapeType.POLYGON, ShapeType.KEYPOINTS}),
        Annotation(1, "person", Box(0, 0, 2, 2)),
    )
    back, report = write_read(tmp_path, ds)
    (lost,) = report.counts
    assert lost.startswith("shapes a skeleton class allows that none of its annotations uses")
    assert report.examples[lost] == "person: mask, polygon"
    assert back.ontology["person"].shapes == {ShapeType.BOX, ShapeType.KEYPOINTS}
    assert validate(back) == []


def test_a_keypoints_only_skeleton_label_stays_keypoints_only(tmp_path: Path) -> None:
    ds = person_dataset(frozenset({ShapeType.KEYPOINTS}))
    back, report = write_read(tmp_path, ds)
    assert not report and back.ontology == ds.ontology


def test_demo_dataset_round_trips_through_cvat(tmp_path: Path) -> None:
    ds = build_sample_dataset()
    back, report = write_read(tmp_path, ds)
    assert validate(back) == []
    # Expected by the format: CVAT has no thing/stuff, skeleton sigmas or flip index, dataset description,
    # one type per label (several allowed shapes -> 'any'), no polygon holes or multi-part polygons.
    assert set(report.counts) == {
        "polygon with holes written as a pixel-exact <mask>",
        "attribute occluded=false (CVAT's default) read back as absent",
        "multi-part polygon written as one <polygon> per part sharing a group_id",
        "label allowing several shape types written as CVAT type 'any'",
        "stuff kind (CVAT has no thing/stuff)",
        "skeleton sigmas / flip index",
        "dataset info field 'description'",
    }
    person, got = ds.ontology["person"], back.ontology["person"]
    assert got.shapes == person.shapes
    assert got.skeleton is not None and person.skeleton is not None
    assert (got.skeleton.points, got.skeleton.edges) == (person.skeleton.points, person.skeleton.edges)
    for want_image, got_image in zip(ds.images, back.images, strict=True):
        want = [a for a in want_image.annotations if a.label == "person"]
        have = [a for a in got_image.annotations if a.label == "person"]
        assert [(a.shape, a.group_id) for a in have] == [(a.shape, a.group_id) for a in want]
