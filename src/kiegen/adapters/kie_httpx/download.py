"""Fetch results (images, videos) into a directory, as soon as a job succeeds (KIE_API.md: result URLs
"typically expire after 24 hours").

The GET is the toolkit's ``guarded_get`` (the SSRF guard on every hop, a size cap, a timeout, kiegen's
User-Agent). A file is written only once it is complete and known to be a PNG, JPEG or WEBP image or an MP4,
MOV, WebM or Matroska video (by its magic bytes, not by what the server claims); it is written under a
temporary name and renamed, so a reader never sees half a file.

Errors: ``UnsafeURL`` (not http(s), or a private address without ``allow_private``) and ``DownloadFailed``
(the host's status, too large, neither an image nor a video, timeout, network): a CDN failure is not a KIE
refusal.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx

from kiegen.adapters import urlguard
from kiegen.adapters.httpkit import DEFAULT_MAX_BYTES, SNIFF_BYTES, guarded_get, sniff_media
from kiegen.adapters.httpkit.fetch import DEFAULT_TIMEOUT, download_failed
from kiegen.core.models import Media

__all__ = [
    "DEFAULT_MAX_BYTES",
    "VIDEO_MAX_BYTES",
    "VIDEO_TIMEOUT",
    "DownloadedFile",
    "download_image",
    "download_results",
    "limits_for",
]

VIDEO_MAX_BYTES = 500 * 1024 * 1024
"""The size cap of a video result (a 10-second 1080p clip is tens of MB; images keep ``DEFAULT_MAX_BYTES``)."""
VIDEO_TIMEOUT = 600.0
"""How long a video's download may take in all (500 MB at about 7 Mbit/s; images keep ``DEFAULT_TIMEOUT``)."""


def limits_for(media: Media) -> dict[str, Any]:
    """``download_image``'s ``max_bytes`` and ``timeout`` for a result of ``media``."""
    if media is Media.VIDEO:
        return {"max_bytes": VIDEO_MAX_BYTES, "timeout": VIDEO_TIMEOUT}
    return {"max_bytes": DEFAULT_MAX_BYTES, "timeout": DEFAULT_TIMEOUT}


@attrs.frozen(kw_only=True)
class DownloadedFile:
    url: str
    path: Path
    kind: str
    """``png``, ``jpeg``, ``webp``, ``mp4``, ``mov``, ``webm`` or ``mkv``: also the file's extension."""
    size: int


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
    resolver: urlguard.Resolver = urlguard.system_resolver,
    user_agent: str | None = None,
) -> DownloadedFile:
    """Download ``url`` to ``directory/<stem>.<kind>`` (``DownloadedFile.kind``; the directory is created; a
    file of that name is replaced). ``timeout`` bounds the whole download; ``user_agent`` defaults to kiegen's."""
    fetched = await guarded_get(
        client,
        url,
        max_bytes=max_bytes,
        timeout=timeout,
        allow_private=allow_private,
        resolver=resolver,
        user_agent=user_agent,
    )
    body = fetched.body
    kind = sniff_media(body[:SNIFF_BYTES])
    if kind is None:
        reason = (
            f"not a PNG, JPEG or WEBP image nor an MP4, MOV or WebM video (starts with {body[:8]!r}, {len(body)} bytes)"
        )
        raise download_failed(fetched.url, reason, status=200, retryable=False)
    folder = anyio.Path(directory)
    await folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{_safe_stem(stem)}.{kind}"
    partial = folder / f".{target.name}.{uuid.uuid4().hex[:8]}.part"
    await partial.write_bytes(body)
    await partial.replace(target)
    return DownloadedFile(url=url, path=Path(target), kind=kind, size=len(body))


async def download_results(
    client: httpx.AsyncClient, urls: Iterable[str], directory: str | Path, *, stem: str, **options: Any
) -> list[DownloadedFile]:
    """Download every URL in order as ``<stem>-<n>.<ext>`` (``<stem>.<ext>`` when there is one); ``options`` are
    ``download_image``'s, and each URL has its own timeout. The first failure is raised; files already written stay."""
    url_list = list(urls)
    files: list[DownloadedFile] = []
    for n, url in enumerate(url_list):
        name = stem if len(url_list) == 1 else f"{stem}-{n}"
        files.append(await download_image(client, url, directory, stem=name, **options))
    return files
