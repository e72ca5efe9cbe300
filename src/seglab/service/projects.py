"""Projects, their members and roles, and the project ontology with its migration rules.

The ontology is versioned like annotations (If-Match on its version). A class that objects still use
cannot disappear: removing it, or narrowing its allowed shapes below what objects have, is a Conflict that
gives the counts. Renaming is explicit (``renames={"old": "new"}``) and relabels the objects, with a
history row on every image it touches.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seglab.core.ontology import Ontology, ShapeType
from seglab.service.access import Actor, Role, require_project
from seglab.service.errors import Conflict, Forbidden, Invalid, NotFound, PreconditionFailed
from seglab.service.validation import MAX_NAME, ontology_problems
from seglab.service.views import MemberView, OntologyView, ProjectView
from seglab.storage import repositories as repo
from seglab.storage.codec import ontology_to_json
from seglab.storage.db import Database
from seglab.storage.models import Image, Member, Project, User, utcnow

MAX_PAGE = 500


def _check_name(name: str) -> None:
    if not name.strip() or len(name) > MAX_NAME:
        raise Invalid(f"a project name needs 1 to {MAX_NAME} characters")


def _check_ontology(ontology: Ontology) -> None:
    problems = ontology_problems(ontology)
    if problems:
        raise Invalid(f"the ontology has {len(problems)} problem(s): {problems[0]}", problems=problems)


# ---------------------------------------------------------------------------------------------- projects


def create_project(
    db: Database, *, actor: Actor, name: str, description: str = "", ontology: Ontology | None = None
) -> ProjectView:
    """A new project; its creator becomes its owner."""
    _check_name(name)
    ontology = ontology or Ontology()
    _check_ontology(ontology)

    def _create(s: Session) -> ProjectView:
        if s.scalar(select(Project.id).where(Project.name == name)) is not None:
            raise Conflict(f"a project named {name!r} exists")
        now = utcnow()
        project = Project(
            name=name,
            description=description,
            ontology=ontology_to_json(ontology),
            ontology_version=1,
            created_by=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        s.add(project)
        s.flush()
        s.add(Member(project_id=project.id, user_id=actor.user_id, role=Role.OWNER.value, created_at=now))
        return ProjectView.of(project, Role.OWNER.value)

    try:
        return db.write(_create)
    except IntegrityError:
        raise Conflict(f"a project named {name!r} exists") from None


def list_projects(db: Database, *, actor: Actor, limit: int = 100, offset: int = 0) -> list[ProjectView]:
    """The projects the actor is a member of (every project for admins), by id."""
    limit = max(1, min(limit, MAX_PAGE))

    def _list(s: Session) -> list[ProjectView]:
        if actor.is_admin:
            rows = s.execute(
                select(Project, Member.role)
                .outerjoin(Member, (Member.project_id == Project.id) & (Member.user_id == actor.user_id))
                .order_by(Project.id)
                .limit(limit)
                .offset(offset)
            )
            return [ProjectView.of(p, Role.OWNER.value) for p, _ in rows]
        rows = s.execute(
            select(Project, Member.role)
            .join(Member, Member.project_id == Project.id)
            .where(Member.user_id == actor.user_id)
            .order_by(Project.id)
            .limit(limit)
            .offset(offset)
        )
        return [ProjectView.of(p, role) for p, role in rows]

    return db.read(_list)


def get_project(db: Database, *, actor: Actor, project_id: int) -> ProjectView:
    def _get(s: Session) -> ProjectView:
        scope = require_project(s, actor, project_id, Role.VIEWER)
        return ProjectView.of(scope.project, scope.role.value)

    return db.read(_get)


def update_project(
    db: Database, *, actor: Actor, project_id: int, name: str | None = None, description: str | None = None
) -> ProjectView:
    if name is not None:
        _check_name(name)

    def _update(s: Session) -> ProjectView:
        scope = require_project(s, actor, project_id, Role.MANAGER)
        project = scope.project
        if name is not None and name != project.name:
            if s.scalar(select(Project.id).where(Project.name == name)) is not None:
                raise Conflict(f"a project named {name!r} exists")
            project.name = name
        if description is not None:
            project.description = description
        project.updated_at = utcnow()
        s.flush()
        return ProjectView.of(project, scope.role.value)

    try:
        return db.write(_update)
    except IntegrityError:
        raise Conflict(f"a project named {name!r} exists") from None


def delete_project(db: Database, *, actor: Actor, project_id: int) -> None:
    """Delete a project with its images' records, annotations, history and comments (owners only)."""

    def _delete(s: Session) -> None:
        scope = require_project(s, actor, project_id, Role.OWNER)
        s.delete(scope.project)

    db.write(_delete)


