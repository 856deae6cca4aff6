"""Soak: the apps as real processes on one database, thousands of jobs (``nox -s soak``; a few hundred in
``nox -s reliability``) under dropped and duplicated callbacks, KIE 5xx, Telegram 429s and a slow Telegram,
and random SIGKILLs; then the conservation check: every job terminal, every terminal job delivered to its
person, ledger balanced.

- SQLite, one host: the bot (``python -m kiegen.apps.telegram``, long polling) and the HTTP service
  (``python -m kiegen.apps.http``) as two processes on one file. People generate through the bot's whole journey and
  KIE calls the bot back (its callbacks share the event loop with its slow Telegram deliveries: the
  fast-acknowledgement figure); other services generate through ``/v1`` with a webhook, called back at the
  HTTP service. Each process delivers only what it has a messenger for.
- PostgreSQL: two HTTP services on one database, generations spread over both, either one killed at random.

asyncio only: the fake Bot API server is aiohttp.
"""

from __future__ import annotations

import hashlib
import random
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import anyio
import attrs
import httpx
import pytest

from kiegen.core.tenancy import scoped_user_id
from kiegen.simulator.app import running_in_thread
from kiegen.simulator.asgi import SimulatorApp
from tests.http.servers import API_KEY, WEBHOOK_SECRET, WebhookReceiver, free_port
from tests.reliability.conservation import answer_figures, conserve, prompts_to_jobs
from tests.reliability.harness import SOAK, Database
from tests.reliability.soak import (
    Service,
    base_env,
    chaos,
    figures_line,
    kill_leftovers,
    seed_credits,
    settle,
    submit,
)
from tests.reliability.soak_fakes import ChaosKie, Person, SlowBotApiServer, SoakTelegram, kie_5xx
from tests.telegram.harness import TOKEN

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

