"""InProcessNotifier: wakes waiters in this process when a job changes (anyio events only)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import anyio.lowlevel

from kiegen.adapters.wakeups import Subscribers, Subscription

__all__ = ["InProcessNotifier", "InProcessSubscription"]

InProcessSubscription = Subscription


class InProcessNotifier:
    def __init__(self) -> None:
        self._subscribers = Subscribers()

    def subscribe(self, job_id: str) -> AbstractAsyncContextManager[Subscription]:
        return self._subscribers.subscribe(job_id)

    async def publish(self, job_id: str) -> None:
        self._subscribers.wake(job_id)
        await anyio.lowlevel.checkpoint()
