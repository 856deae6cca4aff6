"""The REST API for other services (``/v1``), behind bearer keys (``KIEGEN_API_KEYS``).

- ``POST /v1/generations`` ``{"model", "input", "webhook_url"?, "user_id"?}`` -> 202 with the generation.
  The generation belongs to ``user_id`` when given, else to the API key that asked (``apikey:<fingerprint>``):
  that user is the one credits and free quotas are counted for, and the scope of ``Idempotency-Key`` (the same
  key from the same user returns the same generation, whatever the body). Every problem with the request is
  answered at once: 422 with ``problems: [{field, value, message, fix}]``.
- ``GET /v1/generations/{id}[?wait=S]``: the generation; with ``wait``, once it is finished or after ``S``
  seconds (at most ``max_wait_s``), read from storage first.
- ``GET /v1/models``: every model of the registry (all of them are accepted), with every input's rules, KIE's
  cost where documented and the end-user price.
"""

from __future__ import annotations

import json
import math
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kiegen.adapters import urlguard
from kiegen.apps.http.bodies import BodyTooLarge, ClientGone, error, read_limited
from kiegen.apps.http.state import AppState
from kiegen.core.errors import (
    InsufficientCredits,
    InvalidInput,
    JobNotFound,
    Problem,
    QuotaExceeded,
    UnsafeURL,
)
from kiegen.core.wire import job_json, model_json

__all__ = ["create_generation", "get_generation", "list_models", "unauthorized"]

_FIELDS = ("model", "input", "webhook_url", "user_id")
RESERVED_USER_PREFIXES = ("tg:", "apikey:")
"""User ids that belong to other channels sharing the database: an API caller cannot spend for them."""
MAX_USER_ID = 200
MAX_IDEMPOTENCY_KEY = 255


def unauthorized(state: AppState) -> Response:
    hint = "send Authorization: Bearer <one of KIEGEN_API_KEYS>"
    if not state.api_keys:
        hint = "this server has no API keys: set KIEGEN_API_KEYS"
    return error(401, "unauthorized", hint, headers={"WWW-Authenticate": "Bearer"})


def _problems_json(problems: list[Problem] | tuple[Problem, ...]) -> list[dict[str, Any]]:
    return [{"field": p.field, "value": p.value, "message": p.message, "fix": p.fix} for p in problems]


def _invalid(problems: list[Problem] | tuple[Problem, ...]) -> Response:
    message = "; ".join(str(p) for p in problems)
    return error(422, "invalid_request", message, problems=_problems_json(problems))


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _read_request(state: AppState, body: bytes) -> tuple[dict[str, Any], list[Problem]]:
    try:
        data = json.loads(body, parse_constant=_no_constants)  # NaN and Infinity are not JSON
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}, [Problem(field="body", message="not valid JSON", fix='send {"model": ..., "input": {...}}')]
    if not isinstance(data, dict):
        return {}, [Problem(field="body", value=None, message="not a JSON object", fix='send {"model": ..., ...}')]
    problems = [
        Problem(field=key, value=None, message="unknown field", fix=f"known fields: {', '.join(_FIELDS)}")
        for key in data
        if key not in _FIELDS
    ]
    if not isinstance(data.get("model"), str):
        fix = "send one of the ids of GET /v1/models"
        problems.append(Problem(field="model", value=data.get("model"), message="a model id is required", fix=fix))
    if not isinstance(data.get("input"), dict):
        fix = 'send the model\'s inputs as an object, e.g. {"prompt": "a red fox"}'
        problems.append(Problem(field="input", value=data.get("input"), message="an object is required", fix=fix))
    user_id = data.get("user_id")
    if user_id is not None and (not isinstance(user_id, str) or not 0 < len(user_id) <= MAX_USER_ID):
        fix = f"send a string of 1 to {MAX_USER_ID} characters, or leave it out"
        problems.append(Problem(field="user_id", value=user_id, message="not a valid user id", fix=fix))
    elif isinstance(user_id, str) and user_id.startswith(RESERVED_USER_PREFIXES):
        # tg:<id> are the bot's people (their bought credits, their quota); apikey:<...> are the API keys
        fix = "use your own ids; these prefixes are the Telegram bot's users and the API keys: " + ", ".join(
            RESERVED_USER_PREFIXES
        )
        problems.append(Problem(field="user_id", value=user_id, message="a reserved user id", fix=fix))
    webhook_url = data.get("webhook_url")
    if webhook_url is not None:
        problems.extend(_webhook_problems(state, webhook_url))
    return data, problems


