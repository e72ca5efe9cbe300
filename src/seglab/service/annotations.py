"""Reading and writing an image's annotations with optimistic concurrency and full history.

Every write names the version it was based on (the client's If-Match). A stale write changes nothing and
raises :class:`PreconditionFailed` carrying the server's current copy, so the client can merge instead of
losing either side's work. Each accepted change bumps the version by one with a compare-and-set and appends
one history row with the before/after of every object it touched; any past version can be viewed and
restored, and a restore is itself a new version.

Objects are numbered per image. In a whole-image save, objects with an id <= 0 are new and get the next
free numbers; positive ids must be objects the image has now. Only objects that changed are validated, so
a tightened ontology never blocks saving an image whose untouched objects predate it.

Objects travel as their canonical JSON documents, validated when written and never decoded on a read: the
process keeps each image's current version as one JSON bytes string per object (:class:`EncodedObjects`,
in the shared document cache with the version in its key), so a load sends those bytes as they are and a
whole-image save recognises unchanged objects by comparing bytes. Only new and changed objects are parsed,
checked and written, and the history row holds the before/after of just those.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from seglab.core.annotation import Annotation
from seglab.core.conventions import ImageSize
from seglab.service.access import Actor, ImageStatus, Role, Scope, require_editable, require_image
from seglab.service.errors import Conflict, Invalid, NotFound, PreconditionFailed, PreconditionRequired
from seglab.service.validation import annotation_problems, outside_flags
from seglab.service.views import AnnotationSet, HistoryView
from seglab.storage import repositories as repo
from seglab.storage.codec import GEOMETRY_KEYS, CodecError
from seglab.storage.db import Database
from seglab.storage.models import AnnotationRow, Image, User, utcnow
from seglab.storage.repositories import Change, Doc

MAX_OBJECTS = 100_000
PATCHABLE = frozenset(
    (
        "label",
        "kind",
        *GEOMETRY_KEYS,
        "attributes",
        "source",
        "score",
        "uncertainty",
        "z_order",
        "group_id",
        "track_id",
        "crowd",
        "extra",
    )
)


def _require_version(expected: int | None) -> int:
    if expected is None:
        raise PreconditionRequired(
            "send If-Match with the annotation version you edited (the ETag of GET .../annotations)"
        )
    return expected


def _set(image_id: int, version: int, docs: Mapping[int, Doc]) -> AnnotationSet:
    return AnnotationSet(image_id, version, orjson.dumps(list(docs.values())))


@dataclass(frozen=True)
class EncodedObjects:
    """An image's objects at one version: the canonical JSON of each object, by object id in id order.

    The cache holds it as two entries under the version's key: the JSON array of the documents (what a
    GET sends as it is) and a small index of (object id, length) pairs that cuts the array back into
    objects without parsing it.
    """

    objects: dict[int, bytes]

    def array(self) -> bytes:
        return b"[" + b",".join(self.objects.values()) + b"]"

    def index(self) -> bytes:
        return array("q", [v for oid, part in self.objects.items() for v in (oid, len(part))]).tobytes()

    @classmethod
    def split(cls, encoded: bytes, index: bytes) -> EncodedObjects:
        numbers = array("q")
        numbers.frombytes(index)
        objects: dict[int, bytes] = {}
        position = 1  # after "["
        for oid, length in zip(numbers[0::2], numbers[1::2], strict=True):
            objects[oid] = encoded[position : position + length]
            position += length + 1  # and the "," (or the closing "]")
        return cls(objects)


_SCALARS = ("source", "score", "uncertainty", "z_order", "group_id", "track_id", "crowd")


def _encoded_rows(s: Session, image_id: int) -> EncodedObjects:
    """The image's objects encoded from their rows without decoding their geometry.

    Both SQLite and PostgreSQL (``json`` columns, migration 0005) keep the JSON text the server wrote
    from canonical documents, so that text is spliced in as it is (read as text: no driver decodes it).
    """
    rows = s.execute(
        select(
            AnnotationRow.object_id,
            AnnotationRow.label,
            AnnotationRow.kind,
            cast(AnnotationRow.geometry, Text),
            cast(AnnotationRow.attributes, Text),
            cast(AnnotationRow.extra, Text),
            *(getattr(AnnotationRow, name) for name in _SCALARS),
        )
        .where(AnnotationRow.image_id == image_id)
        .order_by(AnnotationRow.object_id)
    )
    objects: dict[int, bytes] = {}
    for object_id, label, kind, geometry, attributes, extra, *scalars in rows:
        head = orjson.dumps({"id": object_id, "label": label, "kind": kind})[:-1]
        tail = orjson.dumps(dict(zip(_SCALARS, scalars, strict=True)))[1:-1]
        objects[object_id] = b'%b,%b:%b,"attributes":%b,%b,"extra":%b}' % (
            head,
            orjson.dumps(kind),
            (geometry or "null").encode(),
            (attributes or "null").encode(),
            tail,
            (extra or "null").encode(),
        )
    return EncodedObjects(objects)


def _index_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return (*key, "index")


def _stored(s: Session, image: Image) -> EncodedObjects:
    """The image's current objects, from the process's document cache when it holds this version."""
    key = repo.EncodedDocs.key(s, image, image.annotation_version)
    encoded, index = repo.DOCS_CACHE.get(key), repo.DOCS_CACHE.get(_index_key(key))
    if encoded is not None and index is not None:
        return EncodedObjects.split(encoded, index)
    return _remember(key, _encoded_rows(s, image.id))


def _remember(key: tuple[Any, ...], objects: EncodedObjects) -> EncodedObjects:
    repo.DOCS_CACHE.put(key, objects.array())
    repo.DOCS_CACHE.put(_index_key(key), objects.index())
    return objects


def _current_copy(s: Session, scope: Scope) -> dict[str, Any]:
    image = scope.the_image
    s.refresh(image)
    return {"version": image.annotation_version, "annotations": list(repo.current_docs(s, image.id).values())}


def _check_fresh(s: Session, scope: Scope, expected: int) -> None:
    image = scope.the_image
    if image.annotation_version != expected:
        raise PreconditionFailed(
            f"image {image.id} changed: it is at version {image.annotation_version}, your edit is based "
            f"on {expected}; merge with the current copy and save again",
            current=_current_copy(s, scope),
        )


def _check(scope: Scope, objects: Iterable[tuple[Annotation | Doc, str | None]]) -> None:
    """Check objects (core annotations, or documents to decode) against the ontology and the image.

    Each comes with the name the reasons call it by (None: ``object <id>``); the first 100 reasons are
    kept.
    """
    image = scope.the_image
    ontology = repo.get_ontology(scope.project)
    size = ImageSize(image.width, image.height)
    decoded: list[tuple[Annotation, str | None] | str] = []  # an annotation, or why it cannot be one
    for obj, name in objects:
        try:
            decoded.append((obj if isinstance(obj, Annotation) else repo.from_doc(obj), name))
        except CodecError as exc:
            decoded.append(str(exc))
    # Every polygon's bounds in one numpy pass, then each object's reasons in the order of the objects.
    flags = iter(outside_flags([d[0] for d in decoded if not isinstance(d, str)], size))
    problems: list[str] = []
    for entry in decoded:
        if isinstance(entry, str):
            problems.append(entry)
        else:
            problems.extend(annotation_problems(entry[0], ontology, size, entry[1], next(flags)))
        if len(problems) >= 100:
            break
    if problems:
        raise Invalid(f"{len(problems)} problem(s); first: {problems[0]}", problems=problems)


def _validate(
    scope: Scope, before: Mapping[int, Doc], after: Mapping[int, Doc], names: Mapping[int, str] | None = None
) -> None:
    """Check the objects that are new or changed (``names`` says how to call objects the client did not
    number yet, by their place in its list)."""
    named = names or {}
    _check(scope, ((doc, named.get(oid)) for oid, doc in after.items() if before.get(oid) != doc))


def _commit(
    s: Session,
    scope: Scope,
    actor: Actor,
    changes: Sequence[Change],
    *,
    expected: int,
    action: str,
    restored_from: int | None = None,
    checked: bool = False,
) -> int:
    """Apply the changes as version ``expected + 1`` (nothing happens when there are none); ``checked``
    as in :func:`repo.append_history`."""
    image = scope.the_image
    if not changes:
        return image.annotation_version
    next_id = max([image.next_object_id, *(c.object_id + 1 for c in changes)])
    if not repo.bump_version(s, image, expected, next_object_id=next_id):
        raise PreconditionFailed(
            f"image {image.id} was saved by someone else a moment ago; merge with the current copy",
            current=_current_copy(s, scope),
        )
    repo.apply_changes(s, image, changes)
    repo.append_history(
        s,
        image,
        version=expected + 1,
        action=action,
        user_id=actor.user_id,
        changes=changes,
        restored_from=restored_from,
        checked=checked,
    )
    if image.status == ImageStatus.NEW and not scope.role.at_least(Role.REVIEWER):
        image.status = ImageStatus.IN_PROGRESS.value
        if image.assignee_id is None:
            image.assignee_id = actor.user_id
        image.updated_at = utcnow()
    s.flush()
    return image.annotation_version


def _editable(s: Session, actor: Actor, project_id: int, image_id: int, expected: int) -> Scope:
    scope = require_image(s, actor, project_id, image_id, Role.ANNOTATOR)
    require_editable(scope, actor)
    _check_fresh(s, scope, expected)
    return scope


def editable_scope(s: Session, actor: Actor, project_id: int, image_id: int, expected: int | None) -> Scope:
    """The image, checked editable by the actor at version ``expected`` (for use cases that build their own
    change, such as accepting predictions)."""
    return _editable(s, actor, project_id, image_id, _require_version(expected))


def commit_edit(
    s: Session,
    scope: Scope,
    actor: Actor,
    before: Mapping[int, Doc],
    after: Mapping[int, Doc],
    *,
    expected: int,
    action: str,
    names: Mapping[int, str] | None = None,
) -> int:
    """Validate the changed objects and commit ``before`` -> ``after`` as the next version with a history
    row: the one path every annotation change takes."""
    _validate(scope, before, after, names)
    return _commit(s, scope, actor, repo.diff(before, after), expected=expected, action=action)


# ------------------------------------------------------------------------------------------------- reads


def get_annotations(db: Database, *, actor: Actor, project_id: int, image_id: int) -> AnnotationSet:
    """The image's current objects: the cached JSON as it is, or the rows encoded once and cached."""

    def _get(s: Session) -> AnnotationSet:
        image = require_image(s, actor, project_id, image_id, Role.VIEWER).the_image
        key = repo.EncodedDocs.key(s, image, image.annotation_version)
        encoded = repo.DOCS_CACHE.get(key)
        if encoded is None:
            encoded = _remember(key, _encoded_rows(s, image.id)).array()
        return AnnotationSet(image.id, image.annotation_version, encoded)

    return db.read(_get)


