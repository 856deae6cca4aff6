"""Poison webhook URLs: refused at submission with the field named; and one that is already stored (from before
the check) fails its own delivery alone while every other webhook is delivered, once."""

from __future__ import annotations

import pytest

from kiegen.catalogue import default_registry
from kiegen.core.delivery import DeliveryStatus
from kiegen.services import Config
from tests.http.conftest import BASE, CALLBACK_SECRET, HOOK_URL, Harness, serving

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://hooks.example.com/a\tb", "'\\t' at position 27"),
        ("https://hooks.example.com/a\r\nX-Injected: 1", "'\\r'"),
        ("https://hooks.example.com/a b", "' '"),
        ("https://hooks.example.com/\u202egnp.exe", "'\\u202e'"),
        ("https://hooks.example.com/" + "a" * 70_000, "70026 characters long, more than 2048"),
        ("https://[::1/hook", "not a valid URL"),
        ("https://hooks.example.com:99999/", "malformed URL"),
    ],
    ids=["tab", "crlf", "space", "bidi-override", "70k", "bad-ipv6", "bad-port"],
)
async def test_a_poison_webhook_url_is_refused_at_submission(harness: Harness, url: str, says: str) -> None:
    response = await harness.create(webhook_url=url)
    assert response.status_code == 422
    [problem] = response.json()["error"]["problems"]
    assert problem["field"] == "webhook_url" and says in problem["message"] and problem["fix"]
    assert len(problem["value"]) <= 103  # a 70,000-character URL is not echoed back
    assert await harness.store.list_jobs() == []


async def test_a_stored_poison_webhook_fails_alone_and_every_other_webhook_is_delivered_once() -> None:
    config = Config(
        registry=default_registry(),
        public_url=BASE,
        callback_secret=CALLBACK_SECRET,
        worker_interval_s=0.05,
        max_delivery_attempts=2,
    )
    async with serving(config=config) as h:
        # As kiegen before this check stored it: httpx refuses to build a request to it (httpx.InvalidURL).
        poison = await h.client.submit("z-image", {"prompt": "x"}, recipient="webhook:" + HOOK_URL + "/a\tb")
        ids = [(await h.create(webhook_url=HOOK_URL)).json()["id"] for _ in range(10)]

        async def settled() -> bool:
            [bad] = await h.store.deliveries_for(poison.id) or [None]
            return bad is not None and bad.status is DeliveryStatus.GONE and h.receiver.count(ids[-1]) == 1

        await h.until(lambda: settled(), timeout=20)
        await h.until(lambda: all(h.receiver.count(job_id) == 1 for job_id in ids), timeout=10)
        for job_id in ids:
            [delivery] = await h.store.deliveries_for(job_id)
            assert delivery.status is DeliveryStatus.SENT and delivery.attempt == 1
        [bad] = await h.store.deliveries_for(poison.id)
        # Refused by the delivery-time URL check: a permanent fault, so no second try.
        assert bad.attempt == 1 and "control characters" in (bad.last_error or "")
        assert len(h.receiver.requests) == 10
