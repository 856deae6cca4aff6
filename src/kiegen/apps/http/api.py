"""The REST API for other services (``/v1``), behind bearer keys (``KIEGEN_API_KEYS``).

- ``POST /v1/generations`` ``{"model", "input", "webhook_url"?, "user_id"?}`` -> 202 with the generation.
  Tenancy (``kiegen.core.tenancy``, ``kiegen.apps.http.state.Caller``): the generation belongs to the API key's
  tenant; ``user_id`` names one of that tenant's users (credits and free quotas are counted per tenant and user,
  so one key can neither read nor spend another key's users); without it the generation is the tenant's own.
  ``Idempotency-Key`` is scoped to the tenant and the user: the same key with the same request returns the same
  generation; with a different request (model, input after defaults, webhook_url) it answers 422
  ``idempotency_key_reused`` and nothing is stored or charged. Every problem with the request is answered at
  once: 422 with ``problems: [{field, value, message, fix}]``.
- ``GET /v1/generations/{id}[?wait=S]``: the generation, if the caller's tenant owns it (404 otherwise, as for
  an unknown id); with ``wait``, once it is finished or after ``S`` seconds (at most ``max_wait_s``), read from
  storage first.
- ``GET /v1/models``: every model of the registry (all of them are accepted), with every input's rules, KIE's
  cost where documented and the end-user price.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Mapping
from typing import Any

import anyio
import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kiegen.adapters import urlguard
from kiegen.apps.http.bodies import BodyTooLarge, ClientGone, error, read_limited
from kiegen.apps.http.state import RESERVED_USER_PREFIXES, AppState
from kiegen.core.errors import (
    InsufficientCredits,
    InvalidInput,
    JobNotFound,
    Problem,
    QuotaExceeded,
    UnsafeURL,
)
from kiegen.core.jobs import Job
from kiegen.core.text import unstorable, unstorable_strings
from kiegen.core.wire import job_json, model_json

__all__ = ["create_generation", "get_generation", "list_models", "unauthorized"]

_FIELDS = ("model", "input", "webhook_url", "user_id")
MAX_USER_ID = 200
MAX_IDEMPOTENCY_KEY = 255
MAX_WEBHOOK_URL = 2048
MAX_SHOWN = 100
"""Values echoed in a problem are cut to this many characters (a 70,000-character URL is not sent back)."""


def unauthorized(state: AppState) -> Response:
    hint = "send Authorization: Bearer <one of KIEGEN_API_KEYS>"
    if not state.api_keys:
        hint = "this server has no API keys: set KIEGEN_API_KEYS"
    return error(401, "unauthorized", hint, headers={"WWW-Authenticate": "Bearer"})


def _shown(value: object) -> object:
    if isinstance(value, str):
        text = value if unstorable(value) is None else value.encode("utf-8", "backslashreplace").decode()
        return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."
    return value


def _problems_json(problems: list[Problem] | tuple[Problem, ...]) -> list[dict[str, Any]]:
    return [{"field": p.field, "value": _shown(p.value), "message": p.message, "fix": p.fix} for p in problems]


def _invalid(problems: list[Problem] | tuple[Problem, ...]) -> Response:
    message = "; ".join(f"{p.field}: {p.message}" for p in problems)
    return error(422, "invalid_request", message, problems=_problems_json(problems))


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unstorable_problems(data: Mapping[str, Any]) -> list[Problem]:
    """NUL characters and unpaired surrogates in any known field, named (no database stores them)."""
    found: list[tuple[str, str]] = []
    try:
        for name in _FIELDS:
            if name in data:
                found.extend(unstorable_strings(data[name], name))
    except RecursionError:
        found.append(("input", "is nested too deeply"))
    fix = "send valid Unicode text without NUL characters"
    return [Problem(field=field, value=None, message=reason, fix=fix) for field, reason in found]


def _read_request(state: AppState, body: bytes) -> tuple[dict[str, Any], list[Problem]]:
    try:
        data = json.loads(body, parse_constant=_no_constants)  # NaN and Infinity are not JSON
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}, [Problem(field="body", message="not valid JSON", fix='send {"model": ..., "input": {...}}')]
    if not isinstance(data, dict):
        return {}, [Problem(field="body", value=None, message="not a JSON object", fix='send {"model": ..., ...}')]
    problems = [
        Problem(field="body", value=None, message="an unknown field", fix=f"known fields: {', '.join(_FIELDS)}")
        if unstorable(key)
        else Problem(field=key, value=None, message="unknown field", fix=f"known fields: {', '.join(_FIELDS)}")
        for key in data
        if key not in _FIELDS
    ]
    unfit = _unstorable_problems(data)
    problems.extend(unfit)
    unfit_fields = {p.field for p in unfit}
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
        # Scoped per key, "tg:42" could not reach the bot's user 42; refused anyway, so that a user id reads the
        # same in the database whichever channel made it.
        fix = "use your own ids; these prefixes are the Telegram bot's users and the API keys: " + ", ".join(
            RESERVED_USER_PREFIXES
        )
        problems.append(Problem(field="user_id", value=user_id, message="a reserved user id", fix=fix))
    webhook_url = data.get("webhook_url")
    if webhook_url is not None and "webhook_url" not in unfit_fields:
        problems.extend(_webhook_problems(state, webhook_url))
    return data, problems


def _bad_character(url: str) -> tuple[int, str] | None:
    """The first character no URL may carry as it is (whitespace, control and invisible formatting characters,
    surrogates), with its position."""
    for position, char in enumerate(url):
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Cs"):
            return position, char
    return None


def _webhook_problems(state: AppState, url: object) -> list[Problem]:
    def problem(message: str, fix: str = "send a public https:// URL") -> list[Problem]:
        return [Problem(field="webhook_url", value=url, message=message, fix=fix)]

    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return problem("not an http(s) URL")
    if len(url) > MAX_WEBHOOK_URL:
        return problem(f"{len(url)} characters long, more than {MAX_WEBHOOK_URL}", "send a shorter URL")
    bad = _bad_character(url)
    if bad is not None:
        position, char = bad
        return problem(
            f"has the character {char!r} at position {position}",
            "percent-encode it (e.g. %09 for a tab, %20 for a space)",
        )
    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        return problem(f"not a valid URL ({exc})")
    if not state.webhooks:
        fix = "the operator must set KIEGEN_WEBHOOK_SECRET; or leave webhook_url out and poll GET /v1/generations/{id}"
        return problem("this server cannot sign webhooks", fix)
    try:
        urlguard.check_url_static(url, allow_private=state.allow_private_urls)
    except UnsafeURL as exc:
        return problem(exc.reason)
    return []


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=list)


def _same_request(state: AppState, job: Job, model: str, inputs: Mapping[str, Any], recipient: str) -> bool:
    """Whether the stored ``job`` is what this request asks for (compared after validation: defaults applied)."""
    if job.model != model or job.recipient != recipient:
        return False
    return _canonical(dict(job.inputs)) == _canonical(state.client.registry.validate(model, inputs))


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
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isprintable()):
        fix = f"send 1 to {MAX_IDEMPOTENCY_KEY} printable characters, e.g. a UUID"
        problems.append(Problem(field="Idempotency-Key", value=key, message="not a valid key", fix=fix))
    if problems:
        return _invalid(problems)
    webhook_url = data.get("webhook_url")
    recipient = f"webhook:{webhook_url}" if webhook_url else "none"
    user = data.get("user_id")
    shown_user = repr(user) if user is not None else "this API key"
    try:
        job = await state.client.submit(
            data["model"], data["input"], recipient=recipient, user_id=caller.user_id(user), idempotency_key=key
        )
    except InvalidInput as exc:
        return _invalid([p if p.field == "model" else _in_input(p) for p in exc.problems])
    except InsufficientCredits as exc:
        message = f"{shown_user} has {exc.balance} credits, {exc.needed} needed"
        return error(402, "insufficient_credits", message, balance=exc.balance, needed=exc.needed)
    except QuotaExceeded as exc:
        message = f"{shown_user} has used today's {exc.limit} free generations; try again tomorrow"
        return error(429, "quota_exceeded", message, headers={"Retry-After": "3600"})
    request.state.job_id = job.id
    if key is not None and not _same_request(state, job, data["model"], data["input"], recipient):
        message = (
            f"Idempotency-Key {key!r} was used for generation {job.id} with another request; "
            "send a new key for a new request (the same key repeats only the same request)"
        )
        return error(422, "idempotency_key_reused", message, id=job.id)
    return JSONResponse(job_json(job), status_code=202, headers={"Location": f"/v1/generations/{job.id}"})


def _in_input(problem: Problem) -> Problem:
    return Problem(field=f"input.{problem.field}", value=problem.value, message=problem.message, fix=problem.fix)


async def get_generation(request: Request) -> Response:
    state: AppState = request.app.state.kiegen
    caller = state.api_keys.caller(request.headers.get("authorization"))
    if caller is None:
        return unauthorized(state)
    job_id = request.path_params["job_id"]
    if (reason := unstorable(job_id)) is not None:
        fix = "send the id POST /v1/generations answered with"
        return _invalid([Problem(field="job_id", value=job_id, message=reason, fix=fix)])
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
    if job is None or not caller.owns(job.user_id):  # another tenant's job is as absent as an unknown one
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
