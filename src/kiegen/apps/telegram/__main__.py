"""``python -m kiegen.apps.telegram``: run the bot.

Needs ``TELEGRAM_BOT_TOKEN``. Long polling by default; ``KIEGEN_TELEGRAM_WEBHOOK=1`` with
``KIEGEN_TELEGRAM_WEBHOOK_SECRET`` and ``KIEGEN_PUBLIC_URL`` serves a webhook on ``KIEGEN_HOST:KIEGEN_PORT``
instead. ``KIEGEN_TELEGRAM_API_URL`` points the bot at another Bot API server. Everything else is kiegen's
(``KIE_API_KEY``, ``KIEGEN_DATABASE_URL``, ``KIEGEN_FREE_QUOTA``, ``KIEGEN_PRICES``...). A configuration
problem prints one line and exits with status 2.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

import anyio
from aiogram.utils.token import TokenValidationError

from kiegen.adapters.aiogram import token_redaction
from kiegen.apps.telegram.app import BotApp
from kiegen.apps.telegram.config import BotConfig
from kiegen.core.errors import ConfigurationError
from kiegen.settings import Settings

__all__ = ["main"]


def _fail(message: str) -> int:
    print(f"kiegen.apps.telegram: {message}", file=sys.stderr)
    return 2


def main(environ: Mapping[str, str] | None = None, *, app_options: Mapping[str, Any] | None = None) -> int:
    """Run the bot until SIGINT/SIGTERM; ``app_options`` go to ``BotApp.from_settings`` (tests and embedders:
    a Bot API session of their own, the messenger's HTTP client)."""
    env = os.environ if environ is None else environ
    try:
        settings = Settings.from_env(env)
        config = BotConfig.from_env(env)
    except ConfigurationError as exc:
        return _fail(exc.message)
    token = settings.telegram_bot_token
    if not token:
        return _fail("TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather and export it")
    if config.webhook and not settings.public_url:
        return _fail("KIEGEN_TELEGRAM_WEBHOOK=1 needs KIEGEN_PUBLIC_URL (where Telegram can reach this server)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with token_redaction(token):
        try:
            app = BotApp.from_settings(settings, config, **(app_options or {}))
        except TokenValidationError:
            return _fail("TELEGRAM_BOT_TOKEN is malformed: it looks like 123456:ABC-DEF...")
        if settings.simulated:
            print(
                "kiegen.apps.telegram: KIE_API_KEY is not set: generating with the built-in simulator", file=sys.stderr
            )
        asyncio.run(_run_until_signalled(app))
    return 0


async def _run_until_signalled(app: BotApp) -> None:
    """SIGINT/SIGTERM stop the bot gracefully (the poller stops, the database is closed)."""
    async with anyio.create_task_group() as tg:

        async def watch_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    app.stop()
                    return

        tg.start_soon(watch_signals)
        await app.run()
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    sys.exit(main())
