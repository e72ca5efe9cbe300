"""Users, passwords, browser sessions and personal API tokens.

Passwords are hashed with argon2id. Session cookies and API tokens are random 256-bit values of which only
the SHA-256 is stored, so a copy of the database grants nothing. Registration is closed: admins create
users. Slow password hashing happens outside the database transaction, which never holds a lock while
argon2 runs.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
import weakref
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seglab.service.access import Actor
from seglab.service.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from seglab.service.views import NewToken, TokenView, UserView
from seglab.storage.db import Database
from seglab.storage.models import ApiToken, AuthSession, User, utcnow

USERNAME = re.compile(r"[A-Za-z0-9._@+-]{1,150}")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
TOKEN_PREFIX = "sgl_"


class Passwords:
    """argon2id hashing with the configured cost."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 64 * 1024) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._dummy = self._hasher.hash("seglab-timing-dummy")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Constant work whether or not the user exists (a missing user is checked against a dummy hash)."""
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_password_rules(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Invalid(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def _check_username(username: str) -> None:
    if not USERNAME.fullmatch(username):
        raise Invalid("a user name has 1 to 150 characters among letters, digits and . _ @ + -")


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("only administrators manage users")


def _actor(user: User) -> Actor:
    return Actor(user.id, user.username, user.is_admin)


# ------------------------------------------------------------------------------------------ logging in


def login(
    db: Database, passwords: Passwords, *, username: str, password: str, hours: int
) -> tuple[str, Actor]:
    """Check the password and open a session; returns the cookie value (shown once) and the user."""
    found = db.read(lambda s: s.scalar(select(User).where(User.username == username)))
    ok = passwords.verify(found.password_hash if found else None, password)
    if found is None or not ok or not found.is_active:
        raise Unauthorized("wrong user name or password")
    user = found
    new_hash = passwords.hash(password) if passwords.needs_rehash(user.password_hash) else None
    value = secrets.token_urlsafe(32)
    now = utcnow()

    def _open(s: Session) -> None:
        s.execute(delete(AuthSession).where(AuthSession.user_id == user.id, AuthSession.expires_at < now))
        s.add(
            AuthSession(
                token_hash=digest(value),
                user_id=user.id,
                created_at=now,
                expires_at=now + timedelta(hours=hours),
            )
        )
        if new_hash is not None:
            s.get_one(User, user.id).password_hash = new_hash

    db.write(_open)
    return value, _actor(user)


def logout(db: Database, *, session_value: str) -> None:
    db.write(lambda s: s.execute(delete(AuthSession).where(AuthSession.token_hash == digest(session_value))))


def actor_for_session(db: Database, *, session_value: str) -> Actor:
    def _find(s: Session) -> Actor:
        row = s.execute(
            select(AuthSession.expires_at, User)
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.token_hash == digest(session_value))
        ).first()
        if row is None or row[0] < datetime.now(UTC) or not row[1].is_active:
            raise Unauthorized("not logged in, or the session has expired")
        return _actor(row[1])

    return db.read(_find)


class TokenCache:
    """API token -> actor, remembered for ``ttl_s`` seconds per process, so that a burst of requests does
    not look the same token up on every one.

    Keyed by the token's SHA-256, as in the database. Revocation: this process forgets everything at once
    when a token is deleted or a user changed (:func:`forget_tokens`); another process (a second server
    worker) may still accept a revoked token for up to ``ttl_s`` seconds, the usual trade-off of such a
    cache. An entry never outlives the token's own expiry.
    """

    def __init__(self, ttl_s: float = 2.0) -> None:
        self.ttl_s = ttl_s
        self._items: dict[str, tuple[Actor, float]] = {}
        self._lock = threading.Lock()
        self.generation = 0  # bumped by clear(): a lookup begun before a revocation is not remembered

    def get(self, token_hash: str) -> Actor | None:
        found = self._items.get(token_hash)
        if found is None:
            return None
        if found[1] <= time.monotonic():
            with self._lock:
                self._items.pop(token_hash, None)
            return None
        return found[0]

    def put(self, token_hash: str, actor: Actor, token_expires: datetime | None, *, generation: int) -> None:
        """Remember a lookup that began at ``generation`` (dropped when a clear() came in between)."""
        until = time.monotonic() + self.ttl_s
        if token_expires is not None:
            until = min(until, time.monotonic() + (token_expires - datetime.now(UTC)).total_seconds())
        with self._lock:
            if generation != self.generation:
                return
            if len(self._items) >= 10_000:
                self._items.clear()
            self._items[token_hash] = (actor, until)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.generation += 1


_TOKEN_CACHES: weakref.WeakKeyDictionary[Database, TokenCache] = weakref.WeakKeyDictionary()
_TOKEN_CACHES_LOCK = threading.Lock()


def token_cache(db: Database) -> TokenCache:
    """The cache of ``db`` (one per database, so a token of one never authenticates against another)."""
    cache = _TOKEN_CACHES.get(db)
    if cache is None:
        with _TOKEN_CACHES_LOCK:
            cache = _TOKEN_CACHES.setdefault(db, TokenCache())
    return cache


def forget_tokens(db: Database) -> None:
    """Drop this process's cached token resolutions (after a revocation or a change of a user)."""
    token_cache(db).clear()


_TOKEN_LOOKUP = (
    select(ApiToken.expires_at, User.id, User.username, User.is_admin, User.is_active)
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


def cached_actor(db: Database, *, token: str) -> Actor | None:
    """The actor of ``token`` if this process resolved it less than a TTL ago (no database access)."""
    return token_cache(db).get(digest(token))


def actor_for_token(db: Database, *, token: str) -> Actor:
    token_hash = digest(token)
    cache = token_cache(db)
    actor = cache.get(token_hash)
    if actor is not None:
        return actor
    generation = cache.generation
    row = db.read(lambda s: s.execute(_TOKEN_LOOKUP, {"token_hash": token_hash}).first())
    if row is None or (row[0] is not None and row[0] < datetime.now(UTC)) or not row[4]:
        raise Unauthorized("invalid or expired API token")
    actor = Actor(row[1], row[2], row[3])
    cache.put(token_hash, actor, row[0], generation=generation)
    return actor


# ---------------------------------------------------------------------------------------------- tokens


def create_token(db: Database, *, actor: Actor, name: str, expires_days: int | None = None) -> NewToken:
    value = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()

    def _create(s: Session) -> NewToken:
        row = ApiToken(
            user_id=actor.user_id,
            name=name,
            token_hash=digest(value),
            prefix=value[:10],
            created_at=now,
            expires_at=None if expires_days is None else now + timedelta(days=expires_days),
        )
        s.add(row)
        s.flush()
        return NewToken(TokenView.of(row), value)

    return db.write(_create)


def list_tokens(db: Database, *, actor: Actor) -> list[TokenView]:
    return db.read(
        lambda s: [
            TokenView.of(t)
            for t in s.scalars(
                select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.id)
            )
        ]
    )


def delete_token(db: Database, *, actor: Actor, token_id: int) -> None:
    def _delete(s: Session) -> None:
        row = s.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == actor.user_id))
        if row is None:
            raise NotFound(f"token {token_id} not found")
        s.delete(row)

    db.write(_delete)
    forget_tokens(db)


