"""InMemoryBotStore: the BotStore contract in dictionaries (tests, and embedders' own bot tests)."""

from __future__ import annotations

from datetime import datetime

import anyio.lowlevel
import attrs

from kiegen.ports.bot import BotUser, Draft, DraftChange, Payment, Refund, RefundStatus, StarsFigures

__all__ = ["InMemoryBotStore"]


class InMemoryBotStore:
    def __init__(self) -> None:
        self._users: dict[str, BotUser] = {}
        self._drafts: dict[str, Draft] = {}
        self._payments: dict[str, Payment] = {}
        self._refunds: dict[str, Refund] = {}

    async def ensure_user(self, user_id: str, *, locale: str | None, now: datetime) -> tuple[BotUser, bool]:
        await anyio.lowlevel.checkpoint()
        existing = self._users.get(user_id)
        if existing is not None:
            return existing, False
        user = BotUser(user_id=user_id, locale=locale, created_at=now)
        self._users[user_id] = user
        return user, True

    async def get_user(self, user_id: str) -> BotUser | None:
        await anyio.lowlevel.checkpoint()
        return self._users.get(user_id)

    async def set_locale(self, user_id: str, locale: str, *, now: datetime) -> BotUser:
        await anyio.lowlevel.checkpoint()
        user = self._users.get(user_id) or BotUser(user_id=user_id, created_at=now)
        user = attrs.evolve(user, locale=locale)
        self._users[user_id] = user
        return user

    async def save_draft(self, draft: Draft) -> None:
        await anyio.lowlevel.checkpoint()
        self._drafts[draft.user_id] = draft

    async def get_draft(self, user_id: str) -> Draft | None:
        await anyio.lowlevel.checkpoint()
        return self._drafts.get(user_id)

    async def drop_draft(self, user_id: str) -> None:
        await anyio.lowlevel.checkpoint()
        self._drafts.pop(user_id, None)

    async def update_draft(self, user_id: str, change: DraftChange) -> Draft | None:
        await anyio.lowlevel.checkpoint()
        # No await between the read and the write: nothing else runs in between.
        stored = self._drafts.get(user_id)
        new = change(stored)
        if new is None:
            return stored
        _check_owner(user_id, new)
        self._drafts[user_id] = new
        return new

    async def record_payment(self, payment: Payment) -> bool:
        await anyio.lowlevel.checkpoint()
        if payment.telegram_payment_charge_id in self._payments:
            return False
        self._payments[payment.telegram_payment_charge_id] = payment
        return True

    async def payments(self, user_id: str) -> list[Payment]:
        await anyio.lowlevel.checkpoint()
        found = [p for p in self._payments.values() if p.user_id == user_id]
        return sorted(found, key=lambda p: (p.created_at, p.telegram_payment_charge_id))

    async def payment(self, charge_id: str) -> Payment | None:
        await anyio.lowlevel.checkpoint()
        return self._payments.get(charge_id)

    async def begin_refund(self, refund: Refund) -> Refund:
        await anyio.lowlevel.checkpoint()
        stored = attrs.evolve(refund, status=RefundStatus.PENDING, taken_back=None, done_at=None)
        return self._refunds.setdefault(refund.telegram_payment_charge_id, stored)

    async def finish_refund(self, charge_id: str, *, taken_back: int, now: datetime) -> Refund | None:
        await anyio.lowlevel.checkpoint()
        refund = self._refunds.get(charge_id)
        if refund is None or refund.status is RefundStatus.DONE:
            return refund
        done = attrs.evolve(refund, status=RefundStatus.DONE, taken_back=taken_back, done_at=now)
        self._refunds[charge_id] = done
        return done

    async def drop_refund(self, charge_id: str) -> bool:
        await anyio.lowlevel.checkpoint()
        refund = self._refunds.get(charge_id)
        if refund is None or refund.status is not RefundStatus.PENDING:
            return False
        del self._refunds[charge_id]
        return True

    async def refund_of(self, charge_id: str) -> Refund | None:
        await anyio.lowlevel.checkpoint()
        return self._refunds.get(charge_id)

    async def stars(self, since: datetime, until: datetime) -> StarsFigures:
        await anyio.lowlevel.checkpoint()
        paid = [p for p in self._payments.values() if p.currency == "XTR" and since <= p.created_at < until]
        done = [
            r
            for r in self._refunds.values()
            if r.status is RefundStatus.DONE and r.done_at is not None and since <= r.done_at < until
        ]
        given_back = [
            self._payments[r.telegram_payment_charge_id] for r in done if r.telegram_payment_charge_id in self._payments
        ]
        return StarsFigures(
            payments=len(paid),
            stars=sum(p.total_amount for p in paid),
            refunds=len(done),
            refunded_stars=sum(p.total_amount for p in given_back),
        )


def _check_owner(user_id: str, draft: Draft) -> None:
    if draft.user_id != user_id:
        raise ValueError(f"update_draft({user_id!r}) was given a draft of {draft.user_id!r}")
