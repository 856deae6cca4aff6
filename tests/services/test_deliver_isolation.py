"""One bad delivery fails alone (RELIABILITY rule 10): whatever a messenger raises, the other deliveries of the
round are sent and recorded once, and the bad one is retried with backoff up to its attempt limit, then given up,
with a log line naming its job at each attempt."""

from __future__ import annotations

import logging
from datetime import timedelta

import anyio
import httpx
import pytest

from kiegen.adapters.memory import FakeClock, InMemoryJobStore, InProcessNotifier, RecordingMessenger
from kiegen.core.delivery import Delivery, DeliveryStatus
from kiegen.core.jobs import JobStatus
from kiegen.services import Config, Context, DeliveryStats, MessengerRouter, deliver_due
from kiegen.simulator.engine import SimulatedKie
from tests.unit.factories import T0, make_job

pytestmark = pytest.mark.anyio


class SlowMessenger(RecordingMessenger):
    """Takes a little real time per send, as an HTTP POST does: a sibling's exception would cut it off."""

    async def deliver(self, job):  # type: ignore[no-untyped-def]
        await anyio.sleep(0.05)
        return await super().deliver(job)


class RaisingMessenger:
    """A messenger that lets a third-party exception out, as ``WebhookMessenger`` did with ``httpx.InvalidURL``."""

    schemes = frozenset({"poison"})

    def __init__(self, exc: Exception) -> None:
        self.exc = exc
        self.calls = 0

    def handles(self, recipient: str) -> bool:
        return recipient.startswith("poison:")

    async def deliver(self, job):  # type: ignore[no-untyped-def]  # noqa: ARG002
        self.calls += 1
        raise self.exc


async def _terminal_job_with_delivery(store: InMemoryJobStore, job_id: str, recipient: str) -> None:
    pending = make_job(JobStatus.PENDING, id=job_id, recipient=recipient, user_id=None)
    await store.create_job(pending)
    done = make_job(JobStatus.SUCCEEDED, id=job_id, task_id=f"task-{job_id}", recipient=recipient, user_id=None)
    delivery = Delivery(id=f"{job_id}:succeeded", job_id=job_id, recipient=recipient, next_attempt_at=T0, created_at=T0)
    await store.save(done, expected_version=0, deliveries=[delivery])


@pytest.mark.parametrize(
    "exc",
    [httpx.InvalidURL("Invalid non-printable ASCII character in URL"), RuntimeError("a bug"), ValueError("bad")],
    ids=["httpx.InvalidURL", "RuntimeError", "ValueError"],
)
async def test_an_exception_in_one_delivery_fails_it_alone_and_never_stops_a_round(
    exc: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(T0)
    store = InMemoryJobStore()
    good = SlowMessenger(prefixes=["test:"])
    bad = RaisingMessenger(exc)
    config = Config(max_delivery_attempts=4)
    ctx = Context(
        store=store,
        kie=SimulatedKie(clock),
        messenger=MessengerRouter([good, bad]),
        clock=clock,
        notifier=InProcessNotifier(),
        config=config,
    )
    await _terminal_job_with_delivery(store, "poison-job", "poison:https://hooks.example.com/a\tb")
    for n in range(10):
        await _terminal_job_with_delivery(store, f"job-{n}", f"test:{n}")
    stats = DeliveryStats()

    with caplog.at_level(logging.WARNING, logger="kiegen.deliver"):
        for _ in range(config.max_delivery_attempts):
            await deliver_due(ctx, stats=stats)  # never raises
            await clock.advance(400)  # past every backoff

    assert sorted(s.job.id for s in good.sent) == sorted(f"job-{n}" for n in range(10))
    for n in range(10):
        [delivery] = await store.deliveries_for(f"job-{n}")
        assert delivery.status is DeliveryStatus.SENT and delivery.attempt == 1
    [poison] = await store.deliveries_for("poison-job")
    assert poison.status is DeliveryStatus.FAILED
    assert poison.attempt == config.max_delivery_attempts == bad.calls
    assert type(exc).__name__ in (poison.last_error or "")
    assert (stats.sent, stats.deferred, stats.failed) == (10, config.max_delivery_attempts - 1, 1)
    lines = [r for r in caplog.records if getattr(r, "job_id", None) == "poison-job"]
    assert len(lines) == config.max_delivery_attempts
    assert all("poison-job" in r.getMessage() and type(exc).__name__ in r.getMessage() for r in lines)
    assert "next try in" in lines[0].getMessage() and "giving up" in lines[-1].getMessage()


async def test_a_failed_attempt_logs_the_job_the_answer_and_the_next_try(caplog: pytest.LogCaptureFixture) -> None:
    from kiegen.core.errors import DeliveryDeferred

    clock = FakeClock(T0)
    store = InMemoryJobStore()
    messenger = RecordingMessenger(prefixes=["test:"])
    messenger.fail_next(DeliveryDeferred("webhook to https://hooks.example.com/a answered HTTP 503", retry_after=30))
    ctx = Context(
        store=store,
        kie=SimulatedKie(clock),
        messenger=MessengerRouter([messenger]),
        clock=clock,
        notifier=InProcessNotifier(),
    )
    await _terminal_job_with_delivery(store, "job-1", "test:1")
    with caplog.at_level(logging.WARNING, logger="kiegen.deliver"):
        await deliver_due(ctx)
    [line] = [r.getMessage() for r in caplog.records]
    assert "job-1" in line and "HTTP 503" in line and "next try in 30 s" in line
    assert (T0 + timedelta(seconds=30)).isoformat(timespec="seconds") in line
    [delivery] = await store.deliveries_for("job-1")
    assert delivery.status is DeliveryStatus.PENDING and delivery.next_attempt_at == T0 + timedelta(seconds=30)


async def test_a_delivery_claimed_past_its_attempt_limit_is_given_up_before_sending() -> None:
    clock = FakeClock(T0)
    store = InMemoryJobStore()
    messenger = RecordingMessenger(prefixes=["test:"])
    config = Config(max_delivery_attempts=2, delivery_lease_s=10)
    ctx = Context(
        store=store,
        kie=SimulatedKie(clock),
        messenger=MessengerRouter([messenger]),
        clock=clock,
        notifier=InProcessNotifier(),
        config=config,
    )
    await _terminal_job_with_delivery(store, "job-1", "test:1")
    for _ in range(2):  # two attempts whose process died after claiming: the leases expire
        await store.claim_deliveries(clock.now(), lease_s=10, limit=1)
        await clock.advance(11)
    await deliver_due(ctx)
    [delivery] = await store.deliveries_for("job-1")
    assert delivery.status is DeliveryStatus.FAILED and delivery.attempt == 3
    assert messenger.sent == []
