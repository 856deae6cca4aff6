"""Prompts as people send them.

- ``visible``: a prompt must hold at least one character a person can see. Whitespace, control and format
  characters (zero-width spaces, joiners, BOM), lone combining marks and the "filler" letters that render as
  nothing (Hangul fillers U+115F, U+1160, U+3164, U+FFA0; the blank Braille pattern U+2800) do not count.
- ``Joiner``: Telegram's apps split a message longer than 4096 characters into several, sent one right after
  the other (a 5,000-character prompt arrives as 4,096 + 904). A text long enough to be such a first part is
  held for ``window_s``; the parts that follow from the same person in that chat within the window are
  appended (each extends the window), and the whole is handled once, by the first part's handler.
- ``without_mention``: in a group, the bot's @username in a prompt addressed to it is not part of the prompt.
"""

from __future__ import annotations

import re
import unicodedata

import anyio
import attrs

from kiegen.adapters.aiogram.text import TEXT_LIMIT, utf16_len

__all__ = ["SPLIT_AT", "Joiner", "visible", "without_mention"]

SPLIT_AT = TEXT_LIMIT - 512
"""A text at least this long (UTF-16 units) may be the first part of a split message: the apps cut near the
limit, at a word or line boundary."""

_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cn", "Co", "Cs", "Mn", "Me"})
_FILLERS = frozenset({"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800", "\u034f"})


def visible(text: str) -> bool:
    return any(ch not in _FILLERS and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES for ch in text)


def without_mention(text: str, username: str | None) -> str:
    if not username:
        return text
    return re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE)


@attrs.define
class _Parts:
    texts: list[str]


class Joiner:
    def __init__(self, *, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self._pending: dict[tuple[int, int], _Parts] = {}

    async def collect(self, chat_id: int, user_id: int, text: str) -> str | None:
        """The whole text to handle now, or None when ``text`` was appended to a first part being held (that
        part's handler handles the whole)."""
        key = (chat_id, user_id)
        pending = self._pending.get(key)
        if pending is not None:
            pending.texts.append(text)
            return None
        if utf16_len(text) < SPLIT_AT:
            return text
        parts = _Parts([text])
        self._pending[key] = parts
        try:
            while True:
                seen = len(parts.texts)
                await anyio.sleep(self.window_s)
                if len(parts.texts) == seen:
                    break
        finally:
            del self._pending[key]
        return _join(parts.texts)


def _join(texts: list[str]) -> str:
    """Telegram trims the whitespace it cut at: put one space back where neither side has any."""
    joined = texts[0]
    for text in texts[1:]:
        gap = "" if joined[-1:].isspace() or text[:1].isspace() else " "
        joined += gap + text
    return joined
