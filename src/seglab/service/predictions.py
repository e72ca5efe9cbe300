"""Model predictions, kept apart from the human annotations, and their review: accept or reject.

Predictions arrive as a COCO results list (``image_id`` = the project's image ids, ``category_id`` = the
ids of a COCO export of the project) imported as a job: every prediction is checked against the image
and the ontology, and all are stored in one transaction, or none. Accepting one (or all above a score)
adds human objects to the image through the same versioned save as any edit (If-Match, validation, a
history row with action ``accept``); the prediction records which object it became. Rejecting only marks
it. Human annotations are never changed by an import of predictions.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seglab.core.annotation import Annotation
from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.formats.base import ErrorPolicy, InvalidDataError, ReadOptions
from seglab.formats.coco import read_results
from seglab.jobs import JobContext, JobFailed, JobSystem
from seglab.service import annotations as annotation_service
from seglab.service.access import Actor, Role, require_editable, require_image, require_project
from seglab.service.errors import Conflict, Invalid, NotFound
from seglab.service.import_plan import job_actor
from seglab.service.jobs import JobView, submit
from seglab.service.validation import MAX_NAME, annotation_problems
from seglab.storage import repositories as repo
from seglab.storage.blobs import BlobStore
from seglab.storage.db import Database
from seglab.storage.models import Image, Prediction, Project, utcnow

KIND = "predictions"
PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"
STATUSES = (PENDING, ACCEPTED, REJECTED)
MAX_PAGE = 1000
MAX_REPORTED = 1000


@dataclass(frozen=True)
class PredictionView:
    id: int
    image_id: int
    model: str
    label: str
    kind: str
    geometry: dict[str, Any]
    attributes: dict[str, Any]
    score: float | None
    uncertainty: float | None
    status: str
    object_id: int | None
    created_at: datetime
    decided_by: int | None
    decided_at: datetime | None

    @classmethod
    def of(cls, p: Prediction) -> PredictionView:
        return cls(
            p.id,
            p.image_id,
            p.model,
            p.label,
            p.kind,
            dict(p.geometry),
            dict(p.attributes or {}),
            p.score,
            p.uncertainty,
            p.status,
            p.object_id,
            p.created_at,
            p.decided_by,
            p.decided_at,
        )


# ------------------------------------------------------------------------------------------------ import


def start_import(
    db: Database,
    jobs: JobSystem,
    blobs: BlobStore,
    *,
    actor: Actor,
    project_id: int,
    fileobj: IO[bytes],
    model: str,
    skip_invalid: bool = False,
) -> JobView:
    """Queue the import of a COCO results list as predictions of ``model`` (managers)."""
    db.read(lambda s: require_project(s, actor, project_id, Role.MANAGER))
    if not model.strip() or len(model) > MAX_NAME:
        raise Invalid(f"name the model with 1 to {MAX_NAME} characters")
    key = f"uploads/{uuid.uuid4().hex}/results.json"
    with tempfile.TemporaryDirectory(prefix="seglab-upload-") as tmp:
        local = Path(tmp) / "results.json"
        with local.open("wb") as out:
            shutil.copyfileobj(fileobj, out, 1 << 20)
        blobs.put_file(key, local)
    params = {"model": model, "skip_invalid": skip_invalid, "_upload": key}
    try:
        return submit(
            db, jobs, actor=actor, project_id=project_id, kind=KIND, params=params, need=Role.MANAGER
        )
    except BaseException:
        blobs.delete(key)
        raise


def _reference(s: Session, project_id: int) -> Dataset:
    """The project's images (ids, names, sizes) and ontology, for matching a results list."""
    row = s.get_one(Project, project_id)
    images = [
        ImageRecord(id=i, file_name=name, size=ImageSize(w, h))
        for i, name, w, h in s.execute(
            select(Image.id, Image.file_name, Image.width, Image.height)
            .where(Image.project_id == project_id)
            .order_by(Image.id)
        )
    ]
    return Dataset(repo.get_ontology(row), tuple(images))


