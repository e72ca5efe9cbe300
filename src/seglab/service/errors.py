"""Domain errors of the service layer. The API maps each to one HTTP status, in one place.

``NotFound`` is also what a user gets for an object of a project they are not a member of: the service
never reveals that an id exists elsewhere (no 403 that leaks).
"""

from __future__ import annotations

from typing import Any

from seglab.core.errors import SeglabError


class ServiceError(SeglabError):
    """Base of the errors a use case raises on purpose; ``detail`` is safe to show the user."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(ServiceError):  # noqa: N818 (the names of the domain)
    """No such object, or not one the user may see."""


class Unauthorized(ServiceError):  # noqa: N818 (the names of the domain)
    """No valid credentials (bad password, expired session or token)."""


class Forbidden(ServiceError):  # noqa: N818 (the names of the domain)
    """The user can see the object but their role does not allow this action."""


class Conflict(ServiceError):  # noqa: N818 (the names of the domain)
    """The request clashes with the current state; ``current`` (when given) is the server's copy."""

    def __init__(self, detail: str, *, current: Any = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.current = current


class PreconditionFailed(Conflict):
    """The client's If-Match version is stale; ``current`` is the server's copy to merge with."""


class PreconditionRequired(ServiceError):  # noqa: N818 (the names of the domain)
    """A versioned write came without If-Match: blind overwrites are not accepted."""


class Invalid(ServiceError):  # noqa: N818 (the names of the domain)
    """The request is well-formed but its content is not acceptable (unknown class, bad geometry)."""

    def __init__(self, detail: str, *, problems: list[str] | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.problems = problems or [detail]


class TooLarge(ServiceError):  # noqa: N818 (the names of the domain)
    """An upload over a size or pixel limit."""


class Unsupported(ServiceError):  # noqa: N818 (the names of the domain)
    """An upload of a type outside the allowlist."""


class Gone(ServiceError):  # noqa: N818 (the names of the domain)
    """A link or resource that existed has expired or was removed for good."""


class Unavailable(ServiceError):  # noqa: N818 (the names of the domain)
    """A service the request needs (the job queue) cannot be reached now; retrying later may work."""
