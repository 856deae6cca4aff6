"""The in-process bot: the real Dispatcher and routers, a Bot on ``FakeSession``, the real kiegen services on
memory adapters, a FakeClock and the built-in KIE simulator. Updates go in through ``dp.feed_update``."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.abc
import httpx
from aiogram.types import Update

from kiegen.adapters.aiogram import DeliveryLimits, Pacer
from kiegen.adapters.memory import FakeClock, InMemoryBotStore, InMemoryJobStore, SimulatorConfig
from kiegen.adapters.sqlalchemy.bot_store import SqlAlchemyBotStore
from kiegen.adapters.sqlalchemy.store import SqlAlchemyJobStore
from kiegen.apps.telegram.app import build_dispatcher, create_bot, create_messenger, make_deps
from kiegen.apps.telegram.config import BotConfig
from kiegen.apps.telegram.i18n import Catalog
from kiegen.bootstrap import registry_for
from kiegen.client import Client
from kiegen.ports.bot import BotStore
from kiegen.ports.store import JobStore
from kiegen.services import Config
from kiegen.settings import Settings
from kiegen.simulator.png import make_png
from kiegen.simulator.video import make_mp4
from tests.telegram import updates as up
from tests.telegram.fake_telegram import FakeTelegram
from tests.telegram.session import FakeSession

TOKEN = "123456789:AAH-test-SECRET-token-do-not-log-0123"
PNG = make_png("telegram-tests")
VIDEO = make_mp4("telegram-tests")


def serve_results(request: httpx.Request) -> httpx.Response:
    """Result URLs of the simulator, as our own download (ladder rung 2, Original file) sees them: a video model's
    ``.mp4`` is a real MP4."""
    if request.url.path.endswith(".mp4"):
        return httpx.Response(200, content=VIDEO, headers={"content-type": "video/mp4"})
    return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})


FREE_FOUR = ("z-image", "qwen/text-to-image", "qwen/image-to-image", "qwen/image-edit")
"""The seed models, free by default: a bot offering only these has nothing to sell."""


class Harness:
    def __init__(
        self,
        *,
        free_quota: int | None = None,
        prices: Mapping[str, int] | None = None,
        models_enabled: tuple[str, ...] | None = None,
        delay_s: float = 6.0,
        config: BotConfig | None = None,
        simulator: SimulatorConfig | None = None,
        store: JobStore | None = None,
        bots: BotStore | None = None,
        fake: FakeTelegram | None = None,
        database_url: str | None = None,
    ) -> None:
        """``store`` and ``bots`` (default: in memory) are the caller's to open and close; ``fake`` may be shared
        by two harnesses in turn (a restart: what Telegram remembers survives it). ``database_url`` (instead of
        ``store`` and ``bots``): jobs, ledger and the bot's own state in that database (a SQLite file, say),
        opened and migrated with the client."""
        self.fake = fake or FakeTelegram(TOKEN)
        self.session = FakeSession(self.fake)
        self.clock = FakeClock()
        self.catalog = Catalog.load()
        self.bot = create_bot(TOKEN, session=self.session)
        settings = Settings(
            telegram_bot_token=TOKEN, prices=dict(prices or {}), free_quota=free_quota, models_enabled=models_enabled
        )
        self.http = httpx.AsyncClient(transport=httpx.MockTransport(serve_results))
        self.messenger = create_messenger(
            self.bot,
            self.catalog,
            settings,
            pacer=Pacer(per_chat_s=0, per_group_s=0, global_per_s=0),
            limits=DeliveryLimits(allow_private=True),
            http=self.http,
        )
        self.store: JobStore = store if store is not None else InMemoryJobStore()
        self.bots: BotStore = bots if bots is not None else InMemoryBotStore()
        resources: list[Any] = []
        if database_url is not None:
            sql = SqlAlchemyJobStore.from_url(database_url)
            self.store, self.bots = sql, SqlAlchemyBotStore(sql)
            resources.append(sql)
        self.client = Client(
            store=self.store,
            resources=resources,
            clock=self.clock,
            messengers=[self.messenger],
            config=Config(registry=registry_for(settings), free_quota=free_quota),
            simulator=simulator or SimulatorConfig(delay_s=delay_s),
        )
        self.deps = make_deps(
            self.client,
            self.bot,
            self.messenger,
            self.catalog,
            bots=self.bots,
            config=config or BotConfig(split_window_s=0.05),
        )
        self.dp = build_dispatcher(self.deps)
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> Harness:
        await self.client.__aenter__()
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        await self._tg.start(self.deps.progress.run)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)
        await self.client.__aexit__(None, None, None)
        await self.http.aclose()

    @property
    def simulator(self) -> Any:
        return self.client.simulator

    async def feed(self, update: dict[str, Any]) -> None:
        full = {"update_id": len(self.fake.calls) + 1, **update}
        await self.dp.feed_update(self.bot, Update.model_validate(full, context={"bot": self.bot}))

    async def say(self, uid: int, body: str, *, lang: str = "en", chat: int | None = None, **kw: Any) -> dict[str, Any]:
        """Send a text as ``uid`` (in their private chat, or in ``chat``); returns the update's message."""
        update = up.text(uid, body, lang=lang, chat=chat, **kw)
        await self.feed(update)
        return dict(update["message"])

    def card(self, chat: int) -> dict[str, Any]:
        """A snapshot of the newest bot message with buttons (the card, or a result)."""
        return copy.deepcopy([m for m in self.fake.sent_to(chat) if m.get("reply_markup")][-1])

    def texts(self, chat: int) -> list[str]:
        """Every message in ``chat`` as it reads now (text or caption)."""
        return [str(m.get("text") or m.get("caption") or "") for m in self.fake.sent_to(chat)]

    def labels(self, message: dict[str, Any]) -> list[str]:
        return [text for text, _ in self.buttons(message)]

    async def jobs(self, uid: int) -> list[Any]:
        return await self.client.jobs(user_id=f"tg:{uid}")

    def buttons(self, message: dict[str, Any]) -> list[tuple[str, str]]:
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]

    async def press(
        self, uid: int, label: str, message: dict[str, Any] | None = None, *, lang: str = "en", chat: int | None = None
    ) -> None:
        message = message or self.card(uid if chat is None else chat)
        matches = [data for text, data in self.buttons(message) if label in text]
        assert matches, f"no button {label!r} in {self.buttons(message)}"
        await self.feed(up.tap(uid, matches[0], _as_sent(message), lang=lang))

    async def pick(self, uid: int, title: str, *, lang: str = "en", chat: int | None = None) -> None:
        """From the picker (its kinds or one kind's page) tap through the kinds and their pages to ``title``'s
        button, and tap it."""
        where = uid if chat is None else chat
        card = self.card(where)
        if any(title in text for text in self.labels(card)):
            await self.press(uid, title, card, lang=lang, chat=chat)
            return
        for _, kind in [(t, d) for t, d in self.buttons(card) if d.startswith("pg:")]:
            await self.tap_data(uid, kind, card, lang=lang)
            while True:
                page = self.card(where)
                if any(title in text for text in self.labels(page)):
                    await self.press(uid, title, page, lang=lang, chat=chat)
                    return
                turn = [d for t, d in self.buttons(page) if d.startswith("pg:") and t == "▶️"]
                if not turn:
                    break
                await self.tap_data(uid, turn[0], page, lang=lang)
            await self.tap_data(uid, next(d for _, d in self.buttons(page) if d.startswith("pk:")), page, lang=lang)
            card = self.card(where)
        raise AssertionError(f"no model {title!r} in the picker")

    async def tap_data(self, uid: int, data: str, message: dict[str, Any], *, lang: str = "en") -> None:
        await self.feed(up.tap(uid, data, _as_sent(message), lang=lang))

    def last_text(self, chat: int) -> str:
        message = self.fake.last(chat)
        return str(message.get("text") or message.get("caption") or "")

    async def until(self, check: Callable[[], object], timeout: float = 5.0) -> None:
        """Wait (real time: work handed to background tasks) until ``check()`` is true."""
        with anyio.fail_after(timeout):
            while not check():  # noqa: ASYNC110 - nothing to wait on: the check reads the fake's records
                await anyio.sleep(0.01)

    async def run_for(self, seconds: float, step: float = 1.0) -> None:
        await self.clock.advance(seconds, step=step)


def _as_sent(message: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in message.items()
        if k in ("message_id", "date", "chat", "from", "text", "caption", "reply_markup")
    }
