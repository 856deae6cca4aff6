"""InMemoryBotStore: the BotStore contract in dictionaries (tests, and embedders' own bot tests)."""

from __future__ import annotations

from datetime import datetime

import anyio.lowlevel
import attrs

from kiegen.ports.bot import BotUser, Draft, DraftChange, Payment

__all__ = ["InMemoryBotStore"]


class InMemoryBotStore:
    def __init__(self) -> None:
        self._users: dict[str, BotUser] = {}
        self._drafts: dict[str, Draft] = {}
        self._payments: dict[str, Payment] = {}

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


def _check_owner(user_id: str, draft: Draft) -> None:
    if draft.user_id != user_id:
        raise ValueError(f"update_draft({user_id!r}) was given a draft of {draft.user_id!r}")
