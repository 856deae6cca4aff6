"""Journeys J1-J10 of TELEGRAM.md, as revised in 2026-12, through the real Dispatcher in process (asyncio only:
aiogram). The issue-15 items each have their own module (``test_prompt_first``, ``test_cancel_running`` ...)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from kiegen.apps.telegram.app import build_dispatcher
from kiegen.apps.telegram.payments import sign_payload
from kiegen.core.jobs import JobStatus
from tests.telegram import updates as up
from tests.telegram.harness import PNG, TOKEN, Harness

pytestmark = pytest.mark.anyio

U = 501


async def _topup(bot: Harness, uid: int, stars: int = 50, charge: str = "ch-1", pack: int = 0) -> dict[str, Any]:
    payload = sign_payload(bot.deps.payload_key, pack, uid)
    update = up.successful_payment(uid, payload, stars, charge)
    await bot.feed(update)
    return update


async def _edit_card(bot: Harness, uid: int = U, caption: str | None = "make it blue") -> None:
    await bot.feed(up.photo(uid, bot.fake.add_file(PNG), caption=caption))


# J1
async def test_j1_start_creates_the_user_once_and_shows_quota_balance_and_menu(bot: Harness) -> None:
    await bot.say(U, "/start")
    await bot.say(U, "/start")
    user = await bot.bots.get_user(f"tg:{U}")
    assert user is not None and user.locale == "en"
    card = bot.card(U)
    assert "Free generations today: 10 of 10 left." in card["text"] and "Balance: 0 credits." in card["text"]
    labels = " ".join(bot.labels(card))
    for label in ("Create", "Change a photo", "Balance", "History", "Language"):
        assert label in labels
    commands = bot.fake.called("setMyCommands")
    assert len(commands) == 1  # the chat's menu, set when the user was created
    assert commands[0].params["scope"] == {"type": "chat", "chat_id": U}


# J2
async def test_j2_model_picker_shows_prices_and_free_quota_on_buttons(bot: Harness) -> None:
    await bot.say(U, "/start")
    await bot.press(U, "Create")
    await bot.press(U, "A picture from text")
    assert "Z-Image — free, 10 left" in bot.labels(bot.card(U))
    await bot.press(U, "Kinds")
    await bot.press(U, "Change a photo")
    assert "Qwen Image-Edit 📎 — 5 cr." in bot.labels(bot.card(U))
    assert len(bot.fake.sent_to(U)) == 1  # the card was edited in place


# J3
async def test_j3_settings_are_buttons_with_short_codes_and_the_choice_marked(bot: Harness) -> None:
    await bot.say(U, "/start")
    await bot.press(U, "Create")
    await bot.pick(U, "Z-Image")
    card = bot.card(U)
    assert "Frame: Square 1:1" in card["text"]
    await bot.press(U, "Frame")
    values = bot.card(U)
    assert "• Square 1:1" in bot.labels(values)
    for _, data in bot.buttons(values):
        assert len(data.encode()) <= 64 and "16:9" not in data
    await bot.press(U, "Landscape 16:9")
    assert "Frame: Landscape 16:9" in bot.card(U)["text"]
    draft = await bot.bots.get_draft(f"tg:{U}")
    assert draft is not None and draft.options == {"aspect_ratio": "16:9"}


# J4
async def test_j4_photo_is_downloaded_and_uploaded_as_bytes_never_as_a_telegram_url(bot: Harness) -> None:
    await bot.feed(up.document(U, bot.fake.add_file(b"%PDF-1.4", kind="document"), mime="application/pdf"))
    assert "not an image" in bot.last_text(U)
    await _edit_card(bot)
    uploads = list(bot.simulator.uploads.values())
    assert uploads == [(PNG, "image/png")]
    draft = await bot.bots.get_draft(f"tg:{U}")
    assert draft is not None and draft.image_url is not None and TOKEN not in draft.image_url
    assert "Photo: attached" in bot.card(U)["text"]


async def test_j4_an_image_document_is_accepted_and_a_too_big_one_refused(bot: Harness) -> None:
    big = bot.fake.add_file(PNG, kind="document")
    await bot.feed(up.document(U, big, mime="image/png", size=20 * 1024 * 1024))
    assert "larger than 10 MB" in bot.last_text(U)
    await bot.feed(up.document(U, bot.fake.add_file(PNG, kind="document"), mime="image/png", name="a.png"))
    assert "Photo: attached" in bot.card(U)["text"]


# J5
async def test_j5_confirm_shows_price_and_balance_after(bot: Harness) -> None:
    await _topup(bot, U)
    await _edit_card(bot)
    card = bot.card(U)
    assert "Price: 5 credits · balance 100 → 95" in card["text"]
    assert "✅ Generate · 5 cr." in bot.labels(card)


async def test_j5_short_balance_offers_top_up_and_the_draft_resumes_after_payment(bot: Harness) -> None:
    await _edit_card(bot)
    card = bot.card(U)
    assert "You need 5 more credits" in card["text"]
    labels = bot.labels(card)
    assert "💳 Top up" in labels and not any("Generate" in t for t in labels)
    draft_before = await bot.bots.get_draft(f"tg:{U}")
    await _topup(bot, U)
    draft_after = await bot.bots.get_draft(f"tg:{U}")
    assert draft_before is not None and draft_after is not None and draft_after.id == draft_before.id
    resumed = bot.card(U)
    assert "balance 100 → 95" in resumed["text"]
    await bot.press(U, "Generate", resumed)
    await bot.run_for(30)
    assert bot.fake.called("sendPhoto")


async def test_j5_double_tap_on_generate_makes_one_job(bot: Harness) -> None:
    await _topup(bot, U)
    await _edit_card(bot)
    card = bot.card(U)
    await bot.press(U, "Generate", card)
    await bot.press(U, "Generate", card)
    assert len(await bot.jobs(U)) == 1


async def test_j5_double_tap_concurrently_makes_one_job(bot: Harness) -> None:
    await _topup(bot, U)
    await _edit_card(bot)
    card = bot.card(U)
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(bot.press, U, "Generate", card)
    assert len(await bot.jobs(U)) == 1
    assert bot.simulator.calls["create_task"] == 1


# J6
async def test_j6_the_card_moves_queued_drawing_with_upload_photo_action_and_a_stop_button(bot: Harness) -> None:
    await bot.say(U, "a red fox")
    card = bot.fake.sent_to(U)[0]
    assert card["text"].startswith("⏳ <b>Z-Image</b>: queued") and bot.labels(card) == ["✖️ Stop"]
    await bot.run_for(3)
    history = bot.fake.message(U, card["message_id"])["history"]
    assert any("drawing… " in h and h.endswith(" s") for h in history)
    assert bot.labels(bot.fake.message(U, card["message_id"])) == ["✖️ Stop"]  # progress keeps the button
    assert bot.fake.called("sendChatAction")[0].params["action"] == "upload_photo"


# J7
async def test_j7_result_is_a_photo_with_escaped_caption_and_four_buttons(bot: Harness) -> None:
    await bot.say(U, "<b>fox</b> & " + "x" * 987)
    await bot.run_for(30)
    photo = bot.fake.called("sendPhoto")[0].params
    caption = photo["caption"]
    assert caption.startswith("Z-Image: &lt;b&gt;fox&lt;/b&gt; &amp;")
    assert len(caption.encode("utf-16-le")) // 2 <= 1024 and caption.endswith("…")
    labels = bot.labels(bot.fake.last(U))
    assert labels == ["🔁 Again", "✏️ Change this picture", "📄 As a file", "🏠 Menu"]


async def test_j7_result_buttons_original_change_and_menu(bot: Harness) -> None:
    await bot.say(U, "a red fox")
    await bot.run_for(30)
    result = bot.fake.last(U)
    await bot.press(U, "As a file", result)
    document = bot.fake.called("sendDocument")[-1]
    assert list(document.files.values()) == [PNG]
    await bot.press(U, "Change this picture", result)
    draft = await bot.bots.get_draft(f"tg:{U}")
    [job] = await bot.jobs(U)
    assert draft is not None and draft.model == "qwen/image-edit" and draft.image_url == job.result_urls[0]
    assert "What should I change in the photo?" in bot.card(U)["text"]
    await bot.press(U, "Menu", result)
    assert "Free generations today" in bot.card(U)["text"]


# J8
async def test_j8_failure_says_reference_and_credits_back_on_the_status_card(bot: Harness) -> None:
    await _topup(bot, U)
    bot.simulator.configure(fail_rate=1.0)
    await _edit_card(bot)
    card = bot.card(U)
    await bot.press(U, "Generate", card)
    await bot.run_for(30)
    [job] = await bot.jobs(U)
    assert job.status is JobStatus.FAILED
    notice = bot.fake.message(U, card["message_id"])  # the card became the notice: no new message
    assert job.id[:8].upper() in notice["text"] and "5 credits are back on your balance." in notice["text"]
    assert "simulated" not in notice["text"]  # no raw provider text
    assert await bot.store.balance(f"tg:{U}") == 100
    assert bot.labels(notice) == ["🔁 Try again", "✏️ Change the prompt", "🏠 Menu"]
    assert len([m for m in bot.fake.sent_to(U) if "Reference" in m.get("text", "")]) == 1


# J9
async def test_j9_balance_shows_packs_and_the_invoice_is_in_stars(bot: Harness) -> None:
    await bot.say(U, "/balance")
    card = bot.card(U)
    assert "Balance: <b>0</b> credits" in card["text"]
    await bot.press(U, "100 credits", card)
    invoice = bot.fake.called("sendInvoice")[0].params
    assert invoice["currency"] == "XTR" and len(invoice["prices"]) == 1 and invoice["prices"][0]["amount"] == 50
    assert invoice["title"] == "100 credits" and invoice.get("provider_token", "") == ""
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
    assert "✅ 100 credits added. Balance: 100 credits." in bot.texts(U)


async def test_j9_paysupport_and_terms_answer(bot: Harness) -> None:
    await bot.say(U, "/paysupport")
    assert "Payment support" in bot.last_text(U)
    await bot.say(U, "/terms")
    assert "Terms" in bot.last_text(U)
    await bot.say(U, "/help")
    assert "How it works" in bot.last_text(U) and "Z-Image" in bot.last_text(U)


# J10
async def test_j10_history_pages_and_resends_the_stored_file_id_with_its_buttons(bot: Harness) -> None:
    for n in range(6):
        await bot.say(U, f"fox number {n}")
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
    again = bot.fake.last(U)
    assert again["caption"] == "Z-Image: fox number 0"
    assert bot.labels(again) == ["🔁 Again", "✏️ Change this picture", "📄 As a file", "🏠 Menu"]


# /language
async def test_language_switch_changes_texts_and_the_chat_menu(bot: Harness) -> None:
    await bot.say(U, "/language")
    await bot.press(U, "Русский", bot.fake.last(U))
    assert "Бесплатных генераций сегодня" in bot.card(U)["text"]
    user = await bot.bots.get_user(f"tg:{U}")
    assert user is not None and user.locale == "ru"
    assert bot.fake.called("setMyCommands")[-1].params["commands"][0]["description"] == "Меню и модели"
    await bot.say(U, "/start")
    assert "Бесплатных генераций сегодня" in bot.card(U)["text"]


# limits
async def test_concurrent_jobs_per_user_are_limited(bot: Harness) -> None:
    for n in range(3):
        await bot.say(U, f"fox {n}")
    assert len(await bot.jobs(U)) == 2
    assert "You already have 2 generations running" in bot.texts(U)[-2]
    assert "Generate" in " ".join(bot.labels(bot.card(U)))  # the third prompt waits on its card


async def test_a_restart_keeps_the_draft_and_the_next_prompt_continues_it() -> None:
    async with Harness(free_quota=10, prices={"z-image": 2}) as first:
        await first.say(U, "/start")
        await first.press(U, "Create")
        await first.pick(U, "Z-Image")
        await first.press(U, "Frame")
        await first.press(U, "Portrait 9:16")
        # nothing lives in aiogram's FSM: a new dispatcher (a restarted process) goes on from the stored draft
        first.dp = build_dispatcher(first.deps)
        await first.say(U, "a fox after a restart")
        card = first.card(U)
        assert "Frame: Portrait 9:16" in card["text"] and "a fox after a restart" in card["text"]
        assert "You need 2 more credits" in card["text"]
