"""Issue 15, item 3: every card's buttons belong to their own draft and their owner. A button of an older card
answers that it is out of date, a button of someone else's card that it is theirs, and neither changes the
draft or redraws the card. Both languages."""

from __future__ import annotations

import copy

import pytest

from kiegen.apps.telegram.payments import sign_payload
from tests.telegram import updates as up
from tests.telegram.harness import PNG, Harness

pytestmark = pytest.mark.anyio

U, OTHER = 851, 852
STALE = {"en": "This button is out of date.", "ru": "Эта кнопка устарела."}
FOREIGN = {
    "en": "This card is someone else's: send /start for your own.",
    "ru": "Это чужая карточка: нажмите /start, чтобы открыть свою.",
}
FRAME = {"en": "Frame", "ru": "Кадр"}
CREATE = {"en": "Create", "ru": "Создать"}
GENERATE = {"en": "Generate", "ru": "Сгенерировать"}


@pytest.fixture(params=["en", "ru"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _card_for(bot: Harness, model: str, lang: str) -> dict[str, object]:
    await bot.say(U, "/start", lang=lang)
    await bot.press(U, CREATE[lang], lang=lang)
    await bot.pick(U, model, lang=lang)
    return bot.card(U)


async def test_an_old_cards_setting_button_changes_nothing_on_the_new_draft(bot: Harness, lang: str) -> None:
    old = await _card_for(bot, "Z-Image", lang)
    await bot.press(U, FRAME[lang], old, lang=lang)
    old_values = copy.deepcopy(bot.fake.message(U, old["message_id"]))  # Z-Image's frames, on the old card
    await _card_for(bot, "Qwen Text-to-Image", lang)
    draft_before = await bot.bots.get_draft(f"tg:{U}")

    portrait = next(data for text, data in bot.buttons(old_values) if "9:16" in text)
    await bot.tap_data(U, portrait, old_values, lang=lang)

    assert bot.fake.callback_answers[-1]["text"] == STALE[lang]
    assert await bot.bots.get_draft(f"tg:{U}") == draft_before
    assert bot.fake.message(U, old["message_id"])["text"] == old_values["text"]  # not redrawn as Qwen's


async def test_an_old_cards_generate_button_starts_nothing(bot: Harness, lang: str) -> None:
    await bot.feed(up.successful_payment(U, sign_payload(bot.deps.payload_key, 0, U), 50, "ch-1"))
    await bot.feed(up.photo(U, bot.fake.add_file(PNG), caption="make it blue", lang=lang))
    old = bot.card(U)  # a paid draft, ready: Generate
    await _card_for(bot, "Z-Image", lang)  # another draft, from the menu

    await bot.press(U, GENERATE[lang], old, lang=lang)

    assert bot.fake.callback_answers[-1]["text"] == STALE[lang]
    assert await bot.jobs(U) == []


async def test_someone_elses_card_answers_so_and_changes_nothing(bot: Harness, lang: str) -> None:
    card = await _card_for(bot, "Z-Image", lang)
    draft_before = await bot.bots.get_draft(f"tg:{U}")
    edits_before = bot.fake.message(U, card["message_id"]).get("edits", 0)

    for label in (FRAME[lang], "🔄", "✖️"):
        data = next(d for text, d in bot.buttons(card) if label in text)
        await bot.feed(up.tap(OTHER, data, card, lang=lang))
        assert bot.fake.callback_answers[-1]["text"] == FOREIGN[lang]
        assert bot.fake.callback_answers[-1]["show_alert"] in (True, "true")

    assert await bot.bots.get_draft(f"tg:{U}") == draft_before
    assert bot.fake.message(U, card["message_id"]).get("edits", 0) == edits_before
    assert await bot.bots.get_draft(f"tg:{OTHER}") is None and await bot.bots.get_user(f"tg:{OTHER}") is None


async def test_unknown_or_old_style_buttons_are_out_of_date(bot: Harness, lang: str) -> None:
    await bot.say(U, "/start", lang=lang)
    for data in ("g:doesnotexist", "zz:unknown", "r:again:0123"):  # data of an older bot version, or none of ours
        await bot.tap_data(U, data, bot.card(U), lang=lang)
        assert bot.fake.callback_answers[-1]["text"] == STALE[lang]
