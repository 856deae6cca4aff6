"""The one retrying layer of HttpxKieGateway: ``RetryingCaller.call`` sends a ``KieCall`` and reads the answer.

- the **body** code decides success (``read_envelope``); KIE's codes become kiegen errors (``error_for``);
- a retryable failure is tried again after ``Retry-After`` (seconds or HTTP date, capped) or capped exponential
  backoff with full jitter, within ``RetryPolicy.attempts`` and an overall ``RetryPolicy.deadline`` (an anyio
  cancel scope: it also ends a call to a server that accepted the request and went silent);
- createTask has no idempotency key, so it is retried only when KIE certainly did not act on it: the request
  never left (connect error, connect or pool timeout) or KIE answered 429 (dropped, not queued). Anything after
  the request may have arrived (read timeout, broken connection, unreadable answer, 5xx) is raised at once, as
  ``KieTransportError(sent=True)`` when no answer was read;
- 401, 402, 422 and every other definite refusal are never retried, createTask's body-500 refusals ("This
  field is required", "This interface is temporarily paused.") included;
- calls marked ``limited`` (createTask) pass the client-side ``RateLimiter`` before every attempt.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import anyio
import attrs
import httpx

from kiegen.adapters.httpkit import parse_retry_after, redact
from kiegen.adapters.kie_httpx.envelope import Envelope, error_for, read_envelope
from kiegen.adapters.kie_httpx.limiter import RateLimiter
from kiegen.adapters.kie_httpx.retry import RetryPolicy, backoff_delay
from kiegen.core.errors import KieError, KieRateLimited, KieTransportError, KieUnavailable
from kiegen.ports.clock import Clock

__all__ = ["KieCall", "RetryingCaller"]

logger = logging.getLogger("kiegen.kie_httpx")

# Failures that happen before a single byte of the request is written: safe to retry even for createTask.
_NEVER_LEFT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@attrs.frozen(kw_only=True)
class KieCall:
    """One KIE endpoint call, as data: what to send, and how carefully it may be repeated."""

    name: str
    method: str
    url: str
    idempotent: bool
    """Safe to repeat after KIE may have received it (everything but createTask)."""
    task_lookup: bool = False
    limited: bool = False
    json: Any = None
    params: Mapping[str, str] | None = None
    form: Mapping[str, str] | None = None
    files: Mapping[str, tuple[str, bytes, str]] | None = None


@attrs.define
class _Progress:
    """Where a call stands, so that the deadline can raise the error that fits the moment it struck."""

    phase: str = "start"
    last_error: KieError | None = None
    attempts: int = 0


class RetryingCaller:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str,
        retry: RetryPolicy,
        limiter: RateLimiter,
        clock: Clock,
        rng: random.Random,
        user_agent: str,
    ) -> None:
        self.client = client
        self._api_key = api_key
        self.user_agent = user_agent
        self.retry = retry
        self.limiter = limiter
        self.clock = clock
        self._rng = rng

    async def call(self, op: KieCall) -> Envelope:
        """Send ``op`` until it succeeds, may not be retried, runs out of attempts, or hits the deadline."""
        progress = _Progress()
        with anyio.move_on_after(self.retry.deadline):
            return await self._attempts(op, progress)
        raise self._deadline_error(op, progress)

    async def _attempts(self, op: KieCall, progress: _Progress) -> Envelope:
        started = anyio.current_time()
        while True:
            progress.attempts += 1
            try:
                if op.limited:
                    progress.phase = "limiter"
                    await self.limiter.acquire()
                progress.phase = "request"
                return await self._once(op)
            except KieError as exc:
                progress.last_error = exc
                if progress.attempts >= self.retry.attempts or not self._may_retry(op, exc):
                    raise
                delay = exc.retry_after
                if delay is None:
                    delay = backoff_delay(self.retry, progress.attempts, self._rng)
                remaining = self.retry.deadline - (anyio.current_time() - started)
                if delay >= remaining:
                    raise  # waiting would only run into the deadline: answer now, with retry_after
                logger.info(
                    "%s: attempt %d failed (%s, code %s); retrying in %.2f s",
                    op.name,
                    progress.attempts,
                    type(exc).__name__,
                    exc.code,
                    delay,
                )
                progress.phase = "backoff"
                await self.clock.sleep(delay)

    @staticmethod
    def _may_retry(op: KieCall, exc: KieError) -> bool:
        if not exc.retryable:
            return False
        if isinstance(exc, KieTransportError):
            return op.idempotent or not exc.sent
        if isinstance(exc, KieRateLimited):
            return True  # KIE drops rate-limited requests, it does not queue them
        return op.idempotent

    def _deadline_error(self, op: KieCall, progress: _Progress) -> KieError:
        deadline = self.retry.deadline
        if progress.phase == "limiter":
            return KieRateLimited(
                f"{op.name}: no slot in the client-side rate limit ({self.limiter.limit} per "
                f"{self.limiter.period:g} s) within the {deadline:g} s deadline",
                code=None,
            )
        if progress.phase == "backoff" and progress.last_error is not None:
            return progress.last_error
        return KieTransportError(
            f"{op.name}: no answer from KIE within the {deadline:g} s deadline"
            + ("; the task may exist upstream" if not op.idempotent else ""),
            sent=True,
        )

    async def _once(self, op: KieCall) -> Envelope:
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json",
            "User-Agent": self.user_agent,
        }
        try:
            response = await self.client.request(
                op.method, op.url, headers=headers, json=op.json, params=op.params, data=op.form, files=op.files
            )
        except _NEVER_LEFT as exc:
            raise KieTransportError(
                f"{op.name}: could not reach {urlsplit(op.url).netloc} ({type(exc).__name__})", sent=False
            ) from exc
        except httpx.HTTPError as exc:
            raise KieTransportError(
                f"{op.name}: the exchange with {urlsplit(op.url).netloc} broke after the request was sent "
                f"({type(exc).__name__})" + ("; the task may exist upstream" if not op.idempotent else ""),
                sent=True,
            ) from exc
        return self._read(op, response)

    def _read(self, op: KieCall, response: httpx.Response) -> Envelope:
        retry_after = parse_retry_after(
            response.headers.get("Retry-After"), now=self.clock.now(), cap=self.retry.max_retry_after
        )
        envelope = read_envelope(response.content)
        status = response.status_code
        if not 200 <= status < 300:
            code = envelope.code if envelope.readable and envelope.code != 200 else status
            message = envelope.message or response.reason_phrase
            raise error_for(
                code or status,
                message,
                operation=op.name,
                task_lookup=op.task_lookup,
                creates=not op.idempotent,
                retry_after=retry_after,
            )
        if not envelope.readable:
            snippet = redact(response.text[:120].replace("\n", " "))
            if op.idempotent:
                raise KieUnavailable(f"{op.name}: KIE's answer was unreadable ({snippet!r})", retry_after=retry_after)
            raise KieTransportError(
                f"{op.name}: KIE's answer was unreadable ({snippet!r}); the task may exist upstream", sent=True
            )
        if envelope.code != 200:
            raise error_for(
                envelope.code or 0,
                envelope.message,
                operation=op.name,
                task_lookup=op.task_lookup,
                creates=not op.idempotent,
                retry_after=retry_after,
            )
        return envelope
