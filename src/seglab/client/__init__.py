"""A Python client of the seglab server, for scripts and the ``seglab import`` / ``seglab export`` commands.

    from seglab.client import Client, ConflictError

    with Client("http://127.0.0.1:8000") as server:          # token from SEGLAB_TOKEN
        project = server.project("streets")
        current = server.get_annotations(project["id"], image_id)
        try:
            server.save_annotations(project["id"], image_id, edited, version=current.version)
        except ConflictError as conflict:
            merge(edited, conflict.current)                    # the server's copy; nothing was lost

It talks HTTP only (``httpx``) and imports nothing of the server: it works against any seglab server of
the same API.
"""

from seglab.client.api import AnnotationSet, Client, Job
from seglab.client.errors import (
    AuthError,
    ClientError,
    ConflictError,
    InvalidError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
)

__all__ = [
    "AnnotationSet",
    "AuthError",
    "Client",
    "ClientError",
    "ConflictError",
    "InvalidError",
    "Job",
    "JobFailedError",
    "JobTimeoutError",
    "NotFoundError",
]
