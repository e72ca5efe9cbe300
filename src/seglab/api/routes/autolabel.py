"""Auto-labeling: train a model on the approved images, auto-label the rest, audit the human labels (all
background jobs, managers), list the models, and the review queues (uncertainty, audit suspects) with each
image's per-pixel uncertainty map for the editor's heat overlay."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field

from seglab.api.deps import ActorDep, ServicesDep
from seglab.api.routes.images import _blob_response
from seglab.api.schemas import JobPublic, public_model_of
from seglab.service import autolabel as service

router = APIRouter(tags=["autolabel"])
PROJECT = "/projects/{project_id}"


class TrainRequest(BaseModel):
    """What to learn. ``background``: the class of every pixel no label covers (approved images are
    labeled completely); null when the labels are sparse scribbles."""

    classes: list[str] | None = Field(default=None, min_length=1)
    background: str | None = Field(default=service.DEFAULT_BACKGROUND, min_length=1, max_length=200)
    rounds: int = Field(default=40, ge=5, le=2000)
    members: int = Field(default=5, ge=1, le=16)
    samples_per_class: int = Field(default=20_000, ge=500, le=500_000)
    max_images: int | None = Field(default=None, ge=1)
    sigmas: list[float] | None = Field(default=None, min_length=1, max_length=10)


class PredictRequest(BaseModel):
    """``model``: a model's id (default: the newest); ``image_ids``: default every image not approved."""

    model: int | None = None
    image_ids: list[int] | None = Field(default=None, min_length=1, max_length=100_000)
    shape: Literal["polygon", "mask"] = "polygon"
    min_area: int = Field(default=16, ge=1, le=1_000_000)


class AuditRequest(BaseModel):
    statuses: list[Literal["new", "in_progress", "submitted", "approved", "rejected"]] = Field(
        default=["submitted", "approved"], min_length=1
    )
    folds: int = Field(default=5, ge=2, le=20)
    rounds: int = Field(default=60, ge=5, le=2000)
    background: str | None = Field(default=service.DEFAULT_BACKGROUND, min_length=1, max_length=200)
    model_based: bool = True
    samples_per_class: int = Field(default=20_000, ge=500, le=500_000)
    sigmas: list[float] | None = Field(default=None, min_length=1, max_length=10)


ModelPublic = public_model_of(service.ModelView, "ModelPublic")


UncertaintyItem = public_model_of(service.QueueItem, "UncertaintyItem")


class UncertaintyPage(BaseModel):
    total: int
    items: list[UncertaintyItem]


SuspectPublic = public_model_of(service.SuspectItem, "SuspectPublic")


class SuspectPage(BaseModel):
    total: int
    audit_job_id: int | None
    items: list[SuspectPublic]


def _params(body: BaseModel) -> dict[str, Any]:
    """The request as job parameters: unset options left out (``background`` null means scribbles)."""
    return {k: v for k, v in body.model_dump().items() if v is not None or k == "background"}


@router.post(PROJECT + "/autolabel/train", status_code=status.HTTP_202_ACCEPTED)
def train(project_id: int, body: TrainRequest, actor: ActorDep, services: ServicesDep) -> JobPublic:
    """Train an auto-label model on the project's approved images (managers), as a job."""
    job = service.start_train(
        services.db, services.jobs, actor=actor, project_id=project_id, params=_params(body)
    )
    return JobPublic.model_validate(job)


@router.post(PROJECT + "/autolabel/predict", status_code=status.HTTP_202_ACCEPTED)
def predict(project_id: int, body: PredictRequest, actor: ActorDep, services: ServicesDep) -> JobPublic:
    """Auto-label images (managers), as a job: predictions with score and uncertainty replace the pending
    ones of earlier auto-label models on those images."""
    params = {k: v for k, v in body.model_dump().items() if v is not None}
    job = service.start_predict(services.db, services.jobs, actor=actor, project_id=project_id, params=params)
    return JobPublic.model_validate(job)


@router.post(PROJECT + "/audit", status_code=status.HTTP_202_ACCEPTED)
def audit(project_id: int, body: AuditRequest, actor: ActorDep, services: ServicesDep) -> JobPublic:
    """Audit the human labels (managers), as a job: cross-validated model checks plus model-free ones."""
    job = service.start_audit(
        services.db, services.jobs, actor=actor, project_id=project_id, params=_params(body)
    )
    return JobPublic.model_validate(job)


@router.get(PROJECT + "/autolabel/models")
def models(project_id: int, actor: ActorDep, services: ServicesDep) -> list[ModelPublic]:
    """The project's trained models, newest first."""
    rows = service.list_models(services.db, actor=actor, project_id=project_id)
    return [ModelPublic.model_validate(m) for m in rows]


@router.get(PROJECT + "/autolabel/queue")
def uncertainty_queue(
    project_id: int,
    actor: ActorDep,
    services: ServicesDep,
    by: Annotated[Literal["max_object", "mean", "p90", "uncertain_fraction"], Query()] = "max_object",
    include_approved: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> UncertaintyPage:
    """Auto-labeled images, most uncertain first (default: by their most uncertain object; ties by the
    mean pixel uncertainty): the order in which to review them."""
    total, items = service.uncertainty_queue(
        services.db,
        actor=actor,
        project_id=project_id,
        by=by,
        include_approved=include_approved,
        limit=limit,
        offset=offset,
    )
    return UncertaintyPage(total=total, items=[UncertaintyItem.model_validate(i) for i in items])


@router.get(PROJECT + "/audit/suspects")
def audit_suspects(
    project_id: int,
    actor: ActorDep,
    services: ServicesDep,
    kind: Annotated[
        Literal["missing", "spurious", "wrong_class", "boundary", "other"] | None, Query()
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> SuspectPage:
    """The newest audit's suspects, most likely first; each names its image and object (null: missing)."""
    total, job_id, items = service.audit_queue(
        services.db, actor=actor, project_id=project_id, kind=kind, limit=limit, offset=offset
    )
    return SuspectPage(
        total=total, audit_job_id=job_id, items=[SuspectPublic.model_validate(i) for i in items]
    )


@router.get(
    PROJECT + "/images/{image_id}/uncertainty",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "8-bit uncertainty map (255 = most)"}},
)
def uncertainty_map(
    project_id: int, image_id: int, request: Request, actor: ActorDep, services: ServicesDep
) -> Response:
    """The image's per-pixel uncertainty from its newest auto-labeling, as a grey PNG of the image's size."""
    key, tag = service.heatmap(services.db, actor=actor, project_id=project_id, image_id=image_id)
    return _blob_response(services, key, "image/png", tag, request)
