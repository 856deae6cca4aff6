"""Reading KIE callbacks, and the rules that decide whether a callback body may be trusted.

A callback is evidence, not a command. ``read_callback`` is pure and total: any body, however broken, gives a
``CallbackReading`` or an ``Unreadable`` value, never an exception. Trust is decided separately:

- ``callback_token(secret, job_id)``: the per-job token kiegen puts in the callBackUrl (HMAC-SHA256 of the job
  id), checked with ``token_matches`` in constant time;
- ``kie_signature_valid``: KIE's optional signature, base64(HMAC-SHA256(key, taskId + "." + timestamp)),
  accepted within ``±window_s`` of now (KIE signs only the task id and time, not the body);
- ``result_urls_allowed``: result URLs must be http(s) on hosts the policy allows (``KIEGEN_RESULT_HOSTS``,
  default ``DEFAULT_RESULT_HOSTS``, KIE's file hosts) and pass the static SSRF check, unless they are under
  one of kiegen's own URL prefixes (the built-in simulator's files).

What a trusted body may then do is the services' business (``kiegen.services.callbacks``): only a body that
came with the per-job token may complete a job; KIE's signature covers the task id and time, not the body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import attrs

from kiegen.core.errors import UnsafeURL
from kiegen.core.tasks import TaskSnapshot, parse_task_data
from kiegen.core.urls import check_url_static, host_allowed

__all__ = [
    "DEFAULT_RESULT_HOSTS",
    "CallbackReading",
    "Unreadable",
    "callback_token",
    "kie_signature",
    "kie_signature_valid",
    "read_callback",
    "result_urls_allowed",
    "token_matches",
]

DEFAULT_RESULT_HOSTS = frozenset({".aiquickdraw.com", ".redpandaai.co"})
"""KIE's file hosts (KIE_API.md: results on file. and tempfile.aiquickdraw.com, uploads on
kieai.redpandaai.co); a leading dot allows the domain and its subdomains."""

MAX_CALLBACK_BYTES = 1_000_000
"""Bigger bodies are unreadable by definition: a real callback is a few kilobytes."""


@attrs.frozen(kw_only=True)
class CallbackReading:
    snapshot: TaskSnapshot
    code: int | None = None
    """The top-level envelope code (200 success, 501 failure)."""
    callback_type: str | None = None
    """``callbackType`` where KIE sends one (its verification sample: no state, only the task id)."""


@attrs.frozen(kw_only=True)
class Unreadable:
    reason: str
    task_id: str | None = None
    """A task id found in the query string even though the body was unusable."""


def _query_task_id(query: Mapping[str, str]) -> str | None:
    for key in ("taskId", "task_id"):
        value = query.get(key)
        if value:
            return value
    return None


def read_callback(
    body: bytes, query: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
) -> CallbackReading | Unreadable:
    """Extract what a callback says. ``headers`` are accepted for symmetry with the HTTP layer (KIE sends no
    task data in headers)."""
    del headers
    query = query or {}
    fallback = _query_task_id(query)
    if not body:
        return Unreadable(reason="empty body", task_id=fallback)
    if len(body) > MAX_CALLBACK_BYTES:
        return Unreadable(reason=f"body larger than {MAX_CALLBACK_BYTES} bytes", task_id=fallback)
    try:
        payload: Any = json.loads(body.decode("utf-8-sig"))  # tolerate a byte-order mark
    except UnicodeDecodeError:
        return Unreadable(reason="body is not UTF-8", task_id=fallback)
    except (ValueError, RecursionError):
        return Unreadable(reason="body is not JSON", task_id=fallback)
    if isinstance(payload, str):  # double-encoded
        try:
            payload = json.loads(payload)
        except (ValueError, RecursionError):
            return Unreadable(reason="body is a JSON string, not an object", task_id=fallback)
    if not isinstance(payload, dict):
        return Unreadable(reason=f"body is a JSON {type(payload).__name__}, not an object", task_id=fallback)
    data = payload.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):
            data = None
    if not isinstance(data, dict):
        data = {}
    top_task = payload.get("taskId") or payload.get("task_id")
    if isinstance(top_task, str) and top_task and not (data.get("taskId") or data.get("task_id")):
        data = {**data, "taskId": top_task}
    snapshot = parse_task_data(data, fallback_task_id=fallback)
    if snapshot is None:
        return Unreadable(reason="no task id in the body", task_id=fallback)
    code = payload.get("code")
    kind = data.get("callbackType", payload.get("callbackType"))
    return CallbackReading(
        snapshot=snapshot,
        code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        callback_type=kind if isinstance(kind, str) and kind else None,
    )


def callback_token(secret: bytes, job_id: str) -> str:
    """The per-job token carried in the callBackUrl: URL-safe base64 of HMAC-SHA256(secret, job id)."""
    digest = hmac.new(secret, b"kiegen-callback:" + job_id.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def token_matches(secret: bytes, job_id: str, token: str | None) -> bool:
    if not token:
        return False
    return hmac.compare_digest(callback_token(secret, job_id).encode("ascii"), token.encode("utf-8", "replace"))


def kie_signature(key: bytes, task_id: str, timestamp: int) -> str:
    mac = hmac.new(key, f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def kie_signature_valid(
    key: bytes,
    task_id: str,
    timestamp: str | None,
    signature: str | None,
    now: datetime,
    *,
    window_s: float = 300.0,
) -> bool:
    if not (timestamp and signature and task_id):
        return False
    try:
        ts = int(timestamp)
        # A forged timestamp of hundreds of digits must not escape as OverflowError (float - huge int).
        if abs(now.timestamp() - ts) > window_s:
            return False
    except (ValueError, OverflowError):
        return False
    return hmac.compare_digest(kie_signature(key, task_id, ts).encode("ascii"), signature.encode("utf-8", "replace"))


def result_urls_allowed(
    urls: tuple[str, ...],
    allowed_hosts: frozenset[str] | None,
    *,
    allow_private: bool = False,
    own: tuple[str, ...] = (),
) -> bool:
    """Every URL is under one of the ``own`` prefixes, or is http(s) on an allowed host (``host_allowed``: a
    leading dot allows subdomains; None allows any host) and passes the static SSRF check (no loopback,
    private, link-local or reserved address in any spelling, unless ``allow_private``)."""
    for url in urls:
        if any(url.startswith(prefix) for prefix in own):
            continue
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not host:
            return False
        if allowed_hosts is not None and not host_allowed(host, allowed_hosts):
            return False
        try:
            check_url_static(url, allow_private=allow_private)
        except UnsafeURL:
            return False
    return True
