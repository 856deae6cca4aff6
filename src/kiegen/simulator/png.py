"""Real PNG images made locally (stdlib only): distinct per seed, so tests can tell results apart."""

from __future__ import annotations

import hashlib
import struct
import zlib

__all__ = ["PNG_MAGIC", "make_png"]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def make_png(seed: str, *, width: int = 64, height: int = 64) -> bytes:
    """A ``width`` x ``height`` RGB gradient whose colours derive from ``seed``."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    r0, g0, b0, r1, g1, b1 = digest[:6]
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            t = (x + y) / max(1, width + height - 2)
            rows += bytes(
                (int(r0 + (r1 - r0) * t) & 0xFF, int(g0 + (g1 - g0) * t) & 0xFF, int(b0 + (b1 - b0) * t) & 0xFF)
            )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_MAGIC + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(rows), 6)) + _chunk(b"IEND", b"")
