"""Databases for the storage tests: a fresh SQLite file, or a fresh PostgreSQL schema dropped afterwards.

PostgreSQL tests skip with a reason when ``KIEGEN_TEST_POSTGRES_URL`` is unset and fail when
``KIEGEN_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import drop_schema
from tests.storage.storage_harness import Db, run


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
