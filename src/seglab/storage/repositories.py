"""Repositories: core types (Annotation, Ontology) in and out, rows and JSON documents hidden inside.

Annotation changes are lists of :class:`Change` (create, update or delete of one object with its
before/after documents). The service decides what changes; this module applies them, bumps the image's
annotation version with a compare-and-set, and appends the history row, all in the caller's transaction.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
from sqlalchemy import Integer, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from seglab.core.annotation import Annotation
from seglab.core.ontology import Ontology
from seglab.storage.codec import (
    annotation_from_json,
    annotation_to_json,
    ontology_from_json,
    ontology_to_json,
)
from seglab.storage.db import ORJSON_OPTIONS, JSONText, all_finite_json, encode_json, splice_json_text
from seglab.storage.models import AnnotationRow, BlobClaim, HistoryRow, Image, Job, Project, utcnow

Doc = dict[str, Any]
Op = Literal["create", "update", "delete"]

_ROW_FIELDS = (
    "label",
    "kind",
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


@dataclass(frozen=True)
class Change:
    """One object's change: ``before`` is None for a create, ``after`` is None for a delete."""

    op: Op
    object_id: int
    before: Doc | None
    after: Doc | None
    # ``after`` as orjson encodes it inside a history row (from :func:`encoded_object`), spliced in as
    # it is instead of being encoded a second time; None: encode ``after``.
    after_json: bytes | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> Doc:
        return {"op": self.op, "id": self.object_id, "before": self.before, "after": self.after}

    def history_json(self) -> Doc:
        after = self.after if self.after_json is None else orjson.Fragment(self.after_json)
        return {"op": self.op, "id": self.object_id, "before": self.before, "after": after}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Change:
        return cls(doc["op"], int(doc["id"]), doc.get("before"), doc.get("after"))


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    action: str
    user_id: int | None
    created_at: datetime
    changes: tuple[Change, ...]
    restored_from: int | None


# ------------------------------------------------------------------------------------------ documents


def _doc_from_row(row: AnnotationRow) -> Doc:
    doc: Doc = {"id": row.object_id}
    for name in _ROW_FIELDS:
        doc[name] = getattr(row, name)
    doc[row.kind] = row.geometry
    return _ordered(doc)


def _ordered(doc: Doc) -> Doc:
    """A document with its keys in the canonical order of :func:`annotation_to_json`."""
    kind = doc["kind"]
    keys = ("id", "label", "kind", kind, *(k for k in _ROW_FIELDS if k not in ("label", "kind")))
    return {k: doc.get(k) for k in keys}


def _row_values(doc: Doc) -> Doc:
    values = {name: doc.get(name) for name in _ROW_FIELDS}
    values["attributes"] = values["attributes"] or {}
    values["extra"] = values["extra"] or {}
    values["z_order"] = values["z_order"] or 0
    values["crowd"] = bool(values["crowd"])
    values["geometry"] = doc[doc["kind"]]
    values["object_id"] = doc["id"]
    return values


def _encoded_row_values(doc: Doc, image_id: int, project_id: int) -> Doc:
    """An annotation row's values with its JSON columns encoded (checked finite) for a bulk insert."""
    values = _row_values(doc)
    what = f"object {values['object_id']}"
    for column in ("geometry", "attributes", "extra"):
        if type(values[column]) is not JSONText:  # encoded by encoded_doc already
            values[column] = encode_json(values[column], f"{what} {column}")
    for column in ("score", "uncertainty"):
        number = values[column]
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(f"{what} {column} is NaN or infinity")
    values["image_id"] = image_id
    values["project_id"] = project_id
    return values


def encoded_doc(doc: Doc, what: str, *, geometry_checked: bool = False) -> tuple[Doc, bytes]:
    """``doc`` with its JSON columns (geometry, attributes, extra) encoded once and checked finite, and
    the whole document's JSON: the row, the cached JSON and the history entry all reuse those parts.
    ValueError (naming ``what``) for NaN or infinity anywhere. ``geometry_checked``: the geometry is that
    of an annotation the codec has just decoded (its numbers checked finite there), so it is encoded
    without a second check."""
    parts, encoded, _ = encoded_object(doc, what, geometry_checked=geometry_checked)
    return parts, encoded


