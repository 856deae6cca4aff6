"""The model picker (issue 16, item 3): kinds first (only those with enabled models), then a kind's models in
pages of six with Prev/Next, each button with its title and price and the page listing one line per model;
reached from Create and from a draft's card, its buttons bound to their owner and to that draft."""

from __future__ import annotations

import pytest

from kiegen.apps.telegram.picker import PAGE_SIZE
from tests.telegram import updates as up
from tests.telegram.harness import FREE_FOUR, Harness

pytestmark = pytest.mark.anyio

U = 931
KIND = {
    "en": ("A picture from text", "Change a photo", "Video"),
    "ru": ("Картинка по описанию", "Изменить фото", "Видео"),
}


@pytest.fixture(params=["en", "ru"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _data(bot: Harness, card: dict[str, object], prefix: str) -> list[str]:
    return [data for _, data in bot.buttons(card) if data.startswith(prefix)]


async def test_the_kinds_are_those_with_enabled_models_with_how_many_each(lang: str) -> None:
    async with Harness(free_quota=5, models_enabled=FREE_FOUR) as bot:
        await bot.say(U, "/start", lang=lang)
        await bot.press(U, "Create" if lang == "en" else "Создать", lang=lang)
        labels = bot.labels(bot.card(U))
    image, edit, video = KIND[lang]
    two = "2 models" if lang == "en" else "2 модели"
    assert any(image in label and two in label for label in labels)
    assert any(edit in label and two in label for label in labels)
    assert not any(video in label for label in labels)


async def test_a_kind_with_many_models_comes_in_pages_of_six_with_descriptions() -> None:
    async with Harness(free_quota=5, models_enabled=("*",)) as bot:
        text_models = [s for s in bot.deps.models() if s.kind.value == "text-to-image"]
        assert len(text_models) > PAGE_SIZE
        await bot.say(U, "/start")
        await bot.press(U, "Create")
        await bot.press(U, "A picture from text")
        first = bot.card(U)
        assert len(_data(bot, first, "p:")) == PAGE_SIZE
        assert "(page 1 of" in first["text"]
        for spec in text_models[:PAGE_SIZE]:
            assert spec.title in first["text"] and any(spec.title in label for label in bot.labels(first))
        assert "Fast photorealistic pictures from text." in first["text"]  # the catalogue's line for Z-Image
        assert "◀️" not in bot.labels(first)

        await bot.press(U, "▶️")
        second = bot.card(U)
        assert "(page 2 of" in second["text"] and "◀️" in bot.labels(second)
        assert text_models[PAGE_SIZE].title in second["text"]
        assert text_models[0].title not in bot.labels(second)
        for card in (first, second):
            for _, data in bot.buttons(card):
                assert len(data.encode()) <= 64
        await bot.press(U, "◀️")
        assert bot.card(U)["text"] == first["text"]
        await bot.press(U, "⬅️")
        assert "What shall we make?" in bot.card(U)["text"]
        assert len(bot.fake.sent_to(U)) == 1  # one card, edited in place throughout


async def test_a_page_that_no_longer_exists_shows_the_last_one() -> None:
    async with Harness(free_quota=5, models_enabled=FREE_FOUR) as bot:
        await bot.say(U, "/start")
        card = bot.card(U)
        await bot.tap_data(U, f"pg:{U}:i:7:", card)
        page = bot.card(U)
        assert "Z-Image" in " ".join(bot.labels(page)) and "▶️" not in bot.labels(page)


async def test_a_bot_with_one_kind_goes_straight_to_its_models_and_back_to_the_menu() -> None:
    async with Harness(free_quota=5, models_enabled=("z-image", "qwen/text-to-image")) as bot:
        await bot.say(U, "/start")
        await bot.press(U, "Create")
        card = bot.card(U)
        assert "Z-Image — free, 5 left" in bot.labels(card) and not _data(bot, card, "pk:")
        await bot.press(U, "Back")
        assert "Create" in " ".join(bot.labels(bot.card(U)))


async def test_change_a_photo_opens_the_models_that_change_photos(bot: Harness, lang: str) -> None:
    await bot.say(U, "/start", lang=lang)
    await bot.press(U, "Change a photo" if lang == "en" else "Изменить фото", lang=lang)
    labels = bot.labels(bot.card(U))
    assert any("Qwen Image-Edit" in label for label in labels)
    assert not any(label.startswith("Z-Image") for label in labels)


async def test_the_russian_page_has_russian_descriptions_and_plural_counts() -> None:
    async with Harness(free_quota=5) as bot:
        await bot.say(U, "/start", lang="ru")
        await bot.press(U, "Создать", lang="ru")
        labels = bot.labels(bot.card(U))
        assert "🖼 Картинка по описанию · 4 модели" in labels and "🎬 Видео · 2 модели" in labels
        await bot.press(U, "Изменить фото", lang="ru")
        text = bot.card(U)["text"]
        assert "Меняет или объединяет до 10 фото по описанию." in text
        assert "Edit or combine" not in text


async def test_change_model_from_a_draft_keeps_its_prompt_and_an_older_pickers_tap_changes_nothing(
    bot: Harness,
) -> None:
    await bot.say(U, "/start")
    await bot.press(U, "Create")
    await bot.pick(U, "Qwen Text-to-Image")
    await bot.press(U, "Model")
    old_picker = bot.card(U)
    old_draft = await bot.bots.get_draft(f"tg:{U}")
    assert old_draft is not None and all(old_draft.id in d for d in _data(bot, old_picker, "pg:"))
    await bot.press(U, "A picture from text")
    stale_page = bot.card(U)
    await bot.press(U, "Z-Image")
    await bot.say(U, "a lighthouse at night")  # prompt first: it goes to the open Z-Image draft
    await bot.run_for(30)
    [job] = await bot.jobs(U)
    assert job.model == "z-image" and job.inputs["prompt"] == "a lighthouse at night"

    await bot.say(U, "a castle")
    await bot.run_for(30)
    before = await bot.bots.get_draft(f"tg:{U}")
    await bot.press(U, "Qwen Text-to-Image", stale_page)  # the first draft's picker: out of date
    assert bot.fake.callback_answers[-1]["text"] == "This button is out of date."
    await bot.tap_data(U, _data(bot, old_picker, "pg:")[0], old_picker)
    assert bot.fake.callback_answers[-1]["text"] == "This button is out of date."
    assert await bot.bots.get_draft(f"tg:{U}") == before


async def test_a_picked_model_carries_the_drafts_prompt(bot: Harness) -> None:
    await bot.say(U, "a red fox in the snow")
    await bot.run_for(30)
    await bot.say(U, "a blue fox")  # the quota is there: it starts at once; the next one waits on a paid model
    await bot.run_for(30)
    draft = await bot.bots.get_draft(f"tg:{U}")
    assert draft is not None
    await bot.say(U, "/start")
    await bot.press(U, "Create")
    await bot.pick(U, "Nano Banana")
    await bot.say(U, "a green fox")
    card = bot.card(U)
    assert "Nano Banana" in card["text"] and "a green fox" in card["text"]
    await bot.press(U, "Model", card)
    await bot.pick(U, "Seedream 4.0")
    moved = bot.card(U)
    assert "Seedream 4.0" in moved["text"] and "a green fox" in moved["text"]


async def test_a_foreign_persons_tap_on_a_picker_page_changes_nothing(bot: Harness) -> None:
    await bot.say(U, "/start")
    await bot.press(U, "Create")
    card = bot.card(U)
    await bot.feed(up.tap(U + 1, _data(bot, card, "pg:")[0], card))
    assert bot.card(U)["text"] == card["text"]
    assert "someone else's" in bot.fake.callback_answers[-1]["text"]


def test_picker_buttons_fit_telegrams_64_bytes_for_the_largest_ids() -> None:
    from kiegen.apps.telegram.callbacks import Kinds, Page, Pick

    owner, draft = -(2**52), "f" * 16  # Telegram ids fit in 52 bits; draft ids are 16 hex digits
    for data in (
        Kinds(u=owner, d=draft).pack(),
        Page(u=owner, g="e", p=99, d=draft).pack(),
        Pick(u=owner, m=999, e=1, d=draft).pack(),
    ):
        assert len(data.encode()) <= 64, data