def get_version(db: Database, *, actor: Actor, project_id: int, image_id: int, version: int) -> AnnotationSet:
    """The image's objects as they were at ``version`` (0 is the empty start)."""

    def _get(s: Session) -> AnnotationSet:
        image = require_image(s, actor, project_id, image_id, Role.VIEWER).the_image
        if not 0 <= version <= image.annotation_version:
            raise NotFound(f"image {image.id} has versions 0 to {image.annotation_version}")
        return _set(image.id, version, repo.state_at(s, image, version))

    return db.read(_get)


def list_history(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    image_id: int,
    before_version: int | None = None,
    limit: int = 50,
) -> list[HistoryView]:
    """History entries newest first; page with ``before_version`` = the last version of the previous page."""
    limit = max(1, min(limit, 500))

    def _list(s: Session) -> list[HistoryView]:
        require_image(s, actor, project_id, image_id, Role.VIEWER)
        entries = repo.history(s, image_id, before_version=before_version, limit=limit)
        ids = {e.user_id for e in entries if e.user_id is not None}
        names = (
            {uid: name for uid, name in s.execute(select(User.id, User.username).where(User.id.in_(ids)))}
            if ids
            else {}
        )
        return [
            HistoryView(
                version=e.version,
                action=e.action,
                user_id=e.user_id,
                username=names.get(e.user_id) if e.user_id is not None else None,
                created_at=e.created_at,
                restored_from=e.restored_from,
                changes=[{"op": c.op, "id": c.object_id} for c in e.changes],
            )
            for e in entries
        ]

    return db.read(_list)


