"""A duplicate storm: 50 copies of each job's (trusted) success callback, sent by two OS processes at once to
one database. Exactly one transition, one ledger entry and one delivery per job."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore
from kiegen.core.billing import LedgerKind, topup
from kiegen.core.delivery import DeliveryStatus
from kiegen.core.jobs import Job, JobStatus
from tests.reliability.harness import ROOT, SOAK, Database

ACTOR = Path(__file__).with_name("storm_actor.py")
JOBS = 200 if SOAK else 12
COPIES = 50


async def seed(url: str) -> list[tuple[str, str]]:
    now = datetime.now(UTC)
    ids = []
    async with await SqlAlchemyJobStore.open(url) as store:
        await store.add_entry(topup("stormer", JOBS, key="storm-fund", at=now))
        for _ in range(JOBS):
            job = Job(
                id=uuid.uuid4().hex,
                model="z-image",
                inputs={"prompt": "storm"},
                recipient="test:stormer",
                user_id="stormer",
                price=1,
                status=JobStatus.SUBMITTED,
                task_id=uuid.uuid4().hex,
                created_at=now,
                updated_at=now,
                submitted_at=now,
                deadline_at=now + timedelta(minutes=15),
            )
            await store.create_job(job)
            ids.append((job.id, job.task_id or ""))
    return ids


async def inspect(url: str, ids: list[str]) -> dict[str, int]:
    async with await SqlAlchemyJobStore.open(url, migrate=False) as store:
        succeeded = versions_ok = sent = 0
        for job_id in ids:
            job = await store.get(job_id)
            assert job is not None
            succeeded += job.status is JobStatus.SUCCEEDED
            deliveries = await store.deliveries_for(job_id)
            sent += sum(d.status is DeliveryStatus.SENT for d in deliveries)
            versions_ok += len(deliveries) == 1
        entries = await store.ledger("stormer")
        captures = collections.Counter(e.job_id for e in entries if e.kind is LedgerKind.CAPTURE)
        return {
            "succeeded": succeeded,
            "delivery_rows": versions_ok,
            "deliveries_sent": sent,
            "captures": sum(captures.values()),
            "double_captures": sum(1 for n in captures.values() if n > 1),
            "balance": await store.balance("stormer"),
        }


@pytest.mark.slow
def test_a_storm_of_50_copies_per_job_from_two_processes_changes_each_job_once(
    database: Database, tmp_path: Path, report: Callable[[str], None]
) -> None:
    jobs_file = tmp_path / "jobs.txt"
    pairs = asyncio.run(seed(database.url))
    jobs_file.write_text("".join(f"{job_id} {task_id}\n" for job_id, task_id in pairs))
    ids = [job_id for job_id, _ in pairs]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(ACTOR), database.url, str(jobs_file), str(COPIES)]
    procs = [
        subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.communicate()[1]
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        reports = []
        for proc in procs:
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err[-3000:]
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    outcomes: collections.Counter[str] = collections.Counter()
    for r in reports:
        outcomes.update(r["outcomes"])
    sends = collections.Counter(job_id for r in reports for job_id in r["delivered"])
    state = asyncio.run(inspect(database.url, ids))
    status_5xx = sum(n for key, n in outcomes.items() if key.startswith("5"))
    report(
        f"RELIABILITY storm db={database.kind} jobs={JOBS} copies_per_job={COPIES} processes=2 "
        f"callbacks={sum(outcomes.values())} applied={outcomes['200:applied']} "
        f"duplicates={outcomes['200:duplicate']} ignored={outcomes['200:ignored']} status_5xx={status_5xx} "
        f"succeeded={state['succeeded']} captures={state['captures']} double_captures={state['double_captures']} "
        f"sends={sum(sends.values())} max_sends_per_job={max(sends.values(), default=0)} balance={state['balance']}"
    )
    assert sum(outcomes.values()) == 2 * JOBS * COPIES
    assert status_5xx == 0
    assert outcomes["200:applied"] == JOBS, "each job must be moved by exactly one callback"
    assert state["succeeded"] == JOBS
    assert (state["captures"], state["double_captures"], state["balance"]) == (JOBS, 0, 0)
    assert state["delivery_rows"] == JOBS and state["deliveries_sent"] == JOBS
    assert sorted(sends) == sorted(ids) and max(sends.values()) == 1
