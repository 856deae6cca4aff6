"""``POST /callbacks/kie/{job_id}?token=...`` and the bare ``POST /callbacks/kie``: KIE's callbacks.

Every trust rule lives in ``kiegen.services.handle_callback`` (token, KIE HMAC, inbox before answer, hints,
result URL policy); this route reads the body within the size limit, hands it over and answers with the status
the service chose: 200 for every authenticated callback (readable, unreadable or duplicate), 202 for a hint,
403 for a wrong token, 404 for no such job, 413 for a body over the limit.

Before that it refuses what no database can store (400 naming ``job_id`` or ``taskId``: a NUL character or an
unpaired surrogate) and applies the flood budgets of ``kiegen.apps.http.throttle``: 429 with Retry-After for a
source that spent its budget of callbacks proving nothing, and no new check for a task hinted moments ago.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kiegen.apps.http.bodies import BodyTooLarge, ClientGone, error, read_limited
from kiegen.apps.http.state import AppState
from kiegen.apps.http.throttle import source_key
from kiegen.core.callbacks import CallbackReading, kie_signature_valid, read_callback
from kiegen.core.text import unstorable

__all__ = ["kie_callback"]


def _throttled(state: AppState, source: str) -> Response:
    state.throttle.refused += 1
    retry = state.throttle.retry_after_s(source)
    return error(
        429,
        "rate_limited",
        "too many callbacks that proved nothing from this address; KIE's own callbacks carry a job token",
        headers={"Retry-After": str(retry)},
    )


def _unstorable(state: AppState, source: str, field: str, value: str, reason: str) -> Response:
    state.throttle.spend(source)
    shown = value[:100].encode("unicode_escape").decode("ascii")
    return error(400, "invalid_request", f"{field} {reason}", field=field, value=shown)


def _signed(state: AppState, task_id: str, request: Request) -> bool:
    key = state.kie_hmac_key
    if key is None:
        return False
    return kie_signature_valid(
        key,
        task_id,
        request.headers.get("x-webhook-timestamp"),
        request.headers.get("x-webhook-signature"),
        datetime.now(UTC),
    )


async def kie_callback(request: Request) -> Response:
    state: AppState = request.app.state.kiegen
    started = time.perf_counter()
    source = source_key(request.client.host if request.client else None)
    job_id = request.path_params.get("job_id")
    if job_id:
        request.state.job_id = job_id
        if (reason := unstorable(job_id)) is not None:
            return _unstorable(state, source, "job_id", job_id, reason)
    elif state.throttle.exhausted(source):
        return _throttled(state, source)
    try:
        body = await read_limited(request, state.callback_body_limit)
    except BodyTooLarge:
        state.throttle.spend(source)
        state.metrics.observe_callback(None, started, status=413)
        return error(413, "too_large", f"callback bodies are limited to {state.callback_body_limit} bytes")
    except ClientGone:  # KIE hung up mid-body: it retries or the poller finds the result; nothing to store
        return Response(status_code=400)
    query = dict(request.query_params)
    token = query.pop("token", None)
    reading = read_callback(body, query)
    task_id = reading.snapshot.task_id if isinstance(reading, CallbackReading) else reading.task_id
    if task_id and (reason := unstorable(task_id)) is not None:
        return _unstorable(state, source, "taskId", task_id, reason)
    damp = not job_id and task_id is not None and not _signed(state, task_id, request)
    if damp and task_id is not None and state.throttle.recently_hinted(task_id):
        # The check the first hint asked for is already due: another one would only cost a KIE call.
        state.throttle.spend(source)
        state.throttle.damped += 1
        return JSONResponse({"outcome": "hint"}, status_code=202)
    over_budget = state.throttle.exhausted(source)
    result = await state.client.handle_callback(
        job_id=job_id, token=token, body=body, query=query, headers=dict(request.headers)
    )
    if result.job_id:
        request.state.job_id = result.job_id
    state.metrics.observe_callback(result, started, status=result.status)
    if result.status == 200:
        return JSONResponse({"outcome": result.outcome.value}, status_code=200)
    state.throttle.spend(source)
    if damp and task_id is not None and result.status == 202:
        state.throttle.remember_hint(task_id)
    if over_budget:
        return _throttled(state, source)
    return JSONResponse({"outcome": result.outcome.value}, status_code=result.status)
