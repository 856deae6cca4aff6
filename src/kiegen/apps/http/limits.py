"""How long a client may take and how many may connect: the bounds of ``kiegen.apps.http.serve``.

What uvicorn bounds by itself, and kiegen sets: the idle time of a keep-alive connection between requests
(``timeout_keep_alive``), the size of a request head (``h11_max_incomplete_event_size``, 16 KiB, under h11),
the graceful shutdown. What it does not bound, and kiegen adds:

- **the time to send a request head** (slowloris): uvicorn waits for headers forever and arms its keep-alive timer
  only after a response. ``bounded_h11`` (a subclass of uvicorn's own protocol, httptools when installed, else
  h11, passed as ``http=``) arms a timer when a connection opens and after each response; a connection whose
  next request head is not complete within ``header_timeout_s`` is answered 408 and closed.
- **the number of open connections**: uvicorn's ``limit_concurrency`` only answers 503 to *requests* over the
  limit and keeps every idle connection open. ``bounded_h11`` answers a connection beyond ``max_connections``
  with 503 and closes it at once, before reading anything.
- **the time to send a request body** (``BodyDeadline``, ASGI middleware, so that it holds under any server):
  the whole body must arrive within ``body_timeout_s`` of the request head; otherwise the app sees the client as
  gone (nothing is stored from half a body) and the answer is 408 with ``Connection: close``.

Per-source limits on connections and request rates belong to the reverse proxy in front (``docs/RELIABILITY.md``,
"Behind a reverse proxy"): behind one, every connection comes from the proxy's address.

Environment (all optional): ``KIEGEN_HTTP_HEADER_TIMEOUT_S`` (default 10), ``KIEGEN_HTTP_BODY_TIMEOUT_S``
(default 30), ``KIEGEN_HTTP_MAX_CONNECTIONS`` (default 1000, or half the process's open-file limit if lower),
``KIEGEN_HTTP_KEEP_ALIVE_S`` (default 5).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import anyio
import attrs
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kiegen.core.errors import ConfigurationError

__all__ = ["BodyDeadline", "ServerLimits", "bounded_h11"]

MAX_HEAD_BYTES = 16 * 1024


def _default_max_connections() -> int:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # not a Unix: no such limit to stay under
        return 1000
    if soft == resource.RLIM_INFINITY:
        return 1000
    return max(16, min(1000, soft // 2))  # the other half: the database, KIE, webhooks, logs


@attrs.frozen(kw_only=True)
class ServerLimits:
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = attrs.field(factory=_default_max_connections)
    keep_alive_s: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServerLimits:
        values: dict[str, Any] = {}
        for name, field, kind in (
            ("KIEGEN_HTTP_HEADER_TIMEOUT_S", "header_timeout_s", float),
            ("KIEGEN_HTTP_BODY_TIMEOUT_S", "body_timeout_s", float),
            ("KIEGEN_HTTP_MAX_CONNECTIONS", "max_connections", int),
            ("KIEGEN_HTTP_KEEP_ALIVE_S", "keep_alive_s", float),
        ):
            raw = env.get(name, "").strip()
            if not raw:
                continue
            try:
                value = kind(raw)
                if not 0 < value < 1_000_000:  # also refuses nan
                    raise ValueError
            except ValueError:
                raise ConfigurationError(f"{name}={raw!r} is not a positive number (e.g. 10)") from None
            values[field] = value
        return cls(**values)

    def uvicorn_options(self) -> dict[str, Any]:
        """The options of ``uvicorn.run``/``uvicorn.Config`` that apply these limits."""
        return {
            "http": bounded_h11(header_timeout_s=self.header_timeout_s, max_connections=self.max_connections),
            "timeout_keep_alive": max(1, round(self.keep_alive_s)),
            "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        }


def _plain(status: str, text: bytes, *headers: bytes) -> bytes:
    head = [f"HTTP/1.1 {status}".encode(), b"content-type: text/plain; charset=utf-8"]
    head += [b"content-length: %d" % len(text), *headers, b"connection: close"]
    return b"\r\n".join(head) + b"\r\n\r\n" + text


_TIMED_OUT = _plain("408 Request Timeout", b"the request head did not arrive in time")
_BUSY = _plain("503 Service Unavailable", b"too many connections; try again", b"retry-after: 1")


def _fastest_protocol() -> type[Any]:
    """uvicorn's httptools protocol when httptools is installed (``kiegen[http]``: several times faster at
    parsing than h11, measured in ``benchmarks/bench_http.py``), its h11 one otherwise."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    return HttpToolsProtocol


def bounded_h11(
    *, header_timeout_s: float, max_connections: int, base: type[Any] | None = None
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (``base``, default the fastest installed: httptools, else h11) with a deadline
    for each request head and a cap on open connections."""
    protocol = base or _fastest_protocol()

    class BoundedH11Protocol(protocol):  # type: ignore[valid-type,misc]
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.write(_BUSY)
                transport.close()
                return
            self._arm_head_timer()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete:
                self._cancel_head_timer()  # the head is in: the body has its own deadline (BodyDeadline)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
                self._arm_head_timer()  # the next request on this connection gets the same bound

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

        def _arm_head_timer(self) -> None:
            self._cancel_head_timer()
            self._head_timer = self.loop.call_later(header_timeout_s, self._head_timed_out)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
                return
            self.transport.write(_TIMED_OUT)
            self.transport.close()

    return BoundedH11Protocol


class BodyDeadline:
    """ASGI middleware: a request's body must be complete within ``timeout_s`` of its head (see the module)."""

    def __init__(self, app: ASGIApp, *, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = anyio.current_time() + self.timeout_s
        complete = False
        timed_out = False

        async def bounded_receive() -> Message:
            nonlocal complete, timed_out
            if complete:
                return await receive()
            if timed_out:
                return {"type": "http.disconnect"}
            with anyio.move_on_after(max(0.0, deadline - anyio.current_time())):
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    complete = True
                return message
            timed_out = True
            return {"type": "http.disconnect"}

        async def closing_send(message: Message) -> None:
            if timed_out and message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "status": 408, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, bounded_receive, closing_send)
