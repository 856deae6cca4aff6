"""The fault matrix of HttpxKieGateway: what KIE and the network do, and what the gateway makes of it.

Upstream is either ``httpx.MockTransport`` (a scripted KIE that counts requests) or the simulator app with its
fault knobs over ``httpx.ASGITransport``. Retry waits go through ``StepClock``, which records them and returns at
once, so no test sleeps for real except the deadline tests (0.2 s each).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from kiegen.adapters.kie_httpx import HttpxKieGateway, RateLimiter, RetryPolicy, shared_limiter
from kiegen.adapters.memory import FakeClock
from kiegen.adapters.memory.clock import EPOCH
from kiegen.core.errors import (
    KieAuthError,
    KieError,
    KieOutOfCredits,
    KieRateLimited,
    KieRejected,
    KieTaskNotFound,
    KieTransportError,
    KieUnavailable,
)
from kiegen.core.jobs import TaskState
from kiegen.simulator.app import SimulatorApp, running_in_thread
from kiegen.simulator.engine import SimulatedKie, SimulatorConfig
from kiegen.simulator.faults import HttpFault

pytestmark = pytest.mark.anyio

KEY = "sk-test-0123456789abcdef"
BASE = "http://kie.test"
CREATE = "/api/v1/jobs/createTask"
RECORD = "/api/v1/jobs/recordInfo"


class StepClock:
    """A Clock whose sleep returns at once and moves ``now`` forward; ``sleeps`` lists every wait asked for."""

    def __init__(self) -> None:
        self.current = EPOCH
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.current += timedelta(seconds=seconds)
        await anyio.lowlevel.checkpoint()


Reply = httpx.Response | Exception


class ScriptedKie:
    """A MockTransport handler: per path, a queue of replies (an exception is raised as a transport failure);
    when a queue is empty, a successful answer. Every request is recorded."""

    def __init__(self) -> None:
        self.script: dict[str, list[Reply]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, path: str, *replies: Reply) -> None:
        self.script.setdefault(path, []).extend(replies)

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.url.path == path)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.script.get(request.url.path)
        if queue:
            reply = queue.pop(0)
            if isinstance(reply, Exception):
                raise reply
            return reply
        if request.url.path == CREATE:
            return ok({"taskId": "task-1"})
        if request.url.path == RECORD:
            return ok(record("success"))
        if request.url.path == "/api/v1/chat/credit":
            return ok(42.5)
        return httpx.Response(404)


def ok(data: Any, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"code": 200, "msg": "success", "data": data, **extra})


def body_error(code: int, text: str = "refused", field: str = "msg") -> httpx.Response:
    return httpx.Response(200, json={"code": code, field: text, "data": None})


def record(state: str, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "taskId": "task-1",
        "model": "z-image",
        "state": state,
        "param": json.dumps({"model": "z-image", "input": {"prompt": "x"}}),
        "resultJson": json.dumps({"resultUrls": ["https://files.kie.test/r/0.png"]}) if state == "success" else "",
        "failCode": "",
        "failMsg": "",
        "createTime": 1767268800000,
    }
    data.update(fields)
    return data


def gateway(
    handler: Callable[[httpx.Request], httpx.Response],
    *,
    clock: StepClock | FakeClock | None = None,
    retry: RetryPolicy | None = None,
    limiter: RateLimiter | None = None,
) -> HttpxKieGateway:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return HttpxKieGateway(
        KEY,
        client=client,
        base_url=BASE,
        upload_url=BASE,
        retry=retry or RetryPolicy(attempts=4, deadline=30.0),
        limiter=limiter or RateLimiter(1000, 1.0),
        clock=clock or StepClock(),
        rng=random.Random(7),
    )


def create(gw: HttpxKieGateway) -> Any:
    return gw.create_task("z-image", {"prompt": "x"}, callback_url=None)


# 429 and Retry-After


async def test_429_with_retry_after_seconds_waits_that_long_then_succeeds() -> None:
    kie, clock = ScriptedKie(), StepClock()
    kie.on(CREATE, httpx.Response(429, headers={"Retry-After": "3"}, json={"code": 429, "msg": "slow down"}))
    assert await create(gateway(kie, clock=clock)) == "task-1"
    assert kie.count(CREATE) == 2
    assert clock.sleeps == [3.0]


async def test_429_with_retry_after_http_date_waits_until_that_date() -> None:
    kie, clock = ScriptedKie(), StepClock()
    when = format_datetime(clock.now() + timedelta(seconds=7), usegmt=True)
    kie.on(CREATE, httpx.Response(429, headers={"Retry-After": when}))
    assert await create(gateway(kie, clock=clock)) == "task-1"
    assert clock.sleeps == [7.0]


async def test_an_absurd_retry_after_is_capped() -> None:
    kie, clock = ScriptedKie(), StepClock()
    kie.on(RECORD, httpx.Response(429, headers={"Retry-After": "86400000"}))
    gw = gateway(kie, clock=clock, retry=RetryPolicy(max_retry_after=20.0, deadline=60.0))
    assert (await gw.get_task("task-1")).state is TaskState.SUCCESS
    assert clock.sleeps == [20.0]


async def test_a_retry_after_beyond_the_deadline_is_raised_at_once_with_the_wait() -> None:
    kie, clock = ScriptedKie(), StepClock()
    kie.on(CREATE, httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}))
    gw = gateway(kie, clock=clock, retry=RetryPolicy(max_retry_after=30.0, deadline=10.0))
    with pytest.raises(KieRateLimited) as caught:
        await create(gw)
    assert (caught.value.retry_after, caught.value.retryable) == (30.0, True)
    assert kie.count(CREATE) == 1
    assert clock.sleeps == []


async def test_429_inside_http_200_is_retried_with_backoff_for_create() -> None:
    kie, clock = ScriptedKie(), StepClock()
    kie.on(CREATE, body_error(429, "Too many requests"), body_error(429, "Too many requests"))
    assert await create(gateway(kie, clock=clock)) == "task-1"
    assert kie.count(CREATE) == 3
    # full jitter: uniform in [0, 0.5] then [0, 1.0]
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 0.5
    assert 0 <= clock.sleeps[1] <= 1.0


# 5xx


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503, text="<html>busy</html>"),
        httpx.Response(502),
        body_error(500, "server error"),
        body_error(455, "maintenance"),
    ],
    ids=["http-503", "http-502", "body-500", "body-455"],
)
async def test_a_server_error_then_success_is_retried_for_lookups(failure: httpx.Response) -> None:
    kie, clock = ScriptedKie(), StepClock()
    kie.on(RECORD, failure, failure)
    snapshot = await gateway(kie, clock=clock).get_task("task-1")
    assert snapshot.state is TaskState.SUCCESS
    assert kie.count(RECORD) == 3
    assert len(clock.sleeps) == 2


async def test_backoff_is_capped_and_attempts_are_bounded() -> None:
    kie, clock = ScriptedKie(), StepClock()
    kie.on(RECORD, *[httpx.Response(503) for _ in range(10)])
    gw = gateway(kie, clock=clock, retry=RetryPolicy(attempts=6, base_delay=1.0, max_delay=2.0, deadline=60.0))
    with pytest.raises(KieUnavailable) as caught:
        await gw.get_task("task-1")
    assert (caught.value.code, caught.value.retryable) == (503, True)
    assert kie.count(RECORD) == 6
    assert len(clock.sleeps) == 5
    assert max(clock.sleeps) <= 2.0


async def test_a_server_error_on_create_is_not_retried_because_the_task_may_exist() -> None:
    kie = ScriptedKie()
    kie.on(CREATE, httpx.Response(503), httpx.Response(503))
    with pytest.raises(KieUnavailable):
        await create(gateway(kie))
    assert kie.count(CREATE) == 1


# transport failures and createTask's ambiguity


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow dns"), httpx.PoolTimeout("pool full")],
    ids=lambda e: type(e).__name__,
)
async def test_create_is_retried_when_the_request_never_left(failure: Exception) -> None:
    kie = ScriptedKie()
    kie.on(CREATE, failure, failure)
    assert await create(gateway(kie)) == "task-1"
    assert kie.count(CREATE) == 3


async def test_create_gives_up_with_sent_false_when_it_can_never_connect() -> None:
    kie = ScriptedKie()
    kie.on(CREATE, *[httpx.ConnectError("refused") for _ in range(4)])
    with pytest.raises(KieTransportError) as caught:
        await create(gateway(kie))
    assert caught.value.sent is False
    assert kie.count(CREATE) == 4


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("no answer"), httpx.RemoteProtocolError("peer closed"), httpx.WriteError("broken pipe")],
    ids=lambda e: type(e).__name__,
)
async def test_create_is_not_retried_once_the_request_may_have_arrived(failure: Exception) -> None:
    kie = ScriptedKie()
    kie.on(CREATE, failure)
    with pytest.raises(KieTransportError) as caught:
        await create(gateway(kie))
    assert (caught.value.sent, caught.value.retryable) == (True, True)
    assert kie.count(CREATE) == 1


async def test_a_lookup_is_retried_after_a_read_timeout() -> None:
    kie = ScriptedKie()
    kie.on(RECORD, httpx.ReadTimeout("no answer"))
    assert (await gateway(kie).get_task("task-1")).state is TaskState.SUCCESS
    assert kie.count(RECORD) == 2


def simulator(*, deadline: float = 0.2, **config: Any) -> tuple[SimulatorApp, HttpxKieGateway, SimulatedKie]:
    engine = SimulatedKie(FakeClock(), SimulatorConfig(**config))
    app = SimulatorApp(engine, public_url=BASE)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    gw = HttpxKieGateway(
        KEY,
        client=client,
        base_url=BASE,
        upload_url=BASE,
        retry=RetryPolicy(deadline=deadline),
        limiter=RateLimiter(1000, 1.0),
        clock=StepClock(),
        rng=random.Random(7),
    )
    return app, gw, engine


async def test_a_create_that_was_carried_out_but_never_answered_is_not_repeated() -> None:
    app, gw, engine = simulator()
    app.faults.push("createTask", HttpFault.hang_after(30))
    with pytest.raises(KieTransportError) as caught:
        await create(gw)
    assert caught.value.sent is True
    assert "may exist" in caught.value.message
    assert app.faults.hits["createTask"] == 1
    assert len(engine.tasks) == 1  # exactly one task upstream


@pytest.mark.parametrize("route", ["createTask", "recordInfo"])
async def test_a_hanging_server_ends_the_call_at_its_deadline(route: str) -> None:
    app, gw, _ = simulator()
    app.faults.push(route, HttpFault.hang(30))
    started = time.monotonic()
    with pytest.raises(KieTransportError) as caught:
        await (create(gw) if route == "createTask" else gw.get_task("t"))
    elapsed = time.monotonic() - started
    print(f"deadline 0.2 s, call ended after {elapsed:.3f} s")
    assert 0.2 <= elapsed < 0.4, elapsed
    assert caught.value.sent is True
    assert app.faults.hits[route] == 1


async def test_the_deadline_also_bounds_waiting_for_the_client_side_limiter() -> None:
    kie, limiter = ScriptedKie(), RateLimiter(1, 10.0, clock=FakeClock())
    gw = gateway(kie, limiter=limiter, retry=RetryPolicy(deadline=0.2))
    assert await create(gw) == "task-1"
    with pytest.raises(KieRateLimited) as caught:
        await create(gw)
    assert caught.value.code is None  # ours, not KIE's
    assert kie.count(CREATE) == 1


# every code of KIE_API.md's table, inside HTTP 200

TABLE = [
    # code, error on createTask, error on recordInfo, retryable
    (400, KieRejected, KieRejected, False),
    (401, KieAuthError, KieAuthError, False),
    (402, KieOutOfCredits, KieOutOfCredits, False),
    (404, KieRejected, KieTaskNotFound, False),
    (408, KieRejected, KieRejected, False),
    (422, KieRejected, KieTaskNotFound, False),
    (429, KieRateLimited, KieRateLimited, True),
    (433, KieRejected, KieRejected, False),
    (455, KieUnavailable, KieUnavailable, True),
    (500, KieUnavailable, KieUnavailable, True),
    (501, KieRejected, KieRejected, False),
    (505, KieRejected, KieRejected, False),
]


@pytest.mark.parametrize(("code", "on_create", "on_lookup", "retryable"), TABLE, ids=[str(row[0]) for row in TABLE])
async def test_each_body_code_is_classified(
    code: int, on_create: type[KieError], on_lookup: type[KieError], retryable: bool
) -> None:
    kie = ScriptedKie()
    kie.on(CREATE, body_error(code, "told you so"))
    kie.on(RECORD, body_error(code, "told you so"))
    gw = gateway(kie, retry=RetryPolicy(attempts=1))
    for call, expected in ((create(gw), on_create), (gw.get_task("task-1"), on_lookup)):
        with pytest.raises(KieError) as caught:
            await call
        assert type(caught.value) is expected
        assert (caught.value.code, caught.value.retryable) == (code, retryable)
        assert "told you so" in caught.value.message


@pytest.mark.parametrize("code", [400, 401, 402, 404, 408, 422, 433, 501, 505])
async def test_definite_refusals_are_never_retried(code: int) -> None:
    kie = ScriptedKie()
    kie.on(CREATE, *[body_error(code)] * 4)
    kie.on(RECORD, *[body_error(code)] * 4)
    gw = gateway(kie)
    with pytest.raises(KieError):
        await create(gw)
    with pytest.raises(KieError):
        await gw.get_task("task-1")
    assert (kie.count(CREATE), kie.count(RECORD)) == (1, 1)


@pytest.mark.parametrize("status", [401, 402, 422])
async def test_refusals_as_http_statuses_are_not_retried_either(status: int) -> None:
    kie = ScriptedKie()
    kie.on(CREATE, httpx.Response(status, json={"code": status, "msg": "no"}))
    with pytest.raises(KieError) as caught:
        await create(gateway(kie))
    assert (caught.value.code, caught.value.retryable) == (status, False)
    assert kie.count(CREATE) == 1


# readings


async def test_malformed_json_on_a_lookup_is_retried_then_read() -> None:
    app, gw, _ = simulator(deadline=5.0)
    tid = await create(gw)
    app.faults.push("recordInfo", HttpFault.malformed())
    assert (await gw.get_task(tid)).state is TaskState.WAITING
    assert app.faults.hits["recordInfo"] == 2


async def test_malformed_json_on_create_is_ambiguous_and_not_retried() -> None:
    app, gw, _ = simulator(deadline=5.0)
    app.faults.push("createTask", HttpFault.malformed())
    with pytest.raises(KieTransportError) as caught:
        await create(gw)
    assert caught.value.sent is True
    assert app.faults.hits["createTask"] == 1


async def test_message_is_read_when_msg_is_absent() -> None:
    kie = ScriptedKie()
    kie.on(CREATE, body_error(402, "Insufficient balance, please top up", field="message"))
    with pytest.raises(KieOutOfCredits) as caught:
        await create(gateway(kie))
    assert "Insufficient balance, please top up" in caught.value.message


async def test_the_simulator_can_answer_with_message_instead_of_msg() -> None:
    app, gw, _ = simulator()
    app.text_field = "message"
    app.faults.push("createTask", HttpFault.body(433, "sub-key cap reached"))
    with pytest.raises(KieRejected) as caught:
        await create(gw)
    assert caught.value.code == 433
    assert "sub-key cap reached" in caught.value.message


async def test_an_unknown_state_reads_as_unknown_and_json_strings_are_decoded() -> None:
    kie = ScriptedKie()
    kie.on(RECORD, ok(record("paused")), ok(record("success")))
    gw = gateway(kie)
    assert (await gw.get_task("task-1")).state is TaskState.UNKNOWN
    assert (await gw.get_task("task-1")).result_urls == ("https://files.kie.test/r/0.png",)


async def test_credits_may_be_fractional() -> None:
    assert await gateway(ScriptedKie()).credits() == Decimal("42.5")


# the rate limiter


async def test_the_limiter_shares_one_budget_across_callers() -> None:
    kie, clock = ScriptedKie(), FakeClock()
    limiter = RateLimiter(3, 10.0, clock=clock)
    first, second = gateway(kie, limiter=limiter), gateway(kie, limiter=limiter)
    async with anyio.create_task_group() as tg:
        for n in range(7):
            tg.start_soon(create, first if n % 2 else second)
        await anyio.wait_all_tasks_blocked()
        assert kie.count(CREATE) == 3
        await clock.advance(10)
        assert kie.count(CREATE) == 6
        await clock.advance(10)
        assert kie.count(CREATE) == 7


def test_gateways_built_without_a_limiter_share_the_process_limiter() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(ScriptedKie()))
    one = HttpxKieGateway(KEY, client=client)
    two = HttpxKieGateway(KEY + "x", client=client)
    assert one.limiter is two.limiter is shared_limiter()
    assert (one.limiter.limit, one.limiter.period) == (20, 10.0)


def test_the_limiter_books_slots_first_come_first_served() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 10.0, clock=clock)
    assert [limiter.reserve() for _ in range(5)] == [0.0, 0.0, 10.0, 10.0, 20.0]


# secrets stay out of logs


async def test_no_key_or_token_reaches_the_logs_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    kie = ScriptedKie()
    kie.on(RECORD, httpx.Response(503))
    gw = gateway(kie)
    kie.on("/api/v1/common/download-url", ok("https://files.kie.test/r/0.png?token=s3cr3t-t0ken&x=1"))
    await gw.get_task("task-1")
    await gw.direct_download_url("https://files.kie.test/r/0.png?token=s3cr3t-t0ken")
    await gw.client.get("https://files.kie.test/r/0.png?token=s3cr3t-t0ken&sig=abcdef")
    logging.getLogger("httpx").info("Authorization: Bearer %s", KEY)
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert any(record.name == "httpx" for record in caplog.records)  # httpx did log the requests
    assert any(record.name == "kiegen.kie_httpx" for record in caplog.records)  # and the retry was logged
    assert KEY not in text
    assert "s3cr3t-t0ken" not in text
    assert "abcdef" not in text
    assert "Bearer [redacted]" in text
    assert all(KEY not in str(request.url) for request in kie.requests)
    assert all(request.headers["Authorization"] == f"Bearer {KEY}" for request in kie.requests[:1])


# over a real socket (uvicorn in a thread; the client runs under either backend)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[SimulatorApp, str]]:
    app = SimulatorApp(SimulatedKie(FakeClock()))
    with running_in_thread(app) as base:
        yield app, base


async def test_a_hanging_server_over_a_real_socket_ends_at_the_deadline(served: tuple[SimulatorApp, str]) -> None:
    app, base = served
    app.faults.push("recordInfo", HttpFault.hang(30))
    async with httpx.AsyncClient() as client:
        gw = HttpxKieGateway(
            KEY, client=client, base_url=base, upload_url=base, retry=RetryPolicy(deadline=0.2), clock=StepClock()
        )
        started = time.monotonic()
        with pytest.raises(KieTransportError) as caught:
            await gw.get_task("t")
    elapsed = time.monotonic() - started
    print(f"socket: deadline 0.2 s, call ended after {elapsed:.3f} s")
    assert 0.2 <= elapsed < 0.4, elapsed
    assert caught.value.sent is True


async def test_no_key_reaches_httpcore_debug_logs_over_a_real_socket(
    served: tuple[SimulatorApp, str], caplog: pytest.LogCaptureFixture
) -> None:
    _, base = served
    caplog.set_level(logging.DEBUG)
    async with httpx.AsyncClient() as client:
        gw = HttpxKieGateway(KEY, client=client, base_url=base, upload_url=base, limiter=RateLimiter(100, 1.0))
        task_id = await create(gw)
        await gw.get_task(task_id)
    names = {record.name for record in caplog.records}
    assert {"httpx", "httpcore.http11", "httpcore.connection"} <= names
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert task_id in text  # the URLs were logged...
    assert KEY not in text  # ...the key was not
