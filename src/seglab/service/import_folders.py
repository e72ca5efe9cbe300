"""Browsing the server's import folders, so a manager can pick the folder to import instead of typing it.

Only what lies inside the admin's import roots (``SEGLAB_IMPORT_ROOTS``) is listed, after resolving links;
a link that leads out of the roots is not offered. The folder import itself checks the chosen folder again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from seglab.service.access import Actor, Role, require_project
from seglab.service.errors import Invalid, NotFound
from seglab.storage.db import Database

MAX_LISTED = 1000  # sub-folders shown per folder; the listing says when there were more


@dataclass(frozen=True)
class FolderEntry:
    name: str
    path: str  # absolute, as the folder import takes it


@dataclass(frozen=True)
class FolderListing:
    """One folder's sub-folders (or the roots themselves when ``path`` is None)."""

    path: str | None
    parent: str | None  # None at a root (going up shows the roots)
    folders: list[FolderEntry]
    file_count: int  # plain files directly inside: a hint of whether this is a dataset's folder
    truncated: bool


def _inside(folder: Path, roots: list[Path]) -> Path | None:
    """The root ``folder`` lies in (itself included), or None."""
    return next((r for r in roots if folder.is_relative_to(r)), None)


def list_import_folders(
    db: Database, *, actor: Actor, project_id: int, roots: list[Path], path: str | None = None
) -> FolderListing:
    """The sub-folders of ``path`` inside the import roots (managers of the project, who may import)."""
    db.read(lambda s: require_project(s, actor, project_id, Role.MANAGER))
    if not roots:
        raise Invalid("this server has no import folders; an admin sets SEGLAB_IMPORT_ROOTS")
    resolved_roots = [r.expanduser().resolve() for r in roots]
    if not path:
        entries = [FolderEntry(r.name or str(r), str(r)) for r in resolved_roots if r.is_dir()]
        return FolderListing(None, None, entries, 0, False)
    try:
        folder = Path(path).expanduser().resolve(strict=True)
    except (OSError, RuntimeError):
        raise NotFound(f"no folder {path!r} in the import folders") from None
    root = _inside(folder, resolved_roots)
    if root is None or not folder.is_dir():
        raise NotFound(f"no folder {path!r} in the import folders")
    folders: list[FolderEntry] = []
    files = 0
    truncated = False
    with os.scandir(folder) as it:
        for entry in sorted(it, key=lambda e: e.name.lower()):
            if entry.name.startswith("."):
                continue
            if entry.is_file(follow_symlinks=False):
                files += 1
                continue
            if not entry.is_dir():
                continue
            target = Path(entry.path).resolve()
            if _inside(target, resolved_roots) is None:
                continue  # a link out of the import roots: never offered
            if len(folders) >= MAX_LISTED:
                truncated = True
                continue
            folders.append(FolderEntry(entry.name, str(Path(folder) / entry.name)))
    parent = None if folder == root else str(folder.parent)
    return FolderListing(str(folder), parent, folders, files, truncated)
