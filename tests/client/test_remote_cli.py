"""``seglab import`` and ``seglab export`` against a live server, with the token from SEGLAB_TOKEN."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from seglab.cli.main import app
from seglab.client import Client
from seglab.demo import build_sample_dataset
from seglab.formats.registry import read_dataset, write_dataset
from tests.client.conftest import unique
from tests.client.test_client import BAD_COCO
from tests.web.live import LiveServer, png


def _run(args: list[str], token: str | None) -> tuple[int, str]:
    env = {"SEGLAB_TOKEN": token or ""}
    result = CliRunner().invoke(app, args, env=env)
    words = result.output.replace("│", " ").split()  # usage errors come in a box, wrapped
    return result.exit_code, " ".join(words)


def test_import_then_export_to_a_folder_and_to_a_zip(
    client: Client, live: LiveServer, token: str, tmp_path: Path
) -> None:
    name = unique("cli")
    client.create_project(name)
    source = tmp_path / "source"
    write_dataset(build_sample_dataset(), source, "coco")
    expected, _ = read_dataset(source, "coco")

    code, out = _run(
        ["import", str(source), "--server", live.url, "--project", name, "--format", "coco"], token
    )
    assert code == 0, out
    assert f"imported into {name!r}" in out and f"images added {len(expected.images)}" in out

    folder = tmp_path / "exported"
    code, out = _run(["export", "--server", live.url, "--project", name, "--to", "coco", str(folder)], token)
    assert code == 0, out
    exported, _ = read_dataset(folder, "coco")
    assert sorted(i.file_name for i in exported.images) == sorted(i.file_name for i in expected.images)
    assert sum(len(i.annotations) for i in exported.images) == sum(
        len(i.annotations) for i in expected.images
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left

    archive = tmp_path / "yolo.zip"
    code, out = _run(
        ["export", "--server", live.url, "--project", name, "--to", "yolo", "--no-images", str(archive)],
        token,
    )
    assert code == 0, out
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
    assert any(n.endswith(".txt") for n in names) and not any(n.endswith(".png") for n in names)

    code, out = _run(["export", "--server", live.url, "--project", name, "--to", "coco", str(folder)], token)
    assert code == 2 and "--overwrite" in out  # an existing destination is kept
    code, out = _run(
        ["export", "--server", live.url, "--project", name, "--to", "coco", "--overwrite", str(folder)], token
    )
    assert code == 0, out


def test_a_refused_import_lists_its_problems_and_exits_1(
    client: Client, live: LiveServer, token: str, tmp_path: Path
) -> None:
    name = unique("cli-bad")
    pid = client.create_project(name)["id"]
    source = tmp_path / "bad"
    (source / "annotations").mkdir(parents=True)
    (source / "images").mkdir()
    (source / "annotations" / "instances.json").write_text(json.dumps(BAD_COCO))
    (source / "images" / "a.png").write_bytes(png(64, 48, seed=5))

    code, out = _run(
        ["import", str(source), "--server", live.url, "--project", name, "--format", "coco"], token
    )
    assert code == 1
    assert "failed" in out and "category" in out.lower() and "--skip-invalid" in out
    assert list(client.images(pid)) == []

    code, out = _run(
        [
            "import",
            str(source),
            "--server",
            live.url,
            "--project",
            name,
            "--format",
            "coco",
            "--skip-invalid",
        ],
        token,
    )
    assert code == 0, out
    assert len(list(client.images(pid))) == 1


def test_usage_errors_are_clear(live: LiveServer, token: str, tmp_path: Path) -> None:
    code, out = _run(
        ["export", "--server", live.url, "--project", "x", "--to", "coco", str(tmp_path / "o")], None
    )
    assert code == 2 and "SEGLAB_TOKEN" in out
    code, out = _run(
        ["export", "--server", live.url, "--project", "x", "--to", "nope", str(tmp_path / "o")], token
    )
    assert code == 2 and "unknown format" in out
    missing = unique("missing")
    code, out = _run(
        ["export", "--server", live.url, "--project", missing, "--to", "coco", str(tmp_path / "o")], token
    )
    assert code == 1 and f"no project named {missing!r}" in out
    code, out = _run(["import", str(tmp_path / "nothing"), "--server", live.url, "--project", "x"], token)
    assert code == 2 and "no such file" in out
    code, out = _run(["import", str(tmp_path), "--server", "http://127.0.0.1:9", "--project", "x"], token)
    assert code == 1 and "cannot reach" in out
