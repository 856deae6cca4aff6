"""Wiring of the bot: the Bot (optionally pointed at another Bot API server), the messenger, the dispatcher
with its routers, the progress watcher; and the two ways to run it, long polling and webhook.

The process serves one ASGI app (uvicorn on ``KIEGEN_HOST:KIEGEN_PORT``, its lifespan off: the bot owns the
client): ``kiegen.apps.http``'s app when ``KIEGEN_PUBLIC_URL`` is set (KIE callbacks, and its REST API), with the
bot's webhook route (``TelegramWebhook``) mounted into it in webhook mode; the webhook route alone when
``kiegen.apps.http``'s own dependencies are not installed; nothing in long polling without a public URL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

import anyio
import anyio.abc
import attrs
import httpx
import uvicorn
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from kiegen.adapters.aiogram import AiogramMessenger, DeliveryLimits, Pacer
from kiegen.adapters.memory import InMemoryBotStore
from kiegen.adapters.sqlalchemy.bot_store import SqlAlchemyBotStore
from kiegen.adapters.sqlalchemy.leader import LeaderLock, lead, leader_lock
from kiegen.adapters.sqlalchemy.store import SqlAlchemyJobStore
from kiegen.apps.telegram.cards import set_commands
from kiegen.apps.telegram.config import WEBHOOK_PATH, BotConfig
from kiegen.apps.telegram.deps import Deps
from kiegen.apps.telegram.i18n import Catalog
from kiegen.apps.telegram.middleware import LocaleMiddleware, OwnerCheck
from kiegen.apps.telegram.payments import payload_key
from kiegen.apps.telegram.presenter import BotPresenter
from kiegen.apps.telegram.progress import ProgressWatcher
from kiegen.apps.telegram.prompts import Joiner
from kiegen.apps.telegram.routers import routers
from kiegen.apps.telegram.webhook import TelegramWebhook
from kiegen.bootstrap import build, registry_for
from kiegen.client import Client
from kiegen.ports.bot import BotStore
from kiegen.ports.messaging import Messenger
from kiegen.settings import Settings

__all__ = ["BotApp", "bot_store_for", "build_dispatcher", "create_bot", "create_messenger", "make_deps", "one_app"]

log = logging.getLogger("kiegen.apps.telegram")


def create_bot(token: str, *, api_url: str | None = None, session: BaseSession | None = None) -> Bot:
    """A Bot speaking HTML; ``api_url`` (``KIEGEN_TELEGRAM_API_URL``) points it at another Bot API server."""
    if session is None and api_url:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_url))
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def create_messenger(
    bot: Bot,
    catalog: Catalog,
    settings: Settings,
    *,
    pacer: Pacer | None = None,
    limits: DeliveryLimits | None = None,
    http: httpx.AsyncClient | None = None,
) -> AiogramMessenger:
    presenter = BotPresenter(catalog, registry_for(settings))
    limits = limits or DeliveryLimits(allow_private=settings.allow_private_urls, user_agent=settings.user_agent)
    return AiogramMessenger(bot, presenter=presenter, pacer=pacer, limits=limits, http=http)


def make_deps(
    client: Client,
    bot: Bot,
    messenger: AiogramMessenger,
    catalog: Catalog,
    *,
    bots: BotStore,
    config: BotConfig,
) -> Deps:
    presenter = BotPresenter(catalog, client.registry)
    progress = ProgressWatcher(
        client,
        bot,
        progress=presenter.card_progress,
        final=presenter.card_final,
        tick_s=config.progress_tick_s,
    )
    return Deps(
        client=client,
        bots=bots,
        catalog=catalog,
        config=config,
        messenger=messenger,
        progress=progress,
        payload_key=payload_key(bot.token),
        joiner=Joiner(window_s=config.split_window_s),
    )


def bot_store_for(client: Client) -> BotStore:
    """The bot's users, drafts and payments live beside the client's jobs: in its database when the job store
    is the SQL one (the default of ``kiegen.bootstrap.build``), so a restart keeps them; in memory otherwise."""
    if isinstance(client.store, SqlAlchemyJobStore):
        return SqlAlchemyBotStore(client.store)
    return InMemoryBotStore()


def build_dispatcher(deps: Deps, *, storage: BaseStorage | None = None) -> Dispatcher:
    dispatcher = Dispatcher(storage=storage or MemoryStorage())
    dispatcher["deps"] = deps
    dispatcher.update.outer_middleware(LocaleMiddleware(deps.catalog))
    dispatcher.callback_query.outer_middleware(OwnerCheck())
    for router in routers():
        dispatcher.include_router(router)
    return dispatcher


def one_app(client: Client, settings: Settings, routes: Sequence[BaseRoute] = ()) -> Starlette | None:
    """The process's ASGI app: ``kiegen.apps.http`` on the bot's client (when KIEGEN_PUBLIC_URL is set) with
    ``routes`` mounted into it, else ``routes`` alone, else None. Built before the client is entered (the HTTP
    app wraps the client's messenger to count deliveries)."""
    if settings.public_url:
        try:
            from kiegen.apps.http.app import create_app
        except ImportError:
            log.warning(
                "kiegen.apps.http is not installed: KIE callbacks are not served here (polling still completes jobs)"
            )
        else:
            return create_app(client, settings, routes=routes)
    return Starlette(routes=list(routes)) if routes else None


async def serve_asgi(asgi: Starlette, *, host: str, port: int) -> None:
    """Serve until cancelled, then stop the way uvicorn stops (``should_exit``): requests in flight end and the
    listening socket is closed; a cancelled ``serve()`` would leave it open."""
    config = uvicorn.Config(asgi, host=host, port=port, log_level="warning", lifespan="off", log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await asyncio.shield(task)
    finally:
        if not task.done():
            server.should_exit = True
            with anyio.CancelScope(shield=True):
                await task


@attrs.define(kw_only=True)
class BotApp:
    """Everything the process runs: ``await app.run()``, ended by ``app.stop()``.

    In long polling one instance per bot and database polls (``kiegen.adapters.sqlalchemy.leader``: a
    PostgreSQL advisory lock, or a file lock next to a SQLite database); the others deliver results and serve
    KIE callbacks, and take over polling, with the status cards, when the leader goes away. ``leading`` says
    whether this instance polls now."""

    settings: Settings
    config: BotConfig
    bot: Bot
    client: Client
    deps: Deps
    dispatcher: Dispatcher
    webhook: TelegramWebhook | None = None
    asgi: Starlette | None = None
    leader_check_s: float = 5.0
    leader_retry_s: float = 2.0
    leading: bool = attrs.field(default=False, init=False)
    _scope: anyio.CancelScope | None = attrs.field(default=None, init=False)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        config: BotConfig,
        *,
        session: BaseSession | None = None,
        bots: BotStore | None = None,
        client_options: dict[str, Any] | None = None,
        extra_messengers: Sequence[Messenger] = (),
        messenger_http: httpx.AsyncClient | None = None,
    ) -> BotApp:
        """The bot from settings; ``messenger_http`` is the HTTP client of the messenger's own downloads of
        results (default: its own)."""
        assert settings.telegram_bot_token is not None
        catalog = Catalog.load()
        bot = create_bot(settings.telegram_bot_token, api_url=settings.telegram_api_url, session=session)
        messenger = create_messenger(bot, catalog, settings, http=messenger_http)
        client = build(settings, messengers=[messenger, *extra_messengers], **(client_options or {}))
        deps = make_deps(client, bot, messenger, catalog, bots=bots or bot_store_for(client), config=config)
        dispatcher = build_dispatcher(deps)
        webhook = None
        if config.webhook:
            if not config.webhook_secret or not settings.public_url:
                raise ValueError("webhook mode needs KIEGEN_TELEGRAM_WEBHOOK_SECRET and KIEGEN_PUBLIC_URL")
            webhook = TelegramWebhook(bot, dispatcher, secret=config.webhook_secret)
        asgi = one_app(client, settings, webhook.routes() if webhook is not None else ())
        return cls(
            settings=settings,
            config=config,
            bot=bot,
            client=client,
            deps=deps,
            dispatcher=dispatcher,
            webhook=webhook,
            asgi=asgi,
        )

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Open the client (workers deliver), then serve the webhook, or poll as the leader (following progress
        and setting the command menus while leading), until cancelled."""
        try:
            async with self.client:
                with anyio.CancelScope() as self._scope:
                    async with anyio.create_task_group() as tg:
                        await self._serve(tg, task_status)
                        tg.cancel_scope.cancel()
        finally:
            self.leading = False
            with anyio.CancelScope(shield=True):
                await self.deps.messenger.aclose()
                await self.bot.session.close()

    def stop(self) -> None:
        """End ``run`` gracefully: polling stops, then the client closes its workers and database."""
        if self._scope is not None:
            self._scope.cancel()

    async def _serve(self, tg: anyio.abc.TaskGroup, task_status: anyio.abc.TaskStatus[None]) -> None:
        if self.webhook is not None:
            await self._serve_webhook(tg, self.webhook, task_status)
            return
        if self.asgi is not None:
            tg.start_soon(partial(serve_asgi, self.asgi, host=self.settings.host, port=self.settings.port))
        task_status.started()
        lock = self._leader_lock()
        if lock is None:
            await self._poll()
        else:
            await lead(lock, self._poll, retry_s=self.leader_retry_s, check_s=self.leader_check_s)

    async def _serve_webhook(
        self, tg: anyio.abc.TaskGroup, webhook: TelegramWebhook, task_status: anyio.abc.TaskStatus[None]
    ) -> None:
        assert self.asgi is not None and self.config.webhook_secret is not None
        async with webhook.running():
            await tg.start(self.deps.progress.run)
            await set_commands(self.bot, self.deps.catalog)
            tg.start_soon(partial(serve_asgi, self.asgi, host=self.settings.host, port=self.settings.port))
            await self.bot.set_webhook(
                f"{self.settings.public_url}{WEBHOOK_PATH}",
                secret_token=self.config.webhook_secret,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
            )
            task_status.started()
            await anyio.sleep_forever()

    def _leader_lock(self) -> LeaderLock | None:
        store = self.client.store
        if not isinstance(store, SqlAlchemyJobStore):
            return None  # an in-memory store is this process's alone: nobody to share the bot with
        return leader_lock(store, f"telegram-polling.{self.bot.id}")

    async def _poll(self) -> None:
        self.leading = True
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(self.deps.progress.run)
                await set_commands(self.bot, self.deps.catalog)
                await self.bot.delete_webhook(drop_pending_updates=False)
                await self._start_polling()
                tg.cancel_scope.cancel()
        finally:
            self.leading = False

    async def _start_polling(self) -> None:
        """aiogram's polling until cancelled, then stopped with ``stop_polling``. Cancelling ``start_polling``
        itself would leave its getUpdates task running (it waits with ``asyncio.wait``, which does not cancel
        what it waits for): a deposed leader would go on polling beside the new one."""
        task = asyncio.create_task(
            self.dispatcher.start_polling(self.bot, handle_signals=False, close_bot_session=False, polling_timeout=10)
        )
        try:
            await asyncio.shield(task)
        finally:
            if not task.done():
                with anyio.CancelScope(shield=True):
                    try:
                        await self.dispatcher.stop_polling()
                    except RuntimeError:  # not started yet: nothing runs that cancelling could leave behind
                        task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
