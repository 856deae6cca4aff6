"""Keep secrets out of logs: the KIE key, bearer tokens, and token-like query parameters.

httpx logs every request's full URL at INFO on the ``httpx`` logger, and httpcore traces at DEBUG (response
headers included). kiegen sends the key only in the Authorization header, but result and callback URLs carry
tokens and signatures in their query strings. ``install_log_redaction`` puts a ``RedactingFilter`` on those
loggers (and on kiegen's own), so a record is scrubbed before any handler sees it, at any level.

Logger filters do not apply to records of child loggers, hence the explicit list of httpcore's loggers.
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = ["REDACTED", "RedactingFilter", "install_log_redaction", "redact"]

REDACTED = "[redacted]"

LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "kiegen.kie_httpx",
)

_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",]+")
_SENSITIVE_QUERY = re.compile(
    r"(?i)([?&](?:token|key|api_key|apikey|access_token|secret|sig|signature|x-amz-signature|x-amz-credential)=)"
    r"[^&#\s'\"]+"
)
_USERINFO = re.compile(r"(?i)(https?://)[^/@\s'\"]+@")

_secrets: set[str] = set()
_guard = threading.Lock()


def redact(text: str) -> str:
    """``text`` with registered secrets, bearer tokens, token-like query values and URL userinfo replaced."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _BEARER.sub(rf"\g<1>{REDACTED}", text)
    text = _SENSITIVE_QUERY.sub(rf"\g<1>{REDACTED}", text)
    return _USERINFO.sub(rf"\g<1>{REDACTED}@", text)


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
    """Register ``secrets`` (short strings are ignored) and make sure the filter sits on every HTTP logger.
    Idempotent and thread-safe; call it with each key kiegen uses."""
    with _guard:
        _secrets.update(s for s in secrets if len(s) >= 6)
        for name in LOGGERS:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
