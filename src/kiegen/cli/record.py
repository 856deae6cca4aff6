"""Recorded KIE shapes: what ``kiegen e2e --record DIR`` saves, and what kiegen makes of each.

A recording is one JSON file per raw answer or callback::

    {"source": "...", "endpoint": "createTask" | "recordInfo" | "upload" | "credit" | "download-url" | "callback",
     "http_status": 200, "body": <the answer as JSON> | "body_text": "<when it was not JSON>",
     "kiegen_read": <what kiegen made of it>}

``reading(entry)`` answers ``kiegen_read`` the way kiegen itself reads the shape: a gateway answer is replayed
through the real ``HttpxKieGateway`` (over an ``httpx.MockTransport`` that gives back the recorded bytes), a
callback goes through ``read_callback``. The test corpus ``tests/kie/recorded/*.json`` holds the same files,
each with the reading it must give; ``Recorder`` writes new ones, with the KIE key, callback tokens and every
other registered secret redacted (``kiegen.adapters.httpkit.redact``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from kiegen.adapters.httpkit import redact
from kiegen.adapters.kie_httpx import HttpxKieGateway, RateLimiter, RetryPolicy
from kiegen.core.callbacks import CallbackReading, read_callback
from kiegen.core.errors import KieError
from kiegen.core.tasks import KIE_ENDPOINTS, TaskSnapshot

__all__ = ["ENDPOINTS", "Recorder", "reading"]

ENDPOINTS = ("createTask", "recordInfo", "upload", "credit", "download-url", "callback")

_PATHS = {name: "upload" if name.startswith("file-") else name for name in KIE_ENDPOINTS}
_BASE = "https://api.kie.ai"


def _snapshot(snapshot: TaskSnapshot) -> dict[str, Any]:
    return {
        "task_id": snapshot.task_id,
        "state": snapshot.state.value,
        "result_urls": list(snapshot.result_urls),
        "fail_code": snapshot.fail_code,
        "fail_message": snapshot.fail_message,
        "credits": snapshot.credits,
    }


def _raw(entry: Mapping[str, Any]) -> bytes:
    if "body_text" in entry:
        return str(entry["body_text"]).encode()
    return json.dumps(entry.get("body")).encode()


async def _through_gateway(entry: Mapping[str, Any]) -> dict[str, Any]:
    content = _raw(entry)
    status = int(entry.get("http_status", 200))
    headers = {"Content-Type": "application/json"} if "body" in entry else {}

    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers=headers)

    calls: dict[str, Callable[[HttpxKieGateway], Awaitable[Any]]] = {
        "createTask": lambda gw: gw.create_task("recorded-model", {"prompt": "x"}, callback_url=None),
        "recordInfo": lambda gw: gw.get_task("recorded-task"),
        "upload": lambda gw: gw.upload(b"\x89PNG\r\n\x1a\n", filename="a.png", mime="image/png"),
        "credit": lambda gw: gw.credits(),
        "download-url": lambda gw: gw.direct_download_url(f"{_BASE}/file.png"),
    }
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        gateway = HttpxKieGateway(
            "recorded-key",
            client=http,
            base_url=_BASE,
            upload_url=_BASE,
            retry=RetryPolicy(attempts=1, deadline=5.0),
            limiter=RateLimiter(1000, 1.0),
        )
        try:
            value = await calls[str(entry["endpoint"])](gateway)
        except KieError as exc:
            return {"error": type(exc).__name__, "code": exc.code, "retryable": exc.retryable}
    if isinstance(value, TaskSnapshot):
        return _snapshot(value)
    if entry["endpoint"] == "credit":
        return {"balance": str(value)}
    if entry["endpoint"] == "createTask":
        return {"task_id": value}
    return {"url": value}


async def reading(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What kiegen makes of a recorded answer or callback (see the module docstring)."""
    if entry["endpoint"] == "callback":
        read = read_callback(_raw(entry))
        if not isinstance(read, CallbackReading):
            return {"unreadable": read.reason}
        return {**_snapshot(read.snapshot), "code": read.code, "callback_type": read.callback_type}
    return await _through_gateway(entry)


def _redacted(value: Any) -> Any:
    """``value`` with secrets redacted in every string, JSON strings inside strings included."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return value


class Recorder:
    """Saves every raw KIE answer (an httpx response hook on the gateway's client) and every callback body it
    is shown, as corpus files in ``directory``."""

    def __init__(self, directory: str | Path, *, source: str) -> None:
        self.directory = Path(directory)
        self.source = source
        self.saved: list[Path] = []

    def hooks(self) -> dict[str, list[Callable[..., Any]]]:
        return {"response": [self._on_response]}

    async def _on_response(self, response: httpx.Response) -> None:
        endpoint = _PATHS.get(response.request.url.path.rstrip("/").rsplit("/", 1)[-1])
        if endpoint is None:
            return
        await response.aread()
        await self.save(endpoint, response.content, status=response.status_code)

    async def save(self, endpoint: str, raw: bytes, *, status: int = 200) -> Path:
        entry: dict[str, Any] = {"source": self.source, "endpoint": endpoint, "http_status": status}
        try:
            entry["body"] = _redacted(json.loads(raw))
        except (ValueError, RecursionError):
            entry["body_text"] = redact(raw.decode("utf-8", "replace"))
        entry["kiegen_read"] = _redacted(await reading(entry))
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{len(self.saved) + 1:03d}-{endpoint}.json"
        path.write_text(json.dumps(entry, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        self.saved.append(path)
        return path
