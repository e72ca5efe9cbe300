"""Schemas of the interactive segmentation route (``POST .../images/{image_id}/assist``).

Kept apart from :mod:`seglab.api.schemas` because they describe a computation, not a stored resource.
Every coordinate is in seglab pixel coordinates (COCO convention: origin at the top-left corner of the
top-left pixel, y down); masks are COCO RLE with ``size`` = ``[height, width]``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from seglab.api.schemas import MaskGeometry, Point2, PolygonGeometry, Strict

AssistMethod = Literal["auto", "combined", "grabcut", "superpixels", "wand", "sam"]
MAX_CLICKS = 1000
MAX_SCRIBBLES = 100
MAX_STROKE_POINTS = 20_000
MAX_EXCLUSIONS = 5000


class AssistBox(Strict):
    """An axis-aligned box ``x_min, y_min, x_max, y_max`` in pixels."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float

    @model_validator(mode="after")
    def _ordered(self) -> AssistBox:
        if not (self.x_min < self.x_max and self.y_min < self.y_max):
            raise ValueError("box needs x_min < x_max and y_min < y_max")
        return self


class AssistScribble(Strict):
    """A stroke: the points along it, marking the object (``positive``) or the background."""

    points: Annotated[list[Point2], Field(min_length=1, max_length=MAX_STROKE_POINTS)]
    positive: bool = True


class AssistExclusion(Strict):
    """An existing segment the answer must not overlap: exactly one of ``polygon`` or ``mask``."""

    polygon: PolygonGeometry | None = None
    mask: MaskGeometry | None = None

    @model_validator(mode="after")
    def _one(self) -> AssistExclusion:
        if (self.polygon is None) == (self.mask is None):
            raise ValueError("give exactly one of polygon or mask")
        return self

    def geometry(self) -> tuple[str, dict[str, Any]]:
        """``(kind, geometry document)`` for the service."""
        if self.polygon is not None:
            return "polygon", self.polygon.model_dump()
        assert self.mask is not None  # the validator allows nothing else
        return "mask", self.mask.model_dump()


class AssistRequest(Strict):
    """The prompts of one round. Send ``previous`` (the last answer's mask) so a corrective click refines
    that answer instead of starting over."""

    positives: list[Point2] = Field(default_factory=list, max_length=MAX_CLICKS)
    negatives: list[Point2] = Field(default_factory=list, max_length=MAX_CLICKS)
    scribbles: list[AssistScribble] = Field(default_factory=list, max_length=MAX_SCRIBBLES)
    box: AssistBox | None = None
    previous: MaskGeometry | None = None
    method: AssistMethod = Field(
        default="auto",
        description="auto (the configured SAM model, else superpixels + graph cut + GrabCut), combined, "
        "grabcut, superpixels, wand (flood fill), sam (needs SEGLAB_SAM_ENCODER / SEGLAB_SAM_DECODER)",
    )
    tolerance: float = Field(
        default=1.0,
        ge=0.0,
        le=100.0,
        description="polygon simplification in pixels; 0 keeps the exact pixel outline of the mask",
    )
    wand_tolerance: float | None = Field(
        default=None, ge=0.0, le=255.0, description="the wand's colour tolerance per RGB channel"
    )
    exclude: list[AssistExclusion] = Field(
        default_factory=list,
        max_length=MAX_EXCLUSIONS,
        description="segments already on the image: their pixels are removed from the answer (panoptic "
        "labeling, where segments must not overlap)",
    )


class AssistResult(BaseModel):
    """The answer: the mask, its outline as a polygon (null when empty) and its bounding box."""

    mask: MaskGeometry
    polygon: PolygonGeometry | None
    bbox: AssistBox | None
    area: int
    method: str = Field(description="the method that answered (auto resolved)")
    seconds: float = Field(description="server time spent segmenting, image decode included")


class AssistInfo(BaseModel):
    """What the assist route offers on this server."""

    methods: list[str]
    default_method: str
    sam_configured: bool