# CI-sized by default; KIEGEN_SOAK=1 (``nox -s soak``) runs the long version.
LOAD_S = 300.0 if SOAK else 45.0
API_PER_S = 6.0 if SOAK else 4.0
PEOPLE = 40 if SOAK else 12
KILL_EVERY = (8.0, 20.0) if SOAK else (5.0, 9.0)
SETTLE_S = 600.0 if SOAK else 300.0
GRACEFUL = {0, -signal.SIGTERM}
"""uvicorn shuts down cleanly on SIGTERM, then re-raises the signal: -15 is its clean exit."""
TELEGRAM_DELAY_S = 1.0
"""How long the fake Telegram takes to accept a photo or a document: a slow Telegram."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _trouble(sim: SimulatorApp, fake: SoakTelegram | None, rng: random.Random, until: float) -> None:
    """Every 1-3 s: KIE answers a createTask and some recordInfo calls with 5xx; Telegram throttles a photo
    (429 with retry_after 1-2 s, waited out in place, or 7 s, handed back to the deliverer's schedule) and
    cannot fetch the next photo URL (the bot downloads the result and uploads it)."""
    while time.monotonic() < until:
        await anyio.sleep(rng.uniform(1.0, 3.0))
        kie_5xx(sim, rng)
        if fake is not None:
            fake.throttle(rng.choice(["sendPhoto", "sendPhoto", "editMessageText"]), rng.choice([1, 2, 7]))
            fake.refuse_next_photo_url()


async def _api_load(services: list[Service], hook_url: str, until: float) -> list[str]:
    ids: list[str] = []
    run = uuid.uuid4().hex[:6]
    async with httpx.AsyncClient(timeout=30) as http, anyio.create_task_group() as tg:

        async def one(n: int) -> None:
            ids.append(await submit(http, services, n, webhook_url=hook_url, run=run, deadline=until + 120))

        n = 0
        while time.monotonic() < until:
            tg.start_soon(one, n)
            n += 1
            await anyio.sleep(1 / API_PER_S)
    return ids


def _payers() -> list[str]:
    """The stored ids of the API key's paying users (``/v1`` scopes a ``user_id`` to its key's tenant)."""
    tenant = hashlib.sha256(API_KEY.encode()).hexdigest()[:12]
    return [scoped_user_id(tenant, f"payer-{n}") for n in range(5)]


async def test_soak_sqlite_bot_and_http_service_as_two_processes(tmp_path: Path, report: Callable[[str], None]) -> None:
    started = time.monotonic()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'kiegen.db'}"
    rng = random.Random(2026)
    kie = ChaosKie(lost=0.15, duplicated=0.25, fail_rate=0.08)
    sim = SimulatorApp(kie, api_key="soak-kie-key", own_engine=True)
    receiver = WebhookReceiver()
    fake = SoakTelegram(TOKEN)
    journeys = {"done": 0, "abandoned": 0}
    with running_in_thread(sim) as kie_url, running_in_thread(receiver) as hook_base:
        await seed_credits(database_url, _payers())
        async with SlowBotApiServer(fake, delay_s=TELEGRAM_DELAY_S) as telegram:
            common = base_env(database_url, kie_url)
            http_port, bot_port = free_port(), free_port()
            http = Service(
                "http",
                "kiegen.apps.http",
                {
                    **common,
                    "KIEGEN_HOST": "127.0.0.1",
                    "KIEGEN_PORT": str(http_port),
                    "KIEGEN_PUBLIC_URL": f"http://127.0.0.1:{http_port}",
                    "KIEGEN_WEBHOOK_SECRET": WEBHOOK_SECRET,
                },
                port=http_port,
                cwd=tmp_path,
            )
            bot = Service(
                "bot",
                "kiegen.apps.telegram",
                {
                    **common,
                    "TELEGRAM_BOT_TOKEN": TOKEN,
                    "KIEGEN_TELEGRAM_API_URL": telegram.url,
                    "KIEGEN_TELEGRAM_MAX_CONCURRENT": "100",
                    "KIEGEN_HOST": "127.0.0.1",
                    "KIEGEN_PORT": str(bot_port),
                    "KIEGEN_PUBLIC_URL": f"http://127.0.0.1:{bot_port}",
                },
                port=bot_port,
                cwd=tmp_path,
            )
            services = [http, bot]
            try:
                await http.start()
                await bot.start()
                until = time.monotonic() + LOAD_S

                people = [Person(telegram, fake, chat, step_s=12.0) for chat in range(9001, 9001 + PEOPLE)]

                async def person(who: Person) -> None:
                    attempt = 0
                    chat = who.chat
                    while time.monotonic() < until:
                        attempt += 1
                        done = await who.generate(f"tg {chat} {attempt}")
                        journeys["done" if done else "abandoned"] += 1

                async with anyio.create_task_group() as tg:
                    tg.start_soon(chaos, services, rng, KILL_EVERY, until)
                    tg.start_soon(_trouble, sim, fake, rng, until)
                    for who in people:
                        tg.start_soon(person, who)
                    api_ids = await _api_load([http], f"{hook_base}/hook", until)
                left = await settle(database_url, SETTLE_S)
                exits = [await s.stop() for s in services]
            finally:
                await kill_leftovers(services)
    result, jobs = await conserve(database_url, fake, receiver, {"telegram": bot.killed_at, "webhook": http.killed_at})
    answers = answer_figures(kie, {bot_port: "bot", http_port: "http"})
    jobs_for = prompts_to_jobs(jobs)
    generated = [(who.chat, prompt) for who in people for prompt in who.generated]
    report(
        figures_line(
            "sqlite",
            {
                **attrs.asdict(result),
                "api_accepted": len(api_ids),
                "journeys": journeys["done"],
                "journeys_abandoned": journeys["abandoned"],
                "kills_bot": bot.kills,
                "kills_http": http.kills,
                "callbacks_dropped_by_kie": kie.dropped,
                "callbacks_sent": kie.copies,
                "telegram_429": fake.throttled,
                "photos_uploaded_by_the_bot": sum(1 for c in fake.called("sendPhoto") if c.files),
                "telegram_delay_s": TELEGRAM_DELAY_S,
                "answers": answers,
                "left_after_settle": list(left),
                "elapsed_s": round(time.monotonic() - started, 1),
            },
        )
    )
    assert len(set(api_ids)) == len(api_ids) > 0
    assert {j.id for j in jobs if j.recipient.startswith("webhook:")} == set(api_ids)  # one job per request
    assert generated and all(jobs_for(chat, prompt) == 1 for chat, prompt in generated)  # one per Generate
    assert result.broken == 0, result
    assert receiver.bad_signatures == 0
    assert exits[0] in GRACEFUL and exits[1] == 0, f"graceful stop exit codes {exits}; see {tmp_path}/*.log"
    assert all(a["callbacks"] > 0 and a["non_200"] == a["timed_out"] == 0 for a in answers.values()), answers
    assert bot.kills + http.kills >= 2
    for service in services:
        assert TOKEN not in service.log.read_text(errors="replace"), f"the bot token is in {service.log}"


@pytest.mark.postgres
async def test_soak_postgres_two_http_services(
    postgres_database: Database, tmp_path: Path, report: Callable[[str], None]
) -> None:
    started = time.monotonic()
    database_url = postgres_database.url
    rng = random.Random(2027)
    kie = ChaosKie(lost=0.15, duplicated=0.25, fail_rate=0.08, seed=8)
    sim = SimulatorApp(kie, api_key="soak-kie-key", own_engine=True)
    receiver = WebhookReceiver()
    with running_in_thread(sim) as kie_url, running_in_thread(receiver) as hook_base:
        await seed_credits(database_url, _payers())
        common = base_env(database_url, kie_url, KIEGEN_WEBHOOK_SECRET=WEBHOOK_SECRET, KIEGEN_HOST="127.0.0.1")
        services = []
        for name in ("http-a", "http-b"):
            port = free_port()
            env = {**common, "KIEGEN_PORT": str(port), "KIEGEN_PUBLIC_URL": f"http://127.0.0.1:{port}"}
            services.append(Service(name, "kiegen.apps.http", env, port=port, cwd=tmp_path))
        try:
            for service in services:
                await service.start()
            until = time.monotonic() + LOAD_S
            async with anyio.create_task_group() as tg:
                tg.start_soon(chaos, services, rng, KILL_EVERY, until)
                tg.start_soon(_trouble, sim, None, rng, until)
                api_ids = await _api_load(services, f"{hook_base}/hook", until)
            left = await settle(database_url, SETTLE_S)
            exits = [await s.stop() for s in services]
        finally:
            await kill_leftovers(services)
    killed = sorted(at for s in services for at in s.killed_at)
    result, jobs = await conserve(database_url, None, receiver, {"webhook": killed})
    answers = answer_figures(kie, {s.port: s.name for s in services})
    report(
        figures_line(
            "postgres",
            {
                **attrs.asdict(result),
                "api_accepted": len(api_ids),
                "kills": {s.name: s.kills for s in services},
                "callbacks_dropped_by_kie": kie.dropped,
                "callbacks_sent": kie.copies,
                "answers": answers,
                "left_after_settle": list(left),
                "elapsed_s": round(time.monotonic() - started, 1),
            },
        )
    )
    assert len(set(api_ids)) == len(api_ids) > 0
    assert {j.id for j in jobs} == set(api_ids)  # one job per request, whichever service took it
    assert result.broken == 0, result
    assert receiver.bad_signatures == 0
    assert set(exits) <= GRACEFUL, f"graceful stop exit codes {exits}; see {tmp_path}/*.log"
    assert all(a["callbacks"] > 0 and a["non_200"] == a["timed_out"] == 0 for a in answers.values()), answers
    assert sum(s.kills for s in services) >= 2
