"""`seglab render` and `seglab demo`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from typer.testing import CliRunner

from seglab.cli.demo import MARKER
from seglab.cli.main import app
from seglab.core.conventions import ImageSize
from seglab.core.geometry import Keypoints
from seglab.core.raster import shape_to_mask
from seglab.formats import registry
from tests.conftest import shared_data


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.int16)


def test_render_draws_where_annotations_are(runner: CliRunner, written, sample, tmp_path: Path) -> None:
    src = written("cvat")
    out = tmp_path / "overlays"
    result = runner.invoke(app, ["render", str(src), str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 3 overlay(s)" in result.stdout
    pngs = sorted(out.rglob("*.png"))
    assert [p.relative_to(out).as_posix() for p in pngs] == [
        "train/street_001.png",
        "train/street_002.png",
        "val/street_003.png",
    ]
    for image, png in zip(sample.images, pngs, strict=True):
        source = np.asarray(Image.open(src / "images" / image.file_name).convert("RGB")).astype(np.int16)
        drawn = _png(png)
        assert drawn.shape == source.shape
        changed = np.abs(drawn - source).sum(axis=2) > 0  # (H, W)
        size = ImageSize(*image.size)
        # every filled area (road, sky, cars, people) is tinted almost everywhere
        for ann in image.annotations:
            if ann.kind.value in ("polygon", "mask"):
                region = shape_to_mask(ann.shape, size).array
                assert changed[region].mean() > 0.9, (image.file_name, ann.id, ann.label)
            elif ann.kind.value == "polyline":
                x, y = ann.shape.points[1]
                assert changed[int(y), int(x)], (image.file_name, ann.id)
        # pixels away from every annotation keep their colour (captions aside): outside the stuff areas
        # (and their outlines), and outside the bounds of every thing
        stuff = np.zeros(size.shape, dtype=bool)
        far = np.ones(size.shape, dtype=bool)
        for ann in image.annotations:
            if ann.label in ("road", "sky"):
                stuff |= shape_to_mask(ann.shape, size).array
                continue
            b = ann.bounds()
            rows = slice(max(int(b.y_min) - 6, 0), max(int(b.y_max) + 7, 0))
            cols = slice(max(int(b.x_min) - 6, 0), max(int(b.x_max) + 7, 0))
            far[rows, cols] = False
        far &= ~ndimage.binary_dilation(stuff, iterations=4)
        assert far.sum() > 100
        assert (~changed[far]).mean() > 0.95


def test_render_one_image_and_unknown_image(runner: CliRunner, written, tmp_path: Path) -> None:
    src = str(written("coco"))
    out = tmp_path / "one"
    result = runner.invoke(app, ["render", src, str(out), "--image", "street_002"])
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.rglob("*.png")] == ["street_002.png"]
    result = runner.invoke(app, ["render", src, str(tmp_path / "none"), "--image", "nope"])
    assert result.exit_code == 2
    assert "no image 'nope'" in result.output
    assert not (tmp_path / "none").exists()


def test_render_without_image_files_draws_on_grey(runner: CliRunner, good_coco: Path, tmp_path: Path) -> None:
    out = tmp_path / "grey"
    result = runner.invoke(app, ["render", str(good_coco), str(out)])
    assert result.exit_code == 0, result.output
    assert "drawn on grey" in result.stderr
    drawn = _png(out / "a.png")
    assert drawn.shape == (48, 64, 3)
    assert (drawn[40, 60] == 128).all()  # untouched background
    assert (drawn[5, 5] != 128).any()  # inside the 1..11 square


def test_render_real_coco_keypoints(runner: CliRunner, tmp_path: Path) -> None:
    src = shared_data("coco_keypoints", "coco", "test_coco.json")
    out = tmp_path / "kp"
    result = runner.invoke(app, ["render", str(src), str(out), "--image", "000000196141.jpg"])
    assert result.exit_code == 0, result.output
    drawn = _png(out / "000000196141.png")
    source = np.asarray(Image.open(src.parent / "000000196141.jpg").convert("RGB")).astype(np.int16)
    ds, _ = registry.read_dataset(src, "coco")
    image = ds.image("000000196141.jpg")
    changed = np.abs(drawn - source).sum(axis=2) > 30
    for ann in image.annotations:
        if not isinstance(ann.shape, Keypoints):  # each person is read as its outline and its keypoints
            continue
        pts = ann.shape.points
        visible = pts[pts[:, 2] == 2]
        if len(visible):
            x, y = visible[0, :2]
            assert changed[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2].any(), ann.id


def test_demo_runs_writes_every_format_and_renders(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    started = time.perf_counter()
    result = runner.invoke(app, ["demo", str(out)], env={"COLUMNS": "200"})
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert elapsed < 30
    names = [s.name for s in registry.list_formats()]
    for name in names:
        assert (out / "formats" / name).is_dir(), name
        assert any((out / "overlays" / name).rglob("*.png")), name
        row = next(line for line in result.stdout.splitlines() if line.startswith(f"│ {name} "))
        cells = [c.strip() for c in row.split("│")[1:-1]]
        assert cells[1].split()[0] == name  # each output is detected as its own format
        assert cells[2] == "36"  # objects written
        assert int(cells[3]) > 0  # objects read back
    assert len(list((out / "overlays" / "sample").rglob("*.png"))) == 3
    assert (out / MARKER).is_file()
    assert "failed" not in result.stdout
    # the outputs are real datasets the other commands read
    info = json.loads(runner.invoke(app, ["info", str(out / "formats" / "coco"), "--json"]).stdout)
    assert info["images"] == 3


def test_demo_replaces_its_own_output_but_not_other_folders(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    assert runner.invoke(app, ["demo", str(out)]).exit_code == 0
    (out / "stale.txt").write_text("from before")
    assert runner.invoke(app, ["demo", str(out)]).exit_code == 0
    assert not (out / "stale.txt").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep")
    result = runner.invoke(app, ["demo", str(mine)])
    assert result.exit_code == 2
    assert (mine / "thesis.tex").read_text() == "keep"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