# ------------------------------------------------------------------------------------------------ writes


def save_annotations(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    image_id: int,
    annotations: Sequence[Annotation],
    expected_version: int | None,
) -> AnnotationSet:
    """Replace the image's whole annotation set (objects with id <= 0 are new)."""
    return save_documents(
        db,
        actor=actor,
        project_id=project_id,
        image_id=image_id,
        documents=[repo.to_doc(a) for a in annotations],
        expected_version=expected_version,
    )


def save_documents(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    image_id: int,
    documents: Sequence[Mapping[str, Any]],
    expected_version: int | None,
    parse: Callable[[Mapping[str, Any], str, int], Annotation] | None = None,
) -> AnnotationSet:
    """Replace the image's whole annotation set from annotation documents (``id`` <= 0 for new objects).

    An object sent back exactly as the server holds it is kept as it is; only new and changed objects
    are parsed (``parse(document, name, object_id)``: the core annotation, or Invalid, e.g. the API's
    schema check; without it the codec decodes them), checked and brought to canonical form. Saving an
    image of thousands of objects where a few changed therefore costs a comparison per object, not a
    parse.
    """
    expected = _require_version(expected_version)
    if len(documents) > MAX_OBJECTS:
        raise Invalid(f"at most {MAX_OBJECTS} objects per image")
    ids = [int(d.get("id") or 0) for d in documents]
    given = [i for i in ids if i > 0]
    if len(set(given)) != len(given):
        dup = next(i for i in given if given.count(i) > 1)
        raise Invalid(f"object id {dup} appears twice; each object has its own id")

    def _prepare(s: Session) -> _PreparedSave:
        scope = _editable(s, actor, project_id, image_id, expected)
        image = scope.the_image
        before = _stored(s, image).objects
        unknown = [i for i in given if i not in before]
        if unknown:
            raise Invalid(
                f"object id {unknown[0]} is not on image {image.id}; send new objects without an id",
                problems=[f"object id {i} is not on image {image.id}" for i in unknown],
            )
        next_id = image.next_object_id
        after: dict[int, bytes] = {}
        changed: list[tuple[int, Annotation, Doc, str, bytes | None]] = []
        for index, (object_id, sent) in enumerate(zip(ids, documents, strict=True)):
            if object_id <= 0:
                object_id = next_id
                name = f"new object at index {index}"
                next_id += 1
            else:
                name = f"object {object_id} (at index {index})"
            stored = before.get(object_id)
            if stored is not None or parse is None:
                doc = sent if sent.get("id") == object_id else {**sent, "id": object_id}
                if stored is not None and _same(stored, doc):
                    after[object_id] = stored
                    continue
            try:
                annotation = parse(sent, name, object_id) if parse is not None else repo.from_doc(doc)
            except (CodecError, KeyError, TypeError, ValueError) as exc:
                raise Invalid(f"{name}: {exc}") from None
            # Point lists stay numpy arrays (no Python list per vertex; orjson writes the same bytes), and
            # the JSON columns are encoded once here, for the cache, the rows and the history entry.
            try:
                canonical, encoded, splices = repo.encoded_object(
                    repo.to_doc(annotation, arrays=True), name, geometry_checked=True
                )
            except ValueError as exc:
                raise Invalid(str(exc)) from None
            if stored is not None and (stored == encoded or orjson.loads(stored) == orjson.loads(encoded)):
                after[object_id] = stored  # the same object written differently (5 for 5.0, key order)
                continue
            after[object_id] = encoded
            # The history entry splices the encoded object in instead of encoding it again.
            changed.append((object_id, annotation, canonical, name, encoded if splices else None))
        checked = [(annotation, name) for _, annotation, _, name, _ in changed]
        _check(scope, checked)
        changes = [
            Change("delete", oid, orjson.loads(part), None)
            for oid, part in before.items()
            if oid not in after
        ]
        for object_id, _, canonical, _, encoded_json in changed:
            old = before.get(object_id)
            if old is None:
                changes.append(Change("create", object_id, None, canonical, encoded_json))
            else:
                changes.append(Change("update", object_id, orjson.loads(old), canonical, encoded_json))
        objects = EncodedObjects(dict(sorted(after.items())))
        return _PreparedSave(changes, checked, scope.project.ontology_version, objects)

    def _save(s: Session) -> tuple[tuple[Any, ...], int]:
        # The authoritative checks, again under the write lock: role, editable status, and the version
        # (unchanged since the preparation, so its "before" is still the image's state).
        scope = _editable(s, actor, project_id, image_id, expected)
        if scope.project.ontology_version != prepared.ontology_version:
            _check(scope, prepared.checked)  # the ontology changed meanwhile: check against the new one
        # Every document of the changes is checked: the new ones by encoded_doc, the old ones are
        # stored JSON (which cannot hold NaN or infinity).
        version = _commit(s, scope, actor, prepared.changes, expected=expected, action="save", checked=True)
        return repo.EncodedDocs.key(s, scope.the_image, version), version

    # Everything that costs CPU (comparing, parsing, validating, encoding) happens in a read transaction
    # first, so the write transaction, which on SQLite holds the one writer lock until its commit is on
    # disk, only applies the prepared changes.
    prepared = db.read(_prepare)
    if not prepared.changes:
        return AnnotationSet(image_id, expected, prepared.objects.array())
    key, version = db.write(_save)
    encoded = prepared.objects.array()
    # After the commit: a rolled-back save must leave no trace.
    repo.DOCS_CACHE.put(key, encoded)
    repo.DOCS_CACHE.put(_index_key(key), prepared.objects.index())
    return AnnotationSet(image_id, version, encoded)


