"""SqlAlchemyJobStore: the JobStore contract (``kiegen.ports.store``) on SQLite and PostgreSQL.

SQLAlchemy describes the tables (``schema``) and Alembic migrates them; the statements of the hot paths go
straight to the driver, prepared once (``kiegen.adapters.sqlalchemy.sql``). Every write is one operation
queued to the process's one writer, which runs it in a SAVEPOINT of a shared transaction and commits once
per batch (group commit: ``sqlite.SqliteDatabase``, ``postgres.PostgresDatabase``); a caller is answered only
after the COMMIT that holds its write. Reads are single statements.

On PostgreSQL, claims lock their rows with ``FOR UPDATE SKIP LOCKED`` so that processes take disjoint rows
without waiting, a job creation for a user takes a transaction-scoped advisory lock on that user (the balance
check and the hold, or the free-quota count, are atomic), and every change to a job sends a NOTIFY that the
batch's COMMIT releases. On SQLite, ``BEGIN IMMEDIATE`` makes the batch the database's only writer.

Optimistic concurrency is ``UPDATE jobs ... WHERE id = :id AND version = :expected``. Duplicate job or task
ids raise ``ValueError`` as in the in-memory store; database trouble raises ``StoreError`` (retryable unless
the value itself was refused). It runs under asyncio and trio: the drivers run on threads the store owns.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from types import TracebackType
from typing import Any, Literal, Self

import attrs
from sqlalchemy.engine import URL, make_url

from kiegen.adapters.sqlalchemy import console_sql as cq
from kiegen.adapters.sqlalchemy import schema as t
from kiegen.adapters.sqlalchemy.engine import redacted
from kiegen.adapters.sqlalchemy.migrate import migrate
from kiegen.adapters.sqlalchemy.rows import (
    DELIVERY_COLUMNS,
    JOB_COLUMNS,
    LEDGER_COLUMNS,
    delivery_from_row,
    delivery_params,
    entry_from_row,
    entry_params,
    event_from_row,
    event_params,
    inbox_from_row,
    inbox_params,
    job_from_row,
    job_params,
)
from kiegen.adapters.sqlalchemy.sql import Conn, IntegrityViolation, Sql, postgres_only, sql
from kiegen.core.billing import LedgerEntry, LedgerKind, hold_for, require_debit, utc_day, within_balance
from kiegen.core.delivery import Claim, Delivery, DeliveryStatus, InboxEntry
from kiegen.core.errors import (
    ConcurrencyConflict,
    ConfigurationError,
    DuplicateEvent,
    InsufficientCredits,
    JobNotFound,
    LeaseLost,
    QuotaExceeded,
)
from kiegen.core.events import JobEvent
from kiegen.core.jobs import Job
from kiegen.ports.console import (
    TELEGRAM_THROTTLED_PREFIX,
    AuditEntry,
    Cursor,
    Health,
    JobFilter,
    JobPage,
    JobStats,
    KieCalls,
    Taken,
)
from kiegen.ports.store import Created

__all__ = ["SqlAlchemyJobStore", "open_database"]

# Namespace of the per-user advisory locks (pg_advisory_xact_lock(namespace, hashtext(user_id))).
_USER_LOCK_NAMESPACE = 0x6B6965  # "kie"


def _columns(names: Sequence[str]) -> str:
    return ", ".join(names)


def _values(names: Sequence[str]) -> str:
    return ", ".join(f":{name}" for name in names)


def _delta_sql() -> str:
    # The balance rule lives in core (LedgerEntry.delta); the SQL sum restates it from there.
    cases = []
    for kind in LedgerKind:
        unit = LedgerEntry(key="", user_id="", kind=kind, amount=1, created_at=datetime.now(UTC)).delta
        if unit:
            cases.append(f"WHEN '{kind.value}' THEN {'' if unit > 0 else '-'}amount")
    return f"CASE kind {' '.join(cases)} ELSE 0 END"


_JOBS = ", ".join(JOB_COLUMNS)
"""The job columns in the order ``job_from_row`` reads them (every job query names them: never ``*``)."""
_JOB_BY_ID = sql(f"SELECT {_JOBS} FROM jobs WHERE id = :id")
_JOB_BY_TASK = sql(f"SELECT {_JOBS} FROM jobs WHERE task_id = :task_id")
_JOB_AND_SEEN = sql(
    f"SELECT {_JOBS}, EXISTS (SELECT 1 FROM inbox WHERE inbox.key = :key) AS seen FROM jobs WHERE jobs.id = :id"
)
_JOB_EXISTS = sql("SELECT 1 FROM jobs WHERE id = :id")
_JOB_BY_IDEMPOTENCY = sql(f"SELECT {_JOBS} FROM jobs WHERE user_id = :user_id AND idempotency_key = :idempotency_key")
_JOB_INSERT = sql(f"INSERT INTO jobs ({_columns(JOB_COLUMNS)}) VALUES ({_values(JOB_COLUMNS)})")


@functools.cache
def _job_update(columns: frozenset[str]) -> Sql:
    """UPDATE of ``columns`` only (with the version check): SQLite and PostgreSQL then leave the indexes of the
    other columns alone, and their values are not sent at all."""
    assignments = ", ".join(f"{c} = :{c}" for c in JOB_COLUMNS if c in columns)
    return sql(f"UPDATE jobs SET {assignments} WHERE id = :id AND version = :expected_version RETURNING id")


@functools.cache
def _pg_save(columns: frozenset[str]) -> Sql:
    """PostgreSQL: the whole of ``save`` in one statement, one round trip (the batch's savepoint around it
    still undoes it all when the operation fails afterwards). The inbox row comes first; the job is updated
    only if that row was new (or there is none) and its version is the expected one; the ledger entries, the
    deliveries and the story are written only if the job was."""
    assignments = ", ".join(f"{c} = :{c}" for c in JOB_COLUMNS if c in columns)
    inbox_values = ", ".join(f":inbox_{c}::{_INBOX_TYPES[c]}" for c in _INBOX_COLUMNS)
    return postgres_only(
        f"""
