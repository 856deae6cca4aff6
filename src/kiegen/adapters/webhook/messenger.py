"""WebhookMessenger: delivers a finished generation by POSTing it to the caller's URL (``webhook:<url>``).

The request follows the Standard Webhooks convention (https://www.standardwebhooks.com), signed with the
``standardwebhooks`` library: headers ``webhook-id`` (stable per job and outcome, so a receiver can drop the
duplicates that at-least-once delivery may bring), ``webhook-timestamp`` (unix seconds) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256>`` of ``id.timestamp.body``); the body is
``{"type": "generation.succeeded" | "generation.failed" | "generation.timed_out", "timestamp", "data": {job}}``.

Answers, and what becomes of the delivery (the deliverer of ``kiegen.services`` does the retrying, with
backoff and a bounded number of attempts; this adapter never retries by itself):

- 2xx: sent.
- 410 Gone: ``RecipientGone``, never retried (the receiver says the endpoint is gone for good).
- any other answer, 3xx and 4xx included: ``DeliveryDeferred``, retried with backoff (``Retry-After`` honoured).
  Like Stripe and Svix, and as Standard Webhooks advises, any non-2xx is a failed attempt: a 401, 404 or 400
  from a receiver is most often a deploy or a secret rotation in progress, and the outbox's attempt budget
  already bounds what a receiver that never recovers costs. Redirects are never followed.
- timeouts and network errors: ``DeliveryDeferred``.
- a URL the SSRF guard refuses (``kiegen.adapters.urlguard``) or that the HTTP client cannot even send (a
  control character, 70,000 characters: ``httpx.InvalidURL``, which is no ``httpx.HTTPError``):
  ``RecipientGone`` (a URL does not become valid by waiting); a host that does not resolve:
  ``DeliveryDeferred``. No exception of the HTTP stack leaves ``deliver`` untranslated.

``Retry-After`` is read by the toolkit (seconds or an HTTP date), capped at ``MAX_RETRY_AFTER_S``; every
request carries kiegen's User-Agent; a refused attempt is logged with the job id, the host and the status.

The receiver's answer body is never read (a hostile receiver cannot make kiegen download anything), and the
whole request is bounded by ``timeout``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urlsplit

import anyio
import httpx
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from kiegen.adapters import urlguard
from kiegen.adapters.httpkit import parse_retry_after
from kiegen.adapters.httpkit import user_agent as resolve_user_agent
from kiegen.adapters.webhook.payload import event_type, job_json
from kiegen.core.errors import ConfigurationError, DeliveryDeferred, RecipientGone, UnsafeURL
from kiegen.core.jobs import Job
from kiegen.ports.messaging import Receipt

__all__ = ["PREFIX", "WebhookMessenger", "message_id"]

log = logging.getLogger("kiegen.webhook")

PREFIX = "webhook:"
MAX_RETRY_AFTER_S = 3600.0


def message_id(job: Job) -> str:
    """The ``webhook-id``: the same for every attempt to deliver one outcome of one job."""
    return f"gen_{job.id}_{job.status.value}"


class WebhookMessenger:
    """Pass ``client`` to choose the transport (tests); without it one is built and closed with ``aclose``."""

    schemes = frozenset({"webhook"})

    def __init__(
        self,
        secret: str,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        allow_private: bool = False,
        resolver: urlguard.Resolver = urlguard.system_resolver,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        user_agent: str | None = None,
    ) -> None:
        try:
            self._signer = Webhook(secret)
        except (EmptyWebhookSecretError, ValueError) as exc:
            raise ConfigurationError(
                "KIEGEN_WEBHOOK_SECRET is not a usable Standard Webhooks secret: use whsec_<base64 of 24-64 "
                f"random bytes> ({type(exc).__name__})"
            ) from None
        self._owns_client = client is None
        self.client = client if client is not None else httpx.AsyncClient()
        self.timeout = timeout
        self.allow_private = allow_private
        self.resolver = resolver
        self.now = now
        self.user_agent = resolve_user_agent(user_agent)

    def handles(self, recipient: str) -> bool:
        return recipient.startswith(PREFIX)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> WebhookMessenger:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def signed(self, job: Job) -> tuple[bytes, dict[str, str]]:
        """The body and the headers of the webhook for ``job`` (a terminal job)."""
        sent_at = self.now().astimezone(UTC)
        body = json.dumps(
            {
                "type": event_type(job),
                "timestamp": sent_at.isoformat().replace("+00:00", "Z"),
                "data": job_json(job),
            },
            separators=(",", ":"),
        )
        msg_id = message_id(job)
        headers = {
            "content-type": "application/json",
            "user-agent": self.user_agent,
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": self._signer.sign(msg_id, sent_at, body),
        }
        return body.encode(), headers

    async def deliver(self, job: Job) -> Receipt:
        url = job.recipient[len(PREFIX) :]
        shown = urlguard.shown(url)
        try:
            await urlguard.check_url(url, allow_private=self.allow_private, resolver=self.resolver)
        except UnsafeURL as exc:
            raise RecipientGone(f"webhook URL refused: {exc.reason}") from exc
        except OSError as exc:
            raise DeliveryDeferred(f"webhook host of {shown} does not resolve ({exc})") from exc
        body, headers = self.signed(job)
        response = await self._post(url, shown, body, headers)
        status = response.status_code
        if 200 <= status < 300:
            log.info("job %s: webhook %s answered %d", job.id, headers["webhook-id"], status, extra={"job_id": job.id})
            return Receipt(detail=f"{headers['webhook-id']} HTTP {status}")
        host = urlsplit(url).hostname
        log.warning("job %s: webhook to %s answered HTTP %d", job.id, host, status, extra={"job_id": job.id})
        if status == 410:
            raise RecipientGone(f"webhook endpoint {shown} answered 410 Gone")
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=self.now(), cap=MAX_RETRY_AFTER_S)
        raise DeliveryDeferred(f"webhook to {shown} answered HTTP {status}", retry_after=retry_after)

    async def _post(self, url: str, shown: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """The POST, bounded by ``timeout``, its body unread; every failure of the HTTP stack translated."""
        with anyio.move_on_after(self.timeout) as scope:
            try:
                request = self.client.build_request("POST", url, content=body, headers=headers, timeout=self.timeout)
                response = await self.client.send(request, stream=True, follow_redirects=False)
            except httpx.InvalidURL as exc:
                raise RecipientGone(f"webhook URL {shown} cannot be sent: {exc}") from exc
            except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
                raise DeliveryDeferred(f"webhook to {shown}: {type(exc).__name__}") from exc
            except (ValueError, UnicodeError) as exc:  # a URL or header the HTTP stack cannot encode
                raise RecipientGone(f"webhook URL {shown} cannot be sent ({type(exc).__name__})") from exc
            await response.aclose()  # the body is not read
            return response
        assert scope.cancelled_caught
        raise DeliveryDeferred(f"webhook to {shown}: no answer within {self.timeout:g} s")
