"""SqlAlchemyBotStore: the BotStore contract (``kiegen.ports.bot``) on SQLite and PostgreSQL, beside the jobs.

It writes through the job store's database (its one writer per process, and so its group commit) and reads
from its readers. Every write is one upsert or ``INSERT ... ON CONFLICT DO NOTHING`` that says with
``RETURNING`` whether it wrote, so two instances (or two updates of one user handled at once) never race into
an integrity error. The tables (``users``, ``drafts``, ``payments``, ``refunds``) come with the job store's migrations:
open the job store first (``SqlAlchemyJobStore.open`` or an entered ``kiegen`` client), then this.

    bots = SqlAlchemyBotStore(job_store)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kiegen.adapters.sqlalchemy.sql import Conn, sql
from kiegen.adapters.sqlalchemy.store import SqlAlchemyJobStore
from kiegen.ports.bot import Album, AlbumPhoto, BotUser, Draft, DraftChange, Payment, Refund, RefundStatus, StarsFigures

__all__ = ["SqlAlchemyBotStore"]

_CREATE_ATTEMPTS = 3

_DRAFT_COLUMNS = (
    "user_id",
    "id",
    "model",
    "options",
    "prompt",
    "image_url",
    "chat_id",
    "card_message_id",
    "prompt_message_id",
    "job_id",
    "updated_at",
    "album",
)
_PAYMENT_COLUMNS = (
    "telegram_payment_charge_id",
    "provider_payment_charge_id",
    "user_id",
    "currency",
    "total_amount",
    "credits",
    "payload",
    "ledger_key",
    "created_at",
)

_USER_CREATE = sql(
    "INSERT INTO users (user_id, locale, created_at) VALUES (:user_id, :locale, :created_at) "
    "ON CONFLICT (user_id) DO NOTHING RETURNING *"
)
_USER = sql("SELECT * FROM users WHERE user_id = :user_id")
_USER_LOCALE = sql(
    "INSERT INTO users (user_id, locale, created_at) VALUES (:user_id, :locale, :created_at) "
    "ON CONFLICT (user_id) DO UPDATE SET locale = excluded.locale RETURNING *"
)
_DRAFT_SAVE = sql(
    f"INSERT INTO drafts ({', '.join(_DRAFT_COLUMNS)}) VALUES ({', '.join(f':{c}' for c in _DRAFT_COLUMNS)}) "
    "ON CONFLICT (user_id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _DRAFT_COLUMNS if c != "user_id")
)
_DRAFT = sql("SELECT * FROM drafts WHERE user_id = :user_id")
# SQLite has one writer at a time, so its plain read inside the write transaction is already exclusive.
_DRAFT_FOR_UPDATE = sql(_DRAFT.sqlite, postgres="SELECT * FROM drafts WHERE user_id = :user_id FOR UPDATE")
_DRAFT_CREATE = sql(
    f"INSERT INTO drafts ({', '.join(_DRAFT_COLUMNS)}) VALUES ({', '.join(f':{c}' for c in _DRAFT_COLUMNS)}) "
    "ON CONFLICT (user_id) DO NOTHING RETURNING user_id"
)
_DRAFT_DROP = sql("DELETE FROM drafts WHERE user_id = :user_id")
_PAYMENT_RECORD = sql(
    f"INSERT INTO payments ({', '.join(_PAYMENT_COLUMNS)}) VALUES ({', '.join(f':{c}' for c in _PAYMENT_COLUMNS)}) "
    "ON CONFLICT (telegram_payment_charge_id) DO NOTHING RETURNING telegram_payment_charge_id"
)
_REFUND_COLUMNS = (
    "telegram_payment_charge_id",
    "user_id",
    "status",
    "credits",
    "taken_back",
    "actor",
    "created_at",
    "done_at",
)
_PAYMENT = sql("SELECT * FROM payments WHERE telegram_payment_charge_id = :charge_id")
_REFUND_BEGIN = sql(
    f"INSERT INTO refunds ({', '.join(_REFUND_COLUMNS)}) VALUES ({', '.join(f':{c}' for c in _REFUND_COLUMNS)}) "
    "ON CONFLICT (telegram_payment_charge_id) DO NOTHING RETURNING *"
)
_REFUND = sql("SELECT * FROM refunds WHERE telegram_payment_charge_id = :charge_id")
_REFUND_FINISH = sql(
    "UPDATE refunds SET status = 'done', taken_back = :taken_back, done_at = :now "
    "WHERE telegram_payment_charge_id = :charge_id AND status = 'pending' RETURNING *"
)
_REFUND_DROP = sql(
    "DELETE FROM refunds WHERE telegram_payment_charge_id = :charge_id AND status = 'pending' "
    "RETURNING telegram_payment_charge_id"
)
_STARS_PAID = sql(
    "SELECT count(*) AS n, coalesce(sum(total_amount), 0) AS stars FROM payments "
    "WHERE currency = 'XTR' AND created_at >= :since AND created_at < :until"
)
_STARS_REFUNDED = sql(
    "SELECT count(*) AS n, coalesce(sum(p.total_amount), 0) AS stars FROM refunds r "
    "LEFT JOIN payments p ON p.telegram_payment_charge_id = r.telegram_payment_charge_id "
    "WHERE r.status = 'done' AND r.done_at >= :since AND r.done_at < :until"
)
_PAYMENTS = sql("SELECT * FROM payments WHERE user_id = :user_id ORDER BY created_at, telegram_payment_charge_id")


class SqlAlchemyBotStore:
    """Built on an open ``SqlAlchemyJobStore`` (its database). It does not own it: whoever opened the job
    store closes it."""

    def __init__(self, store: SqlAlchemyJobStore) -> None:
        self._store = store
        self._db = store.database

    @property
    def job_store(self) -> SqlAlchemyJobStore:
        return self._store

    # users

    async def ensure_user(self, user_id: str, *, locale: str | None, now: datetime) -> tuple[BotUser, bool]:
        async def op(c: Conn) -> tuple[BotUser, bool]:
            row = await c.fetchrow(_USER_CREATE, {"user_id": user_id, "locale": locale, "created_at": c.ts(now)})
            if row is not None:
                return _user(c, row), True
            # Users are never deleted: the row that won the conflict is there to read (in this transaction).
            existing = await c.fetchrow(_USER, {"user_id": user_id})
            assert existing is not None, f"user {user_id!r} conflicted on insert but cannot be read"
            return _user(c, existing), False

        return await self._db.write(op)  # type: ignore[no-any-return]

    async def get_user(self, user_id: str) -> BotUser | None:
        async def op(c: Conn) -> BotUser | None:
            row = await c.fetchrow(_USER, {"user_id": user_id})
            return None if row is None else _user(c, row)

        return await self._db.read(op)  # type: ignore[no-any-return]

    async def set_locale(self, user_id: str, locale: str, *, now: datetime) -> BotUser:
        async def op(c: Conn) -> BotUser:
            row = await c.fetchrow(_USER_LOCALE, {"user_id": user_id, "locale": locale, "created_at": c.ts(now)})
            assert row is not None
            return _user(c, row)

        return await self._db.write(op)  # type: ignore[no-any-return]

    # drafts

    async def save_draft(self, draft: Draft) -> None:
        async def op(c: Conn) -> None:
            await c.execute(_DRAFT_SAVE, _draft_params(c, draft))

        await self._db.write(op)

    async def get_draft(self, user_id: str) -> Draft | None:
        async def op(c: Conn) -> Draft | None:
            row = await c.fetchrow(_DRAFT, {"user_id": user_id})
            return None if row is None else _draft(c, row)

        return await self._db.read(op)  # type: ignore[no-any-return]

    async def drop_draft(self, user_id: str) -> None:
        async def op(c: Conn) -> None:
            await c.execute(_DRAFT_DROP, {"user_id": user_id})

        await self._db.write(op)

    async def update_draft(self, user_id: str, change: DraftChange) -> Draft | None:
        async def op(c: Conn) -> Draft | None:
            # The row is locked (PostgreSQL) from the read to the write. A draft that does not exist yet cannot
            # be locked: its creation is an insert that does nothing when another transaction created it
            # meanwhile, and then the change is applied again to what that one stored.
            for _ in range(_CREATE_ATTEMPTS):
                row = await c.fetchrow(_DRAFT_FOR_UPDATE, {"user_id": user_id})
                stored = None if row is None else _draft(c, row)
                new = change(stored)
                if new is None:
                    return stored
                if new.user_id != user_id:
                    raise ValueError(f"update_draft({user_id!r}) was given a draft of {new.user_id!r}")
                if row is not None:
                    await c.execute(_DRAFT_SAVE, _draft_params(c, new))
                    return new
                if await c.fetchval(_DRAFT_CREATE, _draft_params(c, new)) is not None:
                    return new
            raise RuntimeError(f"the draft of {user_id!r} kept being created and dropped under update_draft")

        return await self._db.write(op)  # type: ignore[no-any-return]

    # payments

    async def record_payment(self, payment: Payment) -> bool:
        async def op(c: Conn) -> bool:
            return await c.fetchval(_PAYMENT_RECORD, _payment_params(c, payment)) is not None

        return await self._db.write(op)  # type: ignore[no-any-return]

    async def payments(self, user_id: str) -> list[Payment]:
        async def op(c: Conn) -> list[Payment]:
            return [_payment(c, row) for row in await c.fetch(_PAYMENTS, {"user_id": user_id})]

        return await self._db.read(op)  # type: ignore[no-any-return]

    async def payment(self, charge_id: str) -> Payment | None:
        async def op(c: Conn) -> Payment | None:
            row = await c.fetchrow(_PAYMENT, {"charge_id": charge_id})
            return None if row is None else _payment(c, row)

        return await self._db.read(op)  # type: ignore[no-any-return]

    # refunds

    async def begin_refund(self, refund: Refund) -> Refund:
        async def op(c: Conn) -> Refund:
            row = await c.fetchrow(_REFUND_BEGIN, _refund_params(c, refund))
            if row is None:  # the charge has its refund already: that one stands
                row = await c.fetchrow(_REFUND, {"charge_id": refund.telegram_payment_charge_id})
                assert row is not None, f"refund {refund.telegram_payment_charge_id!r} conflicted but cannot be read"
            return _refund(c, row)

        return await self._db.write(op)  # type: ignore[no-any-return]

    async def finish_refund(self, charge_id: str, *, taken_back: int, now: datetime) -> Refund | None:
        async def op(c: Conn) -> Refund | None:
            row = await c.fetchrow(_REFUND_FINISH, {"charge_id": charge_id, "taken_back": taken_back, "now": c.ts(now)})
            if row is None:
                row = await c.fetchrow(_REFUND, {"charge_id": charge_id})
            return None if row is None else _refund(c, row)

        return await self._db.write(op)  # type: ignore[no-any-return]

    async def drop_refund(self, charge_id: str) -> bool:
        async def op(c: Conn) -> bool:
            return await c.fetchval(_REFUND_DROP, {"charge_id": charge_id}) is not None

        return await self._db.write(op)  # type: ignore[no-any-return]

    async def refund_of(self, charge_id: str) -> Refund | None:
        async def op(c: Conn) -> Refund | None:
            row = await c.fetchrow(_REFUND, {"charge_id": charge_id})
            return None if row is None else _refund(c, row)

        return await self._db.read(op)  # type: ignore[no-any-return]

    async def stars(self, since: datetime, until: datetime) -> StarsFigures:
        async def op(c: Conn) -> StarsFigures:
            window = {"since": c.ts(since), "until": c.ts(until)}
            paid = await c.fetchrow(_STARS_PAID, window)
            refunded = await c.fetchrow(_STARS_REFUNDED, window)
            assert paid is not None and refunded is not None
            return StarsFigures(
                payments=int(paid["n"]),
                stars=int(paid["stars"]),
                refunds=int(refunded["n"]),
                refunded_stars=int(refunded["stars"]),
            )

        return await self._db.read(op)  # type: ignore[no-any-return]


# Row <-> value conversions, written out by hand (the frozen attrs classes are never ORM-mapped).


def _user(c: Conn, row: Any) -> BotUser:
    created_at = c.read_ts(row["created_at"])
    assert created_at is not None
    return BotUser(user_id=row["user_id"], locale=row["locale"], created_at=created_at)


def _draft_params(c: Conn, draft: Draft) -> dict[str, Any]:
    return {
        "user_id": draft.user_id,
        "id": draft.id,
        "model": draft.model,
        "options": c.json(dict(draft.options)),
        "prompt": draft.prompt,
        "image_url": draft.image_url,
        "chat_id": draft.chat_id,
        "card_message_id": draft.card_message_id,
        "prompt_message_id": draft.prompt_message_id,
        "job_id": draft.job_id,
        "updated_at": c.ts(draft.updated_at),
        "album": None if draft.album is None else c.json(_album_json(draft.album)),
    }


def _draft(c: Conn, row: Any) -> Draft:
    updated_at = c.read_ts(row["updated_at"])
    assert updated_at is not None
    return Draft(
        id=row["id"],
        user_id=row["user_id"],
        model=row["model"],
        options=c.read_json(row["options"]),
        prompt=row["prompt"],
        image_url=row["image_url"],
        chat_id=row["chat_id"],
        card_message_id=row["card_message_id"],
        prompt_message_id=row["prompt_message_id"],
        job_id=row["job_id"],
        updated_at=updated_at,
        album=None if row["album"] is None else _album(c.read_json(row["album"])),
    )


def _album_json(album: Album) -> dict[str, Any]:
    return {
        "id": album.id,
        "photos": [[p.message_id, p.url] for p in album.photos],
        "dropped": list(album.dropped),
        "pending": list(album.pending),
        "last": album.last,
    }


def _album(value: Any) -> Album:
    return Album(
        id=value["id"],
        photos=[AlbumPhoto(message_id=int(m), url=str(u)) for m, u in value["photos"]],
        dropped=[int(m) for m in value["dropped"]],
        pending=[int(m) for m in value["pending"]],
        last=value["last"],
    )


def _payment_params(c: Conn, payment: Payment) -> dict[str, Any]:
    return {
        "telegram_payment_charge_id": payment.telegram_payment_charge_id,
        "provider_payment_charge_id": payment.provider_payment_charge_id,
        "user_id": payment.user_id,
        "currency": payment.currency,
        "total_amount": payment.total_amount,
        "credits": payment.credits,
        "payload": payment.payload,
        "ledger_key": payment.ledger_key,
        "created_at": c.ts(payment.created_at),
    }


def _payment(c: Conn, row: Any) -> Payment:
    created_at = c.read_ts(row["created_at"])
    assert created_at is not None
    return Payment(
        telegram_payment_charge_id=row["telegram_payment_charge_id"],
        provider_payment_charge_id=row["provider_payment_charge_id"],
        user_id=row["user_id"],
        currency=row["currency"],
        total_amount=row["total_amount"],
        credits=row["credits"],
        payload=row["payload"],
        ledger_key=row["ledger_key"],
        created_at=created_at,
    )


def _refund_params(c: Conn, refund: Refund) -> dict[str, Any]:
    return {
        "telegram_payment_charge_id": refund.telegram_payment_charge_id,
        "user_id": refund.user_id,
        "status": RefundStatus.PENDING.value,
        "credits": refund.credits,
        "taken_back": None,
        "actor": refund.actor,
        "created_at": c.ts(refund.created_at),
        "done_at": None,
    }


def _refund(c: Conn, row: Any) -> Refund:
    created_at = c.read_ts(row["created_at"])
    assert created_at is not None
    return Refund(
        telegram_payment_charge_id=row["telegram_payment_charge_id"],
        user_id=row["user_id"],
        status=RefundStatus(row["status"]),
        credits=row["credits"],
        taken_back=row["taken_back"],
        actor=row["actor"],
        created_at=created_at,
        done_at=c.read_ts(row["done_at"]),
    )
