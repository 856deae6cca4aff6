"""AiogramMessenger: the Messenger contract and the delivery ladder, over the in-process session and over real
HTTP to the fake Bot API server (asyncio only: aiogram)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import httpx
import pytest
from aiogram import Bot

from kiegen.adapters.aiogram import (
    AiogramMessenger,
    CardEnd,
    DeliveryLimits,
    Outgoing,
    Pacer,
    PlainPresenter,
    escape_cut,
    receipt_files,
)
from kiegen.adapters.httpkit import guarded_get
from kiegen.apps.telegram.app import create_bot
from kiegen.core.errors import DeliveryDeferred, RecipientGone, UnsafeURL
from kiegen.core.jobs import Job, JobStatus
from tests.telegram.fake_telegram import FakeTelegram
from tests.telegram.harness import PNG, TOKEN
from tests.telegram.server import FakeBotApiServer
from tests.telegram.session import FakeSession

pytestmark = pytest.mark.anyio

CHAT = 9001
NOW = datetime(2026, 1, 1, tzinfo=UTC)
BIG = b"\x89PNG\r\n\x1a\n" + b"\0" * 3000


def job(*urls: str, status: JobStatus = JobStatus.SUCCEEDED, chat: int = CHAT, **extra: Any) -> Job:
    return Job(
        id="0123456789abcdef0123456789abcdef",
        model="z-image",
        inputs={"prompt": "a fox"},
        recipient=f"telegram:{chat}",
        user_id="tg:1",
        status=status,
        result_urls=urls,
        created_at=NOW,
        updated_at=NOW,
        deadline_at=NOW + timedelta(minutes=15),
        **extra,
    )


def results(request: httpx.Request) -> httpx.Response:
    if "missing" in request.url.path:
        return httpx.Response(404)
    return httpx.Response(200, content=BIG if "big" in request.url.path else PNG)


@pytest.fixture(params=["session", "http"])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[tuple[FakeTelegram, AiogramMessenger, Bot]]:
    fake = FakeTelegram(TOKEN)
    http = httpx.AsyncClient(transport=httpx.MockTransport(results))
    limits = DeliveryLimits(allow_private=True, max_inline_wait_s=1.0)
    pacer = Pacer(per_chat_s=0, per_group_s=0, global_per_s=0)
    if request.param == "session":
        bot = create_bot(TOKEN, session=FakeSession(fake))
        yield fake, AiogramMessenger(bot, http=http, limits=limits, pacer=pacer), bot
    else:
        async with FakeBotApiServer(fake) as server:
            bot = create_bot(TOKEN, api_url=server.url)
            yield fake, AiogramMessenger(bot, http=http, limits=limits, pacer=pacer), bot
            await bot.session.close()
    await http.aclose()


# the Messenger contract


async def test_handles_only_telegram_recipients(rig: Any) -> None:
    _, messenger, _ = rig
    assert messenger.handles("telegram:42") and messenger.handles("telegram:-100123")
    assert not messenger.handles("webhook:https://x") and not messenger.handles("console")


async def test_delivers_a_photo_by_url_and_returns_its_file_id(rig: Any) -> None:
    fake, messenger, _ = rig
    receipt = await messenger.deliver(job("https://kie.example/r/0.png"))
    [(kind, file_id)] = receipt_files(receipt.detail)
    assert kind == "p" and file_id in fake.files
    assert messenger.rungs["photo_url"] == 1


async def test_blocked_user_is_recipient_gone(rig: Any) -> None:
    fake, messenger, _ = rig
    fake.blocked.add(CHAT)
    with pytest.raises(RecipientGone):
        await messenger.deliver(job("https://kie.example/r/0.png"))


async def test_long_429_is_deferred_with_retry_after(rig: Any) -> None:
    fake, messenger, _ = rig
    fake.fail("sendPhoto", 429, "Too Many Requests: retry after 30", retry_after=30)
    with pytest.raises(DeliveryDeferred) as caught:
        await messenger.deliver(job("https://kie.example/r/0.png"))
    assert caught.value.retry_after == 30


async def test_short_429_is_waited_for_that_chat_and_sent_once(rig: Any) -> None:
    fake, messenger, _ = rig
    fake.fail("sendPhoto", 429, "Too Many Requests: retry after 1", retry_after=1)
    await messenger.deliver(job("https://kie.example/r/0.png"))
    assert len(fake.called("sendPhoto")) == 2 and len(fake.sent_to(CHAT)) == 1
    assert messenger.pacer.waited_s >= 0.9


async def test_failure_notice_is_a_text_message(rig: Any) -> None:
    fake, messenger, _ = rig
    receipt = await messenger.deliver(job(status=JobStatus.FAILED, error_code="500"))
    assert receipt.detail and receipt.detail.startswith("l:")
    assert "failed" in fake.last(CHAT)["text"]


# the ladder


async def test_a_url_telegram_cannot_fetch_is_uploaded_and_never_sent_again(rig: Any) -> None:
    fake, messenger, _ = rig
    url = "https://kie.example/r/0.png"
    fake.bad_urls.add(url)
    receipt = await messenger.deliver(job(url))
    assert fake.url_attempts[url] == 1
    upload = fake.called("sendPhoto")[-1]
    assert list(upload.files.values()) == [PNG]
    assert receipt_files(receipt.detail)[0][0] == "p" and messenger.rungs["photo_upload"] == 1


async def test_a_photo_refused_as_too_big_becomes_a_document(rig: Any) -> None:
    fake, messenger, _ = rig
    url = "https://kie.example/r/big.png"
    fake.bad_urls.add(url)
    fake.photo_limit = 1000
    receipt = await messenger.deliver(job(url))
    assert receipt_files(receipt.detail)[0][0] == "d"
    assert messenger.rungs["document"] == 1 and fake.url_attempts[url] == 1


async def test_413_on_every_upload_ends_with_the_link(rig: Any) -> None:
    fake, messenger, _ = rig
    url = "https://kie.example/r/0.png"
    fake.bad_urls.add(url)
    fake.fail("sendPhoto", 413, "Request Entity Too Large", times=5, when=lambda p: p["photo"].startswith("attach"))
    fake.fail("sendDocument", 413, "Request Entity Too Large")
    receipt = await messenger.deliver(job(url))
    assert receipt_files(receipt.detail)[0][0] == "l" and url in fake.last(CHAT)["text"]
    assert len(fake.called("sendDocument")) == 1  # 413 is not retried


async def test_an_undownloadable_result_goes_straight_to_the_link(rig: Any) -> None:
    fake, messenger, _ = rig
    url = "https://kie.example/r/missing.png"
    fake.bad_urls.add(url)
    await messenger.deliver(job(url))
    assert messenger.rungs["link"] == 1 and not fake.called("sendDocument")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.png",
        "http://2130706433/x.png",  # 127.0.0.1 as one decimal number
        "http://0x7f000001/x.png",
        "http://127.1/x.png",
        "http://[::ffff:10.0.0.1]/x.png",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost/x.png",
        "file:///etc/passwd",
    ],
)
async def test_our_own_downloads_go_through_the_shared_ssrf_guard(url: str) -> None:
    requests: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: requests.append(request) or httpx.Response(200, content=PNG))
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(UnsafeURL):
            await guarded_get(http, url, max_bytes=1000, timeout=5)
    assert requests == []


async def test_migrated_group_is_followed_once_and_remembered(rig: Any) -> None:
    fake, messenger, _ = rig
    fake.migrated[-42] = -100042
    await messenger.deliver(job("https://kie.example/r/0.png", chat=-42))
    assert fake.sent_to(-100042) and messenger.chat_for(-42) == -100042
    await messenger.deliver(job("https://kie.example/r/1.png", chat=-42))
    assert len(fake.sent_to(-100042)) == 2
    assert sum(1 for c in fake.called("sendPhoto") if c.params["chat_id"] == -42) == 1


async def test_several_results_are_an_album_then_the_buttons(rig: Any) -> None:
    fake, messenger, _ = rig
    urls = [f"https://kie.example/r/{n}.png" for n in range(12)]
    receipt = await messenger.deliver(job(*urls))
    groups = fake.called("sendMediaGroup")
    assert [len(g.params["media"]) for g in groups] == [10, 2]
    files = receipt_files(receipt.detail)
    assert [k for k, _ in files].count("p") == 12 and files[-1][0] == "l"


async def test_status_card_is_finished_and_not_modified_is_ignored(rig: Any) -> None:
    fake, messenger, bot = rig
    card = await bot.send_message(CHAT, "Done.")
    await messenger.deliver(job("https://kie.example/r/0.png", metadata={"card_message_id": card.message_id}))
    edits = [c for c in fake.called("editMessageText") if int(c.params["message_id"]) == card.message_id]
    assert len(edits) == 1  # the card was finished...
    assert fake.message(CHAT, card.message_id)["text"] == "Done."  # ...and its "not modified" answer ignored


class _CardPresenter(PlainPresenter):
    """Notices over the status card, and the card removed after a result (what the bot's presenter asks)."""

    def failure(self, job: Job) -> Outgoing:
        return attrs.evolve(super().failure(job), on_card=True)

    def card_done(self, job: Job) -> str | CardEnd:  # noqa: ARG002 (the presenter's signature)
        return CardEnd.REMOVE


async def test_after_a_result_the_status_card_is_removed_when_the_presenter_says_so(rig: Any) -> None:
    fake, messenger, bot = rig
    messenger.presenter = _CardPresenter()
    card = await bot.send_message(CHAT, "drawing… 12 s")
    await messenger.deliver(job("https://kie.example/r/0.png", metadata={"card_message_id": card.message_id}))
    assert [m["message_id"] for m in fake.deleted] == [card.message_id]
    assert [m for m in fake.sent_to(CHAT) if m.get("photo")]


async def test_a_failure_notice_is_written_over_the_status_card_once(rig: Any) -> None:
    fake, messenger, bot = rig
    messenger.presenter = _CardPresenter()
    card = await bot.send_message(CHAT, "drawing… 12 s")
    failed = job(status=JobStatus.FAILED, metadata={"card_message_id": card.message_id})

    first = await messenger.deliver(failed)
    again = await messenger.deliver(failed)  # a re-delivery after a crash: "not modified" counts as written

    assert first.detail == again.detail == f"l:{card.message_id}"
    assert len(fake.sent_to(CHAT)) == 1 and "failed" in fake.message(CHAT, card.message_id)["text"]
    assert fake.deleted == []


async def test_a_notice_for_a_card_that_is_gone_is_sent_as_a_new_message(rig: Any) -> None:
    fake, messenger, _ = rig
    messenger.presenter = _CardPresenter()
    receipt = await messenger.deliver(job(status=JobStatus.FAILED, metadata={"card_message_id": 999_999}))
    [notice] = fake.sent_to(CHAT)
    assert receipt.detail == f"l:{notice['message_id']}" and "failed" in notice["text"]


def test_captions_are_escaped_and_cut_to_1024_utf16_units() -> None:
    text = "🦊 <fox> & " * 200
    cut = escape_cut(text)
    assert len(cut.encode("utf-16-le")) // 2 <= 1024 and cut.endswith("…")
    assert "<fox>" not in cut and "&lt;fox&gt;" in cut
    assert not cut[:-1].endswith("&am")  # an entity is never split


async def test_pacing_keeps_one_message_per_second_per_chat() -> None:
    clock = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    pacer = Pacer(per_chat_s=1.0, global_per_s=30, monotonic=lambda: clock[0], sleep=sleep)
    for _ in range(3):
        await pacer.slot(1)
    await pacer.slot(2)
    assert waits == [1.0, 2.0, pytest.approx(2.0 + 1 / 30)]
    pacer.hold(3, 5)
    assert pacer.reserve(3) == 5


async def test_a_result_url_our_http_client_cannot_send_falls_to_the_link_rung_instead_of_escaping(rig: Any) -> None:
    fake, messenger, _ = rig
    url = "https://kie.example/r/0.png\t"  # Telegram could not fetch it either
    fake.bad_urls.add(url)
    receipt = await messenger.deliver(job(url))  # before: httpx.InvalidURL escaped deliver
    assert receipt.detail is not None and messenger.rungs["link"] == 1


async def test_our_own_downloads_name_kiegen_in_their_user_agent() -> None:
    agents: list[str] = []
    transport = httpx.MockTransport(lambda request: agents.append(request.headers["User-Agent"]) or results(request))
    async with httpx.AsyncClient(transport=transport) as http:
        messenger = AiogramMessenger(create_bot(TOKEN), http=http, limits=DeliveryLimits(allow_private=True))
        assert await messenger.fetch("https://kie.example/r/0.png") == PNG
    assert agents and agents[0].startswith("kiegen/")
