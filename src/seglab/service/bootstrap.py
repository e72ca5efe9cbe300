"""First start: the administrator account, and the optional demo project.

Both are idempotent, so every server process can run them at startup (several processes against one
database agree: the user name and project name are unique in the database).
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass

from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from seglab.demo import build_sample_dataset
from seglab.service import annotations as annotation_service
from seglab.service import auth, images, projects
from seglab.service.access import Actor
from seglab.service.errors import Conflict
from seglab.service.views import ProjectView
from seglab.storage.blobs import BlobStore
from seglab.storage.db import Database
from seglab.storage.models import Project, User

DEMO_PROJECT = "Demo"


@dataclass(frozen=True)
class AdminAccount:
    """The admin created at this start; ``password`` is None when it came from the environment."""

    username: str
    password: str | None


def ensure_admin(
    db: Database, passwords: auth.Passwords, *, username: str, password: str | None
) -> AdminAccount | None:
    """Create the first administrator when the database has no user; None when users exist already."""
    if auth.has_users(db):
        return None
    generated = password is None
    secret = password if password is not None else secrets.token_urlsafe(12)
    try:
        auth.create_user(db, passwords, actor=None, username=username, password=secret, is_admin=True)
    except Conflict:
        return None  # another process created it a moment ago
    return AdminAccount(username, secret if generated else None)


def admin_actor(db: Database, username: str) -> Actor:
    """An admin to act as at startup: ``username`` if it is an admin, else the first admin."""

    def _find(s: Session) -> Actor:
        user = s.scalar(select(User).where(User.username == username, User.is_admin))
        user = user or s.scalar(select(User).where(User.is_admin).order_by(User.id))
        if user is None:
            raise RuntimeError("the database has no administrator")
        return Actor(user.id, user.username, True)

    return db.read(_find)


def create_demo_project(db: Database, blobs: BlobStore, *, actor: Actor) -> ProjectView | None:
    """The bundled sample (every shape type, thing and stuff classes, generated images) as a project.

    None when the demo project exists already.
    """
    if db.read(lambda s: s.scalar(select(Project.id).where(Project.name == DEMO_PROJECT))) is not None:
        return None
    dataset = build_sample_dataset()
    try:
        project = projects.create_project(
            db,
            actor=actor,
            name=DEMO_PROJECT,
            description="seglab's sample street scenes: every shape type "
            "(box, rotated box, polygon with holes, polyline, keypoints, mask), thing and stuff classes.",
            ontology=dataset.ontology,
        )
    except Conflict:
        return None
    files = []
    for record in dataset.images:
        if record.media is None:
            raise RuntimeError(f"sample image {record.file_name} has no pixels")
        buffer = io.BytesIO()
        PILImage.fromarray(record.media.read()).save(buffer, format="PNG")
        files.append((record.file_name, buffer.getvalue()))
    stored = images.upload_images(
        db, blobs, actor=actor, project_id=project.id, files=files, max_pixels=10**8
    )
    for record, image in zip(dataset.images, stored, strict=True):
        annotation_service.save_annotations(
            db,
            actor=actor,
            project_id=project.id,
            image_id=image.id,
            annotations=[a.with_(id=0) for a in record.annotations],
            expected_version=0,
        )
    return project
