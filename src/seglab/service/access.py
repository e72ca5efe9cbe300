"""Who may do what: roles, the acting user, and the one place where every permission is checked.

Every use case that takes an object id resolves it here, scoped by project: a project the user is not a
member of, or an image, object or comment of another project, is :class:`NotFound` exactly like an id that
does not exist, so ids of other projects leak nothing. Only a member whose role is too low for the action
gets :class:`Forbidden`. Site admins act as owners of every project.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from seglab.service.errors import Conflict, Forbidden, NotFound
from seglab.storage.models import Comment, Image, Job, Member, Prediction, Project


class Role(StrEnum):
    """Project roles, from least to most trusted."""

    VIEWER = "viewer"  # read everything
    ANNOTATOR = "annotator"  # label images assigned to them (or unassigned ones), submit, comment
    REVIEWER = "reviewer"  # approve, reject and reopen; edit in any status
    MANAGER = "manager"  # ontology, members, images, assignments, project settings
    OWNER = "owner"  # delete the project, make owners

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_RANK = {Role.VIEWER: 0, Role.ANNOTATOR: 1, Role.REVIEWER: 2, Role.MANAGER: 3, Role.OWNER: 4}


class ImageStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Actor:
    """The authenticated user a request acts for."""

    user_id: int
    username: str
    is_admin: bool = False


@dataclass(frozen=True)
class Scope:
    """A resolved project (and image) with the actor's role in it."""

    project: Project
    role: Role
    image: Image | None = None

    @property
    def the_image(self) -> Image:
        if self.image is None:
            raise RuntimeError("scope has no image")
        return self.image


def project_role(session: Session, actor: Actor, project_id: int) -> Role | None:
    if actor.is_admin:
        return Role.OWNER
    role = session.scalar(
        select(Member.role).where(Member.project_id == project_id, Member.user_id == actor.user_id)
    )
    return None if role is None else Role(role)


def require_project(session: Session, actor: Actor, project_id: int, need: Role) -> Scope:
    """The project with the actor's role; NotFound for non-members, Forbidden when the role is too low."""
    project = session.get(Project, project_id)
    role = None if project is None else project_role(session, actor, project_id)
    if project is None or role is None:
        raise NotFound(f"project {project_id} not found")
    if not role.at_least(need):
        raise Forbidden(f"this needs the {need.value} role in project {project.name!r}; you are {role.value}")
    return Scope(project, role)


# The image, its project and the actor's membership in one statement, built once: on the hot paths
# (every load and save) this replaces three statements (and building them) with one.
_IMAGE_SCOPE = (
    select(Image, Project, Member.role)
    .join(Project, Project.id == Image.project_id)
    .outerjoin(Member, and_(Member.project_id == Project.id, Member.user_id == bindparam("scope_user")))
    .where(Image.id == bindparam("scope_image"), Image.project_id == bindparam("scope_project"))
)


def require_image(session: Session, actor: Actor, project_id: int, image_id: int, need: Role) -> Scope:
    """The image, looked up inside the project only, with the actor's role checked first."""
    row = session.execute(
        _IMAGE_SCOPE, {"scope_user": actor.user_id, "scope_image": image_id, "scope_project": project_id}
    ).first()
    if row is not None:
        image, project, member_role = row
        role = Role.OWNER if actor.is_admin else None if member_role is None else Role(member_role)
        if role is not None and role.at_least(need):
            return Scope(project, role, image)
    # Refused: the checks one by one, so that the error says the same as for any other object.
    scope = require_project(session, actor, project_id, need)
    image = session.scalar(select(Image).where(Image.id == image_id, Image.project_id == project_id))
    if image is None:
        raise NotFound(f"image {image_id} not found in project {project_id}")
    return Scope(scope.project, scope.role, image)


def require_comment(
    session: Session, actor: Actor, project_id: int, image_id: int, comment_id: int, need: Role
) -> tuple[Scope, Comment]:
    scope = require_image(session, actor, project_id, image_id, need)
    comment = session.scalar(
        select(Comment).where(
            Comment.id == comment_id, Comment.image_id == image_id, Comment.project_id == project_id
        )
    )
    if comment is None:
        raise NotFound(f"comment {comment_id} not found on image {image_id}")
    return scope, comment


def require_job(
    session: Session, actor: Actor, project_id: int, job_id: int, need: Role
) -> tuple[Scope, Job]:
    """A job of the project. Viewers see every job of their project; acting on one needs ``need``."""
    scope = require_project(session, actor, project_id, need)
    job = session.scalar(select(Job).where(Job.id == job_id, Job.project_id == project_id))
    if job is None:
        raise NotFound(f"job {job_id} not found in project {project_id}")
    return scope, job


def require_prediction(
    session: Session, actor: Actor, project_id: int, image_id: int, prediction_id: int, need: Role
) -> tuple[Scope, Prediction]:
    scope = require_image(session, actor, project_id, image_id, need)
    prediction = session.scalar(
        select(Prediction).where(
            Prediction.id == prediction_id,
            Prediction.image_id == image_id,
            Prediction.project_id == project_id,
        )
    )
    if prediction is None:
        raise NotFound(f"prediction {prediction_id} not found on image {image_id}")
    return scope, prediction


def require_editable(scope: Scope, actor: Actor) -> None:
    """May the actor change this image's annotations now?

    Reviewers and above may always. Annotators may while the image is not under review or approved, and
    only when it is unassigned or assigned to them.
    """
    image = scope.the_image
    if scope.role.at_least(Role.REVIEWER):
        return
    if image.status in (ImageStatus.SUBMITTED, ImageStatus.APPROVED):
        raise Conflict(
            f"image {image.id} is {image.status}; a reviewer must reject or reopen it before it is edited"
        )
    if image.assignee_id is not None and image.assignee_id != actor.user_id:
        raise Forbidden(f"image {image.id} is assigned to another annotator")
