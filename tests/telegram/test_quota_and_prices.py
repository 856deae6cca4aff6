"""Issue 15, item 7: the free quota and the prices up front. The model buttons and the draft's card show what
is left today and, when nothing is, when it comes back (in hours and minutes, no time zone needed); an
exhausted quota is seen before Generate, never only after it; the Stars packs are hidden when every model is
free. Both languages."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.telegram.harness import FREE_FOUR, Harness

pytestmark = pytest.mark.anyio

U = 881
TEXT = {
    "en": {
        "create": "Create",
        "image": "A picture from text",
        "edit": "Change a photo",
        "left": "Z-Image — free, 1 left",
        "card_left": "Free: 1 of 2 left today",
        "none": r"Z-Image — free: none left, more in (\d+) h (\d+) min",
        "card_none": r"Free generations are used up for today; new ones in (\d+) h (\d+) min\. Paid models",
        "paid": "Qwen Image-Edit 📎 — 5 cr.",
        "welcome_none": r"Today's free generations are used up; new ones in \d+ h \d+ min\.",
        "packs": "Top up with Telegram Stars",
    },
    "ru": {
        "create": "Создать",
        "image": "Картинка по описанию",
        "edit": "Изменить фото",
        "left": "Z-Image — бесплатно, осталась 1",
        "card_left": "Бесплатно: сегодня осталась 1 из 2",
        "none": r"Z-Image — бесплатно: 0, снова через (\d+) ч (\d+) мин",
        "card_none": r"Бесплатные генерации на сегодня закончились, новые через (\d+) ч (\d+) мин\. Платные",
        "paid": "Qwen Image-Edit 📎 — 5 кр.",
        "welcome_none": r"Бесплатные генерации на сегодня закончились, новые через \d+ ч \d+ мин\.",
        "packs": "Пополнить звёздами Telegram",
    },
}


@pytest.fixture(params=["en", "ru"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def two_a_day() -> AsyncIterator[Harness]:
    async with Harness(free_quota=2, prices={"qwen/image-edit": 5}) as harness:
        yield harness


def _until_midnight(bot: Harness) -> tuple[int, int]:
    """Hours and minutes (rounded up) from the fake clock's now to the next UTC midnight."""
    now = bot.clock.now()
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return divmod(math.ceil((midnight - now).total_seconds() / 60), 60)


async def test_what_is_left_shows_on_the_model_buttons_and_the_card(two_a_day: Harness, lang: str) -> None:
    bot = two_a_day
    await bot.say(U, "one fox", lang=lang)
    await bot.run_for(30)
    await bot.say(U, "/start", lang=lang)
    await bot.press(U, TEXT[lang]["create"], lang=lang)
    await bot.press(U, TEXT[lang]["edit"], lang=lang)
    assert TEXT[lang]["paid"] in bot.labels(bot.card(U))
    await bot.press(U, "⬅️", lang=lang)
    await bot.press(U, TEXT[lang]["image"], lang=lang)
    assert TEXT[lang]["left"] in bot.labels(bot.card(U))
    await bot.press(U, "Z-Image", lang=lang)
    assert TEXT[lang]["card_left"] in bot.card(U)["text"]


async def test_an_exhausted_quota_shows_before_generate_with_the_time_to_the_reset(
    two_a_day: Harness, lang: str
) -> None:
    bot = two_a_day
    for n in range(2):
        await bot.say(U, f"fox {n}", lang=lang)
        await bot.run_for(30)

    await bot.say(U, "one fox too many", lang=lang)

    card = bot.card(U)
    found = re.search(TEXT[lang]["card_none"], card["text"])
    assert found is not None
    assert (int(found[1]), int(found[2])) == _until_midnight(bot)
    assert not any("Generate" in t or "Сгенерировать" in t for t in bot.labels(card))  # nothing to tap in vain
    assert len(await bot.jobs(U)) == 2
    await bot.say(U, "/start", lang=lang)
    assert re.search(TEXT[lang]["welcome_none"], bot.card(U)["text"])
    await bot.press(U, TEXT[lang]["create"], lang=lang)
    await bot.press(U, TEXT[lang]["image"], lang=lang)
    labels = " | ".join(bot.labels(bot.card(U)))
    assert re.search(TEXT[lang]["none"], labels)
    assert "UTC" not in labels and "UTC" not in card["text"]


async def test_stars_packs_are_hidden_when_every_model_is_free(lang: str) -> None:
    async with Harness(free_quota=5, models_enabled=FREE_FOUR) as bot:
        await bot.say(U, "/start", lang=lang)
        welcome = bot.card(U)
        assert not any("💰" in label for label in bot.labels(welcome))
        assert "Balance" not in welcome["text"] and "Баланс" not in welcome["text"]
        await bot.say(U, "/balance", lang=lang)
        balance = bot.card(U)
        assert TEXT[lang]["packs"] not in balance["text"] and not any("⭐" in t for t in bot.labels(balance))


async def test_stars_packs_are_offered_when_a_model_costs_credits(bot: Harness, lang: str) -> None:
    await bot.say(U, "/balance", lang=lang)
    balance = bot.card(U)
    assert TEXT[lang]["packs"] in balance["text"]
    assert [t for t in bot.labels(balance) if "⭐" in t] == (
        ["100 credits — 50 ⭐", "500 credits — 200 ⭐"]
        if lang == "en"
        else ["100 кредитов — 50 ⭐", "500 кредитов — 200 ⭐"]
    )
