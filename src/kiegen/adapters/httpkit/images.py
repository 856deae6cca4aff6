"""Telling an image's or a video's type by its first bytes, never by what a server or a file name claims.

Images: PNG, JPEG, WEBP (16 bytes are enough). Videos: the ISO base media container (MP4, and QuickTime MOV
when its brand says ``qt``), whose first box is ``ftyp`` at offset 4, and Matroska/WebM, whose EBML header
starts ``1A 45 DF A3`` and names its DocType within its first few dozen bytes (``SNIFF_BYTES`` cover it).
An ``ftyp`` whose brand is a still image (HEIC, AVIF) or audio (M4A) is not a video.
"""

from __future__ import annotations

__all__ = ["IMAGE_MIME", "MEDIA_MIME", "SNIFF_BYTES", "VIDEO_MIME", "sniff_image", "sniff_media", "sniff_video"]

IMAGE_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
VIDEO_MIME = {"mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm", "mkv": "video/x-matroska"}
MEDIA_MIME = {**IMAGE_MIME, **VIDEO_MIME}
SNIFF_BYTES = 64
"""How many first bytes ``sniff_media`` wants (a WebM's DocType sits inside its EBML header)."""

_EBML = b"\x1a\x45\xdf\xa3"
_NOT_VIDEO_BRANDS = frozenset(
    {
        # HEIF/AVIF stills and image sequences share the container but are pictures
        b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevm", b"hevs", b"mif1", b"msf1",
        # audio-only MPEG-4
        b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B ",
    }
)  # fmt: skip


def sniff_image(head: bytes) -> str | None:
    """``png``, ``jpeg`` or ``webp`` when the first bytes say so, else None (16 bytes are enough)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def sniff_video(head: bytes) -> str | None:
    """``mp4``, ``mov``, ``webm`` or ``mkv`` when the first bytes say so, else None (``SNIFF_BYTES`` suffice)."""
    if len(head) >= 12 and head[4:8] == b"ftyp" and int.from_bytes(head[:4], "big") >= 12:
        brand = head[8:12]
        if brand in _NOT_VIDEO_BRANDS:
            return None
        return "mov" if brand == b"qt  " else "mp4"
    if head.startswith(_EBML):
        # The DocType element (42 82, a length byte, then the name) says which flavour of Matroska this is.
        at = head.find(b"\x42\x82", 4)
        if at < 0:
            return "mkv"
        return "webm" if head[at + 3 : at + 7] == b"webm" else "mkv"
    return None


def sniff_media(head: bytes) -> str | None:
    """An image's or a video's type (``sniff_image`` then ``sniff_video``), else None."""
    return sniff_image(head) or sniff_video(head)
