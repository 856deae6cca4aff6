"""PostgresNotifier: the Notifier port (``kiegen.ports.notify``) across processes, with LISTEN/NOTIFY.

One dedicated asyncpg connection LISTENs on one channel; a notification's payload is the job id, and it wakes
this process's subscribers of that job. ``publish`` wakes local subscribers at once and sends
``pg_notify(channel, job_id)`` on a second connection, so that every other process listening wakes too.

When the listening connection dies (server restart, ``pg_terminate_backend``, a network cut) a supervisor
reconnects with capped backoff, and on losing and on regaining it wakes **every** subscriber: notifications
sent meanwhile are lost, so waiters must re-read storage. That is their contract anyway (a notification is a
hint; waiters bound each ``wait`` with a cancel scope and re-read storage at a short interval), so a dead
listener costs latency, never a hang. A periodic ``SELECT 1`` catches connections that die silently.

Publishing never raises: a failed NOTIFY is logged (without the database password) and dropped.
asyncio only (asyncpg). Needs ``kiegen[postgres]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Self

import anyio
import asyncpg
from sqlalchemy.engine import URL, make_url

from kiegen.adapters.sqlalchemy.engine import redacted
from kiegen.adapters.wakeups import Subscribers, Subscription

__all__ = ["PostgresNotifier", "PostgresSubscription"]

log = logging.getLogger(__name__)

CHANNEL = "kiegen_jobs"
_NETWORK_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


PostgresSubscription = Subscription
"""A subscription of ``PostgresNotifier`` (woken by local publishes, NOTIFY and listener reconnects)."""


class PostgresNotifier:
    """Use as ``async with PostgresNotifier(url) as notifier``; ``url`` is the store's URL
    (``postgresql+asyncpg://...`` or a plain ``postgresql://`` DSN)."""

    def __init__(
        self,
        url: str | URL,
        *,
        channel: str = CHANNEL,
        health_check_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._where = redacted(url)
        self._channel = channel
        self._health_check_s = health_check_s
        self._connect_timeout_s = connect_timeout_s
        self._max_backoff_s = max_backoff_s
        self._subscribers = Subscribers()
        self._listening = asyncio.Event()
        self._listener_pid: int | None = None
        self._publisher: Any = None
        self._publisher_pid: int | None = None
        self._publish_lock = asyncio.Lock()
        self._supervisor: asyncio.Task[None] | None = None
        self._listened_before = False
        self.reconnects = 0
        """How many times the listening connection was re-established (observable for tests and metrics)."""

    # lifecycle

    async def start(self, *, wait_s: float | None = None) -> None:
        """Start listening; wait up to ``wait_s`` (default: the connect timeout) for LISTEN to be in place.
        If the database is unreachable the notifier keeps trying in the background."""
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name="kiegen-postgres-listener")
        await self.wait_listening(self._connect_timeout_s if wait_s is None else wait_s)

    async def aclose(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        async with self._publish_lock:
            await self._drop_publisher()

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
        with anyio.move_on_after(timeout_s):
            await self._listening.wait()
        return self.listening

    # the port

    def subscribe(self, job_id: str) -> AbstractAsyncContextManager[Subscription]:
        return self._subscribers.subscribe(job_id)

    async def publish(self, job_id: str) -> None:
        self._wake(job_id)
        async with self._publish_lock:
            for _ in range(2):  # a publisher connection found dead is replaced once
                try:
                    with anyio.fail_after(self._connect_timeout_s):
                        if self._publisher is None or self._publisher.is_closed():
                            self._publisher = await asyncpg.connect(self._dsn, timeout=self._connect_timeout_s)
                            self._publisher_pid = self._publisher.get_server_pid()
                        await self._publisher.execute("SELECT pg_notify($1, $2)", self._channel, job_id)
                    return
                except _NETWORK_ERRORS as exc:
                    log.warning("NOTIFY on %s failed (%s); waiters will re-read storage", self._where, _name(exc))
                    await self._drop_publisher()

    # internals

    def _wake(self, job_id: str) -> None:
        self._subscribers.wake(job_id)

    def _wake_all(self) -> None:
        self._subscribers.wake_all()

    def _on_notification(self, _conn: object, pid: int, _channel: str, payload: str) -> None:
        if pid == self._publisher_pid:
            return  # our own publish: local subscribers were woken already
        self._wake(payload)

    async def _drop_publisher(self) -> None:
        publisher, self._publisher, self._publisher_pid = self._publisher, None, None
        if publisher is not None and not publisher.is_closed():
            publisher.terminate()

    async def _supervise(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._listen_until_lost()
                backoff = 0.1  # it had worked: reconnect promptly
            except _NETWORK_ERRORS as exc:
                log.warning("LISTEN connection to %s lost (%s); reconnecting", self._where, _name(exc))
            self._listening.clear()
            self._listener_pid = None
            self._wake_all()  # notifications may be lost from now on: everyone re-reads storage
            await asyncio.sleep(backoff)
            backoff = min(self._max_backoff_s, backoff * 2)

    async def _listen_until_lost(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=self._connect_timeout_s)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(self._channel, self._on_notification)
            if self._listened_before:
                self.reconnects += 1
            self._listened_before = True
            self._listener_pid = conn.get_server_pid()
            self._listening.set()
            self._wake_all()  # anything published while we were not listening is re-read now
            while not lost.is_set():
                with anyio.move_on_after(self._health_check_s):
                    await lost.wait()
                if not lost.is_set():
                    with anyio.fail_after(self._connect_timeout_s):
                        await conn.fetchval("SELECT 1")
            log.warning("LISTEN connection to %s closed; reconnecting", self._where)
        finally:
            conn.terminate()


def _name(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
