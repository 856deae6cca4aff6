"""Telegram text rules: HTML escaping and the length limits, counted as Telegram counts them (UTF-16 units)."""

from __future__ import annotations

import html

__all__ = ["CAPTION_LIMIT", "TEXT_LIMIT", "escape_cut", "utf16_len"]

CAPTION_LIMIT = 1024
TEXT_LIMIT = 4096
_ELLIPSIS = "…"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def escape_cut(text: str, limit: int = CAPTION_LIMIT) -> str:
    """``text`` escaped for ``parse_mode=HTML`` and cut (with an ellipsis) so that even the escaped form fits
    in ``limit``: a cut never splits an entity like ``&amp;``, and the limit holds before and after parsing."""
    escaped = html.escape(text, quote=False)
    if utf16_len(escaped) <= limit:
        return escaped
    budget = limit - utf16_len(_ELLIPSIS)
    out: list[str] = []
    used = 0
    for char in text:
        piece = html.escape(char, quote=False)
        size = utf16_len(piece)
        if used + size > budget:
            break
        out.append(piece)
        used += size
    return "".join(out).rstrip() + _ELLIPSIS
