"""Shared test configuration: every async test runs under asyncio and trio unless it says otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run_in_thread(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine on its own event loop in a helper thread (session fixtures run outside any test loop)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(make())
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


async def drop_schema(url: str, schema: str) -> None:
    """Drop a test's own PostgreSQL schema and everything in it (from asyncio or trio: SQLAlchemy's asyncpg
    engine runs on a loop of its own in a thread)."""
    import anyio
    import sqlalchemy as sa

    from kiegen.adapters.sqlalchemy.engine import create_engine

    async def drop() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            await engine.dispose()

    await anyio.to_thread.run_sync(run_in_thread, drop)


@contextlib.contextmanager
def throwaway_database(url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of ``url`` for one test; its URL (dropped afterwards)."""
    import uuid

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"kiegen_test_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text(statement))
        finally:
            await engine.dispose()

    run_in_thread(lambda: admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        run_in_thread(lambda: admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test server's URL, checked once per session; skip (or fail, in CI) when there is none."""
    url = os.environ.get("KIEGEN_TEST_POSTGRES_URL")
    required = os.environ.get("KIEGEN_REQUIRE_POSTGRES") == "1"
    if not url:
        if required:
            pytest.fail("KIEGEN_REQUIRE_POSTGRES=1 but KIEGEN_TEST_POSTGRES_URL is not set")
        pytest.skip("KIEGEN_TEST_POSTGRES_URL is not set (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)")

    async def probe() -> None:
        import sqlalchemy as sa
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(url, connect_args={"timeout": 5})
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        run_in_thread(probe)
    except Exception as exc:
        from kiegen.adapters.sqlalchemy.engine import redacted

        message = f"PostgreSQL at {redacted(url)} is unreachable: {type(exc).__name__}: {exc}"
        if required:
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory with none of the developer's KIE or database settings: the embedded default."""
    monkeypatch.chdir(tmp_path)
    for name in (
        "KIE_API_KEY",
        "KIEGEN_KIE_BASE_URL",
        "KIEGEN_KIE_UPLOAD_URL",
        "KIEGEN_PUBLIC_URL",
        "KIEGEN_DATABASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path