def encoded_object(doc: Doc, what: str, *, geometry_checked: bool = False) -> tuple[Doc, bytes, bool]:
    """:func:`encoded_doc`, and whether its JSON is orjson's encoding of the parts (so it may stand for
    them inside a larger document encoded by orjson, e.g. as :attr:`Change.after_json`); False in the
    rare case that only the standard encoder could write them (an integer beyond 64 bits)."""
    parts = dict(doc)
    kind = doc["kind"]
    for key in (kind, "attributes", "extra"):
        parts[key] = encode_json(doc[key], f"{what} {key}", checked=geometry_checked and key == kind)
    # The rest are scalars (score, uncertainty: the only floats); anything else gets the full walk.
    for value in parts.values():
        kind_of_value = type(value)
        if kind_of_value is float:
            if not math.isfinite(value):
                raise ValueError(f"{what} contains NaN or infinity, which JSON cannot hold")
        elif kind_of_value not in _PLAIN_SCALARS and not all_finite_json(value):
            raise ValueError(f"{what} contains NaN or infinity, which JSON cannot hold")
    # The encoded parts as orjson fragments: what encode_json's hook splices in, without a call into
    # Python per part.
    spliced = {k: orjson.Fragment(v.text) if type(v) is JSONText else v for k, v in parts.items()}
    try:
        return parts, orjson.dumps(spliced, option=ORJSON_OPTIONS), True
    except orjson.JSONEncodeError:
        return parts, encode_json(parts, what, checked=True).text.encode(), False


_PLAIN_SCALARS = frozenset((str, int, bool, type(None), JSONText))


def to_doc(annotation: Annotation, *, arrays: bool = False) -> Doc:
    """The canonical document of an annotation (what the API sends and the history keeps); ``arrays``
    keeps point lists as numpy arrays for :func:`encode_json` and orjson's numpy option."""
    # annotation_to_json writes the keys in the canonical order already (a test holds it to _ordered).
    return annotation_to_json(annotation, arrays=arrays)


def from_doc(doc: Mapping[str, Any]) -> Annotation:
    return annotation_from_json(doc)


def diff(before: Mapping[int, Doc], after: Mapping[int, Doc]) -> list[Change]:
    """The per-object changes that turn ``before`` into ``after`` (unchanged objects are left out)."""
    changes = [Change("delete", oid, doc, None) for oid, doc in before.items() if oid not in after]
    for oid, doc in after.items():
        old = before.get(oid)
        if old is None:
            changes.append(Change("create", oid, None, doc))
        elif old != doc:
            changes.append(Change("update", oid, old, doc))
    return changes


# ---------------------------------------------------------------------------------------- annotations


_COLUMNS = (
    AnnotationRow.object_id,
    AnnotationRow.kind,
    AnnotationRow.geometry,
    *(getattr(AnnotationRow, name) for name in _ROW_FIELDS if name != "kind"),
)
_OTHER_FIELDS = tuple(name for name in _ROW_FIELDS if name not in ("label", "kind"))


def current_docs(session: Session, image_id: int) -> dict[int, Doc]:
    """The image's objects as documents keyed by object id, in id order.

    Plain columns, not ORM objects: an image may hold tens of thousands of objects, and this is the path
    of every load and save.
    """
    rows = session.execute(
        select(*_COLUMNS).where(AnnotationRow.image_id == image_id).order_by(AnnotationRow.object_id)
    )
    out: dict[int, Doc] = {}
    for object_id, kind, geometry, label, *rest in rows:
        doc: Doc = {"id": object_id, "label": label, "kind": kind, kind: geometry}
        doc.update(zip(_OTHER_FIELDS, rest, strict=True))
        out[object_id] = doc
    return out


def docs_of_images(session: Session, image_ids: Sequence[int]) -> dict[int, list[tuple[int, Doc]]]:
    """Every object of the given images, per image in object-id order, as ``(row id, document)``; the row
    id is unique across the database (exports number objects with it)."""
    out: dict[int, list[tuple[int, Doc]]] = {i: [] for i in image_ids}
    for start in range(0, len(image_ids), 500):
        rows = session.scalars(
            select(AnnotationRow)
            .where(AnnotationRow.image_id.in_(image_ids[start : start + 500]))
            .order_by(AnnotationRow.image_id, AnnotationRow.object_id)
        )
        for row in rows:
            out[row.image_id].append((row.id, _doc_from_row(row)))
    return out


