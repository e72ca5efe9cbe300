"""Import and export dialogs: every server format offered; an archive upload that fails shows the per-object
report and changes nothing; with skip-invalid it imports the rest; a folder picked on the server imports;
an export's progress ends in a download link that serves the zip."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from seglab.demo import build_sample_dataset
from seglab.formats.registry import list_formats, write_dataset
from seglab.service.job_kinds import make_job_system
from tests.web.conftest import shot, unique
from tests.web.live import LiveServer, png

ONTOLOGY = {"classes": [{"name": "car", "shapes": ["box"]}, {"name": "lane", "shapes": ["polyline"]}]}


def _coco_zip(tmp_path: Path) -> Path:
    """A COCO archive with one image, a good car box and a box for 'lane' (which allows polylines only)."""
    doc = {
        "images": [{"id": 1, "file_name": "street.png", "width": 120, "height": 90}],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "lane"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 30], "area": 1200, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [5, 50, 60, 10], "area": 600, "iscrowd": 0},
        ],
    }
    path = tmp_path / "street.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("annotations/instances_default.json", json.dumps(doc))
        z.writestr("images/street.png", png(120, 90, seed=91))
    return path


def _start_import(page: Any, archive: Path, *, skip: bool) -> None:
    page.click("[data-testid=open-import]")
    page.wait_for_selector("[data-testid=import-dialog]")
    page.set_input_files("[data-testid=import-file]", str(archive))
    page.select_option("[data-testid=import-format]", "coco")
    page.set_checked("[data-testid=import-skip-invalid]", skip)
    page.click("[data-testid=import-start]")


def test_import_report_then_skip_invalid_then_export_download(
    page: Any, live: LiveServer, tmp_path: Path
) -> None:
    pid = live.project(unique("transfer"), ONTOLOGY)
    archive = _coco_zip(tmp_path)
    page.goto(f"/projects/{pid}")
    page.wait_for_selector("[data-testid=open-import]")

    # Every format the server has is offered, plus detection.
    page.click("[data-testid=open-import]")
    page.wait_for_selector("[data-testid=import-format]")
    offered = page.locator("[data-testid=import-format] option").evaluate_all("os => os.map(o => o.value)")
    assert offered == ["", *[f.name for f in list_formats()]]
    page.click("[data-testid=import-dialog-close]")

    # Without skip-invalid: the job fails with a per-object report, the project is unchanged.
    _start_import(page, archive, skip=False)
    page.wait_for_selector("[data-testid=job-progress][data-status=failed]", timeout=20000)
    rows = page.locator("[data-testid=problem-row]")
    assert rows.count() == 1
    assert "annotation 2" in rows.nth(0).inner_text() and "allows polyline" in rows.nth(0).inner_text()
    assert "unchanged" in page.inner_text("[data-testid=import-failed]")
    shot(page, "import-failed")
    assert live.api.get(f"/api/projects/{pid}/images").json()["total"] == 0

    # Change the option and try again in the same dialog: the rest is imported, the skipped object listed.
    page.click("[data-testid=import-retry]")
    page.set_checked("[data-testid=import-skip-invalid]", True)
    page.click("[data-testid=import-start]")
    page.wait_for_selector("[data-testid=job-progress][data-status=succeeded]", timeout=20000)
    summary = page.inner_text("[data-testid=import-summary]")
    assert "1 images added" in summary and "1 skipped objects" in summary, summary
    assert page.locator("[data-testid=problem-row]").count() == 1
    shot(page, "import-done")
    page.click("[data-testid=import-done]")
    page.wait_for_selector("[data-testid=image-tile]")  # the grid refreshed
    images = live.api.get(f"/api/projects/{pid}/images").json()["items"]
    assert [i["file_name"] for i in images] == ["street.png"]

    # Export as YOLO: progress, then a link that downloads the archive.
    page.click("[data-testid=open-export]")
    page.select_option("[data-testid=export-format]", "yolo")
    page.click("[data-testid=export-start]")
    page.wait_for_selector("[data-testid=export-download]", timeout=20000)
    assert page.get_attribute("[data-testid=job-progress]", "data-status") == "succeeded"
    shot(page, "export-done")
    with page.expect_download() as info:
        page.click("[data-testid=export-download]")
    download = info.value
    with zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes())) as z:
        names = z.namelist()
    assert any(n.endswith("data.yaml") for n in names) and any(n.endswith("street.png") for n in names), names


@pytest.fixture
def import_root(live: LiveServer, tmp_path: Path) -> Iterator[Path]:
    """The live server with an import root for the length of one test (its app reads services per request)."""
    root = tmp_path / "imports"
    write_dataset(build_sample_dataset(), root / "street", "labelme")
    (root / "empty").mkdir()
    app = live.server.config.app
    original = app.state.services
    settings = original.settings.model_copy(update={"import_roots": [root]})
    confined = dataclasses.replace(
        original, settings=settings, jobs=make_job_system(settings, original.db, original.blobs)
    )
    app.state.services = confined
    try:
        yield root
    finally:
        app.state.services = original
        confined.jobs.close()


def test_import_from_a_folder_picked_on_the_server(page: Any, live: LiveServer, import_root: Path) -> None:
    pid = live.project(unique("folder-import"), {"classes": []})
    page.goto(f"/projects/{pid}")
    page.click("[data-testid=open-import]")
    page.click("[data-testid=import-source-folder]")
    page.click("[data-testid=import-folder]")  # the root
    page.wait_for_selector("[data-testid=import-folder][data-path$='/street']")
    assert page.locator("[data-testid=import-folder]").all_text_contents() == ["▸ empty", "▸ street"]
    page.click("[data-testid=import-folder][data-path$='/street']")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=import-folder-path]').value.endsWith('/street')"
    )
    assert page.input_value("[data-testid=import-folder-path]") == str((import_root / "street").resolve())
    shot(page, "import-folder")
    page.click("[data-testid=import-start]")  # format detected
    page.wait_for_selector("[data-testid=job-progress][data-status=succeeded]", timeout=20000)
    assert "labelme" in page.inner_text("[data-testid=import-summary]")
    assert live.api.get(f"/api/projects/{pid}/images").json()["total"] == 3

    # Outside the roots: refused by the server, said in the dialog.
    page.click("[data-testid=import-done]")
    page.click("[data-testid=open-import]")
    page.click("[data-testid=import-source-folder]")
    page.fill("[data-testid=import-folder-path]", "/etc")
    page.click("[data-testid=import-start]")
    page.wait_for_selector("[data-testid=import-error]:has-text('no folder')")
