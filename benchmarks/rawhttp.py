"""A raw HTTP/1.1 client and server on asyncio streams, for the benchmarks' own load and receiving ends (an httpx
client tops out near 300 requests/s on this machine and would measure itself, not the service).

``Pool``: keep-alive connections to one host, one request in flight on each; ``request`` sends a request with a
body and returns the status and the body. ``serve``: a server answering every request 200 and handing the
request's body, and when it arrived, to a callback. Enough HTTP for the benchmarks (Content-Length bodies,
keep-alive); not a general client or server.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 -- the benchmarks' own plumbing
import contextlib
import time
from collections.abc import AsyncIterator, Callable


class Pool:
    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        self._opened = 0

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._idle.empty() and self._opened < self.size:
            self._opened += 1
            return await asyncio.open_connection(self.host, self.port)
        return await self._idle.get()

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        reader, writer = await self._connection()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        content = await reader.readexactly(length) if length else b""
        self._idle.put_nowait((reader, writer))
        return status, content

    async def close(self) -> None:
        while not self._idle.empty():
            _, writer = self._idle.get_nowait()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def serve(on_request: Callable[[bytes, float], None], port: int = 0) -> AsyncIterator[int]:
    """Serve on 127.0.0.1 (``port`` 0: a free one); yields the port."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                length = 0
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                on_request(body, time.time())
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
