"""SystemClock: UTC wall time and anyio's sleep (works under asyncio and trio)."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio

__all__ = ["SystemClock"]


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))
