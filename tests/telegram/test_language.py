"""Issue 15, item 10: language. Ukrainian, Belarusian and Kazakh speakers get English (not Russian); the
Russian texts follow the reviewer's list (a result's "Изменить картинку" that then asks what to change, "кр."
on buttons, "Эта кнопка устарела", no "полночь UTC"); the chosen language wins over Telegram's."""

from __future__ import annotations

import pytest

from tests.telegram.harness import Harness

pytestmark = pytest.mark.anyio

U = 921


@pytest.mark.parametrize("code", ["uk", "be", "kk", "de", "en-US"])
async def test_languages_other_than_russian_get_english(bot: Harness, code: str) -> None:
    await bot.say(U, "/start", lang=code)
    assert "Write what to draw" in bot.card(U)["text"]
    user = await bot.bots.get_user(f"tg:{U}")
    assert user is not None and user.locale == "en"


async def test_russian_speakers_get_the_reviewed_russian(bot: Harness) -> None:
    await bot.say(U, "/start", lang="ru")
    assert "Напишите, что нарисовать" in bot.card(U)["text"]
    await bot.press(U, "Создать", lang="ru")
    await bot.press(U, "Изменить фото", lang="ru")
    assert "Qwen Image-Edit 📎 — 5 кр." in bot.labels(bot.card(U))
    await bot.say(U, "рыжая лиса", lang="ru")
    await bot.run_for(30)
    result = bot.fake.last(U)
    assert "✏️ Изменить картинку" in bot.labels(result)

    await bot.press(U, "Изменить картинку", result, lang="ru")

    card = bot.card(U)
    assert "Что изменить на фото?" in card["text"]
    assert "Цена: 5 кредитов" in card["text"]
    await bot.tap_data(U, "g:doesnotexist", card, lang="ru")
    assert bot.fake.callback_answers[-1]["text"] == "Эта кнопка устарела."
    everything = " ".join(bot.texts(U)) + " ".join(a.get("text", "") for a in bot.fake.callback_answers)
    assert "UTC" not in everything and "полночь" not in everything


async def test_the_language_chosen_wins_over_telegrams(bot: Harness) -> None:
    await bot.say(U, "/language", lang="ru")
    await bot.press(U, "English", bot.fake.last(U), lang="ru")
    await bot.say(U, "/help", lang="ru")
    assert "How it works" in bot.last_text(U)
