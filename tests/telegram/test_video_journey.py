"""Issue 16.4 in the bot: a video model chosen the way the bot offers models today (KIEGEN_MODELS_ENABLED and
the model list), a prompt, a status card that counts minutes, and the video delivered with sendVideo; the
poller asks KIE in minutes, not seconds. Through the real Dispatcher, the fake Bot API and the simulator."""

from __future__ import annotations

import pytest

from kiegen.adapters.memory import SimulatorConfig
from kiegen.core.jobs import JobStatus
from kiegen.core.models import Media
from tests.telegram import updates as up
from tests.telegram.harness import PNG, VIDEO, Harness

pytestmark = pytest.mark.anyio

U = 1601
VIDEO_MODEL = "hailuo/02-text-to-video-standard"
TEXTS = {
    "en": {
        "starting": "making the video… (it takes a few minutes)",
        "one": "1 minute so far",
        "two": "2 minutes so far",
        "hint": "Write what the video should show",
    },
    "ru": {
        "starting": "снимаю видео… (это занимает несколько минут)",
        "one": "прошла 1 минута",
        "two": "прошли 2 минуты",
        "hint": "Напишите, что должно быть в видео",
    },
}


@pytest.fixture(params=["en", "ru"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_a_video_model_from_the_list_makes_a_video_that_arrives_by_send_video(lang: str) -> None:
    harness = Harness(
        free_quota=10,
        models_enabled=("z-image", VIDEO_MODEL),
        prices={VIDEO_MODEL: 0},
        simulator=SimulatorConfig(delay_s=150.0),  # KIE takes minutes to make a video
    )
    async with harness as bot:
        await bot.say(U, "/start", lang=lang)
        await bot.press(U, "🎨", lang=lang)
        await bot.pick(U, "Hailuo 02 Standard", lang=lang)
        assert TEXTS[lang]["hint"] in bot.card(U)["text"]  # a video model asks for a video, not a picture
        await bot.say(U, "a fox running through snow", lang=lang)

        [job] = await bot.jobs(U)
        assert (job.model, job.media) == (VIDEO_MODEL, Media.VIDEO)
        card_id = [m for m in bot.fake.sent_to(U) if "🎬" in str(m.get("text", "")) or "⏳" in str(m.get("text", ""))][
            -1
        ]["message_id"]
        await bot.run_for(140)
        # the card counts whole minutes: a handful of edits, not one every few seconds
        history = bot.fake.message(U, card_id)["history"]
        assert any(TEXTS[lang]["starting"] in h for h in history)
        assert any(TEXTS[lang]["one"] in h for h in history) and any(TEXTS[lang]["two"] in h for h in history)
        assert len([h for h in history if "🎬" in h]) == 3  # under a minute, 1, 2
        assert {c.params["action"] for c in bot.fake.called("sendChatAction")} == {"record_video"}

        await bot.run_for(30)
        [job] = await bot.jobs(U)
        assert job.status is JobStatus.SUCCEEDED and job.result_urls[0].endswith(".mp4")
        # callbacks are configured: KIE was asked at most at 60, 75, 105 and 165 s (image pacing: 8 times)
        assert bot.simulator.calls["get_task"] <= 4

        [sent] = bot.fake.called("sendVideo")
        assert sent.params["video"] == job.result_urls[0]
        result = bot.fake.last(U)
        assert result["video"]["file_id"] and result["caption"].startswith("Hailuo 02 Standard: a fox")
        assert not bot.fake.called("sendPhoto")
        assert card_id not in [m["message_id"] for m in bot.fake.sent_to(U)]  # the card made way for the video
        labels = bot.labels(result)
        assert len(labels) == 3 and not any("✏️" in label for label in labels)  # no "edit this" for a video

        # the original file: the MP4 itself, as a document
        await bot.press(U, "📄", result, lang=lang)
        [document] = bot.fake.called("sendDocument")
        assert list(document.files.values()) == [VIDEO]


async def test_a_captioned_photo_for_an_image_to_video_model_comes_back_as_a_video() -> None:
    i2v = "kling/v2-1-standard"
    async with Harness(free_quota=10, models_enabled=("z-image", i2v), prices={i2v: 0}) as bot:
        await bot.feed(up.photo(U, bot.fake.add_file(PNG), caption="make the fox dance"))
        await bot.run_for(90)

        [job] = await bot.jobs(U)
        assert (job.model, job.media, job.status) == (i2v, Media.VIDEO, JobStatus.SUCCEEDED)
        assert str(job.inputs["image_url"]).endswith(tuple(bot.simulator.uploads))  # KIE sees its own upload
        [sent] = bot.fake.called("sendVideo")
        assert sent.params["video"] == job.result_urls[0] and bot.fake.last(U)["video"]
        assert not bot.fake.called("sendPhoto")