# ----------------------------------------------------------------------------------------------- members


def list_members(
    db: Database, *, actor: Actor, project_id: int, limit: int = 100, offset: int = 0
) -> list[MemberView]:
    limit = max(1, min(limit, MAX_PAGE))

    def _list(s: Session) -> list[MemberView]:
        require_project(s, actor, project_id, Role.VIEWER)
        rows = s.execute(
            select(Member.user_id, User.username, User.display_name, Member.role)
            .join(User, User.id == Member.user_id)
            .where(Member.project_id == project_id)
            .order_by(Member.user_id)
            .limit(limit)
            .offset(offset)
        )
        return [MemberView(*row) for row in rows]

    return db.read(_list)


def _may_grant(actor_role: Role, role: Role) -> bool:
    """Owners grant any role; managers grant roles below their own."""
    return actor_role is Role.OWNER or role.rank < actor_role.rank


def _owner_count(s: Session, project_id: int) -> int:
    return (
        s.scalar(select(func.count()).where(Member.project_id == project_id, Member.role == Role.OWNER.value))
        or 0
    )


def set_member(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    role: Role,
    user_id: int | None = None,
    username: str | None = None,
    existing_only: bool = False,
) -> MemberView:
    """Add a member or change a member's role (managers and owners; nobody changes their own role).

    With ``existing_only`` the user must be a member already (a role change never adds anyone).
    """

    def _set(s: Session) -> MemberView:
        scope = require_project(s, actor, project_id, Role.MANAGER)
        if user_id is not None:
            user = s.get(User, user_id)
        elif username is not None:
            user = s.scalar(select(User).where(User.username == username))
        else:
            raise Invalid("give the user's id or user name")
        member = None if user is None else s.get(Member, (project_id, user.id))
        if existing_only and member is None:
            raise NotFound(f"user {user_id} is not a member of project {project_id}")
        if user is None or not user.is_active:
            raise Invalid("no such active user")
        if user.id == actor.user_id and not actor.is_admin:
            raise Forbidden("you cannot change your own role")
        if not _may_grant(scope.role, role) or (
            member is not None and not _may_grant(scope.role, Role(member.role))
        ):
            raise Forbidden(f"a {scope.role.value} cannot grant or change the {role.value} role")
        if member is None:
            member = Member(project_id=project_id, user_id=user.id, role=role.value, created_at=utcnow())
            s.add(member)
        else:
            if (
                member.role == Role.OWNER.value
                and role is not Role.OWNER
                and _owner_count(s, project_id) <= 1
            ):
                raise Conflict("a project keeps at least one owner")
            member.role = role.value
        s.flush()
        return MemberView(user.id, user.username, user.display_name, member.role)

    return db.write(_set)


