"""Journeys J1-J10 of TELEGRAM.md through the real Dispatcher, in process (asyncio only: aiogram)."""

from __future__ import annotations

from typing import Any

import pytest

from kiegen.apps.telegram.payments import sign_payload
from kiegen.core.jobs import JobStatus
from tests.telegram import updates as up
from tests.telegram.harness import PNG, TOKEN, Harness

pytestmark = pytest.mark.anyio

U = 501


async def _to_confirm(bot: Harness, uid: int = U, *, model: str = "Z-Image", prompt: str = "a red fox") -> None:
    await bot.say(uid, "/start")
    await bot.press(uid, "Create")
    await bot.press(uid, model)
    await bot.say(uid, prompt)


async def _edit_to_confirm(bot: Harness, uid: int = U) -> None:
    await bot.say(uid, "/start")
    await bot.press(uid, "Edit a photo")
    await bot.press(uid, "Qwen Image-Edit")
    await bot.say(uid, "make it blue")
    await bot.feed(up.photo(uid, bot.fake.add_file(PNG)))


async def _topup(bot: Harness, uid: int, stars: int = 50, charge: str = "ch-1") -> dict[str, Any]:
    payload = sign_payload(bot.deps.payload_key, 0, uid)
    update = up.successful_payment(uid, payload, stars, charge)
    await bot.feed(update)
    return update


# J1
async def test_j1_start_creates_the_user_once_and_shows_quota_balance_and_menu(bot: Harness) -> None:
    await bot.say(U, "/start")
    await bot.say(U, "/start")
    user = await bot.bots.get_user(f"tg:{U}")
    assert user is not None and user.locale == "en"
    card = bot.card(U)
    assert "Free generations today: 10" in card["text"] and "Balance: 0" in card["text"]
    labels = " ".join(t for t, _ in bot.buttons(card))
    for label in ("Create", "Edit a photo", "Balance", "History", "Language"):
        assert label in labels
    commands = bot.fake.called("setMyCommands")
    assert len(commands) == 1  # the chat's menu, set when the user was created
    assert commands[0].params["scope"]["chat_id"] == U


async def test_j1_russian_users_get_russian_texts(bot: Harness) -> None:
    await bot.say(777, "/start", lang="ru")
    assert "Бесплатных генераций сегодня" in bot.card(777)["text"]


# J2
async def test_j2_model_picker_shows_prices_and_free_quota_on_buttons(bot: Harness) -> None:
    await bot.say(U, "/start")
    await bot.press(U, "Create")
    labels = [t for t, _ in bot.buttons(bot.card(U))]
    assert "Z-Image — free (10 left)" in labels
    assert "Qwen Image-Edit 📎 — 5 cr" in labels
    assert len(bot.fake.sent_to(U)) == 1  # the card was edited in place


# J3
async def test_j3_settings_are_buttons_with_short_codes_and_the_choice_marked(bot: Harness) -> None:
    await bot.say(U, "/start")
    await bot.press(U, "Create")
    await bot.press(U, "Z-Image")
    card = bot.card(U)
    assert ("• 1:1", "o:0:0") in bot.buttons(card)
    for _, data in bot.buttons(card):
        assert len(data.encode()) <= 64 and "16:9" not in data
    await bot.press(U, "16:9")
    assert "• 16:9" in [t for t, _ in bot.buttons(bot.card(U))]
    assert "Aspect ratio: 16:9" in bot.card(U)["text"]


# J4
async def test_j4_photo_is_downloaded_and_uploaded_as_bytes_never_as_a_telegram_url(bot: Harness) -> None:
    await bot.say(U, "/start")
    await bot.press(U, "Edit a photo")
    await bot.press(U, "Qwen Image-Edit")
    await bot.say(U, "make it blue")
    assert "send the photo" in bot.card(U)["text"].lower()
    await bot.say(U, "here it is")  # text instead of a photo: a hint, the step kept
    assert "I need a photo" in bot.last_text(U)
    await bot.feed(up.document(U, bot.fake.add_file(b"%PDF-1.4", kind="document"), mime="application/pdf"))
    assert "not an image" in bot.last_text(U)
    await bot.feed(up.photo(U, bot.fake.add_file(PNG)))
    uploads = list(bot.simulator.uploads.values())
    assert uploads == [(PNG, "image/png")]
    draft = await bot.bots.get_draft(f"tg:{U}")
    assert draft is not None and draft.image_url is not None and TOKEN not in draft.image_url
    assert "Photo: attached" in bot.card(U)["text"]


async def test_j4_an_image_document_is_accepted_and_a_too_big_one_refused(bot: Harness) -> None:
    await bot.say(U, "/start")
    await bot.press(U, "Edit a photo")
    await bot.press(U, "Qwen Image-Edit")
    await bot.say(U, "make it blue")
    big = bot.fake.add_file(PNG, kind="document")
    await bot.feed(up.document(U, big, mime="image/png", size=20 * 1024 * 1024))
    assert "larger than 10 MB" in bot.last_text(U)
    await bot.feed(up.document(U, bot.fake.add_file(PNG, kind="document"), mime="image/png", name="a.png"))
    assert "Photo: attached" in bot.card(U)["text"]


