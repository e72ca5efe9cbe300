"""The fast paths of the label-PNG writers against their plain references: band decoding of RLE, the PNG
encoder, panoptic painting (``core.segmentation.panoptic_map``), segment ids and the JSON check."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage

from seglab.core import Annotation, Box, ImageSize, LabelClass, LabelKind, Mask, Ontology, Polygon
from seglab.core.raster import shape_to_mask
from seglab.core.segmentation import panoptic_map
from seglab.formats import coco_panoptic
from seglab.formats.label_maps import (
    area_counts,
    column_bands,
    jsonable,
    report_hidden,
    report_hidden_counts,
    write_indexed_png,
    write_rgb_png,
)

masks_st = st.integers(1, 30).flatmap(
    lambda h: st.integers(1, 30).flatmap(
        lambda w: st.lists(
            st.one_of(
                st.just(np.zeros((h, w), bool)),
                st.just(np.ones((h, w), bool)),
                st.integers(0, 2**32 - 1).map(lambda seed: np.random.default_rng(seed).random((h, w)) < 0.3),
                st.tuples(st.integers(0, h), st.integers(0, w), st.integers(0, h), st.integers(0, w)).map(
                    lambda r: _rect(h, w, *r)
                ),
            ),
            min_size=1,
            max_size=6,
        )
    )
)


def _rect(h: int, w: int, y0: int, x0: int, dy: int, dx: int) -> np.ndarray:
    out = np.zeros((h, w), bool)
    out[y0 : y0 + dy, x0 : x0 + dx] = True
    return out


@settings(max_examples=200, deadline=None)
@given(masks_st)
def test_column_bands_equal_the_dense_masks(arrays: list[np.ndarray]) -> None:
    h, w = arrays[0].shape
    bands = column_bands([Mask.from_array(a).rle["counts"] for a in arrays], h)
    for arr, band in zip(arrays, bands, strict=True):
        assert band.area == int(arr.sum())
        assert len(band.pixels) == (band.stop - band.start) * h
        by_column = np.zeros((w, h), bool)
        by_column[band.start : band.stop] = band.pixels.reshape(-1, h)
        np.testing.assert_array_equal(by_column.T, arr)
        if band.area:  # the band is tight: its first and last columns hold pixels
            assert arr[:, band.start].any() and arr[:, band.stop - 1].any()


def test_column_bands_of_a_big_image() -> None:
    arr = np.zeros((1000, 3000), bool)
    arr[500:900, 2000:2500] = True
    inside, outside = column_bands([Mask.from_array(m).rle["counts"] for m in (arr, ~arr)], 1000)
    assert (inside.start, inside.stop, inside.area) == (2000, 2500, 400 * 500)
    assert (outside.start, outside.stop, outside.area) == (0, 3000, arr.size - 400 * 500)


@pytest.mark.parametrize("count", [3, 256, 700])
@pytest.mark.parametrize("transposed", [False, True])
def test_write_rgb_png_holds_the_colours(tmp_path: Path, count: int, transposed: bool) -> None:
    rng = np.random.default_rng(count)
    dtype = np.uint8 if count <= 256 else np.int32
    values = rng.integers(0, count, size=(37, 53)).astype(dtype)  # (H, W)
    if transposed:  # a column-major map, as the panoptic writer paints it
        values = np.ascontiguousarray(values.T).T
    colors = rng.integers(0, 256, size=(count, 3)).astype(np.uint8)
    path = tmp_path / "sub" / "map.png"
    write_rgb_png(path, values, colors)
    with Image.open(path) as img:
        assert img.mode == "RGB" and img.size == (53, 37)
        np.testing.assert_array_equal(np.asarray(img), colors[values])


@pytest.mark.parametrize("seed", range(30))
def test_area_counts_equal_shape_to_mask(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = ImageSize(int(rng.integers(3, 50)), int(rng.integers(3, 50)))
    shapes = [
        Polygon.from_flat(
            [
                rng.uniform(-5, 55, size=2 * int(rng.integers(1, 8))).tolist()
                for _ in range(int(rng.integers(1, 4)))
            ]
        ),
        Polygon.from_rings([[1, 1], [30, 2], [25, 30], [2, 28]], [[[5, 5], [10, 5], [8, 12]]]),
        Polygon(()),
        Mask.from_array(rng.random(size.shape) < 0.5),
        Box(1.5, 2.0, 7.25, 9.0, rotation=float(rng.uniform(0, 90))),
    ]
    order = rng.permutation(len(shapes))
    shapes = [shapes[i] for i in order]
    for shape, counts in zip(shapes, area_counts(shapes, size), strict=True):
        assert Mask.from_rle({"size": list(size.shape), "counts": counts}) == shape_to_mask(shape, size)


def _scene(seed: int) -> tuple[list[Annotation], Ontology, ImageSize]:
    """Overlapping polygons and masks of thing and stuff classes, groups, z-orders, an empty one."""
    rng = np.random.default_rng(seed)
    size = ImageSize(int(rng.integers(5, 60)), int(rng.integers(5, 60)))
    ontology = Ontology(
        (
            LabelClass("sky", (70, 130, 180), LabelKind.STUFF),
            LabelClass("car", (0, 0, 142), LabelKind.THING),
            LabelClass("person", (220, 20, 60), LabelKind.THING),
        )
    )
    anns = []
    for i in range(int(rng.integers(1, 12))):
        label = ["sky", "car", "person"][int(rng.integers(0, 3))]
        if rng.random() < 0.5:
            rings = [
                rng.uniform(-3, [size.width + 3, size.height + 3], size=(int(rng.integers(3, 9)), 2)).ravel()
                for _ in range(int(rng.integers(1, 3)))
            ]
            shape: Polygon | Mask = Polygon.from_flat(rings)
        else:
            shape = Mask.from_array(rng.random(size.shape) < rng.random() * 0.5)
        anns.append(
            Annotation(
                i + 1,
                label,
                shape,
                z_order=int(rng.integers(0, 3)),
                group_id=int(rng.integers(1, 3)) if rng.random() < 0.3 else None,
                crowd=bool(rng.random() < 0.2),
            )
        )
    return anns, ontology, size


@pytest.mark.parametrize("seed", range(60))
def test_panoptic_painting_equals_panoptic_map(seed: int) -> None:
    anns, ontology, size = _scene(seed)
    local = [a.with_(id=i) for i, a in enumerate(anns)]
    reference = panoptic_map(local, ontology, size)
    segments, painting = coco_panoptic._paint(anns, {c.name: c for c in ontology.classes}, size)
    np.testing.assert_array_equal(painting.by_column.T, reference.ids)
    boxes = ndimage.find_objects(reference.ids)
    assert len(segments) == len(reference.segments)
    for ours, theirs in zip(segments, reference.segments, strict=True):
        assert (ours.id, ours.label, ours.is_thing, ours.area, ours.crowd) == (
            theirs.id,
            theirs.label,
            theirs.is_thing,
            theirs.area,
            theirs.crowd,
        )
        assert tuple(ours.members) == theirs.annotation_ids
        rows, cols = boxes[theirs.id - 1]
        assert ours.bbox == (cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)


@pytest.mark.parametrize("seed", range(20))
def test_hidden_report_is_the_same_from_counts_with_and_without_bands(seed: int) -> None:
    from seglab.core import ImageRecord
    from seglab.formats.base import LossReport

    anns, ontology, size = _scene(seed)
    segments, painting = coco_panoptic._paint(anns, {c.name: c for c in ontology.classes}, size)
    owner: list[int | None] = [None] * len(anns)
    for seg in segments:
        for i in seg.members:
            owner[i] = seg.id
    image = ImageRecord(1, "a.png", size, tuple(anns))
    bands = column_bands(area_counts([a.shape for a in anns], size), size.height)
    from_counts, with_bands, without = LossReport(), LossReport(), LossReport()
    report_hidden_counts(from_counts, image, anns, painting, owner)
    report_hidden(with_bands, image, size, anns, painting.by_column.T, owner, bands)
    report_hidden(without, image, size, anns, np.ascontiguousarray(painting.by_column.T), owner)
    assert from_counts.lines() == with_bands.lines() == without.lines()


def _segment_ids_reference(candidates, colors, is_thing, seed) -> list[int]:  # type: ignore[no-untyped-def]
    """The ids drawn one ``integers(size=3)`` call per try, as before the draws were batched."""
    out: list[int | None] = [None] * len(candidates)
    used: set[int] = set()
    for i, cand in enumerate(candidates):
        if isinstance(cand, int) and 0 < cand <= coco_panoptic.MAX_SEGMENT_ID and cand not in used:
            out[i] = cand
            used.add(cand)
    rng = np.random.default_rng(seed)
    fallback = 1
    for i, value in enumerate(out):
        if value is not None:
            continue
        base = np.array(colors[i], dtype=np.int64)
        choice = None
        if not is_thing[i]:
            sid = int(base[0] + 256 * base[1] + 65536 * base[2])
            if sid and sid not in used:
                choice = sid
        for _ in range(64 if choice is None else 0):
            rgb = np.clip(base + rng.integers(-30, 31, size=3), 0, 255)
            sid = int(rgb[0] + 256 * rgb[1] + 65536 * rgb[2])
            if sid and sid not in used:
                choice = sid
                break
        while choice is None:
            if fallback not in used:
                choice = fallback
            fallback += 1
        out[i] = choice
        used.add(choice)
    return [int(v) for v in out if v is not None]


@pytest.mark.parametrize("seed", range(40))
def test_segment_ids_are_those_of_one_draw_per_try(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    palette = [(0, 0, 0), (5, 250, 3), (128, 64, 32), (255, 255, 255)]
    colors = [palette[int(k)] for k in rng.integers(0, len(palette), n)]
    things = [bool(v) for v in rng.random(n) < 0.8]
    candidates = [int(v) if v > 0 else None for v in rng.integers(-5, 3, n)]
    got = coco_panoptic.segment_ids(candidates, colors, things, seed)
    assert got == _segment_ids_reference(candidates, colors, things, seed)
    assert len(set(got)) == n and 0 not in got


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        3,
        -2.5,
        "x",
        math.nan,
        math.inf,
        [1, 2.5],
        [1, math.nan],
        (1, 2),
        [1, "a"],
        {"a": [1]},
        {"a": math.inf},
        [[1, 2]],
        object(),
        {1: 2},
        [object()],
        b"x",
    ],
)
def test_jsonable_agrees_with_json(value: object) -> None:
    try:
        json.dumps(value, allow_nan=False)
        expected = True
    except (TypeError, ValueError):
        expected = False
    assert jsonable(value) is expected


@pytest.mark.parametrize("text", ["#-1-1-1", "#+1+2+3", "# 12345", "#12345g", "12345678"])
def test_parse_color_refuses_what_is_not_six_hex_digits(text: str) -> None:
    from seglab.formats.label_maps import parse_color

    with pytest.raises(ValueError, match="#rrggbb"):
        parse_color(text, what="colour")
    assert parse_color("#Ff0010", what="colour") == (255, 0, 16)


@pytest.mark.parametrize("colors", [2, 21, 256])
@pytest.mark.parametrize("transposed", [False, True])
def test_write_indexed_png_reads_back_as_pillow_palette_image(
    tmp_path: Path, colors: int, transposed: bool
) -> None:
    rng = np.random.default_rng(colors)
    values = rng.integers(0, colors, size=(29, 41)).astype(np.uint8)  # (H, W)
    if transposed:  # a view of a column-major map
        values = np.ascontiguousarray(values.T).T
    palette = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(colors)]
    path = tmp_path / "sub" / "map.png"
    write_indexed_png(path, values, palette)
    with Image.open(path) as img:
        assert img.mode == "P" and img.size == (41, 29)
        np.testing.assert_array_equal(np.asarray(img), values)
        stored = np.asarray(img.getpalette(), dtype=np.uint8).reshape(-1, 3)
    assert len(stored) == 256
    np.testing.assert_array_equal(stored[:colors], np.asarray(palette, dtype=np.uint8))
    assert not stored[colors:].any()  # padded with black, as Pillow pads


def test_write_indexed_png_refuses_what_a_palette_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8"):
        write_indexed_png(tmp_path / "a.png", np.zeros((2, 2), np.uint16), [(0, 0, 0)])
    with pytest.raises(ValueError, match="256"):
        write_indexed_png(tmp_path / "a.png", np.zeros((2, 2), np.uint8), [(0, 0, 0)] * 257)
    assert not (tmp_path / "a.png").exists()
