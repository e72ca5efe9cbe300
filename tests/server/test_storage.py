"""Storage: migrations from an empty database, SQLite durability settings, concurrent writers, the
content-addressed blob store and the JSON codec of core types."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pycocotools import mask as coco_mask
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import OperationalError

from seglab.core.annotation import Annotation
from seglab.core.geometry import Box
from seglab.demo import build_sample_dataset
from seglab.service import annotations, auth, images, projects
from seglab.service.access import Actor
from seglab.service.errors import PreconditionFailed
from seglab.storage import db as dbmod
from seglab.storage.blobs import BlobStore, content_key, sha256_hex
from seglab.storage.codec import CodecError, ontology_from_json, ontology_to_json, rle_counts
from seglab.storage.models import Base
from seglab.storage.repositories import from_doc, to_doc
from tests.server.conftest import PG_ADMIN_URL, _postgres_url, image_bytes, postgres_unreachable

TABLES = {t.name for t in Base.metadata.sorted_tables}
HEAD = "0005"
OLD_NOW = "2026-01-01 00:00:00+00:00"


def _seed_old_rows(
    conn: Connection, *, with_meta: bool, status: str = "new", annotation_version: int = 0
) -> None:
    """Insert user 1, project 1 and image 1 (a.png, 4x3) with raw SQL, since at an old revision the ORM models
    are ahead of the schema; `with_meta` is False before revision 0002 added images.meta."""
    conn.execute(
        text(
            "INSERT INTO users (id, username, display_name, password_hash, is_admin, is_active,"
            " created_at) VALUES (1, 'old', '', 'x', false, true, :now)"
        ),
        {"now": OLD_NOW},
    )
    conn.execute(
        text(
            "INSERT INTO projects (id, name, description, ontology, ontology_version, created_by,"
            " created_at, updated_at) VALUES (1, 'old', '', '{}', 1, 1, :now, :now)"
        ),
        {"now": OLD_NOW},
    )
    meta_column, meta_value = (" meta,", " '{}',") if with_meta else ("", "")
    conn.execute(
        text(
            "INSERT INTO images (id, project_id, file_name, checksum, width, height, storage_key,"
            " media_type, byte_size, status, annotation_version, next_object_id,"
            f"{meta_column} created_at, updated_at) VALUES (1, 1, 'a.png', 'c', 4, 3, 'k', 'image/png', 10,"
            f" :status, :version, 1,{meta_value} :now, :now)"
        ),
        {"now": OLD_NOW, "status": status, "version": annotation_version},
    )


def _from_previous_revision(database: dbmod.Database) -> None:
    """A database populated at revision 0001 upgrades to the newest schema with its rows intact."""
    dbmod.upgrade(database.engine, "0001")
    with database.engine.begin() as conn:
        _seed_old_rows(conn, with_meta=False)
    database.migrate()
    _check_schema(database)
    with database.engine.connect() as conn:
        row = conn.execute(text("SELECT file_name, subset, meta FROM images")).one()
        meta = row.meta if isinstance(row.meta, dict) else json.loads(row.meta)
        assert (row.file_name, row.subset, meta) == ("a.png", None, {})
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 0


def _from_0002(database: dbmod.Database) -> None:
    """A database at revision 0002 with a job and an image upgrades to 0003: rows intact, no claims yet,
    and claims work (a job's claim goes with its job)."""
    dbmod.upgrade(database.engine, "0002")
    with database.engine.begin() as conn:
        _seed_old_rows(conn, with_meta=True)
        conn.execute(
            text(
                "INSERT INTO jobs (id, kind, status, project_id, created_by, params, progress, message,"
                " attempts, max_attempts, cancel_requested, created_at) VALUES (7, 'import', 'running', 1,"
                " 1, '{}', 0.5, 'm', 1, 2, false, :now)"
            ),
            {"now": OLD_NOW},
        )
    database.migrate()
    _check_schema(database)
    with database.engine.begin() as conn:
        assert conn.execute(text("SELECT file_name FROM images")).scalar() == "a.png"
        assert conn.execute(text("SELECT status FROM jobs WHERE id = 7")).scalar() == "running"
        assert conn.execute(text("SELECT count(*) FROM blob_claims")).scalar() == 0
        conn.execute(
            text("INSERT INTO blob_claims (key, job_id, created_at) VALUES ('images/x', 7, :now)"),
            {"now": OLD_NOW},
        )
        conn.execute(text("DELETE FROM jobs WHERE id = 7"))
        assert conn.execute(text("SELECT count(*) FROM blob_claims")).scalar() == 0  # cascades
    dbmod.downgrade(database.engine, "0002")
    with database.engine.connect() as conn:
        assert "blob_claims" not in inspect(conn).get_table_names()
        assert conn.execute(text("SELECT count(*) FROM images")).scalar() == 1


def _from_0003(database: dbmod.Database) -> None:
    """A database at 0003 with a reviewed image upgrades to 0004: the review log starts empty, takes rows
    that go with their image, and downgrading drops only the log."""
    dbmod.upgrade(database.engine, "0003")
    with database.engine.begin() as conn:
        _seed_old_rows(conn, with_meta=True, status="approved", annotation_version=3)
    database.migrate()
    _check_schema(database)
    with database.engine.begin() as conn:
        assert conn.execute(text("SELECT status FROM images")).scalar() == "approved"
        assert conn.execute(text("SELECT count(*) FROM review_events")).scalar() == 0
        conn.execute(
            text(
                "INSERT INTO review_events (image_id, project_id, action, from_status, to_status, user_id,"
                " annotation_version, created_at) VALUES (1, 1, 'reopen', 'approved', 'in_progress', 1, 3,"
                " :now)"
            ),
            {"now": OLD_NOW},
        )
        conn.execute(text("DELETE FROM images WHERE id = 1"))
        assert conn.execute(text("SELECT count(*) FROM review_events")).scalar() == 0  # cascades
    dbmod.downgrade(database.engine, "0003")
    with database.engine.connect() as conn:
        assert "review_events" not in inspect(conn).get_table_names()
        assert "blob_claims" in inspect(conn).get_table_names()


_OLD_GEOMETRY = '{"parts": [{"holes": [], "exterior": [[0.5, 0.5], [3.5, 0.5], [3.5, 2.5]]}]}'
_OLD_EXTRA = '{"reviewed": true, "note": "a"}'


def _column_types(conn: Connection) -> dict[tuple[str, str], str]:
    """PostgreSQL's type name of every document column (empty on SQLite)."""
    if conn.dialect.name != "postgresql":
        return {}
    rows = conn.execute(
        text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name IN"
            " ('annotations', 'predictions', 'annotation_history')"
            " AND column_name IN ('geometry', 'attributes', 'extra', 'changes')"
        )
    )
    return {(t, c): d for t, c, d in rows}


