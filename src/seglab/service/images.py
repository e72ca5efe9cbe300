"""Images of a project: upload, listing, files and thumbnails, assignment, review workflow and the queue.

Status moves new -> in_progress (first edit, or handed out by the queue) -> submitted -> approved or
rejected (with a comment) -> in_progress again (reopened). Uploads are all-or-nothing: every file is
checked first, blobs are written next (content-addressed, so a retry rewrites nothing), and the rows are
inserted in one transaction.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, literal, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seglab.service.access import Actor, ImageStatus, Role, require_image, require_project
from seglab.service.comments import MAX_TEXT, pin_comment
from seglab.service.errors import Conflict, Forbidden, Invalid
from seglab.service.imaging import THUMBNAIL_SIZES, PreparedImage, make_thumbnail, prepare_upload
from seglab.service.views import FileView, ImagePage, ImageView
from seglab.storage import repositories as repo
from seglab.storage.blobs import BlobStore, content_key
from seglab.storage.db import Database
from seglab.storage.models import Image, Member, ReviewEvent, utcnow

SORT_KEYS = ("id", "file_name", "status", "created_at", "updated_at")
MAX_PAGE = 500
Transition = Literal["submit", "approve", "reject", "reopen"]

# action -> (statuses it starts from, status it leads to, least role)
TRANSITIONS: dict[str, tuple[tuple[ImageStatus, ...], ImageStatus, Role]] = {
    "submit": (
        (ImageStatus.NEW, ImageStatus.IN_PROGRESS, ImageStatus.REJECTED),
        ImageStatus.SUBMITTED,
        Role.ANNOTATOR,
    ),
    "approve": ((ImageStatus.SUBMITTED,), ImageStatus.APPROVED, Role.REVIEWER),
    "reject": ((ImageStatus.SUBMITTED, ImageStatus.APPROVED), ImageStatus.REJECTED, Role.REVIEWER),
    "reopen": (
        (ImageStatus.SUBMITTED, ImageStatus.APPROVED, ImageStatus.REJECTED),
        ImageStatus.IN_PROGRESS,
        Role.REVIEWER,
    ),
}


# ------------------------------------------------------------------------------------------------ upload


def upload_images(
    db: Database,
    blobs: BlobStore,
    *,
    actor: Actor,
    project_id: int,
    files: Sequence[tuple[str, bytes]],
    max_pixels: int,
    claim_ttl: timedelta = timedelta(hours=1),
) -> list[ImageView]:
    """Add images (managers). Every file is checked before anything is stored; one bad file refuses all.

    Files stored for an upload that then fails (a name clash found at insert time) are left to garbage
    collection: the same content may be on its way into another project at this very moment."""
    db.read(lambda s: require_project(s, actor, project_id, Role.MANAGER))
    if not files:
        raise Invalid("no files were uploaded")
    prepared = [prepare_upload(data, name, max_pixels=max_pixels) for name, data in files]
    seen: dict[str, str] = {}
    for p in prepared:
        for key in (p.file_name, p.checksum):
            if key in seen:
                raise Conflict(f"{p.file_name}: uploaded twice in this request (same name or content)")
            seen[key] = p.file_name
    # Claim the keys before looking at the blobs: garbage collection then either deleted a blob first (and
    # it is stored again here) or leaves it alone until the rows below refer to it.
    keys = [content_key(p.checksum, p.extension) for p in prepared]
    claims = db.write(lambda s: repo.claim_blobs(s, keys, ttl=claim_ttl))
    try:
        for p, key in zip(prepared, keys, strict=True):
            if not blobs.exists(key):
                blobs.put(key, p.data)
        return _insert_rows(db, actor=actor, project_id=project_id, prepared=prepared, claims=claims)
    except BaseException:
        db.write(lambda s: repo.release_claims(s, claims))  # what was stored goes with the next collection
        raise


def _insert_rows(
    db: Database, *, actor: Actor, project_id: int, prepared: list[PreparedImage], claims: list[int]
) -> list[ImageView]:
    """Insert the rows of checked and stored images in one transaction that also drops their claims."""

    def _insert(s: Session) -> list[ImageView]:
        require_project(s, actor, project_id, Role.MANAGER)
        names = [p.file_name for p in prepared]
        sums = [p.checksum for p in prepared]
        clash = s.execute(
            select(Image.id, Image.file_name, Image.checksum).where(
                Image.project_id == project_id, or_(Image.file_name.in_(names), Image.checksum.in_(sums))
            )
        ).first()
        if clash is not None:
            raise Conflict(f"image {clash.file_name!r} (id {clash.id}) already has this name or content")
        rows = [_row(project_id, p) for p in prepared]
        s.add_all(rows)
        s.flush()
        repo.release_claims(s, claims)
        return [ImageView.of(r) for r in rows]

    try:
        return db.write(_insert)
    except IntegrityError:
        raise Conflict("an image with this name or content was added at the same time") from None


def _row(project_id: int, p: PreparedImage) -> Image:
    now = utcnow()
    return Image(
        project_id=project_id,
        file_name=p.file_name,
        checksum=p.checksum,
        width=p.width,
        height=p.height,
        storage_key=content_key(p.checksum, p.extension),
        media_type=p.media_type,
        byte_size=len(p.data),
        status=ImageStatus.NEW.value,
        assignee_id=None,
        annotation_version=0,
        next_object_id=1,
        created_at=now,
        updated_at=now,
    )


# ----------------------------------------------------------------------------------------------- listing


def _encode_cursor(value: Any, image_id: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    return base64.urlsafe_b64encode(json.dumps([value, image_id]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, image_id = json.loads(raw)
        if not isinstance(image_id, int):
            raise ValueError
        if sort in ("created_at", "updated_at"):
            value = datetime.fromisoformat(value)
        elif sort == "id":
            value = int(value)
        elif not isinstance(value, str):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise Invalid("bad cursor; pass the next_cursor of the previous page unchanged") from None
    return value, image_id


def list_images(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    statuses: Sequence[ImageStatus] = (),
    assignee: int | Literal["me", "none"] | None = None,
    name_contains: str | None = None,
    sort: str = "id",
    descending: bool = False,
    limit: int = 50,
    cursor: str | None = None,
) -> ImagePage:
    """A page of images with allowlisted filters and keyset pagination (stable under inserts)."""
    if sort not in SORT_KEYS:
        raise Invalid(f"sort by one of {', '.join(SORT_KEYS)}")
    limit = max(1, min(limit, MAX_PAGE))

    def _list(s: Session) -> ImagePage:
        require_project(s, actor, project_id, Role.VIEWER)
        conditions = [Image.project_id == project_id]
        if statuses:
            conditions.append(Image.status.in_([st.value for st in statuses]))
        if assignee == "none":
            conditions.append(Image.assignee_id.is_(None))
        elif assignee is not None:
            conditions.append(Image.assignee_id == (actor.user_id if assignee == "me" else assignee))
        if name_contains:
            escaped = name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(Image.file_name.like(f"%{escaped}%", escape="\\"))
        total = s.scalar(select(func.count()).select_from(Image).where(*conditions)) or 0
        column = getattr(Image, sort)
        query = select(Image).where(*conditions)
        if cursor is not None:
            value, after_id = _decode_cursor(cursor, sort)
            if sort == "id":
                query = query.where(Image.id < after_id if descending else Image.id > after_id)
            else:
                key = tuple_(column, Image.id)
                bound = tuple_(literal(value, column.type), literal(after_id))
                query = query.where(key < bound if descending else key > bound)
        order = (column.desc(), Image.id.desc()) if descending else (column.asc(), Image.id.asc())
        rows = list(s.scalars(query.order_by(*order).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _encode_cursor(getattr(rows[-1], sort), rows[-1].id) if more and rows else None
        return ImagePage([ImageView.of(r) for r in rows], total, next_cursor)

    return db.read(_list)


def get_image(db: Database, *, actor: Actor, project_id: int, image_id: int) -> ImageView:
    return db.read(
        lambda s: ImageView.of(require_image(s, actor, project_id, image_id, Role.VIEWER).the_image)
    )


def image_file(db: Database, *, actor: Actor, project_id: int, image_id: int) -> FileView:
    def _file(s: Session) -> FileView:
        image = require_image(s, actor, project_id, image_id, Role.VIEWER).the_image
        return FileView(image.storage_key, image.media_type, image.file_name, image.byte_size, image.checksum)

    return db.read(_file)


def thumbnail(
    db: Database, blobs: BlobStore, *, actor: Actor, project_id: int, image_id: int, size: int
) -> tuple[str, str]:
    """The blob key of a JPEG thumbnail (made on first request) and its checksum-based ETag."""
    if size not in THUMBNAIL_SIZES:
        raise Invalid(f"thumbnail size must be one of {', '.join(map(str, THUMBNAIL_SIZES))}")
    source = image_file(db, actor=actor, project_id=project_id, image_id=image_id)
    key = content_key(source.checksum, "jpg", namespace=f"thumbs/{size}")
    if not blobs.exists(key):
        blobs.put(key, make_thumbnail(blobs.get(source.storage_key), size))
    return key, f"{source.checksum[:32]}-{size}"


# ------------------------------------------------------------------------------------ assignment, delete


def update_image(
    db: Database, *, actor: Actor, project_id: int, image_id: int, assignee_id: int | None
) -> ImageView:
    """Assign an image to an annotator (or free it with None); managers only."""

    def _update(s: Session) -> ImageView:
        image = require_image(s, actor, project_id, image_id, Role.MANAGER).the_image
        if assignee_id is not None:
            role = s.scalar(
                select(Member.role).where(Member.project_id == project_id, Member.user_id == assignee_id)
            )
            if role is None or not Role(role).at_least(Role.ANNOTATOR):
                raise Invalid(f"user {assignee_id} is not a member who may annotate in this project")
        image.assignee_id = assignee_id
        image.updated_at = utcnow()
        s.flush()
        return ImageView.of(image)

    return db.write(_update)


def delete_image(db: Database, *, actor: Actor, project_id: int, image_id: int) -> None:
    """Delete an image with its annotations, history and comments (managers). The blob may be shared."""

    def _delete(s: Session) -> None:
        s.delete(require_image(s, actor, project_id, image_id, Role.MANAGER).the_image)

    db.write(_delete)


# ------------------------------------------------------------------------------------------------ review


def transition(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    image_id: int,
    action: Transition,
    comment: str | None = None,
    x: float | None = None,
    y: float | None = None,
) -> ImageView:
    """Move an image through the review workflow; ``reject`` needs a comment, which is stored on the image."""
    if action not in TRANSITIONS:
        raise Invalid(f"unknown action {action!r}")
    sources, target, need = TRANSITIONS[action]
    if action == "reject" and not (comment and comment.strip()):
        raise Invalid("a rejection needs a comment that says what to fix")
    if comment is not None and len(comment) > MAX_TEXT:
        raise Invalid(f"a comment has at most {MAX_TEXT} characters")

    def _move(s: Session) -> ImageView:
        scope = require_image(s, actor, project_id, image_id, need)
        image = scope.the_image
        s.refresh(image, with_for_update=True)
        if (
            action == "submit"
            and not scope.role.at_least(Role.REVIEWER)
            and image.assignee_id not in (None, actor.user_id)
        ):
            raise Forbidden(f"image {image.id} is assigned to another annotator")
        if image.status not in sources:
            raise Conflict(f"cannot {action} image {image.id}: it is {image.status}")
        from_status = image.status
        image.status = target.value
        if action == "submit" and image.assignee_id is None:
            image.assignee_id = actor.user_id
        now = utcnow()
        image.updated_at = now
        note = pin_comment(s, image, actor, comment, x=x, y=y, now=now) if comment else None
        s.add(
            ReviewEvent(
                image_id=image.id,
                project_id=project_id,
                action=action,
                from_status=from_status,
                to_status=target.value,
                user_id=actor.user_id,
                annotation_version=image.annotation_version,
                comment_id=note.id if note is not None else None,
                created_at=now,
            )
        )
        s.flush()
        return ImageView.of(image)

    return db.write(_move)


def next_in_queue(db: Database, *, actor: Actor, project_id: int) -> tuple[ImageView | None, int]:
    """The actor's next image: their own unfinished work first (rejected, then in progress), else the
    lowest unassigned new image, which is claimed for them atomically. Returns it and how many remain."""

    def _next(s: Session) -> tuple[ImageView | None, int]:
        require_project(s, actor, project_id, Role.ANNOTATOR)
        mine = s.scalars(
            select(Image)
            .where(
                Image.project_id == project_id,
                Image.assignee_id == actor.user_id,
                Image.status.in_(
                    [ImageStatus.REJECTED.value, ImageStatus.IN_PROGRESS.value, ImageStatus.NEW.value]
                ),
            )
            .order_by(
                (Image.status == ImageStatus.REJECTED.value).desc(),
                (Image.status == ImageStatus.IN_PROGRESS.value).desc(),
                Image.id,
            )
            .limit(1)
        ).first()
        image = mine
        while image is None:
            candidate = s.scalar(
                select(Image.id)
                .where(
                    Image.project_id == project_id,
                    Image.assignee_id.is_(None),
                    Image.status == ImageStatus.NEW.value,
                )
                .order_by(Image.id)
                .limit(1)
            )
            if candidate is None:
                break
            claimed = s.execute(
                update(Image)
                .where(
                    Image.id == candidate, Image.assignee_id.is_(None), Image.status == ImageStatus.NEW.value
                )
                .values(assignee_id=actor.user_id, status=ImageStatus.IN_PROGRESS.value, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount == 1:  # type: ignore[attr-defined]
                image = s.get_one(Image, candidate)
                s.refresh(image)
        remaining = (
            s.scalar(
                select(func.count()).where(
                    Image.project_id == project_id,
                    Image.assignee_id.is_(None),
                    Image.status == ImageStatus.NEW.value,
                )
            )
            or 0
        )
        return (None if image is None else ImageView.of(image)), remaining

    return db.write(_next)
