"""The SSRF guard: every URL kiegen fetches (result downloads) or posts to (webhooks) passes it first.

The static rules (scheme, host, every spelling of a private or reserved address) are ``kiegen.core.urls``,
pure so that the services can judge callback result URLs with them; this module adds what needs I/O:
``check_url`` resolves a host name and refuses it if any of its addresses is blocked. Neither follows
redirects: callers must not let their HTTP client follow them either, and must check every ``Location`` they
choose to follow (``next_hop``; ``kiegen.adapters.httpkit.guarded_get`` does both). A name that resolves
differently by the time the client connects (DNS rebinding) is not caught here: this guard stops mistakes and
simple attacks, not a hostile resolver.

This module belongs to no adapter sub-package, so that every adapter may use it without depending on another.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urljoin

import anyio

from kiegen.core.errors import UnsafeURL
from kiegen.core.urls import PRIVATE_HINT, check_url_static, is_blocked_address, parse_ip, shown

__all__ = [
    "PRIVATE_HINT",
    "Resolver",
    "check_url",
    "check_url_static",
    "is_blocked_address",
    "next_hop",
    "parse_ip",
    "shown",
    "system_resolver",
]

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""(host, port) -> the IP addresses the host resolves to."""


async def system_resolver(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in await anyio.getaddrinfo(host, port)]


async def check_url(url: str, *, allow_private: bool = False, resolver: Resolver = system_resolver) -> None:
    """``check_url_static``, then resolve a host name and refuse it if any of its addresses is blocked.
    Resolution failures propagate as ``OSError`` (the caller decides whether that is worth a retry)."""
    pending = check_url_static(url, allow_private=allow_private)
    if pending is None:
        return
    host, port = pending
    addresses = await resolver(host, port)
    for address in addresses:
        ip = parse_ip(address)
        if ip is None or is_blocked_address(ip):
            raise UnsafeURL(shown(url), f"{host} resolves to a private or loopback address ({PRIVATE_HINT})")


def next_hop(url: str, location: str) -> str:
    """The absolute URL a redirect's ``Location`` points to (check it before following)."""
    return urljoin(url, location.strip())
