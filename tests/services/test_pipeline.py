"""The whole path from submit to delivery, replaying what broke the old bot, on a FakeClock."""

from __future__ import annotations

import pytest

from kiegen import Client, InvalidInput, JobStatus
from kiegen.adapters.memory import FakeClock, InMemoryJobStore, RecordingMessenger, SimulatedKie, SimulatorConfig
from kiegen.core.delivery import DeliveryStatus
from kiegen.services.deliver import deliver_due
from kiegen.simulator.engine import CallbackMode
from tests.services.conftest import Kit, make_config

pytestmark = pytest.mark.anyio


async def test_callback_delivers_the_result_once_without_any_poll(kit: Kit) -> None:
    job = await kit.submit()
    assert job.status is JobStatus.SUBMITTED and job.task_id is not None

    await kit.clock.advance(5)

    done = await kit.client.wait(job.id)
    await kit.settle()
    assert done.status is JobStatus.SUCCEEDED
    assert done.result_urls == kit.kie.result_urls(kit.kie.tasks[job.task_id])
    assert kit.messenger.count(job.id) == 1
    assert kit.kie.calls["get_task"] == 0  # the callback answered; KIE was never polled


@pytest.mark.parametrize("sim_config", [SimulatorConfig(callbacks=CallbackMode.EARLY)])
async def test_callback_arriving_before_create_task_answers_finds_its_job(kit: Kit) -> None:
    job = await kit.submit()

    # The callback was handled while createTask was still in flight: the old bot's "job not found".
    assert job.status is JobStatus.SUCCEEDED
    assert job.task_id is not None
    await kit.clock.advance(1)
    assert kit.messenger.count(job.id) == 1
    assert [e.outcome.value for e in await kit.store.callbacks_for(job.id)] == ["applied"]


@pytest.mark.parametrize("sim_config", [SimulatorConfig(delay_s=5, callbacks=CallbackMode.DUPLICATE, duplicates=5)])
async def test_duplicate_callbacks_deliver_once(kit: Kit) -> None:
    jobs = [await kit.submit() for _ in range(3)]

    await kit.clock.advance(10)

    for job in jobs:
        assert (await kit.client.wait(job.id)).status is JobStatus.SUCCEEDED
        await kit.settle()
        assert kit.messenger.count(job.id) == 1
        assert kit.kie.tasks[job.task_id].callback_sent == 5


@pytest.mark.parametrize("sim_config", [SimulatorConfig(delay_s=5, callbacks=CallbackMode.LOST)])
async def test_lost_callback_is_found_by_the_poll_after_the_grace_period(kit: Kit) -> None:
    job = await kit.submit()

    await kit.clock.advance(11)
    assert kit.kie.calls["get_task"] == 0  # the grace period gives the callback its chance
    assert (await kit.store.get(job.id)).status is JobStatus.SUBMITTED  # type: ignore[union-attr]

    await kit.clock.advance(2)

    done = await kit.client.wait(job.id)
    await kit.settle()
    assert done.status is JobStatus.SUCCEEDED
    assert kit.kie.calls["get_task"] == 1
    assert kit.messenger.count(job.id) == 1


@pytest.mark.parametrize("sim_config", [SimulatorConfig(delay_s=5, callbacks=CallbackMode.MALFORMED)])
async def test_unreadable_callback_is_kept_and_the_job_resolved_by_a_check(kit: Kit) -> None:
    job = await kit.submit()

    await kit.clock.advance(6)

    done = await kit.client.wait(job.id)
    await kit.settle()
    assert done.status is JobStatus.SUCCEEDED
    assert kit.kie.calls["get_task"] == 1
    assert kit.messenger.count(job.id) == 1


@pytest.mark.parametrize("sim_config", [SimulatorConfig(delay_s=5, callbacks=CallbackMode.LOST)])
async def test_backoff_between_checks_is_capped(kit: Kit) -> None:
    kit.kie.configure(delay_s=10_000)  # never finishes within the deadline
    job = await kit.submit()

    await kit.clock.advance(12 + 2 + 4 + 8 + 16 + 30 + 30)

    assert kit.kie.calls["get_task"] == 7
    stored = await kit.store.get(job.id)
    assert stored is not None and stored.status is JobStatus.RUNNING and stored.checks == 7


@pytest.mark.parametrize("sim_config", [SimulatorConfig(delay_s=10_000, callbacks=CallbackMode.LOST)])
async def test_silence_until_the_deadline_times_out_releases_credits_and_notifies(kit: Kit) -> None:
    await kit.store.add_entry(_topup("alice", 10, kit))
    job = await kit.submit(
        "qwen/image-edit", {"prompt": "make it blue", "image_url": "https://x.test/a.png"}, user_id="alice"
    )
    assert await kit.store.balance("alice") == 5

    await kit.clock.advance(15 * 60 + 1, step=30)

    done = await kit.client.wait(job.id)
    await kit.settle()
    assert done.status is JobStatus.TIMED_OUT
    assert await kit.store.balance("alice") == 10
    assert [j.status for j in kit.messenger.sent_to("test:alice")] == [JobStatus.TIMED_OUT]
    assert kit.kie.calls["get_task"] <= 40  # capped backoff: about one check per 30 s


