"""Keep the bot token out of every log line.

aiogram, aiohttp and httpx put request URLs in log records and exception texts, and a Bot API URL contains the
token (``/bot<token>/sendMessage``, ``/file/bot<token>/...``). ``token_redaction`` is the toolkit's record
redactor (``kiegen.adapters.httpkit.redacting_records``) with the token shown as ``<bot-token>``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from kiegen.adapters.httpkit import redacting_records

__all__ = ["REPLACEMENT", "token_redaction"]

REPLACEMENT = "<bot-token>"


def token_redaction(*secrets: str) -> AbstractContextManager[None]:
    """Scrub the token from every log record created in the block (the bot app wraps its whole run in it)."""
    return redacting_records(*secrets, label=REPLACEMENT)