@dataclass(frozen=True)
class _PreparedSave:
    """A whole-image save worked out against version ``expected`` of the image, ready to commit."""

    changes: list[Change]
    checked: list[tuple[Annotation, str]]  # the new and changed objects, validated
    ontology_version: int  # the project's ontology they were validated against
    objects: EncodedObjects  # the image's objects after the save


def _same(stored: bytes, doc: Mapping[str, Any]) -> bool:
    """Is ``doc`` the stored object: its canonical JSON byte for byte (an editor sending back what it
    loaded), or failing that, equal once decoded (a client that writes 5.0 as 5)?"""
    try:
        if orjson.dumps(doc) == stored:
            return True
    except orjson.JSONEncodeError:
        return False
    return bool(orjson.loads(stored) == doc)


def create_object(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    image_id: int,
    annotation: Annotation,
    expected_version: int | None,
) -> tuple[int, Annotation]:
    """Add one object (its id is assigned); returns the new version and the stored object."""
    expected = _require_version(expected_version)

    def _create(s: Session) -> tuple[int, Annotation]:
        scope = _editable(s, actor, project_id, image_id, expected)
        image = scope.the_image
        if repo.object_count(s, image.id) >= MAX_OBJECTS:
            raise Invalid(f"at most {MAX_OBJECTS} objects per image")
        doc = repo.to_doc(annotation.with_(id=image.next_object_id))
        version = commit_edit(
            s,
            scope,
            actor,
            {},
            {doc["id"]: doc},
            expected=expected,
            action="create",
            names={doc["id"]: "the new object"},
        )
        return version, repo.from_doc(doc)

    return db.write(_create)


