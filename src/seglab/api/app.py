"""The FastAPI application: ``create_app(settings)`` wires storage, services and routes together.

Everything the app needs comes from the settings passed in (never read from the environment here), so
tests and several processes can each build their own app.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.convertors import Convertor, register_url_convertor

from seglab.api import errors
from seglab.api.deps import Services
from seglab.api.middleware import BodyLimit, SecurityHeaders
from seglab.api.routes import (
    annotations,
    assist,
    auth,
    autolabel,
    images,
    import_folders,
    jobs,
    predictions,
    projects,
    reviews,
    tiles,
)
from seglab.api.schemas import Health
from seglab.service.auth import Passwords
from seglab.service.job_kinds import make_job_system
from seglab.settings import Settings
from seglab.storage.blobs import BlobStore
from seglab.storage.db import Database

WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
# The browser app's page: scripts and styles from this origin only, nothing inline, no framing.
WEB_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class _PagePath(Convertor[str]):
    """Any path outside ``/api``: those are the browser app's pages (its router reads the path)."""

    regex = "(?!api(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("page", _PagePath())


def _mount_web(app: FastAPI) -> None:
    """Serve the browser app: static files under /static, and index.html for every page path."""
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    index = WEB_DIR / "index.html"
    headers = {"Content-Security-Policy": WEB_CSP, "Cache-Control": "no-cache"}

    @app.get("/{path:page}", include_in_schema=False)
    def page(path: str) -> FileResponse:
        return FileResponse(index, media_type="text/html", headers=headers)


def _version() -> str:
    try:
        return version("seglab")
    except PackageNotFoundError:
        return "0+unknown"


def build_services(settings: Settings, *, migrate: bool = True) -> Services:
    """Open the database (migrated to the newest schema) and the blob store named by ``settings``."""
    settings = settings.resolved()
    if not (settings.database_url and settings.storage_url and settings.secret_key):
        raise RuntimeError("settings.resolved() left the database, storage or secret unset")
    db = Database(settings.database_url, busy_timeout_s=settings.sqlite_busy_timeout_s)
    if migrate:
        db.migrate()
    blobs = BlobStore(settings.storage_url, endpoint_url=settings.s3_endpoint_url)
    job_system = make_job_system(settings, db, blobs)
    job_system.start()  # recovery runs in the background: jobs a dead process left are retried or failed
    return Services(
        settings=settings,
        db=db,
        blobs=blobs,
        passwords=Passwords(time_cost=settings.password_time_cost, memory_kib=settings.password_memory_kib),
        secret=settings.secret_key.get_secret_value().encode(),
        jobs=job_system,
    )


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """The ASGI app. Pass ``services`` to share one database and store between apps (tests)."""
    services = services or build_services(settings or Settings())
    app = FastAPI(
        title="seglab",
        version=_version(),
        description="Labeling server: projects, images, versioned annotations, review and history.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.services = services
    errors.install(app)

    api = APIRouter(prefix="/api")

    @api.get("/health", tags=["health"])
    def health() -> Health:
        """Answers without authentication, for load balancers and start-up scripts."""
        return Health(status="ok", version=app.version)

    routers = (auth, projects, images, annotations, jobs, predictions, assist, autolabel, import_folders)
    routers += (reviews, tiles)
    for module in routers:
        api.include_router(module.router)
    app.include_router(api)
    _mount_web(app)
    app.add_middleware(BodyLimit, max_bytes=services.settings.max_request_bytes)
    app.add_middleware(SecurityHeaders)
    return app
