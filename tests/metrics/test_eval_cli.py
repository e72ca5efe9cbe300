"""`seglab eval`: every task end to end through the real readers, the JSON keys the issue lists, bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seglab.cli.eval_cmd import eval_command
from seglab.cli.main import app
from seglab.demo import build_sample_dataset
from seglab.formats import registry
from tests.conftest import shared_data

DET_KEYS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
KP_KEYS = ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"]


@pytest.fixture(scope="module")
def sample_in(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("eval-sample")
    sample = build_sample_dataset()
    cache: dict[str, Path] = {}

    def get(fmt: str) -> Path:
        if fmt not in cache:
            registry.write_dataset(sample, root / fmt, fmt)
            cache[fmt] = root / fmt
        return cache[fmt]

    return get


def _run(*args: str):
    return CliRunner().invoke(app, ["eval", *args])


def test_boxes_from_a_results_list(tmp_path: Path) -> None:
    folder = shared_data("coco_keypoints", "coco")
    out, rows, plots = tmp_path / "s.json", tmp_path / "rows.csv", tmp_path / "plots"
    result = _run(
        str(folder / "test_coco.json"), str(folder / "test_coco_det_AP_H_56.json"), "--task", "boxes",
        "--json", str(out), "--per-image", str(rows), "--plots", str(plots),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "AP50" in result.stdout and "0.982" in result.stdout
    data = json.loads(out.read_text())
    assert [k for k in data if k not in ("task", "per_class", "warnings")] == DET_KEYS
    published = [0.789, 0.982, 0.982, 0.650, 0.767, 0.872, 0.279, 0.829, 0.843, 0.650, 0.820, 0.914]
    assert [round(data[k], 3) for k in DET_KEYS] == published
    with rows.open() as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 4 and {"image", "tp", "fp", "fn", "mean_iou"} <= set(table[0])
    pngs = sorted(p.name for p in plots.iterdir())
    assert pngs == ["confusion_matrix.png", "pr_curve_iou50.png", "pr_curve_iou75.png"]
    assert all((plots / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_keypoints_keys(tmp_path: Path) -> None:
    gt = shared_data("coco_keypoints", "coco", "test_coco.json")
    out = tmp_path / "kp.json"
    result = _run(str(gt), str(gt), "--task", "keypoints", "--json", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert [k for k in data if k not in ("task", "per_class", "warnings")] == KP_KEYS
    assert data["AR"] == 1.0  # the ground truth against itself (scores default to 1)


def test_semantic_panoptic_and_agreement(tmp_path: Path, sample_in) -> None:
    masks = sample_in("masks")
    out = tmp_path / "sem.json"
    result = _run(
        str(masks), str(masks), "--task", "semantic", "--json", str(out), "--plots", str(tmp_path / "p")
    )
    assert result.exit_code == 0, result.output
    sem = json.loads(out.read_text())
    assert {"mIoU", "fwIoU", "pixel_accuracy", "dice", "boundary_f1", "per_class"} <= set(sem)
    assert sem["mIoU"] == 1.0 and set(next(iter(sem["per_class"].values()))) >= {"IoU", "dice"}
    assert (tmp_path / "p" / "confusion_matrix.png").exists()

    pan = sample_in("coco-panoptic")
    result = _run(
        str(pan), str(pan), "--task", "panoptic", "--json", str(out), "--per-image", str(tmp_path / "r.csv")
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["PQ"] == 1.0 and set(data["things"]) == {"PQ", "SQ", "RQ", "n"} and "stuff" in data
    assert set(next(iter(data["per_class"].values()))) >= {"PQ", "SQ", "RQ"}

    coco = sample_in("coco")
    result = _run(
        str(coco), str(coco), "--task", "agreement", "--json", str(out), "--plots", str(tmp_path / "a")
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert {"matched_iou", "precision", "recall", "f1", "kappa", "per_class"} <= set(data)
    assert data["f1"] == 1.0 and data["kappa"] == 1.0


def test_semantic_across_formats(tmp_path: Path, sample_in) -> None:
    # the same labels as CVAT polygons/masks and as class-index PNGs paint the same semantic maps
    out = tmp_path / "s.json"
    code = eval_command(sample_in("cvat"), sample_in("masks"), "semantic", json_out=out)
    assert code == 0
    assert json.loads(out.read_text())["mIoU"] == 1.0


def test_bad_input_exits_with_a_clear_message(tmp_path: Path) -> None:
    gt = shared_data("coco_keypoints", "coco", "test_coco.json")
    bad = tmp_path / "res.json"
    bad.write_text(json.dumps([{"image_id": 123456, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]))
    result = _run(str(gt), str(bad), "--task", "boxes")
    assert result.exit_code == 1
    assert "image_id 123456 is not an image of the reference dataset" in result.output
    result = _run(str(gt), str(gt), "--task", "depth")
    assert result.exit_code == 2
    result = _run(str(gt), str(gt), "--task", "boxes", "--iou-threshold", "1.5")
    assert result.exit_code == 2 and "IoU threshold" in result.output
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    result = _run(str(gt), str(empty), "--task", "boxes", "--json", str(tmp_path / "e.json"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "e.json").read_text())["AP"] == 0.0
