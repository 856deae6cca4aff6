"""Store benchmark: lookups at a large jobs table, and writes through the one writer, on SQLite and PostgreSQL.

    python benchmarks/bench_store.py [--jobs 1000000] [--engines sqlite,postgres] [--queries 2000]
                                     [--writers 32] [--writes 4000]

PostgreSQL comes from KIEGEN_BENCH_POSTGRES_URL or KIEGEN_TEST_POSTGRES_URL (skipped when neither is set) and
runs in a throwaway schema. Printed per engine, side by side:

- **lookups at ``--jobs`` jobs**: p50/p99 of "job by task id" as the bare SQL query on the raw driver (the
  baseline), then through ``SqlAlchemyJobStore.get_by_task`` under asyncio and under trio, and the ratio of the
  store's p99 to the raw driver's; claims of jobs due for a check; EXPLAIN output showing the indexes used;
- **writes**: a callback's write (inbox row, job update, delivery, two story events) as the raw driver does it
  one transaction per write, one caller at a time (the baseline), and through the store with ``--writers``
  concurrent callers (group commit: one writer, a savepoint each, one COMMIT per batch), with the mean batch;
- **deliveries**: 8 workers claiming and completing 5,000 deliveries.

Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio  # noqa: TID251 -- the SQLAlchemy adapters are asyncio-only
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import attrs
import sqlalchemy as sa

from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore, migrate
from kiegen.adapters.sqlalchemy import schema as t
from kiegen.adapters.sqlalchemy.engine import redacted
from kiegen.core.delivery import Delivery, InboxEntry
from kiegen.core.events import EventKind, JobEvent
from kiegen.core.jobs import Job, JobStatus

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
ACTIVE_EVERY = 100  # 1% of the jobs are still running; the rest is history
DELIVERIES = 5_000
WORKERS = 8
DUE_SQL = f"SELECT id FROM jobs WHERE {t.ACTIVE_JOB} AND next_check_at <= {{now}} ORDER BY next_check_at, id LIMIT 10"
TASK_SQL = "SELECT * FROM jobs WHERE task_id = {task}"


def job_rows(count: int, stamp: Callable[[datetime], Any]) -> Iterator[tuple[Any, ...]]:
    """Rows in ``t.jobs.c`` order; ``stamp`` turns a datetime into what the driver stores. Written for speed:
    a million rows must load in well under a minute."""
    assert [c.name for c in t.jobs.c] == JOB_COLUMNS, "the jobs table changed: update the benchmark's rows"
    history = ("succeeded", "failed", "timed_out")
    inputs, empty_list, empty_map = json.dumps({"prompt": "a picture"}), "[]", "{}"
    for n in range(count):
        created_at = NOW - timedelta(seconds=count - n)
        created, deadline = stamp(created_at), stamp(created_at + timedelta(minutes=15))
        active = n % ACTIVE_EVERY == 0
        # active jobs are due for a check at times spread over an hour either side of NOW
        due = stamp(NOW + timedelta(seconds=random.randint(-3600, 3600))) if active else None
        yield (
            f"{n:032x}", "google/nano-banana", inputs, f"telegram:{n % 10_000}", f"user-{n % 10_000}", 0, None,
            "running" if active else history[n % 3], f"task-{n:09d}", empty_list, None, None, False, None,
            created, created, created, None if active else created, deadline, due, 0, 1, 1, empty_map, "image",
        )  # fmt: skip


JOB_COLUMNS = [
    "id", "model", "inputs", "recipient", "user_id", "price", "idempotency_key", "status", "task_id",
    "result_urls", "error_code", "error_message", "late", "kie_credits", "created_at", "updated_at",
    "submitted_at", "completed_at", "deadline_at", "next_check_at", "checks", "submit_attempts", "version",
    "metadata", "media",
]  # fmt: skip


def sqlite_stamp(moment: datetime) -> str:
    # the form SQLAlchemy's SQLite DateTime stores: naive UTC, always with microseconds
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def percentiles(samples: list[float]) -> str:
    p50 = statistics.median(samples)
    return f"p50 {p50 * 1000:7.3f} ms   p99 {p99(samples) * 1000:7.3f} ms   (n={len(samples)})"


async def timed(queries: int, call: Callable[[int], Awaitable[Any]]) -> list[float]:
    samples = []
    for i in range(queries):
        started = time.perf_counter()
        await call(i)
        samples.append(time.perf_counter() - started)
    return samples


def sync_timed(queries: int, call: Callable[[int], Any]) -> list[float]:
    samples = []
    for i in range(queries):
        started = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - started)
    return samples


# engines


def sqlite_load(path: Path, count: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")  # bulk load only
    marks = ", ".join("?" for _ in JOB_COLUMNS)
    with conn:
        conn.executemany(f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) VALUES ({marks})", job_rows(count, sqlite_stamp))
    conn.execute("ANALYZE")
    conn.close()


def sqlite_raw(path: Path, count: int, queries: int) -> list[float]:
    conn = sqlite3.connect(path)
    now = NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    task = TASK_SQL.format(task="?")
    due = DUE_SQL.format(now="?")
    print("  EXPLAIN QUERY PLAN (task id):", [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {task}", ("x",))])
    print("  EXPLAIN QUERY PLAN (due):    ", [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {due}", (now,))])
    raw = sync_timed(queries, lambda i: conn.execute(task, (f"task-{(i * 7919) % count:09d}",)).fetchone())
    print("  raw sqlite3  task id lookup:", percentiles(raw))
    print(
        "  raw sqlite3  due for check:  ",
        percentiles(sync_timed(queries, lambda _i: conn.execute(due, (now,)).fetchall())),
    )
    conn.close()
    return raw


async def postgres_load(url: str, schema: str, count: int) -> None:
    import asyncpg

    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        records = job_rows(count, lambda moment: moment)
        await conn.copy_records_to_table("jobs", records=records, columns=JOB_COLUMNS, schema_name=schema)
        await conn.execute(f'ANALYZE "{schema}".jobs')
    finally:
        await conn.close()


async def postgres_raw(url: str, schema: str, count: int, queries: int) -> list[float]:
    import asyncpg

    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    # as the store's writer connection does for its claims: walk ix_jobs_due in order
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema, "enable_bitmapscan": "off"})
    try:
        task = TASK_SQL.format(task="$1")
        due = DUE_SQL.format(now="$1")
        for label, sql, arg in (("task id", task, "task-000000007"), ("due", due, NOW)):
            plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", arg)
            print(f"  EXPLAIN ANALYZE ({label}):")
            for line in plan:
                print("     ", line[0])
        by_task = await conn.prepare(task)
        due_now = await conn.prepare(due)
        samples = await timed(queries, lambda i: by_task.fetchrow(f"task-{(i * 7919) % count:09d}"))
        print("  raw asyncpg  task id lookup:", percentiles(samples))
        print("  raw asyncpg  due for check:  ", percentiles(await timed(queries, lambda _i: due_now.fetch(NOW))))
    finally:
        await conn.close()
    return samples


# through the store


async def lookups(url: str, schema: str | None, count: int, queries: int) -> list[float]:
    async with await SqlAlchemyJobStore.open(url, schema=schema, migrate=False) as store:
        return await timed(queries, lambda i: store.get_by_task(f"task-{(i * 7919) % count:09d}"))


def through_store(url: str, schema: str | None, count: int, queries: int, raw: list[float]) -> None:
    for backend in ("asyncio", "trio"):
        by_task = anyio.run(lookups, url, schema, count, queries, backend=backend)
        print(
            f"  store ({backend:7}) get_by_task:", percentiles(by_task), f"  p99 = {p99(by_task) / p99(raw):.1f}x raw"
        )


async def claims(store: SqlAlchemyJobStore, queries: int) -> None:
    # lease_until=NOW keeps the claimed jobs due, so every call does the full query and update
    samples = await timed(queries, lambda _i: store.claim_due_checks(NOW, lease_until=NOW, limit=10))
    print("  store        claim_due_checks(limit 10):", percentiles(samples))


def callback_write(n: int) -> tuple[Job, Job, InboxEntry, Delivery, list[JobEvent]]:
    """A submitted job, and what one success callback writes for it."""
    job = Job(
        id=f"write-{n:07d}",
        model="z-image",
        inputs={"prompt": "a fox", "aspect_ratio": "1:1"},
        recipient="none",
        status=JobStatus.SUBMITTED,
        task_id=f"write-task-{n:07d}",
        created_at=NOW,
        updated_at=NOW,
        submitted_at=NOW,
        deadline_at=NOW + timedelta(minutes=15),
    )
    done = attrs.evolve(job, status=JobStatus.SUCCEEDED, result_urls=(f"https://file.aiquickdraw.com/{n}.png",))
    inbox = InboxEntry(
        key=f"{job.id}:cb", job_id=job.id, task_id=job.task_id, body=b'{"code": 200}' * 40, received_at=NOW
    )
    delivery = Delivery(id=f"{job.id}:succeeded", job_id=job.id, recipient="none", next_attempt_at=NOW, created_at=NOW)
    events = [
        JobEvent(job_id=job.id, at=NOW, kind=EventKind.CALLBACK, detail={"trust": "token", "inbox": inbox.key}),
        JobEvent(job_id=job.id, at=NOW, kind=EventKind.STATUS, detail={"from": "submitted", "to": "succeeded"}),
    ]
    return job, done, inbox, delivery, events


async def writes(store: SqlAlchemyJobStore, writers: int, count: int, offset: int) -> None:
    work = [callback_write(offset + n) for n in range(count)]
    for start in range(0, count, 500):
        async with anyio.create_task_group() as tg:
            for job, *_ in work[start : start + 500]:
                tg.start_soon(store.create_job, job)
    database = store.database
    batches, done_before = database.batches, database.writes_done
    latencies: list[float] = []
    queue = iter(work)

    async def writer() -> None:
        for job, done, inbox, delivery, events in queue:
            started = time.perf_counter()
            await store.save(
                done, expected_version=job.version, inbox=inbox, deliveries=[delivery], events=events, previous=job
            )
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(writers):
            tg.start_soon(writer)
    elapsed = time.perf_counter() - started
    batched = (database.writes_done - done_before) / max(1, database.batches - batches)
    print(
        f"  store, {writers} concurrent callers (group commit): {count / elapsed:8.0f} writes/s   "
        f"{percentiles(latencies)}   mean batch {batched:.1f}"
    )


def sqlite_raw_writes(path: Path, count: int) -> None:
    """The baseline: the same rows, one transaction per write, one caller at a time, straight on sqlite3."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    stamp = sqlite_stamp(NOW)
    started = time.perf_counter()
    for n in range(count):
        key = f"raw-{n:07d}"
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO inbox (key, job_id, task_id, body, received_at, outcome, note)"
            " VALUES (?, ?, ?, ?, ?, 'applied', '')",
            (key + ":cb", key, key, b'{"code": 200}' * 40, stamp),
        )
        conn.execute(
            "UPDATE jobs SET status = 'succeeded', result_urls = ?, updated_at = ?, version = version + 1 WHERE id = ?",
            ('["https://file.aiquickdraw.com/x.png"]', stamp, f"{n:032x}"),
        )
        conn.execute(
            "INSERT INTO deliveries (id, job_id, recipient, status, attempt, next_attempt_at, created_at) "
            "VALUES (?, ?, 'none', 'pending', 0, ?, ?)",
            (key, key, stamp, stamp),
        )
        for kind in ("callback", "status"):
            conn.execute("INSERT INTO job_events (job_id, at, kind, detail) VALUES (?, ?, ?, '{}')", (key, stamp, kind))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    print(f"  raw sqlite3, one transaction per write, one caller:   {count / elapsed:8.0f} writes/s")


