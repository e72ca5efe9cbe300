"""What every route may ask for: the services, the authenticated actor, and the If-Match version.

Authentication: ``Authorization: Bearer <token>`` (personal API token) or the session cookie. A request
authenticated by the cookie that changes something (POST, PUT, PATCH, DELETE) must also carry
``X-CSRF-Token`` (an HMAC of the session under the server's secret, handed out at login and by
``GET /api/auth/me``) and, when it sends an ``Origin``, come from this server's own origin.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlsplit

import orjson
from fastapi import Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute

from seglab.jobs import JobSystem
from seglab.service import auth
from seglab.service.access import Actor
from seglab.service.errors import Forbidden, PreconditionRequired, Unauthorized
from seglab.settings import Settings
from seglab.storage.blobs import BlobStore
from seglab.storage.db import Database

SESSION_COOKIE = "seglab_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Services:
    """The process-wide objects the routes use, built once by :func:`seglab.api.app.create_app`."""

    settings: Settings
    db: Database
    blobs: BlobStore
    passwords: auth.Passwords
    secret: bytes
    jobs: JobSystem

    def csrf_token(self, session_value: str) -> str:
        return hmac.new(self.secret, b"csrf:" + session_value.encode(), hashlib.sha256).hexdigest()


# The dependencies are coroutines: FastAPI runs a plain function dependency in a worker thread, and that
# hop cost more server CPU than the dependency itself, three times per request.


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def _same_origin(request: Request, origin: str) -> bool:
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return bool(parts.scheme in ("http", "https") and parts.netloc and parts.netloc.lower() == host.lower())


async def current_actor(request: Request, services: ServicesDep) -> Actor:
    """The authenticated actor. A token resolved a moment ago comes from the process's cache (see
    :class:`seglab.service.auth.TokenCache`); database lookups run in a worker thread."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        token = value.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("use Authorization: Bearer <API token>")
        cached = auth.cached_actor(services.db, token=token)
        if cached is not None:
            return cached
        return await run_in_threadpool(partial(auth.actor_for_token, services.db, token=token))
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthorized("log in, or send Authorization: Bearer <API token>")
    actor = await run_in_threadpool(partial(auth.actor_for_session, services.db, session_value=cookie))
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent, services.csrf_token(cookie)):
            raise Forbidden(f"a write with a session cookie needs the {CSRF_HEADER} header from login")
        origin = request.headers.get("origin")
        if origin is not None and not _same_origin(request, origin):
            raise Forbidden("cross-origin write refused")
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]


def parse_if_match(value: str | None) -> int | None:
    """The version in an ``If-Match`` header (``"3"``, ``W/"3"`` or ``3``); None when it is absent."""
    if value is None:
        return None
    text = value.strip()
    if text == "*" or "," in text:
        raise PreconditionRequired('If-Match must name the one version you edited, such as "3"')
    text = text.removeprefix("W/").strip('"')
    if not text.isdigit():
        raise PreconditionRequired(f'If-Match {value!r} is not an annotation version such as "3"')
    return int(text)


async def if_match(
    value: Annotated[
        str | None, Header(alias="If-Match", description='The version you edited, e.g. "3"')
    ] = None,
) -> int | None:
    return parse_if_match(value)


IfMatchDep = Annotated[int | None, Depends(if_match)]


def etag(version: int) -> str:
    return f'"{version}"'


class _OrjsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())
        return self._json


class FastJSONRoute(APIRoute):
    """A route whose JSON body is parsed by orjson: several times faster than the standard library on
    bodies of thousands of polygons. A parse error is still a 422 (orjson's error is a JSONDecodeError);
    NaN and Infinity literals, which are not JSON, are refused at the parse."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(_OrjsonRequest(request.scope, request.receive))

        return route
