"""The two halves of an import: a plan that checks everything and stores the image files, and one
transaction that writes every row and marks the job succeeded (see :mod:`seglab.service.imports`)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from typing import Any

from PIL import Image as PILImage
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from seglab.core.conventions import ImageSize
from seglab.core.dataset import Dataset, ImageRecord
from seglab.core.errors import SeglabError
from seglab.core.ontology import AttributeSpec, AttributeType, Ontology
from seglab.formats.media import FileMedia, raw_bytes
from seglab.jobs import JobContext, JobFailed
from seglab.service.access import Actor, Role, require_project
from seglab.service.errors import ServiceError
from seglab.service.imaging import clean_file_name, prepare_upload
from seglab.service.validation import annotation_problems, ontology_problems
from seglab.storage import repositories as repo
from seglab.storage.blobs import BlobStore, content_key
from seglab.storage.db import Database
from seglab.storage.models import Image, User, utcnow
from seglab.storage.repositories import Change, Doc

CHUNK = 500


@dataclass(frozen=True)
class Problem:
    file: str
    where: str
    reason: str


@dataclass
class PlannedImage:
    file_name: str
    size: ImageSize
    docs: list[Doc]
    subset: str | None
    meta: dict[str, Any]
    existing_id: int | None = None
    existing_version: int = 0
    checksum: str = ""
    storage_key: str = ""
    media_type: str = ""
    byte_size: int = 0


@dataclass
class Plan:
    project_id: int
    user_id: int
    ontology: Ontology
    ontology_version: int
    ontology_changed: bool
    images: list[PlannedImage] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped_objects: int = 0
    skipped_images: int = 0
    new_blobs: list[str] = field(default_factory=list)
    classes_added: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        return {
            "images_added": sum(1 for p in self.images if p.existing_id is None),
            "images_updated": sum(1 for p in self.images if p.existing_id is not None),
            "annotations": sum(len(p.docs) for p in self.images),
            "skipped_images": self.skipped_images,
            "classes_added": self.classes_added,
        }


def job_actor(s: Session, user_id: int) -> Actor:
    """The user a job acts for, as they are now (a user deactivated meanwhile acts no more)."""
    user = s.get(User, user_id)
    if user is None or not user.is_active:
        raise JobFailed("the user who started this job is no longer active")
    return Actor(user.id, user.username, user.is_admin)


def _merge(current: Ontology, dataset: Dataset) -> tuple[Ontology, list[str]]:
    """The project's ontology with the dataset's classes it lacks appended (an empty one adopts it).

    Classes taken from the dataset also get the attributes its objects use that the format could not
    declare (VOC, YOLO, Cityscapes carry values but no definitions), typed from the values. The project's
    own classes are never changed: an object that does not fit them is a problem to report.
    """
    incoming = dataset.ontology
    new = (
        incoming.classes
        if not current.classes
        else tuple(c for c in incoming.classes if c.name not in current)
    )
    if not new:
        return current, []
    used: dict[str, dict[str, set[type]]] = {}
    for _, ann in dataset.annotations():
        for name, value in ann.attributes.items():
            used.setdefault(ann.label, {}).setdefault(name, set()).add(type(value))
    classes = []
    for c in new:
        declared = {a.name for a in c.attributes}
        extra = tuple(
            AttributeSpec(name, _attribute_type(types))
            for name, types in used.get(c.name, {}).items()
            if name not in declared
        )
        classes.append(replace(c, attributes=c.attributes + extra) if extra else c)
    base = incoming if not current.classes else current
    kept = () if not current.classes else current.classes
    return replace(base, classes=kept + tuple(classes)), [c.name for c in new]


def _attribute_type(types: set[type]) -> AttributeType:
    if types == {bool}:
        return AttributeType.BOOL
    if types and types <= {int, float}:
        return AttributeType.NUMBER
    return AttributeType.TEXT


def _jsonable(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        raise ValueError(f"{what} holds values that JSON cannot store") from None


def _pixels(record: ImageRecord) -> bytes | None:
    """The image's encoded file: the original bytes where the format kept them, else a PNG of the pixels."""
    media = record.media
    if media is None or (isinstance(media, FileMedia) and not media.path.is_file()):
        return None
    raw = raw_bytes(media)
    if raw is not None:
        return raw[0]
    out = io.BytesIO()
    PILImage.fromarray(media.read()).save(out, format="PNG")
    return out.getvalue()


