"""The SSRF guard: every URL kiegen fetches (result downloads) or posts to (webhooks) passes it first.

Refused, unless ``allow_private`` (``KIEGEN_ALLOW_PRIVATE_URLS=1``, development and tests only):

- schemes other than http and https, URLs without a host, hosts with characters no DNS name has;
- ``localhost`` and ``*.localhost``;
- any address that is not globally routable: loopback, private (RFC 1918), link-local (cloud metadata at
  169.254.169.254), carrier-grade NAT, unspecified (``0.0.0.0``), multicast and reserved ranges, in IPv4 or
  IPv6, including IPv6 forms that embed an IPv4 address (IPv4-mapped ``::ffff:127.0.0.1``, NAT64, 6to4);
- IPv4 addresses in the numeric spellings that C resolvers accept (``2130706433``, ``0x7f000001``,
  ``0177.0.0.1``, ``127.1``): they are read the way ``inet_aton`` reads them, so no spelling slips through;
- host names that resolve to any such address.

``check_url_static`` decides from the URL alone (no I/O: for validating a request); ``check_url`` adds the DNS
resolution. Neither follows redirects: callers must not let their HTTP client follow them either, and must
check every ``Location`` they choose to follow (``next_hop``). A name that resolves differently by the time
the client connects (DNS rebinding) is not caught here: this guard stops mistakes and simple attacks, not a
hostile resolver.

This module belongs to no adapter sub-package, so that every adapter may use it without depending on another.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urljoin, urlsplit

import anyio

from kiegen.core.errors import UnsafeURL

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

PRIVATE_HINT = "set KIEGEN_ALLOW_PRIVATE_URLS=1 for development"

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""(host, port) -> the IP addresses the host resolves to."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_HOST_CHARS = re.compile(r"^[a-z0-9._\-:\[\]%]+$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


async def system_resolver(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in await anyio.getaddrinfo(host, port)]


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """``host`` read as the BSD ``inet_aton`` reads it (1 to 4 parts, each decimal, 0x-hex or 0-octal, the last
    filling the remaining bytes), or None when it is not such a number."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        try:
            if part.lower().startswith("0x"):
                values.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                values.append(int(part, 8))
            else:
                values.append(int(part, 10))
        except ValueError:
            return None
        if part.startswith(("+", "-")) or values[-1] < 0:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for value in head:
        number = number * 256 + value
    number = number * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(number)


def parse_ip(host: str) -> IPAddress | None:
    """The IP address a URL host denotes (brackets, zone ids and numeric IPv4 spellings understood), or None
    for a name."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.split("%", 1)[0]  # an IPv6 zone id
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if ":" in host:
        return None
    return _inet_aton(host)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def is_blocked_address(ip: IPAddress) -> bool:
    """True for every address that is not a plain public unicast one."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None and is_blocked_address(embedded):
            return True
    return not ip.is_global or ip.is_multicast or ip.is_unspecified or ip.is_reserved or ip.is_loopback


def shown(url: str) -> str:
    """``url`` without userinfo, query and fragment (where tokens live), for error messages and logs."""
    try:
        parts = urlsplit(url.strip())
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return "<malformed URL>"
    return f"{parts.scheme}://{host}{parts.path}"[:300] if parts.scheme else url.split("?", 1)[0][:300]


def _host_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeURL(shown(url), "only http and https URLs are allowed")
    try:
        host = parts.hostname
        port = parts.port
    except ValueError as exc:  # a port that is not a number, a malformed IPv6 literal
        raise UnsafeURL(shown(url), f"malformed URL ({exc})") from None
    if not host:
        raise UnsafeURL(shown(url), "the URL has no host")
    if not _HOST_CHARS.match(host):
        raise UnsafeURL(shown(url), "the host has characters no DNS name or IP address has")
    return host.rstrip("."), port or (443 if parts.scheme.lower() == "https" else 80)


def check_url_static(url: str, *, allow_private: bool = False) -> tuple[str, int] | None:
    """Refuse ``url`` (``UnsafeURL``) when its form alone makes it unsafe. Returns (host, port) when the host is
    a name that still needs resolving, None when nothing is left to check."""
    host, port = _host_of(url)
    if allow_private:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        raise UnsafeURL(shown(url), f"loopback host ({PRIVATE_HINT})")
    ip = parse_ip(host)
    if ip is not None:
        if is_blocked_address(ip):
            raise UnsafeURL(shown(url), f"private, loopback or reserved address {ip} ({PRIVATE_HINT})")
        return None
    return host, port


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
