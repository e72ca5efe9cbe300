"""Model predictions: import a COCO results list, list an image's predictions, accept or reject them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from fastapi.responses import Response

from seglab.api.deps import ActorDep, IfMatchDep, ServicesDep, etag
from seglab.api.schemas import (
    AcceptedPair,
    AcceptPublic,
    JobPublic,
    PredictionPublic,
    PredictionSelection,
    RejectPublic,
)
from seglab.service import predictions as service

router = APIRouter(tags=["predictions"])
IMAGE = "/projects/{project_id}/images/{image_id}"


@router.post("/projects/{project_id}/predictions", status_code=status.HTTP_202_ACCEPTED)
def import_predictions(
    project_id: int,
    file: Annotated[UploadFile, File(description="A COCO results list (JSON)")],
    model: Annotated[str, Form(min_length=1, max_length=200, description="The model's name")],
    actor: ActorDep,
    services: ServicesDep,
    skip_invalid: Annotated[bool, Form()] = False,
) -> JobPublic:
    """Import predictions (managers), as a job. ``image_id`` and ``category_id`` are those of a COCO export
    of this project."""
    job = service.start_import(
        services.db,
        services.jobs,
        services.blobs,
        actor=actor,
        project_id=project_id,
        fileobj=file.file,
        model=model,
        skip_invalid=skip_invalid,
    )
    return JobPublic.model_validate(job)


@router.get(IMAGE + "/predictions")
def list_predictions(
    project_id: int,
    image_id: int,
    actor: ActorDep,
    services: ServicesDep,
    status_: Annotated[Literal["pending", "accepted", "rejected", "all"], Query(alias="status")] = "pending",
    model: Annotated[str | None, Query(max_length=200)] = None,
    min_score: float | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[PredictionPublic]:
    """The image's predictions (pending ones by default, or ``all``), best score first."""
    rows = service.list_predictions(
        services.db,
        actor=actor,
        project_id=project_id,
        image_id=image_id,
        status=None if status_ == "all" else status_,
        model=model,
        min_score=min_score,
        limit=limit,
        offset=offset,
    )
    return [PredictionPublic.model_validate(p) for p in rows]


def _accepted(version: int, pairs: list[tuple[int, int]]) -> Response:
    body = AcceptPublic(
        version=version, accepted=[AcceptedPair(prediction_id=p, object_id=o) for p, o in pairs]
    )
    return Response(body.model_dump_json(), media_type="application/json", headers={"ETag": etag(version)})


@router.post(IMAGE + "/predictions/accept", response_model=AcceptPublic)
def accept_many(
    project_id: int,
    image_id: int,
    body: PredictionSelection,
    actor: ActorDep,
    services: ServicesDep,
    version: IfMatchDep,
) -> Response:
    """Accept the selected pending predictions as human objects, as one new version. Needs If-Match."""
    new_version, pairs = service.accept(
        services.db,
        actor=actor,
        project_id=project_id,
        image_id=image_id,
        expected_version=version,
        ids=body.ids,
        model=body.model,
        min_score=body.min_score,
    )
    return _accepted(new_version, pairs)


@router.post(IMAGE + "/predictions/{prediction_id}/accept", response_model=AcceptPublic)
def accept_one(
    project_id: int,
    image_id: int,
    prediction_id: int,
    actor: ActorDep,
    services: ServicesDep,
    version: IfMatchDep,
) -> Response:
    """Accept one prediction as a human object. Needs If-Match with the annotation version."""
    new_version, pairs = service.accept(
        services.db,
        actor=actor,
        project_id=project_id,
        image_id=image_id,
        expected_version=version,
        ids=[prediction_id],
    )
    return _accepted(new_version, pairs)


@router.post(IMAGE + "/predictions/reject")
def reject_many(
    project_id: int, image_id: int, body: PredictionSelection, actor: ActorDep, services: ServicesDep
) -> RejectPublic:
    """Reject the selected pending predictions (by ids, model, or ``max_score``: those below it)."""
    ids = service.reject(
        services.db,
        actor=actor,
        project_id=project_id,
        image_id=image_id,
        ids=body.ids,
        model=body.model,
        max_score=body.max_score,
    )
    return RejectPublic(rejected=ids)


@router.post(IMAGE + "/predictions/{prediction_id}/reject")
def reject_one(
    project_id: int, image_id: int, prediction_id: int, actor: ActorDep, services: ServicesDep
) -> RejectPublic:
    ids = service.reject(
        services.db, actor=actor, project_id=project_id, image_id=image_id, ids=[prediction_id]
    )
    return RejectPublic(rejected=ids)
