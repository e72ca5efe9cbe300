"""Projects, members and the ontology."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from seglab.api.deps import ActorDep, IfMatchDep, ServicesDep, etag
from seglab.api.schemas import (
    MemberCreate,
    MemberPublic,
    MemberUpdate,
    OntologyPublic,
    OntologySchema,
    OntologyUpdate,
    ProjectCreate,
    ProjectPublic,
    ProjectUpdate,
)
from seglab.service import projects
from seglab.service.errors import PreconditionRequired
from seglab.service.views import OntologyView
from seglab.storage.codec import ontology_to_json

router = APIRouter(tags=["projects"])


@router.get("/projects")
def list_projects(
    actor: ActorDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ProjectPublic]:
    rows = projects.list_projects(services.db, actor=actor, limit=limit, offset=offset)
    return [ProjectPublic.model_validate(p) for p in rows]


@router.post("/projects", status_code=status.HTTP_201_CREATED)
def create_project(body: ProjectCreate, actor: ActorDep, services: ServicesDep) -> ProjectPublic:
    ontology = body.ontology.to_core() if body.ontology is not None else None
    project = projects.create_project(
        services.db, actor=actor, name=body.name, description=body.description, ontology=ontology
    )
    return ProjectPublic.model_validate(project)


@router.get("/projects/{project_id}")
def get_project(project_id: int, actor: ActorDep, services: ServicesDep) -> ProjectPublic:
    return ProjectPublic.model_validate(projects.get_project(services.db, actor=actor, project_id=project_id))


@router.patch("/projects/{project_id}")
def update_project(
    project_id: int, body: ProjectUpdate, actor: ActorDep, services: ServicesDep
) -> ProjectPublic:
    project = projects.update_project(
        services.db, actor=actor, project_id=project_id, **body.model_dump(exclude_unset=True)
    )
    return ProjectPublic.model_validate(project)


@router.delete("/projects/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_project(project_id: int, actor: ActorDep, services: ServicesDep) -> None:
    projects.delete_project(services.db, actor=actor, project_id=project_id)


@router.get("/projects/{project_id}/members")
def list_members(
    project_id: int,
    actor: ActorDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[MemberPublic]:
    rows = projects.list_members(services.db, actor=actor, project_id=project_id, limit=limit, offset=offset)
    return [MemberPublic.model_validate(m) for m in rows]


@router.post("/projects/{project_id}/members", status_code=status.HTTP_201_CREATED)
def add_member(project_id: int, body: MemberCreate, actor: ActorDep, services: ServicesDep) -> MemberPublic:
    member = projects.set_member(
        services.db,
        actor=actor,
        project_id=project_id,
        role=body.role,
        user_id=body.user_id,
        username=body.username,
    )
    return MemberPublic.model_validate(member)


@router.patch("/projects/{project_id}/members/{user_id}")
def update_member(
    project_id: int, user_id: int, body: MemberUpdate, actor: ActorDep, services: ServicesDep
) -> MemberPublic:
    member = projects.set_member(
        services.db, actor=actor, project_id=project_id, role=body.role, user_id=user_id, existing_only=True
    )
    return MemberPublic.model_validate(member)


@router.delete("/projects/{project_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(project_id: int, user_id: int, actor: ActorDep, services: ServicesDep) -> None:
    projects.remove_member(services.db, actor=actor, project_id=project_id, user_id=user_id)


def _ontology(view: OntologyView, response: Response) -> OntologyPublic:
    response.headers["ETag"] = etag(view.version)
    return OntologyPublic(
        version=view.version, ontology=OntologySchema.model_validate(ontology_to_json(view.ontology))
    )


@router.get("/projects/{project_id}/ontology")
def get_ontology(
    project_id: int, response: Response, actor: ActorDep, services: ServicesDep
) -> OntologyPublic:
    """The ontology and its version (also the ETag to send back as If-Match)."""
    return _ontology(projects.get_ontology(services.db, actor=actor, project_id=project_id), response)


@router.put("/projects/{project_id}/ontology")
def put_ontology(
    project_id: int,
    body: OntologyUpdate,
    response: Response,
    actor: ActorDep,
    services: ServicesDep,
    version: IfMatchDep,
) -> OntologyPublic:
    """Replace the ontology (managers). A class that objects use cannot be removed (409 with the counts)."""
    if version is None:
        raise PreconditionRequired("send If-Match with the ontology version you edited")
    view = projects.set_ontology(
        services.db,
        actor=actor,
        project_id=project_id,
        ontology=body.ontology.to_core(),
        expected_version=version,
        renames=body.renames,
    )
    return _ontology(view, response)