# J5
async def test_j5_confirm_shows_price_and_balance_after(bot: Harness) -> None:
    await _topup(bot, U)
    await _edit_to_confirm(bot)
    text = bot.card(U)["text"]
    assert "Price: 5 credits" in text and "Balance after: 95" in text
    assert any("Generate" in t for t, _ in bot.buttons(bot.card(U)))


async def test_j5_short_balance_offers_top_up_and_the_draft_resumes_after_payment(bot: Harness) -> None:
    await _edit_to_confirm(bot)
    card = bot.card(U)
    assert "You need 5 more credits" in card["text"]
    labels = [t for t, _ in bot.buttons(card)]
    assert any("Top up" in t for t in labels) and not any("Generate" in t for t in labels)
    draft_before = await bot.bots.get_draft(f"tg:{U}")
    await _topup(bot, U)
    draft_after = await bot.bots.get_draft(f"tg:{U}")
    assert draft_before is not None and draft_after is not None and draft_after.id == draft_before.id
    resumed = bot.card(U)
    assert "Balance after: 95" in resumed["text"]
    await bot.press(U, "Generate", resumed)
    await bot.run_for(30)
    assert bot.fake.called("sendPhoto")


async def test_j5_double_tap_on_generate_makes_one_job(bot: Harness) -> None:
    await _to_confirm(bot)
    card = bot.card(U)
    await bot.press(U, "Generate", card)
    await bot.press(U, "Generate", card)
    jobs = await bot.client.jobs(user_id=f"tg:{U}")
    assert len(jobs) == 1


async def test_j5_double_tap_concurrently_makes_one_job(bot: Harness) -> None:
    import anyio

    await _to_confirm(bot)
    card = bot.card(U)
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(bot.press, U, "Generate", card)
    assert len(await bot.client.jobs(user_id=f"tg:{U}")) == 1
    assert bot.simulator.calls["create_task"] == 1


# J6
async def test_j6_the_card_moves_queued_generating_done_with_upload_photo_action(bot: Harness) -> None:
    await _to_confirm(bot)
    card = bot.card(U)
    await bot.press(U, "Generate", card)
    await bot.run_for(30)
    history = bot.fake.message(U, card["message_id"])["history"]
    queued = [h for h in history if "queued" in h]
    generating = [h for h in history if "generating" in h]
    assert queued and generating and history[-1].endswith("done.")
    assert any(" s" in h for h in generating)
    assert bot.fake.called("sendChatAction")[0].params["action"] == "upload_photo"
    assert len(bot.fake.sent_to(U)) == 2  # the card, and the result: progress never sends new messages


# J7
async def test_j7_result_is_a_photo_with_escaped_caption_and_four_buttons(bot: Harness) -> None:
    await _to_confirm(bot, prompt="<b>fox</b> & " + "x" * 987)
    await bot.press(U, "Generate")
    await bot.run_for(30)
    photo = bot.fake.called("sendPhoto")[0].params
    caption = photo["caption"]
    assert caption.startswith("Z-Image: &lt;b&gt;fox&lt;/b&gt; &amp;")
    assert len(caption.encode("utf-16-le")) // 2 <= 1024 and caption.endswith("…")
    labels = [t for t, _ in bot.buttons(bot.fake.last(U))]
    assert len(labels) == 4 and "🔁 Again" in labels and "📄 Original file" in labels


async def test_j7_result_buttons_again_edit_original_menu(bot: Harness) -> None:
    await _to_confirm(bot)
    await bot.press(U, "Generate")
    await bot.run_for(30)
    result = bot.fake.last(U)
    await bot.press(U, "Original file", result)
    document = bot.fake.called("sendDocument")[-1]
    assert list(document.files.values()) == [PNG]
    await bot.press(U, "Again", result)
    assert "Balance after" in bot.card(U)["text"]
    await bot.press(U, "Edit this", result)
    draft = await bot.bots.get_draft(f"tg:{U}")
    assert draft is not None and draft.model == "qwen/image-edit" and draft.image_url is not None
    await bot.press(U, "Menu", result)
    assert "Free generations today" in bot.card(U)["text"]


async def test_j7_several_results_come_as_an_album_plus_a_buttons_message(bot: Harness) -> None:
    bot.simulator.configure(num_results=3)
    await _to_confirm(bot)
    await bot.press(U, "Generate")
    await bot.run_for(30)
    albums = bot.fake.called("sendMediaGroup")
    assert len(albums) == 1 and len(albums[0].params["media"]) == 3
    assert "3 pictures" in bot.fake.last(U)["text"] and bot.buttons(bot.fake.last(U))


# J8
async def test_j8_failure_says_reference_and_credits_back(bot: Harness) -> None:
    await _topup(bot, U)
    bot.simulator.configure(fail_rate=1.0)
    await _edit_to_confirm(bot)
    await bot.press(U, "Generate")
    await bot.run_for(30)
    job = (await bot.client.jobs(user_id=f"tg:{U}"))[0]
    assert job.status is JobStatus.FAILED
    notice = bot.fake.last(U)["text"]
    assert job.id[:8].upper() in notice and "5 credits are back" in notice
    assert "simulated" not in notice  # no raw provider text
    assert await bot.store.balance(f"tg:{U}") == 100
    labels = [t for t, _ in bot.buttons(bot.fake.last(U))]
    assert any("Try again" in t for t in labels) and any("Change prompt" in t for t in labels)


