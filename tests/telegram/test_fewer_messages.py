"""Issue 15, item 8: fewer messages, faster repeats. The status card makes way for the result (or becomes the
failure notice); Again repeats in one tap with a new seed; an album has actions per picture; a history item
comes back with its actions; an edited prompt message updates the draft. Both languages."""

from __future__ import annotations

import pytest

from kiegen.apps.telegram.payments import sign_payload
from tests.telegram import updates as up
from tests.telegram.harness import PNG, Harness

pytestmark = pytest.mark.anyio

U = 891
TEXT = {
    "en": {
        "again": "🔁 Again",
        "create": "Create",
        "change_2": "✏️ Change 2",
        "file_3": "📄 File 3",
        "generate": "Generate",
        "history_again": "🔁 Again",
        "what": "What should I change",
    },
    "ru": {
        "again": "🔁 Ещё раз",
        "create": "Создать",
        "change_2": "✏️ Изменить 2",
        "file_3": "📄 Файл 3",
        "generate": "Сгенерировать",
        "history_again": "🔁 Ещё раз",
        "what": "Что изменить",
    },
}


@pytest.fixture(params=["en", "ru"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_the_status_card_makes_way_for_the_result(bot: Harness, lang: str) -> None:
    await bot.say(U, "a red fox", lang=lang)
    card = bot.fake.sent_to(U)[0]
    await bot.run_for(30)
    [result] = bot.fake.sent_to(U)
    assert result.get("photo") and [d["message_id"] for d in bot.fake.deleted] == [card["message_id"]]
    assert not any("done" in h or "готово" in h for h in bot.fake.deleted[0].get("history", []))


async def test_again_repeats_in_one_tap_with_a_new_seed(bot: Harness, lang: str) -> None:
    await bot.say(U, "/start", lang=lang)
    await bot.press(U, TEXT[lang]["create"], lang=lang)
    await bot.pick(U, "Qwen Text-to-Image", lang=lang)
    await bot.say(U, "a lighthouse", lang=lang)
    await bot.run_for(30)

    await bot.press(U, TEXT[lang]["again"], bot.fake.last(U), lang=lang)
    await bot.run_for(30)
    await bot.press(U, TEXT[lang]["again"], bot.fake.last(U), lang=lang)
    await bot.run_for(30)

    jobs = await bot.jobs(U)
    assert len(jobs) == 3 and {j.inputs["prompt"] for j in jobs} == {"a lighthouse"}
    seeds = [j.inputs.get("seed") for j in jobs[:2]]
    assert all(isinstance(s, int) for s in seeds) and seeds[0] != seeds[1]
    assert len([m for m in bot.fake.sent_to(U) if m.get("photo")]) == 3
    assert len(bot.fake.sent_to(U)) == 3  # three pictures, nothing else left in the chat


async def test_again_on_a_paid_picture_charges_in_one_tap(bot: Harness, lang: str) -> None:
    await bot.feed(up.successful_payment(U, sign_payload(bot.deps.payload_key, 0, U), 50, "ch-1"))
    await bot.feed(up.photo(U, bot.fake.add_file(PNG), caption="make it blue", lang=lang))
    await bot.press(U, TEXT[lang]["generate"], bot.card(U), lang=lang)
    await bot.run_for(30)
    result = bot.fake.last(U)
    label = next(t for t in bot.labels(result) if t.startswith(TEXT[lang]["again"]))
    assert label.endswith(("5 cr.", "5 кр."))  # the price is on the button: the tap is the confirm

    await bot.press(U, label, result, lang=lang)
    await bot.run_for(30)

    assert len(await bot.jobs(U)) == 2 and await bot.store.balance(f"tg:{U}") == 90


async def test_an_album_has_actions_per_picture(bot: Harness, lang: str) -> None:
    bot.simulator.configure(num_results=3)
    await bot.say(U, "three foxes", lang=lang)
    await bot.run_for(30)
    [album] = bot.fake.called("sendMediaGroup")
    assert len(album.params["media"]) == 3
    buttons = bot.fake.last(U)
    assert TEXT[lang]["change_2"] in bot.labels(buttons) and TEXT[lang]["file_3"] in bot.labels(buttons)
    [job] = await bot.jobs(U)

    await bot.press(U, TEXT[lang]["file_3"], buttons, lang=lang)
    await bot.press(U, TEXT[lang]["change_2"], buttons, lang=lang)

    assert len(bot.fake.called("sendDocument")) == 1  # that picture only
    draft = await bot.bots.get_draft(f"tg:{U}")
    assert draft is not None and draft.image_url == job.result_urls[1]
    assert TEXT[lang]["what"] in bot.card(U)["text"]


async def test_a_history_item_comes_back_with_its_actions(bot: Harness, lang: str) -> None:
    await bot.say(U, "a red fox", lang=lang)
    await bot.run_for(30)
    await bot.say(U, "/history", lang=lang)
    await bot.press(U, "1.", bot.card(U), lang=lang)
    again = bot.fake.last(U)
    assert again.get("photo") and again["caption"] == "Z-Image: a red fox"
    await bot.press(U, TEXT[lang]["history_again"], again, lang=lang)
    assert len(await bot.jobs(U)) == 2


async def test_an_edited_prompt_message_updates_the_draft(bot: Harness, lang: str) -> None:
    await bot.feed(up.successful_payment(U, sign_payload(bot.deps.payload_key, 0, U), 50, "ch-1"))
    photo = up.photo(U, bot.fake.add_file(PNG), lang=lang)
    await bot.feed(photo)
    sent = await bot.say(U, "make it bleu", lang=lang)
    card = bot.card(U)

    await bot.feed(up.edited(U, sent["message_id"], "make it blue", lang=lang))

    assert bot.card(U)["message_id"] == card["message_id"] and "make it blue" in bot.card(U)["text"]
    await bot.press(U, TEXT[lang]["generate"], bot.card(U), lang=lang)
    [job] = await bot.jobs(U)
    assert job.inputs["prompt"] == "make it blue"


async def test_an_edited_prompt_of_a_picture_already_made_offers_it_again(bot: Harness, lang: str) -> None:
    sent = await bot.say(U, "a red fax", lang=lang)
    await bot.run_for(30)

    await bot.feed(up.edited(U, sent["message_id"], "a red fox", lang=lang))

    card = bot.card(U)
    assert "a red fox" in card["text"] and any(TEXT[lang]["generate"] in t for t in bot.labels(card))
    assert len(await bot.jobs(U)) == 1  # nothing spent without a tap
    await bot.press(U, TEXT[lang]["generate"], card, lang=lang)
    assert [j.inputs["prompt"] for j in await bot.jobs(U)] == ["a red fox", "a red fax"]
