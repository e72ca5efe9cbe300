"""What every format shares on write: the demo dataset's round trip validates clean, and ``WriteOptions``
fields mean the same for every format (``subset`` filters, ``default_subset`` names unsplit images)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seglab.core.dataset import Dataset
from seglab.core.errors import FormatError
from seglab.core.validation import validate
from seglab.demo import build_sample_dataset
from seglab.formats import registry
from seglab.formats.base import WriteOptions

FORMATS = [spec.name for spec in registry.list_formats()]
WITHOUT_SUBSETS = {"labelme", "masks"}  # these layouts have no splits: a subset is a reported loss


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return build_sample_dataset()


def test_every_format_is_covered() -> None:
    assert set(FORMATS) == {"coco", "coco-panoptic", "yolo", "voc", "labelme", "cvat", "cityscapes", "masks"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_demo_round_trip_validates_clean(fmt: str, demo: Dataset, tmp_path: Path) -> None:
    """Whatever a format cannot hold is dropped and reported, never left half-valid (e.g. a class that
    reads back allowing fewer shapes than its annotations use)."""
    report = registry.write_dataset(demo, tmp_path / fmt, fmt)
    back, skipped = registry.read_dataset(tmp_path / fmt, fmt)
    assert skipped == []
    assert validate(back) == []
    assert len(back.images) == len(demo.images)
    assert report  # the demo holds something every format loses (polylines, tags, colours, ...)


@pytest.mark.parametrize("fmt", FORMATS)
def test_subset_option_writes_only_that_subset(fmt: str, demo: Dataset, tmp_path: Path) -> None:
    assert demo.subsets() == ["train", "val"]
    report = registry.write_dataset(demo, tmp_path / fmt, fmt, options=WriteOptions(subset="val"))
    back, _ = registry.read_dataset(tmp_path / fmt, fmt)
    (image,) = back.images
    assert image.file_name.endswith(("street_003.png", "street_003_leftImg8bit.png"))
    if fmt in WITHOUT_SUBSETS:
        assert image.subset is None and any("subset" in line for line in report.lines())
    else:
        assert image.subset == "val"


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unknown_subset_is_refused_and_writes_nothing(fmt: str, demo: Dataset, tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"no image is in subset 'test' \(subsets present: train, val\)"):
        registry.write_dataset(demo, tmp_path / "out", fmt, options=WriteOptions(subset="test"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_default_subset_names_the_images_without_one(fmt: str, demo: Dataset, tmp_path: Path) -> None:
    mixed = demo.with_images([demo.images[0].with_(subset=None), *demo.images[1:]])
    options = WriteOptions(default_subset="holdout")
    report = registry.write_dataset(mixed, tmp_path / fmt, fmt, options=options)
    back, _ = registry.read_dataset(tmp_path / fmt, fmt)
    assert options == WriteOptions(default_subset="holdout")  # the caller's options are left alone
    if fmt in WITHOUT_SUBSETS:
        assert back.subsets() == [None] and any("subset" in line for line in report.lines())
    else:
        assert sorted(map(str, back.subsets())) == ["holdout", "train", "val"]
        assert not any("subset" in line or "split" in line for line in report.lines())


def test_empty_default_subset_is_refused(demo: Dataset, tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="default subset name is empty"):
        registry.write_dataset(demo, tmp_path / "out", "coco", options=WriteOptions(default_subset=" "))
