"""PostgreSQL through asyncpg on an asyncio loop the store owns: one writer connection with group commit, a
pool of readers, and room for the store's other connections (LISTEN, a leader's advisory lock).

asyncpg speaks asyncio only, so the store runs its own loop on its own thread (uvloop when installed) and
the caller's loop, asyncio or trio, only waits for results (``kiegen.adapters.sqlalchemy.bridge``). Nothing
of asyncpg ever runs on the caller's loop.

**Writes** queue to one writer task. It takes every write waiting (up to ``max_batch``), opens one
transaction, runs each operation in its own ``SAVEPOINT`` (a failing operation rolls back to its savepoint
only), sends one ``pg_notify`` per job changed by the batch's successful operations, commits once, and only
then wakes the callers: other processes are woken by the NOTIFY that the COMMIT releases. An operation that
meets a deadlock or a lock timeout (another process's batch holds its rows) is rolled back to its savepoint
and runs again in the next batch. Prepared statements are asyncpg's per-connection statement cache: every
statement text is constant.

**Reads** take a pooled connection (``readers`` of them, opened at start) for one statement each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

import anyio
import asyncpg
from sqlalchemy.engine import URL, make_url

from kiegen.adapters.sqlalchemy.bridge import Pending, finish_all
from kiegen.adapters.sqlalchemy.sql import Conn, IntegrityViolation, PostgresCodec, Sql, store_error
from kiegen.core.errors import KiegenError, StoreError

__all__ = ["PostgresDatabase", "channel_for"]

log = logging.getLogger("kiegen.store")

T = TypeVar("T")
Op = Callable[[Conn], Coroutine[Any, Any, T]]

_EMPTY: Mapping[str, Any] = {}
_STOP = object()
_NOTIFY = "SELECT pg_notify($1, job_id) FROM unnest($2::text[]) AS job_id"
_CONTENDED = (asyncpg.DeadlockDetectedError, asyncpg.LockNotAvailableError, asyncpg.SerializationError)
_MAX_CONTENDED = 5
CHANNEL = "kiegen_jobs"


def channel_for(schema: str | None) -> str:
    """The NOTIFY channel of one set of tables (a schema of its own has its own channel)."""
    return CHANNEL if schema is None else f"{CHANNEL}.{schema}"[:63]


def _rowcount(status: str) -> int:
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class PgConn(PostgresCodec):
    __slots__ = ("_raw", "notified")

    def __init__(self, raw: asyncpg.Connection) -> None:
        self._raw = raw
        self.notified: set[str] = set()

    async def fetchrow(self, statement: Sql, params: Mapping[str, Any] = _EMPTY) -> Any:
        try:
            return await self._raw.fetchrow(statement.postgres, *statement.args(params))
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityViolation(str(exc)) from exc

    async def fetch(self, statement: Sql, params: Mapping[str, Any] = _EMPTY) -> list[Any]:
        try:
            rows: list[Any] = await self._raw.fetch(statement.postgres, *statement.args(params))
            return rows
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityViolation(str(exc)) from exc

    async def fetchval(self, statement: Sql, params: Mapping[str, Any] = _EMPTY) -> Any:
        try:
            return await self._raw.fetchval(statement.postgres, *statement.args(params))
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityViolation(str(exc)) from exc

    async def execute(self, statement: Sql, params: Mapping[str, Any] = _EMPTY) -> int:
        try:
            return _rowcount(await self._raw.execute(statement.postgres, *statement.args(params)))
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityViolation(str(exc)) from exc

    async def executemany(self, statement: Sql, rows: Sequence[Mapping[str, Any]]) -> None:
        try:
            await self._raw.executemany(statement.postgres, [statement.args(row) for row in rows])
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityViolation(str(exc)) from exc

    def notify(self, job_id: str) -> None:
        self.notified.add(job_id)


def _failure(exc: BaseException) -> BaseException:
    if isinstance(exc, KiegenError | ValueError):
        return exc
    if isinstance(exc, IntegrityViolation | asyncpg.DataError | UnicodeEncodeError | OverflowError):
        return store_error(exc, retryable=False)  # the value itself was refused: retrying cannot help
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError | OSError | TimeoutError):
        return store_error(exc)
    return exc


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()  # type: ignore[no-any-return,unused-ignore]


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _reset_reader(conn: asyncpg.Connection) -> None:
    """What a reader needs before it goes back to the pool. A read is one statement, never a LISTEN, a lock, a
    cursor or a SET, so asyncpg's own reset (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``, a
    round trip per read: 14% of the store thread under callback load) has nothing to undo; a transaction left
    open by a failure is the one thing that could be there, and the connection knows that without asking."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class PostgresDatabase:
    """Start with ``await db.start()`` (opens the readers and the writer), stop with ``await db.aclose()``.
    ``before_commit(n)`` (tests only: the crash harness) runs after a batch's ``n`` savepoints, before its
    COMMIT."""

    dialect = "postgresql"
    connection_errors = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
    """What a dead or refused connection raises (for the store's other users: the leader lock, LISTEN)."""

    def __init__(
        self,
        url: str | URL,
        *,
        schema: str | None = None,
        readers: int = 4,
        max_batch: int = 256,
        lock_timeout_ms: int = 2000,
        connect_timeout_s: float = 10.0,
        before_commit: Callable[[int], None] | None = None,
    ) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.where = make_url(url).render_as_string(hide_password=True)
        self.schema = schema
        self.channel = channel_for(schema)
        self.readers = readers
        self.max_batch = max_batch
        self.connect_timeout_s = connect_timeout_s
        self._settings = {"search_path": schema} if schema else {}
        self._lock_timeout = f"{lock_timeout_ms}ms"
        self._before_commit = before_commit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pool: asyncpg.Pool | None = None
        self._writer_conn: asyncpg.Connection | None = None
        self._inbox: asyncio.Queue[Any] | None = None
        self._retry: list[Pending[Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writer_task: asyncio.Task[None] | None = None
        self.batches = 0
        self.writes_done = 0

    # lifecycle

    async def prepare(self) -> None:
        """Nothing to do before the migrations (they create the schema)."""

    async def start(self) -> None:
        if self._thread is not None:
            return
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run_loop, args=(ready,), name="kiegen-postgres", daemon=True)
        self._thread.start()
        await anyio.to_thread.run_sync(ready.wait)
        try:
            await self.call(self._open)
        except BaseException:
            await self.aclose()
            raise

    def _run_loop(self, ready: threading.Event) -> None:
        loop = _new_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=self.readers,
                max_size=self.readers,
                init=_init_connection,
                reset=_reset_reader,
                server_settings=self._settings,
                timeout=self.connect_timeout_s,
            )
            await self._writer_connection()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {self.where}: {type(exc).__name__}: {exc}") from None
        self._inbox = asyncio.Queue()
        self._writer_task = asyncio.get_running_loop().create_task(self._write_loop(), name="kiegen-postgres-writer")

    async def aclose(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(StoreError):
            await self.call(self._close)
        loop.call_soon_threadsafe(loop.stop)
        await anyio.to_thread.run_sync(thread.join)
        self._loop = self._thread = None

    async def _close(self) -> None:
        if self._inbox is not None and self._writer_task is not None:
            self._inbox.put_nowait(_STOP)
            with contextlib.suppress(Exception):
                await self._writer_task
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._writer_conn is not None:
            self._writer_conn.terminate()
            self._writer_conn = None
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None

    # running things on the store's loop

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn()`` on the store's loop and wait for its result from the caller's loop."""
        loop = self._loop
        if loop is None:
            raise StoreError("the store is not open (use 'async with' or await open())")
        pending: Pending[T] = Pending(fn)
        loop.call_soon_threadsafe(self._spawn, pending)
        return await pending.result()

    def _spawn(self, pending: Pending[Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._run(pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, pending: Pending[Any]) -> None:
        try:
            pending.value = await pending.op()
        except asyncio.CancelledError:
            pending.error = StoreError("the store is closing")
        except BaseException as exc:
            pending.error = _failure(exc)
        pending.finish()

    def background(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """From the store's loop: run ``fn()`` until the store closes (e.g. a LISTEN supervisor)."""
        task = asyncio.get_running_loop().create_task(fn())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def connect(self) -> asyncpg.Connection:
        """From the store's loop: a connection of its own (LISTEN, a session advisory lock)."""
        conn = await asyncpg.connect(self.dsn, server_settings=self._settings, timeout=self.connect_timeout_s)
        await _init_connection(conn)
        return conn

    # reads

    async def read(self, op: Op[T]) -> T:
        return await self.call(lambda: self._read(op))

    async def _read(self, op: Op[T]) -> T:
        assert self._pool is not None
        async with self._pool.acquire() as raw:
            return await op(PgConn(raw))

    # writes

    async def write(self, op: Op[T]) -> T:
        loop = self._loop
        if loop is None or self._inbox is None:
            raise StoreError("the store is not open (use 'async with' or await open())")
        pending: Pending[T] = Pending(op)
        loop.call_soon_threadsafe(self._inbox.put_nowait, pending)
        return await pending.result()

    async def _writer_connection(self) -> asyncpg.Connection:
        conn = self._writer_conn
        if conn is None or conn.is_closed():
            # The writer's statements are point updates, inserts and claims that walk a partial index in
            # order. PostgreSQL multiplies the selectivities of "status is live" and "due <= now" as if they
            # were independent (only live rows are due): it then expects a handful of rows and picks a bitmap
            # scan that reads and sorts every due row (thousands after an outage) before LIMIT. Without bitmap
            # scans it walks the index and stops after LIMIT rows.
            settings = {**self._settings, "lock_timeout": self._lock_timeout, "enable_bitmapscan": "off"}
            conn = await asyncpg.connect(self.dsn, server_settings=settings, timeout=self.connect_timeout_s)
            await _init_connection(conn)
            self._writer_conn = conn
        return conn

    async def _write_loop(self) -> None:
        assert self._inbox is not None
        stop = False
        while not stop:
            batch, self._retry = self._retry, []
            if not batch:
                first = await self._inbox.get()
                if first is _STOP:
                    return
                batch.append(first)
            while len(batch) < self.max_batch and not self._inbox.empty():
                item = self._inbox.get_nowait()
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._retry = await self._commit(batch)
            retried = set(map(id, self._retry))
            finish_all(p for p in batch if id(p) not in retried)
        for pending in self._retry:
            pending.error = StoreError("the store closed before this write could be retried")
        finish_all(self._retry)

    async def _commit(self, batch: list[Pending[Any]]) -> list[Pending[Any]]:
        """Run the batch in one transaction; returns the operations to run again in the next batch."""
        retry: list[Pending[Any]] = []
        notified: set[str] = set()
        try:
            raw = await self._writer_connection()
            await raw.execute("BEGIN; SAVEPOINT op")
            for index, pending in enumerate(batch):
                if index:
                    await raw.execute("RELEASE SAVEPOINT op; SAVEPOINT op")
                conn = PgConn(raw)
                try:
                    pending.value = await pending.op(conn)
                except _CONTENDED as exc:
                    await raw.execute("ROLLBACK TO SAVEPOINT op")
                    pending.attempts += 1
                    if pending.attempts < _MAX_CONTENDED:
                        retry.append(pending)
                    else:
                        pending.error = store_error(exc)
                except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError, TimeoutError):
                    raise
                except Exception as exc:
                    await raw.execute("ROLLBACK TO SAVEPOINT op")
                    pending.error = _failure(exc)
                else:
                    notified |= conn.notified
            if notified:
                await raw.execute(_NOTIFY, self.channel, sorted(notified))
            if self._before_commit is not None:
                self._before_commit(len(batch))
            await raw.execute("RELEASE SAVEPOINT op; COMMIT")
        except Exception as exc:  # the transaction itself failed: nothing of it is kept
            log.warning("a write batch on %s failed: %s", self.where, type(exc).__name__)
            writer, self._writer_conn = self._writer_conn, None
            if writer is not None:
                writer.terminate()
            for pending in batch:
                pending.value = None
                pending.error = store_error(exc)
            return []
        self.batches += 1
        self.writes_done += len(batch) - len(retry)
        return retry