def _existing(
    s: Session, project_id: int, names: list[str], sums: list[str]
) -> tuple[dict[str, Image], dict[str, Image]]:
    by_name: dict[str, Image] = {}
    by_sum: dict[str, Image] = {}
    for start in range(0, max(len(names), len(sums)), CHUNK):
        chunk_names, chunk_sums = names[start : start + CHUNK], sums[start : start + CHUNK]
        rows = s.scalars(
            select(Image).where(
                Image.project_id == project_id,
                or_(Image.file_name.in_(chunk_names), Image.checksum.in_(chunk_sums)),
            )
        )
        for row in rows:
            by_name[row.file_name] = row
            by_sum[row.checksum] = row
    return by_name, by_sum


def plan_import(
    ctx: JobContext,
    *,
    db: Database,
    blobs: BlobStore,
    project_id: int,
    user_id: int,
    dataset: Dataset,
    max_pixels: int,
    skip_invalid: bool,
    stored: list[str] | None = None,
) -> Plan:
    """Check every image and object of ``dataset`` against the project, storing new image files.

    The keys of the files it stores are appended to ``stored`` as they are written (the plan's
    ``new_blobs``), so a caller can remove them even when planning stops half-way (cancelled, failed)."""

    def _project(s: Session) -> tuple[Ontology, int]:
        project = require_project(s, job_actor(s, user_id), project_id, Role.MANAGER).project
        return repo.get_ontology(project), project.ontology_version

    current, version = db.read(_project)
    merged, added = _merge(current, dataset)
    plan = Plan(project_id, user_id, merged, version, bool(added), classes_added=added)
    if stored is not None:
        plan.new_blobs = stored
    plan.problems += [Problem("ontology", "classes", reason) for reason in ontology_problems(merged)]

    # Pass 1: each image file is checked and stored (content-addressed) as it is read.
    prepared: list[tuple[ImageRecord, str, Any, int]] = []
    claimed: set[str] = set()
    total = max(len(dataset.images), 1)
    for index, record in enumerate(dataset.images):
        ctx.progress(0.2 + 0.4 * index / total, f"checking image {index + 1} of {total}")
        try:
            name = clean_file_name(record.file_name)
            data = _pixels(record)
            image = None if data is None else prepare_upload(data, name, max_pixels=max_pixels)
        except (ServiceError, SeglabError, OSError, ValueError) as exc:  # the dataset's fault, not ours
            reason = exc.detail if isinstance(exc, ServiceError) else f"cannot read the image ({exc})"
            plan.problems.append(Problem(record.file_name, "image", reason))
            plan.skipped_images += 1
            plan.skipped_objects += len(record.annotations)
            continue
        byte_size = 0
        if image is not None:
            key = content_key(image.checksum, image.extension)
            if key not in claimed:  # held while the job runs: garbage collection leaves the key alone
                db.write(lambda s, key=key: repo.claim_blobs(s, [key], job_id=ctx.job.id))
                claimed.add(key)
            if not blobs.exists(key):
                blobs.put(key, image.data)
                plan.new_blobs.append(key)
            byte_size = len(image.data)
            image = replace(image, data=b"")  # the bytes are stored; keep only what describes them
            name = image.file_name
        prepared.append((record, name, image, byte_size))

    names = [name for _, name, _, _ in prepared]
    sums = [image.checksum for _, _, image, _ in prepared if image is not None]
    by_name, by_sum = db.read(lambda s: _existing(s, project_id, names, sums))

    # Pass 2: match images with the project's, then check every object against the merged ontology.
    seen_names: set[str] = set()
    seen_sums: set[str] = set()
    for index, (record, name, image, byte_size) in enumerate(prepared):
        ctx.progress(0.6 + 0.2 * index / total, f"checking the objects of image {index + 1} of {total}")
        problem = None
        existing = by_name.get(name)
        if name in seen_names:
            problem = "the dataset names this image twice"
        elif image is None and existing is None:
            problem = "no image file: include the images in the import, or upload them to the project first"
        elif image is not None and existing is not None and existing.checksum != image.checksum:
            problem = f"the project has an image named {name!r} with other content"
        elif image is not None and existing is None and image.checksum in by_sum:
            problem = f"the project has the same image as {by_sum[image.checksum].file_name!r}"
        elif image is not None and existing is None and image.checksum in seen_sums:
            problem = "the dataset holds this image twice under different names"
        size = (
            ImageSize(existing.width, existing.height)
            if existing is not None
            else (ImageSize(image.width, image.height) if image is not None else None)
        )
        if problem is None and size is not None and record.size is not None and record.size != size:
            problem = (
                f"the annotation file says {record.size.width}x{record.size.height}, the image is "
                f"{size.width}x{size.height} (after its EXIF orientation)"
            )
        try:
            meta = _jsonable(
                {
                    k: v
                    for k, v in (
                        ("tags", list(record.tags)),
                        ("attributes", dict(record.attributes)),
                        ("extra", dict(record.extra)),
                    )
                    if v
                },
                "image-level fields",
            )
        except ValueError as exc:
            problem = problem or str(exc)
        if problem is not None or size is None:
            plan.problems.append(Problem(record.file_name, "image", problem or "unknown size"))
            plan.skipped_images += 1
            plan.skipped_objects += len(record.annotations)
            continue
        seen_names.add(name)
        docs = []
        for ann in record.annotations:
            reasons = annotation_problems(ann, merged, size, f"annotation {ann.id}")
            if not reasons:
                try:
                    docs.append(_jsonable(repo.to_doc(ann.with_(id=0)), f"annotation {ann.id}"))
                except ValueError as exc:
                    reasons = [str(exc)]
            for reason in reasons:
                plan.problems.append(Problem(record.file_name, f"annotation {ann.id}", reason))
            plan.skipped_objects += bool(reasons)
        planned = PlannedImage(name, size, docs, record.subset, meta)
        if existing is not None:
            planned.existing_id, planned.existing_version = existing.id, existing.annotation_version
        else:
            assert image is not None
            seen_sums.add(image.checksum)
            planned.checksum, planned.media_type = image.checksum, image.media_type
            planned.storage_key = content_key(image.checksum, image.extension)
            planned.byte_size = byte_size
        plan.images.append(planned)
    return plan


