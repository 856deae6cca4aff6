"""The health page's Telegram 429 count is what the real messenger and deliverer store: a 429 with a long wait
from the real ``AiogramMessenger`` (aiogram's own error mapping, through a ``BaseSession`` subclass) is deferred
by the deliverer, and the console's query counts it (asyncio only: aiogram)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from kiegen.adapters.aiogram import AiogramMessenger, DeliveryLimits, Pacer
from kiegen.adapters.memory import InMemoryJobStore, InProcessNotifier, SimulatedKie
from kiegen.adapters.system import SystemClock
from kiegen.apps.telegram.app import create_bot
from kiegen.core.delivery import Delivery, DeliveryStatus
from kiegen.core.jobs import Job, JobStatus
from kiegen.services import Context, MessengerRouter, deliver_due
from tests.telegram.fake_telegram import FakeTelegram
from tests.telegram.harness import PNG, TOKEN
from tests.telegram.session import FakeSession

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiogram is asyncio-only


@pytest.mark.parametrize(("retry_after", "throttled"), [(30, 1), (1, 0)])
async def test_only_a_telegram_429_handed_back_to_the_deliverer_counts_as_throttled(
    retry_after: int, throttled: int
) -> None:
    fake = FakeTelegram(TOKEN)
    fake.fail("sendPhoto", 429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda _request: httpx.Response(200, content=PNG)))
    messenger = AiogramMessenger(
        create_bot(TOKEN, session=FakeSession(fake)),
        http=http,
        limits=DeliveryLimits(allow_private=True, max_inline_wait_s=2.0),
        pacer=Pacer(per_chat_s=0, per_group_s=0, global_per_s=0),
    )
    clock = SystemClock()
    now = clock.now()
    store = InMemoryJobStore()
    job = Job(
        id="job-429",
        model="z-image",
        inputs={"prompt": "a fox"},
        recipient="telegram:9001",
        status=JobStatus.SUCCEEDED,
        result_urls=("https://kie.example/r/0.png",),
        created_at=now,
        updated_at=now,
        deadline_at=now + timedelta(minutes=15),
    )
    await store.create_job(job)
    delivery = Delivery(
        id="job-429:succeeded", job_id=job.id, recipient=job.recipient, next_attempt_at=now, created_at=now
    )
    await store.save(job, expected_version=0, deliveries=[delivery])
    ctx = Context(
        store=store,
        kie=SimulatedKie(clock),
        messenger=MessengerRouter([messenger]),
        clock=clock,
        notifier=InProcessNotifier(),
    )
    assert await deliver_due(ctx) == 1
    await http.aclose()

    [stored] = await store.deliveries_for(job.id)
    expected = DeliveryStatus.PENDING if throttled else DeliveryStatus.SENT  # a short wait is taken inline
    assert stored.status is expected
    assert (await store.health(clock.now())).telegram_throttled == throttled
