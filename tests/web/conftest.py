"""Browser-test fixtures: a live server per test session, Debian's Chromium through Playwright, and pages
already logged in as the administrator. Tests skip (with the reason) only when Chromium is not installed."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.live import ADMIN, ADMIN_PASSWORD, CHROMIUM_ARGS, LiveServer, chromium_path, start_server

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix} {next(_counter)}-{uuid.uuid4().hex[:4]}"


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("seglab-web"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium is not installed (run scripts/install_browser.sh: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_context(browser: Any, live: LiveServer, *, login: bool = True) -> Any:
    """A fresh browser profile (own cookies and localStorage), logged in as the admin when asked."""
    context = browser.new_context(base_url=live.url, viewport={"width": 1400, "height": 860})
    context.set_default_timeout(8000)
    if login:
        r = context.request.post("/api/auth/login", data={"username": ADMIN, "password": ADMIN_PASSWORD})
        assert r.ok, r.text()
    return context


@pytest.fixture
def context(browser: Any, live: LiveServer) -> Iterator[Any]:
    ctx = new_context(browser, live)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    assert not errors, f"uncaught errors in the page: {errors}"


def shot(page: Any, name: str) -> Path:
    """Save a screenshot of the page as a test artifact (look at them: a page can pass and look broken)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
