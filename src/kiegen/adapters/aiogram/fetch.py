"""Downloading a result ourselves when Telegram could not fetch its URL: size cap, timeout, allowed hosts.

Errors: ``UnsafeURL`` (scheme, host or a private address not allowed), ``FetchFailed`` (HTTP error, too
large, timeout, network). The bytes never pass through a log line. ``on_first_chunk`` is called once, when the
first part of the body has arrived and before the rest is read (the messenger's ``mid_download`` crash point);
whatever it raises propagates unchanged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from kiegen.core.errors import KiegenError, UnsafeURL

__all__ = ["FetchFailed", "check_url", "fetch_bytes"]


class FetchFailed(KiegenError):
    retryable = True


def check_url(url: str, *, allowed_hosts: frozenset[str] | None, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL(url, "only http(s) URLs are fetched")
    host = parts.hostname.lower()
    if allowed_hosts is not None and host not in allowed_hosts:
        raise UnsafeURL(url, f"host {host} is not in the allowed hosts")
    if allow_private:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise UnsafeURL(url, "loopback host")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if not address.is_global:
        raise UnsafeURL(url, "private or reserved address")


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
    check_url(url, allowed_hosts=allowed_hosts, allow_private=allow_private)
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