def _from_0004(database: dbmod.Database) -> None:
    """A database at 0004 with objects, a history entry and a prediction upgrades to 0005 (PostgreSQL: the
    document columns become ``json``, large ones LZ4-compressed): the documents are intact, the service reads
    and saves them, and downgrading gives JSONB back with the same documents."""
    dbmod.upgrade(database.engine, "0004")
    with database.engine.begin() as conn:
        _seed_old_rows(conn, with_meta=True, annotation_version=1)
        conn.execute(
            text("UPDATE projects SET ontology = :o"), {"o": json.dumps({"classes": [{"name": "car"}]})}
        )
        conn.execute(
            text(
                "INSERT INTO annotations (image_id, project_id, object_id, label, kind, geometry, attributes,"
                " source, z_order, crowd, extra) VALUES (1, 1, 1, 'car', 'polygon', :g, '{}', 'human', 0,"
                " false, :e)"
            ),
            {"g": _OLD_GEOMETRY, "e": _OLD_EXTRA},
        )
        conn.execute(text("UPDATE images SET next_object_id = 2"))
        conn.execute(
            text(
                "INSERT INTO annotation_history (image_id, project_id, version, action, user_id, created_at,"
                " changes) VALUES (1, 1, 1, 'save', 1, :now, :c)"
            ),
            {"now": OLD_NOW, "c": json.dumps([{"op": "create", "id": 1, "before": None, "after": {"x": 1}}])},
        )
        conn.execute(
            text(
                "INSERT INTO predictions (project_id, image_id, model, label, kind, geometry, attributes,"
                " score, extra, status, created_at) VALUES (1, 1, 'm', 'car', 'polygon', :g, '{}', 0.5, '{}',"
                " 'pending', :now)"
            ),
            {"g": _OLD_GEOMETRY, "now": OLD_NOW},
        )
        before = _column_types(conn)
    database.migrate()
    _check_schema(database)
    documents = (
        "SELECT a.geometry, a.extra, h.changes, p.geometry FROM annotations a, annotation_history h,"
        " predictions p"
    )

    def decoded(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    expected = (
        json.loads(_OLD_GEOMETRY),
        json.loads(_OLD_EXTRA),
        [{"op": "create", "id": 1, "before": None, "after": {"x": 1}}],
        json.loads(_OLD_GEOMETRY),
    )
    with database.engine.connect() as conn:
        assert tuple(map(decoded, conn.execute(text(documents)).one())) == expected
        if conn.dialect.name == "postgresql":
            assert set(before.values()) == {"jsonb"}
            assert set(_column_types(conn).values()) == {"json"}
            compression = conn.execute(
                text(
                    "SELECT attcompression FROM pg_attribute WHERE attrelid = 'annotation_history'::regclass"
                    " AND attname = 'changes'"
                )
            ).scalar()
            lz4 = "lz4" in str(
                conn.execute(
                    text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
                ).scalar()
            )
            assert compression == ("l" if lz4 else ""), compression  # LZ4 where the server has it
    # The service reads the migrated text (JSONB's spacing) and saves over it.
    actor = Actor(user_id=1, username="old", is_admin=True)
    loaded = annotations.get_annotations(database, actor=actor, project_id=1, image_id=1)
    (obj,) = json.loads(loaded.encoded)
    assert obj["polygon"] == json.loads(_OLD_GEOMETRY) and obj["extra"] == json.loads(_OLD_EXTRA)
    saved = annotations.save_documents(
        database, actor=actor, project_id=1, image_id=1, documents=[obj], expected_version=loaded.version
    )
    assert saved.version == loaded.version  # the same object sent back: nothing to save
    obj["polygon"]["parts"][0]["exterior"][0] = [1.5, 0.5]
    saved = annotations.save_documents(
        database, actor=actor, project_id=1, image_id=1, documents=[obj], expected_version=loaded.version
    )
    assert saved.version == loaded.version + 1
    dbmod.downgrade(database.engine, "0004")
    with database.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            assert set(_column_types(conn).values()) == {"jsonb"}
        row = conn.execute(text("SELECT geometry, extra FROM annotations")).one()
        moved = {"parts": [{"exterior": [[1.5, 0.5], [3.5, 0.5], [3.5, 2.5]], "holes": []}]}
        assert (decoded(row[0]), decoded(row[1])) == (moved, json.loads(_OLD_EXTRA))


def _check_schema(database: dbmod.Database) -> None:
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == [], diff
        assert set(inspect(conn).get_table_names()) >= TABLES
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD


def _round_trip(database: dbmod.Database) -> None:
    database.migrate()
    _check_schema(database)
    dbmod.downgrade(database.engine, "base")
    with database.engine.connect() as conn:
        assert not TABLES & set(inspect(conn).get_table_names())
    database.migrate()
    database.migrate()  # idempotent
    _check_schema(database)


def test_sqlite_migrates_from_empty_and_back(tmp_path: Path) -> None:
    database = dbmod.Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        _round_trip(database)
    finally:
        database.dispose()


def test_sqlite_upgrades_from_the_previous_revision(tmp_path: Path) -> None:
    database = dbmod.Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        _from_previous_revision(database)
    finally:
        database.dispose()


def test_sqlite_upgrades_from_0003(tmp_path: Path) -> None:
    database = dbmod.Database(f"sqlite:///{tmp_path / 'v3.db'}")
    try:
        _from_0003(database)
    finally:
        database.dispose()


def test_sqlite_upgrades_from_0004(tmp_path: Path) -> None:
    database = dbmod.Database(f"sqlite:///{tmp_path / 'v4.db'}")
    try:
        _from_0004(database)
    finally:
        database.dispose()


def test_sqlite_upgrades_from_0002(tmp_path: Path) -> None:
    database = dbmod.Database(f"sqlite:///{tmp_path / 'v2.db'}")
    try:
        _from_0002(database)
    finally:
        database.dispose()


@pytest.mark.parametrize("check", ["round_trip", "previous", "0002", "0003", "0004"])
def test_postgresql_migrates_from_empty_and_from_the_previous_revision(check: str) -> None:
    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    import psycopg

    schema = f"seglab_mig_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    database = dbmod.Database(_postgres_url(schema))
    try:
        checks = {"round_trip": _round_trip, "previous": _from_previous_revision, "0002": _from_0002}
        checks["0003"] = _from_0003
        checks["0004"] = _from_0004
        checks[check](database)
    finally:
        database.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_sqlite_runs_in_wal_with_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    database = dbmod.Database(f"sqlite:///{tmp_path / 'p.db'}", busy_timeout_s=7)
    try:
        with database.engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
        assert pragma == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "busy_timeout": 7000}
    finally:
        database.dispose()


