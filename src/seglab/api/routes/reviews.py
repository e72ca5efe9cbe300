"""The review log of an image (GET only: steps are written by the workflow transitions themselves)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from seglab.api.deps import ActorDep, ServicesDep
from seglab.api.schemas import public_model_of
from seglab.service import reviews

router = APIRouter(tags=["review"])


ReviewEventPublic = public_model_of(reviews.ReviewEventView, "ReviewEventPublic")


@router.get("/projects/{project_id}/images/{image_id}/reviews")
def list_review_events(
    project_id: int,
    image_id: int,
    actor: ActorDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=reviews.MAX_EVENTS)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ReviewEventPublic]:
    """Submit/approve/reject/reopen steps of the image, oldest first, each with its annotation version."""
    events = reviews.list_review_events(
        services.db, actor=actor, project_id=project_id, image_id=image_id, limit=limit, offset=offset
    )
    return [ReviewEventPublic.model_validate(e) for e in events]
