"""SimulatorApp: KIE's HTTP API as Starlette routes in front of a ``SimulatedKie`` engine.

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
runs the engine (``async with engine``), so that it sends callbacks. ``files_app(engine)`` is the two file
routes alone (the HTTP service mounts them to serve the embedded simulator's results).

Needs Starlette and python-multipart (``pip install 'kiegen[http]'``); the in-process simulator does not.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
import attrs
import httpx
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from kiegen.core.errors import KieError, KieRateLimited
from kiegen.simulator.engine import SimulatedKie
from kiegen.simulator.faults import FaultKind, HttpFault, HttpFaults
from kiegen.simulator.files import file_for

__all__ = ["FormFile", "SimulatorApp", "file_routes", "files_app"]

MAX_BODY = 15 * 1024 * 1024

_Result = tuple[int, str, Any]
_Handler = Callable[[Request, bytes], Awaitable[_Result]]


@attrs.frozen
class FormFile:
    filename: str
    data: bytes
    content_type: str


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


class _NoAnswer(Response):
    """Sends nothing: the request was carried out but its answer never comes (``HttpFault.hang_after``)."""

    def __init__(self) -> None:
        super().__init__()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


def file_routes(engine: SimulatedKie) -> list[BaseRoute]:
    """GET routes for the engine's result PNGs and uploads (paths of ``kiegen.simulator.files``)."""

    async def serve(request: Request) -> Response:
        params = request.path_params
        path = f"/uploads/{params['path']}" if "path" in params else f"/results/{params['task']}/{params['name']}"
        found = file_for(engine, path)
        if found is None:
            return Response(b"not found", 404, media_type="text/plain")
        return Response(found[0], 200, media_type=found[1])

    return [
        Route("/results/{task}/{name}", serve, methods=["GET"]),
        Route("/uploads/{path:path}", serve, methods=["GET"]),
    ]


