"""The callback route: every trust rule of DESIGN.md's "Callbacks are evidence", observed over HTTP."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import attrs
import pytest

from kiegen.core.callbacks import kie_signature
from kiegen.core.jobs import JobStatus
from kiegen.simulator.engine import CallbackMode, SimulatorConfig
from tests.http.conftest import BASE, Harness, make_settings, serving

pytestmark = pytest.mark.anyio

EVIL = "https://evil.example.net/x.png"


def success_body(task_id: str | None, urls: tuple[str, ...] = (EVIL,)) -> bytes:
    data: dict[str, Any] = {"taskId": task_id, "state": "success", "resultJson": json.dumps({"resultUrls": urls})}
    return json.dumps({"code": 200, "msg": "success", "data": data}).encode()


async def running(h: Harness) -> str:
    """A submitted job whose simulated task is still running (it finishes in 30 s)."""
    h.kie.configure(delay_s=30.0)
    response = await h.create()
    assert response.status_code == 202
    return str(response.json()["id"])


async def metric(h: Harness, line: str) -> float:
    text = (await h.http.get("/metrics")).text
    for row in text.splitlines():
        if row.startswith(line + " "):
            return float(row.split()[-1])
    return 0.0


async def test_a_callback_through_the_app_completes_the_job_and_one_webhook_is_sent(harness: Harness) -> None:
    job_id = (await harness.create(webhook_url="https://hooks.example.com/a")).json()["id"]
    await harness.until(lambda: harness.receiver.count(job_id) == 1)
    job = await harness.job(job_id)
    assert job.status is JobStatus.SUCCEEDED
    assert job.result_urls[0].startswith(harness.kie.config.result_base_url)
    assert await metric(harness, 'kiegen_callbacks_total{outcome="applied"}') == 1
    assert await metric(harness, 'kiegen_deliveries_total{outcome="sent"}') == 1


async def test_an_authenticated_callback_is_stored_before_the_answer_and_duplicates_answer_200(
    harness: Harness,
) -> None:
    job_id = await running(harness)
    job = await harness.job(job_id)
    body = success_body(job.task_id, ("https://tempfile.aiquickdraw.com/r.png",))  # one of KIE's file hosts
    first = await harness.http.post(harness.callback_url(job_id), content=body)
    assert (first.status_code, first.json()) == (200, {"outcome": "applied"})
    assert (await harness.job(job_id)).status is JobStatus.SUCCEEDED  # stored when the answer came
    for _ in range(5):
        again = await harness.http.post(harness.callback_url(job_id), content=body)
        assert (again.status_code, again.json()) == (200, {"outcome": "duplicate"})
    assert await metric(harness, 'kiegen_callbacks_total{outcome="duplicate"}') == 5


@pytest.mark.parametrize("token", ["wrong", "", None])
async def test_a_wrong_or_missing_token_is_refused_and_changes_nothing(harness: Harness, token: str | None) -> None:
    job_id = await running(harness)
    before = await harness.job(job_id)
    url = f"/callbacks/kie/{job_id}" if token is None else harness.callback_url(job_id, token)
    response = await harness.http.post(url, content=success_body(before.task_id))
    assert response.status_code == 403
    assert await harness.job(job_id) == before
    assert await harness.store.callbacks_for(job_id) == []
    assert await metric(harness, "kiegen_callback_4xx_total") == 1


async def test_a_valid_token_for_no_known_job_is_404(harness: Harness) -> None:
    ghost = uuid.uuid4().hex
    response = await harness.http.post(harness.callback_url(ghost), content=success_body("t"))
    assert response.status_code == 404
    assert await metric(harness, "kiegen_callback_job_not_found_total") == 1


async def test_a_bare_callback_is_only_a_hint_and_its_body_is_never_applied(harness: Harness) -> None:
    job_id = await running(harness)
    before = await harness.job(job_id)
    response = await harness.http.post("/callbacks/kie", content=success_body(before.task_id))
    assert (response.status_code, response.json()) == (202, {"outcome": "hint"})
    after = await harness.job(job_id)
    assert after.status is not JobStatus.SUCCEEDED and EVIL not in after.result_urls
    assert after.next_check_at is not None and after.next_check_at <= harness.client.clock.now()  # checked soon


async def test_a_bare_callback_naming_no_known_task_is_404(harness: Harness) -> None:
    response = await harness.http.post("/callbacks/kie", content=success_body("no-such-task"))
    assert response.status_code == 404


async def test_an_unreadable_authenticated_callback_is_kept_answered_200_and_the_job_checked(
    harness: Harness,
) -> None:
    job_id = await running(harness)
    harness.kie.tasks[(await harness.job(job_id)).task_id or ""].finish_at = harness.client.clock.now()
    response = await harness.http.post(harness.callback_url(job_id), content=b'{"code": 200, "data": ')
    assert (response.status_code, response.json()) == (200, {"outcome": "unreadable"})
    await harness.until(lambda: _status(harness, job_id, JobStatus.SUCCEEDED))  # the poller asked KIE


async def _status(h: Harness, job_id: str, status: JobStatus) -> bool:
    return (await h.job(job_id)).status is status


async def test_result_urls_off_the_allowed_hosts_are_only_a_hint() -> None:
    async with serving() as h:
        h.client.ctx = attrs.evolve(
            h.client.ctx, config=attrs.evolve(h.config, allowed_result_hosts=frozenset({"cdn.example.com"}))
        )
        job_id = await running(h)
        job = await h.job(job_id)
        response = await h.http.post(h.callback_url(job_id), content=success_body(job.task_id))
        assert (response.status_code, response.json()) == (200, {"outcome": "hint"})
        assert (await h.job(job_id)).status is not JobStatus.SUCCEEDED


async def test_a_kie_signed_bare_callback_is_authenticated_and_its_success_confirmed_with_kie() -> None:
    async with serving(settings=make_settings(kie_hmac_key="kie-hmac-key")) as h:
        h.client.ctx = attrs.evolve(h.client.ctx, config=attrs.evolve(h.config, kie_hmac_key=b"kie-hmac-key"))
        job_id = await running(h)
        task_id = (await h.job(job_id)).task_id or ""
        now = int(time.time())
        good = {"X-Webhook-Timestamp": str(now), "X-Webhook-Signature": kie_signature(b"kie-hmac-key", task_id, now)}
        old = {**good, "X-Webhook-Timestamp": str(now - 301)}
        stale = await h.http.post(
            "/callbacks/kie", content=success_body(task_id, ("https://c.example/r.png",)), headers=old
        )
        assert stale.status_code == 202
        fresh = await h.http.post(
            "/callbacks/kie", content=success_body(task_id, ("https://c.example/r.png",)), headers=good
        )
        # Authenticated (200, KIE does not retry), but the signature does not cover the body: a hint.
        assert (fresh.status_code, fresh.json()) == (200, {"outcome": "hint"})
        assert (await h.job(job_id)).status is not JobStatus.SUCCEEDED


async def test_a_body_over_the_limit_is_refused_from_its_declared_length(harness: Harness) -> None:
    job_id = await running(harness)
    response = await harness.http.post(harness.callback_url(job_id), content=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert await harness.store.callbacks_for(job_id) == []


async def test_a_streamed_body_over_the_limit_is_cut_off_while_reading(harness: Harness) -> None:
    job_id = await running(harness)
    offered = 64  # 4 MB in 64 KB chunks, without a Content-Length: the app is driven at the ASGI level
    pulled = 0
    answer: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": pulled < offered}

    async def send(message: dict[str, Any]) -> None:
        answer.append(message)

    url = harness.callback_url(job_id)
    path, _, query = url.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"kiegen.test"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("kiegen.test", 80),
    }
    await harness.app(scope, receive, send)
    assert answer[0]["status"] == 413
    assert pulled == 17  # 16 chunks make 1 MB; the 17th crosses the limit, and the rest is never read
    assert await metric(harness, 'kiegen_callbacks_total{outcome="too_large"}') == 1


async def test_duplicate_callbacks_from_the_simulator_bring_one_webhook() -> None:
    async with serving(sim=SimulatorConfig(delay_s=0.1, callbacks=CallbackMode.DUPLICATE, duplicates=20)) as h:
        ids = [(await h.create(webhook_url=f"https://hooks.example.com/{n}")).json()["id"] for n in range(5)]
        await h.until(lambda: len(h.receiver.requests) >= 5)
        await h.until(lambda: sum(1 for t in h.kie.tasks.values() if t.callback_sent == 20) == 5)
        await h.until(lambda: _all_done(h))
        assert [h.receiver.count(i) for i in ids] == [1] * 5
        assert await metric(h, 'kiegen_callbacks_total{outcome="duplicate"}') == 5 * 19


async def _all_done(h: Harness) -> bool:
    for job in await h.store.list_jobs():
        for delivery in await h.store.deliveries_for(job.id):
            if delivery.status.value == "pending":
                return False
    return True


async def test_the_public_url_prefix_is_not_required_on_the_route(harness: Harness) -> None:
    assert BASE.startswith("http://")  # callBackUrls are absolute; the route matches on the path alone
    job_id = await running(harness)
    response = await harness.http.post(f"{BASE}{harness.callback_url(job_id)}", content=b"{}")
    assert response.status_code == 200


async def test_a_callback_cut_off_mid_body_stores_nothing_and_changes_nothing(harness: Harness) -> None:
    job_id = await running(harness)
    job = await harness.job(job_id)
    body = success_body(job.task_id, ("https://cdn.example.com/r.png",))
    path, _, query = harness.callback_url(job_id).partition("?")
    messages = [
        {"type": "http.request", "body": body[:20], "more_body": True},
        {"type": "http.disconnect"},  # KIE hung up before the rest of the body
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "server": ("test", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
    }
    await harness.app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert await harness.store.callbacks_for(job_id) == []  # no unreadable inbox row from half a body
    assert (await harness.job(job_id)).status is job.status
