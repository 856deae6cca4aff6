"""SQLite through the ``sqlite3`` module: one writer per process with group commit, on the caller's thread.

**Writes** queue to the process's one writer connection. The first caller to find no batch running leads:
it lets the event loop run once (every write that comes in meanwhile joins), takes the database's write lock
(``BEGIN IMMEDIATE``; while another process holds it, the leader waits asynchronously, never blocking the
loop), runs each operation in its own ``SAVEPOINT`` (a failing operation rolls back its savepoint only and its
caller gets the error), commits once, and only then wakes the callers: "stored, then answered" holds for every
caller of the batch, and a process killed before the COMMIT leaves nothing of the batch behind. When its own
write is done the leader hands the lead to the next waiting caller. Batches grow with the load; a quiet store
commits each write at once.

The batch runs on the event loop's thread, synchronously: a statement of these operations takes microseconds,
and a thread would cost more than it saves, because CPython hands the GIL back to a waiting thread only every
few milliseconds while the loop is busy (measured with ``writes="thread"``, the same batches on a writer
thread: see docs/PERFORMANCE.md). WAL checkpoints, which write and sync the database file, run on a
checkpointer thread of their own (``PASSIVE``: they never block the writer).

**Reads** run on the calling thread too: an indexed SELECT on a WAL database never waits for the writer.
Each read is one statement, consistent on its own. ``reads="thread"`` runs them on a worker thread instead.

WAL journal, ``synchronous = NORMAL`` (durable across application crashes; an OS crash may lose the last
commits), a 30 s bound on waiting for another process's write lock. Use the store from one event loop.
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
import anyio.lowlevel

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
_READ_BUSY_TIMEOUT_MS = 5_000
_CHECKPOINT_EVERY = 1000
"""Commits between two checkpoints (SQLite's own automatic checkpoint comes after about 1000 pages)."""
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


def connect(path: str, *, role: Literal["writer", "inline-writer", "reader", "checkpointer"]) -> sqlite3.Connection:
    """A connection in autocommit mode (the store says BEGIN itself), WAL, named rows. The inline writer never
    waits in SQLite's busy handler (it would block the event loop): it waits for the lock itself."""
    busy = {"writer": BUSY_TIMEOUT_MS, "inline-writer": 0, "reader": _READ_BUSY_TIMEOUT_MS}.get(role, BUSY_TIMEOUT_MS)
    # Opening waits for other processes like any writer would (another process may be writing, or opening the
    # database and recovering its WAL at this moment); only then does a connection get its own busy timeout.
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if role == "reader":
            conn.execute("PRAGMA query_only = 1")
        elif role != "checkpointer":
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        if role == "inline-writer":
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer thread does it
        if busy != BUSY_TIMEOUT_MS:
            conn.execute(f"PRAGMA busy_timeout = {busy}")
    except BaseException:
        conn.close()
        raise
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


class _Write:
    """One write of the inline writer: its operation, then its value or error."""

    __slots__ = ("done", "error", "event", "lead", "op", "value")

    def __init__(self, op: Op[Any]) -> None:
        self.op = op
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = False
        self.lead = False
        self.event = anyio.Event()


class SqliteDatabase:
    """Start with ``await db.start()``, stop with ``await db.aclose()``. ``before_commit(n)`` (tests only:
    the crash harness) runs after a batch's ``n`` savepoints, just before its COMMIT."""

    dialect = "sqlite"

    def __init__(
        self,
        path: str,
        *,
        max_batch: int = 256,
        linger_s: float = 0.0,
        writes: Literal["inline", "thread"] = "inline",
        reads: Literal["inline", "thread"] = "inline",
        before_commit: Callable[[int], None] | None = None,
    ) -> None:
        self.path = path
        self.max_batch = max_batch
        self.linger_s = linger_s
        self.writes = writes
        self.reads = reads
        self._before_commit = before_commit
        self._started = False
        self._closed = False
        # inline writer
        self._writer_conn: sqlite3.Connection | None = None
        self._waiting: list[_Write] = []
        self._leader: _Write | None = None
        self._checkpointer: threading.Thread | None = None
        self._checkpoint_due = threading.Event()
        self._since_checkpoint = 0
        # writer thread
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        # readers
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._all_readers: list[sqlite3.Connection] = []
        self.batches = 0
        """Batches committed (for benchmarks and tests: writes / batches is the mean batch size)."""
        self.writes_done = 0

    # lifecycle

    async def prepare(self) -> None:
        """Create the database file, private to its owner, before anything else (the migrations) opens it."""
        try:
            await anyio.to_thread.run_sync(create_private, self.path)
        except OSError as exc:
            raise store_error(exc) from None

    async def start(self) -> None:
        if self._started:
            return
        role: Literal["writer", "inline-writer"] = "inline-writer" if self.writes == "inline" else "writer"
        conn = await anyio.to_thread.run_sync(self._open, role)
        if self.writes == "inline":
            self._writer_conn = conn
            self._checkpointer = threading.Thread(
                target=self._checkpoints, name="kiegen-sqlite-checkpoints", daemon=True
            )
            self._checkpointer.start()
        else:
            self._writer = threading.Thread(
                target=self._write_loop, args=(conn,), name="kiegen-sqlite-writer", daemon=True
            )
            self._writer.start()
        self._started = True

    def _open(self, role: Literal["writer", "inline-writer", "checkpointer"]) -> sqlite3.Connection:
        try:
            return connect(self.path, role=role)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the SQLite database {self.path!r}: {exc}") from None

    async def aclose(self) -> None:
        self._closed = True
        self._started = False
        writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(_STOP)
            await anyio.to_thread.run_sync(writer.join)
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            self._checkpoint_due.set()
            await anyio.to_thread.run_sync(checkpointer.join)
        conn, self._writer_conn = self._writer_conn, None
        if conn is not None:
            conn.close()
        with self._readers_lock:
            readers, self._all_readers, self._readers = self._all_readers, [], []
        for reader in readers:
            reader.close()

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
                conn = connect(self.path, role="reader")
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
        if not self._started:
            raise StoreError("the store is not open (use 'async with' or await open())")
        if self.writes == "thread":
            pending: Pending[T] = Pending(op)
            self._queue.put(pending)
            return await pending.result()
        write = _Write(op)
        self._waiting.append(write)
        try:
            if self._leader is None:
                self._leader = write
                write.lead = True
            else:
                await write.event.wait()  # done by a leader, or handed the lead
            if not write.done:
                await self._lead(write)
        except BaseException:
            if not write.done:  # cancelled before its batch began: it is not written at all
                self._waiting.remove(write)
                if write.lead:
                    self._hand_over()
            raise
        if write.error is not None:
            raise write.error
        return write.value  # type: ignore[no-any-return]

    async def _lead(self, mine: _Write) -> None:
        """Run batches until ``mine`` is done, then hand the lead to the next waiting write."""
        await anyio.lowlevel.checkpoint()  # let the writes of this turn of the loop join the batch
        while not mine.done:
            try:
                await self._lock_database()
            except StoreError as error:
                for write in self._take():
                    write.error, write.done = error, True
                    write.event.set()
                continue
            batch = self._take()
            assert self._writer_conn is not None
            self._commit(self._writer_conn, batch)
            for write in batch:
                write.done = True
                write.event.set()
        self._hand_over()

    def _take(self) -> list[_Write]:
        batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
        return batch

    def _hand_over(self) -> None:
        """Give the lead to the first write still waiting (or to nobody)."""
        self._leader = None
        if self._waiting:
            write = self._leader = self._waiting[0]
            write.lead = True
            write.event.set()

    async def _lock_database(self) -> None:
        """``BEGIN IMMEDIATE``, waiting (without blocking the loop) while another process holds the lock."""
        raw = self._writer_conn
        if raw is None:
            raise StoreError("the store is closed")
        delay, waited = 0.0005, 0.0
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or waited >= BUSY_TIMEOUT_MS / 1000:
                    raise store_error(exc) from None
            await anyio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.025)

    def _checkpoints(self) -> None:
        """The checkpointer thread: copy committed WAL frames into the database file, off the event loop."""
        conn = self._open("checkpointer")
        try:
            while not self._closed:
                self._checkpoint_due.wait(timeout=1.0)
                self._checkpoint_due.clear()
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        """The writer thread (``writes="thread"``)."""
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                batch, stop = self._gather(first)
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as exc:
                    for pending in batch:
                        pending.error = store_error(exc)
                else:
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

    def _commit(self, raw: sqlite3.Connection, batch: Sequence[_Write] | Sequence[Pending[Any]]) -> None:
        """Run ``batch`` in the transaction just begun, a savepoint each, and commit it (or roll it all back)."""
        conn = SqliteConn(raw)
        try:
            for write in batch:
                raw.execute("SAVEPOINT op")
                try:
                    write.value = drive(write.op(conn))
                except Exception as exc:
                    raw.execute("ROLLBACK TO op")
                    write.error = _failure(exc)
                raw.execute("RELEASE op")
            if self._before_commit is not None:
                self._before_commit(len(batch))
            raw.execute("COMMIT")
        except sqlite3.Error as exc:  # the transaction itself failed (disk full, I/O error): nothing is kept
            with contextlib.suppress(sqlite3.Error):
                raw.execute("ROLLBACK")
            for write in batch:
                write.value = None
                write.error = store_error(exc)
            return
        self.batches += 1
        self.writes_done += len(batch)
        self._since_checkpoint += 1
        if self._since_checkpoint >= _CHECKPOINT_EVERY:
            self._since_checkpoint = 0
            self._checkpoint_due.set()
