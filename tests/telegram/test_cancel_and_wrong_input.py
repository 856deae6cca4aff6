"""/cancel from every state, and input of the wrong type at every step (asyncio only: aiogram)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.telegram import updates as up
from tests.telegram.harness import PNG, Harness

pytestmark = pytest.mark.anyio

U = 601


async def _model(bot: Harness) -> None:
    await bot.say(U, "/start")
    await bot.press(U, "Create")


async def _settings(bot: Harness) -> None:
    await _model(bot)
    await bot.press(U, "Z-Image")


async def _photo(bot: Harness) -> None:
    await bot.say(U, "/start")
    await bot.press(U, "Edit a photo")
    await bot.press(U, "Qwen Image-Edit")
    await bot.say(U, "make it blue")


async def _confirm(bot: Harness) -> None:
    await _settings(bot)
    await bot.say(U, "a fox")


STEPS: dict[str, Callable[[Harness], Awaitable[None]]] = {
    "model": _model,
    "settings": _settings,
    "photo": _photo,
    "confirm": _confirm,
}


async def test_cancel_when_idle_says_nothing_to_cancel(bot: Harness) -> None:
    await bot.say(U, "/cancel")
    assert bot.last_text(U) == "Nothing to cancel."


@pytest.mark.parametrize("step", list(STEPS))
async def test_cancel_command_leaves_every_step_and_drops_the_draft(bot: Harness, step: str) -> None:
    await STEPS[step](bot)
    await bot.say(U, "/cancel")
    assert bot.last_text(U).startswith("Cancelled.")
    assert await bot.bots.get_draft(f"tg:{U}") is None
    await bot.say(U, "/cancel")
    assert bot.last_text(U) == "Nothing to cancel."
    assert await bot.client.jobs(user_id=f"tg:{U}") == []


@pytest.mark.parametrize("step", list(STEPS))
async def test_cancel_button_on_every_card(bot: Harness, step: str) -> None:
    await STEPS[step](bot)
    await bot.press(U, "Cancel")
    assert bot.card(U)["text"].startswith("Cancelled.")
    assert await bot.bots.get_draft(f"tg:{U}") is None


@pytest.mark.parametrize("step", ["settings", "photo", "confirm"])
async def test_back_goes_one_screen_back(bot: Harness, step: str) -> None:
    await STEPS[step](bot)
    await bot.press(U, "Back")
    text = bot.card(U)["text"]
    expected = "Choose a model" if step == "settings" else "Send the"
    assert expected in text


async def test_wrong_input_in_the_model_picker(bot: Harness) -> None:
    await _model(bot)
    await bot.feed(up.sticker(U))
    assert "Send the prompt as a text message" in bot.last_text(U)


async def test_wrong_input_in_settings(bot: Harness) -> None:
    await _settings(bot)
    await bot.feed(up.sticker(U))
    assert "Send the prompt as a text message" in bot.last_text(U)
    await bot.feed(up.photo(U, bot.fake.add_file(PNG)))
    assert "draws from text only" in bot.last_text(U)
    await bot.say(U, "still a fox")  # the step was kept
    assert "Balance after" in bot.card(U)["text"]


async def test_wrong_input_when_a_photo_is_expected(bot: Harness) -> None:
    await _photo(bot)
    await bot.feed(up.sticker(U))
    assert "I need a photo" in bot.last_text(U)
    await bot.feed(up.document(U, bot.fake.add_file(b"GIF89a....", kind="document"), mime="image/gif"))
    assert "not an image" in bot.last_text(U)
    fake_png = bot.fake.add_file(b"not really a png", kind="document")
    await bot.feed(up.document(U, fake_png, mime="image/png"))
    assert "not an image" in bot.last_text(U)
    assert bot.simulator.calls["upload"] == 0


async def test_wrong_input_at_confirm_replaces_the_prompt(bot: Harness) -> None:
    await _confirm(bot)
    await bot.say(U, "a wolf instead")
    assert "a wolf instead" in bot.card(U)["text"]
    await bot.feed(up.sticker(U))
    assert "Send the prompt as a text message" in bot.last_text(U)


async def test_idle_text_gets_a_hint_and_stale_buttons_an_answer(bot: Harness) -> None:
    await bot.say(U, "hello")
    assert "/help" in bot.last_text(U)
    await bot.say(U, "/start")
    await bot.tap_data(U, "g:doesnotexist", bot.card(U))
    assert bot.fake.callback_answers[-1]["text"] == "This card is out of date."
    await bot.tap_data(U, "zz:unknown", bot.card(U))
    assert bot.fake.callback_answers[-1]["text"] == "This card is out of date."
