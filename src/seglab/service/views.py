"""Plain read models the use cases return: detached from the database session, safe to serialise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from seglab.core.annotation import Annotation
from seglab.core.ontology import Ontology
from seglab.storage.codec import annotation_from_json
from seglab.storage.models import ApiToken, Comment, Image, Project, User


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    display_name: str
    is_admin: bool
    is_active: bool
    created_at: datetime

    @classmethod
    def of(cls, u: User) -> UserView:
        return cls(u.id, u.username, u.display_name, u.is_admin, u.is_active, u.created_at)


@dataclass(frozen=True)
class TokenView:
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None

    @classmethod
    def of(cls, t: ApiToken) -> TokenView:
        return cls(t.id, t.name, t.prefix, t.created_at, t.expires_at)


@dataclass(frozen=True)
class NewToken:
    """A token as created: the only time its secret value is shown."""

    token: TokenView
    value: str


@dataclass(frozen=True)
class ProjectView:
    id: int
    name: str
    description: str
    role: str
    ontology_version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, p: Project, role: str) -> ProjectView:
        return cls(p.id, p.name, p.description, role, p.ontology_version, p.created_at, p.updated_at)


@dataclass(frozen=True)
class MemberView:
    user_id: int
    username: str
    display_name: str
    role: str


@dataclass(frozen=True)
class OntologyView:
    version: int
    ontology: Ontology


@dataclass(frozen=True)
class ImageView:
    id: int
    project_id: int
    file_name: str
    checksum: str
    width: int
    height: int
    media_type: str
    byte_size: int
    status: str
    assignee_id: int | None
    annotation_version: int
    created_at: datetime
    updated_at: datetime
    subset: str | None = None

    @classmethod
    def of(cls, i: Image) -> ImageView:
        return cls(
            i.id,
            i.project_id,
            i.file_name,
            i.checksum,
            i.width,
            i.height,
            i.media_type,
            i.byte_size,
            i.status,
            i.assignee_id,
            i.annotation_version,
            i.created_at,
            i.updated_at,
            i.subset,
        )


@dataclass(frozen=True)
class ImagePage:
    items: list[ImageView]
    total: int
    next_cursor: str | None


@dataclass(frozen=True)
class AnnotationSet:
    """An image's objects at one version (the ETag of the annotations resource).

    Held as the JSON array of their canonical documents, which is what the API sends and what the
    document cache keeps: loading and saving an image of thousands of polygons builds no core objects
    it does not need. ``docs`` and ``annotations`` decode it on request.
    """

    image_id: int
    version: int
    encoded: bytes

    @property
    def docs(self) -> list[dict[str, Any]]:
        return list(orjson.loads(self.encoded))

    @property
    def annotations(self) -> list[Annotation]:
        return [annotation_from_json(d) for d in self.docs]


@dataclass(frozen=True)
class HistoryView:
    version: int
    action: str
    user_id: int | None
    username: str | None
    created_at: datetime
    restored_from: int | None
    changes: list[dict[str, Any]]


@dataclass(frozen=True)
class CommentView:
    id: int
    image_id: int
    author_id: int | None
    text: str
    x: float | None
    y: float | None
    object_id: int | None
    resolved: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Comment) -> CommentView:
        return cls(
            c.id,
            c.image_id,
            c.author_id,
            c.text,
            c.x,
            c.y,
            c.object_id,
            c.resolved,
            c.created_at,
            c.updated_at,
        )


@dataclass(frozen=True)
class FileView:
    """Where an image's bytes are and how to serve them (the type is decided by the server at upload)."""

    storage_key: str
    media_type: str
    file_name: str
    byte_size: int
    checksum: str
