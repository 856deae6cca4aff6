"""One leader among the processes sharing a database, for work that must not run twice at once (a Telegram bot's
long polling: two pollers of one bot steal each other's updates and Telegram answers 409 Conflict).

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) taken on a dedicated connection (in
  autocommit, so it never sits idle in a transaction) and held for as long as the leader runs. The server
  frees it the moment that connection ends, so a crashed, killed or partitioned leader hands over by itself.
  The key is the lock's name within the connection's ``search_path``, so tenants in their own schemas each
  have their own leader.
- SQLite (one host): an exclusive ``flock`` on a file next to the database (``kiegen.db.<name>.lock``). The
  kernel frees it when the holder's process ends, however it ends.

``lead(lock, body)`` runs ``body`` while holding the lock: it waits (logging one line) while another process
leads, checks that it still holds the lock every ``check_s`` while ``body`` runs, and, if the lock is lost
(the PostgreSQL connection was killed), cancels ``body``, lets the waiting instances take over, and waits to
lead again. Between the loss and its
detection both may run for up to ``check_s``; the lock bounds that overlap, it does not make it impossible.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.lowlevel

from kiegen.adapters.sqlalchemy.store import SqlAlchemyJobStore
from kiegen.core.errors import StoreError

if TYPE_CHECKING:
    from kiegen.adapters.sqlalchemy.postgres import PostgresDatabase

__all__ = ["FileLeaderLock", "LeaderLock", "PostgresLeaderLock", "lead", "leader_lock"]

log = logging.getLogger("kiegen.leader")

# Namespace of the leader locks: pg_try_advisory_lock(namespace, hashtext(search_path || ':' || name)).
_LEADER_NAMESPACE = 0x6B69656C  # "kiel"
_TRY_LOCK = "SELECT pg_try_advisory_lock($1, hashtext(current_setting('search_path') || $2)), pg_backend_pid()"
_UNLOCK = "SELECT pg_advisory_unlock($1, hashtext(current_setting('search_path') || $2))"


class LeaderLock(Protocol):
    """A lock that at most one process holds. ``try_acquire`` never waits; ``held`` says whether the lock is
    still this process's (False once lost or released); ``release`` is safe to call when not held."""

    @property
    def description(self) -> str: ...

    async def try_acquire(self) -> bool: ...

    async def held(self) -> bool: ...

    async def release(self) -> None: ...


class PostgresLeaderLock:
    """The lock on a connection of its own, on the store's loop (``PostgresDatabase.connect``)."""

    def __init__(self, database: PostgresDatabase, name: str) -> None:
        self._db = database
        self._name = name
        self._conn: Any = None
        self._pid: int | None = None

    @property
    def description(self) -> str:
        return f"PostgreSQL advisory lock {self._name!r}"

    @property
    def backend_pid(self) -> int | None:
        """The server process holding the lock for us, while held (what ``pg_terminate_backend`` would end)."""
        return self._pid if self._conn is not None else None

    async def try_acquire(self) -> bool:
        if self._conn is not None:
            return await self.held()
        return await self._db.call(self._try_acquire)

    async def _try_acquire(self) -> bool:
        conn = await self._db.connect()
        try:
            got, pid = await conn.fetchrow(_TRY_LOCK, _LEADER_NAMESPACE, f":{self._name}")
        except BaseException:
            conn.terminate()
            raise
        if not got:
            await conn.close()  # waiting needs no connection
            return False
        self._conn, self._pid = conn, int(pid)
        return True

    async def held(self) -> bool:
        if self._conn is None:
            return False
        return await self._db.call(self._held)

    async def _held(self) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            await conn.fetchval("SELECT 1")
        except self._db.connection_errors as exc:
            # The connection is gone, and with it the lock (the server released it).
            log.debug("the connection holding the %s failed: %s", self.description, type(exc).__name__)
            self._conn = None
            conn.terminate()
            return False
        return True

    async def release(self) -> None:
        if self._conn is None:
            return
        with contextlib.suppress(StoreError):
            await self._db.call(self._release)

    async def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.fetchval(_UNLOCK, _LEADER_NAMESPACE, f":{self._name}")
            await conn.close()
        except self._db.connection_errors:
            conn.terminate()  # a dead connection released the lock already


class FileLeaderLock:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    @property
    def description(self) -> str:
        return f"file lock {str(self._path)!r}"

    @property
    def path(self) -> Path:
        return self._path

    async def try_acquire(self) -> bool:
        await anyio.lowlevel.checkpoint()
        if self._fd is not None:
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # flock (not lockf): it belongs to this open file, so two locks in one process exclude each other too.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        # Who leads, for an operator looking at the file (the lock itself is the flock, not this content).
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    async def held(self) -> bool:
        await anyio.lowlevel.checkpoint()
        return self._fd is not None  # the kernel keeps it while the file is open

    async def release(self) -> None:
        await anyio.lowlevel.checkpoint()
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def leader_lock(store: SqlAlchemyJobStore, name: str) -> LeaderLock:
    """The leader lock named ``name`` for the processes sharing ``store``'s database. ``name`` may hold only
    A-Z a-z 0-9 . _ -."""
    if not name or not all(c.isascii() and (c.isalnum() or c in "._-") for c in name):
        raise ValueError(f"leader lock name {name!r}: use A-Z a-z 0-9 . _ - only")
    database = store.database
    if database.dialect == "postgresql":
        return PostgresLeaderLock(database, name)
    return FileLeaderLock(Path(f"{database.path}.{name}.lock"))


async def lead(
    lock: LeaderLock,
    body: Callable[[], Awaitable[None]],
    *,
    retry_s: float = 2.0,
    check_s: float = 5.0,
) -> None:
    """Run ``body`` as the leader; return when ``body`` returns (the lock is released). See the module doc."""
    while True:
        if not await lock.try_acquire():
            log.info("another instance holds the %s: waiting to take over", lock.description)
            # Polling: a lock held by another process or server session sends no wake-up.
            while True:
                await anyio.sleep(retry_s)
                if await lock.try_acquire():
                    break
            log.info("took over the %s", lock.description)
        lost = False
        try:
            async with anyio.create_task_group() as tg:

                async def watch() -> None:
                    nonlocal lost
                    while True:
                        await anyio.sleep(check_s)
                        if not await lock.held():
                            break
                    lost = True
                    tg.cancel_scope.cancel()

                tg.start_soon(watch)
                await body()
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await lock.release()
        if not lost:
            return
        log.warning("lost the %s: stopped, waiting to lead again", lock.description)
        # Give the instances that were waiting (they try every retry_s) the first chance to take over: the
        # loss may be an operator deposing this one.
        await anyio.sleep(2 * retry_s)
