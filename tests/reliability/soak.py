"""The soak harness: the apps as real processes on one database, under load and chaos, then a conservation check.

Pieces, all on loopback:
- ``ChaosKie``: the KIE simulator (served from a thread) with a random task duration, some tasks failing, and
  per task a dropped callback, one callback, or several copies of it spread over half a second; it times every
  callback answer, per receiver. ``kie_5xx`` queues 502/503 answers for createTask and recordInfo.
- ``SoakTelegram`` / ``SlowBotApiServer``: the fake Bot API (in the test's event loop) that remembers each
  chat's messages, answers 429 when told, and is slow to take photos and documents.
- ``Service``: ``python -m apps.http`` or ``python -m apps.telegram`` as a subprocess that ``kill()`` SIGKILLs
  and ``start()`` starts again (ready when its ``/healthz`` answers).
- ``Person``: one Telegram user going through the bot's journey (/start, Create, Z-Image, prompt, Generate),
  starting over when a step is not answered in time (the bot was being killed).
- ``submit``: a ``/v1/generations`` request retried with its Idempotency-Key until a service takes it.
- ``conserve``: after the load, reads the database, the fake Telegram and the webhook receiver.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import json
import os
import random
import signal
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import attrs
import httpx
import sqlalchemy as sa
from aiohttp import web

from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore
from kiegen.core.billing import LedgerEntry, LedgerKind
from kiegen.core.delivery import DeliveryStatus
from kiegen.core.jobs import Job, JobStatus
from kiegen.simulator.app import WallClock
from kiegen.simulator.engine import SimTask, SimulatedKie, SimulatorConfig
from kiegen.simulator.faults import HttpFault
from tests.http.servers import API_KEY, WebhookReceiver
from tests.reliability.harness import ROOT, ledger_audit
from tests.telegram import updates as up
from tests.telegram.fake_telegram import FakeTelegram
from tests.telegram.server import FakeBotApiServer

SEED_CREDITS = 1_000
PAID_MODEL, PAID_PRICE = "qwen/text-to-image", 2

# Short leases and grace periods (operator knobs), so that a killed process's work is taken over in seconds.
TIMINGS = {
    "KIEGEN_DELIVERY_LEASE_S": "3",
    "KIEGEN_CHECK_LEASE_S": "3",
    "KIEGEN_WORKER_INTERVAL_S": "0.2",
    "KIEGEN_POLL_GRACE_S": "0.5",
    "KIEGEN_CALLBACK_GRACE_S": "2",
    "KIEGEN_SUBMIT_GRACE_S": "2",
    "KIEGEN_KIE_RATE_LIMIT": "100000/1",
}


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# KIE


class ChaosKie(SimulatedKie):
    """Per task: dropped callback (``lost``), several copies (``duplicated``: 2-4, up to 0.5 s apart) or one.
    ``answers`` holds (receiver origin, seconds, HTTP status or 0 when nothing answered) per callback sent."""

    def __init__(self, *, lost: float, duplicated: float, fail_rate: float, seed: int = 7) -> None:
        self._http = httpx.AsyncClient(timeout=15, limits=httpx.Limits(max_connections=100))
        config = SimulatorConfig(delay_s=1.0, fail_rate=fail_rate, seed=seed)
        super().__init__(WallClock(), config, callback_sink=self._post)
        self.lost, self.duplicated = lost, duplicated
        self._chaos = random.Random(seed)
        self.answers: list[tuple[str, float, int]] = []
        self.dropped = 0
        self.copies = 0

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await super().__aexit__(*exc_info)
        finally:
            await self._http.aclose()

    async def create_task(self, model: str, inputs: Mapping[str, Any], *, callback_url: str | None) -> str:
        self.configure(delay_s=self._chaos.uniform(0.3, 2.0))
        return await super().create_task(model, inputs, callback_url=callback_url)

    async def _send_callbacks(self, task: SimTask) -> None:
        roll = self._chaos.random()
        if task.callback_url is None or roll < self.lost:
            self.dropped += task.callback_url is not None
            return
        copies = self._chaos.randint(2, 4) if roll < self.lost + self.duplicated else 1
        body = self.callback_body(task)
        for n in range(copies):
            if n:
                await anyio.sleep(self._chaos.uniform(0.0, 0.5))
            task.callback_sent += 1
            self.copies += 1
            with contextlib.suppress(httpx.HTTPError):
                await self._post(task.callback_url, body)

    async def _post(self, url: str, body: bytes) -> int:
        origin = httpx.URL(url).port or 0
        started = time.monotonic()
        try:
            response = await self._http.post(url, content=body, headers={"Content-Type": "application/json"})
        except httpx.HTTPError:
            self.answers.append((str(origin), time.monotonic() - started, 0))
            raise
        self.answers.append((str(origin), time.monotonic() - started, response.status_code))
        return response.status_code


def kie_5xx(app: Any, rng: random.Random) -> None:
    """Queue one round of KIE trouble on the simulator app: a 502 for a createTask, 503s for recordInfo."""
    app.faults.push("createTask", HttpFault.status(rng.choice([500, 502, 503])))
    app.faults.push("recordInfo", HttpFault.status(503), times=rng.randint(1, 3))


# Telegram


class SoakTelegram(FakeTelegram):
    """The fake Bot API, remembering each chat's messages in order (edits change them in place)."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.by_chat: dict[int, list[dict[str, Any]]] = collections.defaultdict(list)
        self.changes: collections.Counter[int] = collections.Counter()
        self.throttled = 0

    def handle(self, method: str, raw: dict[str, Any], files: dict[str, bytes]) -> tuple[int, dict[str, Any]]:
        status, body = super().handle(method, raw, files)
        if status == 429:
            self.throttled += 1
        result = body.get("result")
        for message in result if isinstance(result, list) else [result]:
            if status == 200 and isinstance(message, dict) and "chat" in message:
                chat = int(message["chat"]["id"])
                if not method.lower().startswith("edit"):
                    self.by_chat[chat].append(message)
                self.changes[chat] += 1
        return status, body

    def throttle(self, method: str, retry_after: int) -> None:
        self.fail(method, 429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)

    def refuse_next_photo_url(self) -> None:
        """The next photo sent by URL fails as when Telegram cannot fetch it."""
        self.fail(
            "sendPhoto",
            400,
            "Bad Request: wrong file identifier/HTTP URL specified",
            when=lambda params: str(params.get("photo", "")).startswith("http"),
        )


