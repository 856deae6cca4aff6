"""Reading request bodies within a size limit, and the JSON error answers every route uses."""

from __future__ import annotations

import contextlib
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

__all__ = ["BodyTooLarge", "ClientGone", "error", "read_limited"]


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The sender went away before the body was complete: a partial body is not a request (nothing is stored)."""


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, or ``BodyTooLarge`` as soon as it is known to exceed ``limit`` bytes: from
    Content-Length before reading anything, else while streaming (the rest is never read)."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    body = bytearray()
    try:
        # Closed explicitly: leaving an async generator half-read must not wait for the garbage collector.
        async with contextlib.aclosing(request.stream()) as chunks:
            async for chunk in chunks:
                body += chunk
                if len(body) > limit:
                    raise BodyTooLarge
    except ClientDisconnect:
        raise ClientGone from None
    return bytes(body)


def error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """``{"error": {"code", "message", ...}}`` with ``status``."""
    headers = extra.pop("headers", None)
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers)
