"""Tiled pyramids of large images: the layout, and each tile as a JPEG (made on first request, cached)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel

from seglab.api.deps import ActorDep, ServicesDep
from seglab.api.routes.images import _blob_response
from seglab.service import tiles

router = APIRouter(tags=["images"])


class PyramidLevelPublic(BaseModel):
    level: int
    scale: float
    width: int
    height: int
    columns: int
    rows: int


class PyramidPublic(BaseModel):
    """Level 0 is the full image; each next level halves it; tiles are ``tile_size`` px squares."""

    tile_size: int
    width: int
    height: int
    levels: list[PyramidLevelPublic]


@router.get("/projects/{project_id}/images/{image_id}/tiles")
def image_pyramid(project_id: int, image_id: int, actor: ActorDep, services: ServicesDep) -> PyramidPublic:
    """The tile layout of the image's pyramid (what the editor uses for large images)."""
    pyramid = tiles.image_pyramid(services.db, actor=actor, project_id=project_id, image_id=image_id)
    return PyramidPublic.model_validate(pyramid, from_attributes=True)


@router.get(
    "/projects/{project_id}/images/{image_id}/tiles/{level}/{column}/{row}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "One JPEG tile"}},
)
def image_tile(
    project_id: int,
    image_id: int,
    level: int = Path(ge=0, le=64),
    column: int = Path(ge=0),
    row: int = Path(ge=0),
    *,
    request: Request,
    actor: ActorDep,
    services: ServicesDep,
) -> Response:
    key, tag = tiles.tile(
        services.db,
        services.blobs,
        actor=actor,
        project_id=project_id,
        image_id=image_id,
        level=level,
        column=column,
        row=row,
    )
    return _blob_response(services, key, "image/jpeg", tag, request)
