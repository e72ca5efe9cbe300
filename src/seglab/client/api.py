"""The HTTP client of a seglab server, for scripts: projects, images, annotations with versions, jobs.

Authentication is a personal API token (``token=`` or the ``SEGLAB_TOKEN`` environment variable, sent as
``Authorization: Bearer``), or a password login (:meth:`Client.login`, a session cookie plus the CSRF
token the server hands out, sent with every write). Errors become the exceptions of
:mod:`seglab.client.errors` with the server's explanation.
"""

from __future__ import annotations

import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from seglab.client.errors import (
    AuthError,
    ClientError,
    ConflictError,
    InvalidError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
)

TOKEN_ENV = "SEGLAB_TOKEN"
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
UPLOAD_BATCH_FILES = 32
UPLOAD_BATCH_BYTES = 64 * 1024**2
# Already-compressed files are stored in an import archive as they are; deflating them gains nothing.
STORED_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".zip", ".gz", ".tif", ".tiff"})
IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".bmp": "image/bmp",
    ".webp": "image/webp",
}


@dataclass(frozen=True)
class AnnotationSet:
    """An image's objects at one version. Send ``version`` back (it is the ETag) when you save."""

    image_id: int
    version: int
    annotations: list[dict[str, Any]]


@dataclass(frozen=True)
class Job:
    """A background job's state (``progress`` in [0, 1])."""

    id: int
    project_id: int | None
    kind: str
    status: str
    progress: float
    message: str
    result: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Job:
        return cls(
            id=int(doc["id"]),
            project_id=doc.get("project_id"),
            kind=str(doc.get("kind", "")),
            status=str(doc["status"]),
            progress=float(doc.get("progress") or 0.0),
            message=str(doc.get("message") or ""),
            result=doc.get("result"),
            raw=dict(doc),
        )

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def problems(self) -> list[Any]:
        """The per-object problems an import reported (empty when there are none)."""
        return list((self.result or {}).get("problems") or [])


ProgressCallback = Callable[[Job], None]


def _detail(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    """The server's explanation of an error response, and its JSON body (empty when it has none)."""
    try:
        body = response.json()
    except ValueError:
        return (response.text.strip()[:500] or response.reason_phrase), {}
    if not isinstance(body, dict):
        return str(body)[:500], {}
    detail = body.get("detail", response.reason_phrase)
    if isinstance(detail, list):  # FastAPI's request validation: [{loc, msg}, ...]
        detail = "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg', '')}"
            if isinstance(d, dict)
            else str(d)
            for d in detail[:5]
        )
    return str(detail), body


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.is_success:
        return
    status = response.status_code
    detail, body = _detail(response)
    message = f"{what}: {detail} (HTTP {status})"
    problems = body.get("problems") if isinstance(body.get("problems"), list) else None
    if status in (401, 403):
        raise AuthError(message, status=status)
    if status == 404:
        raise NotFoundError(message, status=status)
    if status == 422:
        raise InvalidError(message, status=status, problems=problems)
    raise ClientError(message, status=status, problems=problems)


