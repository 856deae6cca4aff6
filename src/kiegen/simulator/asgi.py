"""SimulatorApp: KIE's HTTP API as a plain ASGI app (no framework) in front of a ``SimulatedKie`` engine.

Routes (the generation and the upload API share one app; point both base URLs at it):

    POST /api/v1/jobs/createTask        GET  /api/v1/jobs/recordInfo?taskId=
    GET  /api/v1/chat/credit            POST /api/v1/common/download-url
    POST /api/file-stream-upload        POST /api/file-base64-upload        POST /api/file-url-upload
    GET  /results/{task}/{n}.png        GET  /uploads/{path}                 (public, like KIE's file hosts)

API routes need ``Authorization: Bearer <key>``: any non-empty key, or exactly ``api_key`` when one is set; a
wrong key is body code 401 inside HTTP 200. Failures are answered KIE's way, HTTP 200 with the code in the
body; ``faults`` (``HttpFaults``) adds what the network does: bare statuses, Retry-After, hangs, broken JSON.

The engine's ``result_base_url`` is set to the app's public base (``public_url``, or learnt from the first
request's Host header), so result and upload URLs resolve to this app. With ``own_engine`` the ASGI lifespan
runs the engine (``async with engine``), so that it sends callbacks.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import anyio
import httpx

from kiegen.core.errors import KieError, KieRateLimited
from kiegen.simulator.engine import SimulatedKie
from kiegen.simulator.faults import FaultKind, HttpFault, HttpFaults
from kiegen.simulator.forms import FormFile, parse_multipart

__all__ = ["SimulatorApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY = 15 * 1024 * 1024
_RESULT_PATH = re.compile(r"^/results/([A-Za-z0-9_.-]+)/(\d+)\.png$")


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


class SimulatorApp:
    def __init__(
        self,
        engine: SimulatedKie,
        *,
        api_key: str | None = None,
        public_url: str | None = None,
        faults: HttpFaults | None = None,
        text_field: str = "msg",
        own_engine: bool = False,
    ) -> None:
        self.engine = engine
        self.api_key = api_key
        self.faults = faults or HttpFaults()
        self.text_field = text_field
        """``msg`` (documented) or ``message`` (seen in some copies): the name of the envelope's text field."""
        self.own_engine = own_engine
        self.base_known = False
        if public_url:
            self.set_public_url(public_url)

    def set_public_url(self, url: str) -> None:
        self.engine.configure(result_base_url=url.rstrip("/"))
        self.base_known = True

    @property
    def public_url(self) -> str:
        return self.engine.config.result_base_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        if self.own_engine:
            async with self.engine:
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
        else:
            await send({"type": "lifespan.startup.complete"})
            await receive()
        await send({"type": "lifespan.shutdown.complete"})

    # plumbing

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not self.base_known and headers.get("host"):
            self.set_public_url(f"{scope.get('scheme', 'http')}://{headers['host']}")
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await self._send(send, 413, b"request too large", "text/plain")
                return
            if not message.get("more_body", False):
                break
        request = _Request(
            method=scope["method"],
            path=scope["path"],
            query={k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()},
            headers=headers,
            body=bytes(body),
        )
        await self._route(request, receive, send)

    async def _send(
        self,
        send: Send,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        extra: Iterable[tuple[str, str]] = (),
    ) -> None:
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _envelope(self, code: int, text: str, data: Any = None, **extra: Any) -> bytes:
        return json.dumps({"code": code, self.text_field: text, "data": data, **extra}).encode()

    async def _reply(self, send: Send, code: int, text: str, data: Any = None, **extra: Any) -> None:
        await self._send(send, 200, self._envelope(code, text, data, **extra))

    async def _hang(self, seconds: float, receive: Receive) -> bool:
        """Wait ``seconds`` or until the client disconnects; True when it did."""
        with anyio.move_on_after(seconds):
            while (await receive())["type"] != "http.disconnect":
                pass
            return True
        return False

    # routing

    async def _route(self, request: _Request, receive: Receive, send: Send) -> None:
        if request.method == "GET" and request.path.startswith(("/results/", "/uploads/")):
            await self._serve_file(request, send)
            return
        handler = self._handlers().get((request.method, request.path))
        if handler is None:
            await self._send(send, 404, self._envelope(404, f"no route {request.method} {request.path}"))
            return
        route = request.path.rsplit("/", 1)[-1]
        self.faults.hits[route] += 1
        bearer = request.headers.get("authorization", "")
        key = bearer[7:].strip() if bearer[:7].lower() == "bearer " else ""
        if not key or (self.api_key is not None and key != self.api_key):
            await self._reply(send, 401, "You do not have access permissions")
            return
        fault = self.faults.take(route)
        if fault is not None and fault.kind is not FaultKind.HANG_AFTER and await self._before(fault, receive, send):
            return
        status, body, extra = await self._answer(handler, request)
        if fault is not None and fault.kind is FaultKind.HANG_AFTER:
            await self._hang(fault.seconds, receive)
            return  # carried out, never answered
        await self._send(send, status, body, extra=extra)

    async def _before(self, fault: HttpFault, receive: Receive, send: Send) -> bool:
        """Serve ``fault``; True when it answered the request (or the client left), False to carry on."""
        extra = [("Retry-After", fault.retry_after)] if fault.retry_after is not None else []
        if fault.kind is FaultKind.BODY:
            await self._send(send, 200, self._envelope(fault.code, fault.message), extra=extra)
        elif fault.kind is FaultKind.STATUS:
            body = self._envelope(fault.code, fault.message) if fault.code == 429 else b"<html>upstream error</html>"
            await self._send(send, fault.code, body, "application/json" if fault.code == 429 else "text/html", extra)
        elif fault.kind is FaultKind.MALFORMED:
            await self._send(send, 200, b'{"code": 200, "msg": "success", "data": {"taskId": ')
        else:
            return await self._hang(fault.seconds, receive)
        return True

    async def _answer(self, handler: _Handler, request: _Request) -> tuple[int, bytes, list[tuple[str, str]]]:
        try:
            code, text, data = await handler(request)
        except KieError as exc:
            extra = []
            if isinstance(exc, KieRateLimited) and exc.retry_after is not None:
                extra.append(("Retry-After", str(round(exc.retry_after))))
            return 200, self._envelope(exc.code or 500, exc.message), extra
        upload = request.path.startswith("/api/file-")
        body = self._envelope(code, text, data, **({"success": code == 200} if upload else {}))
        return 200, body, []

    def _handlers(self) -> Mapping[tuple[str, str], _Handler]:
        return {
            ("POST", "/api/v1/jobs/createTask"): self._create_task,
            ("GET", "/api/v1/jobs/recordInfo"): self._record_info,
            ("GET", "/api/v1/chat/credit"): self._credit,
            ("POST", "/api/v1/common/download-url"): self._download_url,
            ("POST", "/api/file-stream-upload"): self._stream_upload,
            ("POST", "/api/file-base64-upload"): self._base64_upload,
            ("POST", "/api/file-url-upload"): self._url_upload,
        }

    # KIE's endpoints

    async def _create_task(self, request: _Request) -> _Result:
        payload = request.json()
        if payload is None:
            return 400, "request body must be a JSON object", None
        model, inputs, callback = payload.get("model"), payload.get("input"), payload.get("callBackUrl")
        if not isinstance(model, str) or not model.strip():
            return 422, "model is required", None
        if not isinstance(inputs, dict):
            return 422, "input must be an object", None
        if callback is not None and not (isinstance(callback, str) and callback.startswith(("http://", "https://"))):
            return 422, "callBackUrl must be an http(s) URL", None
        task_id = await self.engine.create_task(model, inputs, callback_url=callback or None)
        return 200, "success", {"taskId": task_id}

    async def _record_info(self, request: _Request) -> _Result:
        task_id = request.query.get("taskId", "").strip()
        if not task_id:
            return 400, "taskId is required", None
        await self.engine.get_task(task_id)  # raises KieTaskNotFound, or a queued error
        return 200, "success", self.engine.record_info_data(self.engine.tasks[task_id])

    async def _credit(self, request: _Request) -> _Result:
        return 200, "success", _number(await self.engine.credits())

    async def _download_url(self, request: _Request) -> _Result:
        payload = request.json() or {}
        url = payload.get("url")
        if not isinstance(url, str) or not url.startswith(self.public_url + "/"):
            return 422, "url must be a KIE file URL", None
        expires = int(self.engine.clock.now().timestamp()) + 20 * 60
        return 200, "success", f"{url}?expires={expires}"

    async def _stream_upload(self, request: _Request) -> _Result:
        form = parse_multipart(request.body, request.headers.get("content-type", ""))
        file = form.get("file")
        if not isinstance(file, FormFile):
            return 400, "file is required (multipart field 'file')", None
        name = form.get("fileName")
        return self._store(file.data, form.get("uploadPath"), name if isinstance(name, str) else file.filename, file)

    async def _base64_upload(self, request: _Request) -> _Result:
        payload = request.json() or {}
        raw = payload.get("base64Data")
        if not isinstance(raw, str) or not raw:
            return 400, "base64Data is required", None
        mime = "application/octet-stream"
        if raw.startswith("data:"):
            header, _, raw = raw.partition(",")
            mime = header[5:].split(";")[0] or mime
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return 400, "base64Data is not valid base64", None
        return self._store(data, payload.get("uploadPath"), payload.get("fileName"), FormFile("", data, mime))

    async def _url_upload(self, request: _Request) -> _Result:
        payload = request.json() or {}
        url = payload.get("fileUrl")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return 400, "fileUrl must be an http(s) URL", None
        fetched = await self._fetch(url)
        if fetched is None:
            return 400, f"could not fetch fileUrl {url}", None
        data, mime = fetched
        default_name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or "file"
        name = payload.get("fileName")
        return self._store(data, payload.get("uploadPath"), name or default_name, FormFile("", data, mime))

    def _store(self, data: bytes, upload_path: object, name: object, file: FormFile) -> _Result:
        if not isinstance(upload_path, str) or not upload_path.strip("/"):
            return 400, "uploadPath is required", None
        filename = name if isinstance(name, str) and name else (file.filename or "file")
        key = f"{upload_path.strip('/')}/{filename.strip('/')}"
        self.engine.uploads[key] = (data, file.content_type)
        self.engine.calls["upload"] += 1
        url = f"{self.public_url}/uploads/{key}"
        info = {
            "fileName": filename,
            "filePath": key,
            "downloadUrl": url,
            "fileSize": len(data),
            "mimeType": file.content_type,
            "uploadedAt": self.engine.clock.now().isoformat(),
        }
        return 200, "File uploaded successfully", info

    async def _fetch(self, url: str) -> tuple[bytes, str] | None:
        """KIE fetches fileUrl itself (30 s timeout); this app's own files are read without a round trip."""
        if url.startswith(self.public_url + "/"):
            return self._file(urlsplit(url).path)
        try:
            async with httpx.AsyncClient(timeout=30.0) as client:
                response = await client.get(url, follow_redirects=True)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        return response.content, response.headers.get("content-type", "application/octet-stream")

    def _file(self, path: str) -> tuple[bytes, str] | None:
        match = _RESULT_PATH.match(path)
        if match:
            png = self.engine.png_for(match.group(1), int(match.group(2)))
            return (png, "image/png") if png is not None else None
        if path.startswith("/uploads/"):
            return self.engine.uploads.get(unquote(path[len("/uploads/") :]))
        return None

    async def _serve_file(self, request: _Request, send: Send) -> None:
        found = self._file(request.path)
        if found is None:
            await self._send(send, 404, b"not found", "text/plain")
        else:
            await self._send(send, 200, found[0], found[1])


class _Request:
    __slots__ = ("body", "headers", "method", "path", "query")

    def __init__(self, *, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes):
        self.method, self.path, self.query, self.headers, self.body = method, path, query, headers, body

    def json(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.body)
        except (ValueError, RecursionError):
            return None
        return value if isinstance(value, dict) else None


_Result = tuple[int, str, Any]
_Handler = Callable[[_Request], Awaitable[_Result]]
