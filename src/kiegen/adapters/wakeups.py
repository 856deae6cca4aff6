"""Per-job wake-ups inside one process, shared by the Notifier adapters (in-process and PostgreSQL).

``Subscribers.subscribe(job_id)`` gives a ``Subscription`` whose ``wait()`` returns once ``wake(job_id)`` (or
``wake_all()``) has happened since it subscribed or since its previous ``wait`` returned, so a wake-up between
reading storage and waiting is never lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

__all__ = ["Subscribers", "Subscription"]


class Subscription:
    def __init__(self) -> None:
        self._event = anyio.Event()

    def wake(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        """Return once a wake-up has happened since subscribing or since the previous wait returned. Bound it
        with a cancel scope."""
        await self._event.wait()
        self._event = anyio.Event()


class Subscribers:
    def __init__(self) -> None:
        self._by_job: dict[str, set[Subscription]] = {}

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[Subscription]:
        subscription = Subscription()
        self._by_job.setdefault(job_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscriptions = self._by_job.get(job_id)
            if subscriptions is not None:
                subscriptions.discard(subscription)
                if not subscriptions:
                    del self._by_job[job_id]

    def wake(self, job_id: str) -> None:
        for subscription in self._by_job.get(job_id, ()):
            subscription.wake()

    def wake_all(self) -> None:
        for subscriptions in self._by_job.values():
            for subscription in subscriptions:
                subscription.wake()
