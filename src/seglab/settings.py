"""Server settings, read once by the entry points (``SEGLAB_*`` environment variables) and passed down.

Nothing below the entry points reads the environment: the app, the service and the storage take a
:class:`Settings` (or the values in it), so tests and several processes can run side by side.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SECRET_FILE = "secret_key"
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485  # Pillow's own decompression-bomb limit (0.25 GiB of RGBA)


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/seglab`` (``~/.local/share/seglab``): where one machine's server keeps its state."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "seglab"


class Settings(BaseSettings):
    """Everything a server process needs to know. Unset URLs default to files inside ``data_dir``."""

    model_config = SettingsConfigDict(env_prefix="SEGLAB_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None  # default: sqlite:///<data_dir>/seglab.db
    storage_url: str | None = None  # default: <data_dir>/blobs (any fsspec URL: s3://bucket/prefix)
    admin_username: str = "admin"
    admin_password: SecretStr | None = None
    secret_key: SecretStr | None = None  # default: generated once into <data_dir>/secret_key
    host: str = "127.0.0.1"
    port: int = 8000

    session_hours: int = 24 * 14
    cookie_secure: bool = False  # set behind HTTPS so the session cookie never travels in clear text
    max_request_bytes: int = 1024**3
    max_image_bytes: int = 256 * 1024**2
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    # argon2id cost (RFC 9106's second recommended profile by default); lower only for tests.
    password_time_cost: int = 3
    password_memory_kib: int = 64 * 1024
    sqlite_busy_timeout_s: float = 30.0

    # Object storage and background jobs.
    s3_endpoint_url: str | None = None  # an S3-compatible service (MinIO, Ceph) instead of AWS
    redis_url: str | None = None  # set: jobs go to RQ on Redis for `seglab worker`; unset: in-process
    redis_queue: str = "seglab"  # the RQ queue (one per seglab installation sharing a Redis)
    job_threads: int = 2  # in-process job threads (when redis_url is unset)
    job_heartbeat_s: float = 5.0  # how often a running job proves its worker alive
    job_stale_s: float = 60.0  # a running job silent this long lost its worker: retried or failed
    job_max_attempts: int = 2  # attempts per job before a dead worker marks it failed
    job_timeout_s: int = 6 * 3600  # RQ's hard limit on one job
    # Folders on the server that imports may read (``SEGLAB_IMPORT_ROOTS=/data/a:/data/b``); none by default.
    import_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    # S3 prefixes that imports may read (``SEGLAB_S3_IMPORT_ROOTS=s3://bucket/a,s3://other``), through the
    # same endpoint and credentials as the storage; none by default.
    s3_import_roots: Annotated[list[str], NoDecode] = Field(default_factory=list)
    download_link_minutes: int = 60  # how long an export's download link works
    export_keep_hours: float = 24.0  # an export's file is deleted this long after the job finished

    # Housekeeping, run in the background of every server and worker process.
    maintenance_minutes: float = 10.0  # expired exports and dead blob claims are cleaned this often
    gc_hours: float = 24.0  # unreferenced blobs are collected this often (0: only by `seglab gc`)
    gc_grace_minutes: float = 120.0  # a blob younger than this is never collected (writes in flight)
    blob_claim_minutes: float = 60.0  # how long an upload may take between storing a blob and its row

    @field_validator("import_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(v) for v in value.split(os.pathsep) if v.strip()]
        return value

    @field_validator("s3_import_roots", mode="before")
    @classmethod
    def _split_s3_roots(cls, value: object) -> object:
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        return value

    @field_validator("s3_import_roots")
    @classmethod
    def _check_s3_roots(cls, value: list[str]) -> list[str]:
        for root in value:
            bucket = root.removeprefix("s3://").split("/", 1)[0]
            if not root.startswith("s3://") or not bucket:
                raise ValueError(f"an S3 import root is s3://bucket or s3://bucket/prefix, not {root!r}")
        return value

    def resolved(self) -> Settings:
        """A copy with the defaults that depend on ``data_dir`` filled in (creating the folder and secret)."""
        data_dir = self.data_dir.expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        database_url = self.database_url or f"sqlite:///{data_dir / 'seglab.db'}"
        storage_url = self.storage_url or str(data_dir / "blobs")
        secret = self.secret_key or SecretStr(load_or_create_secret(data_dir / SECRET_FILE))
        return self.model_copy(
            update={
                "data_dir": data_dir,
                "database_url": database_url,
                "storage_url": storage_url,
                "secret_key": secret,
            }
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def load_or_create_secret(path: Path) -> str:
    """The secret in ``path``, created (mode 0600, exclusively, so two processes agree) when absent."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be between create and write
            text = path.read_text(encoding="ascii").strip()
            if text:
                return text
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty; delete it to generate a new secret key") from None
    value = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return value
