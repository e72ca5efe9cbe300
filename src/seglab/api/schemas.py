"""Pydantic schemas of the REST API (Base / Create / Update / Public), and their conversion to core types.

Request bodies forbid unknown fields and NaN/Infinity. Annotation geometry is in seglab pixel coordinates
(COCO convention: origin at the top-left corner of the top-left pixel, y down), never percentages.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from datetime import datetime
from itertools import chain
from typing import Annotated, Any, Literal, get_type_hints

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    create_model,
    model_validator,
)

from seglab.core.annotation import Annotation, Source
from seglab.core.geometry import all_finite
from seglab.core.ontology import AttributeType, LabelKind, Ontology, ShapeType
from seglab.service.access import ImageStatus, Role
from seglab.service.errors import Invalid
from seglab.service.views import CommentView
from seglab.storage.codec import CodecError, ontology_from_json, polygon_from_checked, shape_from_json

Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(min_length=1, max_length=10_000)]
Point2 = tuple[float, float]
AttributeValue = bool | int | float | str


def _flat_points(value: list[Any], columns: int) -> np.ndarray | None:
    """The points of a JSON list as ``(N, columns)`` float64, or None to leave the list to the general
    parse below (which names what is wrong). numpy reads one flat list of numbers several times faster
    than a list of short lists, and refuses the same things: a point of another width, non-numbers."""
    try:
        if set(map(len, value)) != {columns}:
            return None
        flat = list(chain.from_iterable(value))
        # Finite numbers only: one C-level sum instead of a numpy call per list (an overflow of huge
        # finite numbers also lands in the general parse, which decides exactly).
        if not math.isfinite(sum(flat)):
            return None
    except (TypeError, OverflowError):  # a point that is not a list, a non-number, a huge integer
        return None
    points = np.array(flat)
    if points.ndim != 1 or points.dtype.kind not in "biuf":
        return None
    return points.astype(np.float64, copy=False).reshape(-1, columns)


def parse_points(value: Any, columns: int) -> np.ndarray:
    """``value`` as checked ``(N, columns)`` float64 points; ValueError saying what is wrong."""
    if type(value) is list and value:
        points = _flat_points(value, columns)
        if points is not None:
            return points
    return _general_points(value, columns)


def _general_points(value: Any, columns: int) -> np.ndarray:
    layout = "x, y" if columns == 2 else "x, y, v"
    if not isinstance(value, list | tuple | np.ndarray):
        raise ValueError(f"must be a list of [{layout}] points")
    try:
        points = np.array(value)  # a copy: the points are the model's own (the codec freezes them)
    except ValueError:  # ragged: points of different lengths
        raise ValueError(f"must be a list of points with {columns} numbers each") from None
    if points.size == 0:
        return np.zeros((0, columns))
    if points.dtype.kind not in "biuf":
        raise ValueError(f"must be a list of [{layout}] points (numbers only)")
    if points.ndim != 2 or points.shape[1] != columns:
        raise ValueError(f"must be a list of points with {columns} numbers each")
    points = points.astype(np.float64, copy=False)
    if not all_finite(points):
        raise ValueError("must not contain NaN or infinity")
    return points


def _point_array(columns: int) -> Any:
    """A list of ``columns``-number points, checked and converted by numpy in one call per list.

    A save of thousands of polygons holds hundreds of thousands of numbers: pydantic's per-number check
    (and its dump back to lists) took a third of such a request. numpy does the same checks (numbers
    only, ``columns`` per point, finite) in C, and the array goes on to the codec as it is. In JSON (the
    OpenAPI schema, responses) it is the same list of ``[x, y]`` (or ``[x, y, v]``) as before.
    """
    number = {"type": "number"}
    point = {"type": "array", "prefixItems": [number] * columns, "minItems": columns, "maxItems": columns}
    return Annotated[
        Any,
        PlainValidator(functools.partial(parse_points, columns=columns)),
        PlainSerializer(lambda points: np.asarray(points).tolist(), when_used="json"),
        WithJsonSchema({"type": "array", "items": point}),
    ]


Points2 = _point_array(2)
Points3 = _point_array(3)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def public_model_of(view: type[Any], name: str) -> type[Public]:
    """A response model with exactly the fields of a service's dataclass ``view`` (all required, in order),
    so the JSON shape follows the service instead of being written out twice; ``name`` is the schema's
    name in OpenAPI. Validate a view with ``model_validate(view)``."""
    hints = get_type_hints(view)
    fields: dict[str, Any] = {f.name: (hints[f.name], ...) for f in dataclasses.fields(view)}
    return create_model(name, __base__=Public, __module__=__name__, **fields)


# ------------------------------------------------------------------------------------------- geometry


class BoxGeometry(Strict):
    """``x_min, y_min, x_max, y_max`` in pixels; ``rotation`` in degrees clockwise about the centre."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float
    rotation: float = 0.0


