"""Databases for the reliability tests: a fresh SQLite file, or a fresh PostgreSQL database dropped afterwards.

PostgreSQL runs when ``KIEGEN_TEST_POSTGRES_URL`` is set; it skips with the reason otherwise, and fails when
``KIEGEN_REQUIRE_POSTGRES=1``. ``KIEGEN_SOAK=1`` makes every family run its long version.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.reliability.harness import Database, create_database, drop_database


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Database:
    return Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'kiegen.db'}")


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[Database]:
    name = f"kiegen_rel_{uuid.uuid4().hex[:12]}"
    try:
        url = create_database(postgres_url, name)
    except Exception as exc:
        message = f"PostgreSQL is unreachable: {type(exc).__name__}: {exc}"
        if os.environ.get("KIEGEN_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    database = Database("postgres", url, base_url=postgres_url)
    yield database
    for extra in database.created:
        drop_database(postgres_url, extra)
    drop_database(postgres_url, name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Database:
    db: Database = request.getfixturevalue(f"{request.param}_database")
    return db


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print a ``RELIABILITY ...`` figures line past pytest's capture, and append it to the file named by
    ``KIEGEN_RELIABILITY_FIGURES`` when that is set (docs/RELIABILITY.md quotes such a file)."""

    def emit(line: str) -> None:
        with capsys.disabled():
            print("\n" + line, flush=True)
        target = os.environ.get("KIEGEN_RELIABILITY_FIGURES")
        if target:
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    return emit
