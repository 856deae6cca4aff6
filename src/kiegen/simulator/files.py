"""The simulator's files (result PNGs and MP4s, uploads) looked up by URL path, without any web framework.

``file_for(engine, path)`` is the one lookup: the Starlette app serves it (``kiegen.simulator.asgi``), and so
does ``FilesTransport``, an httpx transport that answers in process, so that ``kiegen generate`` with the
built-in simulator downloads its results without ASGI (Starlette stays an optional dependency).

Paths: ``/results/<task id>/<n>.png`` (``.mp4`` for a video model; only once the task succeeded) and
``/uploads/<upload path>``.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import httpx

from kiegen.simulator.engine import SimulatedKie

__all__ = ["FilesTransport", "file_for"]

_RESULT_PATH = re.compile(r"^/results/([A-Za-z0-9_.-]+)/(\d+)\.(png|mp4)$")


def file_for(engine: SimulatedKie, path: str) -> tuple[bytes, str] | None:
    """(content, MIME type) of the file at ``path`` (relative to the engine's ``result_base_url``), or None."""
    match = _RESULT_PATH.match(path)
    if match:
        return engine.file_for_result(match.group(1), int(match.group(2)), match.group(3))
    if path.startswith("/uploads/"):
        return engine.uploads.get(unquote(path[len("/uploads/") :]))
    return None


class FilesTransport(httpx.AsyncBaseTransport):
    """Serves GETs under the engine's ``result_base_url`` in process (404 for anything else)."""

    def __init__(self, engine: SimulatedKie) -> None:
        self.engine = engine

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        base = httpx.URL(self.engine.config.result_base_url)
        path = request.url.path
        prefix = base.path.rstrip("/")
        found = None
        if request.method == "GET" and path.startswith(prefix + "/"):
            found = file_for(self.engine, path[len(prefix) :])
        if found is None:
            return httpx.Response(404, content=b"not found", request=request)
        content, mime = found
        return httpx.Response(200, content=content, headers={"Content-Type": mime}, request=request)