def update_object(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    image_id: int,
    object_id: int,
    patch: Mapping[str, Any],
    expected_version: int | None,
) -> tuple[int, Annotation]:
    """Change some fields of one object. ``patch`` uses the keys of the annotation document; changing
    ``kind`` needs the geometry of the new kind."""
    expected = _require_version(expected_version)
    bad = set(patch) - PATCHABLE
    if bad:
        raise Invalid(f"cannot change {', '.join(sorted(bad))} of an object")

    def _update(s: Session) -> tuple[int, Annotation]:
        scope = _editable(s, actor, project_id, image_id, expected)
        old = repo.object_doc(s, image_id, object_id)
        if old is None:
            raise NotFound(f"object {object_id} not found on image {image_id}")
        kind = patch.get("kind", old["kind"])
        if kind not in GEOMETRY_KEYS:
            raise Invalid(f"object {object_id}: unknown kind {kind!r}")
        if kind != old["kind"] and kind not in patch:
            raise Invalid(f"object {object_id}: changing the kind to {kind} needs the {kind} geometry")
        merged = {k: v for k, v in {**old, **patch}.items() if k not in GEOMETRY_KEYS or k == kind}
        try:
            doc = repo.to_doc(repo.from_doc(merged))
        except (CodecError, ValueError, KeyError) as exc:
            raise Invalid(f"object {object_id}: {exc}") from None
        version = commit_edit(
            s, scope, actor, {object_id: old}, {object_id: doc}, expected=expected, action="update"
        )
        return version, repo.from_doc(doc)

    return db.write(_update)


