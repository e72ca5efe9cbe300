"""The per-process cache of API token resolutions: fast, but never accepting a token that this process
knows to be revoked, expired or of a deactivated user, nor a token of another database."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from seglab.service import auth
from seglab.service.access import Actor
from seglab.service.errors import Unauthorized
from seglab.storage.db import Database
from seglab.storage.models import ApiToken
from tests.server.conftest import Client, World


def _token(world: World, who: Client) -> tuple[Actor, auth.NewToken]:
    actor = Actor(who.user_id, who.username, False)
    return actor, auth.create_token(world.services.db, actor=actor, name="cache test")


def test_a_resolved_token_is_served_from_the_cache_for_its_ttl_only(world: World) -> None:
    db = world.services.db
    actor, token = _token(world, world.user("alice"))
    assert auth.cached_actor(db, token=token.value) is None
    assert auth.actor_for_token(db, token=token.value) == actor
    assert auth.cached_actor(db, token=token.value) == actor
    cache = auth.token_cache(db)
    cache.ttl_s, ttl = 0.05, cache.ttl_s
    try:
        auth.forget_tokens(db)
        auth.actor_for_token(db, token=token.value)
        time.sleep(0.1)
        assert auth.cached_actor(db, token=token.value) is None  # the TTL passed: ask the database again
    finally:
        cache.ttl_s = ttl


def test_deleting_a_token_or_deactivating_its_user_refuses_it_at_once(world: World) -> None:
    db = world.services.db
    alice = world.user("alice")
    actor, spare = _token(world, alice)
    _, kept = _token(world, alice)
    auth.actor_for_token(db, token=spare.value)
    auth.actor_for_token(db, token=kept.value)
    auth.delete_token(db, actor=actor, token_id=spare.token.id)
    with pytest.raises(Unauthorized):
        auth.actor_for_token(db, token=spare.value)
    assert auth.actor_for_token(db, token=kept.value) == actor
    auth.update_user(
        db, world.services.passwords, actor=world.backend.admin, user_id=actor.user_id, is_active=False
    )
    with pytest.raises(Unauthorized):
        auth.actor_for_token(db, token=kept.value)
    assert alice.get("/api/projects").status_code == 401


def test_a_cached_token_does_not_outlive_its_expiry(world: World) -> None:
    db = world.services.db
    _, token = _token(world, world.user("alice"))
    soon = datetime.now(UTC) + timedelta(seconds=0.3)
    db.write(
        lambda s: s.execute(update(ApiToken).where(ApiToken.id == token.token.id).values(expires_at=soon))
    )
    auth.forget_tokens(db)
    auth.actor_for_token(db, token=token.value)
    time.sleep(0.4)
    with pytest.raises(Unauthorized):
        auth.actor_for_token(db, token=token.value)


def test_a_token_of_one_database_is_unknown_to_another(world: World, tmp_path: Path) -> None:
    _, token = _token(world, world.user("alice"))
    auth.actor_for_token(world.services.db, token=token.value)
    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    other.migrate()
    try:
        with pytest.raises(Unauthorized):
            auth.actor_for_token(other, token=token.value)
    finally:
        other.dispose()


def test_a_lookup_that_began_before_a_revocation_is_not_remembered() -> None:
    cache = auth.TokenCache()
    actor = Actor(7, "someone")
    begun = cache.generation
    cache.clear()  # a token was deleted while the lookup read the database
    cache.put("hash", actor, None, generation=begun)
    assert cache.get("hash") is None
    cache.put("hash", actor, None, generation=cache.generation)
    assert cache.get("hash") == actor
