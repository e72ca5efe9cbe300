"""Auto-labeling in the server: train on approved images, auto-label the rest (predictions with score and
uncertainty, a heat map per image, replaced atomically by the next run), the uncertainty queue, the audit
of human labels and its queue, and who may do what. Tiny generated scenes keep every job to seconds."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from seglab.core import Annotation, ImageSize, Mask
from seglab.core.raster import shape_to_mask
from seglab.service.autolabel import heatmap_key
from seglab.storage import repositories as repo
from tests.autolabel.scenes import Scene, scene
from tests.server.conftest import Client, World, wait_job, write_headers
from tests.server.test_rq import Queued, queued_patient  # noqa: F401 (the RQ fixture)
from tests.server.test_rq import _client as _rq_client

ONTOLOGY: dict[str, Any] = {
    "classes": [
        {"name": "disc", "color": [220, 60, 60], "kind": "thing", "shapes": ["polygon", "mask"]},
        {"name": "square", "color": [60, 60, 220], "kind": "thing", "shapes": ["polygon", "mask"]},
        {"name": "tag", "color": [0, 200, 0], "shapes": ["box"]},
    ]
}
FAST = {"rounds": 12, "members": 2, "samples_per_class": 1500, "sigmas": [1.0, 2.0, 4.0]}
SIZE = 64


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


NAMES = {1: "disc", 2: "square"}


def _mask(prediction: dict[str, Any]) -> np.ndarray:
    doc = {"id": 1, "label": prediction["label"], "kind": prediction["kind"]}
    shape = repo.from_doc(doc | {prediction["kind"]: prediction["geometry"]}).shape
    return shape_to_mask(shape, ImageSize(SIZE, SIZE)).array


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _objects(s: Scene) -> list[dict[str, Any]]:
    docs = []
    for obj, cls in s.objects:
        mask = s.instances == obj
        if mask.any():
            doc = repo.to_doc(Annotation(len(docs) + 1, NAMES[cls], Mask.from_array(mask)))
            docs.append({k: v for k, v in doc.items() if k != "id"})
    return docs


def _upload(client: Client, pid: int, seed: int) -> tuple[int, Scene]:
    s = scene(seed, size=SIZE, n_objects=3)
    r = client.post(
        f"/api/projects/{pid}/images", files=[("files", (f"scene-{seed}.png", _png(s.pixels), "image/png"))]
    )
    assert r.status_code == 201, r.text
    return r.json()[0]["id"], s


def _label(client: Client, pid: int, iid: int, docs: list[dict[str, Any]], *, approve: bool) -> None:
    url = f"/api/projects/{pid}/images/{iid}"
    r = client.put(f"{url}/annotations", json={"annotations": docs}, headers=write_headers(0))
    assert r.status_code == 200, r.text
    if approve:
        for action in ("submit", "approve"):
            r = client.post(f"{url}/status", json={"action": action})
            assert r.status_code == 200, r.text


def _job(client: Client, pid: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"/api/projects/{pid}/{path}", json=body)
    assert r.status_code == 202, r.text
    job = wait_job(client, pid, r.json(), timeout=120)
    assert job["status"] == "succeeded", job
    return job


def test_train_predict_review_and_accept(world: World) -> None:
    owner, viewer, ann = world.user("owner"), world.user("viewer"), world.user("ann")
    pid = world.project(owner, ONTOLOGY, viewer=viewer, annotator=ann)
    labeled = [_upload(owner, pid, seed) for seed in (1, 2)]
    for iid, s in labeled:
        _label(owner, pid, iid, _objects(s), approve=True)
    targets = [_upload(owner, pid, seed) for seed in (3, 5)]

    # Managers only; a viewer sees the models and queues.
    assert ann.post(f"/api/projects/{pid}/autolabel/train", json=FAST).status_code == 403
    assert viewer.post(f"/api/projects/{pid}/autolabel/predict", json={}).status_code == 403
    assert owner.post(f"/api/projects/{pid}/autolabel/predict", json={}).status_code == 404  # no model yet
    assert owner.post(f"/api/projects/{pid}/autolabel/train", json={"rounds": 1}).status_code == 422

    train = _job(owner, pid, "autolabel/train", FAST)
    assert train["kind"] == "autolabel_train" and train["progress"] == 1.0
    assert train["result"]["images"] == 2 and "_key" not in train["result"]
    assert train["result"]["labeled_pixels"]["disc"] > 0 and "_image_ids" not in train["result"]
    models = viewer.get(f"/api/projects/{pid}/autolabel/models").json()
    assert [m["id"] for m in models] == [train["id"]]
    assert models[0]["classes"] == ["disc", "square"] and models[0]["background"] == "background"
    model = models[0]["name"]

    job = _job(owner, pid, "autolabel/predict", {})
    assert job["result"]["images"] == 2 and job["result"]["model"] == model
    assert job["result"]["predictions"] > 0
    for iid, s in targets:
        preds = viewer.get(f"/api/projects/{pid}/images/{iid}/predictions").json()
        assert preds and all(p["model"] == model and p["kind"] == "polygon" for p in preds)
        assert all(0 <= p["score"] <= 1 and 0 <= p["uncertainty"] <= 1 for p in preds)
        # The model finds the scene's objects: each is matched by a prediction of its class (IoU >= 0.5).
        masks = [(p["label"], _mask(p)) for p in preds]
        for obj, cls in s.objects:
            truth = s.instances == obj
            best = max(_iou(truth, m) for label, m in masks if label == NAMES[cls])
            assert best >= 0.5, (obj, best)
        assert len(preds) <= len(s.objects) + 1
        r = viewer.get(f"/api/projects/{pid}/images/{iid}/uncertainty")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        heat = np.asarray(Image.open(io.BytesIO(r.content)))
        assert heat.shape == (SIZE, SIZE) and heat.dtype == np.uint8
        # Object borders are less certain than the middle of the background.
        edges = np.zeros((SIZE, SIZE), dtype=bool)
        inst = s.instances
        edges[:, 1:] |= inst[:, 1:] != inst[:, :-1]
        edges[1:, :] |= inst[1:, :] != inst[:-1, :]
        assert heat[edges].mean() > heat[~edges].mean()
        cached = viewer.get(
            f"/api/projects/{pid}/images/{iid}/uncertainty", headers={"If-None-Match": r.headers["etag"]}
        )
        assert cached.status_code == 304
    # Approved images were left alone; they have no heat map.
    assert not viewer.get(f"/api/projects/{pid}/images/{labeled[0][0]}/predictions").json()
    assert viewer.get(f"/api/projects/{pid}/images/{labeled[0][0]}/uncertainty").status_code == 404

    queue = viewer.get(f"/api/projects/{pid}/autolabel/queue", params={"by": "mean"}).json()
    assert queue["total"] == 2 and {i["image_id"] for i in queue["items"]} == {i for i, _ in targets}
    assert queue["items"][0]["mean"] >= queue["items"][1]["mean"]
    assert all(i["pending"] > 0 and i["model"] == model for i in queue["items"])
    page = viewer.get(f"/api/projects/{pid}/autolabel/queue", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and len(page["items"]) == 1

    # Accept one prediction: it becomes a human object, in history; the rest stay pending.
    iid = targets[0][0]
    preds = ann.get(f"/api/projects/{pid}/images/{iid}/predictions").json()
    r = ann.post(
        f"/api/projects/{pid}/images/{iid}/predictions/{preds[0]['id']}/accept", headers=write_headers(0)
    )
    assert r.status_code == 200, r.text
    objects = ann.get(f"/api/projects/{pid}/images/{iid}/annotations").json()["annotations"]
    assert len(objects) == 1 and objects[0]["source"] == "human" and objects[0]["label"] == preds[0]["label"]
    assert objects[0]["extra"]["prediction"]["model"] == model

    # A second run replaces the pending auto-label predictions of those images at once; decided ones stay.
    again = _job(owner, pid, "autolabel/predict", {"image_ids": [iid], "shape": "mask"})
    now = ann.get(f"/api/projects/{pid}/images/{iid}/predictions", params={"status": "all"}).json()
    assert {p["status"] for p in now} == {"pending", "accepted"}
    assert all(p["kind"] == "mask" for p in now if p["status"] == "pending")
    assert sum(p["status"] == "accepted" for p in now) == 1
    assert len([p for p in now if p["status"] == "pending"]) == len(preds)  # same objects found again
    other = targets[1][0]
    assert all(
        p["kind"] == "polygon" for p in ann.get(f"/api/projects/{pid}/images/{other}/predictions").json()
    )
    r = viewer.get(f"/api/projects/{pid}/images/{iid}/uncertainty")
    assert r.headers["etag"].startswith(f'"u{again["id"]}-')
    blobs = world.services.blobs  # the first run's map of that image is gone; the other image keeps its own
    assert not blobs.exists(heatmap_key(job["id"], 1, iid)) and blobs.exists(heatmap_key(again["id"], 1, iid))
    assert blobs.exists(heatmap_key(job["id"], 1, other))


def test_audit_finds_corrupted_labels(world: World) -> None:
    owner, viewer = world.user("owner"), world.user("viewer")
    pid = world.project(owner, ONTOLOGY, viewer=viewer)
    assert viewer.get(f"/api/projects/{pid}/audit/suspects").json() == {
        "total": 0,
        "audit_job_id": None,
        "items": [],
    }
    corrupted: dict[int, str] = {}
    for seed in (11, 12, 13, 14, 15, 16):
        iid, s = _upload(owner, pid, seed)
        docs = _objects(s)
        if seed == 12:  # swap a class
            docs[0]["label"] = "square" if docs[0]["label"] == "disc" else "disc"
            corrupted[iid] = "wrong_class"
        if seed == 14:  # delete an object
            docs = docs[1:]
            corrupted[iid] = "missing"
        _label(owner, pid, iid, docs, approve=True)
    assert viewer.post(f"/api/projects/{pid}/audit", json={}).status_code == 403
    job = _job(
        owner, pid, "audit", {"folds": 3, "rounds": 20, "samples_per_class": 3000, "sigmas": [1.0, 2.0, 4.0]}
    )
    assert job["kind"] == "audit" and job["result"]["images"] == 6

    queue = viewer.get(f"/api/projects/{pid}/audit/suspects").json()
    assert queue["audit_job_id"] == job["id"] and queue["total"] >= 2
    scores = [i["score"] for i in queue["items"]]
    assert scores == sorted(scores, reverse=True)
    top = queue["items"][:4]
    found = {(i["image_id"], i["kind"]) for i in top}
    assert (next(k for k, v in corrupted.items() if v == "missing"), "missing") in found
    swapped = next(k for k, v in corrupted.items() if v == "wrong_class")
    assert (swapped, "wrong_class") in found
    wrong = next(i for i in top if i["image_id"] == swapped and i["kind"] == "wrong_class")
    assert wrong["annotation_id"] == 1 and wrong["explanation"]  # the object the test relabeled
    missing = [i for i in top if i["kind"] == "missing"]
    assert all(i["annotation_id"] is None and i["box"] for i in missing)
    only = viewer.get(f"/api/projects/{pid}/audit/suspects", params={"kind": "missing", "limit": 1}).json()
    assert len(only["items"]) == 1 and only["items"][0]["kind"] == "missing"


def test_failed_training_says_why_and_keeps_nothing(world: World) -> None:
    owner = world.user("owner")
    pid = world.project(owner, ONTOLOGY)
    _upload(owner, pid, 5)  # not approved: nothing to learn from
    r = owner.post(f"/api/projects/{pid}/autolabel/train", json=FAST)
    job = wait_job(owner, pid, r.json())
    assert job["status"] == "failed" and "approved" in job["message"]
    assert owner.get(f"/api/projects/{pid}/autolabel/models").json() == []
    assert owner.post(f"/api/projects/{pid}/autolabel/predict", json={"model": job["id"]}).status_code == 404


def test_train_and_predict_run_on_an_rq_worker(queued_patient: Queued, world: World) -> None:  # noqa: F811
    queued = queued_patient
    if world.backend.name != "sqlite":
        pytest.skip("the RQ path is the same on every database; the PostgreSQL runs above cover the jobs")
    client, owner = _rq_client(queued, world)
    pid = world.project(owner, ONTOLOGY)
    iid, s = _upload(owner, pid, 1)
    _label(owner, pid, iid, _objects(s), approve=True)
    target, _ = _upload(owner, pid, 3)
    for path, body in (("autolabel/train", FAST), ("autolabel/predict", {})):
        r = client.post(f"/api/projects/{pid}/{path}", json=body)
        assert r.status_code == 202, r.text
        worker = queued.worker("--burst")  # nothing runs jobs in this process: the worker does
        assert worker.wait(120) == 0, queued.logs_text()
        job = wait_job(owner, pid, r.json(), timeout=10)
        assert job["status"] == "succeeded", (job, queued.logs_text())
    assert client.get(f"/api/projects/{pid}/images/{target}/predictions").json()
    assert client.get(f"/api/projects/{pid}/images/{target}/uncertainty").status_code == 200
