"""Middlewares of the dispatcher.

- ``LocaleMiddleware`` (aiogram's ``I18nMiddleware``): the language of whoever sent the update (the one they
  chose with /language, else Telegram's ``language_code``), set as aiogram's i18n context and given to every
  handler as ``tr``.
- ``OwnerCheck``: a tap on a button whose owner is someone else (a group member's card) is answered "this card
  is someone else's" and goes no further: it changes nothing, in the tapper's language.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, TelegramObject, User
from aiogram.utils.i18n import I18nMiddleware

from kiegen.apps.telegram.callbacks import owner_of
from kiegen.apps.telegram.deps import Deps, user_key
from kiegen.apps.telegram.i18n import Catalog, Translator, pick_locale

__all__ = ["LocaleMiddleware", "OwnerCheck"]


class LocaleMiddleware(I18nMiddleware):
    def __init__(self, catalog: Catalog) -> None:
        super().__init__(catalog.i18n)
        self.catalog = catalog

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:  # noqa: ARG002 (aiogram passes both by name)
        deps: Deps = data["deps"]
        user: User | None = data.get("event_from_user")
        if user is None:
            return pick_locale(None)
        stored = await deps.bots.get_user(user_key(user.id))
        return stored.locale if stored is not None and stored.locale else pick_locale(user.language_code)

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        locale = await self.get_locale(event, data)
        data["tr"] = self.catalog.translator(locale)
        with self.i18n.context(), self.i18n.use_locale(data["tr"].locale):
            return await handler(event, data)


class OwnerCheck(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, CallbackQuery):
            owner = owner_of(event.data)
            if owner is not None and owner != event.from_user.id:
                tr: Translator = data["tr"]
                await event.answer(tr.plain("foreign_card"), show_alert=True)
                return None
        return await handler(event, data)
