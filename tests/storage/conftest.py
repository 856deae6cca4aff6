"""Databases for the storage tests: a fresh SQLite file, or a fresh PostgreSQL schema dropped afterwards.

PostgreSQL tests skip with a reason when ``KIEGEN_TEST_POSTGRES_URL`` is unset and fail when
``KIEGEN_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from storage_harness import Db, drop_schema, run

from kiegen.adapters.sqlalchemy.engine import redacted


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("KIEGEN_TEST_POSTGRES_URL")
    required = os.environ.get("KIEGEN_REQUIRE_POSTGRES") == "1"
    if not url:
        if required:
            pytest.fail("KIEGEN_REQUIRE_POSTGRES=1 but KIEGEN_TEST_POSTGRES_URL is not set")
        pytest.skip("KIEGEN_TEST_POSTGRES_URL is not set (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)")

    async def probe() -> None:
        engine = Db("postgres", url).engine()
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        run(probe())
    except Exception as exc:
        message = f"PostgreSQL at {redacted(url)} is unreachable: {type(exc).__name__}: {exc}"
        if required:
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Db:
    return Db("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'kiegen.db'}")


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[Db]:
    schema = f"kiegen_test_{uuid.uuid4().hex[:12]}"
    yield Db("postgres", postgres_url, schema)
    run(drop_schema(postgres_url, schema))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Db:
    db: Db = request.getfixturevalue(f"{request.param}_db")
    return db
