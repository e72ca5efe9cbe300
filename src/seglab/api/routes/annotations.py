"""An image's annotations: versioned reads (ETag) and writes (If-Match), per-object edits, history.

Responses are built straight from the canonical documents (no second validation pass), which keeps
loading and saving images with thousands of polygons cheap; the response models document their shape.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from seglab.api.deps import ActorDep, FastJSONRoute, IfMatchDep, ServicesDep, etag
from seglab.api.schemas import (
    AnnotationCreate,
    AnnotationSetPublic,
    AnnotationUpdate,
    HistoryPublic,
    ObjectPublic,
    VersionPublic,
)
from seglab.core.annotation import Annotation
from seglab.core.runtime import gc_paused
from seglab.service import annotations as service
from seglab.service.annotations import MAX_OBJECTS
from seglab.service.errors import Invalid
from seglab.service.views import AnnotationSet
from seglab.storage.db import Database
from seglab.storage.repositories import to_doc

router = APIRouter(tags=["annotations"], route_class=FastJSONRoute)
PREFIX = "/projects/{project_id}/images/{image_id}"


def _json(content: Any, version: int, status_code: int = 200) -> Response:
    # orjson: several times faster than json for documents of thousands of polygons; the documents hold
    # only finite numbers (the codec refuses NaN and infinity), so nothing is lost in its encoding.
    return Response(
        orjson.dumps(content),
        status_code=status_code,
        media_type="application/json",
        headers={"ETag": etag(version)},
    )


def _set_json(result: AnnotationSet, status_code: int = 200) -> Response:
    """The annotation set as JSON, its documents spliced in as they are encoded (no second encoding)."""
    body = b'{"image_id":%d,"version":%d,"annotations":%b}' % (
        result.image_id,
        result.version,
        result.encoded,
    )
    return Response(
        body, status_code=status_code, media_type="application/json", headers={"ETag": etag(result.version)}
    )


@router.get(PREFIX + "/annotations", response_model=AnnotationSetPublic)
def get_annotations(project_id: int, image_id: int, actor: ActorDep, services: ServicesDep) -> Response:
    """The image's objects; the ETag (= ``version``) goes back as If-Match when saving."""
    result = service.get_annotations(services.db, actor=actor, project_id=project_id, image_id=image_id)
    return _set_json(result)


# The body of a whole-image save, documented here and read by hand (see save_annotations).
SET_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "title": "AnnotationSetUpdate",
                    "type": "object",
                    "properties": {
                        "annotations": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/AnnotationCreate"},
                            "maxItems": MAX_OBJECTS,
                        }
                    },
                    "required": ["annotations"],
                    "additionalProperties": False,
                }
            }
        },
    }
}


