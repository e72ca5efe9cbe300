"""What the client raises: one error per kind of answer, each carrying the server's own explanation.

Every class derives from :class:`seglab.core.errors.SeglabError`, so the ``seglab`` command line prints
them as clean messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seglab.core.errors import SeglabError

if TYPE_CHECKING:
    from seglab.client.api import AnnotationSet, Job


class ClientError(SeglabError):
    """A request the server refused (``status``), or could not be sent at all (``status`` is None)."""

    def __init__(self, message: str, *, status: int | None = None, problems: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problems = problems or []


class AuthError(ClientError):
    """401 (no or bad credentials) or 403 (your role does not allow this)."""


class NotFoundError(ClientError):
    """404: the object does not exist, or it is not yours to see."""


class InvalidError(ClientError):
    """422: what was sent is not valid; ``problems`` lists every reason the server gave."""


class ConflictError(ClientError):
    """409 or 412: someone else changed the image since your copy (``expected_version``).

    ``current`` is the server's copy at the moment of the refusal (None when the server sent none): merge
    your edit into it and save again with ``current.version``. Nothing was overwritten.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        current: AnnotationSet | None,
        expected_version: int | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.current = current
        self.expected_version = expected_version


class JobFailedError(ClientError):
    """A background job ended as failed or cancelled; ``job`` is its last state (``job.problems``, if the
    import reported per-object problems)."""

    def __init__(self, job: Job) -> None:
        reason = job.message or job.status
        super().__init__(f"{job.kind} job {job.id} {job.status}: {reason}", problems=job.problems)
        self.job = job


class JobTimeoutError(ClientError):
    """A job did not end within the time the caller was willing to wait (it keeps running)."""
