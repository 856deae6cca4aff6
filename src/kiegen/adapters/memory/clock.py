"""FakeClock: time that moves only when a test says so.

``sleep`` parks the caller until ``advance`` moves the clock past its wake-up time. ``advance`` then lets every
task that can run, run, before it returns (``anyio.wait_all_tasks_blocked``), so a test reads as a script:
``await clock.advance(12)`` and the 12-second grace period has passed for everyone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import anyio
import anyio.lowlevel
import sniffio

__all__ = ["FakeClock"]

EPOCH = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


async def _settle() -> None:
    """Let every runnable task run until all of them wait on something.

    anyio's ``wait_all_tasks_blocked`` on asyncio sleeps 0.1 s whenever a task is still runnable, which makes a
    clock that stops every half (fake) second crawl; on asyncio we spin on zero-length sleeps instead. trio's
    own implementation is exact and cheap."""
    if sniffio.current_async_library() != "asyncio":
        await anyio.wait_all_tasks_blocked()
        return
    import asyncio  # noqa: TID251 - asyncio internals are the only way to see whether tasks are blocked

    this_task = asyncio.current_task()
    for _ in range(100_000):
        await asyncio.sleep(0)
        busy = False
        for task in asyncio.all_tasks():
            if task is this_task:
                continue
            waiter = getattr(task, "_fut_waiter", None)
            if waiter is None or waiter.done():
                busy = True
                break
        if not busy:
            return
    await anyio.wait_all_tasks_blocked()


class FakeClock:
    def __init__(self, start: datetime = EPOCH) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._now = start
        self._sleepers: list[tuple[datetime, anyio.Event]] = []
        self._scopes: list[tuple[datetime, anyio.CancelScope]] = []

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        entry = (self._now + timedelta(seconds=seconds), event)
        self._sleepers.append(entry)
        try:
            await event.wait()
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    @contextmanager
    def move_on_after(self, seconds: float) -> Iterator[anyio.CancelScope]:
        """A block cancelled once ``advance`` moves the clock ``seconds`` on (see the Clock port)."""
        scope = anyio.CancelScope()
        entry = (self._now + timedelta(seconds=max(0.0, seconds)), scope)
        if seconds <= 0:
            scope.cancel()
        self._scopes.append(entry)
        try:
            with scope:
                yield scope
        finally:
            self._scopes.remove(entry)

    @property
    def sleepers(self) -> int:
        """Tasks waiting for this clock: in ``sleep`` or in a ``move_on_after`` block."""
        return len(self._sleepers) + len(self._scopes)

    def _wake_ups(self) -> list[datetime]:
        return [when for when, _ in self._sleepers] + [when for when, _ in self._scopes]

    async def advance(self, seconds: float, *, step: float | None = None) -> None:
        """Move time forward by ``seconds``, in increments of ``step`` (default: to each wake-up in turn), letting
        woken tasks run at every stop."""
        if seconds < 0:
            raise ValueError("time does not go backward")
        target = self._now + timedelta(seconds=seconds)
        await _settle()
        while True:
            due = [when for when in self._wake_ups() if when <= target]
            next_stop = min(due) if due else target
            if step is not None:
                next_stop = min(next_stop, self._now + timedelta(seconds=step))
            self._now = max(self._now, next_stop)
            for when, event in list(self._sleepers):
                if when <= self._now:
                    event.set()
            for when, scope in list(self._scopes):
                if when <= self._now:
                    scope.cancel()
            await _settle()
            pending = [when for when, event in self._sleepers if not event.is_set()]
            pending += [when for when, scope in self._scopes if not scope.cancel_called]
            if self._now >= target and not any(when <= target for when in pending):
                return