class EncodedDocs:
    """A bounded LRU of images' documents at a version, as JSON arrays (bytes), shared by this process.

    Keys name the database, the image (its id and creation time, since SQLite may reuse the id of a
    deleted row) and the annotation version. Every change of an image's objects bumps its version with a
    compare-and-set, so an entry never goes stale: it is simply no longer asked for. This spares the
    hottest paths (loading an image, and the ``before`` side of saving it) decoding every row again.
    """

    def __init__(self, max_bytes: int = 64 * 1024**2) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    @staticmethod
    def key(session: Session, image: Image, version: int) -> tuple[Any, ...]:
        return (str(session.get_bind().url), image.id, image.created_at, version)

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def clear(self) -> None:
        """Forget every entry (the next reads encode the rows again)."""
        with self._lock:
            self._items.clear()
            self._size = 0

    def put(self, key: tuple[Any, ...], data: bytes) -> None:
        if len(data) > self.max_bytes // 4:
            return  # one huge image must not flush everyone else's
        with self._lock:
            old = self._items.pop(key, None)
            self._size -= len(old) if old is not None else 0
            self._items[key] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._size -= len(evicted)


DOCS_CACHE = EncodedDocs()


def object_doc(session: Session, image_id: int, object_id: int) -> Doc | None:
    row = session.scalar(
        select(AnnotationRow).where(AnnotationRow.image_id == image_id, AnnotationRow.object_id == object_id)
    )
    return None if row is None else _doc_from_row(row)


def object_count(session: Session, image_id: int) -> int:
    return int(session.scalar(select(func.count()).where(AnnotationRow.image_id == image_id)) or 0)


def load_annotations(session: Session, image_id: int) -> list[Annotation]:
    return [from_doc(d) for d in current_docs(session, image_id).values()]


# What the compare-and-set returns, set on the loaded image instead of reloading it: the columns it
# writes, and those the caller goes on to read (another transaction may have changed them meanwhile).
_BUMP_RETURNS = ("annotation_version", "next_object_id", "updated_at", "status", "assignee_id")


def _bump_statement(greatest: Any) -> Any:
    """The compare-and-set of :func:`bump_version`, built once with bound parameters, on the table (Core):
    building the statement anew, and the ORM's bulk-update bookkeeping, cost more than running it."""
    table = Image.__table__
    return (
        update(table)
        .where(
            table.c.id == bindparam("bump_image"),
            table.c.annotation_version == bindparam("bump_expected"),
        )
        .values(
            annotation_version=bindparam("bump_next", type_=Integer),
            next_object_id=greatest(table.c.next_object_id, bindparam("bump_next_object", type_=Integer)),
            updated_at=bindparam("bump_now", type_=table.c.updated_at.type),
        )
        .returning(*(table.c[name] for name in _BUMP_RETURNS))
    )


_BUMP_SQLITE = _bump_statement(func.max)
_BUMP = _bump_statement(func.greatest)
_ROWS = AnnotationRow.__table__
_DELETE_OBJECTS = delete(_ROWS).where(
    _ROWS.c.image_id == bindparam("image_id"), _ROWS.c.object_id.in_(bindparam("object_ids", expanding=True))
)
_INSERT_OBJECTS = insert(_ROWS)
_INSERT_HISTORY = insert(HistoryRow.__table__)


def bump_version(session: Session, image: Image, expected: int, *, next_object_id: int) -> bool:
    """Compare-and-set the image's annotation version from ``expected`` to ``expected + 1``.

    False when another transaction got there first: every writer goes through this statement, so on
    PostgreSQL the row lock orders them and on SQLite the write lock does.
    """
    session.flush()  # the Core statements below do not flush pending ORM changes on their own
    statement = _BUMP_SQLITE if session.get_bind().dialect.name == "sqlite" else _BUMP
    result = session.execute(
        statement,
        {
            "bump_image": image.id,
            "bump_expected": expected,
            "bump_next": expected + 1,
            "bump_next_object": next_object_id,
            "bump_now": utcnow(),
        },
    )
    row = result.first()
    if row is None:
        return False
    # The new values as the statement returned them: no second statement to reload the image.
    for name, value in zip(_BUMP_RETURNS, row, strict=True):
        set_committed_value(image, name, value)
    return True


