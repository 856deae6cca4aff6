"""Stars refunds, exactly once across repeats and crashes.

Steps, each safe to repeat: (1) a PENDING refund record for the charge (``BotStore.begin_refund``), written
before Telegram is asked; (2) ``refundStarPayment``, where Telegram's ``CHARGE_ALREADY_REFUNDED`` counts as done
(it was us, before a crash, or a refund made elsewhere); (3) the reversal of the payment's credits, a DEBIT keyed
``refund:<charge id>`` (``ConsoleQueries.take_credits``: written once); (4) the record marked DONE with what was
taken back. A crash after any step is finished by the next /refund of that charge (or by Telegram's
``refunded_payment`` message), which runs the same steps and finds the earlier ones done. A DONE record answers
"already refunded" and changes nothing; a refusal by Telegram removes the PENDING record again.

Credits already spent: the Stars go back whole (Telegram refunds the whole payment), the reversal takes what the
balance still holds (``up_to``) and the balance stops at zero; the operator is told how much was spent."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import attrs
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from kiegen.apps.telegram.deps import Deps, telegram_id
from kiegen.apps.telegram.i18n import Translator
from kiegen.apps.telegram.screens import when
from kiegen.core.billing import debit
from kiegen.ports.bot import Payment, Refund, RefundStatus
from kiegen.ports.console import AuditEntry, ConsoleQueries, Taken

__all__ = ["ALREADY_REFUNDED", "Reversal", "refund", "reverse"]

log = logging.getLogger("kiegen.apps.telegram.payments")

ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"


@attrs.frozen
class Reversal:
    refund: Refund
    taken: Taken


async def audit(deps: Deps, queries: ConsoleQueries, actor: str, action: str, outcome: str, **detail: Any) -> None:
    target = detail.pop("target", None)
    await queries.record_audit(
        AuditEntry(at=deps.now(), actor=actor, action=action, outcome=outcome, target=target, detail=detail)
    )


def _pending(payment: Payment, actor: str, now: datetime) -> Refund:
    """Step 1: the refund of ``payment``, recorded before anything else happens (``begin_refund`` keeps an
    existing one)."""
    return Refund(
        telegram_payment_charge_id=payment.telegram_payment_charge_id,
        user_id=payment.user_id,
        credits=payment.credits,
        actor=actor,
        created_at=now,
    )


async def reverse(deps: Deps, queries: ConsoleQueries, payment: Payment, *, actor: str) -> Reversal:
    """Steps 1, 3 and 4 for a charge Telegram has refunded: record (or find) the refund, take the credits back
    (once), mark it done. Safe to run any number of times, and concurrently."""
    charge, now = payment.telegram_payment_charge_id, deps.now()
    await deps.bots.begin_refund(_pending(payment, actor, now))
    entry = debit(payment.user_id, payment.credits, key=f"refund:{charge}", at=now, note=f"stars refund {charge}")
    taken = await queries.take_credits(entry, up_to=True)
    done = await deps.bots.finish_refund(charge, taken_back=taken.entry.amount, now=now)
    assert done is not None, f"refund {charge!r} was begun but is gone"
    return Reversal(done, taken)


async def refund(bot: Bot, deps: Deps, queries: ConsoleQueries, tr: Translator, charge: str, *, actor: str) -> str:
    """An operator's /refund CHARGE_ID; returns what to answer."""
    payment = await deps.bots.payment(charge)
    telegram_user = telegram_id(payment.user_id) if payment is not None else None
    if payment is None or telegram_user is None:
        await audit(deps, queries, actor, "refund", "refused: no such payment", target=charge)
        return tr("admin_refund_unknown", charge=charge)
    earlier = await deps.bots.refund_of(charge)
    if earlier is not None and earlier.status is RefundStatus.DONE:
        await audit(deps, queries, actor, "refund", "refused: already refunded", target=charge)
        done_at = earlier.done_at or earlier.created_at
        return tr("admin_refund_already", n=earlier.taken_back or 0, charge=charge, date=when(tr, done_at, deps.now()))
    await deps.bots.begin_refund(_pending(payment, actor, deps.now()))
    try:
        await bot.refund_star_payment(user_id=telegram_user, telegram_payment_charge_id=charge)
    except (TelegramNetworkError, TelegramRetryAfter, TelegramServerError) as exc:
        # Telegram may or may not have refunded: the record stays PENDING and the next /refund finds out.
        log.warning("refund of %s: Telegram did not answer (%s); left pending", charge, type(exc).__name__)
        await audit(deps, queries, actor, "refund", "refused: Telegram did not answer", target=charge)
        return tr("admin_refund_unanswered", charge=charge)
    except TelegramBadRequest as exc:
        if ALREADY_REFUNDED not in exc.message:
            return await _refused(deps, queries, tr, charge, actor, exc)
        log.info("refund of %s: Telegram says it was refunded already; finishing the reversal", charge)
    except TelegramAPIError as exc:
        return await _refused(deps, queries, tr, charge, actor, exc)
    reversal = await reverse(deps, queries, payment, actor=actor)
    taken_back = reversal.taken.entry.amount
    await audit(
        deps,
        queries,
        actor,
        "refund",
        "done",
        target=charge,
        user=payment.user_id,
        stars=payment.total_amount,
        credits=payment.credits,
        taken_back=taken_back,
    )
    text = tr(
        "admin_refund_done",
        n=taken_back,
        stars=payment.total_amount,
        charge=charge,
        user=telegram_user,
        credits=payment.credits,
        balance=tr.plain("balance_line", n=reversal.taken.balance),
    )
    if taken_back < payment.credits:
        text += "\n" + tr("admin_refund_spent", n=payment.credits - taken_back)
    return text


async def _refused(
    deps: Deps, queries: ConsoleQueries, tr: Translator, charge: str, actor: str, exc: TelegramAPIError
) -> str:
    """Telegram said no (CHARGE_NOT_FOUND, a wrong user...): nothing was refunded, so nothing is recorded."""
    await deps.bots.drop_refund(charge)
    reason = exc.message.removeprefix("Bad Request: ")
    await audit(deps, queries, actor, "refund", f"refused: Telegram: {reason}", target=charge)
    return tr("admin_refund_refused", charge=charge, reason=reason)
