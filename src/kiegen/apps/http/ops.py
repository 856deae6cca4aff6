"""Operations routes: ``/healthz`` (the process answers), ``/readyz`` (the database answers and its schema is at
the migration head), ``/metrics`` (Prometheus text) and ``/openapi.json``."""

from __future__ import annotations

import logging

import anyio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kiegen.adapters.sqlalchemy.migrate import head_revision
from kiegen.adapters.sqlalchemy.store import SqlAlchemyJobStore
from kiegen.apps.http.openapi import openapi_document
from kiegen.apps.http.state import AppState

__all__ = ["healthz", "metrics", "openapi", "readyz"]

log = logging.getLogger("kiegen.http")

PROBE_TIMEOUT_S = 5.0


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state: AppState = request.app.state.kiegen
    store = state.client.store
    if not isinstance(store, SqlAlchemyJobStore):
        return JSONResponse({"status": "ready", "database": "in-memory"})
    head = head_revision()
    try:
        with anyio.fail_after(PROBE_TIMEOUT_S):
            current = await store.schema_revision()
    except Exception as exc:  # any failure to answer is "not ready", with the reason
        log.warning("readiness: database unreachable: %s", type(exc).__name__)
        body = {"status": "not_ready", "database": "unreachable", "reason": type(exc).__name__}
        return JSONResponse(body, status_code=503)
    if current != head:
        stale = {"status": "not_ready", "database": "ok", "migration": current, "head": head}
        return JSONResponse(stale, status_code=503)
    return JSONResponse({"status": "ready", "database": "ok", "migration": current, "head": head})


async def metrics(request: Request) -> Response:
    state: AppState = request.app.state.kiegen
    store = state.client.store
    if isinstance(store, SqlAlchemyJobStore):
        try:
            with anyio.fail_after(PROBE_TIMEOUT_S):
                state.metrics.set_job_counts(await store.job_counts())
        except Exception as exc:  # the other metrics are still worth serving
            log.warning("metrics: cannot count jobs: %s", type(exc).__name__)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(str(request.base_url).rstrip("/")))
