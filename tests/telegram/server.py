"""FakeBotApiServer: ``FakeTelegram`` over real HTTP on 127.0.0.1 (aiohttp.web, in the test's event loop).

``/bot<token>/<method>`` takes urlencoded or multipart forms (uploads named by ``attach://``), getUpdates long
polls, ``/file/bot<token>/<path>`` serves downloads. A wrong token answers 401 like Telegram does."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from tests.telegram.fake_telegram import FakeTelegram


class FakeBotApiServer:
    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.url = ""
        self.paths: list[str] = []
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._closing = False

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        pushed = self.fake.push_update(update)
        self._changed.set()
        return pushed

    async def __aenter__(self) -> FakeBotApiServer:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.*}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        self._closing = True  # ends pending long polls at once
        self._changed.set()
        await self._runner.cleanup()

    async def _method(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        if request.match_info["token"] != self.fake.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        if request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                else:
                    params[key] = str(value)
        params.update({k: v for k, v in request.query.items() if k not in params})
        if method.lower() == "getupdates":
            await self._wait_for_updates(params)
        status, body = self.fake.handle(method, params, files)
        if method.lower() != "getupdates":
            self._changed.set()
        return web.json_response(body, status=status)

    async def _wait_for_updates(self, params: dict[str, Any]) -> None:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._closing and not any(u["update_id"] >= offset for u in self.fake.updates):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.5))

    async def _file(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        if request.match_info["token"] != self.fake.token:
            return web.Response(status=401)
        data = self.fake.file_bytes(request.match_info["path"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")
