"""Background jobs, project import and export, and export downloads through expiring links."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import Field

from seglab.api.deps import ActorDep, ServicesDep
from seglab.api.schemas import DownloadLink, ExportCreate, FolderImport, FormatPublic, JobPublic, Strict
from seglab.formats import registry
from seglab.jobs import JobStatus
from seglab.service import exports, imports
from seglab.service import jobs as service

router = APIRouter(tags=["jobs"])
PREFIX = "/projects/{project_id}"
Accepted = {"description": "The job was queued; follow it at GET .../jobs/{job_id}"}
#: How a route that queues an import or export answers: 202 with the job to follow.
QUEUES_JOB: dict[str, Any] = {
    "status_code": status.HTTP_202_ACCEPTED,
    "tags": ["import/export"],
    "responses": {202: Accepted},
}


@router.get("/formats", tags=["import/export"])
def list_formats() -> list[FormatPublic]:
    """The dataset formats import and export understand, with the shape types each carries losslessly."""
    return [
        FormatPublic(
            name=spec.name,
            description=spec.description,
            carries=sorted(spec.carries, key=lambda t: t.value),
            extensions=list(spec.extensions),
        )
        for spec in registry.list_formats()
    ]


@router.post(
    PREFIX + "/imports",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["import/export"],
    responses={202: Accepted, 413: {"description": "Archive too large or a zip bomb"}},
)
def import_upload(
    project_id: int,
    file: Annotated[UploadFile, File(description="A .zip of a dataset, or one annotation file")],
    actor: ActorDep,
    services: ServicesDep,
    format: Annotated[str | None, Form(max_length=50, description="Leave out to detect it")] = None,
    skip_invalid: Annotated[bool, Form(description="Leave bad objects out (and count them)")] = False,
) -> JobPublic:
    """Import a dataset into the project (managers), all or nothing, as a job."""
    job = imports.start_upload(
        services.db,
        services.jobs,
        services.blobs,
        actor=actor,
        project_id=project_id,
        file_name=file.filename or "upload",
        fileobj=file.file,
        format=format or None,
        skip_invalid=skip_invalid,
    )
    return JobPublic.model_validate(job)


@router.post(PREFIX + "/imports/folder", **QUEUES_JOB)
def import_folder(project_id: int, body: FolderImport, actor: ActorDep, services: ServicesDep) -> JobPublic:
    """Import a dataset from a folder on the server, inside the configured import roots (managers)."""
    return _located_import("folder", body.path, project_id, body, actor, services)


class S3Import(Strict):
    """An S3 prefix inside the admin's S3 import roots (``SEGLAB_S3_IMPORT_ROOTS``): ``s3://bucket/path``,
    or a path taken inside the first root."""

    prefix: Annotated[str, Field(min_length=1, max_length=4096)]
    format: (
        Annotated[str, Field(max_length=50, description="Leave out to detect; 'images' for images only")]
        | None
    ) = None
    skip_invalid: bool = False


@router.post(PREFIX + "/imports/s3", **QUEUES_JOB)
def import_s3(project_id: int, body: S3Import, actor: ActorDep, services: ServicesDep) -> JobPublic:
    """Import a dataset, or images alone, from an S3 prefix inside the configured S3 roots (managers)."""
    return _located_import("s3", body.prefix, project_id, body, actor, services)


def _located_import(
    source: Literal["folder", "s3"],
    location: str,
    project_id: int,
    body: FolderImport | S3Import,
    actor: ActorDep,
    services: ServicesDep,
) -> JobPublic:
    """Queue a folder or S3 import: the two routes differ only in the place's kind and where it lies."""
    job = imports.start_located(
        services.db,
        services.jobs,
        actor=actor,
        project_id=project_id,
        source=source,
        location=location,
        import_roots=list(services.settings.import_roots),
        s3_roots=list(services.settings.s3_import_roots),
        format=body.format,
        skip_invalid=body.skip_invalid,
    )
    return JobPublic.model_validate(job)


@router.post(PREFIX + "/exports", **QUEUES_JOB)
def start_export(project_id: int, body: ExportCreate, actor: ActorDep, services: ServicesDep) -> JobPublic:
    """Export the project in a format, as a zip made by a job; then ask for its download link."""
    job = exports.start_export(
        services.db,
        services.jobs,
        actor=actor,
        project_id=project_id,
        format=body.format,
        include_images=body.include_images,
    )
    return JobPublic.model_validate(job)


@router.get(PREFIX + "/jobs")
def list_jobs(
    project_id: int,
    actor: ActorDep,
    services: ServicesDep,
    kind: Annotated[Literal["import", "export", "predictions"] | None, Query()] = None,
    status_: Annotated[JobStatus | None, Query(alias="status")] = None,
    before_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[JobPublic]:
    """The project's jobs, newest first (page with ``before_id``)."""
    rows = service.list_jobs(
        services.db,
        actor=actor,
        project_id=project_id,
        kind=kind,
        status=status_,
        before_id=before_id,
        limit=limit,
    )
    return [JobPublic.model_validate(j) for j in rows]


@router.get(PREFIX + "/jobs/{job_id}")
def get_job(project_id: int, job_id: int, actor: ActorDep, services: ServicesDep) -> JobPublic:
    return JobPublic.model_validate(
        service.get_job(services.db, actor=actor, project_id=project_id, job_id=job_id)
    )


@router.post(PREFIX + "/jobs/{job_id}/cancel")
def cancel_job(project_id: int, job_id: int, actor: ActorDep, services: ServicesDep) -> JobPublic:
    """Cancel a queued job now, or stop a running one (its partial work is rolled back)."""
    job = service.cancel_job(services.db, services.jobs, actor=actor, project_id=project_id, job_id=job_id)
    return JobPublic.model_validate(job)


@router.post(PREFIX + "/jobs/{job_id}/link", tags=["import/export"])
def download_link(
    project_id: int, job_id: int, request: Request, actor: ActorDep, services: ServicesDep
) -> DownloadLink:
    """A link to a finished export's file, for you only, valid for a limited time."""
    token, expires = service.download_link(
        services.db,
        actor=actor,
        project_id=project_id,
        job_id=job_id,
        secret=services.secret,
        minutes=services.settings.download_link_minutes,
    )
    return DownloadLink(url=str(request.url_for("download", token=token)), expires_at=expires)


@router.get(
    "/downloads/{token}",
    name="download",
    tags=["import/export"],
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The export archive"},
        410: {"description": "The link, or the export's file, has expired"},
    },
)
def download(token: str, actor: ActorDep, services: ServicesDep) -> Response:
    """Download an export through its link (with the credentials of the user it was made for)."""
    found = service.resolve_download(services.db, actor=actor, token=token, secret=services.secret)
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.file_name, safe='')}",
        "Cache-Control": "private, no-store",
    }
    path = services.blobs.local_path(found.key)
    if path is not None:
        return FileResponse(path, media_type="application/zip", headers=headers)
    return StreamingResponse(
        services.blobs.iter_chunks(found.key), media_type="application/zip", headers=headers
    )
