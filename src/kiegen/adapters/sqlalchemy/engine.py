"""Engines for the two supported databases, configured for many writers.

SQLite (``sqlite+aiosqlite:///path``): WAL (readers never block the writer), a busy timeout (a writer waits for
the lock instead of failing with "database is locked"), and SQLAlchemy emits BEGIN itself instead of the
sqlite3 module's legacy implicit transactions. A connection whose execution options carry ``WRITE`` begins
with ``BEGIN IMMEDIATE``: it takes the write lock before its first read, so a read-then-write transaction can
never fail half-way on a lock upgrade (SQLITE_BUSY_SNAPSHOT, which the busy timeout does not cover). A single
writing statement runs without BEGIN: SQLite makes it its own transaction and retries its lock under the busy
handler, and that saves two round trips to aiosqlite's thread while the database's one write lock is held.

PostgreSQL (``postgresql+asyncpg://``): READ COMMITTED; the store takes row locks (``FOR UPDATE SKIP
LOCKED``) and advisory locks where an invariant spans rows. ``schema`` pins ``search_path`` so that a test (or
a tenant) can live in its own schema.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kiegen.core.errors import ConfigurationError, StoreError

__all__ = [
    "BUSY_TIMEOUT_MS",
    "IMMEDIATE",
    "SINGLE",
    "WRITE",
    "create_engine",
    "redacted",
    "translated_errors",
    "writer_lock",
]

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


_WRITER_LOCKS: weakref.WeakKeyDictionary[sa.Engine, asyncio.Lock] = weakref.WeakKeyDictionary()


def writer_lock(engine: AsyncEngine) -> asyncio.Lock | None:
    """The queue of this process's writers to a SQLite database, shared by every adapter on ``engine`` (the job
    store and the bot store take turns in it); None for engines with row locks (PostgreSQL).

    SQLite has one write lock per database. Writers of this process queue here (FIFO, no sleeping) and only one
    at a time competes with other processes under the busy timeout; otherwise every waiting connection sleeps in
    SQLite's busy handler (1, 2, 5 ... 100 ms) and throughput collapses."""
    if engine.dialect.name != "sqlite":
        return None
    lock = _WRITER_LOCKS.get(engine.sync_engine)
    if lock is None:
        lock = _WRITER_LOCKS[engine.sync_engine] = asyncio.Lock()
    return lock


@contextmanager
def translated_errors() -> Iterator[None]:
    """Database trouble (locks, lost connections, server errors) leaves an adapter as a retryable StoreError;
    integrity errors pass through to the method that knows what they mean."""
    try:
        yield
    except sa.exc.IntegrityError:
        raise
    except (sa.exc.DBAPIError, sa.exc.DisconnectionError, OSError) as exc:
        error = StoreError(f"database error: {type(exc).__name__}: {_first_line(exc)}")
        error.retryable = True
        raise error from exc


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    return text.splitlines()[0] if text else ""


def create_engine(url: str | URL, *, schema: str | None = None, pool_size: int = 5) -> AsyncEngine:
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigurationError(f"KIEGEN_DATABASE_URL is not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.get_driver_name() != "aiosqlite":
            raise ConfigurationError(
                f"KIEGEN_DATABASE_URL {redacted(parsed)!r}: use the async driver, sqlite+aiosqlite:///path"
            )
        return _sqlite_engine(parsed, pool_size=pool_size)
    if backend == "postgresql":
        if parsed.get_driver_name() != "asyncpg":
            raise ConfigurationError(
                f"KIEGEN_DATABASE_URL {redacted(parsed)!r}: use the async driver, postgresql+asyncpg://..."
            )
        return _postgres_engine(parsed, schema=schema, pool_size=pool_size)
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
