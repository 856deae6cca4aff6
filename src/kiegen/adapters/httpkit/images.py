"""Telling an image's type by its first bytes, never by what a server or a file name claims."""

from __future__ import annotations

__all__ = ["IMAGE_MIME", "sniff_image"]

IMAGE_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def sniff_image(head: bytes) -> str | None:
    """``png``, ``jpeg`` or ``webp`` when the first bytes say so, else None (16 bytes are enough)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None
