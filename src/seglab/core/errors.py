"""Typed errors raised at seglab's boundaries. Each names the file and the place, so a user can fix it."""

from __future__ import annotations


class SeglabError(Exception):
    """Base class of every error seglab raises on purpose."""


class FormatError(SeglabError):
    """A dataset file cannot be read or written.

    ``file`` is the file at fault, ``where`` the place inside it (an image, an annotation id, a line,
    a JSON path), so the message reads like ``instances.json: annotation 17: polygon has 2 points``.
    """

    def __init__(self, message: str, *, file: str | None = None, where: str | None = None) -> None:
        self.reason = message
        self.file = file
        self.where = where
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [p for p in (self.file, self.where) if p]
        return ": ".join([*parts, self.reason])


class UnsafeInputError(FormatError):
    """Input that is hostile or too large to process safely (zip slip, bombs, XXE, pixel bombs)."""