class PolygonPartGeometry(Strict):
    exterior: Points2
    holes: list[Points2] = Field(default_factory=list)


class PolygonGeometry(Strict):
    parts: list[PolygonPartGeometry] = Field(min_length=1)


class PolylineGeometry(Strict):
    points: Points2


class KeypointsGeometry(Strict):
    """``[x, y, v]`` per skeleton point; v: 0 not labeled, 1 occluded, 2 visible."""

    points: Points3


class MaskGeometry(Strict):
    """A COCO RLE: ``size`` is ``[height, width]``; ``counts`` compressed (string) or uncompressed (list)."""

    size: tuple[int, int]
    counts: str | list[int]


GEOMETRY_FIELDS = tuple(k.value for k in ShapeType)
# Plain-dict lookups for enum values (an enum's ``.value`` runs Python code, per object of a big save).
_KIND_NAMES: dict[ShapeType, str] = {k: k.value for k in ShapeType}
_SOURCE_NAMES: dict[Source, str] = {s: s.value for s in Source}
_POLYGON = ShapeType.POLYGON.value


def _geometry_document(geometry: BaseModel) -> Any:
    """A geometry model as the codec's document, point arrays kept as they are (``model_dump`` would
    inspect every array again)."""
    return {
        name: (
            _geometry_document(value)
            if isinstance(value, BaseModel)
            else [_geometry_document(v) if isinstance(v, BaseModel) else v for v in value]
            if isinstance(value, list)
            else value
        )
        for name, value in geometry.__dict__.items()
    }


# ----------------------------------------------------------------------------------------- annotations


class AnnotationBase(Strict):
    label: Name
    kind: ShapeType
    box: BoxGeometry | None = None
    polygon: PolygonGeometry | None = None
    polyline: PolylineGeometry | None = None
    keypoints: KeypointsGeometry | None = None
    mask: MaskGeometry | None = None
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)
    source: Source = Source.HUMAN
    score: float | None = None
    uncertainty: float | None = Field(default=None, ge=0.0, le=1.0)
    z_order: int = 0
    group_id: int | None = None
    track_id: int | None = None
    crowd: bool = False
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_geometry(self) -> AnnotationBase:
        fields = self.__dict__
        present = [k for k in GEOMETRY_FIELDS if fields[k] is not None]
        if present != [_KIND_NAMES[self.kind]]:
            raise ValueError(
                f"give exactly the {self.kind.value} geometry (got: {', '.join(present) or 'none'})"
            )
        return self

    def document(self, object_id: int) -> dict[str, Any]:
        """The annotation document (the codec's layout) as the schema normalises it (e.g. a score of 0 as
        0.0): the reference :meth:`core` is tested against."""
        kind = _KIND_NAMES[self.kind]
        return {
            "id": object_id,
            "label": self.label,
            "kind": kind,
            kind: _geometry_document(getattr(self, kind)),
            "attributes": dict(self.attributes),
            "source": _SOURCE_NAMES[self.source],
            "score": self.score,
            "uncertainty": self.uncertainty,
            "z_order": self.z_order,
            "group_id": self.group_id,
            "track_id": self.track_id,
            "crowd": self.crowd,
            "extra": dict(self.extra),
        }

    def to_core(self, object_id: int, where: str) -> Annotation:
        try:
            return self.core(object_id, where)
        except CodecError as exc:
            raise Invalid(str(exc)) from None

    def core(self, object_id: int, what: str) -> Annotation:
        """The core annotation of this validated model; CodecError (naming ``what``) for a geometry the
        schema cannot judge (mask runs). Polygon rings go to the codec as the checked arrays they are
        (:func:`parse_points` did the codec's checks), so they are not checked twice; the model gives
        them up."""
        kind = _KIND_NAMES[self.kind]
        geometry = getattr(self, kind)
        if kind == _POLYGON:
            shape = polygon_from_checked((part.exterior, part.holes) for part in geometry.parts)
        else:
            shape = shape_from_json(kind, _geometry_document(geometry), what=what)
        return Annotation(
            id=object_id,
            label=self.label,
            shape=shape,
            attributes=dict(self.attributes),
            source=self.source,
            score=self.score,
            uncertainty=self.uncertainty,
            track_id=self.track_id,
            group_id=self.group_id,
            z_order=self.z_order,
            crowd=self.crowd,
            extra=dict(self.extra),
        )


