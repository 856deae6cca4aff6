"""The console's own rate limits, per client address and for the whole console, in this process.

``Window(limit, period_s)`` allows ``limit`` events per key in any ``period_s`` seconds (a sliding window of
timestamps). Login failures spend two windows: one per address (a guesser is slowed to a handful of tries
every few minutes) and one shared by every address (a guesser with many addresses is slowed as much). Every
console request spends a per-address budget as well, so a script in a loop cannot load the database through
the console. Keys are bounded: past ``max_keys`` the least recently seen address is forgotten.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["Window"]


class Window:
    def __init__(
        self,
        limit: int,
        period_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.limit = limit
        self.period_s = period_s
        self._clock = clock
        self._max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
            while len(self._hits) > self._max_keys:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        while hits and hits[0] <= now - self.period_s:
            hits.popleft()
        return hits

    def retry_after(self, key: str) -> int:
        """0 when ``key`` may go on; else the whole seconds until it may."""
        hits = self._recent(key)
        if len(hits) < self.limit:
            return 0
        return max(1, math.ceil(hits[0] + self.period_s - self._clock()))

    def hit(self, key: str) -> None:
        self._recent(key).append(self._clock())

    def take(self, key: str) -> int:
        """Spend one event of ``key``'s budget if there is one left (0), else the seconds to wait (nothing spent)."""
        wait = self.retry_after(key)
        if not wait:
            self.hit(key)
        return wait
