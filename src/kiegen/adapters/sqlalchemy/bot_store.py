"""SqlAlchemyBotStore: the BotStore contract (``kiegen.ports.bot``) on SQLite and PostgreSQL, beside the jobs.

It shares the job store's engine (and so its connection pool, its migrations and, on SQLite, its queue of
writers: ``engine.writer_lock``). Every method is one statement: creating a user, changing a language, saving a
draft and recording a payment are upserts or ``INSERT ... ON CONFLICT DO NOTHING`` that say with ``RETURNING``
whether they wrote, so two instances (or two updates of one user handled at once) never race into an
integrity error. The tables (``users``, ``drafts``, ``payments``) come with the job store's migrations: open
the job store first (``SqlAlchemyJobStore.open`` or an entered ``kiegen`` client), then this.

    bots = SqlAlchemyBotStore(job_store)      # or SqlAlchemyBotStore(engine)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import RowMapping
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kiegen.adapters.sqlalchemy import schema as t
from kiegen.adapters.sqlalchemy.engine import SINGLE, WRITE, translated_errors, writer_lock
from kiegen.adapters.sqlalchemy.store import SqlAlchemyJobStore
from kiegen.ports.bot import BotUser, Draft, Payment

__all__ = ["SqlAlchemyBotStore"]


class SqlAlchemyBotStore:
    """Built on an ``AsyncEngine`` or on a ``SqlAlchemyJobStore`` (its engine). It does not own the engine:
    whoever opened the job store closes it."""

    def __init__(self, engine: AsyncEngine | SqlAlchemyJobStore) -> None:
        self._engine = engine.engine if isinstance(engine, SqlAlchemyJobStore) else engine
        self._postgres = self._engine.dialect.name == "postgresql"
        self._write_lock = writer_lock(self._engine)

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @asynccontextmanager
    async def _statement(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        """One statement in its own transaction. On SQLite it runs without BEGIN (``engine.SINGLE``): SQLite
        makes the statement its own transaction, and a write holds the database's one write lock for a single
        round trip, after this process's other writers (``writer_lock``)."""
        async with self._writer_turn(write):
            with translated_errors():
                async with self._engine.connect() as conn:
                    await conn.execution_options(**{WRITE: SINGLE})
                    async with conn.begin():
                        yield conn

    @asynccontextmanager
    async def _writer_turn(self, write: bool) -> AsyncIterator[None]:
        if not write or self._write_lock is None:
            yield
        else:
            async with self._write_lock:
                yield

    def _insert(self, table: sa.Table) -> Any:
        """INSERT that can say ON CONFLICT in this engine's dialect."""
        return postgresql.insert(table) if self._postgres else sqlite.insert(table)

    # users

    async def ensure_user(self, user_id: str, *, locale: str | None, now: datetime) -> tuple[BotUser, bool]:
        insert = (
            self._insert(t.users)
            .values(user_id=user_id, locale=locale, created_at=now)
            .on_conflict_do_nothing(index_elements=["user_id"])
            .returning(*t.users.c)
        )
        async with self._statement(write=True) as conn:
            row = (await conn.execute(insert)).mappings().first()
        if row is not None:
            return _user(row), True
        # Users are never deleted: the row that won the conflict is there to read.
        existing = await self.get_user(user_id)
        assert existing is not None, f"user {user_id!r} conflicted on insert but cannot be read"
        return existing, False

    async def get_user(self, user_id: str) -> BotUser | None:
        async with self._statement(write=False) as conn:
            row = (await conn.execute(sa.select(t.users).where(t.users.c.user_id == user_id))).mappings().first()
        return None if row is None else _user(row)

    async def set_locale(self, user_id: str, locale: str, *, now: datetime) -> BotUser:
        insert = self._insert(t.users).values(user_id=user_id, locale=locale, created_at=now)
        upsert = insert.on_conflict_do_update(
            index_elements=["user_id"], set_={"locale": insert.excluded.locale}
        ).returning(*t.users.c)
        async with self._statement(write=True) as conn:
            row = (await conn.execute(upsert)).mappings().one()
        return _user(row)

    # drafts

    async def save_draft(self, draft: Draft) -> None:
        values = _draft_to_row(draft)
        insert = self._insert(t.drafts).values(values)
        upsert = insert.on_conflict_do_update(
            index_elements=["user_id"],
            set_={name: insert.excluded[name] for name in values if name != "user_id"},
        )
        async with self._statement(write=True) as conn:
            await conn.execute(upsert)

    async def get_draft(self, user_id: str) -> Draft | None:
        async with self._statement(write=False) as conn:
            row = (await conn.execute(sa.select(t.drafts).where(t.drafts.c.user_id == user_id))).mappings().first()
        return None if row is None else _draft(row)

    async def drop_draft(self, user_id: str) -> None:
        async with self._statement(write=True) as conn:
            await conn.execute(sa.delete(t.drafts).where(t.drafts.c.user_id == user_id))

    # payments

    async def record_payment(self, payment: Payment) -> bool:
        insert = (
            self._insert(t.payments)
            .values(_payment_to_row(payment))
            .on_conflict_do_nothing(index_elements=["telegram_payment_charge_id"])
            .returning(t.payments.c.telegram_payment_charge_id)
        )
        async with self._statement(write=True) as conn:
            return (await conn.execute(insert)).first() is not None

    async def payments(self, user_id: str) -> list[Payment]:
        query = (
            sa.select(t.payments)
            .where(t.payments.c.user_id == user_id)
            .order_by(t.payments.c.created_at, t.payments.c.telegram_payment_charge_id)
        )
        async with self._statement(write=False) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_payment(row) for row in rows]