class SlowBotApiServer(FakeBotApiServer):
    """Takes ``delay_s`` before answering the methods that carry a result (photos, documents, albums)."""

    SLOW = frozenset({"sendphoto", "senddocument", "sendmediagroup"})

    def __init__(self, fake: FakeTelegram, *, delay_s: float) -> None:
        super().__init__(fake)
        self.delay_s = delay_s

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["method"].lower() in self.SLOW:
            await anyio.sleep(self.delay_s)
        return await super()._method(request)


class Person:
    """A Telegram user generating through the bot. ``generate`` gives up (False) when a step is not answered
    within ``step_s``: the bot was down; the next journey starts again from /start."""

    def __init__(self, server: FakeBotApiServer, fake: SoakTelegram, chat: int, *, step_s: float) -> None:
        self.server, self.fake, self.chat, self.step_s = server, fake, chat, step_s

    def _card(
        self, predicate: Callable[[dict[str, Any]], bool], message_id: int | None = None
    ) -> dict[str, Any] | None:
        """The latest card (a text message with buttons), or the message ``message_id``, if ``predicate``."""
        for message in reversed(self.fake.by_chat[self.chat]):
            if message_id is not None and message["message_id"] != message_id:
                continue
            if message_id is not None or (
                message.get("reply_markup") and not message.get("photo") and not message.get("document")
            ):
                return copy.deepcopy(message) if predicate(message) else None
        return None

    @staticmethod
    def _button(card: dict[str, Any], label: str) -> str | None:
        rows = card["reply_markup"]["inline_keyboard"]
        return next((b["callback_data"] for row in rows for b in row if label in b["text"]), None)

    async def _step(
        self, action: Callable[[], object], done: Callable[[dict[str, Any]], bool], message_id: int | None = None
    ) -> dict[str, Any] | None:
        before = self.fake.changes[self.chat]
        action()
        deadline = time.monotonic() + self.step_s
        while time.monotonic() < deadline:
            if self.fake.changes[self.chat] > before and (card := self._card(done, message_id)) is not None:
                return card
            await anyio.sleep(0.1)
        return None

    def _tap(self, card: dict[str, Any], label: str) -> Callable[[], object]:
        data = self._button(card, label)
        keep = ("message_id", "date", "chat", "from", "text", "caption")
        return lambda: self.server.push(up.tap(self.chat, data or "", {k: card[k] for k in keep if k in card}))

    async def generate(self, prompt: str) -> bool:
        card = await self._step(
            lambda: self.server.push(up.text(self.chat, "/start")), lambda c: bool(self._button(c, "Create"))
        )
        if card is None:
            return False
        card = await self._step(self._tap(card, "Create"), lambda c: bool(self._button(c, "Z-Image")))
        if card is None:
            return False
        card = await self._step(self._tap(card, "Z-Image"), lambda c: "Send the prompt" in c.get("text", ""))
        if card is None:
            return False
        say = lambda: self.server.push(up.text(self.chat, prompt))  # noqa: E731
        card = await self._step(say, lambda c: bool(self._button(c, "Generate")) and prompt in c.get("text", ""))
        if card is None:
            return False
        queued = await self._step(
            self._tap(card, "Generate"),
            lambda c: not (c.get("reply_markup") and self._button(c, "Generate")),
            message_id=card["message_id"],
        )
        return queued is not None


