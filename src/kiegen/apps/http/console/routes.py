"""The console's routes, each behind ``guard`` (a ``Refused`` raised anywhere becomes its response)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kiegen.apps.http.console import actions, login, pages
from kiegen.apps.http.console.guard import Refused, page
from kiegen.core.errors import KiegenError

__all__ = ["failed", "not_allowed", "not_found", "routes"]

log = logging.getLogger("kiegen.console")

Handler = Callable[[Request], Awaitable[Response]]


def guarded(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except Refused as refused:
            return refused.response

    return run


def routes() -> list[Route]:
    return [
        Route("/", guarded(pages.jobs), methods=["GET"]),
        Route("/login", guarded(login.form), methods=["GET"]),
        Route("/login", guarded(login.login), methods=["POST"]),
        Route("/logout", guarded(login.logout), methods=["POST"]),
        Route("/jobs/{job_id}", guarded(pages.job), methods=["GET"]),
        Route("/jobs/{job_id}/cancel", guarded(actions.confirm_cancel), methods=["GET"]),
        Route("/jobs/{job_id}/cancel", guarded(actions.cancel), methods=["POST"]),
        Route("/jobs/{job_id}/retry", guarded(actions.confirm_retry), methods=["GET"]),
        Route("/jobs/{job_id}/retry", guarded(actions.retry), methods=["POST"]),
        Route("/health", guarded(pages.health), methods=["GET"]),
        Route("/audit", guarded(pages.audit), methods=["GET"]),
    ]


async def not_found(request: Request, _exc: Exception) -> Response:
    return page(request, "error.html", status=404, title="Not found", message="No such console page.")


async def not_allowed(request: Request, _exc: Exception) -> Response:
    return page(request, "error.html", status=405, title="Not allowed", message="That method is not used here.")


async def failed(request: Request, exc: Exception) -> Response:
    """A kiegen error no page handled (the database is down): 503 when worth a retry, never a traceback."""
    assert isinstance(exc, KiegenError)
    log.warning("console %s %s failed: %s", request.method, request.url.path, exc.message)
    status = 503 if exc.retryable else 500
    headers = {"Retry-After": "1"} if exc.retryable else None
    message = "The database did not answer: try again shortly." if exc.retryable else type(exc).__name__
    return page(request, "error.html", status=status, headers=headers, title="Unavailable", message=message)
