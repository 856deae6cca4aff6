"""SIGKILL of the real bot process in the middle of its own download of a result (the ``mid_download`` crash
point inside ``AiogramMessenger``, rung 2 of the ladder), then a restart: the result still reaches the chat,
once.

The bot runs as ``python -m kiegen.apps.telegram`` (long polling, SQLite file) against the fake Bot API server in this
test's event loop and the KIE simulator served from a thread; Telegram refuses every photo by URL, so the
messenger downloads the result itself. The first run is ``dying_bot.py`` (the same bot, with a messenger HTTP
client whose transport kills the process once the first part of the body has arrived). asyncio only:
aiohttp and aiogram."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest

from kiegen.adapters.sqlalchemy.store import SqlAlchemyJobStore
from kiegen.adapters.system import SystemClock
from kiegen.core.delivery import DeliveryStatus
from kiegen.core.jobs import Job, JobStatus
from kiegen.simulator.app import create_app, running_in_thread
from kiegen.simulator.engine import SimulatorConfig
from tests.http.servers import subprocess_env
from tests.telegram import updates as up
from tests.telegram.fake_telegram import FakeTelegram
from tests.telegram.harness import TOKEN
from tests.telegram.server import FakeBotApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
KIE_KEY = "kie-crash-test-key"
DYING_BOT = Path(__file__).with_name("dying_bot.py")
CHAT = 7301
URL_REFUSED = "Bad Request: wrong file identifier/HTTP URL specified"


class ResultDownloads:
    """The KIE simulator, counting the GETs of result images (the messenger's own downloads)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.count = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith("/results/"):
            self.count += 1
        await self.inner(scope, receive, send)


@contextmanager
def kie_simulator() -> Iterator[tuple[str, ResultDownloads]]:
    app = create_app(clock=SystemClock(), config=SimulatorConfig(delay_s=1.0), api_key=KIE_KEY)
    downloads = ResultDownloads(app)
    with running_in_thread(downloads) as url:
        app.set_public_url(url)
        yield url, downloads


def bot_env(telegram_url: str, kie_url: str, db: Path, **extra: str) -> dict[str, str]:
    """This environment without any kiegen, KIE or Telegram setting of the developer's, plus the bot's."""
    env = subprocess_env()
    env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        KIEGEN_TELEGRAM_API_URL=telegram_url,
        KIE_API_KEY=KIE_KEY,
        KIEGEN_KIE_BASE_URL=kie_url,
        KIEGEN_KIE_UPLOAD_URL=kie_url,
        KIEGEN_DATABASE_URL=f"sqlite+aiosqlite:///{db}",
        KIEGEN_ALLOW_PRIVATE_URLS="1",
        KIEGEN_FREE_QUOTA="20",
        KIEGEN_DELIVERY_LEASE_S="2",
        KIEGEN_WORKER_INTERVAL_S="0.2",
        KIEGEN_POLL_GRACE_S="0.5",
    )
    env.update(extra)
    return env


@asynccontextmanager
async def bot_process(env: Mapping[str, str], log: Path, *, dying: bool = False) -> AsyncIterator[anyio.abc.Process]:
    """``python -m kiegen.apps.telegram`` (``dying``: ``dying_bot.py``), its output appended to ``log``; killed on
    the way out if still running."""
    command = [sys.executable, str(DYING_BOT)] if dying else [sys.executable, "-m", "kiegen.apps.telegram"]
    with log.open("ab") as out:
        process = await anyio.open_process(command, cwd=ROOT, env=dict(env), stdout=out, stderr=out)
    try:
        yield process
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):  # it may have just ended
                    process.kill()
            await process.aclose()


async def exit_code(process: anyio.abc.Process, timeout: float = 30.0) -> int:
    with anyio.move_on_after(timeout):
        return await process.wait()
    raise AssertionError(f"the bot process was still running after {timeout} s")


async def until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out waiting"
        await anyio.sleep(0.05)
    return value


class Person:
    """One user of the bot, talking to it through the fake Bot API server."""

    def __init__(self, server: FakeBotApiServer, chat: int) -> None:
        self.server, self.fake, self.chat = server, server.fake, chat

    def photos(self) -> list[dict[str, Any]]:
        return [m for m in self.fake.sent_to(self.chat) if m.get("photo")]

    async def say(self, text: str) -> None:
        await self._answered(lambda: self.server.push(up.text(self.chat, text)))

    async def _answered(self, action: Callable[[], object]) -> None:
        """Do ``action`` and wait until the bot changed the chat (a message or an edit) and then went quiet."""
        before = repr(self.fake.sent_to(self.chat))
        action()
        await until(lambda: repr(self.fake.sent_to(self.chat)) != before)
        seen = ""
        while seen != (now := repr(self.fake.sent_to(self.chat))):
            seen = now
            await anyio.sleep(0.3)


async def the_job(db: Path) -> tuple[Job, DeliveryStatus]:
    store = await SqlAlchemyJobStore.open(f"sqlite+aiosqlite:///{db}", migrate=False)
    try:
        [job] = await store.list_jobs(user_id=f"tg:{CHAT}")
        [delivery] = await store.deliveries_for(job.id)
        return job, delivery.status
    finally:
        await store.aclose()


async def test_sigkill_mid_download_in_the_bot_then_a_restart_delivers_the_photo_once(tmp_path: Path) -> None:
    db, log = tmp_path / "kiegen.db", tmp_path / "bot.log"
    fake = FakeTelegram(TOKEN)
    # Telegram cannot fetch the result's URL: the messenger downloads it itself (rung 2), in both runs.
    fake.fail("sendPhoto", 400, URL_REFUSED, times=99, when=lambda p: str(p.get("photo", "")).startswith("http"))
    with kie_simulator() as (kie_url, downloads):
        async with FakeBotApiServer(fake) as server:
            person = Person(server, CHAT)
            async with bot_process(bot_env(server.url, kie_url, db), log, dying=True) as first:
                await person.say("a fox")  # prompt first: the text starts the generation
                assert await exit_code(first) == -signal.SIGKILL
            by_url = [c for c in fake.called("sendPhoto") if str(c.params["photo"]).startswith("http")]
            assert len(by_url) == 1 and downloads.count == 1  # refused by URL, then the download started
            assert not person.photos()
            job, status = await the_job(db)
            assert job.status is JobStatus.SUCCEEDED and status is DeliveryStatus.PENDING

            async with bot_process(bot_env(server.url, kie_url, db), log) as second:
                [photo] = await until(person.photos)
                deadline = time.monotonic() + 30
                while (await the_job(db))[1] is not DeliveryStatus.SENT:
                    assert time.monotonic() < deadline, "the delivery was not recorded as sent"
                    await anyio.sleep(0.2)
                second.send_signal(signal.SIGTERM)
                assert await exit_code(second) == 0
    assert fake.files[photo["photo"][-1]["file_id"]].startswith(b"\x89PNG")  # our upload, not a fetched URL
    assert len(person.photos()) == 1
    job, status = await the_job(db)
    assert job.status is JobStatus.SUCCEEDED and status is DeliveryStatus.SENT
    assert downloads.count == 2
    assert TOKEN not in log.read_text(errors="replace"), "the bot token is in the bot's log"