def apply_changes(session: Session, image: Image, changes: Sequence[Change]) -> None:
    """Write the changes to the annotation rows of ``image`` (bulk statements, one per kind of change)."""
    session.flush()  # Core statements (built once): the ORM's bulk paths cost more than the statements
    deleted = [c.object_id for c in changes if c.op in ("delete", "update")]
    for start in range(0, len(deleted), 500):
        session.execute(_DELETE_OBJECTS, {"image_id": image.id, "object_ids": deleted[start : start + 500]})
    docs = [c.after for c in changes if c.after is not None]
    if docs:
        _insert_rows(session, image, docs)


# The annotation columns a bulk insert writes, in the order of the driver-level statements below.
_INSERT_COLUMNS = ("image_id", "project_id", "object_id", "label", "kind", "geometry", *_OTHER_FIELDS)
_COLUMN_LIST = ", ".join(_INSERT_COLUMNS)
_SQLITE_INSERT = f"INSERT INTO {_ROWS.name} ({_COLUMN_LIST}) VALUES ({', '.join('?' * len(_INSERT_COLUMNS))})"
_PG_COPY = f"COPY {_ROWS.name} ({_COLUMN_LIST}) FROM STDIN"
_INT32 = range(-(2**31), 2**31)  # the Integer columns on PostgreSQL
# The longest text each string column takes (String(n) of the model).
_LABEL_LIMIT, _KIND_LIMIT, _SOURCE_LIMIT = (_ROWS.c[name].type.length for name in ("label", "kind", "source"))


def _driver_row(doc: Doc, image_id: int, project_id: int) -> tuple[Any, ...] | None:
    """The row of :func:`_encoded_row_values` as the tuple the driver-level insert takes (JSON columns as
    their text), or None when a value is not one that both drivers store exactly as SQLAlchemy's typed
    insert does, or that insert would refuse (such rows take it, and fail as they did)."""
    kind = doc["kind"]
    geometry, attributes, extra = doc[kind], doc.get("attributes"), doc.get("extra")
    if type(geometry) is not JSONText or type(attributes) is not JSONText or type(extra) is not JSONText:
        return None
    object_id, label, source = doc["id"], doc.get("label"), doc.get("source")
    score, uncertainty = doc.get("score"), doc.get("uncertainty")
    z_order, group_id, track_id = doc.get("z_order") or 0, doc.get("group_id"), doc.get("track_id")
    for text, limit in ((label, _LABEL_LIMIT), (kind, _KIND_LIMIT), (source, _SOURCE_LIMIT)):
        if type(text) is not str or len(text) > limit or "\x00" in text:
            return None
    if (
        type(object_id) is not int
        or object_id not in _INT32
        or type(z_order) is not int
        or z_order not in _INT32
        or not (group_id is None or (type(group_id) is int and group_id in _INT32))
        or not (track_id is None or (type(track_id) is int and track_id in _INT32))
        or not (score is None or (type(score) is float and math.isfinite(score)))
        or not (uncertainty is None or (type(uncertainty) is float and math.isfinite(uncertainty)))
        or type(image_id) is not int
        or type(project_id) is not int
    ):
        return None
    return (
        image_id,
        project_id,
        object_id,
        label,
        kind,
        geometry.text,
        attributes.text,
        source,
        score,
        uncertainty,
        z_order,
        group_id,
        track_id,
        bool(doc.get("crowd")),
        extra.text,
    )


def _insert_rows(session: Session, image: Image, docs: list[Doc]) -> None:
    """Insert the annotation rows of encoded documents in one driver-level statement: COPY on
    PostgreSQL, an executemany of plain tuples on SQLite. SQLAlchemy's typed executemany processes every
    parameter of every row in Python, and psycopg's executemany sends one pipelined statement per row;
    on 1,000 polygons those cost more than all the rest of the insert. Documents with a value outside
    what the drivers take as it is (not encoded yet, a text too long, an integer out of range) take the
    typed insert, so what is stored and every error stay as they were."""
    dialect = session.get_bind().dialect
    tuples = []
    # The driver-level paths are written for the standard library's sqlite3 and psycopg 3; any other
    # driver (pg8000, say) takes SQLAlchemy's typed insert.
    if (dialect.name, dialect.driver) in (("sqlite", "pysqlite"), ("postgresql", "psycopg")):
        for doc in docs:
            row = _driver_row(doc, image.id, image.project_id)
            if row is None:
                break
            tuples.append(row)
    if len(tuples) != len(docs):
        session.execute(_INSERT_OBJECTS, [_encoded_row_values(d, image.id, image.project_id) for d in docs])
    elif dialect.name == "sqlite":
        session.connection().exec_driver_sql(_SQLITE_INSERT, tuples)
    else:
        _copy_rows(session.connection(), tuples)


