"""Operator commands, for the Telegram ids in ``KIEGEN_TELEGRAM_ADMINS`` in their private chat with the bot:
/stats, /user ID, /grant ID N REASON, /take ID N REASON, /refund CHARGE_ID. Anyone else, and an operator in a
group, gets no answer at all (the commands are swallowed here, before the fallback's hint and the prompt
router, so nothing shows that they exist). Every change is written to the console's audit log with the
operator as ``telegram:<id>``.

Grants and takes are ledger entries keyed by the command's message (``grant:<chat>:<message>``): an update
Telegram delivers again changes nothing. /take never makes a balance negative: more than the balance is refused
with the balance (the operator decides what to take instead). Refunds: ``kiegen.apps.telegram.refunds``; a
``refunded_payment`` Telegram reports (a refund made elsewhere) is reversed the same way, once."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import BaseFilter, Command, CommandObject
from aiogram.types import Message

from kiegen.apps.telegram import admin_screens
from kiegen.apps.telegram.deps import Deps, user_key
from kiegen.apps.telegram.filters import is_private
from kiegen.apps.telegram.i18n import Translator
from kiegen.apps.telegram.refunds import audit, refund, reverse
from kiegen.core.billing import debit, topup
from kiegen.core.errors import InsufficientCredits
from kiegen.ports.console import ConsoleQueries

__all__ = ["ADMIN_COMMANDS", "MAX_AMOUNT", "MAX_REASON", "make_router"]

log = logging.getLogger("kiegen.apps.telegram.admin")

ADMIN_COMMANDS = ("stats", "user", "grant", "take", "refund")
MAX_AMOUNT = 1_000_000
MAX_REASON = 200


class Operator(BaseFilter):
    """An operator, in their private chat with the bot."""

    async def __call__(self, message: Message, deps: Deps) -> bool:
        user = message.from_user
        return user is not None and user.id in deps.config.admins and is_private(message)


def _actor(message: Message) -> str:
    assert message.from_user is not None
    return f"telegram:{message.from_user.id}"


def _queries(deps: Deps) -> ConsoleQueries | None:
    store = deps.client.store
    return store if isinstance(store, ConsoleQueries) else None


def _user_id(raw: str) -> int | None:
    raw = raw.removeprefix("tg:")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**63 else None


async def stats(message: Message, deps: Deps, tr: Translator) -> None:
    queries = _queries(deps)
    if queries is None:
        await message.answer(tr("admin_unavailable"))
        return
    await message.answer(await admin_screens.stats(deps, queries, tr))


async def user(message: Message, command: CommandObject, deps: Deps, tr: Translator) -> None:
    queries = _queries(deps)
    if queries is None:
        await message.answer(tr("admin_unavailable"))
        return
    args = (command.args or "").split()
    if not args:
        await message.answer(tr("admin_usage"))
        return
    target = _user_id(args[0])
    if target is None:
        await message.answer(tr("admin_bad_id", value=args[0]))
        return
    await message.answer(await admin_screens.user(deps, queries, tr, target))


def _adjustment(tr: Translator, command: CommandObject) -> tuple[int, int, str] | str:
    """``ID N REASON`` of /grant and /take, or what is wrong with it."""
    parts = (command.args or "").split(maxsplit=2)
    if not parts:
        return tr("admin_usage")
    target = _user_id(parts[0])
    if target is None:
        return tr("admin_bad_id", value=parts[0])
    raw = parts[1] if len(parts) > 1 else ""
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_AMOUNT):
        return tr("admin_bad_amount", value=raw, max=MAX_AMOUNT, command=command.command)
    reason = " ".join(parts[2].split()) if len(parts) > 2 else ""
    if not reason or len(reason) > MAX_REASON:
        return tr("admin_no_reason", command=command.command, user=target, amount=int(raw), max=MAX_REASON)
    return target, int(raw), reason


async def _known(deps: Deps, user_id: str) -> bool:
    """Someone who used the bot (a typo in the id must not hand credits to a stranger)."""
    if await deps.bots.get_user(user_id) is not None or await deps.client.store.ledger(user_id):
        return True
    return bool(await deps.client.jobs(user_id=user_id, limit=1))


async def adjust(message: Message, command: CommandObject, deps: Deps, tr: Translator) -> None:
    """/grant and /take."""
    queries = _queries(deps)
    if queries is None:
        await message.answer(tr("admin_unavailable"))
        return
    parsed = _adjustment(tr, command)
    if isinstance(parsed, str):
        await message.answer(parsed)
        return
    target, amount, reason = parsed
    user_id, actor, action, now = user_key(target), _actor(message), command.command, deps.now()
    details = {"target": user_id, "amount": amount, "reason": reason}
    if not await _known(deps, user_id):
        await audit(deps, queries, actor, action, "refused: unknown user", **details)
        await message.answer(tr("admin_unknown_user", user=target))
        return
    key = f"{action}:{message.chat.id}:{message.message_id}"
    note = f"{action} by {actor}: {reason}"
    store = deps.client.store
    if action == "grant":
        created = await store.add_entry(topup(user_id, amount, key=key, at=now, note=note))
        balance = await store.balance(user_id)
    else:
        try:
            taken = await queries.take_credits(debit(user_id, amount, key=key, at=now, note=note))
        except InsufficientCredits as refused:
            await audit(deps, queries, actor, action, f"refused: balance {refused.balance}", **details)
            await message.answer(tr("admin_take_refused", n=refused.balance, user=target))
            return
        created, balance = taken.created, taken.balance
    balance_text = tr.plain("balance_line", n=balance)
    if not created:  # the same message again (Telegram redelivered it): done before, and audited then
        await message.answer(tr("admin_already_done", user=target, balance=balance_text))
        return
    await audit(deps, queries, actor, action, "done", key=key, balance=balance, **details)
    if action == "grant":
        await message.answer(tr("admin_granted", n=amount, user=target, balance=balance_text))
    else:
        await message.answer(tr("admin_taken", n=amount, user=target, balance=balance_text))


async def refund_command(message: Message, command: CommandObject, bot: Bot, deps: Deps, tr: Translator) -> None:
    queries = _queries(deps)
    if queries is None:
        await message.answer(tr("admin_unavailable"))
        return
    args = (command.args or "").split()
    if len(args) != 1:
        await message.answer(tr("admin_no_charge"))
        return
    await message.answer(await refund(bot, deps, queries, tr, args[0], actor=_actor(message)))


async def refunded(message: Message, deps: Deps, tr: Translator) -> None:
    """Telegram says a payment of this user was refunded (by the operator's /refund, or elsewhere): the same
    reversal, once; the user is told what it did to their balance."""
    notice = message.refunded_payment
    assert notice is not None
    queries = _queries(deps)
    payment = await deps.bots.payment(notice.telegram_payment_charge_id)
    # Telegram sends it to the payer's private chat, whose id is the payer's user id.
    if queries is None or payment is None or not is_private(message) or payment.user_id != user_key(message.chat.id):
        log.warning("refunded payment %s is not one this bot recorded for its payer", notice.telegram_payment_charge_id)
        return
    reversal = await reverse(deps, queries, payment, actor="telegram")
    if reversal.taken.created:
        await audit(
            deps,
            queries,
            "telegram",
            "refund",
            "done",
            target=payment.telegram_payment_charge_id,
            user=payment.user_id,
            stars=payment.total_amount,
            credits=payment.credits,
            taken_back=reversal.taken.entry.amount,
        )
    balance = tr.plain("balance_line", n=reversal.taken.balance)
    await message.answer(
        tr("refund_noticed", n=reversal.taken.entry.amount, stars=payment.total_amount, balance=balance)
    )


async def ignore(message: Message) -> None:
    """Not an operator, or not in their private chat: no answer, as if there were no such command."""


def make_router() -> Router:
    """A fresh router (aiogram attaches a router to one dispatcher only)."""
    router = Router(name="admin")
    router.message(Command("stats"), Operator())(stats)
    router.message(Command("user"), Operator())(user)
    router.message(Command("grant", "take"), Operator())(adjust)
    router.message(Command("refund"), Operator())(refund_command)
    router.message(Command(*ADMIN_COMMANDS))(ignore)
    router.message(F.refunded_payment)(refunded)
    return router
