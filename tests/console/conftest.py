"""The console in process: the HTTP app of ``tests/http/conftest.py`` (in-memory store, simulated KIE, a webhook
receiver behind ``httpx.MockTransport``) with a console key, driven through ``httpx.ASGITransport``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.routing import Mount

from kiegen.apps.http.console import ConsoleState
from tests.http.conftest import BASE, Harness, make_settings, serving

CONSOLE_KEY = "console-key-for-tests-0123456789"
HTML = {"Accept": "text/html"}


def console_state(h: Harness) -> ConsoleState:
    for route in h.app.routes:
        if isinstance(route, Mount) and route.path == "/console":
            state: ConsoleState = route.app.state.console  # type: ignore[attr-defined]
            return state
    raise AssertionError("no /console mount")


def client_at(h: Harness, host: str) -> httpx.AsyncClient:
    """Another browser, at another client address."""
    transport = httpx.ASGITransport(app=h.app, client=(host, 50000))
    return httpx.AsyncClient(transport=transport, base_url=BASE)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, key: str = CONSOLE_KEY) -> httpx.Response:
    form = await http.get("/console/login")
    return await http.post("/console/login", data={"key": key, "csrf": csrf_of(form.text), "next": "/console/"})


@pytest.fixture
async def console() -> AsyncIterator[Harness]:
    async with serving(settings=make_settings(console_keys=(CONSOLE_KEY,))) as h:
        yield h


@pytest.fixture
async def signed_in(console: Harness) -> AsyncIterator[tuple[Harness, httpx.AsyncClient]]:
    async with client_at(console, "10.9.8.7") as http:
        response = await sign_in(http)
        assert response.status_code == 303, response.text
        yield console, http


def bearer(key: str = CONSOLE_KEY) -> dict[str, Any]:
    return {"Authorization": f"Bearer {key}"}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.console import test_browser

    if test_browser.SHOTS:
        terminalreporter.write_sep("-", "console screenshots")
        for path in test_browser.SHOTS:
            terminalreporter.write_line(str(path))
