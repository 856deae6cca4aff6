"""PostgresNotifier: a waiter in this process is woken by a change another process makes, and still finishes
when its listening connection is killed (then it reconnects)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import anyio
import pytest
import sqlalchemy as sa

from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore
from kiegen.adapters.sqlalchemy.notify import PostgresNotifier, PostgresSubscription
from kiegen.core.jobs import Job
from tests.storage.storage_harness import Db, run, run_together

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _job(job_id: str) -> Job:
    now = datetime.now(UTC)
    return Job(
        id=job_id,
        model="m",
        inputs={},
        recipient="console",
        created_at=now,
        updated_at=now,
        deadline_at=now + timedelta(minutes=15),
    )


async def _wait_terminal(
    store: SqlAlchemyJobStore, subscription: PostgresSubscription, job_id: str, *, reread_s: float
) -> tuple[bool, float]:
    """The services' waiting loop in small: wait for a notification or ``reread_s``, then re-read storage.
    Returns whether the final wake-up was a notification, and when it happened."""
    with anyio.fail_after(60):
        while True:
            with anyio.move_on_after(reread_s) as scope:
                await subscription.wait()
            job = await store.get(job_id)
            assert job is not None
            if job.terminal:
                return not scope.cancelled_caught, time.time()


def test_a_waiter_is_woken_by_a_change_made_in_another_process(postgres_db: Db) -> None:
    db = postgres_db

    async def scenario() -> tuple[bool, float]:
        async with (
            await SqlAlchemyJobStore.open(db.url, schema=db.schema) as store,
            PostgresNotifier(store) as notifier,
        ):
            job = (await store.create_job(_job("wake-1"))).job
            async with notifier.subscribe(job.id) as subscription:
                other = asyncio.create_task(asyncio.to_thread(run_together, db, [["complete", "--job", job.id]]))
                # re-reading only every 30 s: finishing quickly proves the notification crossed processes
                notified, woke_at = await _wait_terminal(store, subscription, job.id, reread_s=30)
                (report,) = await other
                return notified, woke_at - report["completed_at"]

    notified, latency = run(scenario())
    print(f"\n[postgres] cross-process wake-up {latency * 1000:.1f} ms after the other process committed")
    assert notified
    assert latency < 5


def test_a_waiter_still_finishes_when_the_listener_connection_is_killed(postgres_db: Db) -> None:
    db = postgres_db

    async def scenario() -> tuple[int, int | None, int, bool]:
        async with (
            await SqlAlchemyJobStore.open(db.url, schema=db.schema) as store,
            PostgresNotifier(store, health_check_s=1) as notifier,
        ):
            killed = notifier.listener_pid
            assert killed is not None
            job = (await store.create_job(_job("killed-1"))).job
            async with notifier.subscribe(job.id) as subscription:
                engine = db.engine()
                try:
                    async with engine.connect() as conn:
                        assert await conn.scalar(sa.select(sa.func.pg_terminate_backend(killed)))
                finally:
                    await engine.dispose()
                other = asyncio.create_task(asyncio.to_thread(run_together, db, [["complete", "--job", job.id]]))
                await _wait_terminal(store, subscription, job.id, reread_s=1)
                await other
            # the listener came back, and cross-process notifications work again
            assert await notifier.wait_listening(10)
            second = (await store.create_job(_job("killed-2"))).job
            async with notifier.subscribe(second.id) as subscription:
                other = asyncio.create_task(asyncio.to_thread(run_together, db, [["complete", "--job", second.id]]))
                notified, _ = await _wait_terminal(store, subscription, second.id, reread_s=30)
                await other
            return killed, notifier.listener_pid, notifier.reconnects, notified

    killed, listener_now, reconnects, notified_after = run(scenario())
    print(f"\n[postgres] listener pid {killed} killed; reconnected as {listener_now} ({reconnects} reconnect)")
    assert listener_now not in (None, killed)
    assert reconnects >= 1
    assert notified_after
