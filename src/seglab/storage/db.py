"""Engines, transactions with retries, and migrations at startup.

SQLite (the default) runs in WAL mode with ``synchronous=FULL`` (an acknowledged save survives a crash or
power loss), foreign keys on and a busy timeout. Write transactions start with ``BEGIN IMMEDIATE`` so two
writers queue on the lock instead of failing when a read transaction upgrades; a "database is locked" that
still escapes is retried. PostgreSQL goes through psycopg 3 (``postgresql+psycopg://``); serialization
failures and deadlocks (SQLSTATE 40001, 40P01) are retried the same way.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from seglab.core.geometry import all_finite

T = TypeVar("T")


class JSONText:
    """A JSON column value already encoded by :func:`encode_json` (checked finite), written as it is.

    The hot write path (an image's objects and their history) encodes with orjson, several times faster
    than ``json.dumps`` on thousands of polygons; orjson writes NaN and infinity as ``null``, so only
    values that went through the finiteness check of :func:`encode_json` may skip the strict encoder.
    Nested inside a value given to :func:`encode_json`, it is spliced in as it is (an object's geometry
    encoded once serves its row, its cached JSON and its history entry).
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"JSONText({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JSONText) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def all_finite_json(value: Any) -> bool:
    """No NaN or infinity anywhere in ``value`` (nested lists, tuples, dicts and numpy arrays)."""
    kind = type(value)
    if kind is float:
        return math.isfinite(value)
    if kind is str or kind is int or kind is bool or value is None or kind is JSONText:
        return True
    if kind is dict:
        return all(map(all_finite_json, value.values()))
    if kind is np.ndarray:
        return value.dtype.kind not in "fc" or all_finite(value)
    if kind is list or kind is tuple:
        if not value:
            return True
        first = type(value[0])
        if first is float or first is int:
            try:
                # A row of numbers in one C call; a non-finite sum (NaN, infinity, or an overflow of huge
                # finite numbers) falls through to the exact check below.
                if math.isfinite(sum(value)):
                    return True
            except (TypeError, OverflowError):
                pass  # holds other things after the first number, or an integer beyond a float's range
        return all(map(all_finite_json, value))
    if isinstance(value, float | np.floating):  # a subclass such as numpy.float64
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(map(all_finite_json, value))
    if isinstance(value, Mapping):
        return all(map(all_finite_json, value.values()))
    return True  # other scalars: nothing to check


def encode_json(value: Any, what: str = "value", *, checked: bool = False) -> JSONText:
    """``value`` as standard JSON for a JSON column; ValueError naming ``what`` for NaN or infinity.

    ``value`` may hold numpy arrays (the point lists of the codec's ``arrays=True`` documents).
    ``checked``: the caller has already checked every number finite (the codec does when it decodes a
    geometry), so the walk over ``value`` is skipped.
    """
    if type(value) is dict and not value:
        return _EMPTY_OBJECT  # most attributes and extras: nothing to check or encode
    if not checked and not all_finite_json(value):
        raise ValueError(f"{what} contains NaN or infinity, which JSON cannot hold")
    try:
        return JSONText(orjson.dumps(value, default=splice_json_text, option=ORJSON_OPTIONS).decode())
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: the standard encoder handles it
        return JSONText(_strict_dumps(value))


ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_EMPTY_OBJECT = JSONText("{}")


def splice_json_text(value: Any) -> Any:
    """orjson's hook for types it does not know: checked :class:`JSONText` goes in as it is."""
    if type(value) is JSONText:
        return orjson.Fragment(value.text)
    raise TypeError(f"cannot store a {type(value).__name__} as JSON")


def _plain(value: Any) -> Any:
    """numpy arrays and scalars as the lists and numbers the standard encoder writes."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    if isinstance(value, JSONText):
        return orjson.loads(value.text)
    raise TypeError(f"cannot store a {type(value).__name__} as JSON")


_strict_dumps = functools.partial(json.dumps, allow_nan=False, separators=(",", ":"), default=_plain)


def _serialize_json(value: Any) -> str:
    """Strict standard JSON (NaN or infinity is an error, never written); text from :func:`encode_json`
    is already checked and goes as it is."""
    if type(value) is JSONText:
        return value.text
    return _strict_dumps(value)


# JSON columns: strict standard JSON on the way in, and orjson on the way out, several times faster when
# an image's thousands of polygons are loaded.
JSON_CODEC: dict[str, Any] = {"json_serializer": _serialize_json, "json_deserializer": orjson.loads}

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
RETRY_ATTEMPTS = 8
_RETRY_SQLSTATES = {"40001", "40P01"}


def _is_transient(exc: BaseException) -> bool:
    """A lock or serialization conflict that succeeds when the transaction is simply run again."""
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower()
        if "database is locked" in text or "database is busy" in text or "database table is locked" in text:
            return True
    if isinstance(exc, DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if sqlstate in _RETRY_SQLSTATES:
            return True
    return False


def _sqlite_engine(url: str, busy_timeout_s: float) -> Engine:
    path = make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_s},
        pool_size=10,
        max_overflow=20,
        **JSON_CODEC,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so BEGIN IMMEDIATE can be emitted below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get("seglab_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def make_engine(url: str, *, busy_timeout_s: float = 30.0) -> Engine:
    """An engine for ``url``: SQLite with the pragmas above, or PostgreSQL through psycopg 3."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, busy_timeout_s)
    if parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", ""):
            raise ValueError(f"use postgresql+psycopg:// (psycopg 3), not {parsed.drivername}")
        return create_engine(
            parsed.set(drivername="postgresql+psycopg"),
            pool_size=10,
            max_overflow=20,
            pool_pre_ping=True,
            **JSON_CODEC,
        )
    raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)}")


