"""A kiegen process for the crash harness: submits the jobs, runs the workers, exits when all is delivered.

    KIEGEN_DATABASE_URL=... KIE_API_KEY=test KIEGEN_KIE_BASE_URL=http://127.0.0.1:P ... \\
        python worker.py --jobs 40 --out-dir DIR [--callback-port P] [--stop-marker FILE]

It is built by ``kiegen.bootstrap.build`` from the environment exactly like a deployment (SQLite or PostgreSQL,
``HttpxKieGateway`` to the KIE simulator, timing knobs), with one extra messenger: ``FileMessenger`` for
``file:<path>`` recipients. ``KIEGEN_TEST_CRASH_AT=<point>[:<nth>]`` arms a crash point: the worker wraps the
ports it hands to ``build`` (``Crashing*`` below) and SIGKILLs itself the nth time the point is passed; nothing
of this is in kiegen's own code. ``in_batch`` is inside the store's group commit: after a batch's savepoints
(at least two), before its COMMIT. It downloads the first result image (the place
the Telegram messenger downloads too: the ``mid_download`` crash point) and appends one line per delivery to
the recipient's file, fsynced, so that what was delivered survives a SIGKILL of this process.

Submission is idempotent (``idempotency_key=job-<i>``), so a restarted worker re-submits nothing that exists.
With ``--callback-port`` it also serves KIE callbacks on that port (a minimal ASGI receiver handing them to
``Client.receive_callback``; the HTTP app of ``apps/http`` is not needed). With ``--stop-marker`` it writes
the marker when its first delivery has been claimed and then stops itself (SIGSTOP) before sending, until the
harness resumes it. On success it prints one JSON line with its delivery counters.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import httpx

from kiegen.adapters.sqlalchemy.notify import PostgresNotifier
from kiegen.bootstrap import build, kie_gateway_for, sql_store_for
from kiegen.client import Client
from kiegen.core.billing import topup
from kiegen.core.delivery import DeliveryStatus
from kiegen.core.errors import DeliveryDeferred
from kiegen.core.jobs import Job, JobStatus
from kiegen.ports.messaging import Receipt
from kiegen.settings import Settings

USERS = 4
SEED_CREDITS = 10_000
PAID_MODEL, FREE_MODEL = "z-image", "qwen/text-to-image"


def job_spec(i: int, out_dir: Path) -> dict[str, Any]:
    """Job i of a run: even jobs are paid (1 credit), odd ones free; two recipients, alternating in pairs."""
    return {
        "model": PAID_MODEL if i % 2 == 0 else FREE_MODEL,
        "inputs": {"prompt": f"reliability job {i}"},
        "recipient": f"file:{out_dir / ('alice.log' if (i // 2) % 2 == 0 else 'bob.log')}",
        "user_id": f"u{i % USERS}",
        "idempotency_key": f"job-{i}",
    }


class Crash:
    """``KIEGEN_TEST_CRASH_AT=<point>[:<nth>]``: SIGKILL this process (no clean-up, no flush: what an OOM kill or a
    power cut leaves behind) the nth time ``point`` is passed."""

    def __init__(self, raw: str | None) -> None:
        point, _, nth = (raw or "").partition(":")
        self.point, self.nth, self.hits = point, int(nth or 1), 0

    def passed(self, point: str) -> None:
        if point != self.point:
            return
        self.hits += 1
        if self.hits >= self.nth:
            os.kill(os.getpid(), signal.SIGKILL)

    def before_commit(self, savepoints: int) -> None:
        if savepoints >= 2:  # some of the batch's writes are in, none committed
            self.passed("in_batch")


class CrashingStore:
    """The job store, passing the store-side crash points after the call they follow returns."""

    def __init__(self, store: Any, crash: Crash) -> None:
        self._store, self._crash = store, crash

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def save(self, job: Job, **kwargs: Any) -> Job:
        stored = await self._store.save(job, **kwargs)
        if kwargs.get("inbox") is not None:
            self._crash.passed("after_callback_stored")
        if kwargs.get("ledger"):
            self._crash.passed("after_ledger_entry")
        if kwargs.get("deliveries"):
            self._crash.passed("after_result_stored")
        return stored

    async def record_callback(self, entry: Any, **kwargs: Any) -> bool:
        stored: bool = await self._store.record_callback(entry, **kwargs)
        if stored:
            self._crash.passed("after_callback_stored")
        return stored

    async def claim_deliveries(self, *args: Any, **kwargs: Any) -> Any:
        claims = await self._store.claim_deliveries(*args, **kwargs)
        if claims:
            self._crash.passed("after_delivery_claimed")
        return claims


class CrashingKie:
    """The gateway, passing ``after_create_task`` once createTask answered (before kiegen stores the task id)."""

    def __init__(self, kie: Any, crash: Crash) -> None:
        self._kie, self._crash = kie, crash

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kie, name)

    async def create_task(self, *args: Any, **kwargs: Any) -> str:
        task_id: str = await self._kie.create_task(*args, **kwargs)
        self._crash.passed("after_create_task")
        return task_id


class FileMessenger:
    """Delivers to ``file:<path>``: download the first result (in chunks), then append one fsynced line
    ``<job id> <status> <recipient> <sha256 of the image> <pid>``."""

    def __init__(self, crash: Crash, *, stop_marker: Path | None = None) -> None:
        self.crash = crash
        self.stop_marker = stop_marker
        self.sent = 0

    schemes = frozenset({"file"})

    def handles(self, recipient: str) -> bool:
        return recipient.startswith("file:")

    async def deliver(self, job: Job) -> Receipt:
        if self.stop_marker is not None and not self.stop_marker.exists():
            # Freeze here, between the claim and the send, outside any transaction: a paused VM, a debugger.
            self.stop_marker.write_text(f"{os.getpid()} {job.id}\n")
            os.kill(os.getpid(), signal.SIGSTOP)
        digest = "-"
        if job.status is JobStatus.SUCCEEDED and job.result_urls:
            digest = await self._download(job.result_urls[0])
        line = f"{job.id} {job.status.value} {job.recipient} {digest} {os.getpid()}\n"
        path = job.recipient.removeprefix("file:")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self.sent += 1
        self.crash.passed("after_messenger_accepted")  # sent: the deliverer has not recorded it yet
        return Receipt(detail=f"{os.getpid()}:{self.sent}")

    async def _download(self, url: str) -> str:
        digest = hashlib.sha256()
        try:
            async with httpx.AsyncClient(timeout=10) as http, http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise DeliveryDeferred(f"result download answered {response.status_code}")
                chunks = 0
                async for chunk in response.aiter_bytes(256):
                    digest.update(chunk)
                    chunks += 1
                    if chunks == 2:
                        self.crash.passed("mid_download")
        except httpx.HTTPError as exc:
            raise DeliveryDeferred(f"result download failed: {type(exc).__name__}") from None
        return digest.hexdigest()[:16]


class CallbackReceiver:
    """The smallest ASGI app that hands KIE callbacks to the client (stands in for apps/http)."""

    def __init__(self, client: Client, public_url: str) -> None:
        self.client = client
        self.public_url = public_url

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope.get("query_string", b"").decode()
        url = f"{self.public_url}{scope['path']}" + (f"?{query}" if query else "")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        result = await self.client.receive_callback(url, body, headers)
        await send({"type": "http.response.start", "status": result.status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def all_delivered(client: Client, jobs: int, done: set[str]) -> bool:
    listed = await client.store.list_jobs(limit=jobs + 10)
    if len(listed) < jobs:
        return False
    for job in listed:
        if job.id in done:
            continue
        if not job.terminal:
            return False
        deliveries = await client.store.deliveries_for(job.id)
        if not deliveries or any(d.status is DeliveryStatus.PENDING for d in deliveries):
            return False
        done.add(job.id)
    return True


async def submit_all(client: Client, jobs: int, out_dir: Path, concurrency: int = 8) -> None:
    """Submit jobs 0..jobs-1, several at a time (each createTask is a round trip to the simulator)."""
    limit = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with limit:
            spec = job_spec(i, out_dir)
            await client.submit(spec.pop("model"), spec.pop("inputs"), **spec)

    async with asyncio.TaskGroup() as tg:
        for i in range(jobs):
            tg.create_task(one(i))


async def main(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings.from_env()
    crash = Crash(os.environ.get("KIEGEN_TEST_CRASH_AT"))
    messenger = FileMessenger(crash, stop_marker=args.stop_marker)
    # The adapters bootstrap builds from these settings, wrapped for the crash points.
    store = sql_store_for(settings, before_commit=crash.before_commit)
    gateway = kie_gateway_for(settings)
    async with store, gateway, contextlib.AsyncExitStack() as stack:
        notifier = None
        if store.dialect == "postgresql":
            notifier = await stack.enter_async_context(PostgresNotifier(store))
        client = build(
            settings,
            store=CrashingStore(store, crash),
            kie=CrashingKie(gateway, crash),
            messengers=[messenger],
            notifier=notifier,
        )
        await stack.enter_async_context(client)
        await serve_until_done(client, settings, args)
    return {"pid": os.getpid(), "done": args.jobs, **attrs.asdict(client.delivery_stats)}


async def serve_until_done(client: Client, settings: Settings, args: argparse.Namespace) -> None:
    async with asyncio.TaskGroup() as tg:
        server = None
        if args.callback_port:
            import uvicorn

            assert settings.public_url is not None
            config = uvicorn.Config(
                CallbackReceiver(client, settings.public_url),
                host="127.0.0.1",
                port=args.callback_port,
                log_level="error",
                lifespan="off",
            )
            server = uvicorn.Server(config)
            tg.create_task(server.serve())
        now = datetime.now(UTC)
        for user in range(USERS):
            await client.store.add_entry(topup(f"u{user}", SEED_CREDITS, key=f"seed:u{user}", at=now))
        await submit_all(client, args.jobs, args.out_dir)
        done: set[str] = set()
        deadline = time.monotonic() + args.timeout
        while not await all_delivered(client, args.jobs, done):
            if time.monotonic() > deadline:
                raise SystemExit(f"not all delivered after {args.timeout} s ({len(done)}/{args.jobs})")
            await asyncio.sleep(0.1)
        if args.linger:
            await asyncio.sleep(args.linger)
        if server is not None:
            server.should_exit = True


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--callback-port", type=int, default=0)
    parser.add_argument("--stop-marker", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--linger", type=float, default=0.0, help="keep the workers running this long at the end")
    return parser.parse_args(argv)


if __name__ == "__main__":
    report = asyncio.run(main(parse(sys.argv[1:])))
    print(json.dumps(report), flush=True)
