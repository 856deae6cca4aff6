"""Whatever no other handler took: in a private chat a hint, never silence; in a group, silence (it was the
members' conversation); an unknown button is out of date."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Message

from kiegen.apps.telegram.i18n import Translator


async def anything(message: Message, tr: Translator) -> None:
    await message.answer(tr("hint_idle"))


async def stale(query: CallbackQuery, tr: Translator) -> None:
    await query.answer(tr.plain("stale_card"))


def make_router() -> Router:
    """A fresh router (aiogram attaches a router to one dispatcher only)."""
    router = Router(name="fallback")
    router.message(F.chat.type == ChatType.PRIVATE)(anything)
    router.callback_query()(stale)
    return router