class AnnotationCreate(AnnotationBase):
    """An object to store; in a whole-image save, leave ``id`` out (or <= 0) for new objects."""

    id: int | None = None


class AnnotationUpdate(Strict):
    """Fields to change on one object; changing ``kind`` needs the geometry of the new kind."""

    label: Name | None = None
    kind: ShapeType | None = None
    box: BoxGeometry | None = None
    polygon: PolygonGeometry | None = None
    polyline: PolylineGeometry | None = None
    keypoints: KeypointsGeometry | None = None
    mask: MaskGeometry | None = None
    attributes: dict[str, AttributeValue] | None = None
    source: Source | None = None
    score: float | None = None
    uncertainty: float | None = Field(default=None, ge=0.0, le=1.0)
    z_order: int | None = None
    group_id: int | None = None
    track_id: int | None = None
    crowd: bool | None = None
    extra: dict[str, Any] | None = None


class AnnotationPublic(AnnotationBase):
    id: int


class AnnotationSetPublic(BaseModel):
    image_id: int
    version: int
    annotations: list[AnnotationPublic]


class ObjectPublic(BaseModel):
    """One object after a per-object write, with the image's new annotation version."""

    version: int
    annotation: AnnotationPublic


class VersionPublic(BaseModel):
    version: int


class HistoryChange(BaseModel):
    op: Literal["create", "update", "delete"]
    id: int


class HistoryPublic(Public):
    version: int
    action: str
    user_id: int | None
    username: str | None
    created_at: datetime
    restored_from: int | None
    changes: list[HistoryChange]


# -------------------------------------------------------------------------------------------- ontology


class AttributeSchema(Strict):
    name: Name
    type: AttributeType = AttributeType.TEXT
    choices: list[Annotated[str, Field(max_length=200)]] = []
    default: AttributeValue | None = None
    minimum: float | None = None
    maximum: float | None = None


class SkeletonSchema(Strict):
    points: list[Name]
    edges: list[tuple[int, int]] = []
    sigmas: list[float] | None = None
    flip_index: list[int] | None = None


class LabelClassSchema(Strict):
    name: Name
    color: tuple[
        Annotated[int, Field(ge=0, le=255)],
        Annotated[int, Field(ge=0, le=255)],
        Annotated[int, Field(ge=0, le=255)],
    ] = (0, 0, 0)
    kind: LabelKind = LabelKind.THING
    shapes: list[ShapeType] = []
    attributes: list[AttributeSchema] = []
    skeleton: SkeletonSchema | None = None
    id: int | None = None
    parent: str | None = None
    extra: dict[str, Any] = {}


class OntologySchema(Strict):
    classes: list[LabelClassSchema] = Field(default=[], max_length=10_000)
    tags: list[Name] = []
    image_attributes: list[AttributeSchema] = []
    full_coverage: bool = False

    def to_core(self) -> Ontology:
        try:
            return ontology_from_json(self.model_dump(mode="json"))
        except (ValueError, KeyError) as exc:
            raise Invalid(f"the ontology is not consistent: {exc}") from None


class OntologyPublic(BaseModel):
    version: int
    ontology: OntologySchema


class OntologyUpdate(Strict):
    """The new ontology; ``renames`` maps old class names to new ones (their objects are relabeled)."""

    ontology: OntologySchema
    renames: dict[str, Name] = {}


# ------------------------------------------------------------------------------------ users and tokens


class LoginRequest(Strict):
    username: Annotated[str, Field(max_length=150)]
    password: Annotated[str, Field(max_length=1024)]


class UserCreate(Strict):
    username: Annotated[str, Field(min_length=1, max_length=150)]
    password: Annotated[str, Field(min_length=8, max_length=1024)]
    display_name: Annotated[str, Field(max_length=200)] = ""
    is_admin: bool = False


class UserUpdate(Strict):
    display_name: Annotated[str, Field(max_length=200)] | None = None
    password: Annotated[str, Field(min_length=8, max_length=1024)] | None = None
    is_admin: bool | None = None
    is_active: bool | None = None


class UserPublic(Public):
    id: int
    username: str
    display_name: str
    is_admin: bool
    is_active: bool
    created_at: datetime


class SessionPublic(BaseModel):
    """The logged-in user and the CSRF token to send as ``X-CSRF-Token`` with every cookie-authenticated
    write (absent when authenticated by an API token)."""

    user: UserPublic
    csrf_token: str | None


class PasswordChange(Strict):
    current_password: Annotated[str, Field(max_length=1024)]
    new_password: Annotated[str, Field(min_length=8, max_length=1024)]


