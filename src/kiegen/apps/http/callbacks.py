"""``POST /callbacks/kie/{job_id}?token=...`` and the bare ``POST /callbacks/kie``: KIE's callbacks.

Every trust rule lives in ``kiegen.services.handle_callback`` (token, KIE HMAC, inbox before answer, hints,
result URL policy); this route reads the body within the size limit, hands it over and answers with the status
the service chose: 200 for every authenticated callback (readable, unreadable or duplicate), 202 for a hint,
403 for a wrong token, 404 for no such job, 413 for a body over the limit.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kiegen.apps.http.bodies import BodyTooLarge, ClientGone, error, read_limited
from kiegen.apps.http.state import AppState

__all__ = ["kie_callback"]


async def kie_callback(request: Request) -> Response:
    state: AppState = request.app.state.kiegen
    started = time.perf_counter()
    job_id = request.path_params.get("job_id")
    if job_id:
        request.state.job_id = job_id
    try:
        body = await read_limited(request, state.callback_body_limit)
    except BodyTooLarge:
        state.metrics.observe_callback(None, started, status=413)
        return error(413, "too_large", f"callback bodies are limited to {state.callback_body_limit} bytes")
    except ClientGone:  # KIE hung up mid-body: it retries or the poller finds the result; nothing to store
        return Response(status_code=400)
    query = dict(request.query_params)
    token = query.pop("token", None)
    result = await state.client.handle_callback(
        job_id=job_id, token=token, body=body, query=query, headers=dict(request.headers)
    )
    if result.job_id:
        request.state.job_id = result.job_id
    state.metrics.observe_callback(result, started, status=result.status)
    return JSONResponse({"outcome": result.outcome.value}, status_code=result.status)
