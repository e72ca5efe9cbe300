"""Auto-labeling in the server: train a model on a project's approved images, predict the rest, audit the
human labels, as background jobs; then the review queues that rank what a person should look at first.

No table of its own (the schema is fixed); everything lives where the job system already keeps state:

- a *model* is the result of a succeeded ``autolabel_train`` job: the sealed model file (see
  :mod:`seglab.autolabel.model_io`) is a blob under a key of that job's attempt, and the job's result
  holds the model's name (``autolabel:<job id>``), classes and training figures;
- an ``autolabel_predict`` job writes predictions (``model`` = that name, with score and per-object
  uncertainty) and, per image, an 8-bit PNG of the per-pixel uncertainty (0 = sure, 255 = as unsure as
  it gets) under a key of its attempt; its result holds each image's uncertainty summary, so the newest
  succeeded job that covered an image answers for it;
- an ``audit`` job's result holds the ranked suspects; the newest succeeded audit is the audit queue.

Blobs are written before the transaction that marks the job succeeded, and the blobs of attempts that did
not succeed are deleted when the job ends, so nothing half-written is ever offered.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import cv2
import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from seglab.autolabel import (
    AuditOptions,
    ClassInfo,
    FeatureConfig,
    InstanceOptions,
    ModelError,
    TrainConfig,
    annotations_from_prediction,
    audit_dataset,
    checked_predict,
    classes_from_ontology,
    image_uncertainty,
    label_map,
    load_model,
    save_model,
    train_pixel_classifier,
)
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.geometry import Polygon, Polyline
from seglab.core.mask import Mask
from seglab.core.ontology import LabelClass, LabelKind, Ontology, ShapeType, default_color
from seglab.jobs import JobContext, JobFailed, JobRecord, JobStatus, JobSystem
from seglab.service.access import Actor, ImageStatus, Role, require_image, require_project
from seglab.service.errors import Invalid, NotFound
from seglab.service.exports import BlobMedia
from seglab.service.import_plan import job_actor
from seglab.service.jobs import JobView, submit
from seglab.service.predictions import PENDING, prediction_row
from seglab.service.validation import annotation_problems
from seglab.storage import repositories as repo
from seglab.storage.blobs import BlobStore
from seglab.storage.db import Database
from seglab.storage.models import Image, Job, Prediction

log = logging.getLogger("seglab.autolabel")

TRAIN, PREDICT, AUDIT = "autolabel_train", "autolabel_predict", "audit"
MODEL_PREFIX = "autolabel:"
DEFAULT_BACKGROUND = "background"
MAX_SUSPECTS = 5000  # kept per audit (the best-scored ones)
MAX_JOBS_SCANNED = 200  # predict jobs looked at when merging per-image uncertainty
MAX_PAGE = 200
# LightGBM threads for a job: all cores but one, which stays with the web server (OpenMP threads that have
# to share their cores with other busy threads slow down several-fold rather than a little).
JOB_THREADS = max(1, (os.cpu_count() or 2) - 1)
QUEUE_KEYS = ("max_object", "mean", "p90", "uncertain_fraction")
SUSPECT_KINDS = ("missing", "spurious", "wrong_class", "boundary", "other")


def model_name(train_job_id: int) -> str:
    return f"{MODEL_PREFIX}{train_job_id}"


def model_key(job_id: int, attempt: int) -> str:
    return f"autolabel/models/{job_id}/attempt-{attempt}.seglab-model"


def heatmap_prefix(job_id: int, attempt: int) -> str:
    return f"autolabel/uncertainty/{job_id}/attempt-{attempt}"


def heatmap_key(job_id: int, attempt: int, image_id: int) -> str:
    return f"{heatmap_prefix(job_id, attempt)}/{image_id}.png"


# ------------------------------------------------------------------------------------------------ inputs


def _int_param(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Invalid(f"{name} must be a whole number from {low} to {high}")
    return value


def _names(params: dict[str, Any], name: str) -> list[str] | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise Invalid(f"{name} must be a non-empty list of class names")
    return value


def _check_train_params(params: dict[str, Any]) -> None:
    _int_param(params, "rounds", 40, 5, 2000)
    _int_param(params, "members", 5, 1, 16)
    _int_param(params, "samples_per_class", 20_000, 500, 500_000)
    if params.get("max_images") is not None:
        _int_param(params, "max_images", 1, 1, 1_000_000)
    _names(params, "classes")
    sigmas = params.get("sigmas")
    if sigmas is not None and (
        not isinstance(sigmas, list)
        or not 1 <= len(sigmas) <= 10
        or not all(isinstance(v, int | float) and 0 < v <= 64 for v in sigmas)
    ):
        raise Invalid("sigmas must list 1 to 10 feature scales in pixels, each in (0, 64]")
    background = params.get("background", DEFAULT_BACKGROUND)
    if background is not None and (not isinstance(background, str) or not background.strip()):
        raise Invalid("background must be a class name, or null for sparse labels (scribbles)")


def _features(params: dict[str, Any], color: str = "rgb") -> FeatureConfig:
    sigmas = params.get("sigmas")
    return FeatureConfig(color=color, **({"sigmas": tuple(float(v) for v in sigmas)} if sigmas else {}))


def _background(params: dict[str, Any]) -> str | None:
    value = params.get("background", DEFAULT_BACKGROUND)
    return None if value is None else str(value)


def _model_classes(
    ontology: Ontology, names: list[str] | None, background: str | None
) -> tuple[ClassInfo, ...]:
    """The classes a model learns: the ontology's (or the named ones), with ``background`` as the class of
    every unlabeled pixel (an ontology class of that name, or an extra one that is never predicted as an
    object)."""
    if names is None:  # the classes whose objects have pixels (boxes and keypoints say too little)
        names = [c.name for c in ontology if c.allows(ShapeType.POLYGON) or c.allows(ShapeType.MASK)]
    try:
        classes = list(classes_from_ontology(ontology, names))
    except (KeyError, ValueError, ModelError) as exc:
        raise Invalid(str(exc)) from None
    if background is not None:
        if background in [c.name for c in classes]:
            classes = [
                ClassInfo(c.name, LabelKind.STUFF, True) if c.name == background else c for c in classes
            ]
        else:
            classes.insert(0, ClassInfo(background, LabelKind.STUFF, True))
    return tuple(classes)


def _with_background(ontology: Ontology, background: str | None) -> Ontology:
    """The ontology with a stuff class ``background`` appended when it has none of that name (audits)."""
    if background is None or ontology.get(background) is not None:
        return ontology
    extra = LabelClass(background, default_color(len(ontology.classes) + 1), LabelKind.STUFF)
    return dataclasses.replace(ontology, classes=(*ontology.classes, extra))


def _load_images(
    s: Session, blobs: BlobStore, project_id: int, image_ids: Sequence[int]
) -> list[ImageRecord]:
    """Image records (annotation ids = the objects' ids in their image, as the editor shows them; human
    objects only) whose pixels are fetched from the blob store only when read."""
    records = []
    for start in range(0, len(image_ids), 500):
        chunk = list(image_ids[start : start + 500])
        rows = list(
            s.scalars(
                select(Image).where(Image.project_id == project_id, Image.id.in_(chunk)).order_by(Image.id)
            )
        )
        docs = repo.docs_of_images(s, [i.id for i in rows])
        for image in rows:
            size = ImageSize(image.width, image.height)
            anns = tuple(repo.from_doc(d) for _, d in docs[image.id] if d.get("source", "human") == "human")
            media = BlobMedia(blobs, image.storage_key, size, lambda: None)
            records.append(
                ImageRecord(id=image.id, file_name=image.file_name, size=size, annotations=anns, media=media)
            )
    return records


def _ids_with_status(
    s: Session, project_id: int, statuses: Sequence[str], *, negate: bool = False
) -> list[int]:
    query = select(Image.id).where(Image.project_id == project_id)
    query = query.where(Image.status.not_in(statuses) if negate else Image.status.in_(statuses))
    return list(s.scalars(query.order_by(Image.id)))


def _trainable(record: ImageRecord, names: set[str]) -> bool:
    return any(
        a.label in names and isinstance(a.shape, Polygon | Mask | Polyline) for a in record.annotations
    )


def _job_user(job: JobRecord, what: str) -> tuple[int, int]:
    if job.project_id is None or job.created_by is None:
        raise JobFailed(f"the project or the user who started this {what} no longer exists")
    return job.project_id, job.created_by


def _delete_tree(blobs: BlobStore, prefix: str) -> None:
    """Remove every blob under ``prefix`` (an attempt's heat maps); best effort."""
    path = f"{blobs.root}/{prefix}"
    if blobs.fs.exists(path):
        blobs.fs.rm(path, recursive=True)


# ------------------------------------------------------------------------------------------------ start


def start_train(
    db: Database, jobs: JobSystem, *, actor: Actor, project_id: int, params: dict[str, Any]
) -> JobView:
    """Queue training on the project's approved images (managers). ``params``: ``classes``, ``background``
    (class of unlabeled pixels, default ``background``; null for scribbles), ``rounds``, ``members``,
    ``samples_per_class``, ``max_images``."""
    _check_train_params(params)
    return submit(db, jobs, actor=actor, project_id=project_id, kind=TRAIN, params=params, need=Role.MANAGER)


def start_predict(
    db: Database, jobs: JobSystem, *, actor: Actor, project_id: int, params: dict[str, Any]
) -> JobView:
    """Queue auto-labeling (managers): ``model`` (a train job id; default the newest model), ``image_ids``
    (default: every image not approved), ``shape`` (polygon or mask), ``min_area``."""
    if params.get("shape", "polygon") not in ("polygon", "mask"):
        raise Invalid("shape must be polygon or mask")
    _int_param(params, "min_area", 16, 1, 1_000_000)
    ids = params.get("image_ids")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, int) for i in ids) or not ids):
        raise Invalid("image_ids must be a non-empty list of image ids")

    def _resolve(s: Session) -> dict[str, Any]:
        require_project(s, actor, project_id, Role.MANAGER)
        model = _find_model(s, project_id, params.get("model"))
        if ids is not None:
            found = set(s.scalars(select(Image.id).where(Image.project_id == project_id, Image.id.in_(ids))))
            missing = sorted(set(ids) - found)
            if missing:
                raise NotFound(f"image(s) {missing[:20]} not found in project {project_id}")
        return {**params, "model": model.id}

    resolved = db.read(_resolve)
    return submit(
        db, jobs, actor=actor, project_id=project_id, kind=PREDICT, params=resolved, need=Role.MANAGER
    )