def remove_member(db: Database, *, actor: Actor, project_id: int, user_id: int) -> None:
    """Remove a member (managers remove lower roles, owners anyone); images assigned to them are freed."""

    def _remove(s: Session) -> None:
        scope = require_project(s, actor, project_id, Role.VIEWER)
        member = s.get(Member, (project_id, user_id))
        if member is None:
            raise NotFound(f"user {user_id} is not a member of project {project_id}")
        leaving = user_id == actor.user_id
        if not leaving and not (
            scope.role.at_least(Role.MANAGER) and _may_grant(scope.role, Role(member.role))
        ):
            raise Forbidden(f"a {scope.role.value} cannot remove a {member.role}")
        if member.role == Role.OWNER.value and _owner_count(s, project_id) <= 1:
            raise Conflict("a project keeps at least one owner")
        s.delete(member)
        for image in s.scalars(
            select(Image).where(Image.project_id == project_id, Image.assignee_id == user_id)
        ):
            image.assignee_id = None

    db.write(_remove)


# ---------------------------------------------------------------------------------------------- ontology


def get_ontology(db: Database, *, actor: Actor, project_id: int) -> OntologyView:
    def _get(s: Session) -> OntologyView:
        scope = require_project(s, actor, project_id, Role.VIEWER)
        return OntologyView(scope.project.ontology_version, repo.get_ontology(scope.project))

    return db.read(_get)


def _check_migration(
    s: Session, project: Project, old: Ontology, new: Ontology, renames: Mapping[str, str]
) -> None:
    problems = []
    for source, target in renames.items():
        if source not in old:
            problems.append(f"rename: {source!r} is not a class of the current ontology")
        if target not in new:
            problems.append(f"rename: {target!r} is not a class of the new ontology")
    if problems:
        raise Invalid(problems[0], problems=problems)
    removed = [c.name for c in old.classes if c.name not in new and c.name not in renames]
    in_use = repo.count_labels(s, project.id, removed)
    if in_use:
        detail = "; ".join(f"class {name!r} is used by {n} object(s)" for name, n in in_use.items())
        raise Conflict(f"{detail}: relabel or delete them first, or rename the class", in_use=in_use)
    for cls in new.classes:
        before = old.get(cls.name)
        if before is None or not cls.shapes:
            continue
        dropped = {k.value for k in (before.shapes or frozenset(ShapeType)) - cls.shapes}
        n = repo.count_label_kinds(s, project.id, cls.name, dropped) if dropped else 0
        if n:
            raise Conflict(
                f"class {cls.name!r}: {n} object(s) have a shape the new ontology no longer allows",
                in_use={cls.name: n},
            )


def _relabel(s: Session, actor: Actor, project: Project, renames: Mapping[str, str]) -> None:
    for source, target in renames.items():
        if source == target:
            continue
        for image_id in repo.images_with_label(s, project.id, source):
            image = s.get_one(Image, image_id)
            docs = repo.current_docs(s, image_id)
            after = {oid: {**d, "label": target} if d["label"] == source else d for oid, d in docs.items()}
            changes = repo.diff(docs, after)
            version = image.annotation_version
            if not repo.bump_version(s, image, version, next_object_id=image.next_object_id):
                raise Conflict("the project changed during the rename; try again")
            repo.apply_changes(s, image, changes)
            repo.append_history(
                s, image, version=version + 1, action="rename", user_id=actor.user_id, changes=changes
            )


def set_ontology(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    ontology: Ontology,
    expected_version: int,
    renames: Mapping[str, str] | None = None,
) -> OntologyView:
    """Replace the ontology (managers), checking its version and that no class in use vanishes."""
    _check_ontology(ontology)
    renames = dict(renames or {})

    def _set(s: Session) -> OntologyView:
        scope = require_project(s, actor, project_id, Role.MANAGER)
        project = scope.project
        s.refresh(project, with_for_update=True)  # PostgreSQL: one ontology edit at a time
        if project.ontology_version != expected_version:
            raise PreconditionFailed(
                f"the ontology is at version {project.ontology_version}, not {expected_version}",
                current={"version": project.ontology_version, "ontology": project.ontology},
            )
        old = repo.get_ontology(project)
        _check_migration(s, project, old, ontology, renames)
        _relabel(s, actor, project, renames)
        repo.set_ontology(project, ontology)
        s.flush()
        return OntologyView(project.ontology_version, ontology)

    return db.write(_set)
