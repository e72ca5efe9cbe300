"""Auto-labeling in the browser: train on the approved images from the project page, auto-label the rest,
open the most uncertain image from the uncertainty queue, see its predictions (dashed, with score and
uncertainty) and heat map, accept one (it becomes a human object on the server), then audit the labels and
open a suspect from the audit queue in the editor."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from seglab.core import Annotation, Mask
from seglab.storage import repositories as repo
from tests.autolabel.scenes import scene
from tests.web.conftest import shot, unique
from tests.web.helpers import EditorDriver
from tests.web.live import LiveServer

ONTOLOGY: dict[str, Any] = {
    "classes": [
        {"name": "disc", "color": [230, 70, 70], "kind": "thing", "shapes": ["polygon", "mask"]},
        {"name": "square", "color": [70, 120, 240], "kind": "thing", "shapes": ["polygon", "mask"]},
    ]
}
NAMES = {1: "disc", 2: "square"}
JOB_TIMEOUT = 180_000


def _png(pixels: Any) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def _labels(seed: int, *, swap_first: bool = False) -> list[dict[str, Any]]:
    s = scene(seed, size=128, n_objects=4)
    docs = []
    for obj, cls in s.objects:
        name = NAMES[cls]
        if swap_first and not docs:
            name = NAMES[3 - cls]  # a wrong class, for the audit to find
        doc = repo.to_doc(Annotation(len(docs) + 1, name, Mask.from_array(s.instances == obj)))
        docs.append({k: v for k, v in doc.items() if k != "id"})
    return docs


def _run_dialog_job(page: Any, opener: str, fields: dict[str, str], ok: str) -> None:
    """Open a job's dialog from the project page with button ``opener``, fill ``fields`` (test id: value),
    start it with button ``ok`` and wait until the job has succeeded."""
    page.click(f"[data-testid={opener}]")
    for testid, value in fields.items():
        page.fill(f"[data-testid={testid}]", value)
    page.click(f"[data-testid={ok}]")
    page.wait_for_selector(
        "[data-testid=autolabel-job] [data-testid=job-progress][data-status=succeeded]", timeout=JOB_TIMEOUT
    )


def test_train_autolabel_review_accept_and_audit(page: Any, live: LiveServer) -> None:
    pid = live.project(unique("autolabel"), ONTOLOGY)
    seeds = {1: "approved", 2: "approved", 6: "approved", 3: "new", 5: "new"}
    files = [(f"scene-{seed}.png", _png(scene(seed, size=128, n_objects=4).pixels)) for seed in seeds]
    ids = {seed: int(img["id"]) for seed, img in zip(seeds, live.upload(pid, files), strict=True)}
    for seed, status in seeds.items():
        if status == "approved":
            live.save(pid, ids[seed], _labels(seed, swap_first=seed == 6))
            for action in ("submit", "approve"):
                r = live.api.post(f"/api/projects/{pid}/images/{ids[seed]}/status", json={"action": action})
                assert r.status_code == 200, r.text

    # Train from the project page (small settings keep the test quick), then auto-label.
    page.goto(f"/projects/{pid}")
    page.wait_for_selector("[data-testid=autolabel-card]")
    train = {"train-rounds": "15", "train-members": "2", "feature-scales": "1, 2, 4"}
    _run_dialog_job(page, "autolabel-train", train, "train-dialog-ok")
    page.wait_for_selector("[data-testid=autolabel-model]:has-text('trained on 3 approved')")
    shot(page, "autolabel-trained")
    page.click("[data-testid=autolabel-predict]")
    page.click("[data-testid=predict-dialog-ok]")
    page.wait_for_selector(
        "[data-testid=autolabel-outcome]:has-text('prediction(s) on 2 image(s)')", timeout=JOB_TIMEOUT
    )
    shot(page, "autolabel-predicted")

    # The uncertainty queue lists the two auto-labeled images, most uncertain first.
    page.click("[data-testid=open-uncertainty]")
    page.wait_for_selector("[data-testid=uncertainty-row]")
    rows = page.locator("[data-testid=uncertainty-row]")
    assert rows.count() == 2
    assert {int(rows.nth(i).get_attribute("data-id")) for i in range(2)} == {ids[3], ids[5]}
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=uncertainty-row] img')]"
        ".every((i) => i.complete && i.naturalWidth > 0)"
    )
    shot(page, "autolabel-uncertainty-queue")
    first = int(rows.nth(0).get_attribute("data-id"))
    rows.nth(0).locator("[data-testid=uncertainty-open]").click()
    page.wait_for_url(f"**/images/{first}")
    ed = EditorDriver(page)
    ed.wait_ready()
    page.wait_for_selector("[data-testid=prediction-row]")
    predictions = live.api.get(f"/api/projects/{pid}/images/{first}/predictions").json()
    assert page.locator("[data-testid=prediction-row]").count() == len(predictions) >= 3
    assert page.locator("[data-testid=object-row]").count() == 0  # predictions are not human objects
    first_row = page.locator("[data-testid=prediction-row]").first
    assert f"s {predictions[0]['score']:.2f}" in first_row.inner_text()
    page.wait_for_selector("[data-testid=heat-toggle]:not([disabled])")
    page.check("[data-testid=heat-toggle]")
    page.fill("[data-testid=heat-opacity]", "0.7")
    page.wait_for_timeout(300)
    shot(page, "autolabel-editor-predictions-heat")
    page.uncheck("[data-testid=predictions-toggle]")
    page.uncheck("[data-testid=heat-toggle]")
    page.wait_for_timeout(200)
    shot(page, "autolabel-editor-hidden")
    page.check("[data-testid=predictions-toggle]")

    # Accept the best prediction: it becomes a human object (checked on the server), the rest stay pending.
    first_row.locator("[data-testid=prediction-accept]").click()
    page.wait_for_selector("[data-testid=object-row]")
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=prediction-row]').length === n",
        arg=len(predictions) - 1,
    )
    ed.wait_saved()
    saved = live.annotations(pid, first)
    assert len(saved["annotations"]) == 1
    human = saved["annotations"][0]
    assert human["source"] == "human" and human["label"] == predictions[0]["label"]
    assert human["extra"]["prediction"]["id"] == predictions[0]["id"]
    decided = live.api.get(f"/api/projects/{pid}/images/{first}/predictions", params={"status": "accepted"})
    assert [p["id"] for p in decided.json()] == [predictions[0]["id"]]
    page.wait_for_timeout(200)
    shot(page, "autolabel-editor-accepted")

    # Audit from the project page, then open the top suspect from the audit queue in the editor.
    page.goto(f"/projects/{pid}")
    audit = {"audit-folds": "3", "audit-rounds": "20", "feature-scales": "1, 2, 4"}
    _run_dialog_job(page, "audit-start", audit, "audit-dialog-ok")
    page.click("[data-testid=open-audit]")
    page.wait_for_selector("[data-testid=audit-row]")
    shot(page, "autolabel-audit-queue")
    swapped = page.locator(f"[data-testid=audit-row][data-image='{ids[6]}'][data-kind=wrong_class]")
    assert swapped.count() >= 1, "the relabeled object is among the suspects"
    swapped.first.locator("[data-testid=audit-open]").click()
    page.wait_for_url(f"**/images/{ids[6]}?*")
    ed.wait_ready()
    page.wait_for_selector("[data-testid=suspect-note]")
    assert "Wrong class" in page.inner_text("[data-testid=suspect-note]")
    selected = page.evaluate("() => window.__seglab.editor.selectedId")
    assert selected == 1  # the relabeled object is selected
    page.wait_for_timeout(300)
    shot(page, "autolabel-audit-suspect")
