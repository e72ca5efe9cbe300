"""Image files and derived files (thumbnails) in a content-addressed store reached through fsspec.

Keys are derived from the SHA-256 of the bytes (``images/ab/cd/abcd....png``), so the same file uploaded
twice is stored once and a key never changes meaning. On the local file system a blob is written to a
temporary file in the target folder, fsynced and renamed into place (then the folder is fsynced), so a
crash leaves either no blob or the whole blob, never a torn one. Other fsspec back ends (S3) write objects
atomically by themselves: an object appears only once its upload (multipart for large files) completes.

``s3://bucket/prefix`` goes through s3fs; ``endpoint_url`` points it at an S3-compatible service (MinIO,
Ceph, moto in the tests). Credentials come from the usual AWS chain (environment, config files, roles).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

CHUNK = 1 << 20
TEMP_PREFIX = ".tmp-"  # files being written; a crash may leave one, which garbage collection removes


def fs_options(url: str, *, endpoint_url: str | None = None) -> dict[str, Any]:
    """fsspec options for ``url``: S3 listings are not cached (other processes add and remove objects), and
    ``endpoint_url`` points s3fs at an S3-compatible service (MinIO, Ceph, moto in the tests)."""
    options: dict[str, Any] = {}
    if url.startswith(("s3://", "s3a://")):
        options["use_listings_cache"] = False
        if endpoint_url:
            options["client_kwargs"] = {"endpoint_url": endpoint_url}
    return options


@dataclass(frozen=True)
class StoredFile:
    """A file found in the store: its key, when it was last written (UTC) and its size."""

    key: str
    modified: datetime
    size: int


def _modified(info: dict[str, Any]) -> datetime:
    value = info.get("LastModified", info.get("mtime", info.get("created")))
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.now(UTC)  # unknown age: treat as brand new, so it is never collected by mistake


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_key(checksum: str, extension: str, *, namespace: str = "images") -> str:
    """The storage key of content with this SHA-256: fanned out over two folder levels."""
    if len(checksum) != 64 or any(c not in "0123456789abcdef" for c in checksum):
        raise ValueError(f"not a sha256 hex digest: {checksum!r}")
    ext = extension.lower().lstrip(".")
    if not ext.isalnum():
        raise ValueError(f"bad extension {extension!r}")
    return f"{namespace}/{checksum[:2]}/{checksum[2:4]}/{checksum}.{ext}"


class BlobStore:
    """Bytes under keys, rooted at ``url`` (a local folder or any fsspec URL such as ``s3://bucket/prefix``)."""

    def __init__(self, url: str, *, endpoint_url: str | None = None) -> None:
        fs, root = fsspec.core.url_to_fs(url, **fs_options(url, endpoint_url=endpoint_url))
        self.fs = fs
        self.root = root.rstrip("/")
        self.url = url
        self.local = isinstance(fs, LocalFileSystem)
        if self.local:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> str:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"bad blob key {key!r}")
        return f"{self.root}/{key}"

    def local_path(self, key: str) -> Path | None:
        """The file's path when the store is a local folder (for zero-copy responses), else None."""
        return Path(self._path(key)) if self.local else None

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically (an existing blob under a content key is kept as it is)."""
        path = self._path(key)
        if not self.local:
            self.fs.pipe_file(path, data)
            return
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)

    def put_file(self, key: str, source: Path) -> None:
        """Store the file ``source`` under ``key`` atomically, streaming it (large exports, uploads).

        On the local file system a file on the same device is fsynced and renamed into place (it is
        moved, not copied); otherwise it is copied to a temporary file beside the target first.
        """
        path = self._path(key)
        if not self.local:
            self.fs.put_file(str(source), path)
            return
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with source.open("rb") as fh:
            os.fsync(fh.fileno())
        if os.stat(source).st_dev == os.stat(target.parent).st_dev:
            os.replace(source, target)
        else:
            fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                    shutil.copyfileobj(src, out, CHUNK)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        _fsync_dir(target.parent)

    def get_file(self, key: str, target: Path) -> None:
        """Copy the blob to the local file ``target`` (streamed)."""
        with self.fs.open(self._path(key), "rb") as src, target.open("wb") as out:
            shutil.copyfileobj(src, out, CHUNK)

    def size(self, key: str) -> int:
        return int(self.fs.size(self._path(key)))

    def get(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(self._path(key)))

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        """The blob in 1 MiB chunks (bounded memory for large files)."""
        with self.fs.open(self._path(key), "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    def delete(self, key: str) -> None:
        path = self._path(key)
        if self.fs.exists(path):
            self.fs.rm_file(path)

    def delete_many(self, keys: Iterable[str]) -> None:
        """Delete blobs (missing ones are fine); S3 removes up to 1,000 objects per request."""
        paths = [self._path(k) for k in keys]
        if not paths:
            return
        if self.local:
            for path in paths:
                Path(path).unlink(missing_ok=True)
            return
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(paths)

    def iter_files(self) -> Iterator[StoredFile]:
        """Every file in the store, one folder of the first two levels at a time (so a store of millions of
        blobs is never listed into memory at once), including temporary files of interrupted writes."""
        for top in self._children(self.root):
            children = self._children(top) if self.fs.isdir(top) else [top]
            for child in children:
                if not self.fs.isdir(child):
                    yield from self._stored([child])
                    continue
                found = self.fs.find(child, detail=True)
                yield from (
                    self._file(path, info)
                    for path, info in sorted(found.items())
                    if info.get("type") != "directory"
                )

    def _children(self, path: str) -> list[str]:
        try:
            return sorted(str(p).rstrip("/") for p in self.fs.ls(path, detail=False))
        except FileNotFoundError:
            return []

    def _stored(self, paths: list[str]) -> Iterator[StoredFile]:
        for path in paths:
            try:
                yield self._file(path, self.fs.info(path))
            except FileNotFoundError:
                continue

    def _file(self, path: str, info: dict[str, Any]) -> StoredFile:
        key = path[len(self.root) :].lstrip("/") if path.startswith(self.root) else path
        return StoredFile(key, _modified(info), int(info.get("size") or 0))


def _fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