# J9
async def test_j9_balance_shows_packs_and_the_invoice_is_in_stars(bot: Harness) -> None:
    await bot.say(U, "/balance")
    card = bot.card(U)
    assert "Balance: <b>0</b>" in card["text"]
    await bot.press(U, "100 credits", card)
    invoice = bot.fake.called("sendInvoice")[0].params
    assert invoice["currency"] == "XTR" and len(invoice["prices"]) == 1 and invoice["prices"][0]["amount"] == 50
    assert invoice.get("provider_token", "") == ""
    payload = invoice["payload"]
    await bot.feed(up.pre_checkout(U, payload, 50))
    assert bot.fake.pre_checkout_answers[-1]["ok"] in (True, "true")
    await bot.feed(up.pre_checkout(U, payload + "x", 50))
    assert bot.fake.pre_checkout_answers[-1]["ok"] in (False, "false")
    await bot.feed(up.pre_checkout(U, payload, 1))
    assert bot.fake.pre_checkout_answers[-1]["ok"] in (False, "false")


async def test_j9_a_payment_is_credited_once_per_charge_id(bot: Harness) -> None:
    update = await _topup(bot, U)
    await bot.feed(update)  # Telegram sends it again
    await _topup(bot, U, charge="ch-1")
    assert await bot.store.balance(f"tg:{U}") == 100
    assert len(await bot.bots.payments(f"tg:{U}")) == 1
    assert sum("credits added" in m.get("text", "") for m in bot.fake.sent_to(U)) == 1


async def test_j9_paysupport_and_terms_answer(bot: Harness) -> None:
    await bot.say(U, "/paysupport")
    assert "Payment support" in bot.last_text(U)
    await bot.say(U, "/terms")
    assert "Terms" in bot.last_text(U)
    await bot.say(U, "/help")
    assert "How it works" in bot.last_text(U)


# J10
async def test_j10_history_pages_and_resends_the_stored_file_id(bot: Harness) -> None:
    for n in range(6):
        await _to_confirm(bot, prompt=f"fox number {n}")
        await bot.press(U, "Generate")
        await bot.run_for(30)
    photos_before = len(bot.fake.called("sendPhoto"))
    await bot.say(U, "/history")
    page = bot.card(U)
    assert "page 1" in page["text"] and "fox number 5" in page["text"]
    await bot.press(U, "▶️", page)
    assert "page 2" in bot.card(U)["text"] and "fox number 0" in bot.card(U)["text"]
    await bot.press(U, "1.", bot.card(U))
    resend = bot.fake.called("sendPhoto")[photos_before:]
    assert len(resend) == 1 and resend[0].params["photo"] in bot.fake.files  # a file_id, not a URL or an upload
    assert not resend[0].files


# /language
async def test_language_switch_changes_texts_and_the_chat_menu(bot: Harness) -> None:
    await bot.say(U, "/language")
    await bot.press(U, "Русский", bot.fake.last(U))
    assert "Бесплатных генераций" in bot.card(U)["text"]
    user = await bot.bots.get_user(f"tg:{U}")
    assert user is not None and user.locale == "ru"
    assert bot.fake.called("setMyCommands")[-1].params["commands"][0]["description"] == "Главное меню"
    await bot.say(U, "/start")
    assert "Бесплатных генераций" in bot.card(U)["text"]


# limits
async def test_daily_free_quota_is_enforced(bot: Harness) -> None:
    for n in range(10):
        await _to_confirm(bot, prompt=f"fox {n}")
        await bot.press(U, "Generate")
        await bot.run_for(20)
    await _to_confirm(bot, prompt="one more")
    await bot.press(U, "Generate")
    assert "free generations are used up" in bot.fake.callback_answers[-1]["text"]
    assert len(await bot.client.jobs(user_id=f"tg:{U}")) == 10


async def test_concurrent_jobs_per_user_are_limited(bot: Harness) -> None:
    for n in range(3):
        await _to_confirm(bot, prompt=f"fox {n}")
        await bot.press(U, "Generate")
    assert len(await bot.client.jobs(user_id=f"tg:{U}")) == 2
    assert "already have 2 generations running" in bot.fake.callback_answers[-1]["text"]


async def test_a_restart_keeps_the_draft_and_the_next_prompt_continues_it() -> None:
    async with Harness(free_quota=10) as first:
        await first.say(U, "/start")
        await first.press(U, "Create")
        await first.press(U, "Z-Image")
        await first.press(U, "9:16")
        # the FSM (navigation) is lost with the process; the draft lives in the BotStore
        await first.dp.storage.close()
        first.dp.fsm.storage = type(first.dp.fsm.storage)()
        await first.say(U, "a fox after a restart")
        assert "Aspect ratio: 9:16" in first.card(U)["text"] and "Balance after" in first.card(U)["text"]
