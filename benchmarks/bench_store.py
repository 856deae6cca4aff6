"""Store benchmark: lookups and claims over a large jobs table, on SQLite and PostgreSQL.

    python benchmarks/bench_store.py [--jobs 1000000] [--engines sqlite,postgres] [--queries 2000]

PostgreSQL comes from KIEGEN_BENCH_POSTGRES_URL or KIEGEN_TEST_POSTGRES_URL (skipped when neither is set) and
runs in a throwaway schema. Prints, per engine: bulk-load time; p50/p99 of "job by task id" and "jobs due for a
remote check", both as the bare SQL query on the driver and through SqlAlchemyJobStore (which adds SQLAlchemy
and, for SQLite, aiosqlite's thread hop); claims per second with 8 workers; and EXPLAIN output showing which
index each query uses. Figures only, no assertions.
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

import sqlalchemy as sa

from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore, migrate
from kiegen.adapters.sqlalchemy import schema as t
from kiegen.adapters.sqlalchemy.engine import redacted

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
            created, created, created, None if active else created, deadline, due, 0, 1, 1, empty_map,
        )  # fmt: skip


JOB_COLUMNS = [
    "id", "model", "inputs", "recipient", "user_id", "price", "idempotency_key", "status", "task_id",
    "result_urls", "error_code", "error_message", "late", "kie_credits", "created_at", "updated_at",
    "submitted_at", "completed_at", "deadline_at", "next_check_at", "checks", "submit_attempts", "version",
    "metadata",
]  # fmt: skip


def sqlite_stamp(moment: datetime) -> str:
    # the form SQLAlchemy's SQLite DateTime stores: naive UTC, always with microseconds
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1000:7.3f} ms   p99 {p99 * 1000:7.3f} ms   (n={len(ordered)})"


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


def sqlite_raw(path: Path, count: int, queries: int) -> None:
    conn = sqlite3.connect(path)
    now = NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    task = TASK_SQL.format(task="?")
    due = DUE_SQL.format(now="?")
    print("  EXPLAIN QUERY PLAN (task id):", [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {task}", ("x",))])
    print("  EXPLAIN QUERY PLAN (due):    ", [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {due}", (now,))])
    print(
        "  raw sqlite3  task id lookup:",
        percentiles(sync_timed(queries, lambda i: conn.execute(task, (f"task-{(i * 7919) % count:09d}",)).fetchone())),
    )
    print(
        "  raw sqlite3  due for check:  ",
        percentiles(sync_timed(queries, lambda i: conn.execute(due, (now,)).fetchall())),
    )
    conn.close()


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


async def postgres_raw(url: str, schema: str, count: int, queries: int) -> None:
    import asyncpg

    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    # as SqlAlchemyJobStore does for its claims (see _prefer_ordered_index): walk ix_jobs_due in order
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
        print("  raw asyncpg  due for check:  ", percentiles(await timed(queries, lambda i: due_now.fetch(NOW))))
    finally:
        await conn.close()


# through the store


async def through_store(store: SqlAlchemyJobStore, count: int, queries: int) -> None:
    by_task = await timed(queries, lambda i: store.get_by_task(f"task-{(i * 7919) % count:09d}"))
    print("  store        get_by_task:   ", percentiles(by_task))
    # lease_until=NOW keeps the claimed jobs due, so every call does the full query and update
    claims = await timed(queries, lambda i: store.claim_due_checks(NOW, lease_until=NOW, limit=10))
    print("  store        claim_due_checks(limit 10):", percentiles(claims))


async def claims_per_second(store: SqlAlchemyJobStore) -> None:
    rows = [
        {
            "id": f"bench-{n}:succeeded",
            "job_id": f"bench-{n}",
            "recipient": "console",
            "status": "pending",
            "attempt": 0,
            "lease_until": None,
            "next_attempt_at": NOW,
            "created_at": NOW,
            "last_error": None,
            "receipt": None,
            "sent_at": None,
        }
        for n in range(DELIVERIES)
    ]
    async with store.engine.begin() as conn:
        await conn.execute(sa.insert(t.deliveries), rows)
    claimed = 0

    async def worker() -> None:
        nonlocal claimed
        while batch := await store.claim_deliveries(NOW + timedelta(seconds=1), lease_s=600, limit=10):
            claimed += len(batch)
            for claim in batch:
                await store.complete_delivery(claim, receipt="r", now=NOW)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    elapsed = time.perf_counter() - started
    print(
        f"  {WORKERS} workers claimed and completed {claimed} deliveries in {elapsed:.2f} s: "
        f"{claimed / elapsed:.0f} deliveries/s ({claimed / 10 / elapsed:.0f} claim batches/s + "
        f"{claimed / elapsed:.0f} completions/s)"
    )


async def bench_sqlite(count: int, queries: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        await migrate(url)
        started = time.perf_counter()
        sqlite_load(path, count)
        print(f"\n== SQLite {sqlite3.sqlite_version}: {count} jobs loaded in {time.perf_counter() - started:.1f} s")
        sqlite_raw(path, count, queries)
        async with await SqlAlchemyJobStore.open(url, pool_size=WORKERS) as store:
            await through_store(store, count, queries)
            await claims_per_second(store)


async def bench_postgres(url: str, count: int, queries: int) -> None:
    schema = f"kiegen_bench_{uuid.uuid4().hex[:8]}"
    await migrate(url, schema=schema)
    try:
        started = time.perf_counter()
        await postgres_load(url, schema, count)
        print(f"\n== PostgreSQL at {redacted(url)}: {count} jobs loaded in {time.perf_counter() - started:.1f} s")
        await postgres_raw(url, schema, count, queries)
        async with await SqlAlchemyJobStore.open(url, schema=schema, pool_size=WORKERS) as store:
            await through_store(store, count, queries)
            await claims_per_second(store)
    finally:
        engine = sa.ext.asyncio.create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--engines", default="sqlite,postgres")
    args = parser.parse_args()
    random.seed(1)
    engines = args.engines.split(",")
    if "sqlite" in engines:
        await bench_sqlite(args.jobs, args.queries)
    if "postgres" in engines:
        url = os.environ.get("KIEGEN_BENCH_POSTGRES_URL") or os.environ.get("KIEGEN_TEST_POSTGRES_URL")
        if url:
            await bench_postgres(url, args.jobs, args.queries)
        else:
            print("\n== PostgreSQL skipped: set KIEGEN_BENCH_POSTGRES_URL or KIEGEN_TEST_POSTGRES_URL")


if __name__ == "__main__":
    asyncio.run(main())
