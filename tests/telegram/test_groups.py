"""Issue 15, item 9: group chats. The bot answers commands, mentions and replies to it, never the members'
conversation; each card belongs to the member who asked for it; balances go to a private chat; one member's
/start sets that member's command menu only. Both languages."""

from __future__ import annotations

import pytest

from tests.telegram import updates as up
from tests.telegram.harness import Harness

pytestmark = pytest.mark.anyio

GROUP = -1001234567890
ANN, BOB = 911, 912
FOREIGN = {
    "en": "This card is someone else's: send /start for your own.",
    "ru": "Это чужая карточка: нажмите /start, чтобы открыть свою.",
}
SENT = {"en": "I sent your balance to our private chat.", "ru": "Баланс я отправил вам в личные сообщения."}


@pytest.fixture(params=["en", "ru"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_the_members_conversation_is_not_for_the_bot(bot: Harness, lang: str) -> None:
    await bot.say(ANN, "hello everyone, what shall we draw?", lang=lang, chat=GROUP)
    await bot.say(BOB, "a red fox maybe", lang=lang, chat=GROUP)
    await bot.feed(up.sticker(BOB, lang=lang, chat=GROUP))
    assert bot.fake.sent_to(GROUP) == [] and await bot.jobs(ANN) == [] and await bot.jobs(BOB) == []


async def test_a_mention_is_a_prompt_without_the_mention_and_the_card_quotes_it(bot: Harness, lang: str) -> None:
    asked = await bot.say(ANN, "@kie_images_bot a red fox", lang=lang, chat=GROUP)
    [card] = bot.fake.sent_to(GROUP)
    assert card["reply_to_message"]["message_id"] == asked["message_id"]  # whose it is shows
    [job] = await bot.jobs(ANN)
    assert job.inputs["prompt"] == "a red fox" and job.recipient == f"telegram:{GROUP}"
    await bot.run_for(30)
    assert [m for m in bot.fake.sent_to(GROUP) if m.get("photo")]


async def test_a_reply_to_the_bot_is_a_prompt(bot: Harness, lang: str) -> None:
    await bot.say(ANN, "@kie_images_bot a red fox", lang=lang, chat=GROUP)
    await bot.run_for(30)
    result = bot.fake.last(GROUP)
    reply_to = {
        "message_id": result["message_id"],
        "date": result["date"],
        "chat": result["chat"],
        "from": result["from"],
    }
    await bot.say(BOB, "now a blue one", lang=lang, chat=GROUP, reply_to=reply_to)
    [job] = await bot.jobs(BOB)
    assert job.inputs["prompt"] == "now a blue one"


async def test_a_members_card_is_theirs_another_members_tap_changes_nothing(bot: Harness, lang: str) -> None:
    await bot.say(ANN, "/start", lang="en", chat=GROUP)
    welcome = bot.card(GROUP)
    await bot.press(ANN, "Create", welcome, chat=GROUP)
    await bot.press(ANN, "A picture from text", chat=GROUP)
    picker = bot.card(GROUP)
    data = next(d for t, d in bot.buttons(picker) if "Z-Image" in t)

    await bot.feed(up.tap(BOB, data, picker, lang=lang))

    assert bot.fake.callback_answers[-1]["text"] == FOREIGN[lang]  # in Bob's language, not Ann's card's
    assert bot.card(GROUP)["text"] == picker["text"]
    assert await bot.bots.get_draft(f"tg:{BOB}") is None and await bot.bots.get_user(f"tg:{BOB}") is None


async def test_a_welcome_in_a_group_shows_no_balance_and_balance_goes_private(bot: Harness, lang: str) -> None:
    await bot.say(ANN, "/start", lang=lang, chat=GROUP)
    assert "Balance" not in bot.card(GROUP)["text"] and "Баланс" not in bot.card(GROUP)["text"]

    await bot.say(ANN, "/balance", lang=lang, chat=GROUP)

    assert bot.last_text(GROUP) == SENT[lang]
    assert "0" in bot.card(ANN)["text"] and bot.card(ANN)["chat"]["id"] == ANN  # the card is in Ann's private chat


async def test_balance_of_a_member_who_never_opened_the_bot_points_to_a_private_chat(bot: Harness, lang: str) -> None:
    bot.fake.blocked.add(BOB)
    await bot.say(BOB, "/balance", lang=lang, chat=GROUP)
    assert "https://t.me/kie_images_bot?start=balance" in bot.last_text(GROUP)
    assert "Balance:" not in bot.last_text(GROUP) and "Баланс:" not in bot.last_text(GROUP)


async def test_one_members_start_sets_only_that_members_menu(bot: Harness, lang: str) -> None:
    await bot.say(ANN, "/start", lang=lang, chat=GROUP)
    await bot.say(BOB, "/start", lang="en", chat=GROUP)
    scopes = [c.params["scope"] for c in bot.fake.called("setMyCommands")]
    assert scopes == [
        {"type": "chat_member", "chat_id": GROUP, "user_id": ANN},
        {"type": "chat_member", "chat_id": GROUP, "user_id": BOB},
    ]
