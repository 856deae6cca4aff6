"""Issue 15, item 1: prompt first. Any text is a prompt for the person's current (or the default) model and any
photo the start of a change; a free generation starts at once, a paid one after exactly one confirm. Both
languages, through the real Dispatcher and the fake Bot API."""

from __future__ import annotations

import pytest

from kiegen.apps.telegram.payments import sign_payload
from kiegen.core.jobs import JobStatus
from tests.telegram import updates as up
from tests.telegram.harness import PNG, Harness

pytestmark = pytest.mark.anyio

U = 701
TEXT = {
    "en": {"queued": "queued", "stop": "✖️ Stop", "generate": "✅ Generate · 5 cr.", "what": "What should I change"},
    "ru": {
        "queued": "в очереди",
        "stop": "✖️ Остановить",
        "generate": "✅ Сгенерировать · 5 кр.",
        "what": "Что изменить",
    },
}


@pytest.fixture(params=["en", "ru"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _fund(bot: Harness, uid: int = U) -> None:
    await bot.feed(up.successful_payment(uid, sign_payload(bot.deps.payload_key, 0, uid), 50, f"ch-{uid}"))


async def test_any_text_is_a_prompt_and_a_free_picture_comes_in_one_action(bot: Harness, lang: str) -> None:
    await bot.say(U, "нарисуй собаку" if lang == "ru" else "draw a dog", lang=lang)

    [card] = bot.fake.sent_to(U)  # no menu, no model, no confirm: the status card at once
    assert TEXT[lang]["queued"] in card["text"] and bot.labels(card) == [TEXT[lang]["stop"]]
    await bot.run_for(30)
    [job] = await bot.jobs(U)
    assert job.status is JobStatus.SUCCEEDED and job.model == "z-image"
    assert job.inputs["prompt"] == ("нарисуй собаку" if lang == "ru" else "draw a dog")
    [result] = bot.fake.sent_to(U)  # the status card made way for the picture
    assert result.get("photo") and result["caption"].startswith("Z-Image: ")


async def test_a_photo_with_a_caption_starts_a_change_after_one_confirm_when_it_costs_credits(
    bot: Harness, lang: str
) -> None:
    await _fund(bot)
    await bot.feed(up.photo(U, bot.fake.add_file(PNG), caption="make it blue", lang=lang))

    card = bot.card(U)
    assert TEXT[lang]["generate"] in bot.labels(card)
    assert await bot.jobs(U) == []  # it costs credits: nothing before the confirm
    await bot.press(U, "Generate" if lang == "en" else "Сгенерировать", card, lang=lang)
    await bot.run_for(30)
    [job] = await bot.jobs(U)
    assert job.model == "qwen/image-edit" and job.inputs["prompt"] == "make it blue"
    assert str(job.inputs["image_url"]).endswith(tuple(bot.simulator.uploads))  # KIE sees its own upload
    assert job.status is JobStatus.SUCCEEDED and await bot.store.balance(f"tg:{U}") == 95


async def test_a_photo_alone_asks_what_to_change_and_the_next_text_is_that(bot: Harness, lang: str) -> None:
    await _fund(bot)
    await bot.feed(up.photo(U, bot.fake.add_file(PNG), lang=lang))
    assert TEXT[lang]["what"] in bot.card(U)["text"]

    await bot.say(U, "add a hat", lang=lang)

    card = bot.card(U)
    assert "add a hat" in card["text"] and TEXT[lang]["generate"] in bot.labels(card)
    draft = await bot.bots.get_draft(f"tg:{U}")
    assert draft is not None and draft.image_url is not None and draft.prompt == "add a hat"


async def test_a_free_photo_model_starts_from_a_captioned_photo_at_once(lang: str) -> None:
    async with Harness(free_quota=10) as bot:
        await bot.feed(up.photo(U, bot.fake.add_file(PNG), caption="make it blue", lang=lang))
        await bot.run_for(30)
        [job] = await bot.jobs(U)
        assert job.model == "qwen/image-edit" and job.status is JobStatus.SUCCEEDED
        assert [m for m in bot.fake.sent_to(U) if m.get("photo")]


async def test_the_model_and_settings_chosen_stay_for_the_next_prompts(bot: Harness, lang: str) -> None:
    await bot.say(U, "/start", lang=lang)
    await bot.press(U, "🎨", lang=lang)
    await bot.pick(U, "Qwen Text-to-Image", lang=lang)
    await bot.press(U, "Кадр" if lang == "ru" else "Frame", lang=lang)
    await bot.press(U, "Портрет 3:4" if lang == "ru" else "Portrait 3:4", lang=lang)

    await bot.say(U, "a lighthouse", lang=lang)
    await bot.run_for(30)
    await bot.say(U, "a castle", lang=lang)
    await bot.run_for(30)

    jobs = await bot.jobs(U)
    assert [(j.model, j.inputs["image_size"], j.inputs["prompt"]) for j in jobs] == [
        ("qwen/text-to-image", "portrait_4_3", "a castle"),
        ("qwen/text-to-image", "portrait_4_3", "a lighthouse"),
    ]


async def test_a_paid_text_model_asks_exactly_once(lang: str) -> None:
    async with Harness(free_quota=10, prices={"z-image": 3, "qwen/text-to-image": 4}) as bot:
        await _fund(bot)
        await bot.say(U, "a red fox", lang=lang)
        card = bot.card(U)
        assert await bot.jobs(U) == []
        label = "✅ Generate · 3 cr." if lang == "en" else "✅ Сгенерировать · 3 кр."
        assert label in bot.labels(card)
        await bot.press(U, label, card, lang=lang)
        [job] = await bot.jobs(U)
        assert job.price == 3 and job.inputs["prompt"] == "a red fox"


async def test_a_new_prompt_while_one_is_being_confirmed_replaces_it(bot: Harness, lang: str) -> None:
    await _fund(bot)
    await bot.feed(up.photo(U, bot.fake.add_file(PNG), caption="make it blue", lang=lang))
    first = bot.card(U)
    await bot.say(U, "make it red", lang=lang)
    assert bot.card(U)["message_id"] == first["message_id"]  # the same card, edited
    assert "make it red" in bot.card(U)["text"] and len(bot.fake.sent_to(U)) == 2  # the receipt of credits + card


async def test_the_same_prompt_update_sent_again_makes_one_job_and_one_card(bot: Harness, lang: str) -> None:
    update = up.text(U, "a red fox", lang=lang)
    await bot.feed(update)
    await bot.feed(update)  # a new polling leader re-reads the last unconfirmed batch
    assert len(await bot.jobs(U)) == 1 and len(bot.fake.sent_to(U)) == 1
