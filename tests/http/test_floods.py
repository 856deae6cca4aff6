"""Floods of callbacks that prove nothing are bounded per source: hints stop turning into recordInfo calls,
forged callbacks into log lines, and a callback with a valid per-job token is never refused."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import anyio
import httpx
import pytest

from kiegen.apps.http.logs import FLOOD_LOGGERS, budget_flood_logs
from kiegen.apps.http.throttle import CallbackThrottle, LogBudget, source_key
from tests.http.conftest import BASE, Harness, serving

pytestmark = pytest.mark.anyio


def hint_body(task_id: str | None) -> bytes:
    return json.dumps({"code": 200, "data": {"taskId": task_id, "state": "success"}}).encode()


def progress_body(task_id: str | None) -> bytes:
    return json.dumps({"code": 200, "data": {"taskId": task_id, "state": "generating"}}).encode()


def figures(name: str, **values: object) -> None:
    print(f"\nRELIABILITY {name} " + " ".join(f"{k}={v}" for k, v in values.items()))


async def running_task(h: Harness) -> tuple[str, str]:
    h.kie.configure(delay_s=60.0)
    job_id = (await h.create()).json()["id"]
    job = await h.job(job_id)
    assert job.task_id is not None
    return job_id, job.task_id


def from_source(h: Harness, host: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=h.app, client=(host, 4711)), base_url=BASE)


async def test_a_hint_flood_from_one_source_makes_one_recordinfo_call_and_429s() -> None:
    async with serving() as h:
        _, task_id = await running_task(h)
        before = h.kie.calls["get_task"]
        statuses: list[int] = []
        async with from_source(h, "198.51.100.7") as attacker:
            for _ in range(312):
                statuses.append((await attacker.post("/callbacks/kie", content=hint_body(task_id))).status_code)
        await anyio.sleep(0.5)  # ten poller rounds: time for every check the hints asked for
        calls = h.kie.calls["get_task"] - before
        figures("hint_flood", hints=len(statuses), answered_202=statuses.count(202), answered_429=statuses.count(429))
        figures("hint_flood", record_info_calls=calls)
        assert calls <= 1
        assert statuses[0] == 202 and statuses.count(429) >= 312 - 20
        refused = statuses[-1]
        assert refused == 429
        async with from_source(h, "203.0.113.9") as neighbour:  # another source keeps its own budget
            assert (await neighbour.post("/callbacks/kie", content=hint_body(task_id))).status_code == 202


async def test_the_429_says_when_to_come_back() -> None:
    async with serving() as h:
        async with from_source(h, "198.51.100.8") as attacker:
            for _ in range(25):
                response = await attacker.post("/callbacks/kie", content=hint_body("no-such-task"))
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) >= 1
        assert response.json()["error"]["code"] == "rate_limited"


async def test_a_valid_token_is_never_refused_whoever_relays_it() -> None:
    async with serving() as h:
        job_id, task_id = await running_task(h)
        async with from_source(h, "198.51.100.9") as relay:
            forged = [
                (await relay.post(f"/callbacks/kie/{job_id}?token=forged", content=b"{}")).status_code
                for _ in range(40)
            ]
            assert forged[0] == 403 and forged[-1] == 429
            genuine = await relay.post(h.callback_url(job_id), content=progress_body(task_id))
        assert genuine.status_code == 200


@pytest.fixture
def flood_log_budget() -> Iterator[None]:
    installed = budget_flood_logs(LogBudget(per_window=10, window_s=60))
    yield
    for name in FLOOD_LOGGERS:
        logging.getLogger(name).removeFilter(installed)


@pytest.mark.usefixtures("flood_log_budget")
async def test_forged_callbacks_write_a_bounded_number_of_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    async with serving() as h:
        job_id, _ = await running_task(h)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            for n in range(500):
                async with from_source(h, f"10.{n // 250}.{n % 250}.1") as attacker:  # 500 sources: no 429 help
                    await attacker.post(f"/callbacks/kie/{job_id}?token=forged-{n}", content=b"{}")
        refused = [r for r in caplog.records if r.name == "kiegen.callbacks"]
        access = [r for r in caplog.records if r.name == "kiegen.http.access"]
        figures("forged_flood", callbacks=500, warning_lines=len(refused), access_lines=len(access))
        assert len(refused) <= 10 and len(access) <= 10
        assert refused and all(job_id in r.getMessage() for r in refused)


def test_ipv6_sources_are_counted_by_their_64() -> None:
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert source_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert source_key(None) == "unknown"


def test_a_source_gets_its_budget_back_with_time() -> None:
    now = [0.0]
    throttle = CallbackThrottle(burst=2, rate=0.5, now=lambda: now[0])
    throttle.spend("a")
    throttle.spend("a")
    assert throttle.exhausted("a") and throttle.retry_after_s("a") == 2
    now[0] = 2.0
    assert not throttle.exhausted("a")


def test_the_log_budget_says_how_many_lines_were_left_out() -> None:
    now = [0.0]
    budget = LogBudget(per_window=2, window_s=10, now=lambda: now[0])
    assert [budget.admit("k") for _ in range(5)] == [(True, 0), (True, 0), (False, 0), (False, 0), (False, 0)]
    now[0] = 10.0
    assert budget.admit("k") == (True, 3)
