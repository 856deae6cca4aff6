"""The Messenger contract over every shipped messenger: the in-memory ones (recording, console, the router), the
webhook messenger over a real socket to a signature-checking receiver, and the aiogram messenger over real HTTP
to the fake Bot API server (asyncio only: aiogram and the fake server's aiohttp run on asyncio).

What every messenger promises the deliverer: a terminal job is delivered with a ``Receipt`` and reaches its
recipient once per call; a recipient of another scheme is not claimed; a permanent refusal is ``RecipientGone``
(never retried) and a temporary one ``DeliveryDeferred`` (retried later), so that one bad recipient fails alone.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import httpx
import pytest

from kiegen.adapters.memory import ConsoleMessenger, RecordingMessenger
from kiegen.adapters.webhook import WebhookMessenger
from kiegen.core.errors import DeliveryDeferred, RecipientGone
from kiegen.core.jobs import Job, JobStatus
from kiegen.core.models import Media
from kiegen.ports.messaging import Messenger, Receipt
from kiegen.services import MessengerRouter
from kiegen.simulator.app import running_in_thread
from tests.http.servers import WEBHOOK_SECRET, WebhookReceiver

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CHAT = 9001


def finished(recipient: str, status: JobStatus = JobStatus.SUCCEEDED) -> Job:
    return Job(
        id="job-1",
        model="z-image",
        inputs={"prompt": "p"},
        recipient=recipient,
        user_id="tg:1",
        status=status,
        result_urls=("https://cdn.test/1.png",) if status is JobStatus.SUCCEEDED else (),
        error_code=None if status is JobStatus.SUCCEEDED else "500",
        error_message=None if status is JobStatus.SUCCEEDED else "generation failed",
        created_at=NOW,
        updated_at=NOW,
        deadline_at=NOW + timedelta(minutes=15),
    )


@attrs.define
class Rig:
    """One messenger, a recipient it serves, and the far end as the test sees it."""

    messenger: Messenger
    recipient: str
    arrived: Callable[[], int]
    """How many messages have reached the recipient so far."""
    refuse_for_good: Callable[[], None] | None = None
    """Make the far end refuse permanently (None: this messenger has no such far end)."""
    refuse_for_now: Callable[[], None] | None = None


@contextlib.asynccontextmanager
async def recording_rig() -> AsyncIterator[Rig]:
    messenger = RecordingMessenger(prefixes=["test:"])
    yield Rig(
        messenger,
        "test:alice",
        lambda: len(messenger.sent),
        lambda: messenger.fail_next(RecipientGone("blocked")),
        lambda: messenger.fail_next(DeliveryDeferred("busy")),
    )


@contextlib.asynccontextmanager
async def console_rig() -> AsyncIterator[Rig]:
    stream = io.StringIO()
    yield Rig(ConsoleMessenger(stream), "console", lambda: len(stream.getvalue().splitlines()))


@contextlib.asynccontextmanager
async def router_rig() -> AsyncIterator[Rig]:
    inner = RecordingMessenger(prefixes=["test:"])
    yield Rig(
        MessengerRouter([inner]),
        "test:alice",
        lambda: len(inner.sent),
        lambda: inner.fail_next(RecipientGone("blocked")),
        lambda: inner.fail_next(DeliveryDeferred("busy")),
    )


class Accepting:
    """The receiver, counting the webhooks it answered 2xx (a refused one reached the socket, not the user)."""

    def __init__(self, receiver: WebhookReceiver) -> None:
        self.receiver, self.accepted = receiver, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def answer(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                self.accepted += 1
            await send(message)

        await self.receiver(scope, receive, answer)


@contextlib.asynccontextmanager
async def webhook_rig() -> AsyncIterator[Rig]:
    receiver = WebhookReceiver()
    accepting = Accepting(receiver)
    with running_in_thread(accepting) as base:
        async with WebhookMessenger(WEBHOOK_SECRET, allow_private=True, timeout=5.0) as messenger:

            def refuse(status: int) -> Callable[[], None]:
                return lambda: setattr(receiver, "status", status)

            yield Rig(
                messenger,
                f"webhook:{base}/hooks/contract",
                lambda: accepting.accepted,
                refuse(410),
                refuse(503),
            )


@contextlib.asynccontextmanager
async def aiogram_rig() -> AsyncIterator[Rig]:
    from kiegen.adapters.aiogram import AiogramMessenger, DeliveryLimits, Pacer
    from kiegen.apps.telegram.app import create_bot
    from tests.telegram.fake_telegram import FakeTelegram
    from tests.telegram.harness import PNG, TOKEN
    from tests.telegram.server import FakeBotApiServer

    fake = FakeTelegram(TOKEN)
    results = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200, content=PNG)))
    async with FakeBotApiServer(fake) as server:
        bot = create_bot(TOKEN, api_url=server.url)
        messenger = AiogramMessenger(
            bot,
            http=results,
            limits=DeliveryLimits(allow_private=True, max_inline_wait_s=1.0),
            pacer=Pacer(per_chat_s=0, per_group_s=0, global_per_s=0),
        )
        try:
            yield Rig(
                messenger,
                f"telegram:{CHAT}",
                lambda: len(fake.sent_to(CHAT)),
                lambda: fake.blocked.add(CHAT),
                lambda: fake.fail("sendPhoto", 429, "Too Many Requests: retry after 30", retry_after=30),
            )
        finally:
            await messenger.aclose()
            await bot.session.close()
            await results.aclose()


RIGS: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[Rig]]] = {
    "recording": recording_rig,
    "console": console_rig,
    "router": router_rig,
    "webhook": webhook_rig,
    "aiogram": aiogram_rig,
}


@pytest.fixture(params=sorted(RIGS))
async def rig(request: pytest.FixtureRequest, anyio_backend: str) -> AsyncIterator[Rig]:
    if request.param == "aiogram" and anyio_backend != "asyncio":
        pytest.skip("aiogram (and the fake Bot API server's aiohttp) run on asyncio only")
    async with RIGS[request.param]() as made:
        yield made


def refusing(rig: Rig, which: str) -> Callable[[], None]:
    refuse = rig.refuse_for_good if which == "for good" else rig.refuse_for_now
    if refuse is None:
        pytest.skip(f"{type(rig.messenger).__name__} has no far end that can refuse")
    return refuse


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.TIMED_OUT])
async def test_delivers_every_terminal_outcome_with_a_receipt_and_one_message(rig: Rig, status: JobStatus) -> None:
    assert rig.messenger.handles(rig.recipient)
    receipt = await rig.messenger.deliver(finished(rig.recipient, status))
    assert isinstance(receipt, Receipt)
    assert rig.arrived() == 1


async def test_a_video_result_is_delivered_with_a_receipt_and_one_message(rig: Rig) -> None:
    video = attrs.evolve(
        finished(rig.recipient), model="kling/v2-1-standard", media=Media.VIDEO, result_urls=("https://cdn.test/1.mp4",)
    )
    receipt = await rig.messenger.deliver(video)
    assert isinstance(receipt, Receipt)
    assert rig.arrived() == 1


async def test_each_delivery_reaches_the_recipient_again(rig: Rig) -> None:
    """The messenger does not deduplicate (the store's delivery row does): two calls, two messages."""
    for _ in range(2):
        await rig.messenger.deliver(finished(rig.recipient))
    assert rig.arrived() == 2


async def test_does_not_claim_recipients_of_other_schemes(rig: Rig) -> None:
    assert not rig.messenger.handles("carrier-pigeon:42")


async def test_a_permanent_refusal_is_recipient_gone(rig: Rig) -> None:
    refusing(rig, "for good")()
    with pytest.raises(RecipientGone):
        await rig.messenger.deliver(finished(rig.recipient))
    assert rig.arrived() == 0


async def test_a_temporary_refusal_is_deferred(rig: Rig) -> None:
    refusing(rig, "for now")()
    with pytest.raises(DeliveryDeferred):
        await rig.messenger.deliver(finished(rig.recipient))
    assert rig.arrived() == 0


async def test_the_router_says_recipient_gone_for_an_unserved_scheme() -> None:
    router = MessengerRouter([RecordingMessenger(prefixes=["test:"])])
    with pytest.raises(RecipientGone, match="carrier-pigeon"):
        await router.deliver(finished("carrier-pigeon:42"))


async def test_the_none_recipient_is_delivered_without_sending_anything() -> None:
    recording = RecordingMessenger()
    router = MessengerRouter([recording])
    assert (await router.deliver(finished("none"))).detail == "none"
    assert recording.sent == []


async def test_console_messenger_writes_one_line_per_outcome() -> None:
    stream = io.StringIO()
    await ConsoleMessenger(stream).deliver(finished("console", JobStatus.FAILED))
    assert stream.getvalue() == "job job-1 failed [500]: generation failed\n"
