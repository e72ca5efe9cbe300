"""The commands end to end: autolabel train / predict, audit and suggest, on a COCO dataset on disk."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from seglab.cli.autolabel_cmd import audit_cmd, autolabel_app, suggest_cmd
from seglab.core import Source
from seglab.formats import registry
from seglab.formats.safe_io import write_png
from tests.autolabel.scenes import scene, scene_dataset

app = typer.Typer()
app.add_typer(autolabel_app, name="autolabel")
app.command("audit")(audit_cmd)
app.command("suggest")(suggest_cmd)
runner = CliRunner()


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    ds = scene_dataset([1, 2, 3], size=64, n_objects=3)
    registry.write_dataset(ds, root / "coco", "coco")
    return root


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_train_then_predict(dataset_dir, tmp_path):
    model = tmp_path / "scenes.seglab-model"
    out = _run("autolabel", "train", str(dataset_dir / "coco"), "--out", str(model), "--rounds", "8",
               "--members", "2", "--max-images", "2", "--threads", "1", "--sigmas", "1,2,4")  # fmt: skip
    assert "trained on 2 image(s)" in out and model.is_file()
    images = tmp_path / "new"
    images.mkdir()
    write_png(images / "fresh.png", scene(9, size=64, n_objects=3).pixels)
    dst, probs = tmp_path / "pred", tmp_path / "probs"
    _run("autolabel", "predict", str(model), str(images), "--out", str(dst), "--to", "coco",
         "--probabilities", str(probs), "--threads", "1")  # fmt: skip
    ds, _ = registry.read_dataset(dst, "coco")
    anns = ds.images[0].annotations
    assert anns and all(a.source is Source.MODEL and a.score is not None for a in anns)
    assert all(a.uncertainty is not None and 0 <= a.uncertainty <= 1 for a in anns)
    assert {"disc", "square"} <= {a.label for a in anns}
    proba = np.load(probs / "fresh.npy", allow_pickle=False)
    assert proba.shape == (64, 64, 3)
    summary = json.loads((probs / "uncertainty.json").read_text())
    assert summary["classes"] == ["background", "disc", "square"] and "fresh.png" in summary["images"]


def test_refuses_existing_model_and_tampered_model(dataset_dir, tmp_path):
    model = tmp_path / "m.seglab-model"
    model.write_bytes(b"anything")
    result = runner.invoke(app, ["autolabel", "train", str(dataset_dir / "coco"), "--out", str(model)])
    assert result.exit_code == 2
    images = tmp_path / "imgs"
    images.mkdir()
    write_png(images / "a.png", scene(9, size=32).pixels)
    args = ["autolabel", "predict", str(model), str(images), "--out", str(tmp_path / "o"), "--to", "coco"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "not a seglab auto-label model" in result.output


def test_audit_writes_json_and_report(dataset_dir, tmp_path):
    js, report = tmp_path / "suspects.json", tmp_path / "report"
    _run("audit", str(dataset_dir / "coco"), "--json", str(js), "--report", str(report),
         "--folds", "3", "--rounds", "10", "--threads", "1")  # fmt: skip
    rows = json.loads(js.read_text())
    assert isinstance(rows, list)
    for row in rows:
        assert row["kind"] in {"missing", "spurious", "wrong_class", "boundary", "other"}
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert (report / "index.html").is_file()


def test_suggest_ranks_unlabeled_images(dataset_dir, tmp_path):
    root = tmp_path / "mixed"
    ds = scene_dataset([1, 2, 5, 6, 7], size=64, n_objects=3)
    ds = ds.with_images([img if i < 2 else img.with_annotations([]) for i, img in enumerate(ds.images)])
    registry.write_dataset(ds, root, "coco")
    js = tmp_path / "next.json"
    _run("suggest", str(root), "--count", "2", "--json", str(js), "--threads", "1", "--rounds", "10")
    picks = json.loads(js.read_text())
    assert [p["rank"] for p in picks] == [1, 2]
    assert {p["image"] for p in picks} <= {"scene_3.png", "scene_4.png", "scene_5.png"}


def test_predict_with_a_torchscript_network(tmp_path):
    """A user's TorchScript file (.pt) goes to the PyTorch backend, with its output classes named."""
    torch = pytest.importorskip("torch", reason="PyTorch is an optional extra: pip install seglab[torch]")
    from tests.autolabel.test_backends import _traced

    network = tmp_path / "net.pt"
    _traced(torch, network)
    images = tmp_path / "new"
    images.mkdir()
    write_png(images / "fresh.png", scene(4, size=48, n_objects=2).pixels)
    args = ["autolabel", "predict", str(network), str(images), "--out", str(tmp_path / "x"), "--to", "coco"]
    refused = runner.invoke(app, args)
    assert refused.exit_code != 0 and "--classes" in refused.output
    dst = tmp_path / "pred"
    _run("autolabel", "predict", str(network), str(images), "--out", str(dst), "--to", "coco",
         "--classes", "red,other", "--min-area", "1")  # fmt: skip
    ds, _ = registry.read_dataset(dst, "coco")
    assert set(ds.ontology.names) <= {"red", "other"}
    assert all(a.source is Source.MODEL for a in ds.images[0].annotations)
