"""Comments on images: pinned to a point (or the whole image), resolved and reopened.

Text is stored verbatim; the API returns it as JSON and never renders it as HTML.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from seglab.service.access import Actor, Role, require_comment, require_image
from seglab.service.errors import Forbidden, Invalid
from seglab.service.views import CommentView
from seglab.storage.db import Database
from seglab.storage.models import Comment, Image, utcnow

MAX_TEXT = 10_000


def _check_point(image: Image, x: float | None, y: float | None) -> None:
    if (x is None) != (y is None):
        raise Invalid("give both x and y to pin a comment, or neither for the whole image")
    if x is not None and y is not None and not (0 <= x <= image.width and 0 <= y <= image.height):
        raise Invalid(f"({x}, {y}) lies outside the {image.width}x{image.height} image")


def pin_comment(
    s: Session,
    image: Image,
    actor: Actor,
    text: str,
    *,
    x: float | None,
    y: float | None,
    object_id: int | None = None,
    now: datetime | None = None,
) -> Comment:
    """A new, open comment of ``actor`` on ``image``, pinned at (x, y) inside it or to the whole image;
    flushed, so it has its id. The caller has checked the actor's role and the text."""
    _check_point(image, x, y)
    now = now or utcnow()
    comment = Comment(
        image_id=image.id,
        project_id=image.project_id,
        author_id=actor.user_id,
        text=text,
        x=x,
        y=y,
        object_id=object_id,
        resolved=False,
        created_at=now,
        updated_at=now,
    )
    s.add(comment)
    s.flush()
    return comment


def list_comments(
    db: Database, *, actor: Actor, project_id: int, image_id: int, limit: int = 100, offset: int = 0
) -> list[CommentView]:
    limit = max(1, min(limit, 500))

    def _list(s: Session) -> list[CommentView]:
        require_image(s, actor, project_id, image_id, Role.VIEWER)
        query = select(Comment).where(Comment.image_id == image_id).order_by(Comment.id)
        rows = s.scalars(query.limit(limit).offset(offset))
        return [CommentView.of(c) for c in rows]

    return db.read(_list)


def add_comment(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    image_id: int,
    text: str,
    x: float | None = None,
    y: float | None = None,
    object_id: int | None = None,
) -> CommentView:
    if not text.strip() or len(text) > MAX_TEXT:
        raise Invalid(f"a comment needs 1 to {MAX_TEXT} characters")

    def _add(s: Session) -> CommentView:
        image = require_image(s, actor, project_id, image_id, Role.ANNOTATOR).the_image
        return CommentView.of(pin_comment(s, image, actor, text, x=x, y=y, object_id=object_id))

    return db.write(_add)


def update_comment(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    image_id: int,
    comment_id: int,
    text: str | None = None,
    resolved: bool | None = None,
) -> CommentView:
    """Edit a comment's text (its author) or resolve/reopen it (annotators and above)."""
    if text is not None and (not text.strip() or len(text) > MAX_TEXT):
        raise Invalid(f"a comment needs 1 to {MAX_TEXT} characters")

    def _update(s: Session) -> CommentView:
        _scope, comment = require_comment(s, actor, project_id, image_id, comment_id, Role.ANNOTATOR)
        if text is not None:
            if comment.author_id != actor.user_id:
                raise Forbidden("only its author edits a comment's text")
            comment.text = text
        if resolved is not None:
            comment.resolved = resolved
        comment.updated_at = utcnow()
        s.flush()
        return CommentView.of(comment)

    return db.write(_update)


def delete_comment(db: Database, *, actor: Actor, project_id: int, image_id: int, comment_id: int) -> None:
    def _delete(s: Session) -> None:
        scope, comment = require_comment(s, actor, project_id, image_id, comment_id, Role.ANNOTATOR)
        if comment.author_id != actor.user_id and not scope.role.at_least(Role.MANAGER):
            raise Forbidden("only its author or a manager deletes a comment")
        s.delete(comment)

    db.write(_delete)
