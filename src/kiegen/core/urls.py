"""The static half of kiegen's SSRF guard: what a URL's form alone says about whether kiegen may fetch it.

Pure (no I/O), so that the services can judge result URLs in callbacks and the HTTP layer can validate a
request's URLs; ``kiegen.adapters.urlguard`` adds DNS resolution and redirect checks on top of it.

``check_url_static`` refuses (``UnsafeURL``), unless ``allow_private`` (``KIEGEN_ALLOW_PRIVATE_URLS=1``,
development and tests only): schemes other than http and https, URLs without a host, hosts with characters no
DNS name has; ``localhost`` and ``*.localhost``; any IP address that is not globally routable (loopback,
RFC 1918, link-local such as 169.254.169.254, carrier-grade NAT, unspecified, multicast, reserved; IPv6 forms
embedding an IPv4 address: ``::ffff:127.0.0.1``, NAT64, 6to4, Teredo), in every numeric spelling C resolvers
accept (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from kiegen.core.errors import UnsafeURL

__all__ = ["PRIVATE_HINT", "check_url_static", "host_allowed", "is_blocked_address", "parse_ip", "shown"]

PRIVATE_HINT = "set KIEGEN_ALLOW_PRIVATE_URLS=1 for development"

_HOST_CHARS = re.compile(r"^[a-z0-9._\-:\[\]%]+$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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
    url = _CONTROL.sub("", url)
    try:
        parts = urlsplit(url.strip())
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return "<malformed URL>"
    return f"{parts.scheme}://{host}{parts.path}"[:300] if parts.scheme else url.split("?", 1)[0][:300]


def _host_of(url: str) -> tuple[str, int]:
    if _CONTROL.search(url):
        # urlsplit would silently drop a TAB or a line break, and the HTTP client then refuses the URL.
        raise UnsafeURL(shown(url), "the URL contains control characters")
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise UnsafeURL(shown(url), f"malformed URL ({exc})") from None
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


def host_allowed(host: str, allowed: frozenset[str]) -> bool:
    """``host`` (any case, trailing dot or not) is named in ``allowed``: an entry ``example.com`` allows that
    host only, ``.example.com`` allows example.com and every subdomain (``KIEGEN_RESULT_HOSTS``' rule)."""
    host = host.lower().rstrip(".")
    if not host:
        return False
    for entry in allowed:
        entry = entry.strip().lower().rstrip(".")
        if entry.startswith("."):
            if host == entry[1:] or host.endswith(entry):
                return True
        elif host == entry:
            return True
    return False
