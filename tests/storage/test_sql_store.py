"""What the SQL store adds to the port contract: UTC timestamps on both engines, database trouble as a
retryable StoreError, and no database password in errors or logs."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest

from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore
from kiegen.adapters.sqlalchemy.engine import create_engine, redacted
from kiegen.core.errors import ConfigurationError, StoreError
from kiegen.core.jobs import Job
from tests.storage.storage_harness import Db, run

PASSWORD = "s3cret-Pa55word"


def test_timestamps_come_back_timezone_aware_in_utc(db: Db) -> None:
    tokyo = timezone(timedelta(hours=9))
    created = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=tokyo)

    async def scenario() -> Job | None:
        async with await SqlAlchemyJobStore.open(db.url, schema=db.schema) as store:
            job = Job(
                id="tz-1",
                model="m",
                inputs={},
                recipient="console",
                created_at=created,
                updated_at=created.replace(tzinfo=None),  # naive: taken as UTC
                deadline_at=created + timedelta(minutes=15),
            )
            await store.create_job(job)
            return await store.get("tz-1")

    stored = run(scenario())
    assert stored is not None
    assert stored.created_at == created
    assert stored.created_at.tzinfo is UTC
    assert stored.created_at.isoformat() == "2026-02-28T23:30:15.123456+00:00"
    assert stored.updated_at == created.replace(tzinfo=UTC)
    assert stored.deadline_at.tzinfo is UTC


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+asyncpg://kiegen:{PASSWORD}@127.0.0.1:1/kiegen",
        "sqlite+aiosqlite:////nonexistent-dir/x/kiegen.db",
    ],
)
def test_an_unreachable_database_is_a_retryable_store_error_without_the_password(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def open_fails() -> None:
        try:
            await SqlAlchemyJobStore.open(url)
        finally:
            # aiosqlite's worker thread reports a failed connect a moment later; if the loop is gone by then
            # it raises "Event loop is closed" in that thread (omnilib/aiosqlite#241). Let it finish.
            await asyncio.sleep(0.2)

    with pytest.raises(StoreError) as caught:
        run(open_fails())
    assert caught.value.retryable
    if "postgresql" in url:
        assert PASSWORD not in str(caught.value)
        assert PASSWORD not in caplog.text


def test_redacted_urls_hide_the_password() -> None:
    assert PASSWORD not in redacted(f"postgresql+asyncpg://kiegen:{PASSWORD}@db/kiegen")
    assert "kiegen@db" in redacted(f"postgresql+asyncpg://kiegen:{PASSWORD}@db/kiegen").replace(":***", "")


@pytest.mark.parametrize(
    "url", [f"mysql+aiomysql://kiegen:{PASSWORD}@db/kiegen", "sqlite:///:memory:", "sqlite://", "not a url"]
)
def test_a_database_the_store_cannot_use_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SqlAlchemyJobStore.from_url(url)
    assert "KIEGEN_DATABASE_URL" in str(caught.value)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize("url", ["sqlite:///kiegen.db", f"postgresql://kiegen:{PASSWORD}@db/kiegen"])
def test_plain_urls_get_the_drivers_kiegen_ships(url: str) -> None:
    assert SqlAlchemyJobStore.from_url(url).dialect == url.split(":", 1)[0]
    assert create_engine(url).dialect.driver in ("aiosqlite", "asyncpg")