WITH ins AS (
  INSERT INTO inbox ({_columns(_INBOX_COLUMNS)}) SELECT {inbox_values} WHERE :has_inbox::boolean
  ON CONFLICT (key) DO NOTHING RETURNING key
), upd AS (
  UPDATE jobs SET {assignments} WHERE id = :id AND version = :expected_version
  AND (NOT :has_inbox OR EXISTS (SELECT 1 FROM ins)) RETURNING id
), led AS (
  INSERT INTO ledger ({_columns(LEDGER_COLUMNS)})
  SELECT * FROM unnest(:l_key::text[], :l_user_id::text[], :l_kind::text[], :l_amount::int[],
                       :l_created_at::timestamptz[], :l_job_id::text[], :l_note::text[])
  WHERE EXISTS (SELECT 1 FROM upd) ON CONFLICT (key) DO NOTHING
), dlv AS (
  INSERT INTO deliveries ({_columns(DELIVERY_COLUMNS)})
  SELECT * FROM unnest(:d_id::text[], :d_job_id::text[], :d_recipient::text[], :d_status::text[],
                       :d_attempt::int[], :d_lease_until::timestamptz[], :d_next_attempt_at::timestamptz[],
                       :d_created_at::timestamptz[], :d_last_error::text[], :d_receipt::text[],
                       :d_sent_at::timestamptz[])
  WHERE EXISTS (SELECT 1 FROM upd) ON CONFLICT (id) DO NOTHING
), evt AS (
  INSERT INTO job_events (job_id, at, kind, detail)
  SELECT e.job_id, e.at, e.kind, e.detail::jsonb
  FROM unnest(:e_job_id::text[], :e_at::timestamptz[], :e_kind::text[], :e_detail::text[])
       AS e(job_id, at, kind, detail)
  WHERE EXISTS (SELECT 1 FROM upd)
)
SELECT EXISTS (SELECT 1 FROM ins) AS inserted, EXISTS (SELECT 1 FROM upd) AS updated"""
    )


def _columnwise(prefix: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> dict[str, list[Any]]:
    """Rows as one array per column (``unnest`` turns them back into rows)."""
    return {f"{prefix}{column}": [row[column] for row in rows] for column in columns}


_ALL_BUT_ID = frozenset(JOB_COLUMNS) - {"id"}
_JOB_FIELDS = tuple(c for c in JOB_COLUMNS if c != "id")
_JOBS_NEWEST = sql(f"SELECT {_JOBS} FROM jobs ORDER BY created_at DESC, id DESC LIMIT :limit")
_JOBS_OF_USER = sql(f"SELECT {_JOBS} FROM jobs WHERE user_id = :user_id ORDER BY created_at DESC, id DESC LIMIT :limit")
_JOB_COUNTS = sql("SELECT status, count(*) AS n FROM jobs GROUP BY status")
# PostgreSQL: one statement, the due ids (oldest due first) locked and moved to the end of the lease; ``due``
# is when each was due, to return them in that order (RETURNING has none). SQLite (whose RETURNING cannot name
# the FROM table, and whose batch is the only writer anyway): the ids first, then the update.
_CLAIM_CHECKS = postgres_only(
    "UPDATE jobs SET next_check_at = :lease_until, version = jobs.version + 1 "
    f"FROM (SELECT id AS due_id, next_check_at AS due FROM jobs WHERE {t.ACTIVE_JOB} AND next_check_at <= :now "
    "ORDER BY next_check_at, id LIMIT :limit FOR UPDATE SKIP LOCKED) AS d WHERE jobs.id = d.due_id "
    f"RETURNING {', '.join(f'jobs.{c}' for c in JOB_COLUMNS)}, d.due"
)
_DUE_IDS = sql(
    f"SELECT id FROM jobs WHERE {t.ACTIVE_JOB} AND next_check_at <= :now ORDER BY next_check_at, id LIMIT :limit"
)
_LEASE_CHECKS = sql(
    "UPDATE jobs SET next_check_at = :lease_until, version = version + 1 "
    f"WHERE id IN (SELECT value FROM json_each(:ids)) RETURNING {_JOBS}"
)
_LOCK_USER = sql("SELECT :namespace, :user_id", postgres="SELECT pg_advisory_xact_lock(:namespace, hashtext(:user_id))")

_INBOX_COLUMNS = ("key", "job_id", "task_id", "body", "received_at", "outcome", "note")
_INBOX_TYPES = dict.fromkeys(_INBOX_COLUMNS, "text") | {"body": "bytea", "received_at": "timestamptz"}
_INBOX_INSERT = sql(
    f"INSERT INTO inbox ({_columns(_INBOX_COLUMNS)}) VALUES ({_values(_INBOX_COLUMNS)}) "
    "ON CONFLICT (key) DO NOTHING RETURNING key"
)

_INBOX_OF_JOB = sql("SELECT * FROM inbox WHERE job_id = :job_id ORDER BY received_at, key")

_DELIVERY_INSERT = sql(
    f"INSERT INTO deliveries ({_columns(DELIVERY_COLUMNS)}) VALUES ({_values(DELIVERY_COLUMNS)}) "
    "ON CONFLICT (id) DO NOTHING"
)
_DELIVERIES_OF_JOB = sql("SELECT * FROM deliveries WHERE job_id = :job_id ORDER BY created_at, id")
_OWNED = "WHERE id = :id AND attempt = :attempt AND status = 'pending' RETURNING *"


def _mark(assignments: str) -> Sql:
    """Mark a delivery its claim still owns; on PostgreSQL the attempt's event goes in the same statement (one
    round trip), on SQLite in a second one."""
    update = f"UPDATE deliveries SET {assignments}, lease_until = NULL {_OWNED}"
    return sql(
        update,
        postgres=f"WITH upd AS ({update}), evt AS (INSERT INTO job_events (job_id, at, kind, detail) "
        "SELECT :e_job_id::text, :e_at::timestamptz, :e_kind::text, :e_detail::jsonb WHERE EXISTS (SELECT 1 FROM upd)) "
        "SELECT * FROM upd",
    )


_DELIVERY_SENT = _mark("status = 'sent', receipt = :receipt, sent_at = :now, last_error = NULL")
_DELIVERY_RETRY = _mark("last_error = :error, next_attempt_at = :retry_at")
_DELIVERY_END = _mark("last_error = :error, status = :status")

_LEDGER_INSERT = sql(
    f"INSERT INTO ledger ({_columns(LEDGER_COLUMNS)}) VALUES ({_values(LEDGER_COLUMNS)}) "
    "ON CONFLICT (key) DO NOTHING RETURNING seq"
)
_BALANCE = sql(f"SELECT coalesce(sum({_delta_sql()}), 0) FROM ledger WHERE user_id = :user_id")
_LEDGER_OF_USER = sql("SELECT * FROM ledger WHERE user_id = :user_id ORDER BY created_at, seq")
_FREE_USES = sql("SELECT uses FROM free_uses WHERE user_id = :user_id AND day = :day")
_FREE_USE_COUNT = sql(
    "INSERT INTO free_uses (user_id, day, uses) VALUES (:user_id, :day, 1) "
    "ON CONFLICT (user_id, day) DO UPDATE SET uses = free_uses.uses + 1"
)

_EVENT_INSERT = sql("INSERT INTO job_events (job_id, at, kind, detail) VALUES (:job_id, :at, :kind, :detail)")
_EVENTS_OF_JOB = sql("SELECT * FROM job_events WHERE job_id = :job_id ORDER BY seq")

_REVISION = sql("SELECT version_num FROM alembic_version")


@functools.cache
def _claim_deliveries_sql(schemes: tuple[str, ...] | None, excluding: bool) -> Sql:
    """Claim due deliveries in one statement (the classic queue UPDATE ... WHERE id IN (SELECT ... FOR UPDATE
    SKIP LOCKED)); ``schemes`` restricts them to recipients this process can send to; ``excluding`` leaves out
    the ids of ``:exclude`` (JSON text on SQLite, an array on PostgreSQL)."""
    served = ""
    if schemes is not None:
        # substr, not LIKE: SQLite's LIKE ignores case, and no character of a scheme is a wildcard here.
        terms = [
            f"recipient = :scheme{i} OR substr(recipient, 1, {len(s) + 1}) = :prefix{i}" for i, s in enumerate(schemes)
        ]
        served = f" AND ({' OR '.join(f'({term})' for term in terms) or 'FALSE'})"
    ready = (
        f"SELECT id FROM deliveries WHERE {t.PENDING_DELIVERY} AND next_attempt_at <= :now "
        "AND (lease_until IS NULL OR lease_until <= :now){served}{excluded} ORDER BY next_attempt_at, id LIMIT :limit"
    )
    sqlite_ready = ready.format(
        served=served, excluded=" AND id NOT IN (SELECT value FROM json_each(:exclude))" if excluding else ""
    )
    pg_ready = ready.format(served=served, excluded=" AND id <> ALL(:exclude::text[])" if excluding else "")
    update = "UPDATE deliveries SET attempt = attempt + 1, lease_until = :lease_until WHERE id IN ({}) RETURNING *"
    return sql(update.format(sqlite_ready), postgres=update.format(pg_ready + " FOR UPDATE SKIP LOCKED"))


def _scheme_params(schemes: tuple[str, ...] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for i, scheme in enumerate(schemes or ()):
        params[f"scheme{i}"] = scheme
        params[f"prefix{i}"] = f"{scheme}:"
    return params


def open_database(
    url: str | URL,
    *,
    schema: str | None = None,
    readers: int | None = None,
    max_batch: int = 256,
    before_commit: Callable[[int], None] | None = None,
    sqlite_reads: Literal["inline", "thread"] = "inline",
    sqlite_writes: Literal["inline", "thread"] = "inline",
) -> Any:
    """The database behind a store (not started): ``SqliteDatabase`` or ``PostgresDatabase``."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigurationError(f"KIEGEN_DATABASE_URL is not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        from kiegen.adapters.sqlalchemy.sqlite import SqliteDatabase

        path = parsed.database or ""
        if path in ("", ":memory:") or path.startswith("file:"):
            raise ConfigurationError(
                f"KIEGEN_DATABASE_URL {redacted(parsed)!r}: the SQL store needs a database file "
                "(sqlite:///path/to/kiegen.db); for a store in memory use kiegen.adapters.memory"
            )
        return SqliteDatabase(
            path, max_batch=max_batch, reads=sqlite_reads, writes=sqlite_writes, before_commit=before_commit
        )
    if backend == "postgresql":
        from kiegen.adapters.sqlalchemy.postgres import PostgresDatabase

        return PostgresDatabase(
            parsed, schema=schema, readers=readers or 4, max_batch=max_batch, before_commit=before_commit
        )
    raise ConfigurationError(
        f"KIEGEN_DATABASE_URL {redacted(parsed)!r}: kiegen supports sqlite:///path and postgresql://..."
    )


