"""``guarded_get``: the one GET kiegen makes to a URL it did not choose (result files, input images).

Every URL, and every redirect target, passes the SSRF guard (``kiegen.adapters.urlguard``) and, when given,
the allowed hosts before it is requested; redirects are followed here one hop at a time (at most
``MAX_REDIRECTS``), never by httpx. The body is read in chunks and cut off past ``max_bytes``; ``timeout``
bounds the whole exchange, however slowly a server trickles bytes. Each request names kiegen in its
User-Agent (``user_agent``).

Errors are kiegen errors, whatever the HTTP stack raised:

- ``UnsafeURL``: not http(s), malformed, a private address without ``allow_private``, a host not allowed;
- ``DownloadFailed``: the host answered an error status (``status``; 429 and 5xx are ``retryable``), the file
  is over the cap, more redirects than allowed, a timeout or a network failure (``retryable``, no status).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import cast
from urllib.parse import urlsplit

import anyio
import attrs
import httpx

from kiegen.adapters import urlguard
from kiegen.adapters.httpkit.useragent import user_agent as default_user_agent
from kiegen.core.errors import DownloadFailed, UnsafeURL
from kiegen.core.urls import host_allowed

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_TIMEOUT", "MAX_REDIRECTS", "Fetched", "download_failed", "guarded_get"]

DEFAULT_MAX_BYTES = 30 * 1024 * 1024
DEFAULT_TIMEOUT = 60.0
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@attrs.frozen(kw_only=True)
class Fetched:
    url: str
    """The URL the body came from (after redirects)."""
    body: bytes
    content_type: str | None


class _Hop:
    """Where one GET went: a body, or the next URL to try."""

    def __init__(self, *, body: bytes = b"", location: str | None = None, content_type: str | None = None):
        self.body, self.location, self.content_type = body, location, content_type


def _host(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def download_failed(url: str, reason: str, *, status: int | None = None, retryable: bool) -> DownloadFailed:
    """The ``DownloadFailed`` for ``url`` (shown without query or userinfo), naming its host."""
    shown = urlguard.shown(url)
    return DownloadFailed(
        f"downloading {shown}: {reason}", url=shown, host=_host(url), status=status, retryable=retryable
    )


async def _check(
    url: str, *, allowed_hosts: frozenset[str] | None, allow_private: bool, resolver: urlguard.Resolver
) -> None:
    host = (_host(url) or "").lower()
    if allowed_hosts is not None and not host_allowed(host, allowed_hosts):
        raise UnsafeURL(urlguard.shown(url), f"host {host or '(none)'} is not one of the allowed hosts")
    try:
        await urlguard.check_url(url, allow_private=allow_private, resolver=resolver)
    except OSError as exc:
        raise download_failed(url, f"cannot resolve {host!r} ({exc})", retryable=True) from None


async def _once(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    agent: str,
) -> _Hop:
    host = _host(url)
    try:
        async with client.stream(
            "GET", url, follow_redirects=False, timeout=timeout, headers={"User-Agent": agent}
        ) as response:
            status = response.status_code
            location = response.headers.get("Location")
            if status in _REDIRECTS and location:
                return _Hop(location=location)
            if status != 200:
                raise download_failed(
                    url, _refusal(host, status, agent), status=status, retryable=status == 429 or status >= 500
                )
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise download_failed(
                    url, f"{declared} bytes is over the {max_bytes} byte cap", status=status, retryable=False
                )
            body = bytearray()
            # aiter_bytes is an async generator (typed as a plain iterator): close it ourselves when cut off.
            chunk_stream = cast("AsyncGenerator[bytes, None]", response.aiter_bytes())
            async with contextlib.aclosing(chunk_stream) as chunks:
                async for chunk in chunks:
                    body += chunk
                    if len(body) > max_bytes:
                        raise download_failed(
                            url, f"more than the {max_bytes} byte cap", status=status, retryable=False
                        )
            return _Hop(body=bytes(body), content_type=response.headers.get("Content-Type"))
    except httpx.InvalidURL as exc:  # not an httpx.HTTPError: a URL the client cannot even send
        raise UnsafeURL(urlguard.shown(url), f"malformed URL ({exc})") from None
    except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
        raise download_failed(url, f"{type(exc).__name__} talking to {host}", retryable=True) from exc
    except (ValueError, UnicodeError) as exc:  # what an HTTP stack raises for input it cannot encode
        raise download_failed(url, f"the request could not be sent ({type(exc).__name__})", retryable=False) from exc


def _refusal(host: str | None, status: int, agent: str) -> str:
    text = f"{host} answered HTTP {status}"
    if status == 403:
        return text + f" (the URL may have expired, or the host refused this client, User-Agent {agent!r})"
    if status in (404, 410):
        return text + " (the result URL may have expired)"
    return text


async def guarded_get(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
    allow_private: bool = False,
    allowed_hosts: frozenset[str] | None = None,
    resolver: urlguard.Resolver = urlguard.system_resolver,
    user_agent: str | None = None,
) -> Fetched:
    """GET ``url`` within the guard, the cap and the timeout. ``allowed_hosts`` uses the result-host rules
    (``kiegen.core.urls.host_allowed``: a leading dot allows subdomains)."""
    agent = default_user_agent(user_agent)
    await _check(url, allowed_hosts=allowed_hosts, allow_private=allow_private, resolver=resolver)
    current = url
    with anyio.move_on_after(timeout) as scope:
        for _ in range(MAX_REDIRECTS + 1):
            hop = await _once(client, current, max_bytes=max_bytes, timeout=timeout, agent=agent)
            if hop.location is None:
                return Fetched(url=current, body=hop.body, content_type=hop.content_type)
            current = urlguard.next_hop(current, hop.location)
            await _check(current, allowed_hosts=allowed_hosts, allow_private=allow_private, resolver=resolver)
        raise download_failed(url, f"more than {MAX_REDIRECTS} redirects", retryable=False)
    assert scope.cancelled_caught
    raise download_failed(current, f"not complete within {timeout:g} s", retryable=True)