def delete_object(
    db: Database,
    *,
    actor: Actor,
    project_id: int,
    image_id: int,
    object_id: int,
    expected_version: int | None,
) -> int:
    """Remove one object; returns the new version."""
    expected = _require_version(expected_version)

    def _delete(s: Session) -> int:
        scope = _editable(s, actor, project_id, image_id, expected)
        old = repo.object_doc(s, image_id, object_id)
        if old is None:
            raise NotFound(f"object {object_id} not found on image {image_id}")
        return commit_edit(s, scope, actor, {object_id: old}, {}, expected=expected, action="delete")

    return db.write(_delete)


def restore_version(
    db: Database, *, actor: Actor, project_id: int, image_id: int, version: int, expected_version: int | None
) -> AnnotationSet:
    """Make a past version current again, as a new version (the history keeps everything in between)."""
    expected = _require_version(expected_version)

    def _restore(s: Session) -> AnnotationSet:
        scope = _editable(s, actor, project_id, image_id, expected)
        image = scope.the_image
        if not 0 <= version <= image.annotation_version:
            raise NotFound(f"image {image.id} has versions 0 to {image.annotation_version}")
        before = repo.current_docs(s, image.id)
        after = repo.state_at(s, image, version)
        try:
            _validate(scope, before, after)
        except Invalid as exc:
            raise Conflict(
                f"version {version} holds objects the current ontology does not accept: {exc.problems[0]}",
                problems=exc.problems,
            ) from None
        new_version = _commit(
            s,
            scope,
            actor,
            repo.diff(before, after),
            expected=expected,
            action="restore",
            restored_from=version,
        )
        return _set(image.id, new_version, after)

    return db.write(_restore)
