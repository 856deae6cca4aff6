"""Puts the user's ``Translator`` (``tr``) into every handler's data: the stored language, else Telegram's
``language_code``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from kiegen.apps.telegram.deps import Deps, user_key
from kiegen.apps.telegram.i18n import pick_locale

__all__ = ["LocaleMiddleware"]


class LocaleMiddleware(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        deps: Deps = data["deps"]
        user: User | None = data.get("event_from_user")
        locale = pick_locale(None)
        if user is not None:
            stored = await deps.bots.get_user(user_key(user.id))
            locale = stored.locale if stored is not None and stored.locale else pick_locale(user.language_code)
        data["tr"] = deps.catalog.translator(locale)
        return await handler(event, data)
