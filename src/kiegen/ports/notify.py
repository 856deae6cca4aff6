"""Notifier: wakes waiters when a job changes.

Contract: ``subscribe(job_id)`` is an async context manager giving a ``Subscription``; a ``publish(job_id)``
made after ``subscribe`` entered is seen by the next ``Subscription.wait`` (no lost wake-ups between reading
storage and waiting): ``wait()`` returns once a publish has happened since the subscription began or since the
previous ``wait`` returned. Bound it with a cancel scope (``anyio.move_on_after``). A notification
is a hint only: waiters always re-read storage, so a missed or spurious wake-up costs time, never correctness.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

__all__ = ["Notifier", "Subscription"]


class Subscription(Protocol):
    async def wait(self) -> None: ...


class Notifier(Protocol):
    def subscribe(self, job_id: str) -> AbstractAsyncContextManager[Subscription]: ...

    async def publish(self, job_id: str) -> None: ...