def prediction_row(
    ann: Annotation, *, project_id: int, image_id: int, job_id: int, model: str
) -> dict[str, Any]:
    """The values of a pending ``predictions`` row for a model's annotation (for bulk inserts)."""
    doc = repo.to_doc(ann)
    return {
        "project_id": project_id,
        "image_id": image_id,
        "job_id": job_id,
        "model": model,
        "label": ann.label,
        "kind": doc["kind"],
        "geometry": doc[doc["kind"]],
        "attributes": doc["attributes"],
        "score": ann.score,
        "uncertainty": ann.uncertainty,
        "extra": doc["extra"],
        "status": PENDING,
        "created_at": utcnow(),
    }


def run_import(ctx: JobContext, *, db: Database, blobs: BlobStore) -> None:
    job = ctx.job
    if job.project_id is None or job.created_by is None:
        raise JobFailed("the project or the user who started this import no longer exists")
    project_id, user_id = job.project_id, job.created_by
    skip = bool(ctx.params.get("skip_invalid"))
    local = ctx.scratch / "results.json"
    blobs.get_file(str(ctx.params["_upload"]), local)

    def _reference_checked(s: Session) -> Dataset:
        require_project(s, job_actor(s, user_id), project_id, Role.MANAGER)
        return _reference(s, project_id)

    reference = db.read(_reference_checked)
    ctx.progress(0.1, "reading the results")
    options = ReadOptions(policy=ErrorPolicy.SKIP if skip else ErrorPolicy.FAIL)
    try:
        found = read_results(local, reference, options)
        skipped = options.finish()
    except InvalidDataError as exc:
        problems = [{"where": p.where, "reason": p.reason} for p in exc.problems[:MAX_REPORTED]]
        raise JobFailed(
            f"{len(exc.problems)} invalid prediction(s); nothing was imported",
            {"problems": problems, "problem_count": len(exc.problems)},
        ) from None
    ctx.progress(0.5, "checking the predictions")
    problems = [{"where": p.where, "reason": p.reason} for p in skipped]
    rows: list[dict[str, Any]] = []
    model = str(ctx.params["model"])
    for image in found.images:
        size = image.require_size()
        for ann in image.annotations:
            reasons = annotation_problems(ann, found.ontology, size, f"prediction on image {image.id}")
            if reasons:
                problems += [{"where": f"image {image.id}", "reason": r} for r in reasons]
                continue
            rows.append(
                prediction_row(ann, project_id=project_id, image_id=image.id, job_id=job.id, model=model)
            )
    report = {"problems": problems[:MAX_REPORTED], "problem_count": len(problems)}
    if problems and not skip:
        raise JobFailed(f"{len(problems)} invalid prediction(s); nothing was imported", report)
    ctx.progress(0.8, f"saving {len(rows)} prediction(s)")

    def _save(s: Session) -> None:
        require_project(s, job_actor(s, user_id), project_id, Role.MANAGER)
        for start in range(0, len(rows), 1000):
            ctx.check()
            s.execute(Prediction.__table__.insert(), rows[start : start + 1000])
        result = {"model": model, "predictions": len(rows), "skipped": len(problems), **report}
        ctx.complete(s, result, f"imported {len(rows)} prediction(s)")

    db.write(_save)


# ------------------------------------------------------------------------------------------------ review


def list_predictions(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    image_id: int,
    status: str | None = PENDING,
    model: str | None = None,
    min_score: float | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[PredictionView]:
    """An image's predictions, best score first."""
    if status is not None and status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}")
    limit = max(1, min(limit, MAX_PAGE))

    def _list(s: Session) -> list[PredictionView]:
        require_image(s, actor, project_id, image_id, Role.VIEWER)
        query = select(Prediction).where(Prediction.image_id == image_id, Prediction.project_id == project_id)
        if status is not None:
            query = query.where(Prediction.status == status)
        if model is not None:
            query = query.where(Prediction.model == model)
        if min_score is not None:
            query = query.where(Prediction.score >= min_score)
        query = (
            query.order_by(Prediction.score.desc().nulls_last(), Prediction.id).limit(limit).offset(offset)
        )
        return [PredictionView.of(p) for p in s.scalars(query)]

    return db.read(_list)


