"""Issue 15, item 4: a running generation can be stopped, from its status card or with /cancel. Its hold comes
back at once, nobody waits for it, and no result is sent for it later: when KIE still finishes it, the
picture is kept in /history, not delivered and not charged. /cancel also leaves a draft being composed, and
says "Nothing to cancel" when there is nothing. Both languages."""

from __future__ import annotations

import pytest

from kiegen.apps.telegram.payments import sign_payload
from kiegen.core.billing import LedgerKind
from kiegen.core.jobs import JobStatus
from tests.telegram import updates as up
from tests.telegram.harness import PNG, Harness

pytestmark = pytest.mark.anyio

U = 801
TEXT = {
    "en": {
        "stop": "Stop",
        "stopped": "✖️ <b>Qwen Image-Edit</b>: stopped.\n5 credits are back on your balance.",
        "two": "Stopped 2 generations. 10 credits are back on your balance.",
        "nothing": "Nothing to cancel.",
        "draft": "Cancelled. Write a new prompt whenever you like.",
        "history": "stopped",
        "generate": "Generate",
    },
    "ru": {
        "stop": "Остановить",
        "stopped": "✖️ <b>Qwen Image-Edit</b>: остановлено.\nВернулось 5 кредитов.",
        "two": "Остановлены 2 генерации. Вернулось 10 кредитов.",
        "nothing": "Нечего отменять.",
        "draft": "Отменено. Напишите новое описание, когда захотите.",
        "history": "остановлено",
        "generate": "Сгенерировать",
    },
}


@pytest.fixture(params=["en", "ru"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _paid_job(bot: Harness, lang: str, caption: str = "make it blue") -> dict[str, object]:
    """A running paid generation (5 credits held); returns its status card."""
    await bot.feed(up.photo(U, bot.fake.add_file(PNG), caption=caption, lang=lang))
    card = bot.card(U)
    await bot.press(U, TEXT[lang]["generate"], card, lang=lang)
    return bot.fake.message(U, card["message_id"])


@pytest.fixture
async def funded(bot: Harness) -> Harness:
    await bot.feed(up.successful_payment(U, sign_payload(bot.deps.payload_key, 0, U), 50, "ch-1"))
    return bot


async def test_the_stop_button_releases_the_hold_and_no_result_comes_even_when_kie_finishes(
    funded: Harness, lang: str
) -> None:
    bot = funded
    card = await _paid_job(bot, lang)
    assert await bot.store.balance(f"tg:{U}") == 95

    await bot.press(U, TEXT[lang]["stop"], card, lang=lang)

    assert bot.fake.message(U, card["message_id"])["text"] == TEXT[lang]["stopped"]
    assert await bot.store.balance(f"tg:{U}") == 100
    photos_before = len(bot.fake.called("sendPhoto"))
    await bot.run_for(30)  # KIE finishes the task anyway
    [job] = await bot.jobs(U)
    assert job.status is JobStatus.CANCELLED and job.result_urls  # kept
    assert len(bot.fake.called("sendPhoto")) == photos_before  # not delivered
    assert await bot.store.deliveries_for(job.id) == []
    assert await bot.store.balance(f"tg:{U}") == 100  # not charged
    kinds = [e.kind for e in await bot.store.ledger(f"tg:{U}") if e.job_id == job.id]
    assert kinds == [LedgerKind.HOLD, LedgerKind.RELEASE]
    await bot.say(U, "/history", lang=lang)
    assert TEXT[lang]["history"] in bot.card(U)["text"]


async def test_cancel_stops_every_running_generation_of_the_chat_and_says_what_came_back(
    funded: Harness, lang: str
) -> None:
    bot = funded
    await _paid_job(bot, lang, "make it blue")
    await _paid_job(bot, lang, "make it green")
    assert await bot.store.balance(f"tg:{U}") == 90

    await bot.say(U, "/cancel", lang=lang)

    assert bot.last_text(U) == TEXT[lang]["two"]
    assert {j.status for j in await bot.jobs(U)} == {JobStatus.CANCELLED}
    assert await bot.store.balance(f"tg:{U}") == 100
    await bot.say(U, "/cancel", lang=lang)
    assert bot.last_text(U) == TEXT[lang]["nothing"]


async def test_cancel_while_composing_leaves_the_draft_and_not_the_running_job(funded: Harness, lang: str) -> None:
    bot = funded
    await _paid_job(bot, lang)
    await bot.feed(up.photo(U, bot.fake.add_file(PNG), caption="a second one", lang=lang))  # a new card, unconfirmed
    card = bot.card(U)

    await bot.say(U, "/cancel", lang=lang)

    assert bot.fake.message(U, card["message_id"])["text"] == TEXT[lang]["draft"]
    [job] = await bot.jobs(U)
    assert job.status is not JobStatus.CANCELLED
    draft = await bot.bots.get_draft(f"tg:{U}")
    assert draft is not None and draft.prompt is None and draft.model == "qwen/image-edit"  # the model stays
    await bot.press(U, TEXT[lang]["generate"], card, lang=lang)  # the old card's Generate is out of date
    assert len(await bot.jobs(U)) == 1


async def test_cancel_when_idle_says_nothing_to_cancel(bot: Harness, lang: str) -> None:
    await bot.say(U, "/cancel", lang=lang)
    assert bot.last_text(U) == TEXT[lang]["nothing"]


async def test_stop_on_a_finished_generation_changes_nothing(bot: Harness, lang: str) -> None:
    await bot.say(U, "a red fox", lang=lang)
    status = bot.fake.sent_to(U)[0]
    await bot.run_for(30)
    await bot.tap_data(U, bot.buttons(status)[0][1], status, lang=lang)
    [job] = await bot.jobs(U)
    assert job.status is JobStatus.SUCCEEDED
    assert bot.fake.callback_answers[-1]["text"] in ("It has finished already.", "Генерация уже закончилась.")


async def test_a_free_generation_stopped_says_nothing_was_charged(bot: Harness, lang: str) -> None:
    await bot.say(U, "a red fox", lang=lang)
    status = bot.fake.sent_to(U)[0]
    await bot.press(U, TEXT[lang]["stop"], status, lang=lang)
    text = bot.fake.message(U, status["message_id"])["text"]
    assert text.endswith("Nothing was charged." if lang == "en" else "Ничего не списано.")
    await bot.run_for(30)
    assert not [m for m in bot.fake.sent_to(U) if m.get("photo")]
