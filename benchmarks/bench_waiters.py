"""Memory of concurrent waiters: ``--waiters`` tasks each in ``Client.wait`` for a job of its own, on the
SQLite store (the store, its writer and readers, the in-process notifier), under
asyncio and under trio.

    python benchmarks/bench_waiters.py [--waiters 10000] [--backends asyncio,trio]

``build(settings)`` with ``KIEGEN_DATABASE_URL`` a SQLite file. Prints the process's resident set size (VmRSS)
with the client open and the jobs stored (the baseline), with
every waiter waiting, and the difference per waiter; then completes every job and reports how long until all
waiters returned. Each backend runs in a process of its own, so that one's memory does not count in the other's.
Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import attrs

from kiegen.bootstrap import build
from kiegen.client import Client
from kiegen.core.jobs import Job, JobStatus
from kiegen.settings import Settings


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(path: Path, waiters: int, backend: str) -> None:
    now = datetime.now(UTC)
    jobs = [
        Job(
            id=f"wait-{n:06d}",
            model="z-image",
            inputs={"prompt": "a fox"},
            recipient="none",
            status=JobStatus.SUBMITTED,
            task_id=f"wait-task-{n:06d}",
            created_at=now,
            updated_at=now,
            submitted_at=now,
            deadline_at=now + timedelta(hours=1),
            next_check_at=now + timedelta(hours=1),  # no KIE check falls due while they wait
        )
        for n in range(waiters)
    ]
    settings = Settings(database_url=f"sqlite:///{path}")
    async with build(settings, workers=False) as client:
        for start in range(0, waiters, 500):
            async with anyio.create_task_group() as tg:
                for job in jobs[start : start + 500]:
                    tg.start_soon(client.store.create_job, job)
        baseline = rss_mb()
        returned = 0

        async def waiter(job_id: str) -> None:
            nonlocal returned
            await client.wait(job_id, timeout=600)
            returned += 1

        async with anyio.create_task_group() as tg:
            for job in jobs:
                tg.start_soon(waiter, job.id)
            await anyio.sleep(3)  # every waiter has read its job and is waiting
            waiting = rss_mb()
            started = time.perf_counter()
            for job in jobs:
                done = attrs.evolve(
                    job, status=JobStatus.SUCCEEDED, result_urls=("https://file.aiquickdraw.com/x.png",)
                )
                tg.start_soon(_complete, client, job, done)
        elapsed = time.perf_counter() - started
    print(
        f"{backend:8} {waiters} waiters: RSS {baseline:7.1f} MB before, {waiting:7.1f} MB waiting "
        f"(+{waiting - baseline:6.1f} MB, {(waiting - baseline) * 1024 / waiters:5.1f} KB a waiter); "
        f"all {returned} returned {elapsed:.2f} s after their jobs were completed"
    )


async def _complete(client: Client, job: Job, done: Job) -> None:
    stored = await client.store.save(done, expected_version=job.version, previous=job)
    await client.ctx.notifier.publish(stored.id)  # what the services do after a change


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--waiters", type=int, default=10_000)
    parser.add_argument("--backends", default="asyncio,trio")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        with tempfile.TemporaryDirectory() as tmp:
            anyio.run(measure, Path(tmp) / "waiters.db", args.waiters, args.run, backend=args.run)
        return
    for backend in args.backends.split(","):
        subprocess.run([sys.executable, __file__, "--waiters", str(args.waiters), "--run", backend], check=True)


if __name__ == "__main__":
    main()
