"""KIE's answer envelope, read once, and KIE's codes mapped once onto kiegen's error tree.

Every KIE answer is ``{"code": int, "msg" | "message": str, "data": ...}`` and the **body** code decides, not
the HTTP status (see KIE_API.md). ``read_envelope`` never raises: a body it cannot read is an ``Envelope`` with
``readable=False``. ``error_for`` turns a code into the kiegen error a caller can act on:

    code            error               retryable
    400 408 433     KieRejected         no
    501 505 other   KieRejected         no
    401             KieAuthError        no
    402             KieOutOfCredits     no
    404 422         KieTaskNotFound     no    (recordInfo only; elsewhere KieRejected)
    429             KieRateLimited      yes   (carries retry_after)
    500             KieRejected         no    (createTask, when the message is a refusal: "This field is
                                               required", "... temporarily paused." [live])
    455 5xx         KieUnavailable      yes   (for createTask: the task may exist)
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from kiegen.core.errors import (
    KieAuthError,
    KieError,
    KieOutOfCredits,
    KieRateLimited,
    KieRejected,
    KieTaskNotFound,
    KieUnavailable,
)
from kiegen.core.tasks import is_create_refusal

__all__ = ["Envelope", "error_for", "read_envelope"]

_MEANINGS = {
    400: "bad request",
    401: "the KIE API key is missing or invalid",
    402: "the KIE account is out of credits",
    404: "not found",
    408: "the task timed out upstream",
    422: "validation failed",
    429: "rate limited",
    433: "the sub-key usage cap is exceeded",
    455: "KIE is unavailable (maintenance)",
    500: "KIE server error",
    501: "generation failed",
    505: "the feature is disabled",
}


@attrs.frozen(kw_only=True)
class Envelope:
    readable: bool
    code: int | None = None
    message: str = ""
    data: Any = None


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def read_envelope(body: bytes) -> Envelope:
    """Parse an answer body; ``readable`` is False when it is not a JSON object with an integer ``code``."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return Envelope(readable=False)
    if not isinstance(parsed, dict):
        return Envelope(readable=False)
    code = _as_int(parsed.get("code"))
    if code is None and parsed.get("success") is True:
        code = 200  # the upload API's ``success`` flag, when a copy omits the code
    if code is None:
        return Envelope(readable=False, data=parsed.get("data"))
    text = parsed.get("msg")
    if not isinstance(text, str) or not text:
        text = parsed.get("message")
    return Envelope(readable=True, code=code, message=text if isinstance(text, str) else "", data=parsed.get("data"))


def error_for(
    code: int,
    message: str,
    *,
    operation: str,
    task_lookup: bool = False,
    creates: bool = False,
    retry_after: float | None = None,
) -> KieError:
    """The kiegen error for KIE code ``code`` (a body code, or the HTTP status when the body had none).

    ``task_lookup`` marks recordInfo, where 404 and 422 ("recordInfo is null") mean an unknown task (or one not
    visible yet: the services apply that grace, this only classifies). ``creates`` marks createTask, whose
    definite refusals come as code 500 with a message saying why (``is_create_refusal``)."""
    meaning = _MEANINGS.get(code, "KIE refused the request")
    text = f"{operation}: KIE answered {code} ({meaning})"
    if message and message.lower() != meaning:
        text += f": {message}"
    if code == 401:
        return KieAuthError(text + "; check KIE_API_KEY", code=code)
    if code == 402:
        return KieOutOfCredits(text + "; top up the KIE account", code=code)
    if code == 429:
        return KieRateLimited(text, code=code, retry_after=retry_after)
    if code in (404, 422) and task_lookup:
        return KieTaskNotFound(text, code=code)
    if code == 500 and creates and is_create_refusal(message):
        return KieRejected(f"{operation}: KIE refused the task: {message}", code=code)
    if code == 455 or (code >= 500 and code not in (501, 505)):
        return KieUnavailable(text, code=code, retry_after=retry_after)
    return KieRejected(text, code=code)
