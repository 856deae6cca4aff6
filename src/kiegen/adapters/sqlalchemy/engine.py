"""SQLAlchemy engines, for what SQLAlchemy still does here: the migrations (Alembic) and tests that inspect a
database. The stores' own statements go straight to the driver (``kiegen.adapters.sqlalchemy.sql``).

SQLite (``sqlite+aiosqlite:///path``): WAL, a busy timeout, and SQLAlchemy emits BEGIN itself instead of the
sqlite3 module's legacy implicit transactions. A connection whose execution options carry ``WRITE`` begins
with ``BEGIN IMMEDIATE``: it takes the write lock before its first read (the migrations' lock).

PostgreSQL (``postgresql+asyncpg://``): ``schema`` pins ``search_path`` so that a test (or a tenant) can live
in its own schema. Plain ``sqlite://`` and ``postgresql://`` URLs get the async drivers.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kiegen.core.errors import ConfigurationError

__all__ = ["BUSY_TIMEOUT_MS", "IMMEDIATE", "SINGLE", "WRITE", "create_engine", "redacted"]

WRITE = "kiegen_write"
"""Execution option saying how a transaction writes, for SQLite: ``"immediate"`` (several statements: BEGIN
IMMEDIATE) or ``"single"`` (one statement, which SQLite runs as its own transaction: no BEGIN at all, so the
write lock is held for the shortest time). Other engines ignore it."""
IMMEDIATE = "immediate"
SINGLE = "single"

BUSY_TIMEOUT_MS = 30_000


def redacted(url: str | URL) -> str:
    """The URL with its password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable database URL>"


def create_engine(url: str | URL, *, schema: str | None = None, pool_size: int = 5) -> AsyncEngine:
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigurationError(f"KIEGEN_DATABASE_URL is not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed.set(drivername="sqlite+aiosqlite"), pool_size=pool_size)
    if backend == "postgresql":
        return _postgres_engine(parsed.set(drivername="postgresql+asyncpg"), schema=schema, pool_size=pool_size)
    raise ConfigurationError(
        f"KIEGEN_DATABASE_URL {redacted(parsed)!r}: kiegen supports sqlite+aiosqlite and postgresql+asyncpg"
    )


def _sqlite_engine(url: URL, *, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        url,
        # sqlite3's own busy handler, installed when the connection opens (before any PRAGMA runs).
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
        pool_size=pool_size,
        max_overflow=pool_size,
    )

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module: SQLAlchemy's "begin" hook below emits BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            # NORMAL is durable across application crashes in WAL mode (only an OS crash may lose the last
            # commits), and it keeps commits from waiting for an fsync each.
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get(WRITE)
        if mode == IMMEDIATE:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif mode != SINGLE:
            connection.exec_driver_sql("BEGIN")

    return engine


def _postgres_engine(url: URL, *, schema: str | None, pool_size: int) -> AsyncEngine:
    connect_args: dict[str, Any] = {}
    if schema is not None:
        connect_args["server_settings"] = {"search_path": schema}
    return create_async_engine(
        url,
        connect_args=connect_args,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
    )
