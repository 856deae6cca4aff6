"""A separate OS process acting on the store, for the multi-process storage tests.

    KIEGEN_DATABASE_URL=... python actor.py COMMAND [--schema S] [options]

Every command prepares (imports, opens the store), prints ``ready``, waits for ``go`` on stdin so that all
processes of a test start together, acts, and prints one JSON object with what it saw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore, migrate
from kiegen.core.errors import InsufficientCredits, StoreError
from kiegen.core.jobs import Job, JobStatus


def barrier() -> None:
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("no go")


async def cmd_migrate(args: argparse.Namespace) -> dict[str, Any]:
    barrier()
    started = time.perf_counter()
    await migrate(args.url, schema=args.schema)
    return {"elapsed_s": time.perf_counter() - started}


async def cmd_claim(args: argparse.Namespace) -> dict[str, Any]:
    store = await SqlAlchemyJobStore.open(args.url, schema=args.schema, migrate=False, pool_size=args.workers)
    claims: list[tuple[str, int]] = []
    locked: list[str] = []
    errors: list[str] = []
    label = f"pid{os.getpid()}"

    async def worker(n: int) -> None:
        idle = 0
        while idle < 3:  # SKIP LOCKED may hide rows another worker holds for a moment: look again
            try:
                batch = await store.claim_deliveries(datetime.now(UTC), lease_s=600, limit=args.batch)
                idle = 0 if batch else idle + 1
                for claim in batch:
                    claims.append((claim.delivery.id, claim.attempt))
                    await store.complete_delivery(claim, receipt=f"{label}-w{n}", now=datetime.now(UTC))
                if not batch:
                    await asyncio.sleep(0.05)
            except StoreError as exc:
                (locked if "locked" in str(exc) else errors).append(str(exc))

    async with store:
        barrier()
        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(args.workers)))
        elapsed = time.perf_counter() - started
    return {"claims": claims, "locked": len(locked), "errors": errors, "elapsed_s": elapsed}


async def cmd_hold(args: argparse.Namespace) -> dict[str, Any]:
    store = await SqlAlchemyJobStore.open(args.url, schema=args.schema, migrate=False, pool_size=args.count)
    now = datetime.now(UTC)
    accepted = refused = 0
    balances: list[int] = []

    async def attempt(n: int) -> None:
        nonlocal accepted, refused
        job = Job(
            id=f"hold-{os.getpid()}-{n}",
            model="paid/model",
            inputs={"prompt": "x"},
            recipient="console",
            user_id=args.user,
            price=1,
            created_at=now,
            updated_at=now,
            deadline_at=now + timedelta(minutes=15),
        )
        try:
            await store.create_job(job)
            accepted += 1
        except InsufficientCredits:
            refused += 1
        balances.append(await store.balance(args.user))

    async with store:
        barrier()
        await asyncio.gather(*(attempt(n) for n in range(args.count)))
    return {"accepted": accepted, "refused": refused, "min_balance_seen": min(balances)}


async def cmd_complete(args: argparse.Namespace) -> dict[str, Any]:
    from kiegen.adapters.sqlalchemy.notify import PostgresNotifier

    store = await SqlAlchemyJobStore.open(args.url, schema=args.schema, migrate=False, pool_size=1)
    async with store, PostgresNotifier(store) as notifier:
        barrier()
        job = await store.get(args.job)
        assert job is not None
        now = datetime.now(UTC)
        done = attrs.evolve(job, status=JobStatus.SUCCEEDED, result_urls=("https://example.com/r.png",), updated_at=now)
        await store.save(done, expected_version=job.version)
        await notifier.publish(job.id)
        return {"completed_at": time.time()}


COMMANDS = {"migrate": cmd_migrate, "claim": cmd_claim, "hold": cmd_hold, "complete": cmd_complete}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--schema")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--user", default="u1")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--job")
    args = parser.parse_args()
    args.url = os.environ["KIEGEN_DATABASE_URL"]  # not in argv, where `ps` would show a password
    result = asyncio.run(COMMANDS[args.command](args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
