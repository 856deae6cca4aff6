"""End to end over real HTTP: the real aiogram Bot (long polling) pointed at a fake Bot API server on
127.0.0.1 with ``TelegramAPIServer.from_base``, the KIE simulator app over HTTP (the httpx gateway), the real
kiegen services and the SQLite database, which holds the jobs and the bot's own state (``SqlAlchemyBotStore``:
users, drafts, payments). A "restart" builds a new ``BotApp`` (new engine, new stores) on the same file.
asyncio only: aiogram."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

from kiegen.adapters.aiogram import token_redaction
from kiegen.adapters.sqlalchemy.bot_store import SqlAlchemyBotStore
from kiegen.adapters.system import SystemClock
from kiegen.apps.telegram.app import BotApp
from kiegen.apps.telegram.config import BotConfig
from kiegen.apps.telegram.payments import sign_payload
from kiegen.core.delivery import DeliveryStatus
from kiegen.core.jobs import JobStatus
from kiegen.settings import Settings
from kiegen.simulator.app import create_app, running_in_thread
from kiegen.simulator.engine import SimulatorConfig
from tests.http.servers import free_port
from tests.telegram import updates as up
from tests.telegram.fake_telegram import FakeTelegram
from tests.telegram.harness import PNG, TOKEN
from tests.telegram.server import FakeBotApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


class RecordingAsgi:
    """Every request the KIE simulator receives, to prove the bot token never reaches KIE."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seen: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        self.seen.append(scope["path"].encode() + b"?" + scope.get("query_string", b""))
        self.seen.extend(v for _, v in scope.get("headers", []))

        async def recording_receive() -> Any:
            message = await receive()
            self.seen.append(message.get("body", b""))
            return message

        await self.inner(scope, recording_receive, send)


