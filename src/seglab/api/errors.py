"""The one mapping from domain errors to HTTP responses.

404 not found (or not yours to see), 401 not authenticated, 403 role too low or CSRF, 409 conflict with the
current state, 412 stale If-Match (with the server's current copy to merge with), 428 If-Match missing,
422 invalid content, 413 too large, 415 unsupported file type, 410 expired link, 503 job queue
unreachable. Bodies are JSON: ``{"detail": ...}`` plus ``current`` or ``problems`` where there are any.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from seglab.service.errors import (
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ServiceError,
    TooLarge,
    Unauthorized,
    Unavailable,
    Unsupported,
)

STATUS: tuple[tuple[type[ServiceError], int], ...] = (
    (NotFound, 404),
    (Unauthorized, 401),
    (Forbidden, 403),
    (PreconditionFailed, 412),  # before Conflict, its base class
    (Conflict, 409),
    (PreconditionRequired, 428),
    (Invalid, 422),
    (TooLarge, 413),
    (Unsupported, 415),
    (Gone, 410),
    (Unavailable, 503),
)


def status_of(exc: ServiceError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 400)


def error_body(exc: ServiceError) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": exc.detail, **exc.extra}
    if isinstance(exc, Conflict) and exc.current is not None:
        body["current"] = exc.current
    if isinstance(exc, Invalid):
        body["problems"] = exc.problems
    return body


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ServiceError):  # registered for ServiceError only
        raise exc
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, PreconditionFailed) and isinstance(exc.current, dict) and "version" in exc.current:
        headers = {"ETag": f'"{exc.current["version"]}"'}
    return JSONResponse(error_body(exc), status_code=status, headers=headers)


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    """422 with where and why, without echoing the input (it may be huge, or hold NaN that JSON cannot)."""
    if not isinstance(exc, RequestValidationError):  # registered for RequestValidationError only
        raise exc
    problems = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()[:100]
    ]
    return JSONResponse({"detail": problems}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _handle)
    app.add_exception_handler(RequestValidationError, _handle_validation)
