"""The card: one message edited in place (menu → models → the draft → its status), and the command menus."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeChatMember, ReplyParameters

from kiegen.apps.telegram.i18n import LOCALES, Catalog
from kiegen.apps.telegram.screens import Screen

__all__ = ["COMMANDS", "OPERATOR_COMMANDS", "remove", "set_commands", "show"]

log = logging.getLogger("kiegen.apps.telegram")

COMMANDS = ("start", "balance", "history", "cancel", "language", "help", "paysupport", "terms")
OPERATOR_COMMANDS = ("stats", "user", "grant", "take", "refund")
"""Added to an operator's own private-chat menu only (``operator=True``)."""


async def show(bot: Bot, chat_id: int, message_id: int | None, screen: Screen, *, reply_to: int | None = None) -> int:
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
    sent = await bot.send_message(
        chat_id,
        screen.text,
        reply_markup=screen.markup,
        parse_mode=ParseMode.HTML,
        reply_parameters=ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None,
    )
    return sent.message_id


async def remove(bot: Bot, chat_id: int, message_id: int) -> None:
    """Delete a card that has served its purpose (cosmetic: a failure is ignored)."""
    with contextlib.suppress(TelegramAPIError):
        await bot.delete_message(chat_id, message_id)


async def set_commands(
    bot: Bot,
    catalog: Catalog,
    locale: str | None = None,
    *,
    chat_id: int | None = None,
    user_id: int | None = None,
    operator: bool = False,
) -> None:
    """The command menu: per language for everyone (start-up); or in one user's language for their private chat
    (``chat_id``), or for that member alone in a group (``chat_id`` and ``user_id``), so that one member's
    language never becomes the whole group's menu. ``operator``: the operator commands too (an operator's
    private chat only)."""
    locales = [locale] if locale else list(LOCALES)
    names = COMMANDS + OPERATOR_COMMANDS if operator and chat_id is not None and chat_id == user_id else COMMANDS
    for code in locales:
        commands = [
            BotCommand(command=c, description=catalog.render(code, f"cmd_{c}", {}, escape=False)) for c in names
        ]
        if chat_id is not None and user_id is not None and chat_id != user_id:
            await bot.set_my_commands(commands, scope=BotCommandScopeChatMember(chat_id=chat_id, user_id=user_id))
        elif chat_id is not None:
            await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=chat_id))
        elif code == "en":
            await bot.set_my_commands(commands)
        else:
            await bot.set_my_commands(commands, language_code=code)
