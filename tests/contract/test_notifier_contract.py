"""The Notifier contract: a publish after subscribe is never lost; a wait without a publish does not return.

Adapters: the in-process notifier; PostgresNotifier with ``remote=True`` (its publish is a real NOTIFY, heard
back through its own LISTEN connection); and two PostgresNotifiers on two stores of one database, publishing on
one and subscribing on the other (what two processes do). Reconnects and real second processes are in
tests/storage/test_notifier.py.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import anyio
import attrs
import pytest

from kiegen.adapters.memory import InProcessNotifier
from kiegen.ports.notify import Notifier, Subscription
from tests.conftest import drop_schema

pytestmark = pytest.mark.anyio


@attrs.frozen
class Across:
    """Subscribe on one notifier, publish on another: two processes' views of one PostgreSQL database."""

    listener: Notifier
    sender: Notifier

    def subscribe(self, job_id: str) -> AbstractAsyncContextManager[Subscription]:
        return self.listener.subscribe(job_id)

    async def publish(self, job_id: str) -> None:
        await self.sender.publish(job_id)


@pytest.fixture(
    params=[
        "in-process",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("postgres-across", marks=pytest.mark.postgres),
    ]
)
async def notifier(request: pytest.FixtureRequest) -> AsyncIterator[Notifier]:
    if request.param == "in-process":
        yield InProcessNotifier()
        return
    from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore
    from kiegen.adapters.sqlalchemy.notify import PostgresNotifier

    url: str = request.getfixturevalue("postgres_url")
    schema = f"kiegen_test_{uuid.uuid4().hex[:12]}"
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(drop_schema, url, schema)
        first = await SqlAlchemyJobStore.open(url, schema=schema)
        stack.push_async_callback(first.aclose)
        listener = await stack.enter_async_context(PostgresNotifier(first, remote=True))
        if request.param == "postgres":
            yield listener
            return
        second = await SqlAlchemyJobStore.open(url, schema=schema, migrate=False)
        stack.push_async_callback(second.aclose)
        yield Across(listener, await stack.enter_async_context(PostgresNotifier(second, remote=True)))


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
