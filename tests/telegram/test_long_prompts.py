"""Issue 15, item 6: long and empty prompts. The parts of a message Telegram split (4,096 + 904 characters) are
joined into one prompt; a prompt over the model's limit is refused with the limit and the count, in the
person's language, once; a blank or invisible-only prompt is refused before any card. Both languages."""

from __future__ import annotations

import anyio
import pytest

from tests.telegram import updates as up
from tests.telegram.harness import PNG, Harness

pytestmark = pytest.mark.anyio

U = 871
TOO_LONG = {
    "en": "This prompt has 5000 characters; Z-Image takes at most 1000. Shorten it and send it again.",
    "ru": "В описании 5000 символов, а Z-Image принимает не больше 1000. Сократите его и отправьте ещё раз.",
}
BLANK = {
    "en": "The prompt is empty: write in words what the picture should show.",
    "ru": "Описание пустое: напишите словами, что должно быть на картинке.",
}


@pytest.fixture(params=["en", "ru"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _long_text(length: int = 5000) -> str:
    words: list[str] = []
    while len(" ".join(words)) + 6 <= length:
        words.append(f"w{len(words):04d}")
    text = " ".join(words)
    return text + "x" * (length - len(text))


def _split(text: str) -> tuple[str, str]:
    """As Telegram's apps split it: at the last space before 4096, the space itself dropped."""
    cut = text.rindex(" ", 0, 4096)
    return text[:cut], text[cut + 1 :]


async def _send_split(bot: Harness, text: str, lang: str) -> None:
    first, second = _split(text)
    assert len(first) <= 4096 and len(second) > 800
    async with anyio.create_task_group() as tg:
        tg.start_soon(bot.feed, up.text(U, first, lang=lang))
        await anyio.sleep(0.01)  # the second part arrives right after the first
        tg.start_soon(bot.feed, up.text(U, second, lang=lang))


async def test_the_parts_of_a_split_message_become_one_prompt(bot: Harness, lang: str) -> None:
    await bot.say(U, "/start", lang=lang)
    await bot.press(U, "🎨", lang=lang)
    await bot.pick(U, "Qwen Text-to-Image", lang=lang)  # takes up to 5000 characters
    text = _long_text()

    await _send_split(bot, text, lang)

    [job] = await bot.jobs(U)
    assert job.inputs["prompt"] == text and len(job.inputs["prompt"]) == 5000


async def test_an_over_long_split_prompt_gets_the_limit_and_the_count_once(bot: Harness, lang: str) -> None:
    await _send_split(bot, _long_text(), lang)

    assert bot.texts(U) == [TOO_LONG[lang]]  # one answer for the whole message, not one per part
    assert await bot.jobs(U) == []


async def test_an_over_long_prompt_in_one_message_is_refused_with_its_count(bot: Harness, lang: str) -> None:
    await bot.say(U, "x" * 1200, lang=lang)
    expected = TOO_LONG[lang].replace("5000", "1200")
    assert bot.texts(U) == [expected]
    assert await bot.jobs(U) == [] and await bot.bots.get_draft(f"tg:{U}") is None


@pytest.mark.parametrize("blank", ["   ", "\u3164", "\u200b\u2060\ufeff", "\u3164 \u3164\n\u115f", "\u2800\u0301"])
async def test_a_blank_or_invisible_prompt_is_refused_before_any_card(bot: Harness, lang: str, blank: str) -> None:
    await bot.say(U, blank, lang=lang)
    assert bot.texts(U) == [BLANK[lang]]
    assert await bot.jobs(U) == [] and await bot.bots.get_draft(f"tg:{U}") is None


async def test_an_invisible_caption_is_no_prompt_the_card_asks_for_one(bot: Harness, lang: str) -> None:
    await bot.feed(up.photo(U, bot.fake.add_file(PNG), caption="\u3164", lang=lang))
    draft = await bot.bots.get_draft(f"tg:{U}")
    assert draft is not None and draft.prompt is None and draft.image_url
    assert ("What should I change" if lang == "en" else "Что изменить") in bot.card(U)["text"]
