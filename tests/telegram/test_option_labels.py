"""Issue 15, item 5: settings as people say them, and only those the model really has. No wire value
(``square_hd``, ``portrait_4_3``, ``none``, ``png/jpeg``) and no "default" reaches a card or a button; what is
chosen goes to KIE as the wire value. Both languages."""

from __future__ import annotations

import re

import pytest

from tests.telegram.harness import Harness

pytestmark = pytest.mark.anyio

U = 861
WIRE = re.compile(r"square_hd|portrait_\d|landscape_\d|\bnone\b|\bregular\b|png/jpeg|default|по умолчанию")
LABELS = {
    "en": {
        "create": "Create",
        "frame": "Frame: Square HD 1:1",
        "values": ["Square 1:1", "• Square HD 1:1", "Portrait 3:4", "Portrait 9:16", "Landscape 4:3", "Landscape 16:9"],
        "speed": "Speed: Normal",
        "file": "File type: PNG",
        "pictures": "Pictures: 1",
        "strength": "How much to change: A lot",
        "strengths": ["A little", "Noticeably", "• A lot", "Completely"],
    },
    "ru": {
        "create": "Создать",
        "frame": "Кадр: Квадрат HD 1:1",
        "values": ["Квадрат 1:1", "• Квадрат HD 1:1", "Портрет 3:4", "Портрет 9:16", "Пейзаж 4:3", "Пейзаж 16:9"],
        "speed": "Скорость: Обычная",
        "file": "Тип файла: PNG",
        "pictures": "Картинок: 1",
        "strength": "Сила изменений: Сильно",
        "strengths": ["Слегка", "Заметно", "• Сильно", "Полностью"],
    },
}


@pytest.fixture(params=["en", "ru"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _card(bot: Harness, model: str, lang: str) -> dict[str, object]:
    await bot.say(U, "/start", lang=lang)
    await bot.press(U, LABELS[lang]["create"], lang=lang)
    await bot.pick(U, model, lang=lang)
    return bot.card(U)


def _shown(bot: Harness, card: dict[str, object]) -> str:
    return str(card["text"]) + " " + " ".join(bot.labels(card))


async def test_frames_speed_and_file_type_are_named_as_people_say_them(bot: Harness, lang: str) -> None:
    card = await _card(bot, "Qwen Text-to-Image", lang)
    words = LABELS[lang]
    for line in (words["frame"], words["speed"], words["file"]):
        assert line in card["text"] and line in bot.labels(card)
    assert not WIRE.search(_shown(bot, card))
    await bot.press(U, words["frame"].split(":")[0], card, lang=lang)
    values = bot.card(U)
    assert bot.labels(values)[:6] == words["values"]
    assert not WIRE.search(_shown(bot, values))

    await bot.press(U, words["values"][2], values, lang=lang)  # Portrait 3:4
    await bot.say(U, "a tall tower", lang=lang)
    [job] = await bot.jobs(U)
    assert job.inputs["image_size"] == "portrait_4_3"  # the wire value goes to KIE


async def test_a_setting_without_a_default_shows_what_the_model_does(bot: Harness, lang: str) -> None:
    card = await _card(bot, "Qwen Image-Edit", lang)
    assert LABELS[lang]["pictures"] in card["text"]
    assert not WIRE.search(_shown(bot, card))


async def test_image_to_image_offers_how_much_to_change_and_z_image_only_its_frame(bot: Harness, lang: str) -> None:
    card = await _card(bot, "Qwen Image-to-Image", lang)
    assert LABELS[lang]["strength"] in card["text"]
    await bot.press(U, LABELS[lang]["strength"].split(":")[0], card, lang=lang)
    assert bot.labels(bot.card(U))[:4] == LABELS[lang]["strengths"]
    await bot.press(U, LABELS[lang]["strengths"][0], bot.card(U), lang=lang)
    draft = await bot.bots.get_draft(f"tg:{U}")
    assert draft is not None and draft.options == {"strength": 0.3}

    z_image = await _card(bot, "Z-Image", lang)
    options = [label for label in bot.labels(z_image) if ":" in label and "1:1" in label]
    assert len(options) == 1 and len(bot.labels(z_image)) == 3  # Frame, Model, Cancel: nothing it lacks
