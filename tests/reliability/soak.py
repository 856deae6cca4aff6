"""The soak harness: the apps as real processes on one database, the load, the chaos (see ``test_soak.py``).

- ``Service``: ``python -m kiegen.apps.http`` or ``-m kiegen.apps.telegram`` as a subprocess that ``kill()`` SIGKILLs
  (the time is kept for the conservation check) and ``start()`` starts again (ready when ``/healthz`` answers).
- ``chaos``: a random service killed and restarted every few seconds.
- ``submit``: a ``/v1/generations`` request retried with its Idempotency-Key until a service takes it.
- ``settle``: waits until every job is terminal and no delivery is pending.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx

from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore
from kiegen.adapters.sqlalchemy.sql import sql
from kiegen.core.billing import LedgerEntry, LedgerKind
from kiegen.core.jobs import JobStatus
from tests.http.servers import API_KEY, subprocess_env
from tests.reliability.conservation import SEED_CREDITS

PAID_MODEL, PAID_PRICE = "qwen/text-to-image", 2

# Short check leases and grace periods (operator knobs), so that a killed process's work is taken over in
# seconds. The delivery lease stays longer than the slowest send in the soak (a refused photo URL, a download,
# a slow upload, a 429 waited out: about 5 s), so that only a killed deliverer's deliveries are claimed again.
TIMINGS = {
    "KIEGEN_DELIVERY_LEASE_S": "12",
    "KIEGEN_CHECK_LEASE_S": "3",
    "KIEGEN_WORKER_INTERVAL_S": "0.2",
    "KIEGEN_POLL_GRACE_S": "0.5",
    "KIEGEN_CALLBACK_GRACE_S": "2",
    "KIEGEN_SUBMIT_GRACE_S": "2",
    "KIEGEN_KIE_RATE_LIMIT": "100000/1",
}


class Service:
    """One app process. ``start`` returns once ``GET <url>/healthz`` answers; ``kill`` is a SIGKILL."""

    def __init__(self, name: str, module: str, env: Mapping[str, str], *, port: int, cwd: Path) -> None:
        self.name, self.module, self.env, self.port, self.cwd = name, module, dict(env), port, cwd
        self.url = f"http://127.0.0.1:{port}"
        self.log = cwd / f"{name}.log"
        self.process: anyio.abc.Process | None = None
        self.killed_at: list[datetime] = []
        self.starts = 0

    @property
    def kills(self) -> int:
        return len(self.killed_at)

    async def start(self, timeout: float = 60.0) -> None:
        with self.log.open("ab") as out:
            self.process = await anyio.open_process(
                [sys.executable, "-m", self.module], cwd=self.cwd, env=self.env, stdout=out, stderr=out
            )
        self.starts += 1
        async with httpx.AsyncClient(timeout=1) as http:
            with anyio.fail_after(timeout):
                while True:
                    if self.process.returncode is not None:
                        raise AssertionError(f"{self.name} exited with {self.process.returncode}; see {self.log}")
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"{self.url}/healthz")).status_code == 200:
                            return
                    await anyio.sleep(0.1)

    async def kill(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        await self.process.aclose()
        self.killed_at.append(datetime.now(UTC))

    async def stop(self) -> int:
        """SIGTERM, the graceful way; returns the exit code."""
        if self.process is None:
            return 0
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            with anyio.move_on_after(30):
                await self.process.wait()
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
        await self.process.aclose()
        return self.process.returncode or 0


async def kill_leftovers(services: Sequence[Service]) -> None:
    """SIGKILL whatever is still running: a failed test must not leave processes behind."""
    for service in services:
        if service.process is not None and service.process.returncode is None:
            await service.kill()


def base_env(database_url: str, kie_url: str, **extra: str) -> dict[str, str]:
    env = subprocess_env(**TIMINGS)
    env.update(
        KIE_API_KEY="soak-kie-key",
        KIEGEN_KIE_BASE_URL=kie_url,
        KIEGEN_KIE_UPLOAD_URL=kie_url,
        KIEGEN_DATABASE_URL=database_url,
        KIEGEN_CALLBACK_SECRET="soak-callback-secret",
        KIEGEN_API_KEYS=API_KEY,
        KIEGEN_ALLOW_PRIVATE_URLS="1",
        KIEGEN_FREE_QUOTA="1000000",
        KIEGEN_PRICES=f"{PAID_MODEL}={PAID_PRICE}",
        KIEGEN_LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


async def chaos(services: Sequence[Service], rng: random.Random, every: tuple[float, float], until: float) -> None:
    """SIGKILL a random service every ``every`` seconds (uniform), restart it after a short pause."""
    while time.monotonic() < until:
        await anyio.sleep(rng.uniform(*every))
        victim = rng.choice(list(services))
        await victim.kill()
        await anyio.sleep(rng.uniform(0.1, 1.0))
        await victim.start()


async def submit(
    http: httpx.AsyncClient, services: Sequence[Service], n: int, *, webhook_url: str, run: str, deadline: float
) -> str:
    """POST one generation (every third one paid, for a seeded user), to the services in turn, until one takes it.
    The Idempotency-Key makes a retry after a kill return the same generation."""
    paid = n % 3 == 0
    body: dict[str, Any] = {
        "model": PAID_MODEL if paid else "z-image",
        "input": {"prompt": f"api {run} {n}"},
        "webhook_url": webhook_url,
        "user_id": f"payer-{n % 5}" if paid else f"free-{n % 7}",
    }
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": f"{run}-{n}"}
    attempt = 0
    while True:
        service = services[(n + attempt) % len(services)]
        with contextlib.suppress(httpx.HTTPError):
            response = await http.post(f"{service.url}/v1/generations", json=body, headers=headers)
            if response.status_code == 202:
                return str(response.json()["id"])
            assert response.status_code >= 500, f"{response.status_code}: {response.text}"
        attempt += 1
        assert time.monotonic() < deadline, f"generation {n} was never accepted"
        await anyio.sleep(0.3)


async def seed_credits(database_url: str, users: Sequence[str]) -> None:
    store = await SqlAlchemyJobStore.open(database_url)
    try:
        for user in users:
            await store.add_entry(
                LedgerEntry(
                    key=f"seed:{user}",
                    user_id=user,
                    kind=LedgerKind.TOPUP,
                    amount=SEED_CREDITS,
                    created_at=datetime.now(UTC),
                )
            )
    finally:
        await store.aclose()


async def outstanding(database_url: str) -> tuple[int, int, int]:
    """(jobs, jobs not terminal, deliveries pending) straight from the tables."""
    terminal = ", ".join(f"'{s.value}'" for s in JobStatus if s.terminal)
    counts = sql(
        "SELECT (SELECT count(*) FROM jobs),"
        f" (SELECT count(*) FROM jobs WHERE status NOT IN ({terminal})),"
        " (SELECT count(*) FROM deliveries WHERE status = 'pending')"
    )

    async def read(conn: Any) -> tuple[int, int, int]:
        jobs, open_jobs, pending = await conn.fetchrow(counts)
        return int(jobs), int(open_jobs), int(pending)

    store = await SqlAlchemyJobStore.open(database_url, migrate=False)
    try:
        result: tuple[int, int, int] = await store.database.read(read)
        return result
    finally:
        await store.aclose()


async def settle(database_url: str, timeout: float) -> tuple[int, int, int]:
    """Wait until every job is terminal and no delivery is pending (or ``timeout``); returns ``outstanding``."""
    deadline = time.monotonic() + timeout
    while True:
        counts = await outstanding(database_url)
        if (counts[1] == 0 and counts[2] == 0) or time.monotonic() > deadline:
            return counts
        await anyio.sleep(1.0)


def figures_line(kind: str, values: Mapping[str, Any]) -> str:
    return f"RELIABILITY soak db={kind} " + " ".join(
        f"{k}={json.dumps(v, separators=(',', ':')) if isinstance(v, dict) else v}" for k, v in values.items()
    )