def _selected(
    s: Session,
    project_id: int,
    image_id: int,
    ids: Sequence[int] | None,
    model: str | None,
    score_at_least: float | None,
    score_below: float | None,
) -> list[Prediction]:
    query = select(Prediction).where(Prediction.image_id == image_id, Prediction.project_id == project_id)
    if ids is not None:
        wanted = set(ids)
        found = list(s.scalars(query.where(Prediction.id.in_(wanted)).with_for_update()))
        if len(found) != len(wanted):
            missing = sorted(wanted - {p.id for p in found})
            raise NotFound(f"prediction(s) {missing} not found on image {image_id}")
        decided = [p.id for p in found if p.status != PENDING]
        if decided:
            raise Conflict(f"prediction(s) {decided} were already accepted or rejected")
        query = query.where(Prediction.id.in_(wanted))
    query = query.where(Prediction.status == PENDING)
    if model is not None:
        query = query.where(Prediction.model == model)
    if score_at_least is not None:
        query = query.where(Prediction.score >= score_at_least)
    if score_below is not None:
        query = query.where(Prediction.score < score_below)
    return list(s.scalars(query.order_by(Prediction.id).with_for_update()))


def accept(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    image_id: int,
    expected_version: int | None,
    ids: Sequence[int] | None = None,
    model: str | None = None,
    min_score: float | None = None,
) -> tuple[int, list[tuple[int, int]]]:
    """Turn pending predictions (by id, or all of a model / above a score) into human objects, as one new
    version. Returns the version and (prediction id, object id) pairs."""
    if ids is None and min_score is None and model is None:
        raise Invalid("name the predictions to accept: their ids, a model, or a minimum score")

    def _accept(s: Session) -> tuple[int, list[tuple[int, int]]]:
        scope = annotation_service.editable_scope(s, actor, project_id, image_id, expected_version)
        image = scope.the_image
        chosen = _selected(s, project_id, image_id, ids, model, min_score, None)
        if not chosen:
            return image.annotation_version, []
        before = repo.current_docs(s, image.id)
        after = dict(before)
        names: dict[int, str] = {}
        pairs = []
        next_id = image.next_object_id
        for p in chosen:
            doc = {
                "id": next_id,
                "label": p.label,
                "kind": p.kind,
                p.kind: p.geometry,
                "attributes": dict(p.attributes or {}),
                "source": "human",
                "extra": {**(p.extra or {}), "prediction": {"id": p.id, "model": p.model, "score": p.score}},
            }
            after[next_id] = repo.to_doc(repo.from_doc(doc))
            names[next_id] = f"prediction {p.id}"
            pairs.append((p.id, next_id))
            next_id += 1
        version = annotation_service.commit_edit(
            s, scope, actor, before, after, expected=image.annotation_version, action="accept", names=names
        )
        now = utcnow()
        for p, (_, object_id) in zip(chosen, pairs, strict=True):
            p.status, p.object_id, p.decided_by, p.decided_at = ACCEPTED, object_id, actor.user_id, now
        return version, pairs

    return db.write(_accept)


def reject(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    image_id: int,
    ids: Sequence[int] | None = None,
    model: str | None = None,
    max_score: float | None = None,
) -> list[int]:
    """Mark pending predictions rejected (by id, or all of a model / below a score); returns their ids."""
    if ids is None and max_score is None and model is None:
        raise Invalid("name the predictions to reject: their ids, a model, or a maximum score")

    def _reject(s: Session) -> list[int]:
        scope = require_image(s, actor, project_id, image_id, Role.ANNOTATOR)
        require_editable(scope, actor)
        chosen = _selected(s, project_id, image_id, ids, model, None, max_score)
        now = utcnow()
        for p in chosen:
            p.status, p.decided_by, p.decided_at = REJECTED, actor.user_id, now
        return [p.id for p in chosen]

    return db.write(_reject)