def _copy_rows(connection: Any, tuples: list[tuple[Any, ...]]) -> None:
    """COPY the rows through psycopg, in the session's transaction; a database error comes out as
    SQLAlchemy's exception for it (as from ``execute``: the retry of transient conflicts relies on it)."""
    import psycopg

    driver = connection.connection.driver_connection
    try:
        with driver.cursor() as cursor, cursor.copy(_PG_COPY) as copy:
            for row in tuples:
                copy.write_row(row)
    except psycopg.Error as exc:
        raise DBAPIError.instance(
            _PG_COPY, None, exc, psycopg.Error, dialect=connection.dialect, ismulti=True
        ) from exc


def append_history(
    session: Session,
    image: Image,
    *,
    version: int,
    action: str,
    user_id: int | None,
    changes: Sequence[Change],
    restored_from: int | None = None,
    checked: bool = False,
) -> None:
    """One history row holding the before/after of every object the change touched (one statement, its
    JSON encoded once with orjson after the finiteness check; ``checked``: every document is already
    checked finite, e.g. made by :func:`encoded_doc` or read from stored JSON)."""
    session.flush()
    session.execute(
        _INSERT_HISTORY,
        {
            "image_id": image.id,
            "project_id": image.project_id,
            "version": version,
            "action": action,
            "user_id": user_id,
            "changes": _history_json(changes, f"history of image {image.id}", checked=checked),
            "restored_from": restored_from,
            "created_at": utcnow(),
        },
    )


def _history_json(changes: Sequence[Change], what: str, *, checked: bool) -> JSONText:
    """The history row's JSON: as :func:`encode_json` writes ``[c.to_json() for c in changes]``, with the
    ``after`` documents already encoded (:attr:`Change.after_json`) spliced in as they are."""
    if checked and any(c.after_json is not None for c in changes):
        try:
            return JSONText(
                orjson.dumps(
                    [c.history_json() for c in changes], default=splice_json_text, option=ORJSON_OPTIONS
                ).decode()
            )
        except orjson.JSONEncodeError:
            pass  # an integer beyond 64 bits: the standard encoder writes the whole row, as before
    return encode_json([c.to_json() for c in changes], what, checked=checked)


def history(
    session: Session, image_id: int, *, before_version: int | None = None, limit: int = 50
) -> list[HistoryEntry]:
    """History entries newest first, ``limit`` of them, older than ``before_version`` when given."""
    query = select(HistoryRow).where(HistoryRow.image_id == image_id)
    if before_version is not None:
        query = query.where(HistoryRow.version < before_version)
    rows = session.scalars(query.order_by(HistoryRow.version.desc()).limit(limit))
    return [
        HistoryEntry(
            version=r.version,
            action=r.action,
            user_id=r.user_id,
            created_at=r.created_at,
            changes=tuple(Change.from_json(c) for c in r.changes),
            restored_from=r.restored_from,
        )
        for r in rows
    ]


def state_at(session: Session, image: Image, version: int) -> dict[int, Doc]:
    """The image's objects as they were at ``version``: the current set with later changes undone."""
    state = current_docs(session, image.id)
    rows = session.scalars(
        select(HistoryRow.changes)
        .where(HistoryRow.image_id == image.id, HistoryRow.version > version)
        .order_by(HistoryRow.version.desc())
    )
    for changes in rows:
        for raw in reversed(changes):
            change = Change.from_json(raw)
            if change.before is None:
                state.pop(change.object_id, None)
            else:
                state[change.object_id] = change.before
    return dict(sorted(state.items()))


