"""WebhookMessenger: Standard Webhooks signatures (verified with the ``standardwebhooks`` library), how each
answer is classified, and the SSRF guard before any request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from kiegen.adapters.webhook import WebhookMessenger, message_id
from kiegen.core.errors import ConfigurationError, DeliveryDeferred, RecipientGone, UnsafeURL
from kiegen.core.jobs import Job, JobStatus
from tests.http.conftest import WEBHOOK_SECRET, public_dns

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def job(status: JobStatus = JobStatus.SUCCEEDED, url: str = "https://hooks.example.com/in") -> Job:
    return Job(
        id="job1",
        model="z-image",
        inputs={"prompt": "fox"},
        recipient=f"webhook:{url}",
        status=status,
        task_id="t1",
        result_urls=("https://cdn.example.com/r.png",) if status is JobStatus.SUCCEEDED else (),
        error_code=None if status is JobStatus.SUCCEEDED else "501",
        error_message=None if status is JobStatus.SUCCEEDED else "nope",
        created_at=NOW,
        updated_at=NOW,
        completed_at=NOW + timedelta(seconds=5),
        deadline_at=NOW + timedelta(minutes=15),
    )


def messenger(handler: Any, **options: Any) -> tuple[WebhookMessenger, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        response: httpx.Response = handler(request)
        return response

    options.setdefault("resolver", public_dns)
    client = httpx.AsyncClient(transport=httpx.MockTransport(recording))
    return WebhookMessenger(WEBHOOK_SECRET, client=client, **options), seen


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (JobStatus.SUCCEEDED, "generation.succeeded"),
        (JobStatus.FAILED, "generation.failed"),
        (JobStatus.TIMED_OUT, "generation.timed_out"),
    ],
)
async def test_the_webhook_is_signed_per_standard_webhooks(status: JobStatus, kind: str) -> None:
    sender, seen = messenger(ok)
    receipt = await sender.deliver(job(status))
    request = seen[0]
    payload = Webhook(WEBHOOK_SECRET).verify(request.content, dict(request.headers))
    assert payload["type"] == kind and payload["data"]["id"] == "job1" and payload["data"]["status"] == status.value
    assert request.headers["webhook-id"] == message_id(job(status)) and receipt.detail is not None
    assert request.headers["webhook-signature"].startswith("v1,")
    assert "webhook:" not in request.content.decode()  # the recipient (maybe with secrets) is not echoed


async def test_a_tampered_body_or_another_secret_fails_verification() -> None:
    sender, seen = messenger(ok)
    await sender.deliver(job())
    request = seen[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(WEBHOOK_SECRET).verify(request.content.replace(b"fox", b"cat"), dict(request.headers))
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "b3RoZXIgc2VjcmV0IG9mIDMyIGJ5dGVzISEhISEhIQ==").verify(
            request.content, dict(request.headers)
        )


async def test_the_webhook_id_is_the_same_for_every_attempt() -> None:
    sender, seen = messenger(ok)
    await sender.deliver(job())
    await sender.deliver(job())
    assert seen[0].headers["webhook-id"] == seen[1].headers["webhook-id"]
    assert message_id(job(JobStatus.TIMED_OUT)) != message_id(job())  # a late success is a new message


async def test_410_means_gone_for_good() -> None:
    sender, _ = messenger(lambda _r: httpx.Response(410))
    with pytest.raises(RecipientGone):
        await sender.deliver(job())


@pytest.mark.parametrize("status", [400, 401, 404, 409, 429, 500, 502, 503, 301, 302])
async def test_other_answers_are_retried_by_the_deliverer(status: int) -> None:
    sender, seen = messenger(lambda _r: httpx.Response(status, headers={"Location": "http://127.0.0.1/"}))
    with pytest.raises(DeliveryDeferred):
        await sender.deliver(job())
    assert len(seen) == 1  # no retry here, and redirects are not followed


async def test_retry_after_is_passed_on_and_capped() -> None:
    sender, _ = messenger(lambda _r: httpx.Response(429, headers={"Retry-After": "7"}))
    with pytest.raises(DeliveryDeferred) as caught:
        await sender.deliver(job())
    assert caught.value.retry_after == 7
    sender, _ = messenger(lambda _r: httpx.Response(503, headers={"Retry-After": "99999999"}))
    with pytest.raises(DeliveryDeferred) as caught:
        await sender.deliver(job())
    assert caught.value.retry_after == 3600


async def test_network_errors_are_deferred() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sender, _ = messenger(refuse)
    with pytest.raises(DeliveryDeferred):
        await sender.deliver(job())


async def test_a_receiver_that_never_answers_is_cut_off_at_the_timeout() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(30)
        return httpx.Response(200)

    client = httpx.AsyncClient(transport=httpx.MockTransport(hang))
    sender = WebhookMessenger(WEBHOOK_SECRET, client=client, timeout=0.2, resolver=public_dns)
    with anyio.fail_after(5), pytest.raises(DeliveryDeferred, match="no answer"):
        await sender.deliver(job())


async def test_an_unresolvable_host_is_deferred() -> None:
    async def no_dns(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    sender, seen = messenger(ok, resolver=no_dns)
    with pytest.raises(DeliveryDeferred):
        await sender.deliver(job())
    assert seen == []


SSRF = [
    "http://127.0.0.1/x",
    "http://127.1/x",
    "http://2130706433/x",
    "http://0x7f000001/x",
    "http://0177.0.0.1/x",
    "http://0/x",
    "http://localhost/x",
    "http://LOCALHOST./x",
    "http://api.localhost/x",
    "http://10.0.0.5/x",
    "http://172.16.3.4/x",
    "http://192.168.1.1/x",
    "http://100.64.0.1/x",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/x",
    "http://[::ffff:127.0.0.1]/x",
    "http://[::ffff:a9fe:a9fe]/x",
    "http://[fe80::1%25eth0]/x",
    "http://[fc00::1]/x",
    "http://[64:ff9b::a00:1]/x",
    "http://[2002:7f00:1::]/x",
    "http://evil.example\\@127.0.0.1/x",
    "http://evil.example@127.0.0.1/x",
    "ftp://hooks.example.com/x",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_x",
    "http:///x",
]


@pytest.mark.parametrize("url", SSRF)
async def test_the_ssrf_matrix_is_refused_before_any_request(url: str) -> None:
    sender, seen = messenger(ok)
    with pytest.raises(RecipientGone) as caught:
        await sender.deliver(job(url=url))
    assert isinstance(caught.value.__cause__, UnsafeURL)
    assert seen == []


async def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    async def rebinding(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.1"]

    sender, seen = messenger(ok, resolver=rebinding)
    with pytest.raises(RecipientGone, match="resolves to a private"):
        await sender.deliver(job())
    assert seen == []


async def test_private_urls_are_allowed_when_the_operator_says_so() -> None:
    sender, seen = messenger(ok, allow_private=True)
    await sender.deliver(job(url="http://127.0.0.1:9/x"))
    assert len(seen) == 1


def test_an_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="KIEGEN_WEBHOOK_SECRET"):
        WebhookMessenger("whsec_")


def test_handles_only_webhook_recipients() -> None:
    sender, _ = messenger(ok)
    assert sender.handles("webhook:https://x.example") and not sender.handles("telegram:1")


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/in\tx",
        "https://hooks.example.com/in\r\nX-Injected: 1",
        "https://hooks.example.com/" + "a" * 70_000,
        "http://[::1",
    ],
)
async def test_a_url_the_http_client_cannot_send_is_gone_not_an_escaping_exception(url: str) -> None:
    sender, seen = messenger(ok)
    with pytest.raises(RecipientGone):  # before: httpx.InvalidURL (no httpx.HTTPError) escaped deliver
        await sender.deliver(job(url=url))
    assert seen == []


async def test_an_unexpected_error_of_the_http_stack_is_translated() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.StreamConsumed()  # a RuntimeError, not an httpx.HTTPError

    sender, _ = messenger(broken)
    with pytest.raises(DeliveryDeferred, match="StreamConsumed"):
        await sender.deliver(job())


async def test_retry_after_as_an_http_date_is_honoured() -> None:
    later = "Fri, 01 May 2026 12:02:00 GMT"  # NOW + 120 s
    sender, _ = messenger(lambda _r: httpx.Response(503, headers={"Retry-After": later}), now=lambda: NOW)
    with pytest.raises(DeliveryDeferred) as caught:
        await sender.deliver(job())
    assert caught.value.retry_after == 120


async def test_webhooks_carry_kiegens_user_agent_and_a_refusal_is_logged_with_host_and_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender, seen = messenger(lambda _r: httpx.Response(403))
    with caplog.at_level("WARNING", logger="kiegen.webhook"), pytest.raises(DeliveryDeferred):
        await sender.deliver(job())
    assert seen[0].headers["user-agent"].startswith("kiegen/")
    assert "job job1: webhook to hooks.example.com answered HTTP 403" in caplog.text
    custom, seen = messenger(ok, user_agent="acme/1")
    await custom.deliver(job())
    assert seen[0].headers["user-agent"] == "acme/1"


async def test_the_webhook_body_says_what_kie_charged() -> None:
    sender, seen = messenger(ok)
    import attrs

    await sender.deliver(attrs.evolve(job(), kie_credits=0.8))
    assert Webhook(WEBHOOK_SECRET).verify(seen[0].content, dict(seen[0].headers))["data"]["kie_credits"] == 0.8
