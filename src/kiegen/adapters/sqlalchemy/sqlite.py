"""SQLite through the ``sqlite3`` module: one writer thread with group commit, readers on the caller's thread.

**Writes** queue to one writer thread per database and process. It takes every write waiting (up to
``max_batch``; after waiting up to ``linger_s`` for more when it has fewer), opens one ``BEGIN IMMEDIATE``
transaction, runs each operation in its own ``SAVEPOINT`` (a failing operation rolls back its savepoint only
and its caller gets the error), commits once and only then wakes the callers: "stored, then answered" holds
for every caller of the batch, and a process killed before the COMMIT leaves nothing of the batch behind.
While a batch commits, the next one gathers, so batches grow with the load and a quiet store commits each
write at once. ``BEGIN IMMEDIATE`` takes the database's write lock before the first read, and other
processes' writers wait for it under the busy timeout.

**Reads** run on the calling thread, synchronously: an indexed SELECT on a WAL database never waits for the
writer and takes microseconds, less than a hop to a thread and back (measured in ``benchmarks/bench_store.py``:
see docs/PERFORMANCE.md). Each read is one statement, consistent on its own. ``reads="thread"`` runs them on a
worker thread instead (for long scans).

WAL journal, ``synchronous = NORMAL`` (durable across application crashes; an OS crash may lose the last
commits), a 30 s busy timeout. Checkpoints happen on the writer thread, after its commits.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar

import anyio

from kiegen.adapters.sqlalchemy.bridge import Pending, finish_all
from kiegen.adapters.sqlalchemy.sql import (
    Conn,
    IntegrityViolation,
    Sql,
    SqliteCodec,
    drive,
    store_error,
)
from kiegen.core.errors import KiegenError, StoreError

__all__ = ["BUSY_TIMEOUT_MS", "SqliteDatabase"]

T = TypeVar("T")
Op = Callable[[Conn], Coroutine[Any, Any, T]]

BUSY_TIMEOUT_MS = 30_000
_EMPTY: Mapping[str, Any] = {}
_STOP = object()


class SqliteConn(SqliteCodec):
    __slots__ = ("_raw",)

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw

    def _run(self, statement: Sql, params: Mapping[str, Any]) -> sqlite3.Cursor:
        try:
            return self._raw.execute(statement.sqlite, params)
        except sqlite3.IntegrityError as exc:
            raise IntegrityViolation(str(exc)) from exc

    async def fetchrow(self, statement: Sql, params: Mapping[str, Any] = _EMPTY) -> Any:
        row = self._run(statement, params).fetchone()
        return row

    async def fetch(self, statement: Sql, params: Mapping[str, Any] = _EMPTY) -> list[Any]:
        return self._run(statement, params).fetchall()

    async def fetchval(self, statement: Sql, params: Mapping[str, Any] = _EMPTY) -> Any:
        row = self._run(statement, params).fetchone()
        return None if row is None else row[0]

    async def execute(self, statement: Sql, params: Mapping[str, Any] = _EMPTY) -> int:
        return self._run(statement, params).rowcount

    async def executemany(self, statement: Sql, rows: Sequence[Mapping[str, Any]]) -> None:
        try:
            self._raw.executemany(statement.sqlite, rows)
        except sqlite3.IntegrityError as exc:
            raise IntegrityViolation(str(exc)) from exc

    def notify(self, job_id: str) -> None:
        pass


def connect(path: str, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (the store says BEGIN itself), WAL, busy timeout, named rows."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if readonly:
        conn.execute("PRAGMA query_only = 1")
    else:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def create_private(path: str) -> None:
    """Create the database file readable by its owner only (SQLite gives its -wal and -shm files the same
    mode); an existing file is left as it is."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _failure(exc: BaseException) -> BaseException:
    """What the caller of a failed operation gets."""
    if isinstance(exc, KiegenError | ValueError):
        return exc
    if isinstance(exc, IntegrityViolation):
        return store_error(exc, retryable=False)
    if isinstance(exc, UnicodeEncodeError | OverflowError):
        return store_error(exc, retryable=False)  # the value itself cannot be stored: retrying cannot help
    if isinstance(exc, sqlite3.Error | OSError):
        return store_error(exc)
    return exc


