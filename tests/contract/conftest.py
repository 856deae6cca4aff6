"""JobStore fixtures: one fresh store per test, in memory, in a SQLite file, or in a PostgreSQL schema.

SQLite: the real migrations run once per session into a template file; each test copies it (fast, and still
the migrated schema). PostgreSQL: each test migrates its own schema and drops it afterwards. PostgreSQL tests
skip with a reason when ``KIEGEN_TEST_POSTGRES_URL`` is unset, and fail when ``KIEGEN_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kiegen.adapters.memory import InMemoryBotStore, InMemoryJobStore
from kiegen.ports.bot import BotStore
from kiegen.ports.store import JobStore
from tests.conftest import drop_schema, run_in_thread


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kiegen.adapters.sqlalchemy import migrate

    path = tmp_path_factory.mktemp("template") / "kiegen.db"
    run_in_thread(lambda: migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
async def store(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobStore]:
    if store_kind == "memory":
        memory = InMemoryJobStore()
        yield memory
        await memory.aclose()
        return

    from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore

    if store_kind == "sqlite":
        path = tmp_path / "kiegen.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        # migrate=True still runs: it finds the copy at head and does nothing.
        sql = await SqlAlchemyJobStore.open(f"sqlite+aiosqlite:///{path}")
        yield sql
        await sql.aclose()
        return

    url: str = request.getfixturevalue("postgres_url")
    schema = f"kiegen_test_{uuid.uuid4().hex[:12]}"
    sql = await SqlAlchemyJobStore.open(url, schema=schema)
    try:
        yield sql
    finally:
        await sql.aclose()
        await drop_schema(url, schema)


@pytest.fixture
def bot_store(store_kind: str, request: pytest.FixtureRequest) -> BotStore:
    """A fresh BotStore of ``store_kind``; the SQL ones live on the ``store`` fixture's database (its engine)."""
    if store_kind == "memory":
        return InMemoryBotStore()
    from kiegen.adapters.sqlalchemy.bot_store import SqlAlchemyBotStore

    job_store = request.getfixturevalue("store")
    return SqlAlchemyBotStore(job_store)
