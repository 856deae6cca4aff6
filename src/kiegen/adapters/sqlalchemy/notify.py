"""PostgresNotifier: the Notifier port (``kiegen.ports.notify``) across processes, with LISTEN/NOTIFY.

One dedicated connection on the store's own loop LISTENs on the store's channel; a notification's payload is
a job id, and it wakes this process's subscribers of that job (on their own event loop, asyncio or trio).
The SQL job store sends the NOTIFY itself, inside the transaction that changes the job, so other processes
wake when that transaction commits; ``publish`` then only wakes this process's subscribers
(``remote=False``, how ``kiegen.bootstrap`` builds it beside the SQL store). With ``remote=True`` it sends
``pg_notify`` itself instead, for changes the store did not make, and this process's subscribers wake when that
notification comes back to its own LISTEN (at once, when it is not listening).

When the listening connection dies (server restart, ``pg_terminate_backend``, a network cut) a supervisor
reconnects with capped backoff, and on losing and on regaining it wakes **every** subscriber: notifications
sent meanwhile are lost, so waiters must re-read storage. That is their contract anyway (a notification is a
hint; waiters bound each ``wait`` with a cancel scope and re-read storage at a short interval), so a dead
listener costs latency, never a hang. A periodic ``SELECT 1`` catches connections that die silently.

Needs ``kiegen[postgres]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any, Self

import anyio

from kiegen.adapters.sqlalchemy.bridge import Waker, current_waker
from kiegen.adapters.sqlalchemy.sql import Conn, sql
from kiegen.adapters.sqlalchemy.store import SqlAlchemyJobStore

__all__ = ["PostgresNotifier", "PostgresSubscription"]

log = logging.getLogger(__name__)

_NOTIFY = sql("SELECT pg_notify(:channel, :job_id)")


class PostgresSubscription:
    """Woken by local publishes, NOTIFY and listener reconnects, from any thread."""

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._waker: Waker = current_waker()

    def _set(self) -> None:
        self._event.set()

    def wake_from_thread(self) -> None:
        with contextlib.suppress(RuntimeError):  # its loop has ended
            self._waker(self._set)

    async def wait(self) -> None:
        await self._event.wait()
        self._event = anyio.Event()


class _Subscribers:
    """Subscriptions by job id, subscribed on the caller's loop and woken from the store's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_job: dict[str, set[PostgresSubscription]] = {}

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[PostgresSubscription]:
        subscription = PostgresSubscription()
        with self._lock:
            self._by_job.setdefault(job_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                subscriptions = self._by_job.get(job_id)
                if subscriptions is not None:
                    subscriptions.discard(subscription)
                    if not subscriptions:
                        del self._by_job[job_id]

    def local(self, job_id: str) -> None:
        """From the caller's loop."""
        with self._lock:
            subscriptions = list(self._by_job.get(job_id, ()))
        for subscription in subscriptions:
            subscription._set()

    def remote(self, job_ids: list[str] | None) -> None:
        """From the store's thread; ``None`` wakes everyone."""
        with self._lock:
            if job_ids is None:
                subscriptions = [s for group in self._by_job.values() for s in group]
            else:
                subscriptions = [s for job_id in job_ids for s in self._by_job.get(job_id, ())]
        for subscription in subscriptions:
            subscription.wake_from_thread()


class PostgresNotifier:
    """``async with PostgresNotifier(store) as notifier`` (the store open already)."""

    def __init__(
        self,
        store: SqlAlchemyJobStore,
        *,
        remote: bool = False,
        health_check_s: float = 5.0,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._store = store
        self._db: Any = store.database
        if self._db.dialect != "postgresql":
            raise ValueError("PostgresNotifier needs a PostgreSQL store")
        self._remote = remote
        self._health_check_s = health_check_s
        self._max_backoff_s = max_backoff_s
        self._subscribers = _Subscribers()
        self._listening = threading.Event()
        self._listener_pid: int | None = None
        self._listened_before = False
        self._started = False
        self.reconnects = 0
        """How many times the listening connection was re-established (observable for tests and metrics)."""

    # lifecycle

    async def start(self, *, wait_s: float | None = None) -> None:
        """Start listening; wait up to ``wait_s`` (default: the database's connect timeout) for LISTEN to be in
        place. If the database is unreachable the notifier keeps trying in the background."""
        if not self._started:
            self._started = True
            await self._db.call(self._start_supervisor)
        await self.wait_listening(self._db.connect_timeout_s if wait_s is None else wait_s)

    async def _start_supervisor(self) -> None:
        self._db.background(self._supervise)

    async def aclose(self) -> None:
        # The supervisor is the database's background task: it ends when the store closes.
        self._started = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    @property
    def listener_pid(self) -> int | None:
        """Server process id of the listening connection (what ``pg_terminate_backend`` takes)."""
        return self._listener_pid if self.listening else None

    async def wait_listening(self, timeout_s: float) -> bool:
        return await anyio.to_thread.run_sync(self._listening.wait, timeout_s)

    # the port

    def subscribe(self, job_id: str) -> AbstractAsyncContextManager[PostgresSubscription]:
        return self._subscribers.subscribe(job_id)

    async def publish(self, job_id: str) -> None:
        if not self._remote:
            self._subscribers.local(job_id)
            await anyio.lowlevel.checkpoint()
            return
        # A NOTIFY reaches this process's own LISTEN too: while listening, that echo is the one wake-up of the
        # subscribers here (waking them now as well would wake them twice for one publish).
        echoed = self.listening

        async def op(c: Conn) -> None:
            await c.fetchval(_NOTIFY, {"channel": self._db.channel, "job_id": job_id})

        try:
            await self._db.read(op)
        except Exception as exc:  # publishing never raises: a lost NOTIFY costs latency (waiters re-read)
            log.warning("NOTIFY on %s failed (%s); waiters will re-read storage", self._db.where, type(exc).__name__)
            echoed = False
        if not echoed:
            self._subscribers.local(job_id)

    # on the store's loop

    def _on_notification(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self._subscribers.remote([payload])

    async def _supervise(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._listen_until_lost()
                backoff = 0.1  # it had worked: reconnect promptly
            except self._db.connection_errors as exc:
                log.warning("LISTEN connection to %s lost (%s); reconnecting", self._db.where, type(exc).__name__)
            self._listening.clear()
            self._listener_pid = None
            self._subscribers.remote(None)  # notifications may be lost from now on: everyone re-reads storage
            await asyncio.sleep(backoff)
            backoff = min(self._max_backoff_s, backoff * 2)

    async def _listen_until_lost(self) -> None:
        conn = await self._db.connect()
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(self._db.channel, self._on_notification)
            if self._listened_before:
                self.reconnects += 1
            self._listened_before = True
            self._listener_pid = conn.get_server_pid()
            self._listening.set()
            self._subscribers.remote(None)  # anything published while we were not listening is re-read now
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), self._health_check_s)
                except TimeoutError:
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), self._db.connect_timeout_s)
            log.warning("LISTEN connection to %s closed; reconnecting", self._db.where)
        finally:
            conn.terminate()
