"""Clock: the only source of time for services.

Contract: ``now()`` returns a timezone-aware UTC ``datetime`` that never goes backward; ``sleep(seconds)``
returns after at least ``seconds`` of this clock's time (0 or less returns at once, still a checkpoint).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

__all__ = ["Clock"]


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...
