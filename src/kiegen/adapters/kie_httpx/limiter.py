"""A client-side rate limiter: at most ``limit`` starts in any ``period`` seconds, shared by every caller.

KIE drops (does not queue) requests over about 20 new tasks per 10 s per account, so kiegen spaces them out
itself. Each ``acquire`` reserves the earliest free slot at once, with no await between reading and writing the
schedule, so concurrent callers never race and are served first come, first served; then it sleeps until its
slot. No lock or event is involved, so one limiter may serve several event loops (asyncio and trio) of one
process. A caller cancelled while waiting keeps its slot spent: the limiter only ever errs on the slow side.

``shared_limiter(limit, period)`` returns the process-wide limiter for that budget; every ``HttpxKieGateway``
built without an explicit limiter uses ``shared_limiter()`` (20 per 10 s), so all callers share one budget.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel

from kiegen.ports.clock import Clock

__all__ = ["DEFAULT_LIMIT", "DEFAULT_PERIOD", "RateLimiter", "shared_limiter"]

DEFAULT_LIMIT = 20
DEFAULT_PERIOD = 10.0


class RateLimiter:
    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        period: float = DEFAULT_PERIOD,
        *,
        clock: Clock | None = None,
    ) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("RateLimiter needs limit >= 1 and period > 0")
        self.limit = limit
        self.period = period
        self._now: Callable[[], float]
        self._sleep: Callable[[float], Awaitable[None]]
        if clock is None:
            self._now, self._sleep = time.monotonic, anyio.sleep
        else:
            self._now, self._sleep = (lambda: clock.now().timestamp()), clock.sleep
        self._starts: collections.deque[float] = collections.deque(maxlen=limit)
        # Guards the reservation against callers in other threads (several event loops in one process).
        self._guard = threading.Lock()

    def reserve(self) -> float:
        """Book the next slot and return how many seconds to wait for it (0 when a slot is free now)."""
        with self._guard:
            now = self._now()
            slot = now
            if len(self._starts) == self.limit:
                slot = max(now, self._starts[0] + self.period)
            self._starts.append(slot)
            return slot - now

    async def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited (by this limiter's clock)."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)
        else:
            await anyio.lowlevel.checkpoint()
        return wait


_SHARED: dict[tuple[int, float], RateLimiter] = {}
_SHARED_GUARD = threading.Lock()


def shared_limiter(limit: int = DEFAULT_LIMIT, period: float = DEFAULT_PERIOD) -> RateLimiter:
    """The one limiter of this process for this budget (created on first use)."""
    with _SHARED_GUARD:
        limiter = _SHARED.get((limit, period))
        if limiter is None:
            limiter = _SHARED[(limit, period)] = RateLimiter(limit, period)
        return limiter
