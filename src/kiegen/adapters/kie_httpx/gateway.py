"""HttpxKieGateway: the KieGateway port over KIE's HTTP API, with httpx (any transport, asyncio or trio).

Calls go through ``RetryingCaller`` (``calls.py``), the one layer that retries: the body code decides, KIE's
codes become typed errors, createTask is retried only when KIE certainly did not act on it, and every call
has an overall deadline. Endpoint methods here only shape requests and read ``data``.

The API key travels only in the Authorization header and is registered with ``install_log_redaction``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from kiegen.adapters.httpkit import install_log_redaction
from kiegen.adapters.httpkit import user_agent as resolve_user_agent
from kiegen.adapters.kie_httpx.calls import KieCall, RetryingCaller
from kiegen.adapters.kie_httpx.envelope import Envelope
from kiegen.adapters.kie_httpx.limiter import RateLimiter, shared_limiter
from kiegen.adapters.kie_httpx.retry import RetryPolicy
from kiegen.adapters.system import SystemClock
from kiegen.core.errors import (
    ConfigurationError,
    KieRejected,
    KieTaskNotFound,
    KieTransportError,
)
from kiegen.core.tasks import TaskSnapshot, parse_task_data
from kiegen.ports.clock import Clock

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_UPLOAD_URL", "HttpxKieGateway"]

DEFAULT_BASE_URL = "https://api.kie.ai"
DEFAULT_UPLOAD_URL = "https://kieai.redpandaai.co"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0, pool=10.0)


def _check_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{name} must be an http(s) URL such as https://api.kie.ai, got {url!r}")
    return url.rstrip("/")


class HttpxKieGateway:
    """KieGateway over HTTP. Pass ``client`` to choose the transport (tests use ``httpx.MockTransport`` or
    ``httpx.ASGITransport``); without it the gateway builds and owns one (close it with ``aclose`` or
    ``async with``), with ``event_hooks`` (the HTTP service counts requests with them). ``clock`` paces
    retries (and dates Retry-After); ``limiter`` paces createTask; ``user_agent`` (``KIEGEN_USER_AGENT``)
    names kiegen and its version unless set."""

    def __init__(
        self,
        api_key: str,
        *,
        client: httpx.AsyncClient | None = None,
        base_url: str = DEFAULT_BASE_URL,
        upload_url: str = DEFAULT_UPLOAD_URL,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        upload_path: str = "kiegen",
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
        user_agent: str | None = None,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ConfigurationError("KIE_API_KEY is empty: set it to your KIE.ai API key")
        install_log_redaction(api_key.strip())
        self.base_url = _check_url("KIEGEN_KIE_BASE_URL", base_url)
        self.upload_url = _check_url("KIEGEN_KIE_UPLOAD_URL", upload_url)
        self._owns_client = client is None
        if client is None:
            client = httpx.AsyncClient(timeout=timeout, event_hooks=dict(event_hooks or {}))
        elif event_hooks:
            raise ConfigurationError("pass event_hooks to the httpx client you give the gateway, not to both")
        self.calls = RetryingCaller(
            client,
            api_key=api_key.strip(),
            retry=retry or RetryPolicy(),
            limiter=limiter if limiter is not None else shared_limiter(),
            clock=clock or SystemClock(),
            rng=rng or random.Random(),
            user_agent=resolve_user_agent(user_agent),
        )
        self.upload_path = upload_path.strip("/") or "kiegen"

    @property
    def client(self) -> httpx.AsyncClient:
        return self.calls.client

    @property
    def limiter(self) -> RateLimiter:
        return self.calls.limiter

    @property
    def retry(self) -> RetryPolicy:
        return self.calls.retry

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> HttpxKieGateway:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # the port

    async def create_task(self, model: str, inputs: Mapping[str, Any], *, callback_url: str | None) -> str:
        payload: dict[str, Any] = {"model": model, "input": dict(inputs)}
        if callback_url:
            payload["callBackUrl"] = callback_url
        op = KieCall(
            name="createTask",
            method="POST",
            url=f"{self.base_url}/api/v1/jobs/createTask",
            idempotent=False,
            limited=True,
            json=payload,
        )
        envelope = await self.calls.call(op)
        data = envelope.data if isinstance(envelope.data, Mapping) else {}
        task_id = data.get("taskId") or data.get("task_id")
        if not isinstance(task_id, str) or not task_id.strip():
            # KIE said yes but named no task: it may exist, so this is ambiguous, not a refusal.
            raise KieTransportError("createTask: KIE answered success without a taskId", sent=True)
        return task_id.strip()

    async def get_task(self, task_id: str) -> TaskSnapshot:
        op = KieCall(
            name="recordInfo",
            method="GET",
            url=f"{self.base_url}/api/v1/jobs/recordInfo",
            idempotent=True,
            task_lookup=True,
            params={"taskId": task_id},
        )
        envelope = await self.calls.call(op)
        data = envelope.data if isinstance(envelope.data, Mapping) else None
        snapshot = parse_task_data(data, fallback_task_id=task_id) if data is not None else None
        if snapshot is None:
            raise KieTaskNotFound(f"recordInfo: KIE answered without data for task {task_id!r}", code=envelope.code)
        return snapshot

    async def upload(self, data: bytes, *, filename: str, mime: str) -> str:
        """Stream (multipart) upload. Each upload gets its own folder, so a retry overwrites only itself."""
        op = KieCall(
            name="file-stream-upload",
            method="POST",
            url=f"{self.upload_url}/api/file-stream-upload",
            idempotent=True,
            form={"uploadPath": self._fresh_upload_path(), "fileName": filename},
            files={"file": (filename, data, mime)},
        )
        return self._download_url_of(op.name, await self.calls.call(op))

    async def credits(self) -> Decimal:
        op = KieCall(name="credit", method="GET", url=f"{self.base_url}/api/v1/chat/credit", idempotent=True)
        envelope = await self.calls.call(op)
        value = envelope.data
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                return Decimal(str(value).strip())
            except InvalidOperation:
                pass
        raise KieRejected(f"credit: KIE answered an unreadable balance {value!r}", code=envelope.code)

    async def direct_download_url(self, url: str) -> str:
        """A direct link to a KIE file URL, valid about 20 minutes (``/api/v1/common/download-url``)."""
        op = KieCall(
            name="download-url",
            method="POST",
            url=f"{self.base_url}/api/v1/common/download-url",
            idempotent=True,
            json={"url": url},
        )
        envelope = await self.calls.call(op)
        if isinstance(envelope.data, str) and envelope.data.startswith(("http://", "https://")):
            return envelope.data
        raise KieRejected(f"download-url: KIE answered without a link for {url!r}", code=envelope.code)

    # the one retrying layer

    def _fresh_upload_path(self) -> str:
        return f"{self.upload_path}/{uuid.uuid4().hex}"

    @staticmethod
    def _download_url_of(operation: str, envelope: Envelope) -> str:
        data = envelope.data if isinstance(envelope.data, Mapping) else {}
        for key in ("downloadUrl", "fileUrl", "url"):
            url = data.get(key)
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                return url
        raise KieRejected(f"{operation}: KIE answered success without a download URL", code=envelope.code)
