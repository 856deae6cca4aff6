"""Operations that run on a store's own thread and are awaited from the caller's event loop, asyncio or trio.

The SQL stores do their database work on threads they own (SQLite's writer, PostgreSQL's asyncio loop), never
on the caller's loop, so that the same store serves an asyncio program and a trio program. A caller creates
a ``Pending`` in its own task; the store thread sets its value or error and calls ``finish``, which schedules
the wake-up on the caller's loop without blocking the store thread (``call_soon_threadsafe`` on asyncio,
``TrioToken.run_sync_soon`` on trio). ``finish_all`` wakes a whole batch with one call per loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import anyio
import sniffio

__all__ = ["Pending", "Waker", "current_waker", "finish_all"]

T = TypeVar("T")

Waker = Callable[[Callable[[], object]], object]
"""Schedules a callback on one event loop, from any thread, without waiting for it."""


def current_waker() -> Waker:
    """The waker of the running event loop."""
    library = sniffio.current_async_library()
    if library == "asyncio":
        return asyncio.get_running_loop().call_soon_threadsafe
    if library == "trio":
        import trio

        return trio.lowlevel.current_trio_token().run_sync_soon
    raise RuntimeError(f"kiegen's SQL stores run under asyncio or trio, not {library}")


class Pending(Generic[T]):
    """One operation in flight: ``op`` (what the store thread runs), then ``value`` or ``error``."""

    __slots__ = ("_event", "_waker", "attempts", "error", "op", "value")

    def __init__(self, op: Any) -> None:
        self.op = op
        self.value: Any = None
        self.error: BaseException | None = None
        self.attempts = 0
        self._waker = current_waker()
        self._event = anyio.Event()

    def finish(self) -> None:
        """From the store thread: wake the caller (once ``value`` or ``error`` is set)."""
        _wake(self._waker, self._event.set)

    async def result(self) -> T:
        await self._event.wait()
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[no-any-return]


def finish_all(pendings: Iterable[Pending[Any]]) -> None:
    """Wake every caller of a batch, with one scheduled callback per event loop."""
    by_loop: dict[Waker, list[Callable[[], None]]] = {}
    for pending in pendings:
        by_loop.setdefault(pending._waker, []).append(pending._event.set)
    for waker, sets in by_loop.items():
        _wake(waker, _all(sets))


def _all(callbacks: list[Callable[[], None]]) -> Callable[[], None]:
    def run() -> None:
        for callback in callbacks:
            callback()

    return run


def _wake(waker: Waker, callback: Callable[[], object]) -> None:
    try:
        waker(callback)
    except RuntimeError:
        pass  # that loop has ended (its program exited while an operation was in flight): nobody waits
    except Exception as exc:  # trio.RunFinishedError is not a RuntimeError
        if type(exc).__name__ != "RunFinishedError":
            raise
