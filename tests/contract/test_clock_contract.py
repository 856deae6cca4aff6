"""The Clock contract, for every Clock: aware UTC time that never goes backward; sleep waits at least as asked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import anyio
import anyio.lowlevel
import pytest

from kiegen.adapters.memory import FakeClock
from kiegen.adapters.system import SystemClock
from kiegen.ports.clock import Clock

pytestmark = pytest.mark.anyio

Advance = Callable[[float], Awaitable[None]]


@pytest.fixture(params=["fake", "system"])
async def clock_and_advance(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Clock, Advance]]:
    if request.param == "fake":
        fake = FakeClock()
        yield fake, fake.advance
    else:
        system = SystemClock()

        async def let_time_pass(seconds: float) -> None:
            await anyio.sleep(seconds)

        yield system, let_time_pass


async def test_now_is_timezone_aware_utc(clock_and_advance: tuple[Clock, Advance]) -> None:
    clock, _ = clock_and_advance
    now = clock.now()
    assert now.utcoffset() == timedelta(0)


async def test_time_never_goes_backward(clock_and_advance: tuple[Clock, Advance]) -> None:
    clock, advance = clock_and_advance
    seen = [clock.now()]
    for _ in range(5):
        await advance(0.01)
        seen.append(clock.now())
    assert seen == sorted(seen)


async def test_sleep_returns_after_at_least_the_time_asked(clock_and_advance: tuple[Clock, Advance]) -> None:
    clock, advance = clock_and_advance
    woke: list[object] = []

    async def sleeper() -> None:
        await clock.sleep(0.05)
        woke.append(clock.now())

    start = clock.now()
    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper)
        await advance(0.02)
        assert woke == []  # not before its time
        await advance(0.1)
    assert len(woke) == 1
    assert clock.now() - start >= timedelta(seconds=0.05)


async def test_a_non_positive_sleep_returns_at_once(clock_and_advance: tuple[Clock, Advance]) -> None:
    clock, _ = clock_and_advance
    with anyio.fail_after(1):
        await clock.sleep(0)
        await clock.sleep(-5)


async def test_fake_clock_moves_only_when_advanced() -> None:
    clock = FakeClock()
    before = clock.now()
    await anyio.sleep(0.01)
    assert clock.now() == before
    await clock.advance(12.5)
    assert clock.now() - before == timedelta(seconds=12.5)
    with pytest.raises(ValueError, match="backward"):
        await clock.advance(-1)


async def test_move_on_after_cancels_its_block_once_the_clock_has_moved_that_far(
    clock_and_advance: tuple[Clock, Advance],
) -> None:
    clock, advance = clock_and_advance
    assert isinstance(clock, FakeClock | SystemClock)
    started = clock.now()
    ended: list[timedelta] = []
    finished_inside = False

    async def bounded() -> None:
        nonlocal finished_inside
        with clock.move_on_after(0.05):
            await anyio.sleep_forever()
            finished_inside = True
        ended.append(clock.now() - started)

    async with anyio.create_task_group() as tg:
        tg.start_soon(bounded)
        await anyio.wait_all_tasks_blocked()
        await advance(0.03)
        assert ended == []  # not yet
        await advance(0.05)
    assert not finished_inside
    assert ended and ended[0] >= timedelta(seconds=0.05)


async def test_move_on_after_lets_a_block_that_ends_in_time_end(clock_and_advance: tuple[Clock, Advance]) -> None:
    clock, _ = clock_and_advance
    assert isinstance(clock, FakeClock | SystemClock)
    with clock.move_on_after(10) as scope:
        await anyio.lowlevel.checkpoint()
    assert not scope.cancel_called
