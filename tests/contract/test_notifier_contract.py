"""The Notifier contract: a publish after subscribe is never lost; a wait without a publish does not return.

Adapters: the in-process notifier here; PostgresNotifier's cross-process behaviour is proven in
tests/storage/test_notifier.py against a real PostgreSQL.
"""

from __future__ import annotations

import anyio
import pytest

from kiegen.adapters.memory import InProcessNotifier
from kiegen.ports.notify import Notifier

pytestmark = pytest.mark.anyio


@pytest.fixture
def notifier() -> Notifier:
    return InProcessNotifier()


async def test_a_publish_between_subscribe_and_wait_is_not_lost(notifier: Notifier) -> None:
    async with notifier.subscribe("job-1") as subscription:
        await notifier.publish("job-1")
        with anyio.fail_after(1):
            await subscription.wait()


async def test_wait_blocks_until_a_publish(notifier: Notifier) -> None:
    async with notifier.subscribe("job-1") as subscription:
        with anyio.move_on_after(0.05) as scope:
            await subscription.wait()
        assert scope.cancelled_caught

        async with anyio.create_task_group() as tg:
            tg.start_soon(notifier.publish, "job-1")
            with anyio.fail_after(1):
                await subscription.wait()


async def test_a_publish_wakes_only_that_jobs_waiters(notifier: Notifier) -> None:
    async with notifier.subscribe("job-1") as one, notifier.subscribe("job-2") as two:
        await notifier.publish("job-2")
        with anyio.fail_after(1):
            await two.wait()
        with anyio.move_on_after(0.05) as scope:
            await one.wait()
        assert scope.cancelled_caught


async def test_every_subscriber_of_a_job_is_woken(notifier: Notifier) -> None:
    woken: list[int] = []
    async with notifier.subscribe("job-1") as first, notifier.subscribe("job-1") as second:
        await notifier.publish("job-1")
        with anyio.fail_after(1):
            await first.wait()
            woken.append(1)
            await second.wait()
            woken.append(2)
    assert woken == [1, 2]


async def test_one_publish_is_consumed_by_one_wait(notifier: Notifier) -> None:
    async with notifier.subscribe("job-1") as subscription:
        await notifier.publish("job-1")
        await subscription.wait()
        with anyio.move_on_after(0.05) as scope:
            await subscription.wait()
        assert scope.cancelled_caught


async def test_publishing_without_subscribers_is_harmless(notifier: Notifier) -> None:
    await notifier.publish("nobody-listens")
