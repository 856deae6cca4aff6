"""AiogramMessenger, the video ladder: sendVideo by URL (Telegram fetches up to 20 MB), our own download
uploaded with sendVideo (up to 50 MB), a document when sendVideo refuses the file, and the link above that;
with the photos' refusal rules. Over the in-process session and over real HTTP to the fake Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import httpx
import pytest
from aiogram import Bot

from kiegen.adapters.aiogram import AiogramMessenger, DeliveryLimits, Pacer, receipt_files
from kiegen.apps.telegram.app import create_bot
from kiegen.core.errors import DeliveryDeferred, RecipientGone
from kiegen.core.jobs import Job, JobStatus
from kiegen.core.models import Media
from kiegen.simulator.video import make_mp4
from tests.telegram.fake_telegram import FakeTelegram
from tests.telegram.harness import TOKEN
from tests.telegram.server import FakeBotApiServer
from tests.telegram.session import FakeSession

pytestmark = pytest.mark.anyio

CHAT = 9002
NOW = datetime(2026, 1, 1, tzinfo=UTC)
MB = 1024 * 1024
MP4 = make_mp4("telegram-video-tests")
URL = "https://tempfile.example/r/clip.mp4"


def video_job(*urls: str, status: JobStatus = JobStatus.SUCCEEDED) -> Job:
    return Job(
        id="fedcba9876543210fedcba9876543210",
        model="kling-2.6/text-to-video",
        inputs={"prompt": "a fox running"},
        recipient=f"telegram:{CHAT}",
        user_id="tg:1",
        status=status,
        result_urls=urls or (URL,),
        media=Media.VIDEO,
        created_at=NOW,
        updated_at=NOW,
        deadline_at=NOW + timedelta(minutes=30),
    )


class Results:
    """What result URLs serve to our own downloads (by path): a video unless a test says otherwise."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}
        self.gets: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.gets.append(str(request.url))
        return httpx.Response(200, content=self.bodies.get(str(request.url), MP4))


@pytest.fixture(params=["session", "http"])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[tuple[FakeTelegram, AiogramMessenger, Results]]:
    fake = FakeTelegram(TOKEN)
    served = Results()
    http = httpx.AsyncClient(transport=httpx.MockTransport(served))
    limits = DeliveryLimits(allow_private=True, max_inline_wait_s=1.0)
    pacer = Pacer(per_chat_s=0, per_group_s=0, global_per_s=0)
    bot: Bot
    if request.param == "session":
        bot = create_bot(TOKEN, session=FakeSession(fake))
        yield fake, AiogramMessenger(bot, http=http, limits=limits, pacer=pacer), served
        await bot.session.close()
    else:
        async with FakeBotApiServer(fake) as server:
            bot = create_bot(TOKEN, api_url=server.url)
            yield fake, AiogramMessenger(bot, http=http, limits=limits, pacer=pacer), served
            await bot.session.close()
    await http.aclose()


async def test_a_video_goes_by_url_with_streaming_a_caption_and_an_upload_video_action(rig: Any) -> None:
    fake, messenger, served = rig
    fake.url_bodies[URL] = MP4

    receipt = await messenger.deliver(video_job())

    [(kind, file_id)] = receipt_files(receipt.detail)
    assert kind == "v" and fake.files[file_id] == MP4
    [call] = fake.called("sendVideo")
    assert call.params["video"] == URL and call.params["supports_streaming"] in (True, "true")
    assert "a fox running" in fake.last(CHAT)["caption"]
    assert fake.last(CHAT)["video"]["file_id"] == file_id
    assert [c.params["action"] for c in fake.called("sendChatAction")] == ["upload_video"]
    assert not fake.called("sendPhoto") and served.gets == []
    assert messenger.rungs["video_url"] == 1


async def test_a_video_over_telegrams_20_mb_url_limit_is_downloaded_and_uploaded(rig: Any) -> None:
    fake, messenger, served = rig
    big = MP4 + b"\0" * (21 * MB)
    fake.url_bodies[URL] = served.bodies[URL] = big

    receipt = await messenger.deliver(video_job())

    [(kind, file_id)] = receipt_files(receipt.detail)
    assert kind == "v" and fake.files[file_id] == big
    first, second = fake.called("sendVideo")
    assert first.params["video"] == URL and second.params["video"].startswith("attach://")
    assert fake.url_attempts[URL] == 1  # Telegram caches a failed fetch: the URL is not sent twice
    assert messenger.rungs == {**messenger.rungs, "video_url": 0, "video_upload": 1, "link": 0}


async def test_a_video_over_50_mb_is_never_downloaded_whole_and_goes_as_a_link(rig: Any) -> None:
    fake, messenger, served = rig
    huge = MP4 + b"\0" * (51 * MB)
    fake.url_bodies[URL] = served.bodies[URL] = huge

    receipt = await messenger.deliver(video_job())

    [(kind, _)] = receipt_files(receipt.detail)
    assert kind == "l"
    assert URL in fake.last(CHAT)["text"]
    assert len(fake.called("sendVideo")) == 1  # by URL only: no upload of a file Telegram would refuse
    assert not fake.called("sendDocument")
    assert messenger.rungs["link"] == 1


