"""The review log of an image: every submit, approve, reject and reopen with who, when and the annotation
version it was taken on. Reviewers diff "what changed since the last review" against that version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from seglab.service.access import Actor, Role, require_image
from seglab.storage.db import Database
from seglab.storage.models import ReviewEvent, User

MAX_EVENTS = 500


@dataclass(frozen=True)
class ReviewEventView:
    id: int
    action: str
    from_status: str
    to_status: str
    user_id: int | None
    username: str | None
    annotation_version: int
    comment_id: int | None
    created_at: datetime


def list_review_events(
    db: Database, *, actor: Actor, project_id: int, image_id: int, limit: int = 100, offset: int = 0
) -> list[ReviewEventView]:
    """The image's workflow steps, oldest first (viewers and above)."""
    limit = max(1, min(limit, MAX_EVENTS))

    def _list(s: Session) -> list[ReviewEventView]:
        require_image(s, actor, project_id, image_id, Role.VIEWER)
        rows = s.execute(
            select(ReviewEvent, User.username)
            .outerjoin(User, User.id == ReviewEvent.user_id)
            .where(ReviewEvent.image_id == image_id)
            .order_by(ReviewEvent.id)
            .limit(limit)
            .offset(offset)
        )
        return [
            ReviewEventView(
                e.id,
                e.action,
                e.from_status,
                e.to_status,
                e.user_id,
                username,
                e.annotation_version,
                e.comment_id,
                e.created_at,
            )
            for e, username in rows
        ]

    return db.read(_list)