# Row <-> value conversions, written out by hand (the frozen attrs classes are never ORM-mapped).


def _user(row: RowMapping) -> BotUser:
    return BotUser(user_id=row["user_id"], locale=row["locale"], created_at=row["created_at"])


def _draft_to_row(draft: Draft) -> dict[str, Any]:
    return {
        "user_id": draft.user_id,
        "id": draft.id,
        "model": draft.model,
        "options": dict(draft.options),
        "prompt": draft.prompt,
        "image_url": draft.image_url,
        "chat_id": draft.chat_id,
        "card_message_id": draft.card_message_id,
        "prompt_message_id": draft.prompt_message_id,
        "job_id": draft.job_id,
        "updated_at": draft.updated_at,
    }


def _draft(row: RowMapping) -> Draft:
    return Draft(
        id=row["id"],
        user_id=row["user_id"],
        model=row["model"],
        options=row["options"],
        prompt=row["prompt"],
        image_url=row["image_url"],
        chat_id=row["chat_id"],
        card_message_id=row["card_message_id"],
        prompt_message_id=row["prompt_message_id"],
        job_id=row["job_id"],
        updated_at=row["updated_at"],
    )


def _payment_to_row(payment: Payment) -> dict[str, Any]:
    return {
        "telegram_payment_charge_id": payment.telegram_payment_charge_id,
        "provider_payment_charge_id": payment.provider_payment_charge_id,
        "user_id": payment.user_id,
        "currency": payment.currency,
        "total_amount": payment.total_amount,
        "credits": payment.credits,
        "payload": payment.payload,
        "ledger_key": payment.ledger_key,
        "created_at": payment.created_at,
    }


def _payment(row: RowMapping) -> Payment:
    return Payment(
        telegram_payment_charge_id=row["telegram_payment_charge_id"],
        provider_payment_charge_id=row["provider_payment_charge_id"],
        user_id=row["user_id"],
        currency=row["currency"],
        total_amount=row["total_amount"],
        credits=row["credits"],
        payload=row["payload"],
        ledger_key=row["ledger_key"],
        created_at=row["created_at"],
    )
