"""Images: upload, list, file and thumbnail downloads, assignment, review steps, the queue, comments."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse, StreamingResponse

from seglab.api.deps import ActorDep, ServicesDep
from seglab.api.schemas import (
    CommentCreate,
    CommentPublic,
    CommentUpdate,
    ImagePagePublic,
    ImagePublic,
    ImageUpdate,
    QueuePublic,
    StatusChange,
)
from seglab.service import comments, images
from seglab.service.access import ImageStatus
from seglab.service.errors import Invalid, TooLarge

router = APIRouter(tags=["images"])

SortKey = Literal[
    "id",
    "-id",
    "file_name",
    "-file_name",
    "status",
    "-status",
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
]
LIST_PARAMS = frozenset({"status", "assignee", "q", "sort", "limit", "cursor"})


def only_params(allowed: frozenset[str]) -> Callable[[Request], None]:
    """Refuse query parameters outside ``allowed`` (filters and sorts come from an allowlist only)."""

    def check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise Invalid(
                f"unknown query parameter(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
            )

    return check


@router.post("/projects/{project_id}/images", status_code=status.HTTP_201_CREATED)
def upload_images(
    project_id: int,
    files: Annotated[list[UploadFile], File(description="JPEG, PNG, TIFF, BMP or WebP files")],
    actor: ActorDep,
    services: ServicesDep,
) -> list[ImagePublic]:
    """Upload images (managers). All files are checked first: one bad file and none is added."""
    limit = services.settings.max_image_bytes
    payload = []
    for upload in files:
        data = upload.file.read(limit + 1)
        if len(data) > limit:
            raise TooLarge(f"{upload.filename}: over the {limit}-byte limit per image")
        payload.append((upload.filename or "", data))
    stored = images.upload_images(
        services.db,
        services.blobs,
        actor=actor,
        project_id=project_id,
        files=payload,
        max_pixels=services.settings.max_image_pixels,
        claim_ttl=timedelta(minutes=services.settings.blob_claim_minutes),
    )
    return [ImagePublic.model_validate(i) for i in stored]


@router.get("/projects/{project_id}/images", dependencies=[Depends(only_params(LIST_PARAMS))])
def list_images(
    project_id: int,
    actor: ActorDep,
    services: ServicesDep,
    status_: Annotated[list[ImageStatus], Query(alias="status")] = [],  # noqa: B006 (FastAPI copies it)
    assignee: Annotated[str | None, Query(pattern=r"^(me|none|[0-9]{1,12})$")] = None,
    q: Annotated[str | None, Query(max_length=200, description="part of the file name")] = None,
    sort: SortKey = "id",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> ImagePagePublic:
    """A page of images; pass ``next_cursor`` back as ``cursor`` for the next page."""
    who: int | Literal["me", "none"] | None = None
    if assignee in ("me", "none"):
        who = assignee  # type: ignore[assignment]
    elif assignee is not None:
        who = int(assignee)
    page = images.list_images(
        services.db,
        actor=actor,
        project_id=project_id,
        statuses=status_,
        assignee=who,
        name_contains=q,
        sort=sort.lstrip("-"),
        descending=sort.startswith("-"),
        limit=limit,
        cursor=cursor,
    )
    return ImagePagePublic.model_validate(page)


@router.get("/projects/{project_id}/images/{image_id}")
def get_image(project_id: int, image_id: int, actor: ActorDep, services: ServicesDep) -> ImagePublic:
    return ImagePublic.model_validate(
        images.get_image(services.db, actor=actor, project_id=project_id, image_id=image_id)
    )


@router.patch("/projects/{project_id}/images/{image_id}")
def update_image(
    project_id: int, image_id: int, body: ImageUpdate, actor: ActorDep, services: ServicesDep
) -> ImagePublic:
    """Assign the image to an annotator, or free it (managers)."""
    image = images.update_image(
        services.db, actor=actor, project_id=project_id, image_id=image_id, assignee_id=body.assignee_id
    )
    return ImagePublic.model_validate(image)


@router.delete("/projects/{project_id}/images/{image_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_image(project_id: int, image_id: int, actor: ActorDep, services: ServicesDep) -> None:
    images.delete_image(services.db, actor=actor, project_id=project_id, image_id=image_id)


def _blob_response(
    services: ServicesDep,
    key: str,
    media_type: str,
    tag: str,
    request: Request,
    disposition: str | None = None,
) -> Response:
    headers = {"ETag": f'"{tag}"', "Cache-Control": "private, max-age=86400"}
    if disposition:
        headers["Content-Disposition"] = disposition
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    path = services.blobs.local_path(key)
    if path is not None:
        return FileResponse(path, media_type=media_type, headers=headers)
    return StreamingResponse(services.blobs.iter_chunks(key), media_type=media_type, headers=headers)


@router.get(
    "/projects/{project_id}/images/{image_id}/file",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}, "description": "The image file"}},
)
def image_file(
    project_id: int, image_id: int, request: Request, actor: ActorDep, services: ServicesDep
) -> Response:
    """The stored image (EXIF orientation already applied), with the type decided at upload."""
    file = images.image_file(services.db, actor=actor, project_id=project_id, image_id=image_id)
    name = file.file_name.rsplit("/", 1)[-1]
    disposition = f"attachment; filename*=UTF-8''{quote(name, safe='')}"
    return _blob_response(services, file.storage_key, file.media_type, file.checksum, request, disposition)


@router.get(
    "/projects/{project_id}/images/{image_id}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "A JPEG thumbnail"}},
)
def image_thumbnail(
    project_id: int,
    image_id: int,
    request: Request,
    actor: ActorDep,
    services: ServicesDep,
    size: Annotated[int, Query(description="the longest side: 128, 256 or 512")] = 256,
) -> Response:
    key, tag = images.thumbnail(
        services.db, services.blobs, actor=actor, project_id=project_id, image_id=image_id, size=size
    )
    return _blob_response(services, key, "image/jpeg", tag, request)


@router.post("/projects/{project_id}/images/{image_id}/status")
def change_status(
    project_id: int, image_id: int, body: StatusChange, actor: ActorDep, services: ServicesDep
) -> ImagePublic:
    """Review workflow: submit (annotators), approve, reject with a comment, reopen (reviewers)."""
    image = images.transition(
        services.db,
        actor=actor,
        project_id=project_id,
        image_id=image_id,
        action=body.action,
        comment=body.comment,
        x=body.x,
        y=body.y,
    )
    return ImagePublic.model_validate(image)


@router.get("/projects/{project_id}/queue/next")
def queue_next(project_id: int, actor: ActorDep, services: ServicesDep) -> QueuePublic:
    """Your next image to annotate (your unfinished work first, else a new image claimed for you)."""
    image, remaining = images.next_in_queue(services.db, actor=actor, project_id=project_id)
    return QueuePublic(
        image=None if image is None else ImagePublic.model_validate(image), remaining=remaining
    )


@router.get("/projects/{project_id}/images/{image_id}/comments", tags=["comments"])
def list_comments(
    project_id: int,
    image_id: int,
    actor: ActorDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[CommentPublic]:
    rows = comments.list_comments(
        services.db, actor=actor, project_id=project_id, image_id=image_id, limit=limit, offset=offset
    )
    return [CommentPublic.model_validate(c) for c in rows]


@router.post(
    "/projects/{project_id}/images/{image_id}/comments",
    status_code=status.HTTP_201_CREATED,
    tags=["comments"],
)
def add_comment(
    project_id: int, image_id: int, body: CommentCreate, actor: ActorDep, services: ServicesDep
) -> CommentPublic:
    """A comment pinned at ``x, y`` in image pixels (or on the whole image when both are left out)."""
    comment = comments.add_comment(
        services.db,
        actor=actor,
        project_id=project_id,
        image_id=image_id,
        text=body.text,
        x=body.x,
        y=body.y,
        object_id=body.object_id,
    )
    return CommentPublic.model_validate(comment)


@router.patch("/projects/{project_id}/images/{image_id}/comments/{comment_id}", tags=["comments"])
def update_comment(
    project_id: int,
    image_id: int,
    comment_id: int,
    body: CommentUpdate,
    actor: ActorDep,
    services: ServicesDep,
) -> CommentPublic:
    """Edit your comment's text, or resolve / reopen a comment."""
    comment = comments.update_comment(
        services.db,
        actor=actor,
        project_id=project_id,
        image_id=image_id,
        comment_id=comment_id,
        **body.model_dump(exclude_unset=True),
    )
    return CommentPublic.model_validate(comment)


@router.delete(
    "/projects/{project_id}/images/{image_id}/comments/{comment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["comments"],
)
def delete_comment(
    project_id: int, image_id: int, comment_id: int, actor: ActorDep, services: ServicesDep
) -> None:
    comments.delete_comment(
        services.db, actor=actor, project_id=project_id, image_id=image_id, comment_id=comment_id
    )