def _zip_folder(folder: Path, target: Path) -> None:
    """Pack a dataset folder as an import archive (paths relative to the folder; folder links are not
    followed, so the archive holds exactly the tree you see)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = Path(root) / name
                if not path.is_file():
                    continue
                compression = zipfile.ZIP_STORED if path.suffix.lower() in STORED_SUFFIXES else None
                archive.write(path, path.relative_to(folder).as_posix(), compress_type=compression)


class Client:
    """A connection to one seglab server. Use as a context manager, or call :meth:`close`.

    ``Client("http://127.0.0.1:8000")`` takes the token from ``SEGLAB_TOKEN``; ``transport`` is for tests
    (an ``httpx`` transport such as ``httpx.ASGITransport``).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        if not token or not token.strip():
            raise AuthError(
                f"no credentials for {url}: pass token=..., set {TOKEN_ENV}, or use Client.login(...)"
            )
        self._connect(url, {"Authorization": f"Bearer {token.strip()}"}, timeout, transport)

    def _connect(
        self, url: str, headers: dict[str, str], timeout: float, transport: httpx.BaseTransport | None
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ClientError(f"server URL {url!r} must look like http://host:port")
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport, follow_redirects=False
        )
        self._csrf: str | None = None

    @classmethod
    def login(
        cls,
        url: str,
        username: str,
        password: str,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> Client:
        """Log in with a password (a session, as the browser has); prefer API tokens for scripts."""
        client = cls.__new__(cls)
        client._connect(url, {}, timeout, transport)
        try:
            body = client._json(
                "POST", "/api/auth/login", "log in", json={"username": username, "password": password}
            )
        except BaseException:
            client.close()
            raise
        client._csrf = body.get("csrf_token")
        return client

    # ------------------------------------------------------------------------------------------ plumbing

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if self._csrf and method not in ("GET", "HEAD", "OPTIONS"):
            headers["X-CSRF-Token"] = self._csrf
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise ClientError(f"{what}: {self.url} did not answer in time ({exc})") from None
        except httpx.TransportError as exc:
            raise ClientError(f"{what}: cannot reach {self.url} ({exc})") from None
        return response

    def _json(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        response = self._send(method, path, what, **kwargs)
        _raise_for(response, what)
        return response.json()

    # ------------------------------------------------------------------------------ account, projects

    def me(self) -> dict[str, Any]:
        """Who the client acts as (``{"user": {...}, "csrf_token": ...}``)."""
        return dict(self._json("GET", "/api/auth/me", "who am I"))

    def create_token(self, name: str, *, expires_days: int | None = None) -> str:
        """A new personal API token of the current user; the value is shown only here."""
        body: dict[str, Any] = {"name": name}
        if expires_days is not None:
            body["expires_days"] = expires_days
        return str(self._json("POST", "/api/tokens", "create a token", json=body)["value"])

    def projects(self) -> list[dict[str, Any]]:
        """Every project you are a member of (all pages)."""
        out: list[dict[str, Any]] = []
        while True:
            page = self._json(
                "GET", "/api/projects", "list projects", params={"limit": 500, "offset": len(out)}
            )
            out.extend(page)
            if len(page) < 500:
                return out

    def project(self, name_or_id: str | int) -> dict[str, Any]:
        """One project, by id or by its exact name."""
        if isinstance(name_or_id, int):
            return dict(self._json("GET", f"/api/projects/{name_or_id}", f"project {name_or_id}"))
        for project in self.projects():
            if project["name"] == name_or_id:
                return project
        raise NotFoundError(f"no project named {name_or_id!r} on {self.url} that you are a member of")

    def create_project(
        self, name: str, *, ontology: Mapping[str, Any] | None = None, description: str = ""
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "description": description}
        if ontology is not None:
            body["ontology"] = dict(ontology)
        return dict(self._json("POST", "/api/projects", f"create project {name!r}", json=body))

    # ------------------------------------------------------------------------------------------- images

    def images(
        self, project_id: int, *, status: Sequence[str] = (), page_size: int = 500
    ) -> Iterator[dict[str, Any]]:
        """The project's images in id order, page after page (``status`` filters, e.g. ``["approved"]``)."""
        cursor: str | None = None
        while True:
            params: list[tuple[str, str | int]] = [("limit", page_size), *(("status", s) for s in status)]
            if cursor:
                params.append(("cursor", cursor))
            page = self._json("GET", f"/api/projects/{project_id}/images", "list images", params=params)
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def upload_images(self, project_id: int, paths: Iterable[str | Path]) -> list[dict[str, Any]]:
        """Upload image files (JPEG, PNG, TIFF, BMP, WebP) in batches; returns the stored images.

        The server checks each batch as a whole: when it refuses one (a bad file, a duplicate), the
        batches before it are stored and the error names the file.
        """
        stored: list[dict[str, Any]] = []
        batch: list[Path] = []
        size = 0
        for raw in paths:
            path = Path(raw)
            if not path.is_file():
                raise ClientError(f"{path}: no such file")
            if batch and (
                len(batch) >= UPLOAD_BATCH_FILES or size + path.stat().st_size > UPLOAD_BATCH_BYTES
            ):
                stored.extend(self._upload_batch(project_id, batch))
                batch, size = [], 0
            batch.append(path)
            size += path.stat().st_size
        if batch:
            stored.extend(self._upload_batch(project_id, batch))
        return stored

    def _upload_batch(self, project_id: int, paths: Sequence[Path]) -> list[dict[str, Any]]:
        files = [
            ("files", (p.name, p.read_bytes(), IMAGE_TYPES.get(p.suffix.lower(), "application/octet-stream")))
            for p in paths
        ]
        names = ", ".join(p.name for p in paths[:3]) + (" ..." if len(paths) > 3 else "")
        return list(self._json("POST", f"/api/projects/{project_id}/images", f"upload {names}", files=files))

    # -------------------------------------------------------------------------------------- annotations

    def _annotations_path(self, project_id: int, image_id: int) -> str:
        return f"/api/projects/{project_id}/images/{image_id}/annotations"

    def get_annotations(self, project_id: int, image_id: int) -> AnnotationSet:
        """The image's objects and the version they are at."""
        body = self._json(
            "GET", self._annotations_path(project_id, image_id), f"annotations of image {image_id}"
        )
        return AnnotationSet(int(body["image_id"]), int(body["version"]), list(body["annotations"]))

    def save_annotations(
        self, project_id: int, image_id: int, annotations: Sequence[Mapping[str, Any]], *, version: int
    ) -> AnnotationSet:
        """Replace the image's objects, as an edit of ``version`` (objects without ``id`` are new).

        Raises :class:`ConflictError` with the server's current copy when the image is no longer at
        ``version``: nothing is overwritten; merge and save again with ``conflict.current.version``.
        """
        path = self._annotations_path(project_id, image_id)
        response = self._send(
            "PUT",
            path,
            f"save annotations of image {image_id}",
            json={"annotations": [dict(a) for a in annotations]},
            headers={"If-Match": f'"{int(version)}"'},
        )
        if response.status_code in (409, 412):
            detail, body = _detail(response)
            current = body.get("current")
            copy = None
            if isinstance(current, dict) and "version" in current:
                copy = AnnotationSet(
                    image_id, int(current["version"]), list(current.get("annotations") or [])
                )
            raise ConflictError(
                f"image {image_id}: {detail} (HTTP {response.status_code})",
                status=response.status_code,
                current=copy,
                expected_version=version,
            )
        _raise_for(response, f"save annotations of image {image_id}")
        body = response.json()
        return AnnotationSet(int(body["image_id"]), int(body["version"]), list(body["annotations"]))

    # --------------------------------------------------------------------------------- import, export

    def job(self, project_id: int, job_id: int) -> Job:
        return Job.from_json(self._json("GET", f"/api/projects/{project_id}/jobs/{job_id}", f"job {job_id}"))

    def start_import(
        self, project_id: int, source: str | Path, *, format: str | None = None, skip_invalid: bool = False
    ) -> Job:
        """Upload a dataset (a folder, a zip, or one annotation file) and start importing it, all or
        nothing, as a job; a folder is zipped into a temporary file first."""
        source = Path(source)
        if not source.exists():
            raise ClientError(f"{source}: no such file or folder")
        data: dict[str, str] = {"skip_invalid": "true" if skip_invalid else "false"}
        if format:
            data["format"] = format
        with tempfile.TemporaryDirectory(prefix="seglab-import-") as tmp:
            upload = source
            if source.is_dir():
                upload = Path(tmp) / f"{source.resolve().name or 'dataset'}.zip"
                _zip_folder(source, upload)
            with upload.open("rb") as stream:
                body = self._json(
                    "POST",
                    f"/api/projects/{project_id}/imports",
                    f"import {source}",
                    files={"file": (upload.name, stream, "application/octet-stream")},
                    data=data,
                )
        return Job.from_json(body)

    def start_export(self, project_id: int, format: str, *, include_images: bool = True) -> Job:
        """Start exporting the project in ``format`` as a zip (see :meth:`download_export`)."""
        body = self._json(
            "POST",
            f"/api/projects/{project_id}/exports",
            f"export as {format}",
            json={"format": format, "include_images": include_images},
        )
        return Job.from_json(body)

    def wait(
        self,
        job: Job,
        *,
        timeout: float | None = None,
        poll: float = 0.5,
        progress: ProgressCallback | None = None,
    ) -> Job:
        """Poll ``job`` until it ends; ``progress`` is called with each new state. Returns the succeeded
        job; raises :class:`JobFailedError` when it failed or was cancelled, :class:`JobTimeoutError` after
        ``timeout`` seconds (the job keeps running)."""
        if job.project_id is None:
            raise ClientError(f"job {job.id} belongs to no project; it cannot be followed here")
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = min(poll, 0.1)
        last: tuple[str, float, str] | None = None
        while True:
            state = (job.status, job.progress, job.message)
            if progress is not None and state != last:
                progress(job)
            last = state
            if job.done:
                if job.status != "succeeded":
                    raise JobFailedError(job)
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise JobTimeoutError(f"{job.kind} job {job.id} still {job.status} after {timeout:g} s")
            time.sleep(delay)
            delay = min(delay * 2, poll)
            job = self.job(job.project_id, job.id)

    def download_export(self, project_id: int, job: Job | int, destination: str | Path) -> Path:
        """Download a finished export's zip to ``destination`` (written to a temporary file beside it,
        then renamed: a failed download leaves nothing)."""
        job_id = job.id if isinstance(job, Job) else int(job)
        link = self._json(
            "POST", f"/api/projects/{project_id}/jobs/{job_id}/link", f"download link of job {job_id}"
        )
        parts = urlsplit(str(link["url"]))
        # Only the path is used, on this client's own server: credentials never go to another host.
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        destination = Path(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    with self._http.stream("GET", path) as response:
                        if not response.is_success:
                            response.read()
                            _raise_for(response, f"download export of job {job_id}")
                        for chunk in response.iter_bytes(1 << 20):
                            out.write(chunk)
                except httpx.TransportError as exc:
                    raise ClientError(f"download export of job {job_id}: {exc}") from None
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, destination)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        return destination
