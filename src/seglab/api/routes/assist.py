"""Interactive segmentation: clicks, strokes and a box on an image to a mask and a polygon."""

from __future__ import annotations

from fastapi import APIRouter

from seglab.api.assist_schemas import AssistInfo, AssistRequest, AssistResult
from seglab.api.deps import ActorDep, FastJSONRoute, ServicesDep
from seglab.service import assist as service

router = APIRouter(tags=["assist"], route_class=FastJSONRoute)


@router.get("/projects/{project_id}/assist")
def assist_info(project_id: int, actor: ActorDep, services: ServicesDep) -> AssistInfo:
    """The segmentation methods this server offers (annotators and above)."""
    return AssistInfo(**service.describe(services.db, actor=actor, project_id=project_id))


@router.post("/projects/{project_id}/images/{image_id}/assist")
def assist(
    project_id: int, image_id: int, body: AssistRequest, actor: ActorDep, services: ServicesDep
) -> AssistResult:
    """One round of interactive segmentation (annotators and above); nothing is stored.

    Positive clicks and strokes mark the object, negative ones the background, ``box`` bounds it, and
    ``previous`` (the last answer's mask) makes corrective clicks refine it. Per-image work is cached on
    the server, so the rounds after the first answer faster. ``exclude`` lists segments already on the
    image whose pixels the answer must leave out (panoptic labeling). Points must lie inside the image;
    a problem with the prompts is a 422 that names the field.
    """
    answer = service.run_assist(
        services.db,
        services.blobs,
        actor=actor,
        project_id=project_id,
        image_id=image_id,
        positives=body.positives,
        negatives=body.negatives,
        scribbles=[service.Scribble(s.points, s.positive) for s in body.scribbles],
        box=None if body.box is None else (body.box.x_min, body.box.y_min, body.box.x_max, body.box.y_max),
        previous=None if body.previous is None else body.previous.model_dump(),
        method=body.method,
        tolerance=body.tolerance,
        wand_tolerance=body.wand_tolerance,
        exclude=[e.geometry() for e in body.exclude],
    )
    return AssistResult.model_validate(answer, from_attributes=True)
