"""The HTTP toolkit every adapter shares (STYLE rule 17: a helper has one home), beside ``urlguard``:

- ``guarded_get``: the one size-capped, SSRF-guarded GET (redirects followed one checked hop at a time);
- ``parse_retry_after``: Retry-After as delta seconds or an HTTP date;
- ``sniff_image``, ``sniff_video``, ``sniff_media``: PNG, JPEG, WEBP; MP4/MOV, WebM/Matroska by magic bytes;
- ``redact`` and friends: the one log redactor (KIE key, bot token, bearer tokens, token-like query values);
- ``user_agent``: the User-Agent of every outgoing request (``KIEGEN_USER_AGENT``).

The wall clock is ``kiegen.adapters.system.SystemClock``. None of these modules imports an adapter.
"""

from kiegen.adapters.httpkit.fetch import DEFAULT_MAX_BYTES, MAX_REDIRECTS, Fetched, guarded_get
from kiegen.adapters.httpkit.images import MEDIA_MIME, SNIFF_BYTES, sniff_image, sniff_media, sniff_video
from kiegen.adapters.httpkit.redact import (
    REDACTED,
    RedactingFilter,
    install_log_redaction,
    redact,
    redacting_records,
)
from kiegen.adapters.httpkit.retry_after import parse_retry_after
from kiegen.adapters.httpkit.useragent import DEFAULT_USER_AGENT, user_agent

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_USER_AGENT",
    "MAX_REDIRECTS",
    "MEDIA_MIME",
    "REDACTED",
    "SNIFF_BYTES",
    "Fetched",
    "RedactingFilter",
    "guarded_get",
    "install_log_redaction",
    "parse_retry_after",
    "redact",
    "redacting_records",
    "sniff_image",
    "sniff_media",
    "sniff_video",
    "user_agent",
]
