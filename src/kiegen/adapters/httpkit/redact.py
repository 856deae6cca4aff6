"""The one log redactor: secrets never reach a log line (KIE key, bot token, callback and webhook secrets,
bearer tokens, token-like query values, URL userinfo).

``redact(text)`` replaces every registered secret and every pattern. Two ways put it in front of the logs:

- ``install_log_redaction(*secrets)`` registers secrets and puts a ``RedactingFilter`` on the HTTP loggers
  (httpx logs each request's full URL at INFO, httpcore traces headers at DEBUG) and on kiegen's own; logger
  filters do not apply to records of child loggers, hence the explicit list. The HTTP service also puts the
  filter on its handler, which covers every logger that propagates to the root.
- ``redacting_records(*secrets, label=...)`` installs a log record factory for a block: every record of every
  logger is scrubbed when it is created, its exception text included (the bot wraps its run in it, because
  aiogram and aiohttp put the bot token, part of every Bot API URL, into messages and tracebacks).
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["LOGGERS", "REDACTED", "RedactingFilter", "install_log_redaction", "redact", "redacting_records"]

REDACTED = "[redacted]"
MIN_SECRET = 6
"""Shorter strings are not registered: replacing them everywhere would mangle ordinary text."""

LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "kiegen.kie_httpx",
    "kiegen.httpkit",
    "kiegen.webhook",
)

_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",]+")
_SENSITIVE_QUERY = re.compile(
    r"(?i)([?&](?:token|key|api_key|apikey|access_token|secret|sig|signature|x-amz-signature|x-amz-credential)=)"
    r"[^&#\s'\"]+"
)
_USERINFO = re.compile(r"(?i)(https?://)[^/@\s'\"]+@")

_secrets: dict[str, str] = {}
"""Each registered secret and what replaces it."""
_guard = threading.Lock()


def redact(text: str) -> str:
    """``text`` with registered secrets, bearer tokens, token-like query values and URL userinfo replaced."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, _secrets.get(secret, REDACTED))
    text = _BEARER.sub(rf"\g<1>{REDACTED}", text)
    text = _SENSITIVE_QUERY.sub(rf"\g<1>{REDACTED}", text)
    return _USERINFO.sub(rf"\g<1>{REDACTED}@", text)


def _register(secrets: tuple[str, ...], label: str) -> list[str]:
    """Register ``secrets``; returns those that were not registered before."""
    added = []
    with _guard:
        for secret in secrets:
            if len(secret) >= MIN_SECRET and secret not in _secrets:
                _secrets[secret] = label
                added.append(secret)
    return added


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (arguments merged in) through ``redact``; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: keep it as it is rather than lose it
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactingFilter()


def install_log_redaction(*secrets: str) -> None:
    """Register ``secrets`` and make sure the filter sits on every HTTP logger. Idempotent and thread-safe;
    call it with each key kiegen uses."""
    _register(secrets, REDACTED)
    with _guard:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)


def _factory(previous: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's problem, not ours to hide
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact(text.rstrip("\n"))
            record.exc_info = None
        return record

    return make


@contextmanager
def redacting_records(*secrets: str, label: str = REDACTED) -> Iterator[None]:
    """Scrub every log record created in the block (message and traceback), ``secrets`` shown as ``label``."""
    added = _register(secrets, label)
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(_factory(previous))
    try:
        yield
    finally:
        logging.setLogRecordFactory(previous)
        with _guard:
            for secret in added:
                _secrets.pop(secret, None)