# processes


class Service:
    """One app process. ``start`` returns once ``GET <url>/healthz`` answers; ``kill`` is a SIGKILL."""

    def __init__(self, name: str, module: str, env: Mapping[str, str], *, port: int, cwd: Path) -> None:
        self.name, self.module, self.env, self.port, self.cwd = name, module, dict(env), port, cwd
        self.url = f"http://127.0.0.1:{port}"
        self.log = cwd / f"{name}.log"
        self.process: anyio.abc.Process | None = None
        self.kills = 0
        self.starts = 0

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
        self.kills += 1

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


def base_env(database_url: str, kie_url: str, **extra: str) -> dict[str, str]:
    own = ("KIEGEN_", "KIE_", "TELEGRAM_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env.update(TIMINGS)
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
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


# load


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
                    key=f"seed:{user}", user_id=user, kind=LedgerKind.TOPUP, amount=SEED_CREDITS, created_at=_now()
                )
            )
    finally:
        await store.aclose()


def _now() -> Any:
    return WallClock().now()


async def outstanding(database_url: str) -> tuple[int, int, int]:
    """(jobs, jobs not terminal, deliveries pending) straight from the tables."""
    terminal = tuple(s.value for s in JobStatus if s.terminal)
    store = await SqlAlchemyJobStore.open(database_url, migrate=False)
    try:
        async with store.engine.connect() as conn:
            jobs = (await conn.execute(sa.text("SELECT count(*) FROM jobs"))).scalar_one()
            open_jobs = (
                await conn.execute(
                    sa.text("SELECT count(*) FROM jobs WHERE status NOT IN :t").bindparams(
                        sa.bindparam("t", terminal, expanding=True)
                    )
                )
            ).scalar_one()
            pending = (
                await conn.execute(sa.text("SELECT count(*) FROM deliveries WHERE status = 'pending'"))
            ).scalar_one()
        return int(jobs), int(open_jobs), int(pending)
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


# the conservation check


@attrs.frozen
class Conservation:
    jobs: int
    telegram_jobs: int
    api_jobs: int
    paid_jobs: int
    unfinished: int
    undelivered: int
    """Terminal jobs with a delivery not SENT, or none at all."""
    lost: int
    """Terminal jobs whose person (the chat, the webhook receiver) got nothing."""
    wrong_recipient: int
    duplicates: int
    unexplained_duplicates: int
    """Duplicates of a delivery sent on its first attempt: no crash or lease expiry can explain them."""
    succeeded: int
    failed: int
    timed_out: int
    gave_up: int
    """Timed out as ``submit_failed``: KIE refused createTask twice (told, not charged)."""
    double_settled: int
    charged_wrongly: int
    balance_errors: int

    @property
    def broken(self) -> int:
        return (
            self.unfinished
            + self.undelivered
            + self.lost
            + self.wrong_recipient
            + self.unexplained_duplicates
            + self.double_settled
            + self.charged_wrongly
            + self.balance_errors
        )