async def postgres_raw_writes(url: str, schema: str, count: int) -> None:
    import asyncpg

    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        started = time.perf_counter()
        for n in range(count):
            key = f"raw-{n:07d}"
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO inbox (key, job_id, task_id, body, received_at, outcome, note) "
                    "VALUES ($1, $2, $2, $3, $4, 'applied', '')",
                    key + ":cb", key, b'{"code": 200}' * 40, NOW,
                )  # fmt: skip
                await conn.execute(
                    "UPDATE jobs SET status = 'succeeded', updated_at = $1, version = version + 1 WHERE id = $2",
                    NOW, f"{n:032x}",
                )  # fmt: skip
                await conn.execute(
                    "INSERT INTO deliveries (id, job_id, recipient, status, attempt, next_attempt_at, created_at) "
                    "VALUES ($1, $1, 'none', 'pending', 0, $2, $2)",
                    key, NOW,
                )  # fmt: skip
                for kind in ("callback", "status"):
                    await conn.execute(
                        "INSERT INTO job_events (job_id, at, kind, detail) VALUES ($1, $2, $3, '{}')", key, NOW, kind
                    )
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    print(f"  raw asyncpg, one transaction per write, one caller:   {count / elapsed:8.0f} writes/s")


async def claims_per_second(store: SqlAlchemyJobStore) -> None:
    async with anyio.create_task_group() as tg:
        for n in range(DELIVERIES):
            job = attrs.evolve(callback_write(10_000_000 + n)[0], status=JobStatus.SUCCEEDED)
            tg.start_soon(_finished, store, job)
    claimed = 0

    async def worker() -> None:
        nonlocal claimed
        while batch := await store.claim_deliveries(NOW + timedelta(seconds=1), lease_s=600, limit=10):
            claimed += len(batch)
            for claim in batch:
                await store.complete_delivery(claim, receipt="r", now=NOW)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(WORKERS):
            tg.start_soon(worker)
    elapsed = time.perf_counter() - started
    print(f"  {WORKERS} workers claimed and completed {claimed} deliveries: {claimed / elapsed:.0f} deliveries/s")


