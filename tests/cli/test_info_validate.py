"""`seglab info`, `seglab validate` and `seglab formats`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from seglab.cli.main import app
from seglab.formats import registry
from tests.conftest import shared_data


def test_info_json_has_exactly_the_documented_keys(runner: CliRunner, written, sample) -> None:
    result = runner.invoke(app, ["info", str(written("cvat")), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["format", "images", "annotations", "by_type", "classes"]
    assert data["format"] == "cvat"
    assert data["images"] == 3
    assert list(data["by_type"]) == ["box", "polygon", "polyline", "keypoints", "mask"]
    # the sample's keypoints, polylines and masks survive CVAT unchanged in number
    expected = sample.count_by_type()
    for kind in ("keypoints", "polyline", "box"):
        assert data["by_type"][kind] == expected[kind]
    assert data["annotations"] == sum(data["by_type"].values())
    assert set(data["classes"]) == set(sample.ontology.names)
    assert sum(data["classes"].values()) == data["annotations"]


def test_info_json_matches_the_reader(runner: CliRunner, written) -> None:
    src = written("coco")
    ds, _ = registry.read_dataset(src, "coco")
    data = json.loads(runner.invoke(app, ["info", str(src), "--json", "--from", "coco"]).stdout)
    assert data == {
        "format": "coco",
        "images": len(ds),
        "annotations": ds.annotation_count,
        "by_type": ds.count_by_type(),
        "classes": ds.count_by_class(),
    }


def test_info_tables(runner: CliRunner, written) -> None:
    result = runner.invoke(app, ["info", str(written("coco"))])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "format: coco (detected, confidence" in out
    assert "images: 3 (train: 2, val: 1)" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") == 4}
    assert "stuff" in rows["road"] and "thing" in rows["person"]
    assert rows["lane"].split("│")[3].strip() == "0"  # COCO has no polylines: the class is kept, empty
    assert "keypoints" in out


def test_info_on_bad_data_reports_what_it_left_out(runner: CliRunner, bad_coco: Path) -> None:
    result = runner.invoke(app, ["info", str(bad_coco), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["annotations"] == 2
    assert "skipped 3 invalid object(s)" in result.stderr


def test_info_unknown_format_is_a_usage_error(runner: CliRunner, written) -> None:
    result = runner.invoke(app, ["info", str(written("cvat")), "--from", "pdf"])
    assert result.exit_code == 2
    assert "unknown format 'pdf'" in result.output


def test_info_real_yolo_pose(runner: CliRunner) -> None:
    src = shared_data("ultralytics_coco8", "coco8-pose")
    result = runner.invoke(app, ["info", str(src), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["format"] == "yolo"
    assert data["images"] == 8
    assert data["by_type"]["keypoints"] > 0
    assert "person" in data["classes"]


def test_info_real_coco_keypoints(runner: CliRunner) -> None:
    src = shared_data("coco_keypoints", "coco", "test_coco.json")
    data = json.loads(runner.invoke(app, ["info", str(src), "--json"]).stdout)
    assert data["format"] == "coco"
    assert data["images"] == 4
    assert data["by_type"]["keypoints"] == 14
    assert data["classes"] == {"person": data["annotations"]}


def test_validate_clean_dataset_exits_0(runner: CliRunner, written) -> None:
    result = runner.invoke(app, ["validate", str(written("labelme"))])
    assert result.exit_code == 0, result.output
    assert "no problems" in result.stdout


def test_validate_bad_file_lists_every_object_and_exits_1(runner: CliRunner, bad_coco: Path) -> None:
    result = runner.invoke(app, ["validate", str(bad_coco), "--json"])
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert all(set(r) == {"file", "image", "object", "severity", "reason"} for r in rows)
    by_object = {r["object"].split(" (")[0]: r for r in rows}
    # 2, 3, 4 are rejected by the reader; 5 is read and then found outside its 64x48 image
    assert set(by_object) == {"annotation 2", "annotation 3", "annotation 4", "annotation 5"}
    assert all(r["file"].endswith("instances.json") for r in rows)
    assert "2 points" in by_object["annotation 2"]["reason"]
    assert "category_id 7" in by_object["annotation 3"]["reason"]
    assert by_object["annotation 5"]["image"] == "a.png"
    assert by_object["annotation 5"]["reason"].startswith("outside-image")


def test_validate_table_output(runner: CliRunner, bad_coco: Path) -> None:
    result = runner.invoke(app, ["validate", str(bad_coco)])
    assert result.exit_code == 1
    assert "4 problem(s)" in result.stdout
    assert "outside-image" in result.stdout
    assert "Traceback" not in result.output


def test_validate_panoptic_checks_on_request(runner: CliRunner, written) -> None:
    # the sample's people stand on the road: panoptic checks report the overlap, and that fails validation
    src = str(written("labelme"))
    assert runner.invoke(app, ["validate", src]).exit_code == 0
    result = runner.invoke(app, ["validate", src, "--panoptic", "--json"])
    assert result.exit_code == 1
    assert any(r["reason"].startswith("overlap:") for r in json.loads(result.stdout))


def test_validate_malformed_file_is_a_clean_error(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "annotations.xml"
    bad.write_text("<annotations><image></annotations>")
    result = runner.invoke(app, ["validate", str(bad), "--from", "cvat"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


def test_formats_lists_every_format_with_what_it_carries(runner: CliRunner) -> None:
    result = runner.invoke(app, ["formats"])
    assert result.exit_code == 0
    for spec in registry.list_formats():
        assert spec.name in result.stdout
    assert "keypoints" in result.stdout and "polyline" in result.stdout


def test_help_lists_every_command(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("convert", "info", "validate", "render", "formats", "demo", "eval"):
        assert command in result.stdout


def test_no_arguments_shows_help(runner: CliRunner) -> None:
    result = runner.invoke(app, [])
    assert "convert" in result.output
    assert result.exit_code == 2


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("seglab ")
