"""Which messages are for the bot. In a private chat: all. In a group (the bot has privacy mode on, and behaves
as if it had, whatever the setting): commands (matched by their own filters), messages that mention the bot,
and replies to the bot's messages. The rest is the members' conversation: never a prompt, never answered."""

from __future__ import annotations

from aiogram import Bot
from aiogram.enums import ChatType, MessageEntityType
from aiogram.filters import BaseFilter
from aiogram.types import Message

__all__ = ["Addressed", "is_private"]


def is_private(message: Message) -> bool:
    return message.chat.type == ChatType.PRIVATE


class Addressed(BaseFilter):
    async def __call__(self, message: Message, bot: Bot) -> bool:
        if is_private(message):
            return True
        me = await bot.me()
        reply = message.reply_to_message
        if reply is not None and reply.from_user is not None and reply.from_user.id == me.id:
            return True
        text = message.text or message.caption or ""
        for entity in message.entities or message.caption_entities or []:
            if entity.type == MessageEntityType.MENTION and me.username:
                if entity.extract_from(text).lstrip("@").lower() == me.username.lower():
                    return True
            elif entity.type == MessageEntityType.TEXT_MENTION and entity.user is not None and entity.user.id == me.id:
                return True
        return False
