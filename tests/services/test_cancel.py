"""Cancelling a running job (``kiegen.services.cancel`` and ``Client.cancel``): the hold comes back once, nothing
is delivered, waiters return, polling stops, and a result KIE still sends is kept but neither delivered nor
charged. In memory (asyncio and trio) and on a SQLite file (asyncio: the SQL store)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import anyio
import pytest

from kiegen import Client, JobNotFound, JobStatus
from kiegen.adapters.memory import FakeClock, RecordingMessenger, SimulatedKie, SimulatorConfig
from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore
from kiegen.core.billing import LedgerKind, topup
from kiegen.services import CallbackResult
from kiegen.simulator.engine import CallbackMode
from tests.services.conftest import Kit, make_config

pytestmark = pytest.mark.anyio

ALICE = "alice"


async def _funded(kit: Kit, credits: int = 20) -> None:
    await kit.store.add_entry(topup(ALICE, credits, key="stars:t1", at=kit.clock.now()))


async def test_cancelling_a_paid_running_job_releases_its_hold_once_and_delivers_nothing(kit: Kit) -> None:
    await _funded(kit)
    job = await kit.submit("qwen/image-edit", {"prompt": "blue", "image_url": "https://x.example/a.png"}, user_id=ALICE)
    assert await kit.store.balance(ALICE) == 15

    first = await kit.client.cancel(job.id)
    again = await kit.client.cancel(job.id)

    assert first.cancelled and first.released == 5
    assert first.job.status is JobStatus.CANCELLED and first.job.error_code == "cancelled"
    assert not again.cancelled and again.released == 0
    assert await kit.store.balance(ALICE) == 20
    kinds = [e.kind for e in await kit.store.ledger(ALICE) if e.job_id == job.id]
    assert kinds == [LedgerKind.HOLD, LedgerKind.RELEASE]
    await kit.clock.advance(30)  # KIE finishes meanwhile
    assert await kit.store.deliveries_for(job.id) == []
    assert kit.messenger.count(job.id) == 0


async def test_a_result_arriving_after_the_cancel_is_kept_not_delivered_not_charged(kit: Kit) -> None:
    await _funded(kit)
    job = await kit.submit("qwen/image-edit", {"prompt": "blue", "image_url": "https://x.example/a.png"}, user_id=ALICE)
    await kit.client.cancel(job.id)

    await kit.clock.advance(10)  # the simulator's callback (5 s) arrives

    stored = await kit.client.get(job.id)
    assert stored is not None and stored.status is JobStatus.CANCELLED
    assert stored.result_urls  # kept for history
    assert not stored.charged
    assert await kit.store.balance(ALICE) == 20
    assert kit.messenger.count(job.id) == 0 and await kit.store.deliveries_for(job.id) == []


async def test_a_waiter_returns_the_cancelled_job_at_once(kit: Kit) -> None:
    job = await kit.submit()
    results = []

    async def waiter() -> None:
        results.append(await kit.client.wait(job.id))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await kit.settle()
        await kit.client.cancel(job.id)
    assert [j.status for j in results] == [JobStatus.CANCELLED]


@pytest.mark.parametrize("sim_config", [SimulatorConfig(delay_s=5, callbacks=CallbackMode.LOST)])
async def test_a_cancelled_job_is_no_longer_polled(kit: Kit) -> None:
    job = await kit.submit()
    await kit.client.cancel(job.id)

    await kit.clock.advance(120)

    assert kit.kie.calls["get_task"] == 0


async def test_a_finished_job_is_not_cancelled_and_stays_charged(kit: Kit) -> None:
    await _funded(kit)
    job = await kit.submit("qwen/image-edit", {"prompt": "blue", "image_url": "https://x.example/a.png"}, user_id=ALICE)
    await kit.clock.advance(10)
    done = await kit.client.wait(job.id)
    assert done.status is JobStatus.SUCCEEDED

    outcome = await kit.client.cancel(job.id)

    assert not outcome.cancelled and outcome.job.status is JobStatus.SUCCEEDED and outcome.job.charged
    assert await kit.store.balance(ALICE) == 15


async def test_cancelling_an_unknown_job_raises_job_not_found(kit: Kit) -> None:
    with pytest.raises(JobNotFound):
        await kit.client.cancel("no-such-job")


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_on_sqlite_the_cancel_and_its_release_are_stored_and_survive_a_reopen(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'kiegen.db'}"
    clock = FakeClock()
    store = await SqlAlchemyJobStore.open(url)
    kie = SimulatedKie(clock, SimulatorConfig(delay_s=5.0))
    messenger = RecordingMessenger(prefixes=["test:"])
    client = Client(store=store, kie=kie, clock=clock, config=make_config(), messengers=[messenger], resources=[kie])
    answered = anyio.Event()

    async def sink(url: str, body: bytes, headers: Mapping[str, str] | None = None) -> CallbackResult:
        result = await client.receive_callback(url, body, headers)
        answered.set()
        return result

    kie.callback_sink = sink
    async with client:
        await store.add_entry(topup(ALICE, 10, key="stars:t1", at=clock.now()))
        job = await client.submit(
            "qwen/image-edit",
            {"prompt": "blue", "image_url": "https://x.example/a.png"},
            user_id=ALICE,
            recipient="test:alice",
        )
        outcome = await client.cancel(job.id)
        assert outcome.cancelled
        await clock.advance(10)
        with anyio.fail_after(10):  # the callback's SQL writes take real time
            await answered.wait()
    await store.aclose()
    reopened = await SqlAlchemyJobStore.open(url)
    try:
        stored = await reopened.get(job.id)
        assert stored is not None and stored.status is JobStatus.CANCELLED and stored.result_urls
        assert await reopened.balance(ALICE) == 10
        assert await reopened.deliveries_for(job.id) == []
    finally:
        await reopened.aclose()
