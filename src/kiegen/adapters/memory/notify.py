"""InProcessNotifier: wakes waiters in this process when a job changes (anyio events only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

__all__ = ["InProcessNotifier", "InProcessSubscription"]


class InProcessSubscription:
    def __init__(self) -> None:
        self._event = anyio.Event()

    def _wake(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        """Return once a publish has happened since subscribing or since the previous wait returned."""
        await self._event.wait()
        self._event = anyio.Event()


class InProcessNotifier:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[InProcessSubscription]] = {}

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[InProcessSubscription]:
        subscription = InProcessSubscription()
        self._subscribers.setdefault(job_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscribers.get(job_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[job_id]

    async def publish(self, job_id: str) -> None:
        for subscription in self._subscribers.get(job_id, ()):
            subscription._wake()
        await anyio.lowlevel.checkpoint()