def files_app(engine: SimulatedKie) -> Starlette:
    """The file routes alone, to mount under another app (``Mount("/simulator", files_app(engine))``)."""
    return Starlette(routes=file_routes(engine))


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
        api = [
            ("POST", "/api/v1/jobs/createTask", self._create_task),
            ("GET", "/api/v1/jobs/recordInfo", self._record_info),
            ("GET", "/api/v1/chat/credit", self._credit),
            ("POST", "/api/v1/common/download-url", self._download_url),
            ("POST", "/api/file-stream-upload", self._stream_upload),
            ("POST", "/api/file-base64-upload", self._base64_upload),
            ("POST", "/api/file-url-upload", self._url_upload),
        ]
        routes: list[BaseRoute] = [
            Route(path, self._endpoint(handler), methods=[method]) for method, path, handler in api
        ]
        self.app = Starlette(
            routes=[*routes, *file_routes(engine)],
            lifespan=self._lifespan,
            exception_handlers={HTTPException: self._no_route},
        )

    def set_public_url(self, url: str) -> None:
        self.engine.configure(result_base_url=url.rstrip("/"))
        self.base_known = True

    @property
    def public_url(self) -> str:
        return self.engine.config.result_base_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.base_known:
            host = dict(scope.get("headers", [])).get(b"host")
            if host:
                self.set_public_url(f"{scope.get('scheme', 'http')}://{host.decode('latin-1')}")
        await self.app(scope, receive, send)

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        if self.own_engine:
            async with self.engine:
                yield
        else:
            yield

    # the envelope, the key, the faults

    def _envelope(self, code: int, text: str, data: Any = None, **extra: Any) -> bytes:
        return json.dumps({"code": code, self.text_field: text, "data": data, **extra}).encode()

    def _reply(
        self, status: int, body: bytes, media: str = "application/json", extra: Iterable[tuple[str, str]] = ()
    ) -> Response:
        return Response(body, status, headers=dict(extra), media_type=media)

    async def _no_route(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return self._reply(
            exc.status_code, self._envelope(exc.status_code, f"no route {request.method} {request.url.path}")
        )

    def _endpoint(self, handler: _Handler) -> Callable[[Request], Awaitable[Response]]:
        route = handler.__name__.removeprefix("_")
        route = _ROUTE_NAMES[route]

        async def endpoint(request: Request) -> Response:
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY:
                return self._reply(413, b"request too large", "text/plain")
            body = await request.body()
            if len(body) > MAX_BODY:
                return self._reply(413, b"request too large", "text/plain")
            self.faults.hits[route] += 1
            bearer = request.headers.get("authorization", "")
            key = bearer[7:].strip() if bearer[:7].lower() == "bearer " else ""
            if not key or (self.api_key is not None and key != self.api_key):
                return self._reply(200, self._envelope(401, "You do not have access permissions"))
            fault = self.faults.take(route)
            if fault is not None and fault.kind is not FaultKind.HANG_AFTER:
                early = await self._before(fault, request)
                if early is not None:
                    return early
            answer = await self._answer(handler, request, body)
            if fault is not None and fault.kind is FaultKind.HANG_AFTER:
                await self._hang(fault.seconds, request)
                return _NoAnswer()  # carried out, never answered
            return answer

        return endpoint

    async def _hang(self, seconds: float, request: Request) -> bool:
        """Wait ``seconds`` or until the client disconnects; True when it did."""
        with anyio.move_on_after(seconds):
            while (await request.receive())["type"] != "http.disconnect":
                pass
            return True
        return False

    async def _before(self, fault: HttpFault, request: Request) -> Response | None:
        """The answer ``fault`` gives instead of the normal one, or None to carry on."""
        extra = [("Retry-After", fault.retry_after)] if fault.retry_after is not None else []
        if fault.kind is FaultKind.BODY:
            return self._reply(200, self._envelope(fault.code, fault.message), extra=extra)
        if fault.kind is FaultKind.STATUS:
            if fault.code == 429:
                return self._reply(429, self._envelope(fault.code, fault.message), extra=extra)
            return self._reply(fault.code, b"<html>upstream error</html>", "text/html", extra)
        if fault.kind is FaultKind.MALFORMED:
            return self._reply(200, b'{"code": 200, "msg": "success", "data": {"taskId": ')
        return _NoAnswer() if await self._hang(fault.seconds, request) else None

    async def _answer(self, handler: _Handler, request: Request, body: bytes) -> Response:
        try:
            code, text, data = await handler(request, body)
        except KieError as exc:
            extra = []
            if isinstance(exc, KieRateLimited) and exc.retry_after is not None:
                extra.append(("Retry-After", str(round(exc.retry_after))))
            return self._reply(200, self._envelope(exc.code or 500, exc.message), extra=extra)
        upload = request.url.path.startswith("/api/file-")
        return self._reply(200, self._envelope(code, text, data, **({"success": code == 200} if upload else {})))

    # KIE's endpoints

    async def _create_task(self, request: Request, body: bytes) -> _Result:
        payload = _json(body)
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

    async def _record_info(self, request: Request, body: bytes) -> _Result:
        task_id = request.query_params.get("taskId", "").strip()
        if not task_id:
            return 400, "taskId is required", None
        await self.engine.get_task(task_id)  # raises KieTaskNotFound, or a queued error
        return 200, "success", self.engine.record_info_data(self.engine.tasks[task_id])

    async def _credit(self, request: Request, body: bytes) -> _Result:
        return 200, "success", _number(await self.engine.credits())

    async def _download_url(self, request: Request, body: bytes) -> _Result:
        payload = _json(body) or {}
        url = payload.get("url")
        if not isinstance(url, str) or not url.startswith(self.public_url + "/"):
            return 422, "url must be a KIE file URL", None
        expires = int(self.engine.clock.now().timestamp()) + 20 * 60
        return 200, "success", f"{url}?expires={expires}"

    async def _stream_upload(self, request: Request, body: bytes) -> _Result:
        try:
            async with request.form(max_files=4, max_fields=16, max_part_size=MAX_BODY) as form:
                file = form.get("file")
                if not isinstance(file, UploadFile):
                    return 400, "file is required (multipart field 'file')", None
                data = await file.read()
                name = form.get("fileName")
                stored = FormFile(file.filename or "", data, file.content_type or "application/octet-stream")
                return self._store(
                    data, form.get("uploadPath"), name if isinstance(name, str) else stored.filename, stored
                )
        except (MultiPartException, ValueError, AssertionError):  # not multipart, or a broken one
            return 400, "the body must be multipart/form-data with a 'file' field", None

    async def _base64_upload(self, request: Request, body: bytes) -> _Result:
        payload = _json(body) or {}
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

    async def _url_upload(self, request: Request, body: bytes) -> _Result:
        payload = _json(body) or {}
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
            return file_for(self.engine, url[len(self.public_url) :].split("?", 1)[0])
        try:
            async with httpx.AsyncClient(timeout=30.0) as client:
                response = await client.get(url, follow_redirects=True)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        return response.content, response.headers.get("content-type", "application/octet-stream")


_ROUTE_NAMES = {
    "create_task": "createTask",
    "record_info": "recordInfo",
    "credit": "credit",
    "download_url": "download-url",
    "stream_upload": "file-stream-upload",
    "base64_upload": "file-base64-upload",
    "url_upload": "file-url-upload",
}