async def conserve(database_url: str, fake: SoakTelegram | None, receiver: WebhookReceiver) -> Conservation:
    store = await SqlAlchemyJobStore.open(database_url, migrate=False)
    try:
        jobs = await store.list_jobs(limit=1_000_000)
        counts = collections.Counter[str]()
        undelivered = lost = wrong = duplicates = unexplained = 0
        for job in jobs:
            deliveries = await store.deliveries_for(job.id) if job.terminal else []
            if not deliveries or any(d.status is not DeliveryStatus.SENT for d in deliveries):
                undelivered += job.terminal
            seen, elsewhere = _seen(job, fake, receiver)
            wrong += elsewhere
            if job.terminal and seen == 0:
                lost += 1
            extra = max(0, seen - len(deliveries))
            duplicates += extra
            if extra and all(d.attempt <= 1 for d in deliveries):
                unexplained += extra
            counts[job.status.value] += 1
        ledger = await ledger_audit(store, jobs, lambda user: SEED_CREDITS if user.startswith("payer-") else 0)
        return Conservation(
            jobs=len(jobs),
            telegram_jobs=sum(1 for j in jobs if j.recipient.startswith("telegram:")),
            api_jobs=sum(1 for j in jobs if j.recipient.startswith("webhook:")),
            paid_jobs=sum(1 for j in jobs if j.price > 0),
            unfinished=sum(1 for j in jobs if not j.terminal),
            undelivered=undelivered,
            lost=lost,
            wrong_recipient=wrong,
            duplicates=duplicates,
            unexplained_duplicates=unexplained,
            succeeded=counts[JobStatus.SUCCEEDED.value],
            failed=counts[JobStatus.FAILED.value],
            timed_out=counts[JobStatus.TIMED_OUT.value],
            gave_up=sum(1 for j in jobs if j.error_code == "submit_failed"),
            **attrs.asdict(ledger),
        )
    finally:
        await store.aclose()


def _seen(job: Job, fake: SoakTelegram | None, receiver: WebhookReceiver) -> tuple[int, int]:
    """How many times the job's person got it, and how many of its messages went to someone else."""
    if job.recipient.startswith("webhook:"):
        payload = receiver.payloads.get(job.id)
        return receiver.counts[job.id], int(payload is not None and payload["data"]["id"] != job.id)
    assert fake is not None and job.recipient.startswith("telegram:")
    chat = int(job.recipient.removeprefix("telegram:"))
    prompt = str(job.inputs.get("prompt", ""))
    ref = f"Reference: {job.id[:8].upper()}."

    def about_this_job(message: dict[str, Any]) -> bool:
        caption = str(message.get("caption") or "")
        if message.get("photo") or message.get("document"):
            return caption.endswith(f": {prompt}")
        return ref in str(message.get("text") or "")

    mine = sum(1 for m in fake.by_chat[chat] if about_this_job(m))
    elsewhere = sum(1 for c, messages in fake.by_chat.items() if c != chat for m in messages if about_this_job(m))
    return mine, elsewhere


def answer_figures(kie: ChaosKie, names: Mapping[int, str]) -> dict[str, Any]:
    """Callback answers per receiver: count, p50/p99/max seconds of those answered, refused (process down),
    and non-200 answers."""
    figures: dict[str, Any] = {}
    for port, name in names.items():
        mine = [(s, status) for origin, s, status in kie.answers if origin == str(port)]
        answered = [s for s, status in mine if status]
        figures[name] = {
            "callbacks": len(mine),
            "p50_ms": round(1000 * percentile(answered, 0.5), 1),
            "p99_ms": round(1000 * percentile(answered, 0.99), 1),
            "max_ms": round(1000 * max(answered, default=0.0), 1),
            "mean_ms": round(1000 * statistics.fmean(answered), 1) if answered else 0.0,
            "refused": sum(1 for _, status in mine if status == 0),
            "non_200": sum(1 for _, status in mine if status not in (0, 200)),
        }
    return figures


def figures_line(kind: str, values: Mapping[str, Any]) -> str:
    return f"RELIABILITY soak db={kind} " + " ".join(
        f"{k}={json.dumps(v, separators=(',', ':')) if isinstance(v, dict) else v}" for k, v in values.items()
    )
