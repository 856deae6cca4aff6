"""Structured logs: one JSON object per line on stderr, with the job id when the line is about a job, and
every secret redacted before any formatter sees it.

The redaction is a *handler* filter (``kiegen.adapters.kie_httpx.RedactingFilter``, fed with the KIE key, the
callback and webhook secrets and the API keys by ``install_log_redaction``), so it covers every logger that
propagates to the root, uvicorn's included. Uvicorn's access log is switched off anyway: its lines carry the
query string, and with it the callback token; ``access_middleware`` logs requests by path, without the query.

Floods do not become log floods: the lines a forged or unsolicited callback causes (the access line of a refused
callback, the services' WARNING about a bad token, uvicorn's lines about malformed requests and connection
limits) spend a ``LogBudget`` (``kiegen.apps.http.throttle``): 10 lines a minute per kind, then one line that
says how many were left out. Errors are never left out.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kiegen.adapters.kie_httpx import RedactingFilter, install_log_redaction
from kiegen.apps.http.throttle import LogBudget, LogBudgetFilter

__all__ = [
    "FLOOD_LOGGERS",
    "AccessLog",
    "JsonFormatter",
    "budget_flood_logs",
    "configure_logging",
    "install_log_redaction",
]

FLOOD_LOGGERS = ("kiegen.callbacks", "uvicorn.error")
"""Loggers whose WARNING lines an outsider can cause at will: their lines spend a log budget."""


def budget_flood_logs(budget: LogBudget | None = None) -> LogBudgetFilter:
    """Put one ``LogBudgetFilter`` (a fresh budget unless given) on the ``FLOOD_LOGGERS``, replacing the one an
    earlier call put there; returns it (``logging.getLogger(name).removeFilter`` takes it off)."""
    installed = LogBudgetFilter(budget or LogBudget())
    for name in FLOOD_LOGGERS:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, LogBudgetFilter)]:
            logger.removeFilter(old)
        logger.addFilter(installed)
    return installed


_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str = "INFO", *secrets: str | None) -> None:
    """Send every record to stderr as JSON, redacted. Idempotent."""
    install_log_redaction(*(s for s in secrets if s))
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_kiegen", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    handler._kiegen = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    budget_flood_logs()
    # aiosqlite logs every statement and its parameters at DEBUG: callback bodies and ids, nothing useful.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, root.level))


class AccessLog:
    """ASGI middleware: one line per HTTP request (method, path without query, status, duration, job id)."""

    def __init__(self, app: ASGIApp, *, budget: LogBudget | None = None) -> None:
        self.app = app
        self.log = logging.getLogger("kiegen.http.access")
        self.budget = budget or LogBudget()
        """Spent by refused callbacks (any answer but 2xx on the callback routes)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            extra: dict[str, Any] = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            }
            job_id = scope.get("state", {}).get("job_id")
            if job_id:
                extra["job_id"] = job_id
            self._write(scope, status, extra)

    def _write(self, scope: Scope, status: int, extra: dict[str, Any]) -> None:
        path = scope["path"]
        if status >= 300 and path.startswith("/callbacks/"):
            admitted, dropped = self.budget.admit(f"callback {status}")
            if not admitted:
                return
            if dropped:
                extra["left_out"] = dropped
                self.log.info(
                    "%s %s %d (%d similar lines left out)", scope["method"], path, status, dropped, extra=extra
                )
                return
        self.log.info("%s %s %d", scope["method"], path, status, extra=extra)