def _documents(body: bytes) -> list[dict[str, Any]]:
    """The objects of a whole-image save, checked only as far as the service needs (see below)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Invalid(
            f"the body is not JSON ({exc.msg} at {exc.pos}); NaN and Infinity are not allowed"
        ) from None
    if (
        not isinstance(data, dict)
        or set(data) != {"annotations"}
        or not isinstance(data["annotations"], list)
    ):
        raise Invalid('send {"annotations": [...]}, the whole set of objects')
    items = data["annotations"]
    if len(items) > MAX_OBJECTS:
        raise Invalid(f"at most {MAX_OBJECTS} objects per image")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise Invalid(f"object at index {index} is not a JSON object")
        object_id = item.get("id")
        if object_id is not None and (isinstance(object_id, bool) or not isinstance(object_id, int)):
            raise Invalid(f"object at index {index}: id must be an integer")
    return items


def _parse(document: Mapping[str, Any], name: str, object_id: int) -> Annotation:
    """Full schema validation of one new or changed object (the service skips unchanged ones), and its
    core annotation straight from the model (CodecError for what only the codec judges)."""
    try:
        model = AnnotationCreate.model_validate(document)
    except ValidationError as exc:
        problems = [
            f"{name}: {'.'.join(str(p) for p in e['loc']) or 'object'}: {e['msg']}" for e in exc.errors()[:20]
        ]
        raise Invalid(problems[0], problems=problems) from None
    return model.core(object_id, f"object {object_id}")


@router.put(
    PREFIX + "/annotations",
    response_model=AnnotationSetPublic,
    openapi_extra=SET_BODY,
    responses={
        412: {"description": "Stale If-Match; the body's `current` is the server copy"},
        428: {"description": "If-Match missing"},
    },
)
async def save_annotations(
    project_id: int,
    image_id: int,
    request: Request,
    actor: ActorDep,
    services: ServicesDep,
    version: IfMatchDep,
) -> Response:
    """Save the whole set of objects (new objects without ids). Needs If-Match.

    Objects sent back unchanged are recognised by comparison and not validated again, so saving an
    image of thousands of objects costs what its changes cost; new and changed objects are validated
    against the schema (``AnnotationCreate``), the ontology and the image.
    """
    body = await request.body()
    result = await run_in_threadpool(
        functools.partial(
            _save_body,
            body,
            services.db,
            actor=actor,
            project_id=project_id,
            image_id=image_id,
            expected_version=version,
        )
    )
    return _set_json(result)


def _save_body(body: bytes, db: Database, **save: Any) -> AnnotationSet:
    """Parse and save a whole-image body, in a worker thread (the parse of thousands of polygons would
    hold up the event loop) with the cycle collector paused: the request builds hundreds of thousands
    of small lists and dicts, none in a cycle, all freed by reference counting before the pause ends."""
    with gc_paused():
        return service.save_documents(db, documents=_documents(body), parse=_parse, **save)


@router.post(PREFIX + "/annotations", response_model=ObjectPublic, status_code=status.HTTP_201_CREATED)
def create_object(
    project_id: int,
    image_id: int,
    body: AnnotationCreate,
    actor: ActorDep,
    services: ServicesDep,
    version: IfMatchDep,
) -> Response:
    """Add one object (its id is assigned by the server). Needs If-Match."""
    new_version, obj = service.create_object(
        services.db,
        actor=actor,
        project_id=project_id,
        image_id=image_id,
        annotation=body.to_core(0, "the new object"),
        expected_version=version,
    )
    return _json({"version": new_version, "annotation": to_doc(obj)}, new_version, status.HTTP_201_CREATED)


@router.patch(PREFIX + "/annotations/{object_id}", response_model=ObjectPublic)
def update_object(
    project_id: int,
    image_id: int,
    object_id: int,
    body: AnnotationUpdate,
    actor: ActorDep,
    services: ServicesDep,
    version: IfMatchDep,
) -> Response:
    """Change some fields of one object. Needs If-Match."""
    patch = body.model_dump(exclude_unset=True, mode="json")
    new_version, obj = service.update_object(
        services.db,
        actor=actor,
        project_id=project_id,
        image_id=image_id,
        object_id=object_id,
        patch=patch,
        expected_version=version,
    )
    return _json({"version": new_version, "annotation": to_doc(obj)}, new_version)


@router.delete(PREFIX + "/annotations/{object_id}", response_model=VersionPublic)
def delete_object(
    project_id: int,
    image_id: int,
    object_id: int,
    actor: ActorDep,
    services: ServicesDep,
    version: IfMatchDep,
) -> Response:
    """Remove one object. Needs If-Match; returns the new version."""
    new_version = service.delete_object(
        services.db,
        actor=actor,
        project_id=project_id,
        image_id=image_id,
        object_id=object_id,
        expected_version=version,
    )
    return _json({"version": new_version}, new_version)


@router.get(PREFIX + "/history")
def list_history(
    project_id: int,
    image_id: int,
    actor: ActorDep,
    services: ServicesDep,
    before_version: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[HistoryPublic]:
    """Who changed what and when, newest first (page with ``before_version``)."""
    rows = service.list_history(
        services.db,
        actor=actor,
        project_id=project_id,
        image_id=image_id,
        before_version=before_version,
        limit=limit,
    )
    return [HistoryPublic.model_validate(h) for h in rows]


@router.get(PREFIX + "/history/{version}", response_model=AnnotationSetPublic)
def get_version(
    project_id: int, image_id: int, version: int, actor: ActorDep, services: ServicesDep
) -> Response:
    """The objects as they were at ``version``."""
    result = service.get_version(
        services.db, actor=actor, project_id=project_id, image_id=image_id, version=version
    )
    response = _set_json(result)
    del response.headers["ETag"]  # a past version: not something to send back as If-Match
    return response


@router.post(PREFIX + "/history/{version}/restore", response_model=AnnotationSetPublic)
def restore_version(
    project_id: int,
    image_id: int,
    version: int,
    actor: ActorDep,
    services: ServicesDep,
    current: IfMatchDep,
) -> Response:
    """Make ``version`` current again, as a new version. Needs If-Match with the current version."""
    result = service.restore_version(
        services.db,
        actor=actor,
        project_id=project_id,
        image_id=image_id,
        version=version,
        expected_version=current,
    )
    return _set_json(result)