def _numbered(docs: list[Doc], start: int) -> dict[int, Doc]:
    return {start + i: {**doc, "id": start + i} for i, doc in enumerate(docs)}


def commit_plan(ctx: JobContext, db: Database, plan: Plan, result: dict[str, Any]) -> None:
    """Write the plan in one transaction that also marks the job succeeded (all or nothing)."""

    def _write(s: Session) -> None:
        actor = job_actor(s, plan.user_id)
        project = require_project(s, actor, plan.project_id, Role.MANAGER).project
        s.refresh(project, with_for_update=True)
        if project.ontology_version != plan.ontology_version:
            raise JobFailed("the project's ontology changed during the import; run the import again")
        if plan.ontology_changed:
            repo.set_ontology(project, plan.ontology)
        new = [p for p in plan.images if p.existing_id is None]
        clash, _ = _existing(s, plan.project_id, [p.file_name for p in new], [p.checksum for p in new])
        if clash:
            raise JobFailed(
                f"image {next(iter(clash))!r} was added to the project during the import; run it again"
            )
        now = utcnow()
        rows = [
            Image(
                project_id=plan.project_id,
                file_name=p.file_name,
                checksum=p.checksum,
                width=p.size.width,
                height=p.size.height,
                storage_key=p.storage_key,
                media_type=p.media_type,
                byte_size=p.byte_size,
                status="new",
                annotation_version=1 if p.docs else 0,
                next_object_id=len(p.docs) + 1,
                subset=p.subset,
                meta=p.meta,
                created_at=now,
                updated_at=now,
            )
            for p in new
        ]
        s.add_all(rows)
        s.flush()
        for index, (row, planned) in enumerate(zip(rows, new, strict=True)):
            if index % 200 == 0:
                ctx.check()
            if planned.docs:
                changes = [
                    Change("create", oid, None, doc) for oid, doc in _numbered(planned.docs, 1).items()
                ]
                repo.apply_changes(s, row, changes)
                repo.append_history(
                    s, row, version=1, action="import", user_id=actor.user_id, changes=changes
                )
        for planned in (p for p in plan.images if p.existing_id is not None):
            image = s.get(Image, planned.existing_id)
            if image is None:
                raise JobFailed(f"image {planned.file_name!r} was deleted during the import; run it again")
            before = repo.current_docs(s, image.id)
            after = _numbered(planned.docs, image.next_object_id)
            changes = repo.diff(before, after)
            if changes:
                next_id = image.next_object_id + len(planned.docs)
                if not repo.bump_version(s, image, planned.existing_version, next_object_id=next_id):
                    raise JobFailed(f"image {planned.file_name!r} was edited during the import; run it again")
                repo.apply_changes(s, image, changes)
                repo.append_history(
                    s,
                    image,
                    version=image.annotation_version,
                    action="import",
                    user_id=actor.user_id,
                    changes=changes,
                )
            if planned.subset is not None:
                image.subset = planned.subset
            if planned.meta:
                image.meta = planned.meta
        repo.release_claims(s, job_id=ctx.job.id)  # the rows refer to the blobs from now on
        ctx.complete(
            s, result, f"imported {len(new)} new and {len(plan.images) - len(new)} existing image(s)"
        )

    db.write(_write)