class World:
    def __init__(self, server: FakeBotApiServer, kie_url: str, kie: Any, db: Path) -> None:
        self.server, self.fake, self.kie_url, self.kie, self.db = server, server.fake, kie_url, kie, db
        self.app: BotApp | None = None

    def settings(self) -> Settings:
        return Settings(
            telegram_bot_token=TOKEN,
            telegram_api_url=self.server.url,
            kie_api_key="kie-test-key",
            kie_base_url=self.kie_url,
            kie_upload_url=self.kie_url,
            database_url=f"sqlite+aiosqlite:///{self.db}",
            allow_private_urls=True,
            free_quota=20,
            prices={"qwen/image-edit": 5},
        )

    @asynccontextmanager
    async def running(self, **settings: Any) -> AsyncIterator[BotApp]:
        """A fresh process's worth of bot: its own engine and stores on the same database file."""
        app = BotApp.from_settings(attrs.evolve(self.settings(), **settings), BotConfig(progress_tick_s=1.0))
        app.leader_retry_s = app.leader_check_s = 0.1
        app.deps.messenger.limits = type(app.deps.messenger.limits)(allow_private=True)
        self.app = app
        async with anyio.create_task_group() as tg:
            await tg.start(app.run)
            try:
                yield app
            finally:
                app.stop()

    def send(self, update: dict[str, Any]) -> None:
        self.server.push(update)

    async def until(self, check: Callable[[], Any], timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            await anyio.sleep(0.05)
        raise AssertionError("timed out waiting")

    def card(self, chat: int) -> dict[str, Any]:
        import copy

        cards = [m for m in self.fake.sent_to(chat) if m.get("reply_markup")]
        return copy.deepcopy(cards[-1]) if cards else {"text": ""}

    def tap(self, chat: int, label: str, message: dict[str, Any] | None = None) -> None:
        message = message or self.card(chat)
        rows = message["reply_markup"]["inline_keyboard"]
        data = next(b["callback_data"] for row in rows for b in row if label in b["text"])
        keep = ("message_id", "date", "chat", "from", "text", "caption")
        self.send(up.tap(chat, data, {k: v for k, v in message.items() if k in keep}))

    def count(self, chat: int) -> int:
        return len(self.fake.sent_to(chat))

    async def step(self, _chat: int, action: Callable[[], None], check: Callable[[], Any] | None = None) -> None:
        """Do something and wait until the bot answered (a new message, an edit or a callback answer)."""
        before = (len(self.fake.calls),)
        action()
        await self.until(check or (lambda: len(self.fake.calls) > before[0]))
        await anyio.sleep(0.15)


@contextmanager
def kie_simulator() -> Iterator[tuple[str, Any, RecordingAsgi]]:
    app = create_app(clock=SystemClock(), config=SimulatorConfig(delay_s=1.0), api_key="kie-test-key")
    recorder = RecordingAsgi(app)
    with running_in_thread(recorder) as url:
        app.set_public_url(url)
        yield url, app.engine, recorder


@pytest.fixture
async def world(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[World]:
    caplog.set_level(logging.DEBUG)
    with token_redaction(TOKEN), kie_simulator() as (kie_url, engine, recorder):
        async with FakeBotApiServer(FakeTelegram(TOKEN)) as server:
            w = World(server, kie_url, engine, tmp_path / "kiegen.db")
            yield w
        assert not any(TOKEN.encode() in chunk for chunk in recorder.seen), "the bot token reached KIE"
        assert recorder.seen  # KIE was used
    assert TOKEN not in caplog.text, "the bot token is in a log line"


async def _generate(w: World, chat: int, *, prompt: str = "a fox") -> dict[str, Any]:
    """Prompt first: the text alone starts a free generation; returns its status card."""
    await w.step(chat, lambda: w.send(up.text(chat, prompt)), lambda: w.fake.sent_to(chat))
    return w.fake.sent_to(chat)[-1]


def _photos(w: World, chat: int) -> list[dict[str, Any]]:
    return [m for m in w.fake.sent_to(chat) if m.get("photo")]


async def test_journeys_over_http(world: World) -> None:
    w, chat = world, 7001
    async with w.running() as app:
        # prompt first: one message, the status card, then the picture in its place
        card = await _generate(w, chat)  # the message as the fake keeps it: its edits show in its history
        await w.until(lambda: "Stop" in str(card.get("reply_markup")))
        photo = await w.until(lambda: _photos(w, chat))
        await w.until(lambda: card["message_id"] in [d["message_id"] for d in w.fake.deleted])
        texts = card.get("history") or []
        assert any("queued" in t for t in texts) and any("drawing" in t for t in texts), texts
        assert photo[0]["caption"].startswith("Z-Image: a fox")
        assert len(await app.client.jobs(user_id=f"tg:{chat}")) == 1
        # J10 history re-sends by file_id, with the buttons
        await w.step(chat, lambda: w.send(up.text(chat, "/history")))
        before = len(w.fake.called("sendPhoto"))
        await w.step(chat, lambda: w.tap(chat, "1."), lambda: len(w.fake.called("sendPhoto")) > before)
        assert w.fake.called("sendPhoto")[-1].params["photo"] == photo[0]["photo"][-1]["file_id"]
        assert "Again" in str(w.fake.last(chat)["reply_markup"])
        # J9 top-up, duplicate successful_payment credited once
        await w.step(chat, lambda: w.send(up.text(chat, "/balance")))
        await w.step(chat, lambda: w.tap(chat, "100 credits"), lambda: w.fake.called("sendInvoice"))
        invoice = w.fake.called("sendInvoice")[0].params
        assert invoice["currency"] == "XTR" and len(invoice["prices"]) == 1
        await w.step(
            chat, lambda: w.send(up.pre_checkout(chat, invoice["payload"], 50)), lambda: w.fake.pre_checkout_answers
        )
        assert w.fake.pre_checkout_answers[0]["ok"] in (True, "true")
        paid = up.successful_payment(chat, invoice["payload"], 50, "charge-e2e-1")
        await w.step(chat, lambda: w.send(paid), lambda: "credits added" in w.fake.last(chat).get("text", ""))
        await w.step(chat, lambda: w.send(paid))
        assert await app.client.store.balance(f"tg:{chat}") == 100
        # J4 + J5 + J8: a captioned photo for a paid model, one confirm, double tap, failing upstream: the card
        # becomes the notice with the reference code and the credits come back
        w.kie.configure(fail_rate=1.0)
        await w.step(
            chat,
            lambda: w.send(up.photo(chat, w.fake.add_file(PNG), caption="make it blue")),
            lambda: "balance 100 → 95" in w.card(chat)["text"],
        )
        confirm = w.card(chat)
        w.tap(chat, "Generate", confirm)
        w.tap(chat, "Generate", confirm)
        notice = await w.until(
            lambda: "credits are back" in w.fake.message(chat, confirm["message_id"]).get("text", "")
        )
        assert notice and await app.client.store.balance(f"tg:{chat}") == 100
        jobs = await app.client.jobs(user_id=f"tg:{chat}")
        assert len(jobs) == 2 and jobs[0].status is JobStatus.FAILED
        w.kie.configure(fail_rate=0.0)


async def test_a_stopped_generation_releases_its_credits_and_its_late_result_is_kept_not_sent(world: World) -> None:
    w, chat = world, 7007
    w.kie.configure(delay_s=3.0)
    port = free_port()  # KIE's callbacks reach the bot's own server: the late result is learned from one
    async with w.running(public_url=f"http://127.0.0.1:{port}", host="127.0.0.1", port=port) as app:
        payload = sign_payload(app.deps.payload_key, 0, chat)
        await w.step(chat, lambda: w.send(up.successful_payment(chat, payload, 50, "charge-stop")))
        await w.step(
            chat,
            lambda: w.send(up.photo(chat, w.fake.add_file(PNG), caption="make it blue")),
            lambda: "Generate" in str(w.card(chat).get("reply_markup")),
        )
        card = w.card(chat)
        await w.step(chat, lambda: w.tap(chat, "Generate", card), lambda: "Stop" in str(w.card(chat)["reply_markup"]))
        assert await app.client.store.balance(f"tg:{chat}") == 95
        await w.step(
            chat,
            lambda: w.tap(chat, "Stop", w.fake.message(chat, card["message_id"])),
            lambda: "stopped" in w.fake.message(chat, card["message_id"])["text"],
        )
        assert await app.client.store.balance(f"tg:{chat}") == 100
        [job] = await app.client.jobs(user_id=f"tg:{chat}")

        async def kept() -> bool:
            stored = await app.client.get(job.id)
            return stored is not None and bool(stored.result_urls)

        deadline = time.monotonic() + 20
        while not await kept():  # KIE finishes it anyway: the callback records the result
            assert time.monotonic() < deadline
            await anyio.sleep(0.1)
        stored = await app.client.get(job.id)
        assert stored is not None and stored.status is JobStatus.CANCELLED
        await anyio.sleep(1.0)
        assert _photos(w, chat) == [] and await app.client.store.deliveries_for(job.id) == []
        assert await app.client.store.balance(f"tg:{chat}") == 100


async def test_restart_in_the_middle_of_a_generation_loses_nothing(world: World) -> None:
    w, chat = world, 7002
    w.kie.configure(delay_s=4.0)
    async with w.running():
        card = await _generate(w, chat)
    assert not _photos(w, chat)  # stopped before the result
    async with w.running() as second:
        await w.until(lambda: _photos(w, chat), timeout=30)
        await w.until(lambda: card["message_id"] in [d["message_id"] for d in w.fake.deleted])
        [job] = await second.client.jobs(user_id=f"tg:{chat}")
        assert job.status is JobStatus.SUCCEEDED
    assert len(_photos(w, chat)) == 1


async def test_a_restart_keeps_the_chosen_language_and_the_draft_being_composed(world: World) -> None:
    w, chat = world, 7005
    async with w.running() as first:
        assert isinstance(first.deps.bots, SqlAlchemyBotStore)
        await w.step(chat, lambda: w.send(up.text(chat, "/start")), lambda: w.fake.sent_to(chat))
        await w.step(chat, lambda: w.send(up.text(chat, "/language")))
        await w.step(chat, lambda: w.tap(chat, "Русский"))
        payload = sign_payload(first.deps.payload_key, 0, chat)
        await w.step(chat, lambda: w.send(up.successful_payment(chat, payload, 50, "charge-restart")))
        await w.step(
            chat,
            lambda: w.send(up.photo(chat, w.fake.add_file(PNG), caption="сделай синим")),
            lambda: "Сгенерировать" in str(w.card(chat).get("reply_markup")),
        )
        card = w.card(chat)
    async with w.running() as second:
        user = await second.deps.bots.get_user(f"tg:{chat}")
        draft = await second.deps.bots.get_draft(f"tg:{chat}")
        assert user is not None and user.locale == "ru"
        assert draft is not None and draft.prompt == "сделай синим" and draft.job_id is None and draft.image_url
        # Telegram still reports the user's language as English: the stored choice wins.
        await w.step(chat, lambda: w.send(up.text(chat, "/help")))
        assert "Как это работает" in w.fake.last(chat)["text"]
        # The card composed before the restart still generates, once.
        w.tap(chat, "Сгенерировать", card)
        await w.until(lambda: _photos(w, chat), timeout=30)
        [job] = await second.client.jobs(user_id=f"tg:{chat}")
        assert job.idempotency_key == f"draft:{draft.id}" and job.inputs["prompt"] == "сделай синим"
        stored = await second.deps.bots.get_draft(f"tg:{chat}")
        assert stored is not None and stored.job_id == job.id


async def test_a_second_instance_on_the_same_database_waits_and_takes_over_polling(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    w, chat = world, 7006
    async with w.running() as first:
        await w.until(lambda: first.leading)
        async with w.running() as second:
            await anyio.sleep(0.5)
            assert first.leading and not second.leading
            await w.step(chat, lambda: w.send(up.text(chat, "/start")), lambda: w.fake.sent_to(chat))
            first.stop()
            await w.until(lambda: second.leading)
            # The new leader may see the first one's last, unconfirmed getUpdates batch again (here /start): the
            # Bot API's offset is only confirmed by the next getUpdates.
            await w.step(
                chat,
                lambda: w.send(up.text(chat, "/help")),
                lambda: any("How it works" in m.get("text", "") for m in w.fake.sent_to(chat)),
            )
            await _generate(w, chat)
            await w.until(lambda: _photos(w, chat), timeout=30)
    waiting = [r.getMessage() for r in caplog.records if "waiting to take over" in r.getMessage()]
    assert len(waiting) == 1, waiting


async def test_a_blocked_user_is_not_retried(world: World) -> None:
    w, chat = world, 7003
    async with w.running() as app:
        await _generate(w, chat)
        w.fake.blocked.add(chat)
        [job] = await app.client.jobs(user_id=f"tg:{chat}")

        async def gone() -> bool:
            return any(d.status is DeliveryStatus.GONE for d in await app.client.store.deliveries_for(job.id))

        deadline = time.monotonic() + 20
        while not await gone():
            assert time.monotonic() < deadline
            await anyio.sleep(0.1)
        sends = len(w.fake.called("sendPhoto"))
        await anyio.sleep(1.5)
        assert len(w.fake.called("sendPhoto")) == sends


async def test_a_photo_refused_as_too_big_arrives_as_a_document(world: World) -> None:
    w, chat = world, 7004
    w.fake.photo_limit = 100
    w.fake.fail(
        "sendPhoto",
        400,
        "Bad Request: failed to get HTTP URL content",
        times=9,
        when=lambda p: str(p.get("photo", "")).startswith("http"),
    )
    async with w.running() as app:
        await _generate(w, chat)
        document = await w.until(lambda: [m for m in w.fake.sent_to(chat) if m.get("document")])
        assert document[0]["caption"].startswith("Z-Image")
        assert app.deps.messenger.rungs["document"] == 1
        urls = [c.params["photo"] for c in w.fake.called("sendPhoto") if str(c.params["photo"]).startswith("http")]
        assert urls and len(urls) == len(set(urls))  # tried by URL once; a failed URL is never sent again


async def test_webhook_mode_serves_the_bot_and_kie_callbacks_from_one_app(world: World) -> None:
    """The bot's webhook route is mounted into the HTTP service's app: one server, one port, for Telegram's
    updates and KIE's callbacks (and the service's health check); the lifespan is the bot's own."""
    w, chat = world, 7008
    port = free_port()
    settings = attrs.evolve(w.settings(), public_url=f"http://127.0.0.1:{port}", port=port, host="127.0.0.1")
    config = BotConfig(progress_tick_s=1.0, webhook=True, webhook_secret="e2e-webhook-secret-0123")
    app = BotApp.from_settings(settings, config)
    app.deps.messenger.limits = type(app.deps.messenger.limits)(allow_private=True)
    async with anyio.create_task_group() as tg:
        await tg.start(app.run)
        try:
            [hook] = await w.until(lambda: w.fake.called("setWebhook"))
            assert hook.params["url"] == f"http://127.0.0.1:{port}/telegram/webhook"
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                for _ in range(100):
                    with contextlib.suppress(httpx.TransportError):
                        if (await http.get("/healthz")).status_code == 200:
                            break
                    await anyio.sleep(0.05)
                update = {"update_id": 1, **up.text(chat, "a fox over a webhook")}
                headers = {"X-Telegram-Bot-Api-Secret-Token": "e2e-webhook-secret-0123"}
                assert (await http.post("/telegram/webhook", json=update, headers=headers)).status_code == 200
                assert (await http.post("/telegram/webhook", json=update)).status_code == 401
            await w.until(lambda: _photos(w, chat), timeout=30)
            [job] = await app.client.jobs(user_id=f"tg:{chat}")
            assert job.status is JobStatus.SUCCEEDED
        finally:
            app.stop()


async def test_an_album_polled_in_one_batch_is_one_draft_and_one_job_even_when_sent_again(world: World) -> None:
    """Long polling hands the album's three updates to the Dispatcher at once (each its own task): they become
    one draft with the three photos in message order, one job; the same batch again changes nothing."""
    w, chat = world, 7011
    async with w.running(prices={"google/nano-banana-edit": 0}) as app:
        await w.step(chat, lambda: w.send(up.text(chat, "/start")))
        await w.step(chat, lambda: w.tap(chat, "Change a photo"), lambda: "Nano Banana Edit" in w.card(chat)["text"])
        await w.step(chat, lambda: w.tap(chat, "Nano Banana Edit"), lambda: "up to 10" in w.card(chat)["text"])
        album = [
            up.photo(
                chat,
                w.fake.add_file(PNG),
                caption="one poster" if i == 0 else None,
                media_group_id="e2e-album",
                message_id=90_000 + i,
            )
            for i in range(3)
        ]
        for update in album:
            w.send(update)
        [job] = await _jobs(app, chat, 1)
        assert len(job.inputs["image_urls"]) == 3 and job.inputs["prompt"] == "one poster"
        draft = await app.deps.bots.get_draft(f"tg:{chat}")
        assert draft is not None and draft.album is not None
        assert [p.message_id for p in draft.album.photos] == [90_000, 90_001, 90_002]
        await w.until(lambda: _photos(w, chat))
        uploads = len(w.kie.uploads)
        for update in album:  # the same messages again (as a new polling leader would re-read them)
            w.send(update)
        await w.until(lambda: not w.fake.updates)  # polled
        await anyio.sleep(2.0)  # longer than the album's window: any card or job would be there by now
        assert len(await app.client.jobs(user_id=f"tg:{chat}")) == 1 and len(w.kie.uploads) == uploads


async def _jobs(app: BotApp, chat: int, n: int, timeout: float = 20.0) -> list[Any]:
    with anyio.fail_after(timeout):
        while len(jobs := await app.client.jobs(user_id=f"tg:{chat}")) < n:  # noqa: ASYNC110 - a store to poll
            await anyio.sleep(0.05)
    return jobs
