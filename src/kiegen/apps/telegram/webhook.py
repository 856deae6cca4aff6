"""Webhook mode: Telegram POSTs updates to ``<KIEGEN_PUBLIC_URL>/telegram/webhook`` with the secret token in
``X-Telegram-Bot-Api-Secret-Token``; the header is compared in constant time and anything else gets 401. The
update is handed to the dispatcher in the background so that Telegram gets its 200 at once.

KIE callbacks: when KIEGEN_PUBLIC_URL is set, ``kiegen.apps.http`` serves every other path of the same server (in
polling mode it is served alone on KIEGEN_HOST:KIEGEN_PORT)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
from aiogram.types import Update

from kiegen.apps.telegram.config import WEBHOOK_PATH

if TYPE_CHECKING:
    from kiegen.apps.telegram.app import BotApp

__all__ = ["WebhookApp", "serve_webhook"]

log = logging.getLogger("kiegen.apps.telegram.webhook")

Scope = dict[str, Any]


class WebhookApp:
    def __init__(self, app: BotApp, *, secret: str, fallback: Any | None = None) -> None:
        if not secret:
            raise ValueError("webhook mode needs a secret token")
        self.app = app
        self._secret = secret.encode()
        self._fallback = fallback
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != WEBHOOK_PATH:
            if self._fallback is not None:
                await self._fallback(scope, receive, send)
            else:
                await _reply(send, 404, b"not found")
            return
        if scope["method"] != "POST":
            await _reply(send, 405, b"method not allowed")
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        given = headers.get("x-telegram-bot-api-secret-token", b"")
        if not hmac.compare_digest(given, self._secret):
            await _reply(send, 401, b"unauthorized")
            return
        body = await _body(receive)
        try:
            update = Update.model_validate(json.loads(body), context={"bot": self.app.bot})
        except ValueError:
            await _reply(send, 400, b"bad update")
            return
        task = asyncio.create_task(self._handle(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await _reply(send, 200, b"ok")

    async def _handle(self, update: Update) -> None:
        """One update, in the background (Telegram has its 200 already): a failure is logged, not lost."""
        try:
            await self.app.dispatcher.feed_update(self.app.bot, update)
        except Exception:
            log.exception("update %s failed", update.update_id)


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _reply(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


def callbacks_app(app: BotApp) -> Any | None:
    """``kiegen.apps.http`` (KIE callbacks, and its REST API) on the bot's client, when KIEGEN_PUBLIC_URL is set. Its
    lifespan is not run: the bot already owns the client and its workers."""
    if not app.settings.public_url:
        return None
    try:
        from kiegen.apps.http.app import create_app
    except ImportError:
        log.warning(
            "kiegen.apps.http is not installed: KIE callbacks are not served here (polling still completes jobs)"
        )
        return None
    return create_app(app.client, app.settings)


class _NoLifespan:
    """Serves an ASGI app whose lifespan must not run (the bot owns the client)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await self.inner(scope, receive, send)


async def serve_asgi(app: BotApp, asgi: Any) -> None:
    import uvicorn

    config = uvicorn.Config(
        _NoLifespan(asgi), host=app.settings.host, port=app.settings.port, log_level="warning", lifespan="on"
    )
    await uvicorn.Server(config).serve()


async def serve_webhook(app: BotApp, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
    secret = app.config.webhook_secret
    public_url = app.settings.public_url
    if not secret or not public_url:
        raise RuntimeError("webhook mode needs KIEGEN_TELEGRAM_WEBHOOK_SECRET and KIEGEN_PUBLIC_URL")
    asgi = WebhookApp(app, secret=secret, fallback=callbacks_app(app))
    await app.bot.set_webhook(
        f"{public_url}{WEBHOOK_PATH}",
        secret_token=secret,
        allowed_updates=app.dispatcher.resolve_used_update_types(),
    )
    task_status.started()
    await serve_asgi(app, asgi)