class SqliteDatabase:
    """Start with ``await db.start()``, stop with ``await db.aclose()``. ``before_commit(n)`` (tests only:
    the crash harness) runs on the writer thread after a batch's ``n`` savepoints, before its COMMIT."""

    dialect = "sqlite"

    def __init__(
        self,
        path: str,
        *,
        max_batch: int = 256,
        linger_s: float = 0.0,
        reads: Literal["inline", "thread"] = "inline",
        before_commit: Callable[[int], None] | None = None,
    ) -> None:
        self.path = path
        self.max_batch = max_batch
        self.linger_s = linger_s
        self.reads = reads
        self._before_commit = before_commit
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._all_readers: list[sqlite3.Connection] = []
        self._closed = False
        self.batches = 0
        """Batches committed (for benchmarks and tests: writes / batches is the mean batch size)."""
        self.writes = 0

    # lifecycle

    async def prepare(self) -> None:
        """Create the database file, private to its owner, before anything else (the migrations) opens it."""
        try:
            await anyio.to_thread.run_sync(create_private, self.path)
        except OSError as exc:
            raise store_error(exc) from None

    async def start(self) -> None:
        if self._writer is not None:
            return
        conn = await anyio.to_thread.run_sync(self._open_writer)
        self._writer = threading.Thread(target=self._write_loop, args=(conn,), name="kiegen-sqlite-writer", daemon=True)
        self._writer.start()

    def _open_writer(self) -> sqlite3.Connection:
        try:
            return connect(self.path)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the SQLite database {self.path!r}: {exc}") from None

    async def aclose(self) -> None:
        writer, self._writer = self._writer, None
        self._closed = True
        if writer is not None:
            self._queue.put(_STOP)
            await anyio.to_thread.run_sync(writer.join)
        with self._readers_lock:
            readers, self._all_readers, self._readers = self._all_readers, [], []
        for conn in readers:
            conn.close()

    # reads

    async def read(self, op: Op[T]) -> T:
        if self.reads == "thread":
            return await anyio.to_thread.run_sync(self._read_now, op)
        return self._read_now(op)

    def _read_now(self, op: Op[T]) -> T:
        with self._reader() as conn:
            try:
                return drive(op(SqliteConn(conn)))
            except BaseException as exc:
                raise _failure(exc) from exc

    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        if self._closed:
            raise StoreError("the store is closed")
        with self._readers_lock:
            conn = self._readers.pop() if self._readers else None
        if conn is None:
            try:
                conn = connect(self.path, readonly=True)
            except sqlite3.Error as exc:
                raise store_error(exc) from None
            with self._readers_lock:
                self._all_readers.append(conn)
        try:
            yield conn
        finally:
            with self._readers_lock:
                self._readers.append(conn)

    # writes

    async def write(self, op: Op[T]) -> T:
        if self._writer is None:
            raise StoreError("the store is not open (use 'async with' or await open())")
        pending: Pending[T] = Pending(op)
        self._queue.put(pending)
        return await pending.result()

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                batch, stop = self._gather(first)
                self._commit(conn, batch)
                finish_all(batch)
                if stop:
                    return
        finally:
            conn.close()

    def _gather(self, first: Pending[Any]) -> tuple[list[Pending[Any]], bool]:
        batch = [first]
        deadline: float | None = None
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                if self.linger_s <= 0:
                    break
                deadline = deadline or time.monotonic() + self.linger_s
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _commit(self, raw: sqlite3.Connection, batch: list[Pending[Any]]) -> None:
        try:
            raw.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            for pending in batch:
                pending.error = store_error(exc)
            return
        conn = SqliteConn(raw)
        try:
            for pending in batch:
                raw.execute("SAVEPOINT op")
                try:
                    pending.value = drive(pending.op(conn))
                except Exception as exc:
                    raw.execute("ROLLBACK TO op")
                    pending.error = _failure(exc)
                raw.execute("RELEASE op")
            if self._before_commit is not None:
                self._before_commit(len(batch))
            raw.execute("COMMIT")
        except sqlite3.Error as exc:  # the transaction itself failed (disk full, I/O error): nothing is kept
            with contextlib.suppress(sqlite3.Error):
                raw.execute("ROLLBACK")
            for pending in batch:
                pending.value = None
                pending.error = store_error(exc)
            return
        self.batches += 1
        self.writes += len(batch)
