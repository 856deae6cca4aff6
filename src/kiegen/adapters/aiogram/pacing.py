"""Proactive pacing of sends, so that Telegram rarely has to answer 429.

Telegram's published limits: about one message per second in a chat, 20 per minute in a group, 30 per second
overall. ``Pacer.slot(chat_id)`` reserves the next free slot for the chat and, within it, a global one, then
sleeps until then; reservations are taken without awaiting, so concurrent senders queue fairly. ``hold``
pushes one chat's next slot back after a 429 (``retry_after``) without slowing any other chat.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

__all__ = ["Pacer"]


class Pacer:
    def __init__(
        self,
        *,
        per_chat_s: float = 1.0,
        per_group_s: float = 3.0,
        global_per_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.per_chat_s = per_chat_s
        self.per_group_s = per_group_s
        self.global_gap_s = 1.0 / global_per_s if global_per_s > 0 else 0.0
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: dict[int, float] = {}
        self._global_next = 0.0
        self.waited_s = 0.0
        """Total time spent waiting for slots (a figure for reports and tests)."""

    def _interval(self, chat_id: int) -> float:
        return self.per_group_s if chat_id < 0 else self.per_chat_s

    def reserve(self, chat_id: int) -> float:
        """Reserve a slot and return how long to wait for it."""
        now = self._monotonic()
        at = max(now, self._next.get(chat_id, 0.0))
        at = max(at, self._global_next)
        self._next[chat_id] = at + self._interval(chat_id)
        self._global_next = at + self.global_gap_s
        return at - now

    async def slot(self, chat_id: int) -> None:
        delay = self.reserve(chat_id)
        if delay > 0:
            self.waited_s += delay
            await self._sleep(delay)
        else:
            await anyio.lowlevel.checkpoint()

    def hold(self, chat_id: int, seconds: float) -> None:
        """Nothing more goes to ``chat_id`` for ``seconds`` (Telegram said retry_after)."""
        until = self._monotonic() + seconds
        self._next[chat_id] = max(self._next.get(chat_id, 0.0), until)