# ----------------------------------------------------------------------------------------------- users


def create_user(
    db: Database,
    passwords: Passwords,
    *,
    actor: Actor | None,
    username: str,
    password: str,
    display_name: str = "",
    is_admin: bool = False,
) -> UserView:
    """A new user (``actor`` None only for the first admin at startup)."""
    if actor is not None:
        _require_admin(actor)
    _check_username(username)
    check_password_rules(password)
    password_hash = passwords.hash(password)

    def _create(s: Session) -> UserView:
        if s.scalar(select(User.id).where(User.username == username)) is not None:
            raise Conflict(f"user name {username!r} is taken")
        user = User(
            username=username,
            display_name=display_name,
            password_hash=password_hash,
            is_admin=is_admin,
            is_active=True,
            created_at=utcnow(),
        )
        s.add(user)
        s.flush()
        return UserView.of(user)

    try:
        return db.write(_create)
    except IntegrityError:
        raise Conflict(f"user name {username!r} is taken") from None


def list_users(db: Database, *, actor: Actor, limit: int = 100, offset: int = 0) -> list[UserView]:
    _require_admin(actor)
    limit = max(1, min(limit, 500))
    return db.read(
        lambda s: [
            UserView.of(u) for u in s.scalars(select(User).order_by(User.id).limit(limit).offset(offset))
        ]
    )


def get_user(db: Database, *, actor: Actor, user_id: int) -> UserView:
    _require_admin(actor)

    def _get(s: Session) -> UserView:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        return UserView.of(user)

    return db.read(_get)


def me(db: Database, *, actor: Actor) -> UserView:
    return db.read(lambda s: UserView.of(s.get_one(User, actor.user_id)))


def update_user(
    db: Database,
    passwords: Passwords,
    *,
    actor: Actor,
    user_id: int,
    display_name: str | None = None,
    password: str | None = None,
    is_admin: bool | None = None,
    is_active: bool | None = None,
) -> UserView:
    """Admin edits of a user. The last active admin cannot be demoted or deactivated."""
    _require_admin(actor)
    if password is not None:
        check_password_rules(password)
    password_hash = passwords.hash(password) if password is not None else None

    def _update(s: Session) -> UserView:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        losing_admin = user.is_admin and user.is_active and (is_admin is False or is_active is False)
        if losing_admin:
            admins = s.scalar(select(func.count()).where(User.is_admin, User.is_active)) or 0
            if admins <= 1:
                raise Conflict("this is the last active administrator; promote someone else first")
        if display_name is not None:
            user.display_name = display_name
        if password_hash is not None:
            user.password_hash = password_hash
            s.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
        if is_admin is not None:
            user.is_admin = is_admin
        if is_active is not None:
            user.is_active = is_active
            if not is_active:
                s.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
        s.flush()
        return UserView.of(user)

    try:
        return db.write(_update)
    finally:
        forget_tokens(db)


def change_password(
    db: Database, passwords: Passwords, *, actor: Actor, current_password: str, new_password: str
) -> None:
    """A user changes their own password; every other session of theirs is closed."""
    check_password_rules(new_password)
    user = db.read(lambda s: s.get_one(User, actor.user_id))
    if not passwords.verify(user.password_hash, current_password):
        raise Forbidden("the current password is wrong")
    new_hash = passwords.hash(new_password)

    def _change(s: Session) -> None:
        s.get_one(User, actor.user_id).password_hash = new_hash
        s.execute(delete(AuthSession).where(AuthSession.user_id == actor.user_id))

    db.write(_change)


def has_users(db: Database) -> bool:
    return db.read(lambda s: s.scalar(select(func.count()).select_from(User)) or 0) > 0
