"""The card: one message edited in place through model → settings → confirm → progress."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BotCommand, BotCommandScopeChat

from kiegen.apps.telegram.i18n import LOCALES, Catalog
from kiegen.apps.telegram.screens import Screen

__all__ = ["COMMANDS", "Flow", "set_commands", "show"]

log = logging.getLogger("kiegen.apps.telegram")

COMMANDS = ("start", "balance", "history", "cancel", "language", "help", "paysupport", "terms")


class Flow(StatesGroup):
    """Navigation only: what the next message means. The draft itself lives in the BotStore."""

    model = State()
    settings = State()
    photo = State()
    confirm = State()


async def show(bot: Bot, chat_id: int, message_id: int | None, screen: Screen) -> int:
    """Edit the card (or send it when there is none or it cannot be edited); returns the card's message id."""
    if message_id is not None:
        try:
            await bot.edit_message_text(
                text=screen.text,
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=screen.markup,
                parse_mode=ParseMode.HTML,
            )
            return message_id
        except TelegramBadRequest as exc:
            if "not modified" in exc.message:
                return message_id
            log.info("card %s not editable (%s): sending a new one", message_id, exc.message)
    sent = await bot.send_message(chat_id, screen.text, reply_markup=screen.markup, parse_mode=ParseMode.HTML)
    return sent.message_id


async def set_commands(bot: Bot, catalog: Catalog, locale: str | None = None, chat_id: int | None = None) -> None:
    """The command menu: per language for everyone (startup), or for one chat in its user's language."""
    locales = [locale] if locale else list(LOCALES)
    for code in locales:
        commands = [
            BotCommand(command=c, description=catalog.render(code, f"cmd_{c}", {}, escape=False)) for c in COMMANDS
        ]
        if chat_id is not None:
            await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=chat_id))
        elif code == "en":
            await bot.set_my_commands(commands)
        else:
            await bot.set_my_commands(commands, language_code=code)
