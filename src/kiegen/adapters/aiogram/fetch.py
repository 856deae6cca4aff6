"""Downloading a result ourselves when Telegram could not fetch its URL: size cap, timeout, allowed hosts, the
SSRF guard.

Errors: ``UnsafeURL`` (scheme, host or a private address not allowed), ``FetchFailed`` (HTTP error, too
large, timeout, network). The bytes never pass through a log line. ``on_first_chunk`` is called once, when the
first part of the body has arrived and before the rest is read (the messenger's ``mid_download`` crash point);
whatever it raises propagates unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from kiegen.adapters import urlguard
from kiegen.core.errors import KiegenError, UnsafeURL

__all__ = ["FetchFailed", "check_url", "fetch_bytes"]


class FetchFailed(KiegenError):
    retryable = True


async def check_url(url: str, *, allowed_hosts: frozenset[str] | None, allow_private: bool) -> None:
    """The allowed hosts, then the shared SSRF guard (``kiegen.adapters.urlguard``: every spelling of a private
    address, and what a host name resolves to). A name that cannot be resolved is a failed download."""
    host = (urlsplit(url).hostname or "").lower()
    if allowed_hosts is not None and host not in allowed_hosts:
        raise UnsafeURL(urlguard.shown(url), f"host {host} is not in the allowed hosts")
    try:
        await urlguard.check_url(url, allow_private=allow_private)
    except OSError as exc:
        raise FetchFailed(f"cannot resolve {host!r}: {exc}") from None


async def fetch_bytes(
    http: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    timeout_s: float,
    allowed_hosts: frozenset[str] | None = None,
    allow_private: bool = False,
    on_first_chunk: Callable[[], None] | None = None,
) -> bytes:
    await check_url(url, allowed_hosts=allowed_hosts, allow_private=allow_private)
    chunks: list[bytes] = []
    size = 0
    try:
        async with http.stream("GET", url, timeout=timeout_s, follow_redirects=False) as response:
            if response.status_code != 200:
                raise FetchFailed(f"download answered HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchFailed(f"file is larger than {max_bytes} bytes")
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise FetchFailed(f"file is larger than {max_bytes} bytes")
                chunks.append(chunk)
                if on_first_chunk is not None and len(chunks) == 1:
                    on_first_chunk()
    except httpx.HTTPError as exc:
        raise FetchFailed(f"download failed: {type(exc).__name__}") from None
    return b"".join(chunks)
