"""A real, small MP4 for the simulator's video results (``data/result.mp4``, about 2 KB).

It was made once with ffmpeg 5.1 and committed as package data (kiegen does not need ffmpeg)::

    ffmpeg -f lavfi -i "testsrc=size=64x64:rate=8:duration=1" -c:v libx264 -profile:v baseline \
        -pix_fmt yuv420p -preset veryslow -crf 35 -movflags +faststart -an -map_metadata -1 \
        -fflags +bitexact -flags:v +bitexact result.mp4

One second of H.264 at 64x64, ``moov`` before ``mdat`` (so a player, or Telegram, can start from the first
bytes). ``make_mp4(seed)`` appends a top-level ``free`` box holding the seed: players skip ``free`` boxes, so
the file stays the same valid video while each task's result is told apart by its bytes (as ``make_png``'s are).
"""

from __future__ import annotations

import functools
import struct
from importlib import resources

__all__ = ["make_mp4"]


@functools.cache
def _base() -> bytes:
    return (resources.files("kiegen.simulator") / "data" / "result.mp4").read_bytes()


def make_mp4(seed: str) -> bytes:
    """The simulator's video, with ``seed`` in a trailing ``free`` box (a different file per seed)."""
    payload = seed.encode("utf-8")
    return _base() + struct.pack(">I", 8 + len(payload)) + b"free" + payload
