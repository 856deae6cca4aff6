"""Clock: the only source of time for services.

Contract: ``now()`` returns a timezone-aware UTC ``datetime`` that never goes backward; ``sleep(seconds)``
returns after at least ``seconds`` of this clock's time (0 or less returns at once, still a checkpoint).
``move_on_after(seconds)`` (a ``ScopedClock``) is a context manager whose block is cancelled, as by anyio's
``move_on_after``, once ``seconds`` of this clock's time have passed: a wait bounded by the clock with no task
of its own (a clock without it is served by a sleeper task instead: ``kiegen.services.context.sleep_or_wake``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

__all__ = ["Clock", "ScopedClock"]


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class ScopedClock(Clock, Protocol):
    def move_on_after(self, seconds: float) -> AbstractContextManager[Any]: ...