class TokenCreate(Strict):
    name: Name
    expires_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class TokenPublic(Public):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None


class TokenCreated(BaseModel):
    """The token's secret ``value`` appears here once; only its hash is kept."""

    token: TokenPublic
    value: str


# ------------------------------------------------------------------------------------ projects, members


class ProjectCreate(Strict):
    name: Name
    description: Annotated[str, Field(max_length=10_000)] = ""
    ontology: OntologySchema | None = None


class ProjectUpdate(Strict):
    name: Name | None = None
    description: Annotated[str, Field(max_length=10_000)] | None = None


class ProjectPublic(Public):
    id: int
    name: str
    description: str
    role: Role
    ontology_version: int
    created_at: datetime
    updated_at: datetime


class MemberCreate(Strict):
    """Add a user (by id or user name) with a role, or change the role of a member."""

    user_id: int | None = None
    username: str | None = None
    role: Role


class MemberUpdate(Strict):
    role: Role


class MemberPublic(Public):
    user_id: int
    username: str
    display_name: str
    role: Role


# ------------------------------------------------------------------------------------ images, comments


class ImagePublic(Public):
    id: int
    project_id: int
    file_name: str
    checksum: str
    width: int
    height: int
    media_type: str
    byte_size: int
    status: ImageStatus
    assignee_id: int | None
    annotation_version: int
    created_at: datetime
    updated_at: datetime
    subset: str | None = None


class ImagePagePublic(Public):
    items: list[ImagePublic]
    total: int
    next_cursor: str | None


class ImageUpdate(Strict):
    """Assign the image to a member who annotates (null frees it)."""

    assignee_id: int | None


class StatusChange(Strict):
    """A review step; ``reject`` needs a ``comment``, optionally pinned at ``x, y``."""

    action: Literal["submit", "approve", "reject", "reopen"]
    comment: Annotated[str, Field(max_length=10_000)] | None = None
    x: float | None = None
    y: float | None = None


class QueuePublic(BaseModel):
    image: ImagePublic | None
    remaining: int


class CommentCreate(Strict):
    text: Text
    x: float | None = None
    y: float | None = None
    object_id: int | None = None


class CommentUpdate(Strict):
    text: Text | None = None
    resolved: bool | None = None


CommentPublic = public_model_of(CommentView, "CommentPublic")  # a comment as the service returns it


# ------------------------------------------------------------------------------- jobs, import, export


class JobPublic(Public):
    """A background job. ``progress`` is in [0, 1]; ``result`` holds counts, a per-object ``problems``
    report, or an export's file name, size and SHA-256."""

    id: int
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    project_id: int | None
    created_by: int | None
    params: dict[str, Any]
    progress: float
    message: str
    result: dict[str, Any] | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class FolderImport(Strict):
    """A folder on the server, inside the admin's import roots (``SEGLAB_IMPORT_ROOTS``)."""

    path: Annotated[str, Field(min_length=1, max_length=4096)]
    format: Annotated[str, Field(max_length=50)] | None = None
    skip_invalid: bool = False


class ExportCreate(Strict):
    format: Annotated[str, Field(min_length=1, max_length=50)]
    include_images: bool = True


class DownloadLink(BaseModel):
    """Fetch ``url`` (with your credentials) before ``expires_at``."""

    url: str
    expires_at: datetime


class FormatPublic(BaseModel):
    name: str
    description: str
    carries: list[ShapeType]
    extensions: list[str]


# ------------------------------------------------------------------------------------------ predictions


class PredictionPublic(Public):
    id: int
    image_id: int
    model: str
    label: str
    kind: ShapeType
    geometry: dict[str, Any]
    attributes: dict[str, Any]
    score: float | None
    uncertainty: float | None
    status: Literal["pending", "accepted", "rejected"]
    object_id: int | None
    created_at: datetime
    decided_by: int | None
    decided_at: datetime | None


class PredictionSelection(Strict):
    """Which pending predictions of the image: by ``ids``, and/or all of a ``model``, and/or by score
    (``min_score`` when accepting: at least this; ``max_score`` when rejecting: below this)."""

    ids: Annotated[list[int], Field(max_length=10_000)] | None = None
    model: Annotated[str, Field(max_length=200)] | None = None
    min_score: float | None = None
    max_score: float | None = None


class AcceptedPair(BaseModel):
    prediction_id: int
    object_id: int


class AcceptPublic(BaseModel):
    """The image's new annotation version (also the ETag) and the objects the predictions became."""

    version: int
    accepted: list[AcceptedPair]


class RejectPublic(BaseModel):
    rejected: list[int]


class Health(BaseModel):
    status: Literal["ok"]
    version: str
