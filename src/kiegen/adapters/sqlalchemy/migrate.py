"""Schema migrations (Alembic, shipped in ``migrations/``), applied programmatically: no alembic.ini needed.

``await migrate(url)`` brings the database to the newest revision. It is

- idempotent: at head it does nothing;
- safe when several processes start at once: the whole upgrade runs in one transaction that first takes a
  lock (PostgreSQL: ``pg_advisory_xact_lock``; SQLite: ``BEGIN IMMEDIATE``, the database's single writer lock,
  waited for under the busy timeout). Whoever comes second finds the schema at head and does nothing;
- atomic: both engines run DDL inside that transaction, so a failed upgrade leaves the previous schema;
- never destructive: revisions only add, and there are no downgrades (restore a backup instead).

A database stamped with a revision this kiegen does not know (a newer kiegen migrated it) is refused with a
``StoreError`` instead of being touched.

It runs under asyncio and trio: Alembic drives SQLAlchemy's async engine (aiosqlite, asyncpg), which speaks
asyncio only, so ``migrate`` runs it on a thread of its own with a private event loop.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import anyio
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from kiegen.adapters.sqlalchemy.engine import IMMEDIATE, WRITE, create_engine
from kiegen.core.errors import StoreError

__all__ = ["MIGRATIONS", "current_revision", "head_revision", "migrate", "upgrade_engine"]

MIGRATIONS = Path(__file__).with_name("migrations")

# Key of the advisory lock that serialises migrations across processes (and schemas) on one server.
_MIGRATION_LOCK = 0x6B69656D  # "kiem"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@functools.cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "kiegen ships at least one migration"
    return head


async def migrate(url: str | URL, *, schema: str | None = None, revision: str = "head") -> None:
    """Upgrade the database at ``url`` (and, on PostgreSQL, ``schema``) to ``revision``."""
    await anyio.to_thread.run_sync(functools.partial(asyncio.run, _migrate(url, schema, revision)))


async def _migrate(url: str | URL, schema: str | None, revision: str) -> None:
    engine = create_engine(url, schema=schema, pool_size=1)
    try:
        await upgrade_engine(engine, schema=schema, revision=revision)
    finally:
        await engine.dispose()


async def upgrade_engine(engine: AsyncEngine, *, schema: str | None = None, revision: str = "head") -> None:
    try:
        async with engine.connect() as conn:
            await conn.execution_options(**{WRITE: IMMEDIATE})
            async with conn.begin():
                if engine.dialect.name == "postgresql":
                    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
                    if schema is not None:
                        quoted = engine.dialect.identifier_preparer.quote_schema(schema)
                        await conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
                await conn.run_sync(_upgrade, revision)
    except CommandError as exc:
        raise StoreError(
            f"cannot migrate the database to {revision!r}: {exc}. If a newer kiegen migrated it, upgrade kiegen."
        ) from None
    except (sa.exc.DBAPIError, OSError) as exc:
        error = StoreError(f"migration failed: {type(exc).__name__}: {str(getattr(exc, 'orig', exc))[:300]}")
        error.retryable = True
        raise error from exc


def _upgrade(connection: sa.Connection, revision: str) -> None:
    current = MigrationContext.configure(connection).get_current_revision()
    if revision == "head" and current == head_revision():
        return  # the common start-up case: nothing to do, and no need to load every revision script
    config = _config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
