"""Two OS processes x several workers claim 5,000 deliveries: each is claimed once, none twice, no lock errors."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import anyio
import pytest
import sqlalchemy as sa

from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore
from kiegen.adapters.sqlalchemy import schema as t
from kiegen.core.delivery import Delivery
from kiegen.core.jobs import Job, JobStatus
from tests.storage.storage_harness import Db, run, run_together

DELIVERIES = 5_000
PROCESSES = 2
WORKERS = 4
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


async def _fill(db: Db) -> None:
    # Concurrent: the writer commits them in batches.
    async with await SqlAlchemyJobStore.open(db.url, schema=db.schema) as store, anyio.create_task_group() as tg:
        for n in range(DELIVERIES):
            tg.start_soon(_finished_job, store, n)


async def _finished_job(store: SqlAlchemyJobStore, n: int) -> None:
    job = Job(
        id=f"job-{n:05d}",
        model="m",
        inputs={},
        recipient=f"telegram:{n}",
        status=JobStatus.SUCCEEDED,
        created_at=T0,
        updated_at=T0,
        deadline_at=T0 + timedelta(minutes=15),
    )
    await store.create_job(job)
    delivery = Delivery(
        id=f"{job.id}:succeeded",
        job_id=job.id,
        recipient=job.recipient,
        next_attempt_at=T0 + timedelta(milliseconds=n),
        created_at=T0,
    )
    await store.save(job, expected_version=job.version, deliveries=[delivery])


async def _outcome(db: Db) -> tuple[int, int, int]:
    engine = db.engine()
    try:
        async with engine.connect() as conn:
            sent = await conn.scalar(sa.select(sa.func.count()).where(t.deliveries.c.status == "sent"))
            attempts = await conn.scalar(sa.select(sa.func.max(t.deliveries.c.attempt)))
            total = await conn.scalar(sa.select(sa.func.count()).select_from(t.deliveries))
            return int(sent or 0), int(attempts or 0), int(total or 0)
    finally:
        await engine.dispose()


@pytest.mark.slow
def test_two_processes_claim_every_delivery_exactly_once(db: Db) -> None:
    run(_fill(db))

    reports = run_together(db, [["claim", "--workers", str(WORKERS)]] * PROCESSES)

    claims = Counter(delivery_id for report in reports for delivery_id, _attempt in report["claims"])
    duplicates = sum(count - 1 for count in claims.values() if count > 1)
    locked = sum(report["locked"] for report in reports)
    errors = [e for report in reports for e in report["errors"]]
    elapsed = max(report["elapsed_s"] for report in reports)
    per_process = [len(report["claims"]) for report in reports]
    print(
        f"\n[{db.kind}] {PROCESSES} processes x {WORKERS} workers: {sum(claims.values())} claims of {DELIVERIES} "
        f"deliveries (per process {per_process}) in {elapsed:.2f} s = {sum(claims.values()) / elapsed:.0f} "
        f"claims+completions/s; duplicate claims = {duplicates}; 'database is locked' = {locked}; "
        f"other errors = {len(errors)}"
    )
    assert duplicates == 0
    assert locked == 0
    assert errors == []
    assert len(claims) == DELIVERIES
    assert run(_outcome(db)) == (DELIVERIES, 1, DELIVERIES)
    assert all(count > 0 for count in per_process), "both processes should have done some of the work"
