"""Webhook mode: Telegram POSTs updates to ``<KIEGEN_PUBLIC_URL>/telegram/webhook``; ``TelegramWebhook.routes()``
is that one Starlette route, mounted into the process's one ASGI app (``kiegen.apps.http``'s, when it serves KIE
callbacks beside the bot, see ``BotApp``).

What the route accepts, in order (a failed check answers at once and feeds nothing to the dispatcher):
- ``X-Telegram-Bot-Api-Secret-Token`` equal to the secret (compared in constant time), else 401;
- a body of at most ``max_bytes`` (Telegram's updates are a few kilobytes), else 413, read no further;
- JSON that parses, nests no deeper than Python can decode, and is an ``Update``, else 400 (a deeply nested
  body is a client's mistake or an attack, not a server error).
The update is then handed to the dispatcher in the background (``running()`` owns those tasks) so that
Telegram gets its 200 at once; a failing update is logged, never answered with an error Telegram would retry.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from kiegen.apps.telegram.config import WEBHOOK_PATH

__all__ = ["MAX_UPDATE_BYTES", "TelegramWebhook"]

log = logging.getLogger("kiegen.apps.telegram.webhook")

MAX_UPDATE_BYTES = 1024 * 1024
"""Far above any update Telegram sends (a message is at most 4096 characters plus its entities)."""


class _TooLarge(Exception):
    pass


class TelegramWebhook:
    def __init__(self, bot: Bot, dispatcher: Dispatcher, *, secret: str, max_bytes: int = MAX_UPDATE_BYTES) -> None:
        if not secret:
            raise ValueError("webhook mode needs a secret token")
        self.bot = bot
        self.dispatcher = dispatcher
        self.max_bytes = max_bytes
        self._secret = secret.encode()
        self._tg: anyio.abc.TaskGroup | None = None

    def routes(self) -> list[BaseRoute]:
        return [Route(WEBHOOK_PATH, self.receive, methods=["POST"])]

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """While entered, received updates are handled (each in its own task of this group)."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                yield
            finally:
                self._tg = None
                tg.cancel_scope.cancel()

    async def receive(self, request: Request) -> Response:
        given = request.headers.get("x-telegram-bot-api-secret-token", "").encode("latin-1")
        if not hmac.compare_digest(given, self._secret):
            return PlainTextResponse("unauthorized", status_code=401)
        try:
            body = await self._body(request)
        except _TooLarge:
            return PlainTextResponse(f"an update is at most {self.max_bytes} bytes", status_code=413)
        update = self._update(body)
        if update is None:
            return PlainTextResponse("bad update", status_code=400)
        if self._tg is None:
            return PlainTextResponse("not running", status_code=503)
        self._tg.start_soon(self._handle, update)
        return PlainTextResponse("ok")

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    def _update(self, body: bytes) -> Update | None:
        try:
            data: Any = json.loads(body)
            return Update.model_validate(data, context={"bot": self.bot})
        except (ValueError, ValidationError, RecursionError):  # RecursionError: nested deeper than Python decodes
            return None

    async def _handle(self, update: Update) -> None:
        """One update, in the background (Telegram has its 200 already): a failure is logged, not lost."""
        try:
            await self.dispatcher.feed_update(self.bot, update)
        except Exception:
            log.exception("update %s failed", update.update_id)