class SqlAlchemyJobStore:
    """``await SqlAlchemyJobStore.open(url)`` (migrates by default), or ``SqlAlchemyJobStore.from_url(url)``
    entered with ``async with``; close with ``aclose()``. ``schema`` (PostgreSQL only) puts the tables in that
    schema. ``before_commit`` is for the crash harness only (see the databases)."""

    def __init__(self, database: Any, *, url: str | URL, schema: str | None = None, migrate: bool = True) -> None:
        self._db = database
        self.url = url
        self.schema = schema
        self._migrate = migrate
        self._started = False
        self._postgres = database.dialect == "postgresql"

    @classmethod
    def from_url(
        cls,
        url: str | URL,
        *,
        migrate: bool = True,
        schema: str | None = None,
        pool_size: int | None = None,
        max_batch: int = 256,
        before_commit: Callable[[int], None] | None = None,
        sqlite_reads: Literal["inline", "thread"] = "inline",
    ) -> SqlAlchemyJobStore:
        database = open_database(
            url,
            schema=schema,
            readers=pool_size,
            max_batch=max_batch,
            before_commit=before_commit,
            sqlite_reads=sqlite_reads,
        )
        return cls(database, url=url, schema=schema, migrate=migrate)

    @classmethod
    async def open(cls, url: str | URL, **options: Any) -> SqlAlchemyJobStore:
        store = cls.from_url(url, **options)
        await store.start()
        return store

    @property
    def database(self) -> Any:
        """The database this store writes through (the bot store and the leader lock share it)."""
        return self._db

    @property
    def dialect(self) -> str:
        return str(self._db.dialect)

    async def start(self) -> None:
        if self._started:
            return
        await self._db.prepare()
        if self._migrate:
            await migrate(self.url, schema=self.schema)
        await self._db.start()
        self._started = True

    async def aclose(self) -> None:
        self._started = False
        await self._db.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # jobs

    async def create_job(self, job: Job, *, free_quota: int | None = None, events: Sequence[JobEvent] = ()) -> Created:
        return await self._db.write(functools.partial(self._create_job, job, free_quota, events))  # type: ignore[no-any-return]

    async def _create_job(self, job: Job, free_quota: int | None, events: Sequence[JobEvent], c: Conn) -> Created:
        hold = hold_for(job)
        if job.user_id is not None:
            if self._postgres:
                await c.fetchval(_LOCK_USER, {"namespace": _USER_LOCK_NAMESPACE, "user_id": job.user_id})
            if job.idempotency_key is not None:
                row = await c.fetchrow(
                    _JOB_BY_IDEMPOTENCY, {"user_id": job.user_id, "idempotency_key": job.idempotency_key}
                )
                if row is not None:
                    return Created(job_from_row(c, row), created=False)
        if await c.fetchval(_JOB_EXISTS, {"id": job.id}) is not None:
            raise ValueError(f"job id {job.id!r} already exists")
        if hold is not None:
            balance = int(await c.fetchval(_BALANCE, {"user_id": hold.user_id}) or 0)
            if balance < hold.amount:
                raise InsufficientCredits(hold.user_id, balance=balance, needed=hold.amount)
        if job.price <= 0 and job.user_id is not None and free_quota is not None:
            day = {"user_id": job.user_id, "day": c.day(utc_day(job.created_at))}
            if (await c.fetchval(_FREE_USES, day) or 0) >= free_quota:
                raise QuotaExceeded(job.user_id, limit=free_quota)
            await c.execute(_FREE_USE_COUNT, day)
        try:
            if hold is not None:
                await c.fetchval(_LEDGER_INSERT, entry_params(c, hold))
            await c.execute(_JOB_INSERT, job_params(c, job))
        except IntegrityViolation:
            # Only a duplicate task id gets here: ids and idempotency keys were checked under the lock.
            raise ValueError(f"job {job.id!r}: its id or task id {job.task_id!r} is already stored") from None
        await self._insert_events(c, [JobEvent.created(job), *events])
        c.notify(job.id)
        return Created(job, created=True)

    async def get(self, job_id: str) -> Job | None:
        return await self._db.read(functools.partial(_one_job, _JOB_BY_ID, {"id": job_id}))  # type: ignore[no-any-return]

    async def get_by_task(self, task_id: str) -> Job | None:
        return await self._db.read(functools.partial(_one_job, _JOB_BY_TASK, {"task_id": task_id}))  # type: ignore[no-any-return]

    async def get_with_inbox(self, job_id: str, inbox_key: str) -> tuple[Job | None, bool]:
        async def op(c: Conn) -> tuple[Job | None, bool]:
            row = await c.fetchrow(_JOB_AND_SEEN, {"id": job_id, "key": inbox_key})
            return (None, False) if row is None else (job_from_row(c, row), c.read_bool(row["seen"]))

        return await self._db.read(op)  # type: ignore[no-any-return]

    async def save(
        self,
        job: Job,
        *,
        expected_version: int,
        ledger: Sequence[LedgerEntry] = (),
        deliveries: Sequence[Delivery] = (),
        inbox: InboxEntry | None = None,
        events: Sequence[JobEvent] = (),
        previous: Job | None = None,
    ) -> Job:
        stored = attrs.evolve(job, version=expected_version + 1)
        if previous is not None and previous.version == expected_version and previous.id == job.id:
            changed = frozenset(name for name in _JOB_FIELDS if getattr(stored, name) != getattr(previous, name))
        else:
            changed = _ALL_BUT_ID
        update = _job_update(changed)

        async def pg_op(c: Conn) -> Job:
            params: dict[str, Any] = {
                **job_params(c, stored, changed),
                "id": job.id,
                "expected_version": expected_version,
                "has_inbox": inbox is not None,
                **{f"inbox_{k}": v for k, v in (inbox_params(c, inbox) if inbox else _NO_INBOX).items()},
                **_columnwise("l_", [entry_params(c, e) for e in ledger], LEDGER_COLUMNS),
                **_columnwise("d_", [delivery_params(c, d) for d in deliveries], DELIVERY_COLUMNS),
                **_columnwise("e_", [_event_text(c, e) for e in events], ("job_id", "at", "kind", "detail")),
            }
            try:
                row = await c.fetchrow(_pg_save(changed), params)
            except IntegrityViolation:
                raise ValueError(f"job {job.id!r}: task id {job.task_id!r} already belongs to another job") from None
            assert row is not None
            if inbox is not None and not row["inserted"]:
                raise DuplicateEvent(inbox.key)
            if not row["updated"]:
                if await c.fetchval(_JOB_EXISTS, {"id": job.id}) is None:
                    raise JobNotFound(job.id)
                raise ConcurrencyConflict(job.id)
            c.notify(job.id)
            return stored

        async def op(c: Conn) -> Job:
            # The inbox row first, so that a duplicate writes nothing; a later failure rolls it back too.
            if inbox is not None and await c.fetchval(_INBOX_INSERT, inbox_params(c, inbox)) is None:
                raise DuplicateEvent(inbox.key)
            try:
                params = job_params(c, stored, changed)
                updated = await c.fetchval(update, {**params, "id": job.id, "expected_version": expected_version})
            except IntegrityViolation:
                raise ValueError(f"job {job.id!r}: task id {job.task_id!r} already belongs to another job") from None
            if updated is None:
                if await c.fetchval(_JOB_EXISTS, {"id": job.id}) is None:
                    raise JobNotFound(job.id)
                raise ConcurrencyConflict(job.id)
            for entry in ledger:
                await c.fetchval(_LEDGER_INSERT, entry_params(c, entry))
            for delivery in deliveries:
                await c.execute(_DELIVERY_INSERT, delivery_params(c, delivery))
            await self._insert_events(c, events)
            c.notify(job.id)
            return stored

        return await self._db.write(pg_op if self._postgres else op)  # type: ignore[no-any-return]

    async def _insert_events(self, c: Conn, events: Sequence[JobEvent]) -> None:
        for event in events:
            await c.execute(_EVENT_INSERT, event_params(c, event))

    async def list_jobs(self, *, user_id: str | None = None, limit: int = 50) -> list[Job]:
        async def op(c: Conn) -> list[Job]:
            if user_id is None:
                rows = await c.fetch(_JOBS_NEWEST, {"limit": limit})
            else:
                rows = await c.fetch(_JOBS_OF_USER, {"user_id": user_id, "limit": limit})
            return [job_from_row(c, row) for row in rows]

        return await self._db.read(op)  # type: ignore[no-any-return]

    async def claim_due_checks(self, now: datetime, *, lease_until: datetime, limit: int) -> list[Job]:
        async def op(c: Conn) -> list[Job]:
            params = {"now": c.ts(now), "limit": limit, "lease_until": c.ts(lease_until)}
            if self._postgres:
                rows = sorted(await c.fetch(_CLAIM_CHECKS, params), key=lambda row: (row["due"], row["id"]))
            else:
                ids = [row["id"] for row in await c.fetch(_DUE_IDS, params)]
                if not ids:
                    return []
                leased = {row["id"]: row for row in await c.fetch(_LEASE_CHECKS, {**params, "ids": json.dumps(ids)})}
                rows = [leased[job_id] for job_id in ids]
            for row in rows:
                c.notify(row["id"])
            return [job_from_row(c, row) for row in rows]

        return await self._db.write(op)  # type: ignore[no-any-return]

    # inbox

    async def record_callback(self, entry: InboxEntry, *, events: Sequence[JobEvent] = ()) -> bool:
        async def op(c: Conn) -> bool:
            if await c.fetchval(_INBOX_INSERT, inbox_params(c, entry)) is None:
                return False
            await self._insert_events(c, events)
            return True

        return await self._db.write(op)  # type: ignore[no-any-return]

    async def callbacks_for(self, job_id: str) -> list[InboxEntry]:
        async def op(c: Conn) -> list[InboxEntry]:
            return [inbox_from_row(c, row) for row in await c.fetch(_INBOX_OF_JOB, {"job_id": job_id})]

        return await self._db.read(op)  # type: ignore[no-any-return]

    # outbox

    async def claim_deliveries(
        self,
        now: datetime,
        *,
        lease_s: float,
        limit: int,
        schemes: frozenset[str] | None = None,
        exclude: Collection[str] = (),
    ) -> list[Claim]:
        lease_until = now + timedelta(seconds=lease_s)
        ordered = None if schemes is None else tuple(sorted(schemes))
        statement = _claim_deliveries_sql(ordered, bool(exclude))

        async def op(c: Conn) -> list[Delivery]:
            params = {"now": c.ts(now), "limit": limit, "lease_until": c.ts(lease_until), **_scheme_params(ordered)}
            if exclude:
                params["exclude"] = sorted(exclude) if self._postgres else json.dumps(sorted(exclude))
            rows = await c.fetch(statement, params)
            return [delivery_from_row(c, row) for row in rows]

        claimed: list[Delivery] = await self._db.write(op)
        # RETURNING has no order: next_attempt_at is unchanged by the claim, so sort as the select ordered them.
        claimed.sort(key=lambda d: (d.next_attempt_at, d.id))
        return [Claim(delivery=d, attempt=d.attempt, lease_until=d.lease_until or lease_until) for d in claimed]

    async def _mark_owned(self, claim: Claim, statement: Sql, params: dict[str, Any], event: JobEvent) -> Delivery:
        """Update the delivery only while ``claim`` still owns it (the attempt number is the fencing token),
        and add the attempt to the job's story."""

        async def op(c: Conn) -> Delivery:
            values = {"id": claim.delivery.id, "attempt": claim.attempt, "now": event.at, **params}
            values = {k: c.ts(v) if isinstance(v, datetime) else v for k, v in values.items()}
            if self._postgres:
                values |= {f"e_{k}": v for k, v in event_params(c, event).items()}
            row = await c.fetchrow(statement, values)
            if row is None:
                raise LeaseLost(claim.delivery.id, claim.attempt)
            if not self._postgres:
                await c.execute(_EVENT_INSERT, event_params(c, event))
            return delivery_from_row(c, row)

        return await self._db.write(op)  # type: ignore[no-any-return]

    async def complete_delivery(self, claim: Claim, *, receipt: str | None, now: datetime) -> Delivery:
        event = JobEvent.delivery_attempt(claim, now=now, outcome="sent")
        return await self._mark_owned(claim, _DELIVERY_SENT, {"receipt": receipt}, event)

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
            event = JobEvent.delivery_attempt(claim, now=now, outcome="deferred", error=error, retry_at=retry_at)
            return await self._mark_owned(claim, _DELIVERY_RETRY, {"error": error, "retry_at": retry_at}, event)
        event = JobEvent.delivery_attempt(claim, now=now, outcome=status.value, error=error)
        return await self._mark_owned(claim, _DELIVERY_END, {"error": error, "status": status.value}, event)

    async def deliveries_for(self, job_id: str) -> list[Delivery]:
        async def op(c: Conn) -> list[Delivery]:
            return [delivery_from_row(c, row) for row in await c.fetch(_DELIVERIES_OF_JOB, {"job_id": job_id})]

        return await self._db.read(op)  # type: ignore[no-any-return]

    # ledger

    async def add_entry(self, entry: LedgerEntry) -> bool:
        async def op(c: Conn) -> bool:
            return await c.fetchval(_LEDGER_INSERT, entry_params(c, entry)) is not None

        return await self._db.write(op)  # type: ignore[no-any-return]

    async def balance(self, user_id: str) -> int:
        async def op(c: Conn) -> int:
            return int(await c.fetchval(_BALANCE, {"user_id": user_id}) or 0)

        return await self._db.read(op)  # type: ignore[no-any-return]

    async def ledger(self, user_id: str) -> list[LedgerEntry]:
        async def op(c: Conn) -> list[LedgerEntry]:
            return [entry_from_row(c, row) for row in await c.fetch(_LEDGER_OF_USER, {"user_id": user_id})]

        return await self._db.read(op)  # type: ignore[no-any-return]

    async def free_uses(self, user_id: str, day: date) -> int:
        async def op(c: Conn) -> int:
            return int(await c.fetchval(_FREE_USES, {"user_id": user_id, "day": c.day(day)}) or 0)

        return await self._db.read(op)  # type: ignore[no-any-return]

    # the job's story, and what operators look at

    async def add_events(self, events: Sequence[JobEvent]) -> None:
        async def op(c: Conn) -> None:
            await self._insert_events(c, events)

        if events:
            await self._db.write(op)

    async def events_for(self, job_id: str) -> list[JobEvent]:
        async def op(c: Conn) -> list[JobEvent]:
            return [event_from_row(c, row) for row in await c.fetch(_EVENTS_OF_JOB, {"job_id": job_id})]

        return await self._db.read(op)  # type: ignore[no-any-return]

    async def job_counts(self) -> dict[str, int]:
        """Jobs by status."""

        async def op(c: Conn) -> dict[str, int]:
            return {row["status"]: int(row["n"]) for row in await c.fetch(_JOB_COUNTS)}

        return await self._db.read(op)  # type: ignore[no-any-return]

    async def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None before the first migration)."""

        async def op(c: Conn) -> str | None:
            return await c.fetchval(_REVISION)  # type: ignore[no-any-return]

        return await self._db.read(op)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------------------------------------------------
    # The operator console's queries (``kiegen.ports.console.ConsoleQueries``), apart from the JobStore's hot paths:
    # their statements are in ``console_sql``.

    async def find_jobs(self, where: JobFilter, *, before: Cursor | None = None, limit: int = 50) -> JobPage:
        async def op(c: Conn) -> JobPage:
            fields, params = cq.job_filter_params(c, where, before)
            rows = await c.fetch(cq.find_jobs_sql(fields), {**params, "limit": max(0, limit) + 1})
            jobs = [job_from_row(c, row) for row in rows[: max(0, limit)]]
            more = len(rows) > len(jobs) and jobs
            return JobPage(jobs, Cursor(jobs[-1].created_at, jobs[-1].id) if more else None)

        return await self._db.read(op)  # type: ignore[no-any-return]

    async def ledger_of_job(self, user_id: str, job_id: str) -> list[LedgerEntry]:
        async def op(c: Conn) -> list[LedgerEntry]:
            rows = await c.fetch(cq.JOB_LEDGER, {"user_id": user_id, "job_id": job_id})
            return [entry_from_row(c, row) for row in rows]

        return await self._db.read(op)  # type: ignore[no-any-return]

    async def health(self, now: datetime) -> Health:
        since = now - timedelta(hours=1)
        day_start = datetime.combine(utc_day(now), time(), tzinfo=UTC)

        async def op(c: Conn) -> Health:
            window = {"since": c.ts(since), "now": c.ts(now)}
            pending = await c.fetchrow(cq.PENDING_DELIVERIES, {"now": c.ts(now)})
            assert pending is not None
            callbacks = {row["outcome"]: int(row["n"]) for row in await c.fetch(cq.INBOX_OUTCOMES, window)}
            figures = await c.fetchrow(cq.EVENT_FIGURES, {**window, "throttled": TELEGRAM_THROTTLED_PREFIX})
            assert figures is not None
            if figures["untrusted"]:
                callbacks["untrusted"] = int(figures["untrusted"])
            credits = await c.fetch(cq.KIE_CREDITS, {"day_start": c.ts(day_start), "now": c.ts(now)})
            kie = {name: int(figures[name]) for name in ("created", "create_errors", "checks", "check_errors")}
            return Health(
                at=now,
                pending_deliveries=int(pending["pending"]),
                due_deliveries=int(pending["due"]),
                oldest_pending_delivery=c.read_ts(pending["oldest"]),
                callbacks=callbacks,
                kie=KieCalls(**kie, tasks_failed=int(figures["tasks_failed"])),
                deliveries={k: int(figures[k]) for k in cq.DELIVERY_OUTCOMES if figures[k]},
                telegram_throttled=int(figures["throttled"]),
                kie_credits_today={row["model"]: float(row["credits"]) for row in credits},
            )

        return await self._db.read(op)  # type: ignore[no-any-return]

    async def retry_delivery(
        self, delivery_id: str, *, now: datetime, events: Sequence[JobEvent] = ()
    ) -> Delivery | None:
        async def op(c: Conn) -> Delivery | None:
            row = await c.fetchrow(cq.DELIVERY_RETRY, {"id": delivery_id, "now": c.ts(now)})
            if row is None:
                return None
            await self._insert_events(c, events)
            return delivery_from_row(c, row)

        return await self._db.write(op)  # type: ignore[no-any-return]

    async def job_stats(self, since: datetime, until: datetime) -> JobStats:
        async def op(c: Conn) -> JobStats:
            window = {"since": c.ts(since), "until": c.ts(until)}
            jobs: dict[str, dict[str, int]] = {}
            credits = 0.0
            for row in await c.fetch(cq.JOB_STATS, window):
                jobs.setdefault(row["model"], {})[row["status"]] = int(row["n"])
                credits += float(row["credits"])
            failures = {row["code"]: int(row["n"]) for row in await c.fetch(cq.JOB_FAILURES, window)}
            return JobStats(since=since, until=until, jobs=jobs, failures=failures, kie_credits=credits)

        return await self._db.read(op)  # type: ignore[no-any-return]

    async def take_credits(self, entry: LedgerEntry, *, up_to: bool = False) -> Taken:
        require_debit(entry)

        async def op(c: Conn) -> Taken:
            # The same per-user lock as a job's hold: the balance read and the debit are one step for this user.
            if self._postgres:
                await c.fetchval(_LOCK_USER, {"namespace": _USER_LOCK_NAMESPACE, "user_id": entry.user_id})
            existing = await c.fetchrow(cq.LEDGER_BY_KEY, {"key": entry.key})
            balance = int(await c.fetchval(_BALANCE, {"user_id": entry.user_id}) or 0)
            if existing is not None:
                return Taken(entry=entry_from_row(c, existing), created=False, balance=balance)
            stored = within_balance(entry, balance, up_to=up_to)
            await c.fetchval(_LEDGER_INSERT, entry_params(c, stored))
            return Taken(entry=stored, created=True, balance=balance - stored.amount)

        return await self._db.write(op)  # type: ignore[no-any-return]

    async def record_audit(self, entry: AuditEntry) -> None:
        async def op(c: Conn) -> None:
            await c.execute(cq.AUDIT_INSERT, cq.audit_params(c, entry))

        await self._db.write(op)

    async def audit_log(
        self, *, job_id: str | None = None, before: int | None = None, limit: int = 50
    ) -> list[AuditEntry]:
        async def op(c: Conn) -> list[AuditEntry]:
            params: dict[str, Any] = {"limit": max(0, limit)}
            if job_id is not None:
                params["job_id"] = job_id
            if before is not None:
                params["before"] = before
            rows = await c.fetch(cq.audit_sql(job_id is not None, before is not None), params)
            return [cq.audit_from_row(c, row) for row in rows]

        return await self._db.read(op)  # type: ignore[no-any-return]


_NO_INBOX = dict.fromkeys(_INBOX_COLUMNS)


def _event_text(c: Conn, event: JobEvent) -> dict[str, Any]:
    """An event's parameters with its detail as JSON text (PostgreSQL casts it back to jsonb)."""
    return {"job_id": event.job_id, "at": c.ts(event.at), "kind": event.kind, "detail": json.dumps(dict(event.detail))}


async def _one_job(statement: Sql, params: dict[str, Any], c: Conn) -> Job | None:
    row = await c.fetchrow(statement, params)
    return None if row is None else job_from_row(c, row)