async def test_a_video_telegram_will_not_take_as_video_is_sent_as_a_document(rig: Any) -> None:
    fake, messenger, _ = rig
    fake.bad_urls.add(URL)
    fake.fail(
        "sendVideo", 400, "Bad Request: VIDEO_CONTENT_TYPE_INVALID", when=lambda p: p["video"].startswith("attach")
    )

    receipt = await messenger.deliver(video_job())

    [(kind, file_id)] = receipt_files(receipt.detail)
    assert kind == "d" and fake.files[file_id] == MP4
    assert fake.called("sendDocument")[0].params["caption"]
    assert messenger.rungs["document"] == 1


async def test_a_result_that_is_not_a_video_is_not_uploaded_but_linked(rig: Any) -> None:
    fake, messenger, served = rig
    fake.url_bodies[URL] = served.bodies[URL] = b"<html>this link has expired</html>"

    receipt = await messenger.deliver(video_job())

    assert receipt_files(receipt.detail)[0][0] == "l"
    assert len(fake.called("sendVideo")) == 1 and not fake.called("sendDocument")
    assert URL in fake.last(CHAT)["text"]


async def test_several_videos_go_one_by_one_and_the_last_carries_the_buttons(rig: Any) -> None:
    fake, messenger, _ = rig
    urls = ("https://tempfile.example/r/a.mp4", "https://tempfile.example/r/b.mp4")

    receipt = await messenger.deliver(video_job(*urls))

    assert [kind for kind, _ in receipt_files(receipt.detail)] == ["v", "v"]
    assert [c.params["video"] for c in fake.called("sendVideo")] == list(urls)
    assert not fake.called("sendMediaGroup")
    assert "caption" not in fake.sent_to(CHAT)[0] and fake.sent_to(CHAT)[1]["caption"]


async def test_a_picture_job_whose_result_is_a_video_is_sent_as_a_video(rig: Any) -> None:
    # a raw job of a model kiegen does not know is a picture job: Telegram refuses the URL as a photo
    fake, messenger, _ = rig
    fake.url_bodies[URL] = MP4
    job = attrs.evolve(video_job(), media=Media.IMAGE, model="new/video-model")

    receipt = await messenger.deliver(job)

    [(kind, file_id)] = receipt_files(receipt.detail)
    assert kind == "v" and fake.files[file_id] == MP4
    assert len(fake.called("sendPhoto")) == 1 and fake.called("sendVideo")[0].params["video"].startswith("attach://")
    assert messenger.rungs["video_upload"] == 1


async def test_a_blocked_user_is_recipient_gone_for_a_video_too(rig: Any) -> None:
    fake, messenger, _ = rig
    fake.blocked.add(CHAT)
    with pytest.raises(RecipientGone):
        await messenger.deliver(video_job())


@pytest.mark.parametrize(
    ("status", "description", "retry_after"),
    [(429, "Too Many Requests: retry after 40", 40), (502, "Bad Gateway", None)],
)
async def test_throttling_and_server_errors_defer_a_video_delivery(
    rig: Any, status: int, description: str, retry_after: int | None
) -> None:
    fake, messenger, _ = rig
    fake.fail("sendVideo", status, description, retry_after=retry_after)
    with pytest.raises(DeliveryDeferred) as caught:
        await messenger.deliver(video_job())
    assert caught.value.retry_after == retry_after
    assert not fake.sent_to(CHAT)


async def test_an_upload_telegram_flags_as_too_large_moves_down_to_the_document_then_the_link() -> None:
    # The messenger's own cap kept at Telegram's 50 MB, the fake's lowered: its 413 moves down the ladder.
    fake = FakeTelegram(TOKEN)
    fake.bad_urls.add(URL)
    fake.video_upload_limit = fake.photo_limit = len(MP4) - 1
    bot = create_bot(TOKEN, session=FakeSession(fake))
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda _r: httpx.Response(200, content=MP4)))
    pacer = Pacer(per_chat_s=0, per_group_s=0, global_per_s=0)
    messenger = AiogramMessenger(bot, http=http, pacer=pacer, limits=DeliveryLimits(allow_private=True))
    fake.fail("sendDocument", 413, "Request Entity Too Large")
    try:
        receipt = await messenger.deliver(video_job())
    finally:
        await http.aclose()
        await bot.session.close()
    assert receipt_files(receipt.detail)[0][0] == "l"
    assert [c.params["video"].split(":")[0] for c in fake.called("sendVideo")] == ["https", "attach"]
    assert len(fake.called("sendDocument")) == 1 and URL in fake.last(CHAT)["text"]