def start_audit(
    db: Database, jobs: JobSystem, *, actor: Actor, project_id: int, params: dict[str, Any]
) -> JobView:
    """Queue an audit of the human labels (managers): ``statuses`` of the images audited (default submitted
    and approved), ``folds``, ``rounds``, ``background`` (as for training), ``model_based``."""
    statuses = params.get("statuses", [ImageStatus.SUBMITTED.value, ImageStatus.APPROVED.value])
    known = {s.value for s in ImageStatus}
    if not isinstance(statuses, list) or not statuses or not set(statuses) <= known:
        raise Invalid(f"statuses must be a non-empty list of {', '.join(sorted(known))}")
    _int_param(params, "folds", 5, 2, 20)
    _int_param(params, "rounds", 60, 5, 2000)
    _check_train_params(
        {k: v for k, v in params.items() if k in ("background", "sigmas", "samples_per_class")}
    )
    return submit(
        db, jobs, actor=actor, project_id=project_id, kind=AUDIT, params={**params, "statuses": statuses},
        need=Role.MANAGER,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------ train


def run_train(ctx: JobContext, *, db: Database, blobs: BlobStore) -> None:
    job = ctx.job
    project_id, user_id = _job_user(job, "training")
    params = ctx.params
    background = _background(params)
    max_images = params.get("max_images")
    ctx.progress(0.01, "reading the approved images")

    def _read(s: Session) -> tuple[tuple[ClassInfo, ...], list[ImageRecord]]:
        scope = require_project(s, job_actor(s, user_id), project_id, Role.MANAGER)
        classes = _model_classes(repo.get_ontology(scope.project), _names(params, "classes"), background)
        ids = _ids_with_status(s, project_id, [ImageStatus.APPROVED.value])
        return classes, _load_images(s, blobs, project_id, ids)

    classes, records = db.read(_read)
    names = [c.name for c in classes]
    chosen = [r for r in records if _trainable(r, set(names))]
    if max_images is not None:
        chosen = chosen[: int(max_images)]
    if not chosen:
        raise JobFailed(
            f"no approved image has labels of the classes {names} to learn from: label and approve a few "
            "images (masks, polygons or brush strokes) first"
        )
    images, labels = [], []
    for n, record in enumerate(chosen, start=1):
        ctx.progress(0.02 + 0.08 * n / len(chosen), f"reading image {n} of {len(chosen)}")
        images.append(record.media.read())  # type: ignore[union-attr]
        labels.append(label_map(record.annotations, names, record.require_size(), background=background))
    gray = all(
        px.ndim == 2 or bool((px[..., 0] == px[..., 1]).all() and (px[..., 1] == px[..., 2]).all())
        for px in images
    )
    config = TrainConfig(
        features=_features(params, "gray" if gray else "rgb"),
        members=int(params.get("members", 5)),
        rounds=int(params.get("rounds", 40)),
        samples_per_class=int(params.get("samples_per_class", 20_000)),
        calibration_samples=int(params.get("samples_per_class", 20_000)),
        seed=0,  # same images and labels, same model
        threads=JOB_THREADS,
    )
    try:
        model = train_pixel_classifier(
            images,
            labels,
            classes,
            config,
            progress=lambda msg, f: ctx.progress(0.1 + 0.8 * f, f"training: {msg}"),
        )
    except ModelError as exc:
        raise JobFailed(str(exc)) from None
    ctx.progress(0.92, "saving the model")
    local = save_model(model, ctx.scratch / "model.seglab-model")
    key = model_key(job.id, job.attempts)
    info = model.info
    result = {
        "model": model_name(job.id),
        "classes": [c.to_json() for c in classes],
        "images": len(chosen),
        "_image_ids": [r.id for r in chosen],
        "labeled_pixels": info["labeled_pixels"],
        "seconds": info["seconds"],
        "calibrated": info["calibrated"],
        "size": local.stat().st_size,
        "_key": key,
    }
    blobs.put_file(key, local)
    try:
        db.write(
            lambda s: ctx.complete(s, result, f"model {model_name(job.id)} trained on {len(chosen)} image(s)")
        )
    except BaseException:
        blobs.delete(key)  # this attempt no longer owns the job: its model must never be used
        raise


def cleanup_train(job: JobRecord, *, blobs: BlobStore) -> None:
    """Delete the model files of attempts other than the one the job's result names."""
    keep = (job.result or {}).get("_key") if job.status == JobStatus.SUCCEEDED else None
    for attempt in range(1, job.attempts + 1):
        key = model_key(job.id, attempt)
        if key != keep:
            blobs.delete(key)


# ------------------------------------------------------------------------------------------------ models


@dataclass(frozen=True)
class ModelView:
    """A trained model of the project (one succeeded training job)."""

    id: int  # the training job's id
    name: str
    classes: list[str]
    background: str | None
    images: int
    seconds: float
    calibrated: bool
    created_by: int | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> ModelView:
        result = job.result or {}
        classes = [ClassInfo.from_json(c) for c in result.get("classes", [])]
        background = next((c.name for c in classes if c.background), None)
        return cls(
            job.id,
            str(result.get("model", model_name(job.id))),
            [c.name for c in classes if not c.background],
            background,
            int(result.get("images", 0)),
            float(result.get("seconds", 0.0)),
            bool(result.get("calibrated", False)),
            job.created_by,
            job.created_at,
            job.finished_at,
        )


def _succeeded(project_id: int, kind: str) -> Any:
    """Succeeded jobs of a kind in the project, newest first."""
    return (
        select(Job)
        .where(Job.project_id == project_id, Job.kind == kind, Job.status == JobStatus.SUCCEEDED.value)
        .order_by(Job.id.desc())
    )


def _find_model(s: Session, project_id: int, model_id: Any) -> Job:
    query = _succeeded(project_id, TRAIN)
    if model_id is not None:
        if not isinstance(model_id, int) or isinstance(model_id, bool):
            raise Invalid("model must be the id of a training job")
        query = query.where(Job.id == model_id)
    job = s.scalars(query.limit(1)).first()
    if job is None:
        if model_id is None:
            raise NotFound(f"project {project_id} has no trained model yet; train one first")
        raise NotFound(f"model {model_id} not found in project {project_id}")
    return job


def list_models(db: Database, *, actor: Actor, project_id: int, limit: int = 50) -> list[ModelView]:
    """The project's trained models, newest first (the first is what auto-labeling uses by default)."""

    def _list(s: Session) -> list[ModelView]:
        require_project(s, actor, project_id, Role.VIEWER)
        return [ModelView.of(j) for j in s.scalars(_succeeded(project_id, TRAIN).limit(min(limit, MAX_PAGE)))]

    return db.read(_list)


# ------------------------------------------------------------------------------------------------ predict


def _heatmap_png(total: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", np.clip(np.rint(total * 255.0), 0, 255).astype(np.uint8))
    if not ok:
        raise RuntimeError("PNG encoding of an uncertainty map failed")
    return data.tobytes()


def run_predict(ctx: JobContext, *, db: Database, blobs: BlobStore) -> None:
    job = ctx.job
    project_id, user_id = _job_user(job, "auto-labeling")
    params = ctx.params
    options = InstanceOptions(
        min_area=int(params.get("min_area", 16)), shape=str(params.get("shape", "polygon"))
    )
    ctx.progress(0.01, "loading the model")

    def _read(s: Session) -> tuple[Job, Ontology, list[int]]:
        scope = require_project(s, job_actor(s, user_id), project_id, Role.MANAGER)
        model_job = _find_model(s, project_id, params.get("model"))
        s.expunge(model_job)
        ids = params.get("image_ids")
        if ids is None:
            ids = _ids_with_status(s, project_id, [ImageStatus.APPROVED.value], negate=True)
        return model_job, repo.get_ontology(scope.project), list(ids)

    model_job, ontology, image_ids = db.read(_read)
    local = ctx.scratch / "model.seglab-model"
    blobs.get_file(str((model_job.result or {})["_key"]), local)
    try:
        model = load_model(local)
    except ModelError as exc:
        raise JobFailed(f"model {model_job.id} cannot be used: {exc}") from None
    model.threads = JOB_THREADS
    name = model_name(model_job.id)
    rows: list[dict[str, Any]] = []
    summaries: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    written: list[str] = []
    try:
        for start in range(0, len(image_ids), 50):
            records = db.read(
                lambda s, chunk=image_ids[start : start + 50]: _load_images(s, blobs, project_id, chunk)
            )
            for record in records:
                done = len(summaries)
                ctx.progress(
                    0.05 + 0.85 * done / max(len(image_ids), 1), f"image {done + 1} of {len(image_ids)}"
                )
                pixels = record.media.read()  # type: ignore[union-attr]
                prediction = checked_predict(model, pixels)
                unc = prediction.uncertainty()
                anns = annotations_from_prediction(
                    prediction, model.classes, options=options, uncertainty=unc
                )
                size = record.require_size()
                kept = []
                for ann in anns:
                    reasons = annotation_problems(ann, ontology, size, f"prediction on image {record.id}")
                    if reasons:
                        problems += reasons
                        continue
                    kept.append(ann)
                key = heatmap_key(job.id, job.attempts, record.id)
                blobs.put(key, _heatmap_png(unc.total))
                written.append(key)
                values = [a.uncertainty for a in kept if a.uncertainty is not None]
                summary = dataclasses.replace(
                    image_uncertainty(unc),
                    objects=len(values),
                    uncertain_objects=sum(v > 0.5 for v in values),
                    max_object=max(values, default=0.0),
                )
                summaries[str(record.id)] = summary.to_json()
                rows += [
                    prediction_row(ann, project_id=project_id, image_id=record.id, job_id=job.id, model=name)
                    for ann in kept
                ]
        ctx.progress(0.92, f"saving {len(rows)} prediction(s)")

        def _save(s: Session) -> None:
            require_project(s, job_actor(s, user_id), project_id, Role.MANAGER)
            present = set(
                s.scalars(
                    select(Image.id).where(
                        Image.project_id == project_id, Image.id.in_(list(map(int, summaries)))
                    )
                )
            )
            # Replace what earlier auto-label models proposed for these images and nobody decided on yet.
            for chunk in range(0, len(present), 500):
                ids = sorted(present)[chunk : chunk + 500]
                s.execute(
                    delete(Prediction).where(
                        Prediction.project_id == project_id,
                        Prediction.image_id.in_(ids),
                        Prediction.status == PENDING,
                        Prediction.model.startswith(MODEL_PREFIX),
                    )
                )
            kept_rows = [r for r in rows if r["image_id"] in present]
            for chunk in range(0, len(kept_rows), 1000):
                ctx.check()
                s.execute(Prediction.__table__.insert(), kept_rows[chunk : chunk + 1000])
            result = {
                "model": name,
                "model_id": model_job.id,
                "attempt": job.attempts,
                "images": len(present),
                "predictions": len(kept_rows),
                "skipped": len(problems),
                "problems": problems[:100],
                "_uncertainty": {k: v for k, v in summaries.items() if int(k) in present},
            }
            ctx.complete(s, result, f"{len(kept_rows)} prediction(s) on {len(present)} image(s) by {name}")

        db.write(_save)
    except BaseException:
        for key in written:
            blobs.delete(key)
        raise
    for key in db.read(lambda s: _superseded_heatmaps(s, project_id, job.id, {int(k) for k in summaries})):
        try:
            blobs.delete(key)
        except Exception:  # best effort: a leftover map is never served (the newest job answers)
            log.warning("could not delete the superseded uncertainty map %s", key, exc_info=True)


def _superseded_heatmaps(s: Session, project_id: int, job_id: int, covered: set[int]) -> list[str]:
    """The heat maps of earlier auto-labeling jobs for images that job ``job_id`` has covered since."""
    keys = []
    query = _succeeded(project_id, PREDICT).where(Job.id < job_id).limit(MAX_JOBS_SCANNED)
    for old in s.scalars(query):
        result = old.result or {}
        attempt = int(result.get("attempt", old.attempts))
        keys += [
            heatmap_key(old.id, attempt, int(i))
            for i in result.get("_uncertainty") or {}
            if int(i) in covered
        ]
    return keys


def cleanup_predict(job: JobRecord, *, blobs: BlobStore) -> None:
    """Delete the heat maps of attempts other than the succeeded one."""
    keep = (job.result or {}).get("attempt") if job.status == JobStatus.SUCCEEDED else None
    for attempt in range(1, job.attempts + 1):
        if attempt != keep:
            _delete_tree(blobs, heatmap_prefix(job.id, attempt))


@dataclass(frozen=True)
class QueueItem:
    """An image in the uncertainty review queue, with the summary of its newest auto-labeling."""

    image_id: int
    file_name: str
    status: str
    job_id: int
    model: str
    mean: float
    p90: float
    uncertain_fraction: float
    objects: int
    uncertain_objects: int
    max_object: float
    pending: int


def _newest_summaries(s: Session, project_id: int) -> dict[int, tuple[Job, dict[str, Any]]]:
    """Each image's uncertainty summary from the newest succeeded auto-labeling job that covered it."""
    out: dict[int, tuple[Job, dict[str, Any]]] = {}
    for job in s.scalars(_succeeded(project_id, PREDICT).limit(MAX_JOBS_SCANNED)):
        for key, summary in ((job.result or {}).get("_uncertainty") or {}).items():
            out.setdefault(int(key), (job, summary))
    return out


def uncertainty_queue(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    by: str = "max_object",
    include_approved: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[QueueItem]]:
    """Auto-labeled images, most uncertain first (by ``by`` of their summary); returns (total, page)."""
    if by not in QUEUE_KEYS:
        raise Invalid(f"sort by one of {', '.join(QUEUE_KEYS)}")
    limit = max(1, min(limit, MAX_PAGE))

    def _queue(s: Session) -> tuple[int, list[QueueItem]]:
        require_project(s, actor, project_id, Role.VIEWER)
        found = _newest_summaries(s, project_id)
        images = {
            i.id: i
            for i in s.scalars(select(Image).where(Image.project_id == project_id, Image.id.in_(list(found))))
            if include_approved or i.status != ImageStatus.APPROVED.value
        }
        order = sorted(
            images, key=lambda i: (-float(found[i][1].get(by, 0.0)), -float(found[i][1].get("mean", 0.0)), i)
        )
        page = order[offset : offset + limit]
        pending: dict[int, int] = {}
        for image_id in s.scalars(
            select(Prediction.image_id).where(Prediction.image_id.in_(page), Prediction.status == PENDING)
        ):
            pending[image_id] = pending.get(image_id, 0) + 1
        items = []
        for image_id in page:
            job, summary = found[image_id]
            image = images[image_id]
            items.append(
                QueueItem(
                    image_id,
                    image.file_name,
                    image.status,
                    job.id,
                    str((job.result or {}).get("model", "")),
                    float(summary.get("mean", 0.0)),
                    float(summary.get("p90", 0.0)),
                    float(summary.get("uncertain_fraction", 0.0)),
                    int(summary.get("objects", 0)),
                    int(summary.get("uncertain_objects", 0)),
                    float(summary.get("max_object", 0.0)),
                    pending.get(image_id, 0),
                )
            )
        return len(order), items

    return db.read(_queue)


def heatmap(db: Database, *, actor: Actor, project_id: int, image_id: int) -> tuple[str, str]:
    """The blob key and an ETag of the image's newest per-pixel uncertainty map."""

    def _find(s: Session) -> tuple[str, str]:
        require_image(s, actor, project_id, image_id, Role.VIEWER)
        for job in s.scalars(_succeeded(project_id, PREDICT).limit(MAX_JOBS_SCANNED)):
            result = job.result or {}
            if str(image_id) in (result.get("_uncertainty") or {}):
                attempt = int(result.get("attempt", job.attempts))
                return heatmap_key(job.id, attempt, image_id), f"u{job.id}-{attempt}-{image_id}"
        raise NotFound(f"image {image_id} has no uncertainty map: auto-label it first")

    return db.read(_find)


# ------------------------------------------------------------------------------------------------ audit


def run_audit(ctx: JobContext, *, db: Database, blobs: BlobStore) -> dict[str, Any]:
    job = ctx.job
    project_id, user_id = _job_user(job, "audit")
    params = ctx.params
    background = _background(params)
    ctx.progress(0.01, "reading the labeled images")

    def _read(s: Session) -> tuple[Ontology, list[ImageRecord]]:
        scope = require_project(s, job_actor(s, user_id), project_id, Role.MANAGER)
        ids = _ids_with_status(s, project_id, list(params["statuses"]))
        return repo.get_ontology(scope.project), _load_images(s, blobs, project_id, ids)

    ontology, records = db.read(_read)
    ontology = _with_background(ontology, background)
    if not records:
        raise JobFailed(f"no image with status {', '.join(params['statuses'])} to audit")
    fold_model = TrainConfig(
        features=_features(params),
        members=1,
        rounds=int(params.get("rounds", 60)),
        calibration="none",
        samples_per_class=int(params.get("samples_per_class", 20_000)),
        seed=0,  # same images and labels, same model
        threads=JOB_THREADS,
    )
    options = AuditOptions(
        folds=int(params.get("folds", 5)),
        train=fold_model,
        background=background,
        model_based=bool(params.get("model_based", True)),
    )
    by_name = {r.file_name: r.id for r in records}
    try:
        result = audit_dataset(
            Dataset(ontology, tuple(records)),
            options,
            progress=lambda msg, f: ctx.progress(0.02 + 0.95 * f, f"auditing: {msg}"),
        )
    except ModelError as exc:
        raise JobFailed(str(exc)) from None
    suspects = []
    for suspect in result.suspects[:MAX_SUSPECTS]:
        item = suspect.to_json()
        item["image_id"] = by_name.get(suspect.image)
        item["file_name"] = item.pop("image")
        suspects.append(item)
    return {
        "images": len(records),
        "_suspects": suspects,
        "suspect_count": len(result.suspects),
        "notes": result.notes,
    }


@dataclass(frozen=True)
class SuspectItem:
    """A likely error in a human label: the image, the object (None: an object seems missing there)."""

    rank: int
    image_id: int
    file_name: str
    annotation_id: int | None
    kind: str
    score: float
    explanation: str
    label: str | None
    box: list[float] | None
    check: str
    job_id: int


def audit_queue(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, int | None, list[SuspectItem]]:
    """The newest audit's suspects, most likely first; returns (total, audit job id, page)."""
    if kind is not None and kind not in SUSPECT_KINDS:
        raise Invalid(f"kind must be one of {', '.join(SUSPECT_KINDS)}")
    limit = max(1, min(limit, MAX_PAGE))

    def _queue(s: Session) -> tuple[int, int | None, list[SuspectItem]]:
        require_project(s, actor, project_id, Role.VIEWER)
        job = s.scalars(_succeeded(project_id, AUDIT).limit(1)).first()
        if job is None:
            return 0, None, []
        existing = set(s.scalars(select(Image.id).where(Image.project_id == project_id)))
        ranked = [
            (rank, item)
            for rank, item in enumerate((job.result or {}).get("_suspects") or [], start=1)
            if item.get("image_id") in existing and (kind is None or item.get("kind") == kind)
        ]
        ranked.sort(key=lambda ri: (-float(ri[1]["score"]), ri[0]))
        page = [
            SuspectItem(
                rank,
                int(item["image_id"]),
                str(item["file_name"]),
                item.get("annotation_id"),
                str(item["kind"]),
                float(item["score"]),
                str(item.get("explanation", "")),
                item.get("label"),
                item.get("box"),
                str(item.get("check", "")),
                job.id,
            )
            for rank, item in ranked[offset : offset + limit]
        ]
        return len(ranked), job.id, page

    return db.read(_queue)
