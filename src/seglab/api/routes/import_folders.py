"""The server's import folders, browsed from the import dialog (the import itself: /imports/folder)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from seglab.api.deps import ActorDep, ServicesDep
from seglab.service import import_folders

router = APIRouter(tags=["import/export"])


class FolderEntryPublic(BaseModel):
    name: str
    path: str


class FolderListingPublic(BaseModel):
    """Sub-folders of ``path`` (the import roots themselves when ``path`` is null)."""

    path: str | None
    parent: str | None
    folders: list[FolderEntryPublic]
    file_count: int
    truncated: bool


@router.get("/projects/{project_id}/import-folders")
def list_import_folders(
    project_id: int,
    actor: ActorDep,
    services: ServicesDep,
    path: Annotated[str | None, Query(max_length=4096, description="Leave out for the roots")] = None,
) -> FolderListingPublic:
    """Folders a manager may import from, inside the admin's import roots."""
    listing = import_folders.list_import_folders(
        services.db,
        actor=actor,
        project_id=project_id,
        roots=list(services.settings.import_roots),
        path=path,
    )
    return FolderListingPublic.model_validate(listing, from_attributes=True)
