"""Keep the bot token out of every log line.

aiogram, aiohttp and httpx put request URLs in log records and exception texts, and a Bot API URL contains the
token (``/bot<token>/sendMessage``, ``/file/bot<token>/...``). A log record factory redacts the formatted
message and any exception text when the record is created, whichever logger or handler it goes to.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["redact_token", "token_redaction"]

REPLACEMENT = "<bot-token>"


def redact_token(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REPLACEMENT)
    return text


def _factory(previous: Callable[..., logging.LogRecord], secrets: tuple[str, ...]) -> Callable[..., logging.LogRecord]:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's problem, not ours to hide
            return record
        redacted = redact_token(message, secrets)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact_token(text.rstrip("\n"), secrets)
            record.exc_info = None
        return record

    return make


@contextmanager
def token_redaction(*secrets: str) -> Iterator[None]:
    """Install the redacting record factory for the block (the bot app wraps its whole run in it)."""
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(_factory(previous, tuple(s for s in secrets if s)))
    try:
        yield
    finally:
        logging.setLogRecordFactory(previous)
