"""The browser app's files without a browser: served by the API app, every module preloaded and every import
resolvable (there is no build step to catch a typo), and no HTML-parsing sinks for user text."""

from __future__ import annotations

import re
import tempfile
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
from fastapi.testclient import TestClient  # noqa: E402

from seglab.api.app import WEB_DIR, create_app  # noqa: E402
from seglab.settings import Settings  # noqa: E402

JS = WEB_DIR / "js"
MODULES = sorted(JS.rglob("*.js"))
IMPORT = re.compile(
    r"""(?:^|\s)(?:import|export)\s[^'"]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)""", re.M
)


@pytest.fixture(scope="module")
def client() -> TestClient:
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), password_time_cost=1, password_memory_kib=1024)
    return TestClient(create_app(settings))


@pytest.mark.parametrize(
    "path", ["/", "/login", "/projects/3", "/projects/3/images/7", "/projects/3/review/7"]
)
def test_pages_are_the_app_with_a_strict_csp(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "object-src 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="/static/js/main.js">' in r.text


def test_api_paths_are_not_pages(client: TestClient) -> None:
    for path in ("/api/nothing-here", "/api"):
        r = client.get(path)
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
    assert client.post("/api/nothing-here").status_code == 404
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.get("/openapi.json").status_code == 200


def test_static_files_have_their_types(client: TestClient) -> None:
    assert client.get("/static/js/main.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/css/app.css").headers["content-type"].startswith("text/css")
    for path in (
        "/static/%2e%2e/%2e%2e/settings.py",
        "/static/..%2f..%2fsettings.py",
        "/static/js/../../../settings.py",
    ):
        r = client.get(path)
        assert "pydantic" not in r.text and r.status_code in (200, 404)  # a page or nothing, never the source


def test_every_module_is_preloaded_and_every_import_exists() -> None:
    index = (WEB_DIR / "index.html").read_text()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/static/([^"]+)">', index))
    expected = {str(m.relative_to(WEB_DIR)) for m in MODULES} - {"js/main.js"}
    assert preloaded == expected, f"index.html modulepreload list is out of date: {preloaded ^ expected}"
    for module in MODULES:
        for static, dynamic in IMPORT.findall(module.read_text()):
            spec = static or dynamic
            assert spec.startswith("."), f"{module}: bare import {spec!r} (no build step resolves it)"
            assert (module.parent / spec).resolve().is_file(), f"{module}: {spec!r} does not exist"


def test_no_html_parsing_sinks() -> None:
    sinks = re.compile(
        r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\("
    )
    for module in MODULES:
        for n, line in enumerate(module.read_text().splitlines(), 1):
            assert not sinks.search(line), f"{module}:{n}: {line.strip()}"