class Database:
    """Runs units of work in transactions, retrying transient lock and serialization conflicts.

    ``write(fn)`` and ``read(fn)`` call ``fn(session)`` inside one transaction; ``write`` commits when
    ``fn`` returns and rolls back when it raises. ``fn`` may run more than once, so it must not have side
    effects outside the session (write blobs before, not inside).
    """

    def __init__(self, url: str, *, busy_timeout_s: float = 30.0) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout_s=busy_timeout_s)
        self._write = sessionmaker(self.engine.execution_options(seglab_write=True), expire_on_commit=False)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Threads of this process queue for it on a lock, in order and
        # woken as soon as it is free, instead of polling SQLite's busy handler, which sleeps in steps of
        # up to 100 ms and turns 20 concurrent saves into seconds of latency. Other processes still wait
        # through the busy timeout.
        self._writer: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self.is_sqlite else contextlib.nullcontext()
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def write(self, fn: Callable[[Session], T]) -> T:
        return self._run(self._write, fn, commit=True)

    def read(self, fn: Callable[[Session], T]) -> T:
        return self._run(self._read, fn, commit=False)

    def _run(self, factory: sessionmaker[Session], fn: Callable[[Session], T], *, commit: bool) -> T:
        for attempt in range(RETRY_ATTEMPTS):
            session = factory()
            try:
                if commit:
                    with self._writer, session.begin():
                        return fn(session)
                return fn(session)  # close() below ends the read transaction, keeping loaded objects usable
            except DBAPIError as exc:
                if not _is_transient(exc) or attempt == RETRY_ATTEMPTS - 1:
                    raise
                time.sleep(min(0.02 * 2**attempt, 1.0) * (0.5 + random.random()))
            finally:
                session.close()
        raise AssertionError("unreachable")  # the loop returns or raises

    def migrate(self) -> None:
        """Bring the schema to the newest revision (a fresh database gets every table)."""
        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(engine: Engine | None = None) -> Config:
    """Alembic's configuration for the migrations shipped inside the package (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)