@pytest.mark.parametrize("sim_config", [SimulatorConfig(delay_s=16 * 60)])
async def test_late_success_after_timeout_is_delivered_and_not_charged(kit: Kit) -> None:
    await kit.store.add_entry(_topup("alice", 10, kit))
    job = await kit.submit(
        "qwen/image-edit", {"prompt": "make it blue", "image_url": "https://x.test/a.png"}, user_id="alice"
    )

    await kit.clock.advance(15 * 60 + 1, step=30)
    assert (await kit.store.get(job.id)).status is JobStatus.TIMED_OUT  # type: ignore[union-attr]
    await kit.clock.advance(60, step=30)  # the late callback arrives

    done = await kit.client.wait(job.id)
    await kit.settle()
    assert done.status is JobStatus.SUCCEEDED and done.late
    assert await kit.store.balance("alice") == 10
    assert [j.status for j in kit.messenger.sent_to("test:alice")] == [JobStatus.TIMED_OUT, JobStatus.SUCCEEDED]
    kinds = [e.kind.value for e in await kit.store.ledger("alice")]
    assert kinds == ["topup", "hold", "release"]


async def test_invalid_input_stores_and_sends_nothing(kit: Kit) -> None:
    with pytest.raises(InvalidInput) as caught:
        await kit.submit("z-image", {"prompt": "", "aspect_ratio": "2:1", "steps": 3})

    assert set(caught.value.fields) == {"prompt", "aspect_ratio", "steps"}
    assert await kit.store.list_jobs() == []
    assert kit.kie.calls["create_task"] == 0


def _topup(user: str, amount: int, kit: Kit):  # type: ignore[no-untyped-def]
    from kiegen.core.billing import topup

    return topup(user, amount, key=f"test-topup:{user}:{amount}", at=kit.clock.now())


async def test_paid_success_captures_the_hold(kit: Kit) -> None:
    await kit.store.add_entry(_topup("bob", 7, kit))
    job = await kit.submit("qwen/image-edit", {"prompt": "p", "image": "https://x.test/a.png"}, user_id="bob")
    assert job.inputs["image_url"] == "https://x.test/a.png"

    await kit.clock.advance(6)

    assert (await kit.client.wait(job.id)).status is JobStatus.SUCCEEDED
    assert await kit.store.balance("bob") == 2
    assert [e.kind.value for e in await kit.store.ledger("bob")] == ["topup", "hold", "capture"]


async def test_delivery_is_retried_after_a_deferral_and_not_after_recipient_gone(kit: Kit) -> None:
    from kiegen.core.errors import DeliveryDeferred, RecipientGone

    kit.messenger.fail_next(DeliveryDeferred("slow down", retry_after=3))
    first = await kit.submit()
    await kit.clock.advance(6)
    assert kit.messenger.count(first.id) == 0
    await kit.clock.advance(3)
    assert kit.messenger.count(first.id) == 1

    kit.messenger.fail_next(RecipientGone("blocked"))
    second = await kit.submit()
    await kit.clock.advance(600, step=10)
    assert kit.messenger.count(second.id) == 0
    [delivery] = await kit.store.deliveries_for(second.id)
    assert delivery.status is DeliveryStatus.GONE and delivery.attempt == 1


async def test_a_process_without_the_recipients_messenger_leaves_its_delivery_to_the_one_that_has_it() -> None:
    """The bot and the HTTP service on one database: the service (webhooks only) applies the callback of a
    Telegram job, and its deliverer must neither send nor give up on that delivery; the bot's sends it."""
    clock, store = FakeClock(), InMemoryJobStore()
    kie = SimulatedKie(clock, SimulatorConfig(delay_s=5.0))
    telegram, webhooks = RecordingMessenger(prefixes=["telegram:"]), RecordingMessenger(prefixes=["webhook:"])
    config = make_config()
    bot = Client(store=store, kie=kie, messengers=[telegram], clock=clock, config=config, workers=False)
    service = Client(store=store, kie=kie, messengers=[webhooks], clock=clock, config=config, resources=[kie])
    kie.callback_sink = service.receive_callback
    async with bot, service:
        job = await bot.submit("z-image", {"prompt": "a fox"}, recipient="telegram:7")
        await clock.advance(30, step=1)  # the callback lands at the service; its workers go round and round
        assert (await store.get(job.id)).status is JobStatus.SUCCEEDED
        [waiting] = await store.deliveries_for(job.id)
        assert waiting.status is DeliveryStatus.PENDING and waiting.attempt == 0
        assert webhooks.sent == []

        assert await deliver_due(bot.ctx) == 1
        [sent] = await store.deliveries_for(job.id)
        assert sent.status is DeliveryStatus.SENT and telegram.count(job.id) == 1
