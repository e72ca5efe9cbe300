"""`seglab convert`: detection, losses, skip-invalid, refusals and atomic output."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seglab.cli.main import app
from seglab.core.errors import FormatError
from seglab.formats import registry


def _leftovers(parent: Path, name: str) -> list[Path]:
    """Staging or backup folders the registry would leave beside ``name`` if it were not atomic."""
    return [p for p in parent.iterdir() if p.name.startswith(f".{name}.")]


def test_convert_detects_writes_and_reports_losses(
    runner: CliRunner, written, sample, tmp_path: Path
) -> None:
    src = written("cvat")
    dst = tmp_path / "as_coco"
    result = runner.invoke(app, ["convert", str(src), str(dst), "--to", "coco"])
    assert result.exit_code == 0, result.output
    assert "format: cvat (detected, confidence" in result.stdout
    assert "as coco to" in result.stdout
    # COCO has no polylines: the loss report must say so (never a silent drop)
    assert "losses (coco cannot hold everything that was read):" in result.stdout
    assert "polyline" in result.stdout
    back, skipped = registry.read_dataset(dst, "coco")
    assert skipped == []
    assert len(back) == len(sample)
    assert back.count_by_type()["polyline"] == 0
    assert back.count_by_type()["keypoints"] == sample.count_by_type()["keypoints"]
    assert len(list((dst).rglob("*.png"))) == len(sample)  # images were copied


def test_convert_with_from_and_no_copy_images(runner: CliRunner, written, tmp_path: Path) -> None:
    dst = tmp_path / "out"
    result = runner.invoke(
        app, ["convert", str(written("coco")), str(dst), "--from", "coco", "--to", "cvat", "--no-copy-images"]
    )
    assert result.exit_code == 0, result.output
    assert "format: coco (given with --from)" in result.stdout
    assert not list(dst.rglob("*.png"))
    assert (dst / "annotations.xml").is_file()


def test_convert_says_when_nothing_is_lost(runner: CliRunner, written, tmp_path: Path) -> None:
    # CVAT read back from CVAT holds everything that was read: the report says so explicitly
    result = runner.invoke(app, ["convert", str(written("cvat")), str(tmp_path / "again"), "--to", "cvat"])
    assert result.exit_code == 0, result.output
    assert "losses: none; cvat holds everything that was read" in result.stdout


def test_convert_refuses_existing_non_empty_destination(runner: CliRunner, written, tmp_path: Path) -> None:
    dst = tmp_path / "taken"
    dst.mkdir()
    (dst / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["convert", str(written("cvat")), str(dst), "--to", "coco"])
    assert result.exit_code == 2
    assert "not empty" in result.output and "--overwrite" in result.output
    assert [p.name for p in dst.iterdir()] == ["keep.txt"]


def test_convert_overwrite_replaces_destination(runner: CliRunner, written, tmp_path: Path) -> None:
    dst = tmp_path / "taken"
    dst.mkdir()
    (dst / "old.txt").write_text("old")
    result = runner.invoke(app, ["convert", str(written("cvat")), str(dst), "--to", "coco", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert not (dst / "old.txt").exists()
    assert list(dst.rglob("*.json"))
    assert _leftovers(tmp_path, "taken") == []


def test_convert_accepts_an_empty_destination_folder(runner: CliRunner, written, tmp_path: Path) -> None:
    dst = tmp_path / "empty"
    dst.mkdir()
    result = runner.invoke(app, ["convert", str(written("cvat")), str(dst), "--to", "coco"])
    assert result.exit_code == 0, result.output


def test_convert_invalid_data_fails_with_every_object_and_writes_nothing(
    runner: CliRunner, bad_coco: Path, tmp_path: Path
) -> None:
    dst = tmp_path / "out"
    result = runner.invoke(app, ["convert", str(bad_coco), str(dst), "--to", "cvat"])
    assert result.exit_code == 1
    assert "3 invalid object(s); nothing was written" in result.stderr
    for ann_id, reason in ((2, "2 points"), (3, "category_id 7"), (4, "NaN")):
        line = next(ln for ln in result.stderr.splitlines() if f"annotation {ann_id} " in ln)
        assert "instances.json" in line and reason in line
    assert "Traceback" not in result.output
    assert not dst.exists()
    assert _leftovers(tmp_path, "out") == []


def test_convert_skip_invalid_lists_what_was_skipped(
    runner: CliRunner, bad_coco: Path, tmp_path: Path
) -> None:
    dst = tmp_path / "out"
    result = runner.invoke(app, ["convert", str(bad_coco), str(dst), "--to", "cvat", "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert "skipped 3 invalid object(s) (instances.json: 3)" in result.stdout
    assert "annotation 4 (a.png)" in result.stdout
    back, _ = registry.read_dataset(dst, "cvat")
    assert back.annotation_count == 2


def test_convert_is_atomic_when_the_writer_fails(
    runner: CliRunner, written, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = registry.get_format("coco")

    def half_then_fail(dataset, dst, options):
        (dst / "annotations").mkdir()
        (dst / "annotations" / "partial.json").write_text("{")
        raise FormatError("disk full (simulated)", file="annotations/partial.json")

    monkeypatch.setitem(registry._registry(), "coco", dataclasses.replace(spec, write=half_then_fail))
    dst = tmp_path / "out"
    result = runner.invoke(app, ["convert", str(written("cvat")), str(dst), "--to", "coco"])
    assert result.exit_code == 1
    assert "error: annotations/partial.json: disk full (simulated)" in result.stderr
    assert "Traceback" not in result.output
    assert not dst.exists()
    assert _leftovers(tmp_path, "out") == []


def test_convert_failure_keeps_the_old_destination_under_overwrite(
    runner: CliRunner, written, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = registry.get_format("coco")

    def fail(dataset, dst, options):
        raise FormatError("simulated")

    monkeypatch.setitem(registry._registry(), "coco", dataclasses.replace(spec, write=fail))
    dst = tmp_path / "out"
    dst.mkdir()
    (dst / "precious.txt").write_text("x")
    result = runner.invoke(app, ["convert", str(written("cvat")), str(dst), "--to", "coco", "--overwrite"])
    assert result.exit_code == 1
    assert (dst / "precious.txt").read_text() == "x"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "nope"], "unknown format 'nope'"),
        (["--to", "coco", "--from", "nope"], "unknown format 'nope'"),
        ([], "--to"),
    ],
)
def test_convert_usage_errors_exit_2(
    runner: CliRunner, written, tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["convert", str(written("cvat")), str(tmp_path / "o"), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "o").exists()


def test_convert_refuses_to_write_inside_or_over_the_source(
    runner: CliRunner, written, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    shutil.copytree(written("cvat"), src)
    for dst in (src, src / "inner", tmp_path):
        result = runner.invoke(app, ["convert", str(src), str(dst), "--to", "coco", "--overwrite"])
        assert result.exit_code == 2, (dst, result.output)
    assert (src / "annotations.xml").is_file()


def test_convert_missing_or_unknown_source_is_a_clean_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["convert", str(tmp_path / "nothing"), str(tmp_path / "o"), "--to", "coco"])
    assert result.exit_code == 1
    assert "no such file or folder" in result.stderr
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    result = runner.invoke(app, ["convert", str(junk), str(tmp_path / "o"), "--to", "coco"])
    assert result.exit_code == 1
    assert "cannot tell which format" in result.stderr and "--from" in result.stderr
    assert "Traceback" not in result.output


def test_convert_malformed_file_is_a_clean_error(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "instances.json"
    bad.write_text('{"images": [], "annotations": [')
    result = runner.invoke(app, ["convert", str(bad), str(tmp_path / "o"), "--from", "coco", "--to", "cvat"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "instances.json" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_convert_reads_a_zip_archive(runner: CliRunner, written, tmp_path: Path) -> None:
    archive = shutil.make_archive(str(tmp_path / "cvat"), "zip", written("cvat"))
    result = runner.invoke(app, ["convert", archive, str(tmp_path / "o"), "--to", "coco"])
    assert result.exit_code == 0, result.output
    assert "format: cvat (detected" in result.stdout


def test_convert_real_labelme_examples(runner: CliRunner, tmp_path: Path) -> None:
    from tests.conftest import shared_data

    src = shared_data("labelme_examples", "examples", "instance_segmentation", "data_annotated")
    result = runner.invoke(app, ["convert", str(src), str(tmp_path / "coco"), "--to", "coco"])
    assert result.exit_code == 0, result.output
    assert "format: labelme (detected" in result.stdout
    back, _ = registry.read_dataset(tmp_path / "coco", "coco")
    assert back.annotation_count > 0


@pytest.mark.parametrize(
    ("task", "kinds", "columns"),
    [
        ("detect", {"box"}, {5}),
        ("obb", {"box"}, {9}),  # rotated boxes: 4 corners
        ("segment", {"polygon"}, None),
        ("pose", {"box", "keypoints"}, {5 + 17 * 3}),  # the COCO person skeleton, with visibility
    ],
)
def test_convert_to_yolo_writes_the_task_asked_for(
    runner: CliRunner, written, tmp_path: Path, task: str, kinds: set[str], columns: set[int] | None
) -> None:
    dst = tmp_path / task
    result = runner.invoke(app, ["convert", str(written("coco")), str(dst), "--to", "yolo", "--task", task])
    assert result.exit_code == 0, result.output
    back, _ = registry.read_dataset(dst, "yolo")
    assert {kind for kind, n in back.count_by_type().items() if n} == kinds
    widths = {
        len(line.split()) for f in (dst / "labels").rglob("*.txt") for line in f.read_text().splitlines()
    }
    assert widths == columns if columns else all(w % 2 == 1 and w >= 7 for w in widths)
    assert ("kpt_shape" in (dst / "data.yaml").read_text()) == (task == "pose")


def test_convert_task_is_refused_for_other_formats_and_unknown_tasks(
    runner: CliRunner, written, tmp_path: Path
) -> None:
    src = str(written("coco"))
    result = runner.invoke(app, ["convert", src, str(tmp_path / "a"), "--to", "voc", "--task", "detect"])
    assert result.exit_code == 2 and "--task applies to --to yolo only, not to voc" in result.output
    result = runner.invoke(app, ["convert", src, str(tmp_path / "b"), "--to", "yolo", "--task", "classify"])
    assert result.exit_code == 2 and "classify" in result.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("fmt", ["coco", "yolo", "cvat", "voc"])
def test_convert_subset_writes_only_that_subset(runner: CliRunner, written, tmp_path: Path, fmt: str) -> None:
    dst = tmp_path / fmt
    result = runner.invoke(app, ["convert", str(written("cvat")), str(dst), "--to", fmt, "--subset", "val"])
    assert result.exit_code == 0, result.output
    assert "wrote 1 image(s)" in result.stdout
    back, _ = registry.read_dataset(dst, fmt)
    assert [(i.file_name, i.subset) for i in back.images] == [("street_003.png", "val")]


def test_convert_unknown_subset_names_the_subsets_present(runner: CliRunner, written, tmp_path: Path) -> None:
    dst = tmp_path / "out"
    result = runner.invoke(
        app, ["convert", str(written("coco")), str(dst), "--to", "coco", "--subset", "tst"]
    )
    assert result.exit_code == 1
    assert "no image is in subset 'tst' (subsets present: train, val)" in result.output
    assert not dst.exists()


def test_convert_default_subset_names_images_without_one(runner: CliRunner, written, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    sample, _ = registry.read_dataset(written("coco"), "coco")
    registry.write_dataset(sample.with_images([i.with_(subset=None) for i in sample.images]), plain, "cvat")
    dst = tmp_path / "out"
    result = runner.invoke(
        app, ["convert", str(plain), str(dst), "--to", "coco", "--default-subset", "holdout"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (dst / "annotations").iterdir()) == ["instances_holdout.json"]
