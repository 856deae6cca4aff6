"""The KIE simulator, ready to run: ``create_app``, ``serve``/``run`` (uvicorn), callbacks over HTTP.

``create_app()`` gives a ``SimulatorApp`` (see ``kiegen.simulator.asgi`` for the routes, the auth rule and the
fault knobs) around a ``SimulatedKie`` engine. Without an engine it builds one on the clock it is given (real
time: ``kiegen.adapters.system.SystemClock``) whose callbacks are POSTed to callBackUrl by
``HttpxCallbackSink``, and the ASGI lifespan runs it. ``serve`` and ``run`` put it
behind uvicorn; ``running_in_thread`` does so in a background thread (tests, and clients running on trio).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from kiegen.ports.clock import Clock
from kiegen.simulator.asgi import SimulatorApp
from kiegen.simulator.engine import SimulatedKie, SimulatorConfig
from kiegen.simulator.faults import HttpFault, HttpFaults

__all__ = [
    "CallbackRefused",
    "HttpFault",
    "HttpFaults",
    "HttpxCallbackSink",
    "SimulatorApp",
    "create_app",
    "httpx_callback_sink",
    "run",
    "running_in_thread",
    "serve",
]


class CallbackRefused(Exception):
    """The callback receiver answered with an error status (recorded by the engine in ``callback_errors``)."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"callback to {url} answered HTTP {status}")
        self.url = url
        self.status = status


class HttpxCallbackSink:
    """POSTs callback bodies to callBackUrl as KIE does: JSON, no custom headers, ``timeout`` seconds (KIE: 15).
    Every answer's status is kept in ``statuses``; a 4xx/5xx answer raises ``CallbackRefused``."""

    def __init__(self, client: httpx.AsyncClient | None = None, *, timeout: float = 15.0) -> None:
        self.client = client
        self.timeout = timeout
        self.statuses: list[tuple[str, int]] = []

    async def __call__(self, url: str, body: bytes) -> int:
        headers = {"Content-Type": "application/json", "User-Agent": "kiegen-kie-simulator"}
        if self.client is not None:
            response = await self.client.post(url, content=body, headers=headers, timeout=self.timeout)
        else:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(url, content=body, headers=headers)
        self.statuses.append((url, response.status_code))
        if response.status_code >= 400:
            raise CallbackRefused(url, response.status_code)
        return response.status_code


def httpx_callback_sink(client: httpx.AsyncClient | None = None, *, timeout: float = 15.0) -> HttpxCallbackSink:
    """The engine's ``callback_sink`` over HTTP. Without ``client`` each callback uses a short-lived client."""
    return HttpxCallbackSink(client, timeout=timeout)


def create_app(
    engine: SimulatedKie | None = None,
    *,
    clock: Clock | None = None,
    config: SimulatorConfig | None = None,
    api_key: str | None = None,
    public_url: str | None = None,
    faults: Iterable[str] = (),
    text_field: str = "msg",
) -> SimulatorApp:
    """The simulator app. Without ``engine`` it builds one on ``clock`` whose callbacks go out over HTTP, and
    runs it during the ASGI lifespan; a given engine is run by its owner (``async with engine``)."""
    own = engine is None
    if engine is None:
        if clock is None:
            # The wall clock is kiegen.adapters.system.SystemClock, a layer above the simulator: the caller
            # (kiegen simulate-kie, a test) hands it in.
            raise ValueError("create_app needs a clock (e.g. kiegen.adapters.system.SystemClock()) to build its engine")
        engine = SimulatedKie(clock, config, callback_sink=httpx_callback_sink())
    elif config is not None or clock is not None:
        raise ValueError("pass either an engine, or a clock and a config, not both")
    http_faults = HttpFaults()
    http_faults.load(faults)
    return SimulatorApp(
        engine, api_key=api_key, public_url=public_url, faults=http_faults, text_field=text_field, own_engine=own
    )


def _server(app: SimulatorApp, host: str, port: int, log_level: str) -> Any:
    import uvicorn

    config = uvicorn.Config(
        app, host=host, port=port, lifespan="on", log_level=log_level, ws="none", timeout_graceful_shutdown=2
    )
    return uvicorn.Server(config)


async def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    app: SimulatorApp | None = None,
    log_level: str = "warning",
    **app_options: Any,
) -> None:
    """Serve the simulator with uvicorn until cancelled or signalled (asyncio only: uvicorn is asyncio-bound).
    ``app_options`` go to ``create_app`` when no ``app`` is given."""
    await _server(app or create_app(**app_options), host, port, log_level).serve()


def run(host: str = "127.0.0.1", port: int = 8080, *, log_level: str = "warning", **app_options: Any) -> None:
    """Blocking ``serve`` for a command line (``kiegen simulate-kie``): runs its own event loop."""
    _server(create_app(**app_options), host, port, log_level).run()


@contextlib.contextmanager
def running_in_thread(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve an ASGI ``app`` (usually a ``SimulatorApp``) with uvicorn in a background thread, on its own asyncio
    loop, and yield its base URL: for tests and tools whose own loop may be trio. Port 0 picks a free port. A
    ``SimulatorApp`` without a public URL gets this one. The server stops on exit."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        base = f"http://{host}:{sock.getsockname()[1]}"
        if isinstance(app, SimulatorApp) and not app.base_known:
            app.set_public_url(base)
        config = uvicorn.Config(app, lifespan="auto", log_level="warning", ws="none", timeout_graceful_shutdown=1)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="kie-simulator", daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("the KIE simulator did not start")
                time.sleep(0.01)
            yield base
        finally:
            server.should_exit = True
            thread.join(10)
    finally:
        sock.close()