def test_lock_and_serialization_errors_are_classified_as_retryable() -> None:
    class PgError(Exception):
        sqlstate = "40001"

    assert dbmod._is_transient(OperationalError("x", {}, Exception("database is locked")))
    assert dbmod._is_transient(OperationalError("x", {}, PgError("could not serialize access")))
    assert not dbmod._is_transient(OperationalError("x", {}, Exception("no such table: users")))


def test_many_sqlite_writers_never_see_database_is_locked(tmp_path: Path) -> None:
    """Eight threads save at once (six on their own image, two racing on one): no lock error reaches them,
    every accepted save is one version with one history row, and racing saves lose cleanly with 412."""
    database = dbmod.Database(f"sqlite:///{tmp_path / 'c.db'}")
    database.migrate()
    blobs = BlobStore(str(tmp_path / "blobs"))
    passwords = auth.Passwords(time_cost=1, memory_kib=1024)
    user = auth.create_user(
        database, passwords, actor=None, username="w", password="password1", is_admin=True
    )
    actor = Actor(user.id, user.username, True)
    dataset = build_sample_dataset()
    pid = projects.create_project(database, actor=actor, name="load", ontology=dataset.ontology).id
    files = [(f"{i}.png", image_bytes((320, 240), seed=i)) for i in range(7)]
    ids = [
        i.id
        for i in images.upload_images(
            database, blobs, actor=actor, project_id=pid, files=files, max_pixels=10**7
        )
    ]
    errors: list[BaseException] = []
    conflicts = [0]

    def writer(image_id: int, racing: bool) -> None:
        try:
            for n in range(12):
                while True:
                    current = annotations.get_annotations(
                        database, actor=actor, project_id=pid, image_id=image_id
                    )
                    objects = [Annotation(0, "sign", Box(1.0 + n, 2.0, 30.0, 40.0 + k)) for k in range(3)]
                    try:
                        annotations.save_annotations(
                            database,
                            actor=actor,
                            project_id=pid,
                            image_id=image_id,
                            annotations=objects,
                            expected_version=current.version,
                        )
                        break
                    except PreconditionFailed:
                        conflicts[0] += 1
                        assert racing
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(ids[i], False)) for i in range(6)]
    threads += [threading.Thread(target=writer, args=(ids[6], True)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i, image_id in enumerate(ids):
        final = annotations.get_annotations(database, actor=actor, project_id=pid, image_id=image_id)
        history = annotations.list_history(
            database, actor=actor, project_id=pid, image_id=image_id, limit=500
        )
        expected = 24 if i == 6 else 12
        assert final.version == expected and [h.version for h in history] == list(range(expected, 0, -1))
    database.dispose()


def test_blob_store_is_content_addressed_and_refuses_bad_keys(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "blobs"))
    data = b"pixels"
    key = content_key(sha256_hex(data), "PNG")
    assert key.startswith("images/") and key.endswith(".png")
    store.put(key, data)
    assert store.exists(key) and store.get(key) == data and b"".join(store.iter_chunks(key)) == data
    assert not list((tmp_path / "blobs").rglob(".tmp-*"))  # no temporary file left behind
    for bad in ("../x", "/etc/passwd", "a//b", "a/./b"):
        with pytest.raises(ValueError):
            store.put(bad, data)
    with pytest.raises(ValueError):
        content_key("not-a-digest", "png")
    store.delete(key)
    assert not store.exists(key)


def test_rle_counts_decode_like_pycocotools_and_reject_garbage() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        m = rng.random((h, w)) < rng.random()
        rle = coco_mask.encode(np.asfortranarray(m.astype(np.uint8)))
        runs = rle_counts(rle["counts"].decode())
        assert int(runs.sum()) == h * w
        flat = m.ravel(order="F")
        assert np.array_equal(np.repeat(np.arange(len(runs)) % 2 == 1, runs), flat)
    for bad in ("\x7f\x7f", "é", "0" + chr(48 + 0x20)):
        with pytest.raises(CodecError):
            rle_counts(bad)


def test_documents_round_trip_core_types() -> None:
    dataset = build_sample_dataset()
    assert ontology_from_json(ontology_to_json(dataset.ontology)) == dataset.ontology
    for _, ann in dataset.annotations():
        doc = to_doc(ann)
        assert from_doc(doc) == ann and to_doc(from_doc(doc)) == doc
