"""CLI test fixtures: the bundled sample written in a few formats, and a COCO file with bad objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seglab.core.dataset import Dataset
from seglab.demo import build_sample_dataset
from seglab.formats import registry

# Objects of BAD_COCO: 1 and 5 are readable (5 lies outside its image), 2, 3 and 4 are rejected by the reader.
BAD_COCO = """{
 "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
 "categories": [{"id": 1, "name": "car"}],
 "annotations": [
  {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10],
   "segmentation": [[1, 1, 11, 1, 11, 11, 1, 11]], "area": 100, "iscrowd": 0},
  {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 5, 5]], "bbox": [1, 1, 4, 4],
   "area": 0, "iscrowd": 0},
  {"id": 3, "image_id": 1, "category_id": 7, "bbox": [1, 1, 4, 4], "area": 16, "iscrowd": 0},
  {"id": 4, "image_id": 1, "category_id": 1, "bbox": [NaN, 1, 4, 4], "area": 16, "iscrowd": 0},
  {"id": 5, "image_id": 1, "category_id": 1, "bbox": [50, 40, 30, 30], "area": 900, "iscrowd": 0}
 ]
}"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def sample() -> Dataset:
    return build_sample_dataset()


@pytest.fixture(scope="session")
def written(tmp_path_factory: pytest.TempPathFactory, sample: Dataset):
    """``written(fmt)``: the sample written once per session in ``fmt`` (with its images)."""
    root = tmp_path_factory.mktemp("sample")
    cache: dict[str, Path] = {}

    def get(fmt: str) -> Path:
        if fmt not in cache:
            registry.write_dataset(sample, root / fmt, fmt)
            cache[fmt] = root / fmt
        return cache[fmt]

    return get


@pytest.fixture
def bad_coco(tmp_path: Path) -> Path:
    path = tmp_path / "bad" / "instances.json"
    path.parent.mkdir()
    path.write_text(BAD_COCO)
    return path


@pytest.fixture
def good_coco(tmp_path: Path) -> Path:
    """A valid single-image COCO file (no image file on disk)."""
    data = json.loads(BAD_COCO.replace("NaN", "0"))
    data["annotations"] = [data["annotations"][0]]
    path = tmp_path / "good" / "instances.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    return path
