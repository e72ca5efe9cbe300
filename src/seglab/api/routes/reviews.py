"""The review log of an image (GET only: steps are written by the workflow transitions themselves)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from seglab.api.deps import ActorDep, ServicesDep
from seglab.service import reviews

router = APIRouter(tags=["review"])


class ReviewEventPublic(BaseModel):
    id: int
    action: str
    from_status: str
    to_status: str
    user_id: int | None
    username: str | None
    annotation_version: int
    comment_id: int | None
    created_at: datetime


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
    return [ReviewEventPublic.model_validate(e, from_attributes=True) for e in events]