def count_labels(session: Session, project_id: int, labels: Iterable[str]) -> dict[str, int]:
    """How many objects of the project use each of ``labels`` (labels with no object are left out)."""
    names = list(labels)
    if not names:
        return {}
    rows = session.execute(
        select(AnnotationRow.label, func.count())
        .where(AnnotationRow.project_id == project_id, AnnotationRow.label.in_(names))
        .group_by(AnnotationRow.label)
    )
    return {label: int(n) for label, n in rows}


def count_label_kinds(session: Session, project_id: int, label: str, kinds: Iterable[str]) -> int:
    """How many objects of class ``label`` have a shape kind among ``kinds``."""
    return int(
        session.scalar(
            select(func.count()).where(
                AnnotationRow.project_id == project_id,
                AnnotationRow.label == label,
                AnnotationRow.kind.in_(list(kinds)),
            )
        )
        or 0
    )


def images_with_label(session: Session, project_id: int, label: str) -> list[int]:
    return list(
        session.scalars(
            select(AnnotationRow.image_id)
            .where(AnnotationRow.project_id == project_id, AnnotationRow.label == label)
            .distinct()
        )
    )


# ------------------------------------------------------------------------------------------- ontology


def get_ontology(project: Project) -> Ontology:
    return ontology_from_json(project.ontology)


def set_ontology(project: Project, ontology: Ontology) -> None:
    project.ontology = ontology_to_json(ontology)
    project.ontology_version += 1
    project.updated_at = utcnow()


# ---------------------------------------------------------------------------------------- blob claims

LIVE_JOB_STATUSES = ("queued", "running")


def lock_blob_keys(session: Session, keys: Iterable[str]) -> None:
    """Serialize this transaction with every other one that claims or collects any of ``keys``.

    On PostgreSQL a transaction-scoped advisory lock per key (taken in sorted order, so two lockers never
    deadlock); SQLite runs one write transaction at a time, which already serializes them.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


def claim_blobs(
    session: Session, keys: Sequence[str], *, job_id: int | None = None, ttl: timedelta | None = None
) -> list[int]:
    """Claim ``keys`` (see :class:`BlobClaim`): for ``ttl``, or while job ``job_id`` runs. Commit the claim
    before looking at the blobs; garbage collection takes the same key locks, so it either ran before
    (the blob is gone and the writer stores it again) or sees the claim."""
    if job_id is None and ttl is None:
        raise ValueError("a claim needs a job or a time to live")
    lock_blob_keys(session, keys)
    now = utcnow()
    rows = [
        BlobClaim(key=key, job_id=job_id, expires_at=None if ttl is None else now + ttl, created_at=now)
        for key in dict.fromkeys(keys)
    ]
    session.add_all(rows)
    session.flush()
    return [r.id for r in rows]


def release_claims(session: Session, claim_ids: Sequence[int] = (), *, job_id: int | None = None) -> None:
    """Drop claims by id, or every claim of a job."""
    if claim_ids:
        session.execute(delete(BlobClaim).where(BlobClaim.id.in_(list(claim_ids))))
    if job_id is not None:
        session.execute(delete(BlobClaim).where(BlobClaim.job_id == job_id))


def _live_claim(now: datetime) -> Any:
    """A claim that still protects its key. Written without NULL comparisons, so its negation selects
    exactly the dead claims (``NOT (NULL > now)`` would be NULL, not true)."""
    live_job = select(Job.id).where(Job.id == BlobClaim.job_id, Job.status.in_(LIVE_JOB_STATUSES)).exists()
    return or_(
        and_(BlobClaim.expires_at.is_not(None), BlobClaim.expires_at > now),
        and_(BlobClaim.expires_at.is_(None), live_job),
    )


def claimed_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Those of ``keys`` that a live claim holds."""
    now = utcnow()
    out: set[str] = set()
    for start in range(0, len(keys), 500):
        out.update(
            session.scalars(
                select(BlobClaim.key).where(BlobClaim.key.in_(keys[start : start + 500]), _live_claim(now))
            )
        )
    return out


def purge_dead_claims(session: Session) -> int:
    """Delete claims that no longer protect anything (expired, or their job has ended)."""
    done = session.execute(
        delete(BlobClaim).where(~_live_claim(utcnow())).execution_options(synchronize_session=False)
    )
    return int(done.rowcount or 0)  # type: ignore[attr-defined]
