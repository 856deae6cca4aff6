"""/balance and Telegram Stars: packs, invoices, pre-checkout, successful payments (credited once)."""

from __future__ import annotations

import logging
from datetime import datetime

import attrs
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command
from aiogram.types import CallbackQuery, LabeledPrice, Message, PreCheckoutQuery, SuccessfulPayment

from kiegen.apps.telegram import account_screens
from kiegen.apps.telegram.callbacks import Menu, Pack
from kiegen.apps.telegram.cards import show
from kiegen.apps.telegram.config import Pack as ConfigPack
from kiegen.apps.telegram.deps import Deps, user_key
from kiegen.apps.telegram.filters import is_private
from kiegen.apps.telegram.flow import show_draft
from kiegen.apps.telegram.i18n import Translator
from kiegen.apps.telegram.payments import Order, read_payload, sign_payload
from kiegen.core.billing import topup
from kiegen.ports.bot import Payment

log = logging.getLogger("kiegen.apps.telegram.payments")

STARS = "XTR"


async def send_balance(message: Message, bot: Bot, deps: Deps, tr: Translator) -> None:
    assert message.from_user is not None
    owner = message.from_user.id
    if is_private(message):
        await show(bot, message.chat.id, None, await account_screens.balance(deps, tr, owner))
        return
    note = await _privately(bot, deps, tr, owner)
    await message.reply(note, parse_mode=None)


async def _privately(bot: Bot, deps: Deps, tr: Translator, owner: int) -> str:
    """A balance asked for in a group goes to the person's private chat; what to say in the group."""
    screen = await account_screens.balance(deps, tr, owner)
    try:
        await bot.send_message(owner, screen.text, reply_markup=screen.markup)
    except (TelegramForbiddenError, TelegramBadRequest):  # they never opened a chat with the bot
        me = await bot.me()
        return tr.plain("balance_private_needed", link=f"https://t.me/{me.username}?start=balance")
    return tr.plain("balance_sent_privately")


async def balance_command(message: Message, bot: Bot, deps: Deps, tr: Translator) -> None:
    await send_balance(message, bot, deps, tr)


async def balance_button(query: CallbackQuery, bot: Bot, deps: Deps, tr: Translator) -> None:
    if query.message is None:
        await query.answer()
        return
    owner = query.from_user.id
    if query.message.chat.type != "private":
        await query.answer(await _privately(bot, deps, tr, owner), show_alert=True)
        return
    await query.answer()
    screen = await account_screens.balance(deps, tr, owner)
    await show(bot, query.message.chat.id, query.message.message_id, screen)


async def invoice(query: CallbackQuery, callback_data: Pack, bot: Bot, deps: Deps, tr: Translator) -> None:
    packs = deps.config.packs
    if not 0 <= callback_data.i < len(packs) or query.message is None:
        await query.answer(tr.plain("stale_card"))
        return
    pack = packs[callback_data.i]
    await query.answer()
    await bot.send_invoice(
        chat_id=query.message.chat.id,
        title=tr.plain("invoice_title", n=pack.credits),
        description=tr.plain("invoice_description", n=pack.credits),
        payload=sign_payload(deps.payload_key, callback_data.i, query.from_user.id),
        currency=STARS,
        prices=[LabeledPrice(label=tr.plain("invoice_label", n=pack.credits), amount=pack.stars)],
        provider_token="",
    )


def order_matches(deps: Deps, order: Order | None, *, currency: str, amount: int, payer: int) -> ConfigPack | None:
    """The pack a signed order is for, if what Telegram reports (currency, amount, payer) is exactly that pack's:
    a valid payload alone proves only which pack was offered, not what was paid."""
    packs = deps.config.packs
    if order is None or not 0 <= order.pack < len(packs):
        return None
    pack = packs[order.pack]
    if currency != STARS or amount != pack.stars or order.telegram_user_id != payer:
        return None
    return pack


async def pre_checkout(query: PreCheckoutQuery, deps: Deps, tr: Translator) -> None:
    """Telegram waits at most 10 s: only checks that need no I/O (signature, pack, amount, currency, payer)."""
    order = read_payload(deps.payload_key, query.invoice_payload)
    pack = order_matches(deps, order, currency=query.currency, amount=query.total_amount, payer=query.from_user.id)
    if pack is not None:
        await query.answer(ok=True)
    else:
        await query.answer(ok=False, error_message=tr.plain("precheckout_invalid"))


async def paid(message: Message, bot: Bot, deps: Deps, tr: Translator) -> None:
    payment = message.successful_payment
    assert payment is not None and message.from_user is not None
    user_id = user_key(message.from_user.id)
    order = read_payload(deps.payload_key, payment.invoice_payload)
    pack = order_matches(
        deps, order, currency=payment.currency, amount=payment.total_amount, payer=message.from_user.id
    )
    now = deps.now()
    if pack is None:
        # Telegram took the Stars but they are not what the order asked for (or the payload is not ours): credit
        # nothing, keep the record (0 credits) for support, and tell the payer where to go.
        log.error(
            "payment %s does not match its order (%s %s); not credited",
            payment.telegram_payment_charge_id,
            payment.total_amount,
            payment.currency,
        )
        await deps.bots.record_payment(_payment(payment, user_id, credits=0, ledger_key="", at=now))
        await message.answer(tr("paysupport"))
        return
    key = f"stars:{payment.telegram_payment_charge_id}"
    first = await deps.client.store.add_entry(topup(user_id, pack.credits, key=key, at=now, note="telegram stars"))
    await deps.bots.record_payment(_payment(payment, user_id, credits=pack.credits, ledger_key=key, at=now))
    if not first:
        log.info("payment %s was already credited", payment.telegram_payment_charge_id)
        return
    balance = await deps.client.store.balance(user_id)
    await message.answer(tr("paid", n=pack.credits, balance=tr.plain("balance_line", n=balance)))
    await _resume_draft(message, bot, deps, tr, user_id)


def _payment(payment: SuccessfulPayment, user_id: str, *, credits: int, ledger_key: str, at: datetime) -> Payment:
    return Payment(
        telegram_payment_charge_id=payment.telegram_payment_charge_id,
        provider_payment_charge_id=payment.provider_payment_charge_id or None,
        user_id=user_id,
        currency=payment.currency,
        total_amount=payment.total_amount,
        credits=credits,
        payload=payment.invoice_payload,
        ledger_key=ledger_key,
        created_at=at,
    )


async def _resume_draft(message: Message, bot: Bot, deps: Deps, tr: Translator, user_id: str) -> None:
    """A draft that lacked credits comes back as a fresh card, ready to generate."""
    draft = await deps.bots.get_draft(user_id)
    if draft is None or draft.job_id is not None or not draft.prompt or draft.model not in deps.client.registry:
        return
    spec = deps.client.registry.get(draft.model)
    if spec.needs_image and not draft.image_url:
        return
    draft = attrs.evolve(draft, chat_id=message.chat.id, card_message_id=None)
    await show_draft(bot, deps, tr, draft, spec)


def make_router() -> Router:
    """A fresh router (aiogram attaches a router to one dispatcher only)."""
    router = Router(name="balance")
    router.message(Command("balance"))(balance_command)
    router.callback_query(Menu.filter(F.a == "balance"))(balance_button)
    router.callback_query(Pack.filter())(invoice)
    router.pre_checkout_query()(pre_checkout)
    router.message(F.successful_payment)(paid)
    return router