def _webhook_problems(state: AppState, url: object) -> list[Problem]:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return [Problem(field="webhook_url", value=url, message="not an http(s) URL", fix="send https://...")]
    if not state.webhooks:
        fix = "the operator must set KIEGEN_WEBHOOK_SECRET; or leave webhook_url out and poll GET /v1/generations/{id}"
        return [Problem(field="webhook_url", value=url, message="this server cannot sign webhooks", fix=fix)]
    try:
        urlguard.check_url_static(url, allow_private=state.allow_private_urls)
    except UnsafeURL as exc:
        return [Problem(field="webhook_url", value=url, message=exc.reason, fix="use a public https URL")]
    return []


async def create_generation(request: Request) -> Response:
    state: AppState = request.app.state.kiegen
    caller = state.api_keys.caller(request.headers.get("authorization"))
    if caller is None:
        return unauthorized(state)
    try:
        body = await read_limited(request, state.api_body_limit)
    except BodyTooLarge:
        return error(413, "too_large", f"request bodies are limited to {state.api_body_limit} bytes")
    except ClientGone:  # the caller hung up mid-body: no generation from half a request
        return Response(status_code=400)
    key = request.headers.get("idempotency-key")
    data, problems = _read_request(state, body)
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        fix = f"send 1 to {MAX_IDEMPOTENCY_KEY} characters, e.g. a UUID"
        problems.append(Problem(field="Idempotency-Key", value=key, message="not a valid key", fix=fix))
    if problems:
        return _invalid(problems)
    webhook_url = data.get("webhook_url")
    try:
        job = await state.client.submit(
            data["model"],
            data["input"],
            recipient=f"webhook:{webhook_url}" if webhook_url else "none",
            user_id=data.get("user_id") or caller,
            idempotency_key=key,
        )
    except InvalidInput as exc:
        return _invalid([p if p.field == "model" else _in_input(p) for p in exc.problems])
    except InsufficientCredits as exc:
        return error(402, "insufficient_credits", exc.message, balance=exc.balance, needed=exc.needed)
    except QuotaExceeded as exc:
        return error(429, "quota_exceeded", exc.message, headers={"Retry-After": "3600"})
    request.state.job_id = job.id
    return JSONResponse(job_json(job), status_code=202, headers={"Location": f"/v1/generations/{job.id}"})


def _in_input(problem: Problem) -> Problem:
    return Problem(field=f"input.{problem.field}", value=problem.value, message=problem.message, fix=problem.fix)


async def get_generation(request: Request) -> Response:
    state: AppState = request.app.state.kiegen
    if state.api_keys.caller(request.headers.get("authorization")) is None:
        return unauthorized(state)
    job_id = request.path_params["job_id"]
    request.state.job_id = job_id
    raw_wait = request.query_params.get("wait")
    wait = 0.0
    if raw_wait is not None:
        try:
            wait = float(raw_wait)
        except ValueError:
            wait = -1.0
        if not (math.isfinite(wait) and 0 <= wait <= state.max_wait_s):
            fix = f"send a number of seconds from 0 to {state.max_wait_s:g}"
            return _invalid([Problem(field="wait", value=raw_wait, message="not a valid wait", fix=fix)])
    job = await state.client.get(job_id)
    if job is None:
        return error(404, "not_found", f"no generation {job_id!r}")
    if wait > 0 and not job.terminal:
        # The services' wait bounds itself by the clock; this scope bounds it by real time as well.
        with anyio.move_on_after(wait + 1.0):
            try:
                job = await state.client.wait(job_id, timeout=wait)
            except JobNotFound:
                return error(404, "not_found", f"no generation {job_id!r}")
    return JSONResponse(job_json(job))


async def list_models(request: Request) -> Response:
    state: AppState = request.app.state.kiegen
    if state.api_keys.caller(request.headers.get("authorization")) is None:
        return unauthorized(state)
    registry = state.client.registry
    models = [model_json(spec, enabled=registry.is_enabled(spec.id)) for spec in registry]
    return JSONResponse({"models": models})
