"""SqlAlchemyJobStore: the JobStore contract (``kiegen.ports.store``) on SQLite and PostgreSQL.

Every method is one transaction. Writes begin with ``BEGIN IMMEDIATE`` on SQLite (one writer at a time, never
a lock upgrade half-way); on PostgreSQL, claims lock their rows with ``FOR UPDATE SKIP LOCKED`` so that
concurrent workers take disjoint rows without waiting, and a job creation for a user holds a transaction-scoped
advisory lock on that user so that the balance check and the hold (or the free-quota count) are atomic.

Optimistic concurrency is ``UPDATE jobs ... WHERE id = :id AND version = :expected``. Database errors are
translated into ``StoreError`` (retryable) here; duplicate job or task ids raise ``ValueError`` as in the
in-memory store. Asyncio only: aiosqlite and asyncpg have no trio support.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kiegen.adapters.sqlalchemy import schema as t
from kiegen.adapters.sqlalchemy.engine import IMMEDIATE, SINGLE, WRITE, create_engine, writer_lock
from kiegen.adapters.sqlalchemy.engine import translated_errors as _translated
from kiegen.adapters.sqlalchemy.migrate import upgrade_engine
from kiegen.adapters.sqlalchemy.rows import (
    delivery_from_row,
    delivery_to_row,
    entry_from_row,
    entry_to_row,
    inbox_from_row,
    inbox_to_row,
    job_from_row,
    job_to_row,
)
from kiegen.core.billing import LedgerEntry, LedgerKind, hold_for, utc_day
from kiegen.core.delivery import Claim, Delivery, DeliveryStatus, InboxEntry, InboxOutcome
from kiegen.core.errors import (
    ConcurrencyConflict,
    DuplicateEvent,
    InsufficientCredits,
    JobNotFound,
    LeaseLost,
    QuotaExceeded,
)
from kiegen.core.jobs import Job
from kiegen.ports.store import Created

__all__ = ["SqlAlchemyJobStore"]

# Namespace of the per-user advisory locks (pg_advisory_xact_lock(namespace, hashtext(user_id))).
_USER_LOCK_NAMESPACE = 0x6B6965  # "kie"


def _sign(kind: LedgerKind) -> int:
    # The balance rule lives in core (LedgerEntry.delta); the SQL sum reuses it instead of restating it.
    unit = LedgerEntry(key="", user_id="", kind=kind, amount=1, created_at=datetime.now(UTC))
    return unit.delta


def _served(schemes: frozenset[str] | None) -> sa.ColumnElement[bool]:
    """Deliveries whose recipient scheme (``recipient_scheme``: the part before the first ':') is one of
    ``schemes``; all of them when None."""
    if schemes is None:
        return sa.true()
    recipient = t.deliveries.c.recipient
    # substr, not LIKE: SQLite's LIKE ignores case, and no character of a scheme is a wildcard here.
    return sa.or_(
        sa.false(),
        *(
            sa.or_(recipient == scheme, sa.func.substr(recipient, 1, len(scheme) + 1) == f"{scheme}:")
            for scheme in sorted(schemes)
        ),
    )


_DELTA = sa.case(
    *((t.ledger.c.kind == kind.value, t.ledger.c.amount * _sign(kind)) for kind in LedgerKind),
    else_=0,
)


class SqlAlchemyJobStore:
    """Open with ``await SqlAlchemyJobStore.open(url)`` (migrates by default); close with ``aclose()`` or use
    it as ``async with``. ``schema`` (PostgreSQL only) puts the tables in that schema."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._postgres = self._dialect == "postgresql"
        self._write_lock = writer_lock(engine)  # shared with the other adapters on this engine (SQLite)

    @classmethod
    async def open(
        cls, url: str | URL, *, migrate: bool = True, schema: str | None = None, pool_size: int = 5
    ) -> SqlAlchemyJobStore:
        engine = create_engine(url, schema=schema, pool_size=pool_size)
        try:
            if migrate:
                await upgrade_engine(engine, schema=schema)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def aclose(self) -> None:
        await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # plumbing

    @asynccontextmanager
    async def _write(self, *, single: bool = False) -> AsyncIterator[AsyncConnection]:
        """A write transaction; ``single`` promises exactly one statement (see ``engine.WRITE``)."""
        async with self._writer_turn():
            with _translated():
                async with self._engine.connect() as conn:
                    await conn.execution_options(**{WRITE: SINGLE if single else IMMEDIATE})
                    async with conn.begin():
                        yield conn

    @asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        # SQLite: one writer of this process at a time (see engine.writer_lock).
        if self._write_lock is None:
            yield
        else:
            async with self._write_lock:
                yield

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        """A read of one statement: on SQLite it runs without BEGIN (a statement is consistent on its own, and
        WAL readers never wait for the writer), which saves two round trips to aiosqlite's thread."""
        with _translated():
            async with self._engine.connect() as conn:
                await conn.execution_options(**{WRITE: SINGLE})
                async with conn.begin():
                    yield conn

    def _insert(self, table: sa.Table) -> Any:
        """INSERT that can say ON CONFLICT DO NOTHING in this engine's dialect."""
        return postgresql.insert(table) if self._postgres else sqlite.insert(table)

    def _claimable(self, query: sa.Select[Any]) -> sa.Select[Any]:
        # SQLite has no row locks: BEGIN IMMEDIATE already made this transaction the only writer.
        return query.with_for_update(skip_locked=True) if self._postgres else query

    async def _prefer_ordered_index(self, conn: AsyncConnection) -> None:
        # PostgreSQL multiplies the selectivities of "status is live" and "next_check_at <= now" as if they
        # were independent, while only live jobs have a next check: it then expects a handful of rows and picks
        # a bitmap scan that reads and sorts every due row (thousands after an outage) before LIMIT. Walking the
        # partial index in order stops after ``limit`` rows. Scoped to this claim's transaction.
        if self._postgres:
            await conn.execute(sa.text("SET LOCAL enable_bitmapscan = off"))

    async def _lock_user(self, conn: AsyncConnection, user_id: str) -> None:
        if self._postgres:
            await conn.execute(
                sa.select(sa.func.pg_advisory_xact_lock(_USER_LOCK_NAMESPACE, sa.func.hashtext(user_id)))
            )

    # jobs

    async def create_job(self, job: Job, *, free_quota: int | None = None) -> Created:
        hold = hold_for(job)
        counts_quota = job.price <= 0 and job.user_id is not None and free_quota is not None
        try:
            async with self._write() as conn:
                if job.user_id is not None:
                    await self._lock_user(conn, job.user_id)
                    if job.idempotency_key is not None:
                        existing = await _by_idempotency(conn, job.user_id, job.idempotency_key)
                        if existing is not None:
                            return Created(existing, created=False)
                if await conn.scalar(sa.select(t.jobs.c.id).where(t.jobs.c.id == job.id)) is not None:
                    raise ValueError(f"job id {job.id!r} already exists")
                if hold is not None:
                    balance = await _balance(conn, hold.user_id)
                    if balance < hold.amount:
                        raise InsufficientCredits(hold.user_id, balance=balance, needed=hold.amount)
                if counts_quota:
                    assert job.user_id is not None
                    assert free_quota is not None
                    await self._count_free_use(conn, job.user_id, utc_day(job.created_at), free_quota)
                if hold is not None:
                    await conn.execute(self._insert(t.ledger).on_conflict_do_nothing(), entry_to_row(hold))
                await conn.execute(sa.insert(t.jobs), job_to_row(job))
        except sa.exc.IntegrityError:
            # Only a duplicate task id gets here: ids and idempotency keys were checked under the lock.
            raise ValueError(f"job {job.id!r}: its id or task id {job.task_id!r} is already stored") from None
        return Created(job, created=True)

    async def _count_free_use(self, conn: AsyncConnection, user_id: str, day: date, limit: int) -> None:
        where = (t.free_uses.c.user_id == user_id) & (t.free_uses.c.day == day)
        used = await conn.scalar(sa.select(t.free_uses.c.uses).where(where))
        if (used or 0) >= limit:
            raise QuotaExceeded(user_id, limit=limit)
        upsert = (
            self._insert(t.free_uses)
            .values(user_id=user_id, day=day, uses=1)
            .on_conflict_do_update(index_elements=["user_id", "day"], set_={"uses": t.free_uses.c.uses + 1})
        )
        await conn.execute(upsert)

    async def get(self, job_id: str) -> Job | None:
        async with self._read() as conn:
            row = (await conn.execute(sa.select(t.jobs).where(t.jobs.c.id == job_id))).mappings().first()
        return None if row is None else job_from_row(row)

    async def get_by_task(self, task_id: str) -> Job | None:
        async with self._read() as conn:
            row = (await conn.execute(sa.select(t.jobs).where(t.jobs.c.task_id == task_id))).mappings().first()
        return None if row is None else job_from_row(row)

    async def save(
        self,
        job: Job,
        *,
        expected_version: int,
        ledger: Sequence[LedgerEntry] = (),
        deliveries: Sequence[Delivery] = (),
        inbox: InboxEntry | None = None,
    ) -> Job:
        stored = attrs.evolve(job, version=expected_version + 1)
        values = job_to_row(stored)
        del values["id"]
        update = (
            sa.update(t.jobs)
            .where(t.jobs.c.id == job.id, t.jobs.c.version == expected_version)
            .values(values)
            .returning(t.jobs.c.id)
        )
        try:
            async with self._write() as conn:
                # The inbox row first, so that a duplicate writes nothing; a later conflict rolls it back too.
                if inbox is not None and not await self._insert_inbox(conn, inbox):
                    raise DuplicateEvent(inbox.key)
                if (await conn.execute(update)).first() is None:
                    if await conn.scalar(sa.select(t.jobs.c.id).where(t.jobs.c.id == job.id)) is None:
                        raise JobNotFound(job.id)
                    raise ConcurrencyConflict(job.id)
                if ledger:
                    await conn.execute(
                        self._insert(t.ledger).on_conflict_do_nothing(), [entry_to_row(e) for e in ledger]
                    )
                if deliveries:
                    await conn.execute(
                        self._insert(t.deliveries).on_conflict_do_nothing(), [delivery_to_row(d) for d in deliveries]
                    )
        except sa.exc.IntegrityError:
            raise ValueError(f"job {job.id!r}: task id {job.task_id!r} already belongs to another job") from None
        return stored

    async def list_jobs(self, *, user_id: str | None = None, limit: int = 50) -> list[Job]:
        query = sa.select(t.jobs).order_by(t.jobs.c.created_at.desc(), t.jobs.c.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(t.jobs.c.user_id == user_id)
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [job_from_row(row) for row in rows]

    async def claim_due_checks(self, now: datetime, *, lease_until: datetime, limit: int) -> list[Job]:
        due = self._claimable(
            sa.select(t.jobs.c.id)
            .where(sa.text(t.ACTIVE_JOB), t.jobs.c.next_check_at <= now)
            .order_by(t.jobs.c.next_check_at, t.jobs.c.id)
            .limit(limit)
        )
        async with self._write() as conn:
            await self._prefer_ordered_index(conn)
            ids = list((await conn.scalars(due)).all())
            if not ids:
                return []
            claim = (
                sa.update(t.jobs)
                .where(t.jobs.c.id.in_(ids))
                .values(next_check_at=lease_until, version=t.jobs.c.version + 1)
                .returning(*t.jobs.c)
            )
            claimed = {row["id"]: job_from_row(row) for row in (await conn.execute(claim)).mappings()}
        return [claimed[job_id] for job_id in ids]

    # inbox

    async def record_callback(self, entry: InboxEntry) -> bool:
        async with self._write(single=True) as conn:
            return await self._insert_inbox(conn, entry)

    async def _insert_inbox(self, conn: AsyncConnection, entry: InboxEntry) -> bool:
        """Insert the inbox row; False when its key was there already (a duplicate callback)."""
        insert = self._insert(t.inbox).values(inbox_to_row(entry)).on_conflict_do_nothing().returning(t.inbox.c.key)
        return (await conn.execute(insert)).first() is not None

    async def mark_callback(self, key: str, outcome: InboxOutcome, note: str = "") -> None:
        update = sa.update(t.inbox).where(t.inbox.c.key == key).values(outcome=outcome.value, note=note)
        async with self._write(single=True) as conn:
            await conn.execute(update)

    async def pending_callbacks(self, limit: int) -> list[InboxEntry]:
        query = (
            sa.select(t.inbox)
            .where(sa.text(t.PENDING_INBOX))
            .order_by(t.inbox.c.received_at, t.inbox.c.key)
            .limit(limit)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [inbox_from_row(row) for row in rows]

    # outbox

    async def claim_deliveries(
        self, now: datetime, *, lease_s: float, limit: int, schemes: frozenset[str] | None = None
    ) -> list[Claim]:
        lease_until = now + timedelta(seconds=lease_s)
        ready = self._claimable(
            sa.select(t.deliveries.c.id)
            .where(
                sa.text(t.PENDING_DELIVERY),
                t.deliveries.c.next_attempt_at <= now,
                sa.or_(t.deliveries.c.lease_until.is_(None), t.deliveries.c.lease_until <= now),
                _served(schemes),
            )
            .order_by(t.deliveries.c.next_attempt_at, t.deliveries.c.id)
            .limit(limit)
        )
        # One statement (the classic queue UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)), so the
        # SQLite write lock is held for one round trip. RETURNING has no order: next_attempt_at is unchanged by
        # the claim, so the claims are sorted here, as the select ordered them.
        claim = (
            sa.update(t.deliveries)
            .where(t.deliveries.c.id.in_(ready.scalar_subquery()))
            .values(attempt=t.deliveries.c.attempt + 1, lease_until=lease_until)
            .returning(*t.deliveries.c)
        )
        async with self._write(single=True) as conn:  # single: on SQLite; PostgreSQL always has a transaction
            await self._prefer_ordered_index(conn)
            claimed = [delivery_from_row(row) for row in (await conn.execute(claim)).mappings()]
        claimed.sort(key=lambda d: (d.next_attempt_at, d.id))
        return [Claim(delivery=d, attempt=d.attempt, lease_until=d.lease_until or lease_until) for d in claimed]

    async def _mark_owned(self, claim: Claim, values: dict[str, Any]) -> Delivery:
        """Update the delivery only while ``claim`` still owns it: the attempt number is the fencing token."""
        update = (
            sa.update(t.deliveries)
            .where(
                t.deliveries.c.id == claim.delivery.id,
                t.deliveries.c.attempt == claim.attempt,
                t.deliveries.c.status == DeliveryStatus.PENDING.value,
            )
            .values(values)
            .returning(*t.deliveries.c)
        )
        async with self._write(single=True) as conn:
            row = (await conn.execute(update)).mappings().first()
        if row is None:
            raise LeaseLost(claim.delivery.id, claim.attempt)
        return delivery_from_row(row)

    async def complete_delivery(self, claim: Claim, *, receipt: str | None, now: datetime) -> Delivery:
        return await self._mark_owned(
            claim,
            {
                "status": DeliveryStatus.SENT.value,
                "receipt": receipt,
                "sent_at": now,
                "lease_until": None,
                "last_error": None,
            },
        )

    async def fail_delivery(
        self,
        claim: Claim,
        *,
        error: str,
        now: datetime,
        retry_at: datetime | None,
        status: DeliveryStatus = DeliveryStatus.FAILED,
    ) -> Delivery:
        if retry_at is not None:
            values: dict[str, Any] = {"last_error": error, "next_attempt_at": retry_at, "lease_until": None}
        else:
            values = {"last_error": error, "status": status.value, "lease_until": None}
        return await self._mark_owned(claim, values)

    async def deliveries_for(self, job_id: str) -> list[Delivery]:
        query = (
            sa.select(t.deliveries)
            .where(t.deliveries.c.job_id == job_id)
            .order_by(t.deliveries.c.created_at, t.deliveries.c.id)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [delivery_from_row(row) for row in rows]

    # ledger

    async def add_entry(self, entry: LedgerEntry) -> bool:
        insert = self._insert(t.ledger).values(entry_to_row(entry)).on_conflict_do_nothing().returning(t.ledger.c.seq)
        async with self._write(single=True) as conn:
            return (await conn.execute(insert)).first() is not None

    async def balance(self, user_id: str) -> int:
        async with self._read() as conn:
            return await _balance(conn, user_id)

    async def ledger(self, user_id: str) -> list[LedgerEntry]:
        query = sa.select(t.ledger).where(t.ledger.c.user_id == user_id).order_by(t.ledger.c.created_at, t.ledger.c.seq)
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [entry_from_row(row) for row in rows]

    async def free_uses(self, user_id: str, day: date) -> int:
        query = sa.select(t.free_uses.c.uses).where(t.free_uses.c.user_id == user_id, t.free_uses.c.day == day)
        async with self._read() as conn:
            return int(await conn.scalar(query) or 0)


async def _by_idempotency(conn: AsyncConnection, user_id: str, key: str) -> Job | None:
    query = sa.select(t.jobs).where(t.jobs.c.user_id == user_id, t.jobs.c.idempotency_key == key)
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else job_from_row(row)


async def _balance(conn: AsyncConnection, user_id: str) -> int:
    total = await conn.scalar(sa.select(sa.func.coalesce(sa.func.sum(_DELTA), 0)).where(t.ledger.c.user_id == user_id))
    return int(total or 0)