async def _finished(store: SqlAlchemyJobStore, job: Job) -> None:
    await store.create_job(job)
    delivery = Delivery(id=f"{job.id}:succeeded", job_id=job.id, recipient="none", next_attempt_at=NOW, created_at=NOW)
    await store.save(job, expected_version=job.version, deliveries=[delivery])


async def store_writes(url: str, schema: str | None, args: argparse.Namespace) -> None:
    async with await SqlAlchemyJobStore.open(url, schema=schema, migrate=False) as store:
        await claims(store, args.queries)
        await writes(store, args.writers, args.writes, 0)
        await writes(store, 1, args.writes // 4, args.writes)
        await claims_per_second(store)


def bench_sqlite(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        anyio.run(migrate, url)
        started = time.perf_counter()
        sqlite_load(path, args.jobs)
        print(f"\n== SQLite {sqlite3.sqlite_version}: {args.jobs} jobs loaded in {time.perf_counter() - started:.1f} s")
        raw = sqlite_raw(path, args.jobs, args.queries)
        through_store(url, None, args.jobs, args.queries, raw)
        sqlite_raw_writes(path, args.writes // 4)
        anyio.run(store_writes, url, None, args)


def bench_postgres(url: str, args: argparse.Namespace) -> None:
    schema = f"kiegen_bench_{uuid.uuid4().hex[:8]}"
    anyio.run(lambda: migrate(url, schema=schema))
    try:
        started = time.perf_counter()
        asyncio.run(postgres_load(url, schema, args.jobs))
        print(f"\n== PostgreSQL at {redacted(url)}: {args.jobs} jobs loaded in {time.perf_counter() - started:.1f} s")
        raw = asyncio.run(postgres_raw(url, schema, args.jobs, args.queries))
        through_store(url, schema, args.jobs, args.queries, raw)
        asyncio.run(postgres_raw_writes(url, schema, args.writes // 4))
        anyio.run(store_writes, url, schema, args)
    finally:
        asyncio.run(_drop(url, schema))


async def _drop(url: str, schema: str) -> None:
    engine = sa.ext.asyncio.create_async_engine(sa.make_url(url).set(drivername="postgresql+asyncpg"))
    async with engine.begin() as conn:
        await conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--writers", type=int, default=32)
    parser.add_argument("--writes", type=int, default=4_000)
    parser.add_argument("--engines", default="sqlite,postgres")
    args = parser.parse_args()
    random.seed(1)
    engines = args.engines.split(",")
    if "sqlite" in engines:
        bench_sqlite(args)
    if "postgres" in engines:
        url = os.environ.get("KIEGEN_BENCH_POSTGRES_URL") or os.environ.get("KIEGEN_TEST_POSTGRES_URL")
        if url:
            bench_postgres(url, args)
        else:
            print("\n== PostgreSQL skipped: set KIEGEN_BENCH_POSTGRES_URL or KIEGEN_TEST_POSTGRES_URL")


if __name__ == "__main__":
    main()
