"""Fetch result images into a directory: with a size cap, a timeout and an image-type check.

Result URLs expire (KIE_API.md: "typically 24 hours"), so download as soon as a job succeeds. A file is
written only once it is complete and known to be a PNG, JPEG or WEBP image (by its magic bytes, not by what
the server claims); it is written under a temporary name and renamed, so a reader never sees half a file.

Every URL, and every redirect target, passes the SSRF guard of ``kiegen.adapters.urlguard`` before it is
requested; redirects are followed here one hop at a time (at most ``MAX_REDIRECTS``), never by httpx.

Errors are kiegen errors: ``UnsafeURL`` (not http(s), or a private address without ``allow_private``),
``KieRejected`` (4xx, too large, not an image), ``KieUnavailable`` (429, 5xx), ``KieTransportError`` (network,
timeout; ``sent=True``).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncGenerator, Iterable
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import anyio
import attrs
import httpx

from kiegen.adapters import urlguard
from kiegen.adapters.kie_httpx.redact import redact
from kiegen.core.errors import KieRejected, KieTransportError, KieUnavailable

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DownloadedFile",
    "Resolver",
    "download_image",
    "download_results",
    "sniff_image",
    "system_resolver",
]

DEFAULT_MAX_BYTES = 30 * 1024 * 1024
DEFAULT_TIMEOUT = 60.0


@attrs.frozen(kw_only=True)
class DownloadedFile:
    url: str
    path: Path
    kind: str
    """``png``, ``jpeg`` or ``webp``: also the file's extension."""
    size: int


def sniff_image(head: bytes) -> str | None:
    """The image type named by the first bytes, or None when they are not PNG, JPEG or WEBP."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


Resolver = urlguard.Resolver
"""(host, port) -> the IP addresses the host resolves to."""

system_resolver = urlguard.system_resolver

MAX_REDIRECTS = 5


async def _check_url(url: str, *, allow_private: bool, resolver: Resolver) -> None:
    """The SSRF guard (``kiegen.adapters.urlguard``); a host that cannot be resolved is a transport error."""
    try:
        await urlguard.check_url(url, allow_private=allow_private, resolver=resolver)
    except OSError as exc:
        host = urlsplit(url).hostname
        raise KieTransportError(f"cannot resolve {host!r} ({exc})", sent=False) from exc


async def _fetch(
    client: httpx.AsyncClient, url: str, *, max_bytes: int, allow_private: bool, resolver: Resolver
) -> bytes:
    """GET ``url`` (already through the SSRF guard); redirects are followed here, one hop at a time, each
    target through the guard before it is fetched."""
    for _ in range(MAX_REDIRECTS + 1):
        body, location = await _fetch_once(client, url, max_bytes=max_bytes)
        if location is None:
            return body
        url = urlguard.next_hop(url, location)
        await _check_url(url, allow_private=allow_private, resolver=resolver)
    raise KieRejected(f"downloading {redact(url)}: more than {MAX_REDIRECTS} redirects")


async def _fetch_once(client: httpx.AsyncClient, url: str, *, max_bytes: int) -> tuple[bytes, str | None]:
    """The body, or the redirect target (``Location``) when the answer is a redirect."""
    shown = redact(url)
    try:
        async with client.stream("GET", url, follow_redirects=False) as response:
            status = response.status_code
            location = response.headers.get("Location")
            if status in (301, 302, 303, 307, 308) and location:
                return b"", location
            if status == 429 or status >= 500:
                raise KieUnavailable(f"downloading {shown}: HTTP {status}", code=status)
            if status != 200:
                hint = " (the result URL may have expired)" if status in (403, 404, 410) else ""
                raise KieRejected(f"downloading {shown}: HTTP {status}{hint}", code=status)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise KieRejected(f"downloading {shown}: {declared} bytes is over the {max_bytes} byte cap")
            body = bytearray()
            # aiter_bytes is an async generator (typed as a plain iterator): close it ourselves when cut off.
            chunk_stream = cast("AsyncGenerator[bytes, None]", response.aiter_bytes())
            async with contextlib.aclosing(chunk_stream) as chunks:
                async for chunk in chunks:
                    body += chunk
                    if len(body) > max_bytes:
                        raise KieRejected(f"downloading {shown}: more than the {max_bytes} byte cap")
            return bytes(body), None
    except httpx.HTTPError as exc:
        raise KieTransportError(f"downloading {shown}: {type(exc).__name__}", sent=True) from exc


def _safe_stem(stem: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-")
    return cleaned[:100] or "result"


async def download_image(
    client: httpx.AsyncClient,
    url: str,
    directory: str | Path,
    *,
    stem: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
    allow_private: bool = False,
    resolver: Resolver = system_resolver,
) -> DownloadedFile:
    """Download ``url`` to ``directory/<stem>.<png|jpeg|webp>`` (the directory is created; a file of that name
    is replaced). ``timeout`` bounds the whole download, however slowly the server trickles bytes."""
    await _check_url(url, allow_private=allow_private, resolver=resolver)  # before any clock starts
    body = b""
    with anyio.move_on_after(timeout) as scope:
        body = await _fetch(client, url, max_bytes=max_bytes, allow_private=allow_private, resolver=resolver)
    if scope.cancelled_caught:
        raise KieTransportError(f"downloading {redact(url)}: not complete within {timeout:g} s", sent=True)
    kind = sniff_image(body[:16])
    if kind is None:
        raise KieRejected(
            f"downloading {redact(url)}: not a PNG, JPEG or WEBP image (starts with {body[:8]!r}, {len(body)} bytes)"
        )
    folder = anyio.Path(directory)
    await folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{_safe_stem(stem)}.{kind}"
    partial = folder / f".{target.name}.{uuid.uuid4().hex[:8]}.part"
    await partial.write_bytes(body)
    await partial.replace(target)
    return DownloadedFile(url=url, path=Path(target), kind=kind, size=len(body))


async def download_results(
    client: httpx.AsyncClient,
    urls: Iterable[str],
    directory: str | Path,
    *,
    stem: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
    allow_private: bool = False,
    resolver: Resolver = system_resolver,
) -> list[DownloadedFile]:
    """Download every URL in order as ``<stem>-<n>.<ext>`` (``<stem>.<ext>`` when there is one); each URL has
    its own ``timeout``. The first failure is raised; files already written stay."""
    url_list = list(urls)
    files: list[DownloadedFile] = []
    for n, url in enumerate(url_list):
        name = stem if len(url_list) == 1 else f"{stem}-{n}"
        files.append(
            await download_image(
                client,
                url,
                directory,
                stem=name,
                max_bytes=max_bytes,
                timeout=timeout,
                allow_private=allow_private,
                resolver=resolver,
            )
        )
    return files
