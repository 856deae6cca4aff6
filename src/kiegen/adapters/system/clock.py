"""SystemClock: UTC wall time and anyio's sleep (works under asyncio and trio)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import anyio

__all__ = ["SystemClock"]


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    def move_on_after(self, seconds: float) -> AbstractContextManager[Any]:
        return anyio.move_on_after(max(0.0, seconds))
